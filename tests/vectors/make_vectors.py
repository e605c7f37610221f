"""Build the golden vectors of emorig's wire formats (docs/protocol.md).

    python3 tests/vectors/make_vectors.py          # (re)write tests/vectors/*.bin and *.json
    python3 tests/vectors/make_vectors.py --check  # exit 1 if the committed files differ

Every vector is one datagram or ZeroMQ payload (`NAME.bin`) and what a reader must make of
it (`NAME.json`): either `"valid": true` with the decoded fields, or `"valid": false` with
the `reason` code the reference decoders in bridge/protocol.py raise. The inputs below are
fixed and mostly multiples of 1/64, so every float is exact in float32 and in JSON.

tests/test_sinks.py checks that the encoders still produce these exact bytes: changing a
vector means changing the protocol, on purpose.
"""

from __future__ import annotations

import json
import struct
import sys
from pathlib import Path

import msgpack

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from bridge import protocol  # noqa: E402
from retarget.spaces import get_space  # noqa: E402

SUBJECT = "Ada"
FRAME_NUMBER = 1234
FPS = 60.0
TIME = FRAME_NUMBER / FPS
# 2024-01-01 00:00:00.5 UTC as an OSC/NTP time tag: seconds since 1900 in the high 32 bits.
TIMETAG = ((1_704_067_200 + 2_208_988_800) << 32) | (1 << 31)
PROBS = [1 / 16, 11 / 16, 0, 0, 1 / 8, 0, 1 / 16, 1 / 16]  # EMOTIONS order, sums to 1
EMOTION, INTENSITY = "happy", 0.75


def arkit_values() -> list[float]:
    return [((i * 5) % 65) / 64 for i in range(52)]


def livelinkface_values() -> list[float]:
    # The 52 shapes, then head yaw/pitch/roll and each eye's yaw/pitch/roll in the default unit
    # ("unit": degrees / 180): 22.5, -11.25, 5.625 degrees for the head, +-45 / +-8.4375 for the eyes.
    return arkit_values() + [0.125, -0.0625, 0.03125, -0.25, 0.046875, 0.0, -0.25, 0.046875, 0.0]


def osc_generic(data: bytes) -> dict:
    """What any OSC library should read from a datagram: time tag (None for a plain message)
    and each message's address, type tags and arguments."""
    from pythonosc.osc_message import OscMessage

    timetag, elements = (None, [data]) if not data.startswith(b"#bundle") else protocol.osc_bundle_elements(data)
    messages = []
    for element in elements:
        m = OscMessage(element)
        messages.append({"address": m.address, "types": "," + protocol.osc_typetag(element), "args": list(m.params)})
    return {"timetag": timetag, "messages": messages}


def _valid(fmt: str, description: str, data: bytes, decoded: dict | None = None, **extra) -> tuple[bytes, dict]:
    doc = {"format": fmt, "description": description, "valid": True, **extra}
    if fmt.startswith("osc"):
        doc["osc"] = osc_generic(data)
    if decoded is not None:
        doc["decoded"] = decoded
    return data, doc


def _invalid(fmt: str, description: str, data: bytes, reason: str) -> tuple[bytes, dict]:
    return data, {"format": fmt, "description": description, "valid": False, "reason": reason}


def livelinkface_vectors() -> dict:
    llf = get_space("livelinkface")
    frame = protocol.encode_livelinkface(
        device_id=protocol.default_device_id(SUBJECT),
        subject=SUBJECT,
        frame_number=FRAME_NUMBER,
        sub_frame=0.5,
        rate=(60, 1),
        values=livelinkface_values(),
    )
    ntsc = protocol.encode_livelinkface(
        device_id="stage-left",
        subject="Émilie 🙂",
        frame_number=0,
        sub_frame=0.25,
        rate=(30000, 1001),
        values=[0.0] * 61,
    )
    # Offsets inside `frame`: version 1, device 4+N, subject 4+M, then number, sub-frame, rate, count.
    device_len = len(protocol.default_device_id(SUBJECT))
    subject_at = 1 + 4 + device_len
    time_at = subject_at + 4 + len(SUBJECT)
    count_at = time_at + 16

    def patched(at: int, fmt: str, value) -> bytes:
        b = bytearray(frame)
        struct.pack_into(fmt, b, at, value)
        return bytes(b)

    bad_utf8 = bytearray(frame)
    bad_utf8[subject_at + 4] = 0xFF
    desc = "ARKit frame as Live Link Face: subject Ada, default device id, frame 1234 + 0.5 at 60/1 fps"
    return {
        "livelinkface_arkit_frame": _valid(
            "livelinkface", desc, frame, protocol.decode_livelinkface(frame), curves=list(llf.curves)
        ),
        "livelinkface_ntsc_unicode": _valid(
            "livelinkface",
            "UTF-8 subject, explicit device id, 29.97 fps as 30000/1001, neutral values",
            ntsc,
            protocol.decode_livelinkface(ntsc),
        ),
        "livelinkface_bad_version": _invalid("livelinkface", "version byte 5", patched(0, ">B", 5), "bad_version"),
        "livelinkface_bad_count": _invalid(
            "livelinkface",
            "blendshape count 60 and 60 values",
            patched(count_at, ">B", 60)[:-4],
            "bad_count",
        ),
        "livelinkface_truncated": _invalid("livelinkface", "last value cut short", frame[:-3], "truncated"),
        "livelinkface_trailing_bytes": _invalid(
            "livelinkface", "four zero bytes after the 61 values", frame + bytes(4), "trailing_bytes"
        ),
        "livelinkface_bad_name_length": _invalid(
            "livelinkface", "subject length field says 1000 bytes", patched(subject_at, ">i", 1000), "bad_name_length"
        ),
        "livelinkface_bad_utf8": _invalid("livelinkface", "subject byte 0xFF", bytes(bad_utf8), "bad_utf8"),
        "livelinkface_bad_frame_rate": _invalid(
            "livelinkface", "frame rate denominator 0", patched(time_at + 12, ">i", 0), "bad_frame_rate"
        ),
        "livelinkface_nan_value": _invalid(
            "livelinkface", "JawOpen is NaN", patched(count_at + 1 + 4 * 17, ">f", float("nan")), "non_finite_value"
        ),
    }


def osc_vectors() -> dict:
    arkit = get_space("arkit")
    names = protocol.osc_compact_names(SUBJECT, "arkit", FPS, arkit.curves)
    bundle = protocol.osc_compact_frame(
        SUBJECT, FRAME_NUMBER, TIME, "arkit", arkit_values(), EMOTION, PROBS, INTENSITY, timetag=TIMETAG
    )
    curves = protocol.osc_curves_frame(
        SUBJECT, FRAME_NUMBER, TIME, arkit.curves, arkit_values(), EMOTION, PROBS, INTENSITY, timetag=TIMETAG
    )
    base = f"{protocol.OSC_ROOT}/{SUBJECT}"
    future = protocol.osc_message(f"{base}/names", [(2, "i"), ("arkit", "s"), (60.0, "f"), ("jawOpen", "s")])
    frame_msg = protocol.osc_message(f"{base}/frame", [(FRAME_NUMBER, "i"), (TIME, "d"), ("arkit", "s")])
    no_values = protocol.osc_bundle([frame_msg], TIMETAG)
    bad_size = bytearray(bundle)
    struct.pack_into(">i", bad_size, 16, len(bundle))  # first element claims to run past the end
    out = {
        "osc_compact_names": _valid(
            "osc-compact",
            "names message: schema 1, space arkit, 60 fps, the 52 ARKit curve names",
            names,
            protocol.decode_osc_compact(names),
        ),
        "osc_compact_bundle": _valid(
            "osc-compact",
            "frame bundle with an exact time tag (2024-01-01T00:00:00.5Z): /frame, /values (52), /emotion",
            bundle,
            protocol.decode_osc_compact(bundle),
        ),
        "osc_compact_names_future_schema": _invalid(
            "osc-compact", "names message of schema version 2", future, "unsupported_schema"
        ),
        "osc_compact_bundle_no_values": _invalid(
            "osc-compact", "frame bundle without /values", no_values, "incomplete_frame"
        ),
        "osc_compact_bundle_bad_size": _invalid(
            "osc-compact", "first bundle element size runs past the datagram", bytes(bad_size), "bad_osc"
        ),
        "osc_vrchat_parameter": _valid(
            "osc-vrchat", "VRChat float parameter v2/JawOpen = 0.5", protocol.osc_vrchat_parameter("JawOpen", 0.5)
        ),
        "osc_vrchat_parameter_prefix": _valid(
            "osc-vrchat",
            "the same with prefix FT/ (avatars whose parameters live under FT/v2/...)",
            protocol.osc_vrchat_parameter("JawOpen", 0.5, prefix="FT/"),
        ),
    }
    for i, part in enumerate(curves):
        out[f"osc_curves_bundle_{i}"] = _valid(
            "osc-curves", f"curves mode, ARKit frame 1234: bundle {i + 1} of {len(curves)} (each <= 1400 bytes)", part
        )
    return out


def zmq_vectors() -> dict:
    arkit = get_space("arkit")
    static = protocol.zmq_static(SUBJECT, "arkit", FPS, arkit.curves)
    frame = protocol.zmq_frame(SUBJECT, FRAME_NUMBER, TIME, "arkit", arkit_values(), EMOTION, PROBS, INTENSITY)
    doc = msgpack.unpackb(frame, raw=False)

    def pack(**changes) -> bytes:
        d = {**doc, **changes}
        return msgpack.packb({k: v for k, v in d.items() if v is not None}, use_bin_type=True)

    extra = pack(future_field=[1, 2, 3])
    hello = msgpack.packb({"type": "hello", "schema": 1, "text": "a message type from the future"})
    z = "zmq"
    return {
        "zmq_static": _valid(
            z, "static: schema 1, subject Ada, arkit, 60 fps, curves, emotions", static, protocol.decode_zmq(static),
            topic=SUBJECT,
        ),
        "zmq_frame": _valid(
            z, "frame 1234 of Ada: 52 float32 LE values, happy 0.75", frame, protocol.decode_zmq(frame), topic=SUBJECT
        ),
        "zmq_frame_extra_field": _valid(
            z, "frame with a field this schema does not know: ignored, decodes as zmq_frame", extra,
            protocol.decode_zmq(extra), topic=SUBJECT,
        ),
        "zmq_unknown_type": _valid(
            z, "a message type this schema does not know: receivers ignore it", hello, protocol.decode_zmq(hello),
            topic=SUBJECT,
        ),
        "zmq_future_schema": _invalid(z, "frame of schema version 2", pack(schema=2), "unsupported_schema"),
        "zmq_frame_values_length": _invalid(
            z, "values of 207 bytes (not whole float32)", pack(values=doc["values"][:-1]), "bad_values_length"
        ),
        "zmq_frame_missing_field": _invalid(z, "frame without 'number'", pack(number=None), "missing_field"),
        "zmq_not_msgpack": _invalid(z, "JSON text instead of msgpack", b'{"type": "frame"}', "not_msgpack"),
    }  # fmt: skip


def build_vectors() -> dict[str, tuple[bytes, dict]]:
    return {**livelinkface_vectors(), **osc_vectors(), **zmq_vectors()}


def render(doc: dict) -> str:
    return json.dumps(doc, indent=1, ensure_ascii=True) + "\n"


def main(argv: list[str]) -> int:
    check = "--check" in argv
    vectors = build_vectors()
    stale = sorted(p.name for p in HERE.iterdir() if p.suffix in (".bin", ".json") and p.stem not in vectors)
    changed = []
    for name, (data, doc) in vectors.items():
        for path, content in ((HERE / f"{name}.bin", data), (HERE / f"{name}.json", render(doc).encode())):
            if not path.exists() or path.read_bytes() != content:
                changed.append(path.name)
                if not check:
                    from retarget.fileio import atomic_write_bytes

                    atomic_write_bytes(path, content)
    for name in changed:
        print(("differs: " if check else "wrote: ") + name)
    for name in stale:
        print(f"stale (not made by this script): {name}")
    return 1 if check and (changed or stale) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
