"""emorig's live wire formats as pure functions: values in, bytes out, and back again.

Nothing here touches a socket, a clock or a file, so the golden vectors in
tests/vectors/ and the engine plugins can rely on the exact bytes. The
specification for people is docs/protocol.md; keep the two in step.

Three formats:
- Live Link Face (Unreal's Apple ARKit face protocol, packet version 6, big-endian);
- OSC: emorig's compact bundles, one message per curve, and VRChat avatar parameters;
- ZeroMQ: msgpack maps `static` and `frame`.

Decoders are strict: a malformed input raises ProtocolError, whose `reason` is a
stable short code (also written into the malformed golden vectors).
"""

from __future__ import annotations

import hashlib
import math
import re
import struct
from fractions import Fraction

import msgpack
import numpy as np
from pythonosc.osc_message import OscMessage, ParseError
from pythonosc.osc_message_builder import OscMessageBuilder

from training.emotions import EMOTIONS

# The version of emorig's own formats (OSC compact and ZeroMQ). It changes only when an old
# receiver would misread the new messages; added fields and message types keep it.
SCHEMA_VERSION = 1


class ProtocolError(ValueError):
    """A packet or message that does not follow the format. `reason` is a stable code."""

    def __init__(self, reason: str, message: str):
        self.reason = reason
        super().__init__(f"{reason}: {message}")


# -- Live Link Face -------------------------------------------------------------------------------

LLF_VERSION = 6
LLF_CURVES = 61
LLF_FIRST_ROTATION = 52  # values 52..60: head yaw/pitch/roll, left eye, right eye
LLF_MAX_NAME_BYTES = 255  # our limit on device id and subject; keeps a packet far below any MTU
# Multiply radians by this to get the wire unit. "unit" is what Unreal's own ARKit face support
# publishes (-180..180 degrees mapped to -1..1); the others exist because receivers disagree.
ROTATION_UNITS = {"unit": 1.0 / math.pi, "rad": 1.0, "deg": 180.0 / math.pi}
DEFAULT_ROTATION_UNIT = "unit"
_INT32 = (-(2**31), 2**31 - 1)


def default_device_id(subject: str) -> str:
    """A device id derived from the subject: stable across runs, different per subject
    (Unreal keys Live Link Face subjects by device id)."""
    return "emorig-" + hashlib.sha1(subject.encode("utf-8")).hexdigest()[:12]


def frame_rate_fraction(fps: float) -> tuple[int, int]:
    """fps as (numerator, denominator): 60 -> (60, 1), 29.97 -> (30000, 1001)."""
    if not (math.isfinite(fps) and fps > 0):
        raise ValueError(f"frame rate must be positive, got {fps}")
    if abs(fps - round(fps)) < 1e-6:
        return int(round(fps)), 1
    ntsc = round(fps * 1.001) * 1000  # 29.97 -> 30000/1001, 59.94 -> 60000/1001, 23.976 -> 24000/1001
    if abs(fps - ntsc / 1001) < 1e-3:
        return ntsc, 1001
    f = Fraction(fps).limit_denominator(1000)
    return f.numerator, f.denominator


def frame_time(time: float, rate: tuple[int, int]) -> tuple[int, float]:
    """Audio-clock seconds -> (frame number, sub-frame in [0, 1)) at `rate`. The frame number
    wraps at 2**31 so it always fits the int32 field (after 414 days at 60 fps)."""
    position = time * rate[0] / rate[1]
    # The tolerance keeps 3/60 s at frame 3 rather than frame 2 + 0.9999999.
    number = math.floor(position + 1e-6)
    sub = min(max(position - number, 0.0), math.nextafter(1.0, 0.0))
    return number % 2**31, sub


def livelinkface_wire_values(values, rotations: str = DEFAULT_ROTATION_UNIT) -> np.ndarray:
    """61 livelinkface values (rotations in radians, as the rig space holds them) -> the 61
    float32 wire values with the rotations in the chosen unit."""
    if rotations not in ROTATION_UNITS:
        raise ValueError(f"rotation unit must be one of {', '.join(ROTATION_UNITS)}, not {rotations!r}")
    v = np.array(values, dtype=np.float64).reshape(-1)
    if v.shape != (LLF_CURVES,):
        raise ValueError(f"Live Link Face needs {LLF_CURVES} values, got {v.shape[0]}")
    v[LLF_FIRST_ROTATION:] *= ROTATION_UNITS[rotations]
    return v.astype(np.float32)


def _name_bytes(name: str, what: str) -> bytes:
    data = name.encode("utf-8")
    if not data or len(data) > LLF_MAX_NAME_BYTES:
        raise ValueError(f"{what} must be 1 to {LLF_MAX_NAME_BYTES} UTF-8 bytes, got {len(data)}")
    return data


def encode_livelinkface(
    *, device_id: str, subject: str, frame_number: int, sub_frame: float, rate: tuple[int, int], values
) -> bytes:
    """One Live Link Face UDP packet (version 6). `values` are the 61 wire values in
    EARFaceBlendShape order, rotations already in their wire unit (see livelinkface_wire_values)."""
    device, name = _name_bytes(device_id, "device id"), _name_bytes(subject, "subject")
    if not _INT32[0] <= frame_number <= _INT32[1]:
        raise ValueError(f"frame number {frame_number} does not fit int32")
    if not 0.0 <= sub_frame < 1.0:
        raise ValueError(f"sub-frame must be in [0, 1), got {sub_frame}")
    num, den = rate
    if not (0 < num <= _INT32[1] and 0 < den <= _INT32[1]):
        raise ValueError(f"frame rate {num}/{den} must be two positive int32")
    v = np.asarray(values, dtype=">f4").reshape(-1)
    if v.shape != (LLF_CURVES,):
        raise ValueError(f"Live Link Face needs {LLF_CURVES} values, got {v.shape[0]}")
    if not np.isfinite(v).all():
        raise ValueError("values must be finite")
    return b"".join(
        [
            struct.pack(">Bi", LLF_VERSION, len(device)),
            device,
            struct.pack(">i", len(name)),
            name,
            struct.pack(">ifiiB", frame_number, sub_frame, num, den, LLF_CURVES),
            v.tobytes(),
        ]
    )


def decode_livelinkface(data: bytes) -> dict:
    """A Live Link Face packet -> dict; ProtocolError unless it is exactly one valid version-6
    packet with 61 finite values (stricter than Unreal, which ignores trailing bytes)."""
    data = bytes(data)
    at = 0

    def take(n: int, what: str) -> bytes:
        nonlocal at
        if n < 0 or at + n > len(data):
            raise ProtocolError("truncated", f"packet ends inside {what} (byte {at} of {len(data)})")
        chunk = data[at : at + n]
        at += n
        return chunk

    def text(what: str) -> str:
        (n,) = struct.unpack(">i", take(4, f"{what} length"))
        if not 0 < n <= LLF_MAX_NAME_BYTES:
            raise ProtocolError("bad_name_length", f"{what} length {n} is not 1..{LLF_MAX_NAME_BYTES}")
        try:
            return take(n, what).decode("utf-8")
        except UnicodeDecodeError:
            raise ProtocolError("bad_utf8", f"{what} is not UTF-8") from None

    if not data:
        raise ProtocolError("truncated", "empty packet")
    (version,) = struct.unpack(">B", take(1, "version"))
    if version != LLF_VERSION:
        raise ProtocolError("bad_version", f"packet version {version}, expected {LLF_VERSION}")
    device_id = text("device id")
    subject = text("subject")
    number, sub, num, den, count = struct.unpack(">ifiiB", take(17, "frame time"))
    if not (math.isfinite(sub) and 0.0 <= sub < 1.0):
        raise ProtocolError("bad_sub_frame", f"sub-frame {sub} is not in [0, 1)")
    if num <= 0 or den <= 0:
        raise ProtocolError("bad_frame_rate", f"frame rate {num}/{den} is not positive")
    if count != LLF_CURVES:
        raise ProtocolError("bad_count", f"blendshape count {count}, expected {LLF_CURVES}")
    values = np.frombuffer(take(4 * LLF_CURVES, "values"), dtype=">f4")
    if at != len(data):
        raise ProtocolError("trailing_bytes", f"{len(data) - at} bytes after the values")
    if not np.isfinite(values).all():
        raise ProtocolError("non_finite_value", "a value is NaN or infinite")
    return {
        "version": version,
        "device_id": device_id,
        "subject": subject,
        "frame_number": number,
        "sub_frame": float(sub),
        "fps_numerator": num,
        "fps_denominator": den,
        "values": [float(x) for x in values],
    }


# -- OSC ------------------------------------------------------------------------------------------

OSC_ROOT = "/emorig"
OSC_IMMEDIATELY = 1  # the OSC time tag that means "dispatch now"
OSC_MAX_DATAGRAM = 1400  # curves-mode bundles are split to fit one Ethernet/Wi-Fi packet
VRCHAT_ROOT = "/avatar/parameters/"
_NTP_UNIX_OFFSET = 2_208_988_800  # seconds from 1900-01-01 (NTP epoch) to 1970-01-01
# Characters OSC reserves for address patterns, and space; names in addresses must avoid them.
_OSC_NAME = re.compile(r"^[!-~]+$")
_OSC_RESERVED = set(" #*,/?[]{}")
_CURVES_MODE_RESERVED = ("frame", "emotion")


def osc_name_ok(name: str) -> bool:
    """Whether `name` can be one part of an OSC address (printable ASCII, no pattern characters)."""
    return bool(_OSC_NAME.match(name)) and not (_OSC_RESERVED & set(name))


def _part(name: str, what: str) -> str:
    if not osc_name_ok(name):
        raise ValueError(f"{what} {name!r} cannot be part of an OSC address (use letters, digits, _ . - )")
    return name


def ntp_timetag(unix_seconds: float) -> int:
    """Unix time -> a 64-bit OSC/NTP time tag (32 bits seconds since 1900, 32 bits fraction)."""
    whole = math.floor(unix_seconds)
    fraction = min(int((unix_seconds - whole) * 2**32), 2**32 - 1)
    return ((whole + _NTP_UNIX_OFFSET) << 32) | fraction


def osc_message(address: str, args) -> bytes:
    """One OSC message from (value, type tag) pairs, built by python-osc."""
    builder = OscMessageBuilder(address)
    for value, tag in args:
        builder.add_arg(value, tag)
    return builder.build().dgram


def osc_bundle(messages, timetag: int) -> bytes:
    """An OSC bundle of encoded messages. The framing is written here rather than with python-osc's
    bundle builder because that builder takes the time tag as float Unix seconds and converts it
    with a float multiply, which rounds away the low bits: a golden vector needs the exact tag."""
    if not 0 <= timetag < 2**64:
        raise ValueError(f"time tag {timetag} does not fit 64 bits")
    parts = [b"#bundle\x00", struct.pack(">Q", timetag)]
    for m in messages:
        parts += [struct.pack(">i", len(m)), m]
    return b"".join(parts)


def _floats(values, n: int | None = None, what: str = "values") -> list[float]:
    v = np.asarray(values, dtype=np.float32).reshape(-1)
    if n is not None and v.shape[0] != n:
        raise ValueError(f"{what}: expected {n}, got {v.shape[0]}")
    if not np.isfinite(v).all():
        raise ValueError(f"{what} must be finite")
    return [float(x) for x in v]


def _emotion(emotion: str, probs, intensity: float) -> tuple[str, list[float], float]:
    if emotion not in EMOTIONS:
        raise ValueError(f"unknown emotion {emotion!r}")
    probs = _floats(probs, len(EMOTIONS), "emotion probabilities")
    (intensity,) = _floats([intensity], 1, "intensity")
    return emotion, probs, intensity


def osc_compact_names(subject: str, space: str, fps: float, curves) -> bytes:
    """`/emorig/<subject>/names ,isf s...`: schema version, rig space, fps, then the curve names."""
    _part(subject, "subject")
    args = [(SCHEMA_VERSION, "i"), (space, "s"), (float(fps), "f")] + [(c, "s") for c in curves]
    return osc_message(f"{OSC_ROOT}/{subject}/names", args)


def osc_compact_frame(
    subject: str, number: int, time: float, space: str, values, emotion: str, probs, intensity: float, *, timetag: int
) -> bytes:
    """One frame as one bundle: /frame (,ids: number, audio time, space), /values (,f...), and
    /emotion (,sf + 8 f: label, intensity, probabilities in EMOTIONS order)."""
    base = f"{OSC_ROOT}/{_part(subject, 'subject')}"
    emotion, probs, intensity = _emotion(emotion, probs, intensity)
    messages = [
        osc_message(f"{base}/frame", [(number % 2**31, "i"), (float(time), "d"), (space, "s")]),
        osc_message(f"{base}/values", [(v, "f") for v in _floats(values)]),
        osc_message(f"{base}/emotion", [(emotion, "s"), (intensity, "f")] + [(p, "f") for p in probs]),
    ]
    return osc_bundle(messages, timetag)


def osc_curves_frame(
    subject: str,
    number: int,
    time: float,
    curves,
    values,
    emotion: str,
    probs,
    intensity: float,
    *,
    timetag: int,
    max_datagram: int = OSC_MAX_DATAGRAM,
) -> list[bytes]:
    """One message per curve (`/emorig/<subject>/<curve> ,f`) plus /frame (,if) and
    /emotion/label, /emotion/intensity, /emotion/<label>; packed into bundles of at most
    `max_datagram` bytes (one message may exceed it alone)."""
    base = f"{OSC_ROOT}/{_part(subject, 'subject')}"
    emotion, probs, intensity = _emotion(emotion, probs, intensity)
    values = _floats(values, len(curves))
    messages = [osc_message(f"{base}/frame", [(number % 2**31, "i"), (float(time), "f")])]
    for c, v in zip(curves, values):
        if c in _CURVES_MODE_RESERVED:
            raise ValueError(f"curve name {c!r} is reserved in OSC curves mode")
        messages.append(osc_message(f"{base}/{_part(c, 'curve name')}", [(v, "f")]))
    messages.append(osc_message(f"{base}/emotion/label", [(emotion, "s")]))
    messages.append(osc_message(f"{base}/emotion/intensity", [(intensity, "f")]))
    messages += [osc_message(f"{base}/emotion/{label}", [(p, "f")]) for label, p in zip(EMOTIONS, probs)]
    bundles, batch, size = [], [], 16
    for m in messages:
        if batch and size + 4 + len(m) > max_datagram:
            bundles.append(osc_bundle(batch, timetag))
            batch, size = [], 16
        batch.append(m)
        size += 4 + len(m)
    bundles.append(osc_bundle(batch, timetag))
    return bundles


def osc_vrchat_parameter(name: str, value: float, prefix: str = "") -> bytes:
    """`/avatar/parameters/<prefix>v2/<name> ,f` — one VRCFaceTracking v2 float parameter."""
    if prefix and not prefix.endswith("/"):
        raise ValueError(f"parameter prefix {prefix!r} must end with '/'")
    for part in prefix.split("/")[:-1]:
        _part(part, "parameter prefix")
    (value,) = _floats([value], 1, name)
    return osc_message(f"{VRCHAT_ROOT}{prefix}v2/{_part(name, 'parameter name')}", [(value, "f")])


def _osc_parse(data: bytes) -> OscMessage:
    if not data.startswith(b"/"):
        raise ProtocolError("bad_osc", "an OSC message must start with '/'")
    try:
        return OscMessage(data)
    except (ParseError, IndexError, ValueError, struct.error) as e:
        raise ProtocolError("bad_osc", f"not an OSC message ({e})") from None


def osc_bundle_elements(data: bytes) -> tuple[int, list[bytes]]:
    """Split an OSC bundle into (time tag, element datagrams), checking the framing exactly."""
    if len(data) < 16 or not data.startswith(b"#bundle\x00"):
        raise ProtocolError("bad_osc", "not an OSC bundle")
    (timetag,) = struct.unpack(">Q", data[8:16])
    at, elements = 16, []
    while at < len(data):
        if at + 4 > len(data):
            raise ProtocolError("bad_osc", "bundle ends inside an element size")
        (n,) = struct.unpack(">i", data[at : at + 4])
        if n <= 0 or n % 4 or at + 4 + n > len(data):
            raise ProtocolError("bad_osc", f"bundle element size {n} is wrong at byte {at}")
        elements.append(data[at + 4 : at + 4 + n])
        at += 4 + n
    return timetag, elements


def _typed(message: OscMessage, tags: str, what: str) -> list:
    """The first len(tags) arguments, checked; later arguments are ignored (a newer sender may
    append some)."""
    tag = osc_typetag(message.dgram)
    if not tag.startswith(tags):
        raise ProtocolError("bad_arguments", f"{what} has type tags ,{tag}, expected ,{tags}")
    return list(message.params)


def osc_typetag(dgram: bytes) -> str:
    """The type tags of a parsed OSC message, without the leading comma ("" if it has none)."""
    end = dgram.index(b"\x00")
    start = (end + 4) & ~3
    if start >= len(dgram) or dgram[start : start + 1] != b",":
        return ""
    return dgram[start + 1 : dgram.index(b"\x00", start)].decode("ascii")


def _osc_subject(address: str, leaf: str) -> str | None:
    parts = address.split("/")
    if len(parts) == 4 and parts[0] == "" and "/" + parts[1] == OSC_ROOT and parts[3] == leaf:
        return parts[2]
    return None


def decode_osc_compact(data: bytes) -> dict:
    """A compact-mode datagram (a names message or a frame bundle) -> dict; ProtocolError if
    malformed. Messages with unknown addresses inside a bundle are ignored."""
    data = bytes(data)
    if not data.startswith(b"#bundle"):
        m = _osc_parse(data)
        subject = _osc_subject(m.address, "names")
        if subject is None:
            raise ProtocolError("unknown_address", f"{m.address} is not /emorig/<subject>/names")
        if osc_typetag(data)[:1] == "i" and m.params[0] != SCHEMA_VERSION:
            raise ProtocolError("unsupported_schema", f"schema version {m.params[0]}, this reader knows 1")
        args = _typed(m, "isf", "names")
        curves = args[3:]
        if not all(isinstance(c, str) for c in curves):
            raise ProtocolError("bad_arguments", "curve names must be strings")
        return {
            "type": "names",
            "schema": args[0],
            "subject": subject,
            "space": args[1],
            "fps": args[2],
            "curves": curves,
        }
    timetag, elements = osc_bundle_elements(data)
    found: dict[str, tuple[str, OscMessage]] = {}
    for element in elements:
        m = _osc_parse(element)
        for leaf in ("frame", "values", "emotion"):
            subject = _osc_subject(m.address, leaf)
            if subject is not None:
                found[leaf] = (subject, m)
    if "frame" not in found or "values" not in found:
        raise ProtocolError("incomplete_frame", "a frame bundle needs /frame and /values")
    if len({s for s, _ in found.values()}) != 1:
        raise ProtocolError("mixed_subjects", "messages of one bundle name different subjects")
    subject = found["frame"][0]
    number, time, space = _typed(found["frame"][1], "ids", "frame")[:3]
    values_msg = found["values"][1]
    if set(osc_typetag(values_msg.dgram)) - {"f"}:
        raise ProtocolError("bad_arguments", "/values must hold only float32 arguments")
    values = [float(v) for v in values_msg.params]
    out = {
        "type": "frame",
        "timetag": timetag,
        "subject": subject,
        "number": number,
        "time": time,
        "space": space,
        "values": values,
    }
    if "emotion" in found:
        args = _typed(found["emotion"][1], "sf" + "f" * len(EMOTIONS), "emotion")
        out.update(emotion=args[0], intensity=args[1], emotion_probs=args[2 : 2 + len(EMOTIONS)])
    if not all(math.isfinite(x) for x in [time] + values + out.get("emotion_probs", [])):
        raise ProtocolError("non_finite_value", "a value is NaN or infinite")
    return out


# -- ZeroMQ ---------------------------------------------------------------------------------------


def zmq_static(subject: str, space: str, fps: float, curves) -> bytes:
    """msgpack map `static`: what the values of this subject's frames mean."""
    doc = {
        "type": "static",
        "schema": SCHEMA_VERSION,
        "subject": subject,
        "space": space,
        "fps": float(fps),
        "curves": list(curves),
        "emotions": list(EMOTIONS),
    }
    return msgpack.packb(doc, use_bin_type=True)


def zmq_frame(
    subject: str, number: int, time: float, space: str, values, emotion: str, probs, intensity: float
) -> bytes:
    """msgpack map `frame`: values as float32 little-endian bytes, in the static's curve order."""
    emotion, probs, intensity = _emotion(emotion, probs, intensity)
    v = np.asarray(values, dtype="<f4").reshape(-1)
    if not np.isfinite(v).all():
        raise ValueError("values must be finite")
    doc = {
        "type": "frame",
        "schema": SCHEMA_VERSION,
        "subject": subject,
        "number": int(number),
        "time": float(time),
        "space": space,
        "values": v.tobytes(),
        "emotion": emotion,
        "emotion_probs": probs,
        "intensity": intensity,
    }
    return msgpack.packb(doc, use_bin_type=True)


_ZMQ_FIELDS = {
    "static": {"subject": str, "space": str, "fps": float, "curves": list, "emotions": list},
    "frame": {
        "subject": str,
        "number": int,
        "time": float,
        "space": str,
        "values": bytes,
        "emotion": str,
        "emotion_probs": list,
        "intensity": float,
    },
}


def _number_ok(value, kind) -> bool:
    if isinstance(value, bool):
        return False
    if kind is float:  # a sender may write a whole number as an int
        return isinstance(value, (int, float)) and math.isfinite(value)
    return isinstance(value, kind)


def decode_zmq(payload: bytes) -> dict:
    """A ZeroMQ payload -> dict of the known fields (unknown fields dropped). A message type this
    reader does not know comes back as {"type", "schema"} only, for the caller to ignore."""
    try:
        doc = msgpack.unpackb(bytes(payload), raw=False, strict_map_key=True)
    except Exception as e:  # msgpack raises several unrelated types for bad input
        raise ProtocolError("not_msgpack", f"payload is not one msgpack value ({type(e).__name__})") from None
    if not isinstance(doc, dict):
        raise ProtocolError("not_a_map", "payload must be a msgpack map")
    schema, kind = doc.get("schema"), doc.get("type")
    if isinstance(schema, bool) or not isinstance(schema, int) or not isinstance(kind, str):
        raise ProtocolError("missing_field", "every message needs an int 'schema' and a str 'type'")
    if schema != SCHEMA_VERSION:
        raise ProtocolError("unsupported_schema", f"schema version {schema}, this reader knows {SCHEMA_VERSION}")
    if kind not in _ZMQ_FIELDS:
        return {"type": kind, "schema": schema}
    out = {"type": kind, "schema": schema}
    for name, want in _ZMQ_FIELDS[kind].items():
        if name not in doc:
            raise ProtocolError("missing_field", f"{kind} has no {name!r}")
        if not _number_ok(doc[name], want):
            raise ProtocolError("bad_field", f"{kind} field {name!r} must be {want.__name__}")
        out[name] = doc[name]
    if kind == "static":
        if not all(isinstance(c, str) for c in out["curves"] + out["emotions"]):
            raise ProtocolError("bad_field", "curve and emotion names must be strings")
        out["fps"] = float(out["fps"])
        return out
    if len(out["values"]) % 4:
        raise ProtocolError("bad_values_length", f"values hold {len(out['values'])} bytes, not a multiple of 4")
    values = np.frombuffer(out["values"], dtype="<f4")
    probs = out["emotion_probs"]
    if len(probs) != len(EMOTIONS) or not all(_number_ok(p, float) for p in probs):
        raise ProtocolError("bad_field", f"emotion_probs must be {len(EMOTIONS)} numbers")
    if not np.isfinite(values).all():
        raise ProtocolError("non_finite_value", "a value is NaN or infinite")
    out.update(values=[float(x) for x in values], emotion_probs=[float(p) for p in probs])
    out.update(time=float(out["time"]), intensity=float(out["intensity"]))
    return out
