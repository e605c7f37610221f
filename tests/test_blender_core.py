"""The Blender add-on's bpy-free cores, in plain Python (no Blender needed).

OSC and msgpack readers against emorig's golden vectors and its own encoders (bridge/protocol.py),
every valid vector truncated at every length and bit-flipped; the live frame decoder's verdicts;
the UDP receiver on loopback; the fallback CSV reader against retarget/takes.py on the same
files; resampling against numpy; name matching for the spellings met in the wild; the command
runner's one-line errors.
"""

from __future__ import annotations

import json
import random
import socket
import sys
import time
from pathlib import Path

import msgpack
import numpy as np
import pytest

from bridge import protocol
from retarget.spaces import get_space
from retarget.takes import read_take

ROOT = Path(__file__).resolve().parents[1]
VECTORS = ROOT / "tests" / "vectors"
sys.path.insert(0, str(ROOT / "engine_plugins" / "blender"))

from emorig_blender import csv_take, live, matching, msgpack_read, osc, resample, runner, takes_io  # noqa: E402


def vectors(fmt_prefix: str):
    for path in sorted(VECTORS.glob("*.json")):
        doc = json.loads(path.read_text())
        if doc["format"].startswith(fmt_prefix):
            yield path.stem, doc, path.with_suffix(".bin").read_bytes()


# -- OSC ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name,doc,data", [v for v in vectors("osc") if v[1]["valid"]], ids=lambda x: "")
def test_osc_reader_reads_every_valid_vector_as_any_osc_library(name, doc, data):
    timetag, messages = osc.parse_packet(data)
    assert timetag == doc["osc"]["timetag"], name
    assert len(messages) == len(doc["osc"]["messages"])
    for (address, tags, args), want in zip(messages, doc["osc"]["messages"]):
        assert address == want["address"] and "," + tags == want["types"]
        assert args == pytest.approx(want["args"]) if tags.strip("f") == "" else args == want["args"]


def test_osc_reader_never_misreads_a_truncation_and_raises_only_osc_error():
    rng = random.Random(3)
    for _, doc, data in vectors("osc"):
        if not doc["valid"]:
            continue
        full = osc.parse_packet(data)
        for n in range(len(data)):
            # A cut at a 4-byte boundary can still be OSC (a message with no type tags, a bundle
            # with fewer elements), but never the same reading.
            try:
                assert osc.parse_packet(data[:n]) != full
            except osc.OscError:
                pass
        for _ in range(200):
            flipped = bytearray(data)
            flipped[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
            try:
                osc.parse_packet(bytes(flipped))
            except osc.OscError:
                pass


# -- msgpack --------------------------------------------------------------------------------------


def _random_doc(rng, depth=0):
    kinds = ["int", "neg", "big", "float", "str", "bin", "none", "bool"] + (["list", "map"] if depth < 3 else [])
    k = rng.choice(kinds)
    if k == "int":
        return rng.randrange(0, 1 << rng.choice([7, 8, 16, 32, 64]))
    if k == "neg":
        return -rng.randrange(1, 1 << rng.choice([5, 7, 15, 31, 63]))
    if k == "big":
        return rng.choice([127, 128, 255, 256, 65535, 65536, 2**32 - 1, 2**32, 2**63])
    if k == "float":
        return rng.uniform(-1e6, 1e6)
    if k == "str":
        return "".join(rng.choice("abcé漢 ") for _ in range(rng.choice([0, 5, 31, 32, 300])))
    if k == "bin":
        return bytes(rng.randrange(256) for _ in range(rng.choice([0, 4, 255, 256, 70000])))
    if k == "none":
        return None
    if k == "bool":
        return rng.random() < 0.5
    if k == "list":
        return [_random_doc(rng, depth + 1) for _ in range(rng.choice([0, 3, 15, 16, 20]))]
    return {f"k{i}": _random_doc(rng, depth + 1) for i in range(rng.choice([0, 3, 15, 16, 17]))}


def test_msgpack_reader_agrees_with_the_msgpack_package():
    rng = random.Random(7)
    for _ in range(300):
        doc = _random_doc(rng)
        assert msgpack_read.unpackb(msgpack.packb(doc, use_bin_type=True)) == doc
    for _, _doc, data in vectors("zmq"):
        try:
            want = msgpack.unpackb(data, raw=False)
        except Exception:
            with pytest.raises(msgpack_read.MsgpackError):
                msgpack_read.unpackb(data)
            continue
        assert msgpack_read.unpackb(data) == want
    with pytest.raises(msgpack_read.MsgpackError, match="after the value"):
        msgpack_read.unpackb(msgpack.packb(1) + b"\x00")
    with pytest.raises(msgpack_read.MsgpackError, match="too deep"):
        msgpack_read.unpackb(b"\x91" * 20 + b"\x00")


# -- the live decoder -----------------------------------------------------------------------------


def test_decoder_takes_valid_frames_and_drops_each_malformed_vector_by_reason():
    d = live.FrameDecoder()
    names = (VECTORS / "osc_compact_names.bin").read_bytes()
    bundle = (VECTORS / "osc_compact_bundle.bin").read_bytes()
    want = json.loads((VECTORS / "osc_compact_bundle.json").read_text())["osc"]["messages"]
    assert d.feed_osc(bundle) is None and d.drops == {"no_names_yet": 1}  # a frame before names
    assert d.feed_osc(names) is None
    frame = d.feed_osc(bundle)
    assert (frame.subject, frame.number, frame.time) == ("Ada", 1234, want[0]["args"][1])
    assert frame.layout.space == "arkit" and len(frame.layout.curves) == 52
    assert list(frame.values) == want[1]["args"]
    for name, doc, data in vectors("osc-compact"):
        if not doc["valid"]:
            before = d.dropped
            assert d.feed_osc(data) is None, name
            assert d.dropped == before + 1, name
    assert d.drops["unsupported_schema"] == 1  # osc_compact_names_future_schema
    # Every cut of a names message or frame bundle is dropped, except a bundle cut exactly
    # before its /emotion element: that is still a whole frame, and must read as one.
    for data in (names, bundle):
        for n in range(len(data)):
            before = d.dropped
            got = d.feed_osc(data[:n])
            assert (got is None and d.dropped == before + 1) or (got == frame and data is bundle), n

    z = live.FrameDecoder()
    static = json.loads((VECTORS / "zmq_static.json").read_text())
    assert z.feed_zmq(b"Ada", (VECTORS / "zmq_static.bin").read_bytes()) is None
    zf = z.feed_zmq(b"Ada", (VECTORS / "zmq_frame.bin").read_bytes())
    zwant = json.loads((VECTORS / "zmq_frame.json").read_text())["decoded"]
    assert zf.number == zwant["number"] and list(zf.values) == zwant["values"]
    assert zf.layout.curves == tuple(static["decoded"]["curves"])
    for name, doc, data in vectors("zmq"):
        before = (z.dropped, z.frames)
        got = z.feed_zmq(doc.get("topic", "Ada").encode(), data)
        if doc["valid"]:
            assert z.dropped == before[0], name  # extra fields and unknown types are not errors
        else:
            assert got is None and z.dropped == before[0] + 1, name


def test_decoder_reads_emorig_encoders_output_exactly():
    space = get_space("livelinkface")
    values = np.linspace(-0.5, 1.0, len(space)).astype(np.float32)
    d = live.FrameDecoder()
    d.feed_osc(protocol.osc_compact_names("ada", space.name, 25.0, space.curves))
    f = d.feed_osc(protocol.osc_compact_frame("ada", 7, 0.28, space.name, values, "happy", [0.0] * 8, 0.5, timetag=1))
    assert f.layout.fps == 25.0 and f.number == 7 and f.time == 0.28
    np.testing.assert_array_equal(np.float32(f.values), values)
    z = live.FrameDecoder()
    z.feed_zmq(b"ada", protocol.zmq_static("ada", space.name, 25.0, space.curves))
    zf = z.feed_zmq(b"ada", protocol.zmq_frame("ada", 7, 0.28, space.name, values, "happy", [0.0] * 8, 0.5))
    np.testing.assert_array_equal(np.float32(zf.values), values)


def test_udp_receiver_on_loopback_counts_a_flood_and_stays_up():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    rx = live.UdpReceiver(port)
    assert rx.address == f"osc://127.0.0.1:{port}"  # bound to loopback unless told otherwise
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rng = random.Random(1)
    junk = [bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200))) for _ in range(500)]
    for j in junk:
        tx.sendto(j, ("127.0.0.1", port))
    tx.sendto((VECTORS / "osc_compact_names.bin").read_bytes(), ("127.0.0.1", port))
    tx.sendto((VECTORS / "osc_compact_bundle.bin").read_bytes(), ("127.0.0.1", port))
    frames, deadline = [], time.monotonic() + 5
    while rx.decoder.dropped + rx.decoder.frames < len(junk) + 1 and time.monotonic() < deadline:
        frames += rx.poll()
        time.sleep(0.01)
    assert len(frames) == 1 and rx.decoder.dropped == len(junk)
    rx.close()
    tx.close()
    with pytest.raises(ValueError, match="port 0 is not"):
        live.open_receiver("OSC", 0)
    with pytest.raises(ValueError, match="unknown transport"):
        live.open_receiver("TCP", 9000)


# -- takes ----------------------------------------------------------------------------------------


def test_fallback_csv_reader_reads_like_emorig(tmp_path):
    path = ROOT / "examples" / "take.csv"
    mine, theirs = csv_take.read_csv_take(str(path)), read_take(path)
    assert mine.fps == theirs.fps == 60 and len(mine.rows) == len(theirs)
    cols = [theirs.space.index(c) for c in mine.curves]
    np.testing.assert_allclose(np.array(mine.rows), theirs.frames[:, cols], atol=1e-7)
    generic = tmp_path / "generic.csv"
    generic.write_text("time,jawOpen,eyeBlinkLeft\n0,0.1,0\n0.04,0.2,1\n0.08,0.3,0.5\n")
    g = csv_take.read_csv_take(str(generic))
    assert g.fps == 25 and g.curves == ["jawOpen", "eyeBlinkLeft"] and g.rows[1] == [0.2, 1.0]
    assert read_take(generic).fps == 25


@pytest.mark.parametrize(
    "text,message",
    [
        ("", "no frames"),
        ("jawOpen\n0.1\n", "missing column 'Timecode'"),
        ("time,jawOpen\n0,0.1\n0.1\n", "row 3: expected 2 cells"),
        ("time,jawOpen\n0,nan\n", "row 2: a curve value is not finite"),
        ("Timecode,jawOpen\n00:00:61,0.1\n", "is not HH:MM:SS:FF.fff"),
    ],
)
def test_fallback_csv_reader_errors_are_one_line_naming_the_file(tmp_path, text, message):
    p = tmp_path / "bad.csv"
    p.write_text(text)
    with pytest.raises(csv_take.TakeError) as e:
        csv_take.read_csv_take(str(p))
    assert message in str(e.value) and str(p) in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(csv_take.TakeError, match="file not found"):
        csv_take.read_csv_take(str(tmp_path / "none.csv"))


def test_takes_io_retargets_to_the_space_that_fits_the_shape_keys():
    take = takes_io.read(str(ROOT / "examples" / "take.csv"))
    assert take.space == "livelinkface" and take.extra["emorig"]
    same, m = takes_io.fit_to_shape_keys(take, ["jawOpen", "eyeBlink_L"])
    assert same is take and m.count == 2
    vrc, m = takes_io.fit_to_shape_keys(take, ["EyeClosedLeft", "MouthCornerPullRight", "JawOpen"])
    assert vrc.space == "vrcft" and m.count == 3 and vrc.extra["retargeted_from"] == "livelinkface"
    fallback = takes_io.read(str(ROOT / "examples" / "take.csv"), use_emorig=False)
    assert not fallback.extra.get("emorig") and takes_io.fit_to_shape_keys(fallback, ["EyeClosedLeft"])[1].count == 0
    with pytest.raises(csv_take.TakeError, match="needs emorig"):
        takes_io.read("x.npz", use_emorig=False)


def test_resample_matches_linear_interpolation():
    rng = np.random.default_rng(0)
    rows = rng.random((61, 3))
    out = np.array(resample.resample(rows.tolist(), 60, 24))
    t_in, t_out = np.arange(61) / 60, np.arange(25) / 24
    assert out.shape == (25, 3)
    for c in range(3):
        np.testing.assert_allclose(out[:, c], np.interp(t_out, t_in, rows[:, c]), atol=1e-12)
    # Irregular times (dropped live frames) are bridged, not stepped.
    times = [0.0, 0.1, 0.5, 0.6]
    got = resample.resample_times(times, [[0], [1], [5], [6]], 10)
    np.testing.assert_allclose(np.ravel(got), np.arange(7), atol=1e-9)
    with pytest.raises(ValueError, match="fps must be positive"):
        resample.resample([[0]], 60, 0)


# -- matching -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "shape,curve",
    [
        ("jawOpen", "JawOpen"),
        ("JawOpen", "JawOpen"),
        ("blendShape1.jawOpen", "JawOpen"),
        ("Face:jawOpen", "JawOpen"),
        ("eyeBlink_L", "EyeBlinkLeft"),
        ("eyeBlink.R", "EyeBlinkRight"),
        ("EYEBLINK_left", "EyeBlinkLeft"),
        ("mouthRollLower", "MouthRollLower"),
        ("Blink_L", "EyeBlinkLeft"),  # VRM 0.x
        ("blinkRight", "EyeBlinkRight"),  # VRM 1.0
        ("Fcl_EYE_Close_L", "EyeBlinkLeft"),  # VRoid
    ],
)
def test_shape_key_spellings_match_livelinkface_curves(shape, curve):
    curves = get_space("livelinkface").curves
    m = matching.match(curves, [shape])
    assert m.pairs == {shape: curves.index(curve)}


def test_matching_keeps_sides_and_lists_what_is_left():
    curves = get_space("livelinkface").curves
    m = matching.match(curves, ["eyeBlinkLeft", "eyeBlink.L", "mouthRoll", "L"])
    assert m.pairs == {"eyeBlinkLeft": 0, "eyeBlink.L": 0}
    assert m.unmatched_keys == ["mouthRoll", "L"]
    assert len(m.unmatched_curves) == 51  # the 52 shapes less EyeBlinkLeft; rotations are for bones
    assert "51 take curves unmatched" in m.summary() and "(+39 more)" in m.summary()
    mh = get_space("metahuman")
    assert matching.match(mh.curves, ["jawOpen", "CTRL_expressions_mouthCornerPullL"]).count == 2
    assert matching.match_bones(curves, ["Head", "eye.L", "RightEye", "spine"]) == {
        "Head": [(52, 1), (53, 0), (54, 2)],
        "eye.L": [(55, 1), (56, 0), (57, 2)],
        "RightEye": [(58, 1), (59, 0), (60, 2)],
    }


# -- runner ---------------------------------------------------------------------------------------


def test_runner_arguments_and_one_line_errors(tmp_path):
    assert runner.take_rate(24) == 24 and runner.take_rate(29.97) == 60
    args = runner.animate_args("a b.wav", "t.csv", "happy", 0.7, 30)
    assert args == [
        "animate",
        "a b.wav",
        "-o",
        "t.csv",
        "--quiet",
        "--emotion",
        "happy",
        "--intensity",
        "0.7",
        "--fps",
        "30",
    ]
    with pytest.raises(runner.RunError, match="unknown emotion"):
        runner.animate_args("a.wav", "t.csv", "glee", 0.5, 30)
    with pytest.raises(runner.RunError, match="not found"):
        runner.run_command("no-such-emorig-command", args)
    with pytest.raises(runner.RunError, match="does not parse"):
        runner.run_command("'unclosed", args)
    # emorig's own one-line error comes through (here: a missing sound file).
    with pytest.raises(runner.RunError) as e:
        runner.run_command(
            f"{sys.executable} -m bridge.cli",
            runner.animate_args(str(tmp_path / "none.wav"), str(tmp_path / "t.csv"), "neutral", 0.5, 30),
        )
    assert "none.wav" in str(e.value) and "\n" not in str(e.value)


def test_zmq_receiver_reads_a_real_pub_socket():
    zmq = pytest.importorskip("zmq")
    ctx = zmq.Context.instance()
    pub = ctx.socket(zmq.PUB)
    port = pub.bind_to_random_port("tcp://127.0.0.1")
    rx = live.ZmqReceiver(port)
    space = get_space("arkit")
    values = np.linspace(0, 1, len(space)).astype(np.float32)
    frames, deadline = [], time.monotonic() + 10
    while not frames and time.monotonic() < deadline:  # a SUB joins a moment after connecting
        pub.send_multipart([b"ada", protocol.zmq_static("ada", "arkit", 60.0, space.curves)])
        pub.send_multipart([b"ada", protocol.zmq_frame("ada", 3, 0.05, "arkit", values, "sad", [0.0] * 8, 0.2)])
        pub.send_multipart([b"ada", b"\xc1 not msgpack"])
        pub.send_multipart([b"one part only"])
        time.sleep(0.05)
        frames += rx.poll()
    assert frames and frames[0].number == 3
    np.testing.assert_array_equal(np.float32(frames[0].values), values)
    assert rx.decoder.drops["not_msgpack"] >= 1 and rx.decoder.drops["bad_framing"] >= 1
    rx.close()
    pub.close(linger=0)
