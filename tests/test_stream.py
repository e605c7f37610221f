"""`emorig animate` and `emorig stream` end to end: real audio files, real sockets, child processes."""

import json
import signal
import socket
import struct
import subprocess
import sys
import time

import msgpack
import numpy as np
import pytest
import soundfile as sf
import zmq
from conftest import ROOT, run_emorig
from pythonosc.osc_message_builder import OscMessageBuilder

from retarget.spaces import get_space
from retarget.takes import read_take

SR = 16000
# These tests check the bridge's mechanics against exact expectations of the DSP reference model;
# the shipped network's behaviour is tested in tests/test_default_model.py.
REFERENCE = ("--model", "reference")


def speechlike(seconds, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(SR * seconds)) / SR
    phase = 2 * np.pi * np.cumsum(120 + 20 * np.sin(2 * np.pi * 0.5 * t)) / SR
    source = sum(np.sin(k * phase) / k for k in range(1, 25))
    syllables = (np.sin(2 * np.pi * 3.0 * t) > -0.2) * (t < seconds * 0.6)  # speech, then silence
    return (0.12 * source * syllables + 0.002 * rng.normal(size=len(t))).astype(np.float32)


@pytest.fixture(scope="module")
def speech(tmp_path_factory):
    path = tmp_path_factory.mktemp("audio") / "speech.wav"
    sf.write(path, speechlike(3.0), SR, subtype="PCM_16")
    return path


def free_port(kind=socket.SOCK_DGRAM):
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def emorig_process(*args):
    return subprocess.Popen(
        [sys.executable, "-m", "bridge.cli", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )


def decode_llf(data):
    """Live Link Face v6, written here from the published layout (big-endian)."""
    at = 0
    version = data[at]
    at += 1
    fields = {}
    for name in ("device", "subject"):
        (n,) = struct.unpack_from(">i", data, at)
        fields[name] = data[at + 4 : at + 4 + n].decode()
        at += 4 + n
    frame, sub, num, den = struct.unpack_from(">ifii", data, at)
    at += 16
    count = data[at]
    values = struct.unpack_from(">61f", data, at + 1)
    return dict(version=version, frame=frame, sub=sub, rate=num / den, count=count, values=values, **fields)


def test_animate_writes_a_live_link_face_take_that_moves_with_the_speech(tmp_path, speech):
    out = tmp_path / "take.csv"
    result = run_emorig("animate", speech, "-o", out, "--quiet", "--vad", "energy", *REFERENCE)
    assert result.returncode == 0, result.stderr
    take = read_take(out)
    assert take.space.name == "livelinkface" and take.fps == 60
    assert len(take) == 180  # 3 s at 60 fps
    jaw = take.curve("JawOpen")
    assert jaw[:90].max() > 0.3  # talking in the first 1.8 s
    assert jaw[130:].max() < 0.02  # silence: the mouth relaxes closed
    assert take.curve("EyeBlinkLeft").max() > 0.9  # procedural blinks are on by default


def test_animate_emotion_and_rig_options(tmp_path, speech):
    happy, plain = tmp_path / "happy.npz", tmp_path / "plain.npz"
    assert (
        run_emorig(
            "animate",
            speech,
            "-o",
            happy,
            "--rig",
            "metahuman",
            "--emotion",
            "happy",
            "--intensity",
            "1",
            "--quiet",
            *REFERENCE,
        ).returncode
        == 0
    )
    assert run_emorig("animate", speech, "-o", plain, "--rig", "metahuman", "--quiet", *REFERENCE).returncode == 0
    h, p = read_take(happy), read_take(plain)
    assert h.space.name == "metahuman"
    smile = "CTRL_expressions_mouthCornerPullL"
    assert h.curve(smile).mean() > p.curve(smile).mean() + 0.3


def test_animate_without_procedural_motion_is_still_in_silence(tmp_path, speech):
    out = tmp_path / "still.csv"
    args = [
        "animate",
        speech,
        "-o",
        out,
        "--quiet",
        "--vad",
        "energy",
        "--no-blinks",
        "--no-saccades",
        "--no-head",
        "--rig",
        "arkit",
        *REFERENCE,
    ]
    assert run_emorig(*args).returncode == 0
    take = read_take(out)
    assert np.abs(take.frames[130:]).max() < 0.02


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["animate", "{junk}", "-o", "{out}"], "junk.wav"),
        (["animate", "{speech}", "-o", "{out}", "--emotion", "smug"], "unknown emotion 'smug'"),
        (["animate", "{speech}", "-o", "{out}", "--intensity", "5"], "intensity must be between 0 and 2"),
        (["animate", "{speech}", "-o", "{out}", "--device", "cuda"], "cuda"),
        (["animate", "{speech}", "-o", "{out}", "--sink", "ftp://x:1"], "unknown scheme"),
        (["stream", "--input", "{speech}", "--sink", "{out}"], "needs --realtime"),
        (["stream", "--input", "{speech}", "--realtime"], "nothing to send to"),
        (
            ["stream", "--input", "{speech}", "--realtime", "--sink", "{out}", "--control", "osc://10.1.2.3:9"],
            "--allow-remote",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, speech, args, message):
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"RIFF" + bytes(200))
    out = tmp_path / "out.csv"
    result = run_emorig(*[a.format(junk=junk, speech=speech, out=out) for a in args])
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("emorig: error:") and message in lines[0], result.stderr
    assert not out.exists()


def test_stream_to_live_link_face_and_zmq_with_live_controls(tmp_path, speech):
    llf_port, osc_port = free_port(), free_port()
    zmq_port = free_port(socket.SOCK_STREAM)
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", llf_port))
    receiver.settimeout(0.5)
    ctx = zmq.Context()
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    sub.setsockopt(zmq.RCVTIMEO, 500)
    sub.connect(f"tcp://127.0.0.1:{zmq_port}")
    out = tmp_path / "live.json"
    proc = emorig_process(
        "stream",
        *REFERENCE,
        "--input",
        speech,
        "--realtime",
        "--subject",
        "ada",
        "--sink",
        f"livelinkface://127.0.0.1:{llf_port}",
        "--sink",
        f"zmq://127.0.0.1:{zmq_port}",
        "--sink",
        out,
        "--control",
        f"osc://127.0.0.1:{osc_port}",
    )
    control = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    packets, zmsgs = [], []
    sent_control = False
    deadline = time.monotonic() + 30
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            try:
                packets.append(decode_llf(receiver.recv(4096)))
            except TimeoutError:
                pass
            while True:
                try:
                    zmsgs.append(sub.recv_multipart(zmq.NOBLOCK))
                except zmq.Again:
                    break
            if len(packets) > 40 and not sent_control:
                for junk in (
                    b"\x00" * 3,
                    b"#bundle\x00garbage",
                    OscMessageBuilder("/emorig/ada/intensity").build().dgram,
                ):
                    control.sendto(junk, ("127.0.0.1", osc_port))  # malformed: dropped, counted, stream goes on
                b = OscMessageBuilder("/emorig/ada/emotion")
                b.add_arg("angry")
                control.sendto(b.build().dgram, ("127.0.0.1", osc_port))
                b = OscMessageBuilder("/emorig/ada/transition")
                b.add_arg(0.0)
                control.sendto(b.build().dgram, ("127.0.0.1", osc_port))
                sent_control = True
        stdout, stderr = proc.communicate(timeout=10)
    finally:
        proc.kill()
        receiver.close()
        control.close()
        sub.close(0)
        ctx.term()
    assert proc.returncode == 0, stderr
    assert len(packets) > 150  # ~180 frames; UDP on loopback may lose a few, never most
    assert {p["version"] for p in packets} == {6} and {p["count"] for p in packets} == {61}
    assert packets[0]["subject"] == "ada" and packets[0]["rate"] == 60
    numbers = [p["frame"] + p["sub"] for p in packets]
    assert numbers == sorted(numbers)
    jaw = get_space("livelinkface").index("JawOpen")
    assert max(p["values"][jaw] for p in packets) > 0.3
    frames = [msgpack.unpackb(m[1]) for m in zmsgs if msgpack.unpackb(m[1])["type"] == "frame"]
    assert frames and all(m[0] == b"ada" for m in zmsgs)
    assert frames[0]["emotion"] == "neutral" and frames[-1]["emotion"] == "angry"  # the live control took effect
    take = read_take(out)
    assert len(take) == 180 and take.space.name == "livelinkface"
    recorded = json.loads(out.read_text())  # the recorded take keeps the emotion track for `emorig preview`
    assert recorded["emotion"][0] == "neutral" and recorded["emotion"][-1] == "angry"
    assert len(recorded["intensity"]) == 180
    assert "Traceback" not in stderr


def test_stdin_pcm_and_ctrl_c_leaves_a_complete_file(tmp_path):
    out = tmp_path / "piped.npz"
    proc = subprocess.Popen(
        [sys.executable, "-m", "bridge.cli", "stream", "--input", "-", "--sink", str(out), *REFERENCE],
        stdin=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    )
    pcm = (speechlike(2.0) * 32767).astype("<i2").tobytes()
    proc.stdin.write(pcm)
    proc.stdin.flush()
    assert proc.stderr.readline().startswith(b"streaming 1 subject")  # it is running
    time.sleep(1.0)  # let it process what it has; the pipe stays open like a live tool's
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=20)
    assert proc.returncode == 0, stderr
    take = read_take(out)
    assert take.space.name == "livelinkface"
    assert 100 <= len(take) <= 120  # 2 s at 60 fps, all of it, nothing torn
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_control_over_zmq_reports_status(tmp_path):
    from bridge.control import ControlRouter, open_control
    from bridge.controls import ControlState

    port = free_port(socket.SOCK_STREAM)
    router = ControlRouter({"ada": ControlState(), "bo": ControlState()})
    server = open_control(f"zmq://127.0.0.1:{port}", router)
    ctx = zmq.Context()
    req = ctx.socket(zmq.REQ)
    req.setsockopt(zmq.RCVTIMEO, 2000)
    req.setsockopt(zmq.LINGER, 0)
    req.connect(f"tcp://127.0.0.1:{port}")
    try:

        def ask(raw):
            req.send(raw)
            return json.loads(req.recv())

        assert ask(b'{"set": {"subject": "ada", "emotion": "sad", "intensity": 0.9}}') == {"ok": True}
        assert ask(b'{"set": {"emotion": "happy"}}')["ok"]  # every subject
        assert not ask(b"not json")["ok"]
        assert not ask(b'{"set": {"subject": "zed", "emotion": "sad"}}')["ok"]
        assert not ask(b'{"set": {"intensity": "loud"}}')["ok"]
        status = ask(b'{"status": {}}')
        assert status["subjects"]["ada"]["emotion"] == "happy" and status["subjects"]["ada"]["intensity"] == 0.9
        assert status["subjects"]["bo"]["emotion"] == "happy"
        assert sum(status["dropped"].values()) == 3
    finally:
        req.close()
        ctx.term()
        server.close()


def test_osc_control_survives_a_flood_of_garbage():
    from bridge.control import ControlRouter, open_control
    from bridge.controls import ControlState

    state = ControlState()
    router = ControlRouter({"ada": state})
    server = open_control("osc://127.0.0.1:0", router)
    rng = np.random.default_rng(0)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sent = 0
        for burst in range(20):  # bursts small enough for the socket buffer, so none is lost in the kernel
            for _ in range(100):
                s.sendto(rng.bytes(int(rng.integers(1, 200))), server.address)
            if burst % 5 == 0:
                s.sendto(b"x" * 9000, server.address)  # oversized
                sent += 1
            sent += 100
            deadline = time.monotonic() + 5
            while sum(router.drops.counts.values()) < sent and time.monotonic() < deadline:
                time.sleep(0.01)
        b = OscMessageBuilder("/emorig/ada/intensity")
        b.add_arg(0.25)
        good = b.build().dgram
        # The kernel may drop datagrams while the flood fills the socket buffer, so the good
        # message is repeated until it lands: what matters is that the server still listens.
        deadline = time.monotonic() + 10
        while state.snapshot().intensity != 0.25 and time.monotonic() < deadline:
            s.sendto(good, server.address)
            time.sleep(0.05)
        assert state.snapshot().intensity == 0.25  # the good message after the flood still lands
        assert sum(router.drops.counts.values()) == sent == 2004  # every bad datagram counted, none applied
        assert router.drops.counts["oversized"] >= 1
    finally:
        s.close()
        server.close()
