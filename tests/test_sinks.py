"""Sinks over real sockets on 127.0.0.1, read back by decoders that are not ours: a Live Link
Face parser written here from the published layout, python-osc's server, liblo's oscdump, a
ZeroMQ SUB socket with plain msgpack. Plus the golden vectors in tests/vectors/.

Nothing asserts speed; every wait is bounded so a lost datagram fails a test instead of hanging it.
"""

from __future__ import annotations

import importlib.util
import json
import math
import queue
import shutil
import socket
import struct
import subprocess
import threading
import time
from pathlib import Path

import msgpack
import numpy as np
import pytest
import zmq
from conftest import reference
from pythonosc.dispatcher import Dispatcher
from pythonosc.osc_message import OscMessage
from pythonosc.osc_server import ThreadingOSCUDPServer

from bridge import protocol
from bridge.frames import Frame
from bridge.sinks import ANNOUNCE_PERIOD, SinkRegistry, _VrchatThrottle, open_sink
from retarget.errors import InputError
from retarget.spaces import get_space
from retarget.takes import read_take
from training.emotions import EMOTIONS

VECTORS = Path(__file__).resolve().parent / "vectors"
WAIT = 5.0  # seconds: the longest any test waits for a datagram that should already be there

# Positions in the Live Link Face packet, from the published EARFaceBlendShape order.
LLF_INDEX = {"EyeBlinkLeft": 0, "JawOpen": 17, "MouthClose": 18, "TongueOut": 51, "HeadYaw": 52, "RightEyeRoll": 60}


# -- helpers ----------------------------------------------------------------------------------------


def make_frame(space="arkit", number=0, fps=60.0, values=None, emotion="happy", subject="ada", time_=None):
    space = get_space(space) if isinstance(space, str) else space
    if values is None:
        values = np.zeros(len(space), dtype=np.float32)
    probs = np.full(len(EMOTIONS), 0.05, dtype=np.float32)
    probs[EMOTIONS.index(emotion)] = 0.65
    t = number / fps if time_ is None else time_
    return Frame(subject, number, t, fps, space, values, emotion=emotion, emotion_probs=probs, intensity=0.5)


def arkit_values(**named) -> np.ndarray:
    arkit = get_space("arkit")
    v = np.zeros(len(arkit), dtype=np.float32)
    for name, value in named.items():
        v[arkit.index(name)] = value
    return v


def wait_for(predicate, timeout=WAIT) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


def free_port(kind=socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def udp():
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(WAIT)
    yield sock
    sock.close()


def drain(sock, idle=0.3) -> list[bytes]:
    """Every datagram waiting on `sock`, up to `idle` seconds of quiet."""
    out, old = [], sock.gettimeout()
    sock.settimeout(idle)
    try:
        while True:
            out.append(sock.recv(65535))
    except TimeoutError:
        pass
    finally:
        sock.settimeout(old)
    return out


@pytest.fixture
def registry():
    with SinkRegistry() as r:
        yield r


def parse_llf(data: bytes) -> dict:
    """Live Link Face packet, read straight from the published table (big-endian)."""
    at = 0
    (version,) = struct.unpack_from(">B", data, at)
    at += 1
    (n,) = struct.unpack_from(">i", data, at)
    device = data[at + 4 : at + 4 + n].decode("utf-8")
    at += 4 + n
    (m,) = struct.unpack_from(">i", data, at)
    subject = data[at + 4 : at + 4 + m].decode("utf-8")
    at += 4 + m
    number, sub, num, den, count = struct.unpack_from(">ifiiB", data, at)
    at += 17
    values = struct.unpack_from(">61f", data, at)
    assert len(data) == 270 + n + m == at + 244
    return dict(version=version, device=device, subject=subject, number=number, sub=sub, rate=(num, den),
                count=count, values=values)  # fmt: skip


# -- Live Link Face -----------------------------------------------------------------------------------


def test_livelinkface_packet_follows_the_published_layout(udp, registry):
    port = udp.getsockname()[1]
    url = f"livelinkface://127.0.0.1:{port}?subject=Ada"
    with open_sink(url, subject="ada", registry=registry) as sink:
        sink.send(make_frame(number=90, values=arkit_values(jawOpen=0.75, eyeBlinkLeft=0.25, tongueOut=1.0)))
        got = parse_llf(udp.recv(2048))
        assert sink.stats.sent == 1 and sink.stats.errors == 0
    assert got["version"] == 6 and got["count"] == 61
    assert got["subject"] == "Ada"
    assert got["number"] == 90 and got["sub"] == 0.0 and got["rate"] == (60, 1)
    v = got["values"]
    assert v[LLF_INDEX["JawOpen"]] == 0.75 and v[LLF_INDEX["EyeBlinkLeft"]] == 0.25 and v[LLF_INDEX["TongueOut"]] == 1
    assert v[LLF_INDEX["HeadYaw"] :] == (0.0,) * 9
    # The device id comes from the subject: the same on every run, different per subject.
    with open_sink(url, subject="other", registry=registry) as again:
        again.send(make_frame())
        assert parse_llf(udp.recv(2048))["device"] == got["device"]
    assert protocol.default_device_id("Ada") == got["device"] != protocol.default_device_id("Bob")


@pytest.mark.parametrize("unit, expected", [("unit", 0.25), ("rad", math.pi / 4), ("deg", 45.0)])
def test_livelinkface_rotation_unit_is_explicit(udp, registry, unit, expected):
    llf = get_space("livelinkface")
    values = np.zeros(61, dtype=np.float32)
    values[llf.index("HeadYaw")] = math.pi / 4  # the livelinkface space holds radians
    url = f"livelinkface://127.0.0.1:{udp.getsockname()[1]}?rotations={unit}&device=stage-left"
    with open_sink(url, subject="Ada", registry=registry) as sink:
        sink.send(make_frame("livelinkface", values=values))
        got = parse_llf(udp.recv(2048))
    assert got["values"][LLF_INDEX["HeadYaw"]] == pytest.approx(expected, rel=1e-6)
    assert got["device"] == "stage-left" and got["subject"] == "Ada"


def test_livelinkface_sub_frame_and_ntsc_rate(udp, registry):
    with open_sink(f"livelinkface://127.0.0.1:{udp.getsockname()[1]}", subject="Ada", registry=registry) as sink:
        sink.send(make_frame(number=10, fps=29.97, time_=10.5 * 1001 / 30000))
        got = parse_llf(udp.recv(2048))
    assert got["rate"] == (30000, 1001)
    assert got["number"] == 10 and got["sub"] == pytest.approx(0.5, abs=1e-4)


def test_metahuman_frames_are_retargeted_to_livelinkface(udp, registry):
    from retarget.mappings import retarget_frames

    arkit, mh = get_space("arkit"), get_space("metahuman")
    mh_values = retarget_frames(arkit_values(jawOpen=0.6)[None], arkit, mh)[0]
    with open_sink(f"livelinkface://127.0.0.1:{udp.getsockname()[1]}", subject="Ada", registry=registry) as sink:
        sink.send(make_frame(mh, values=mh_values))
        got = parse_llf(udp.recv(2048))
    assert got["values"][LLF_INDEX["JawOpen"]] == pytest.approx(0.6, abs=0.02)


def test_frames_no_mapping_reaches_are_an_input_error(udp, registry):
    with open_sink(f"livelinkface://127.0.0.1:{udp.getsockname()[1]}", subject="Ada", registry=registry) as sink:
        with pytest.raises(InputError, match="no mapping"):
            sink.send(make_frame("flame"))


def test_udp_to_a_closed_port_counts_errors_and_keeps_going(registry):
    port = free_port(socket.SOCK_DGRAM)  # nothing listens there now
    with open_sink(f"livelinkface://127.0.0.1:{port}", subject="Ada", registry=registry) as sink:
        sent = 0
        # Linux reports the ICMP "port unreachable" of one datagram on a later send.
        while sink.stats.errors == 0 and sent < 500:
            sink.send(make_frame(number=sent))
            sent += 1
            time.sleep(0.002)
        for n in range(sent, sent + 20):
            sink.send(make_frame(number=n))
        stats = sink.stats
    assert stats.errors > 0 and "ECONNREFUSED" in stats.last_error
    assert stats.sent + stats.errors + stats.dropped == sent + 20


# -- OSC ------------------------------------------------------------------------------------------------


@pytest.fixture
def osc_server():
    """python-osc's own server: collects (address, args) of every message, bundles unpacked."""
    got: queue.Queue = queue.Queue()
    dispatcher = Dispatcher()
    dispatcher.set_default_handler(lambda address, *args: got.put((address, args)))
    server = ThreadingOSCUDPServer(("127.0.0.1", 0), dispatcher)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server.server_address[1], got
    server.shutdown()
    server.server_close()
    thread.join(WAIT)


def collect(got: queue.Queue, count: int) -> list[tuple[str, tuple]]:
    out = []
    deadline = time.monotonic() + WAIT
    while len(out) < count and time.monotonic() < deadline:
        try:
            out.append(got.get(timeout=0.05))
        except queue.Empty:
            pass
    return out


def test_osc_compact_is_read_by_python_osc(osc_server, registry):
    port, got = osc_server
    arkit = get_space("arkit")
    frames = [make_frame(number=n, values=arkit_values(jawOpen=n / 8)) for n in range(5)]
    with open_sink(f"osc://127.0.0.1:{port}?mode=compact", subject="Ada", registry=registry) as sink:
        for f in frames:
            sink.send(f)
        assert sink.stats.sent == 5
    messages = collect(got, 1 + 5 * 3)
    by_address: dict[str, list] = {}
    for address, args in messages:
        by_address.setdefault(address, []).append(args)
    (names,) = by_address["/emorig/Ada/names"]
    assert names[:3] == (1, "arkit", 60.0) and list(names[3:]) == list(arkit.curves)
    assert [a[0] for a in by_address["/emorig/Ada/frame"]] == [0, 1, 2, 3, 4]
    assert [a[1:] for a in by_address["/emorig/Ada/frame"]] == [(n / 60, "arkit") for n in range(5)]
    values = by_address["/emorig/Ada/values"]
    assert [v[arkit.index("jawOpen")] for v in values] == [n / 8 for n in range(5)]
    assert all(len(v) == 52 for v in values)
    emotion = by_address["/emorig/Ada/emotion"][0]
    assert emotion[0] == "happy" and emotion[1] == 0.5
    assert emotion[2 + EMOTIONS.index("happy")] == pytest.approx(0.65)


def test_osc_curves_are_read_by_python_osc(osc_server, registry):
    port, got = osc_server
    mh = get_space("metahuman")  # 251 curves: several bundles per frame
    values = np.linspace(0, 1, len(mh), dtype=np.float32)
    with open_sink(f"osc://127.0.0.1:{port}?mode=curves", subject="Ada", registry=registry) as sink:
        sink.send(make_frame(mh, values=values))
        assert sink.stats.sent == 1
    messages = dict(collect(got, 1 + len(mh) + 2 + len(EMOTIONS)))
    for name, value in zip(mh.curves, values):
        assert messages[f"/emorig/Ada/{name}"] == (float(value),)
    assert messages["/emorig/Ada/frame"] == (0, 0.0)
    assert messages["/emorig/Ada/emotion/label"] == ("happy",)
    assert messages["/emorig/Ada/emotion/happy"] == (pytest.approx(0.65),)


def test_osc_compact_names_at_start_every_second_and_on_change(udp, registry):
    with open_sink(f"osc://127.0.0.1:{udp.getsockname()[1]}", subject="Ada", registry=registry) as sink:
        for n in range(150):  # 2.5 s of audio clock at 60 fps
            sink.send(make_frame(number=n))
        sink.send(make_frame("livelinkface", number=150))
    names = [d for d in drain(udp) if not d.startswith(b"#bundle")]
    spaces = [OscMessage(d).params[1] for d in names]
    assert spaces == ["arkit"] * math.ceil(2.5 / ANNOUNCE_PERIOD) + ["livelinkface"]


def test_oscdump_parses_every_bundle(registry):
    if shutil.which("oscdump") is None:
        pytest.skip("oscdump (liblo-tools) is not installed")
    port = free_port(socket.SOCK_DGRAM)
    proc = subprocess.Popen(["oscdump", "-L", str(port)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: queue.Queue = queue.Queue()
    errors: list[str] = []
    threading.Thread(target=lambda: [lines.put(x) for x in proc.stdout], daemon=True).start()
    threading.Thread(target=lambda: errors.extend(proc.stderr), daemon=True).start()
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        # oscdump binds when it is ready; knock until it answers (UDP sent earlier is lost).
        seen: list[str] = []

        def answered() -> bool:
            probe.sendto(protocol.osc_message("/probe", []), ("127.0.0.1", port))
            time.sleep(0.05)
            while not lines.empty():
                seen.append(lines.get())
            return any("/probe" in x for x in seen)

        assert wait_for(answered, timeout=10), "oscdump never started listening"
        values = np.arange(52, dtype=np.float32) / 64
        with open_sink(f"osc://127.0.0.1:{port}?mode=compact", subject="Ada", registry=registry) as compact:
            for n in range(20):
                compact.send(make_frame(number=n, values=values))
        with open_sink(f"osc://127.0.0.1:{port}?mode=curves&timetag=wall", subject="Ada", registry=registry) as curves:
            for n in range(5):
                curves.send(make_frame(number=n, values=values))
        probe.sendto(protocol.osc_message("/done", []), ("127.0.0.1", port))
        out: list[str] = []
        deadline = time.monotonic() + WAIT
        while not any("/done" in x for x in out) and time.monotonic() < deadline:
            try:
                out.append(lines.get(timeout=0.1))
            except queue.Empty:
                pass
    finally:
        probe.close()
        proc.terminate()
        proc.wait(WAIT)
    words = [x.split() for x in out]
    frames = [w for w in words if w[1] == "/emorig/Ada/frame"]
    value_lines = [w for w in words if w[1] == "/emorig/Ada/values"]
    assert len([w for w in frames if w[2] == "ids"]) == 20 and len([w for w in frames if w[2] == "if"]) == 5
    assert len(value_lines) == 20 and len([w for w in words if w[1] == "/emorig/Ada/emotion"]) == 20
    assert all(w[2] == "f" * 52 and [float(x) for x in w[3:]] == pytest.approx(values, abs=1e-6) for w in value_lines)
    assert len([w for w in words if w[1] == "/emorig/Ada/jawOpen"]) == 5
    assert [w[3] for w in words if w[1] == "/emorig/Ada/names"][:1] == ["1"]
    assert not [e for e in errors if "error" in e.lower()], errors


def test_vrchat_mode_sends_unified_expressions_parameters(udp, registry):
    known = {line.split("\t")[0] for line in reference("vrcft_v2_parameters.tsv").read_text().splitlines()[1:]}
    url = f"osc://127.0.0.1:{udp.getsockname()[1]}?mode=vrchat&max_hz=30"
    with open_sink(url, subject="ada", registry=registry) as sink:
        sink.send(make_frame(number=0, values=arkit_values(jawOpen=0.5)))
        first = [OscMessage(d) for d in drain(udp)]
        sink.send(make_frame(number=1, values=arkit_values(jawOpen=0.9)))  # 1/60 s later: over 30 Hz
        sink.send(make_frame(number=2, values=arkit_values(jawOpen=0.9)))
        second = [OscMessage(d) for d in drain(udp)]
        stats = sink.stats
    vrcft = get_space("vrcft")
    assert len(first) == len(vrcft)  # the first update sends everything
    params = {m.address.removeprefix("/avatar/parameters/"): m.params for m in first}
    assert set(params) <= known and all(len(p) == 1 and isinstance(p[0], float) for p in params.values())
    assert params["v2/JawOpen"] == [0.5]
    assert stats.skipped == 1 and stats.sent == 2
    # Only what moved past the deadband (plus a small rolling refresh slice, none due yet).
    assert {m.address for m in second} == {"/avatar/parameters/v2/JawOpen"}
    assert second[0].params == [pytest.approx(0.9)]


def test_vrchat_throttle_deadband_rate_and_rolling_refresh():
    throttle = _VrchatThrottle(n=10, deadband=0.01, max_hz=10, refresh=1.0)
    v = np.zeros(10, dtype=np.float32)

    def step(t, values):
        picks = throttle.pick(t, values)
        for i in picks if picks is not None else []:
            throttle.mark(i, t, values[i])
        return None if picks is None else list(picks)

    assert step(0.0, v) == list(range(10))
    assert step(0.05, v) is None  # within 1/10 s
    assert step(0.1, v + 0.005) == []  # inside the deadband
    assert step(0.2, v + np.eye(10, dtype=np.float32)[3] * 0.5) == [3]
    refreshed = []
    for k in range(3, 25):
        refreshed += step(k / 10, v + np.eye(10, dtype=np.float32)[3] * 0.5)
    assert sorted(set(refreshed)) == list(range(10))  # each parameter re-sent within about a second
    assert max(len(step(2.5 + k / 10, v + np.eye(10)[3] * 0.5) or []) for k in range(10)) <= 1  # never a burst
    assert step(0.0, v) == list(range(10))  # time went back: a new stream, send everything


# -- ZeroMQ -------------------------------------------------------------------------------------------


@pytest.fixture
def zmq_context():
    ctx = zmq.Context()
    yield ctx
    ctx.destroy(linger=0)


def subscriber(ctx, port, *topics):
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    for t in topics:
        sub.setsockopt(zmq.SUBSCRIBE, t)
    sub.connect(f"tcp://127.0.0.1:{port}")
    return sub


def pump(sinks, sub, until, limit=WAIT) -> list[tuple[bytes, dict]]:
    """Send frames on every sink (a SUB only gets messages after its subscription reached the
    PUB) and collect what arrives, until `until(received)` or the time limit."""
    received: list[tuple[bytes, dict]] = []
    n, deadline = 0, time.monotonic() + limit
    while not until(received) and time.monotonic() < deadline:
        for sink in sinks:
            sink.send(make_frame(number=n, values=arkit_values(jawOpen=(n % 64) / 64)))
        n += 1
        time.sleep(0.002)
        try:
            while True:
                topic, payload = sub.recv_multipart(flags=zmq.NOBLOCK)
                received.append((topic, msgpack.unpackb(payload, raw=False)))
        except zmq.Again:
            pass
    return received


def test_zmq_subscriber_gets_static_then_frames(registry, zmq_context):
    port = free_port()
    sink = open_sink(f"zmq://127.0.0.1:{port}", subject="Ada", registry=registry)
    sub = subscriber(zmq_context, port, b"Ada")
    got = pump([sink], sub, lambda r: any(m["type"] == "static" for _, m in r) and len(r) > 3, limit=10)
    sink.close()
    static = next(m for _, m in got if m["type"] == "static")
    assert static["schema"] == 1 and static["space"] == "arkit" and static["fps"] == 60.0
    assert static["curves"] == list(get_space("arkit").curves) and static["emotions"] == list(EMOTIONS)
    frames = [m for t, m in got if m["type"] == "frame"]
    assert {t for t, _ in got} == {b"Ada"}
    f = frames[-1]
    values = np.frombuffer(f["values"], dtype="<f4")
    assert len(values) == 52 and values[get_space("arkit").index("jawOpen")] == (f["number"] % 64) / 64
    assert f["time"] == f["number"] / 60 and f["emotion"] == "happy" and f["intensity"] == 0.5
    assert len(f["emotion_probs"]) == 8 and f["subject"] == "Ada" and f["space"] == "arkit"


def test_zmq_subjects_share_one_socket(registry, zmq_context):
    port = free_port()
    ada = open_sink(f"zmq://127.0.0.1:{port}", subject="Ada", registry=registry)
    bob = open_sink(f"zmq://localhost:{port}", subject="Bob", registry=registry)
    assert ada._pub is bob._pub
    sub = subscriber(zmq_context, port, b"Ada", b"Bob")
    got = pump([ada, bob], sub, lambda r: {t for t, _ in r} == {b"Ada", b"Bob"})
    assert {t for t, _ in got} == {b"Ada", b"Bob"}
    assert all(m["subject"] == t.decode() for t, m in got)
    ada.close()
    ada.close()  # idempotent
    assert pump([bob], sub, lambda r: len(r) > 0)  # Bob streams on
    bob.close()
    with open_sink(f"zmq://127.0.0.1:{port}", subject="Cy", registry=registry):
        pass  # the port was released and binds again


def test_zmq_without_subscriber_never_blocks(registry):
    with open_sink(f"zmq://127.0.0.1:{free_port()}", subject="Ada", registry=registry) as sink:
        frame = make_frame()
        for _ in range(10_000):
            sink.send(frame)
        assert sink.stats.sent == 10_000 and sink.stats.errors == 0


def test_zmq_slow_subscriber_drops_are_counted(registry, zmq_context):
    port = free_port()
    sink = open_sink(f"zmq://127.0.0.1:{port}?hwm=2", subject="Ada", registry=registry)
    sub = subscriber(zmq_context, port, b"")
    sub.setsockopt(zmq.RCVHWM, 1)
    assert pump([sink], sub, lambda r: len(r) > 0)  # connected and subscribed; now stop reading
    big = make_frame("metahuman")
    for _ in range(20_000):
        sink.send(big)
        if sink.stats.dropped:
            break
    assert sink.stats.dropped > 0 and "high-water" in sink.stats.last_error
    sink.close()


def test_zmq_binds_only_loopback_unless_allowed(registry):
    port = free_port()
    with pytest.raises(InputError, match="refusing"):
        open_sink(f"zmq://0.0.0.0:{port}", subject="Ada", registry=registry)
    with open_sink(f"zmq://0.0.0.0:{port}", subject="Ada", registry=registry, allow_remote=True) as sink:
        sink.send(make_frame())
        assert sink.stats.sent == 1


def test_zmq_port_in_use_is_an_input_error(registry):
    port = free_port()
    with open_sink(f"zmq://127.0.0.1:{port}", subject="Ada", registry=registry), SinkRegistry() as other:
        with pytest.raises(InputError, match="cannot bind"):
            open_sink(f"zmq://127.0.0.1:{port}", subject="Ada", registry=other)


# -- files --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["take.csv", "take.json", "take.npz"])
def test_file_sink_writes_the_whole_take_at_close(tmp_path, name, registry):
    path = tmp_path / name
    url = ("file://" if name.endswith("json") else "") + str(path)
    sink = open_sink(url, subject="Ada", registry=registry)
    for n in range(30):
        sink.send(make_frame(number=n, values=arkit_values(jawOpen=n / 32)))
    assert not path.exists()  # nothing until close
    sink.close()
    sink.close()
    take = read_take(path)
    assert len(take) == 30 and take.fps == 60
    assert take.space.name == ("livelinkface" if name.endswith("csv") else "arkit")
    assert take.curve("jawOpen")[7] == pytest.approx(7 / 32)
    if name.endswith("csv"):
        assert path.read_text().startswith("Timecode,BlendShapeCount,")
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]


def test_file_sink_leaves_nothing_behind_on_error(tmp_path, monkeypatch, registry):
    import retarget.takes

    def failing_timecodes(*args):  # the writer fails once the file is open (its header written)
        raise OSError("disk full")

    monkeypatch.setattr(retarget.takes, "timecode_fields", failing_timecodes)
    sink = open_sink(str(tmp_path / "take.csv"), subject="Ada", registry=registry)
    for n in range(10):
        sink.send(make_frame(number=n))
    with pytest.raises(OSError, match="disk full"):
        sink.close()
    assert list(tmp_path.iterdir()) == []  # no take, no temporary file
    assert sink.stats.errors == 1
    sink.close()  # idempotent: nothing more happens


def test_generic_csv_for_spaces_without_a_take_layout(tmp_path, registry):
    path = tmp_path / "mh.csv"
    with open_sink(str(path), subject="Ada", registry=registry) as sink:
        sink.send(make_frame("metahuman"))
    assert path.read_text().startswith("Timecode,CTRL_expressions_")


# -- URLs, lifecycle --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url, words",
    [
        ("udp://127.0.0.1:9000", "unknown scheme"),
        ("livelinkface://127.0.0.1", "missing port"),
        ("osc://127.0.0.1", "missing port"),
        ("zmq://127.0.0.1:0", "missing port"),
        ("livelinkface://:11111", "missing host"),
        ("osc://127.0.0.1:99999", "port"),
        ("osc://127.0.0.1:abc", "port"),
        ("osc://127.0.0.1:9000?mode=loud", "mode='loud'"),
        ("osc://127.0.0.1:9000?mode=vrchat&deadband=-1", "deadband"),
        ("osc://127.0.0.1:9000?mode=vrchat&max_hz=fast", "max_hz"),
        ("osc://127.0.0.1:9000?mode=compact&deadband=0.1", "only to mode=vrchat"),
        ("osc://127.0.0.1:9000?subject=a b", "OSC address"),
        ("osc://127.0.0.1:9000?colour=red", "unknown option"),
        ("osc://127.0.0.1:9000?mode=curves&mode=compact", "twice"),
        ("osc://127.0.0.1:9000/path", "no path"),
        ("livelinkface://127.0.0.1:11111?rotations=grad", "rotations"),
        ("livelinkface://127.0.0.1:11111?subject=", "subject"),
        ("livelinkface://127.0.0.1:11111?device=", "device"),
        ("livelinkface://no-such-host.invalid:11111", "cannot resolve"),
        ("zmq://127.0.0.1:5555?hwm=0", "hwm"),
        ("zmq://127.0.0.1:5555?hwm=2.5", "hwm"),
        ("take.txt", "unknown file type"),
        ("/no/such/folder/take.csv", "does not exist"),
    ],
)
def test_bad_sink_urls_are_one_line_input_errors(url, words, registry):
    with pytest.raises(InputError) as e:
        open_sink(url, subject="Ada", registry=registry)
    message = str(e.value)
    assert url in message and words in message and "\n" not in message


def test_send_after_close_is_counted_not_raised(udp, registry):
    sink = open_sink(f"osc://127.0.0.1:{udp.getsockname()[1]}", subject="Ada", registry=registry)
    sink.close()
    sink.send(make_frame())
    assert sink.stats.dropped == 1 and sink.closed


def test_unencodable_frames_are_counted(udp, registry):
    bad = make_frame(values=np.full(52, np.nan, dtype=np.float32))
    for url in (f"livelinkface://127.0.0.1:{udp.getsockname()[1]}", f"osc://127.0.0.1:{udp.getsockname()[1]}"):
        with open_sink(url, subject="Ada", registry=registry) as sink:
            sink.send(bad)
            assert sink.stats.errors == 1 and "finite" in sink.stats.last_error


# -- protocol helpers and golden vectors ---------------------------------------------------------------


@pytest.mark.parametrize(
    "fps, rate", [(60, (60, 1)), (30.0, (30, 1)), (29.97, (30000, 1001)), (59.94, (60000, 1001)), (23.976, (24000, 1001)), (12.5, (25, 2))]
)  # fmt: skip
def test_frame_rate_fraction(fps, rate):
    assert protocol.frame_rate_fraction(fps) == rate


def test_frame_time_does_not_lose_a_frame_to_rounding():
    assert protocol.frame_time(3 / 60, (60, 1)) == (3, 0.0)
    assert protocol.frame_time(2**31 / 60, (60, 1))[0] == 0  # wraps to fit int32


def _make_vectors():
    spec = importlib.util.spec_from_file_location("make_vectors", VECTORS / "make_vectors.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


DECODERS = {
    "livelinkface": protocol.decode_livelinkface,
    "osc-compact": protocol.decode_osc_compact,
    "zmq": protocol.decode_zmq,
}


def test_encoders_reproduce_the_committed_vectors_exactly():
    mv = _make_vectors()
    built = mv.build_vectors()
    committed = {p.stem for p in VECTORS.glob("*.bin")}
    assert committed == set(built), "run python3 tests/vectors/make_vectors.py and review the diff"
    for name, (data, doc) in built.items():
        assert (VECTORS / f"{name}.bin").read_bytes() == data, f"{name}.bin: the encoder's bytes changed"
        assert (VECTORS / f"{name}.json").read_text() == mv.render(doc), f"{name}.json changed"


@pytest.mark.parametrize("name", sorted(p.stem for p in VECTORS.glob("*.json")))
def test_committed_vectors_decode_as_their_json_says(name):
    data = (VECTORS / f"{name}.bin").read_bytes()
    doc = json.loads((VECTORS / f"{name}.json").read_text())
    decoder = DECODERS.get(doc["format"])
    if not doc["valid"]:
        with pytest.raises(protocol.ProtocolError) as e:
            decoder(data)
        assert e.value.reason == doc["reason"]
        return
    if decoder is not None:
        assert decoder(data) == doc["decoded"]
    if "osc" in doc:  # python-osc reads every message as the JSON lists it
        elements = protocol.osc_bundle_elements(data)[1] if data.startswith(b"#bundle") else [data]
        assert [(m.address, list(m.params)) for m in map(OscMessage, elements)] == [
            (m["address"], m["args"]) for m in doc["osc"]["messages"]
        ]
    if doc["format"] == "livelinkface":
        raw = parse_llf(data)
        assert list(raw["values"]) == doc["decoded"]["values"] and raw["subject"] == doc["decoded"]["subject"]
