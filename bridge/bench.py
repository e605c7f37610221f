"""`emorig bench latency|jitter|throughput|streams|model`: measured, never assumed.

Every benchmark drives the real engine with a real sink: Live Link Face UDP
packets to a socket on 127.0.0.1 that a receiver thread drains, so "sent" means
a datagram left through the kernel. The audio is a deterministic speech-like
signal (voiced syllables and pauses), paced in real time like a microphone.
Results are percentiles; docs/benchmarks.md records the latest run and the machine.
"""

from __future__ import annotations

import os
import platform
import socket
import threading
import time

import numpy as np

from retarget.spaces import get_space

from .audio import ArraySource
from .engine import Engine, Subject, SubjectConfig
from .postprocess import PostSettings
from .reference_model import ReferenceModel
from .sinks import SinkRegistry, open_sink
from .vad import make_vad

SR = 16000
BLOCK = 160  # 10 ms, the default live block


def speechlike(seconds: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(SR * seconds)) / SR
    f0 = 120 + 20 * np.sin(2 * np.pi * 0.5 * t)
    phase = 2 * np.pi * np.cumsum(f0) / SR
    source = sum(np.sin(k * phase) / k for k in range(1, 25))
    syllables = (np.sin(2 * np.pi * 3.0 * t) > -0.2) * (t % 2.0 < 1.6)
    return (0.12 * source * syllables + 0.003 * rng.normal(size=len(t))).astype(np.float32)


class _Receiver:
    """A UDP socket on loopback that counts and discards what arrives."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.packets = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            try:
                self.sock.recv(65536)
                self.packets += 1
            except OSError:
                continue

    def close(self):
        self._stop.set()
        self._thread.join(timeout=1)
        self.sock.close()


def _percentiles(values, scale=1000.0) -> str:
    v = np.asarray(values) * scale
    if len(v) == 0:
        return "n/a"
    p50, p95, p99 = np.percentile(v, [50, 95, 99])
    return f"p50 {p50:.2f}  p95 {p95:.2f}  p99 {p99:.2f}  max {v.max():.2f}"


def _subjects(n, rig, receiver, registry, realtime_seconds, model):
    pairs = []
    for i in range(n):
        sink = open_sink(f"livelinkface://127.0.0.1:{receiver.port}", subject=f"s{i}", registry=registry)
        subject = Subject(
            SubjectConfig(f"s{i}", get_space(rig), 60.0, PostSettings(seed=i)), model, make_vad("energy"), [sink]
        )
        pairs.append((subject, ArraySource(speechlike(realtime_seconds, seed=i), realtime=True)))
    return model, pairs


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} CPU cores, Python {platform.python_version()}, numpy {np.__version__}"


def _live(n: int, seconds: float, rig: str, model, pace=None):
    receiver, registry = _Receiver(), SinkRegistry()
    try:
        model, pairs = _subjects(n, rig, receiver, registry, seconds, model)
        engine = Engine(pairs, block_size=BLOCK, pace=pace)
        cpu0, wall0 = time.process_time(), time.perf_counter()
        engine.run()
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        time.sleep(0.3)  # let the receiver drain
        return model, [s for s, _ in pairs], cpu / wall, receiver.packets
    finally:
        registry.close()
        receiver.close()


def latency(seconds: float = 30.0, rig: str = "livelinkface", model=None) -> str:
    model, (subject,), load, packets = _live(1, seconds, rig, model or ReferenceModel())
    lookahead = model.lookahead * 1000
    return "\n".join(
        [
            f"latency: {model.name} model, 1 subject, {seconds:g} s of speech paced in real time, {BLOCK / 16:.0f} ms blocks, {rig} at 60 fps, "
            f"Live Link Face UDP to 127.0.0.1 ({packets} packets received)",
            f"  processing, block arrival -> packet sent (ms): {_percentiles(subject.latencies)}",
            f"  algorithmic (ms): model lookahead {lookahead:.1f} + block {BLOCK / 16:.0f} + frame interpolation <= {1000 / model.frame_rate:.0f}",
            f"  CPU load: {load * 100:.0f}% of one core",
            f"  machine: {machine()}",
        ]
    )


def jitter(seconds: float = 60.0, rig: str = "livelinkface", model=None) -> str:
    model = model or ReferenceModel()
    pace = model.lookahead + BLOCK / SR + 0.01  # lookahead + one block + 10 ms of margin
    _, (subject,), _, _ = _live(1, seconds, rig, model, pace=pace)
    late = np.asarray(subject.jitter)
    return "\n".join(
        [
            f"jitter: 1 subject at 60 fps for {seconds:g} s, paced output (frames held until audio time + {pace * 1000:.1f} ms)",
            f"  send time - due time (ms): {_percentiles(late)}",
            f"  frames: {len(late)}",
            f"  machine: {machine()}",
        ]
    )


def throughput(seconds: float = 60.0, rig: str = "livelinkface", repeats: int = 5, model=None) -> str:
    audio = speechlike(seconds)
    model = model or ReferenceModel()
    rows = []
    for space in dict.fromkeys([rig, "arkit", "metahuman"]):
        speeds = []
        for r in range(repeats):
            subject = Subject(
                SubjectConfig("bench", get_space(space), 60.0, PostSettings(seed=r)), model, make_vad("energy")
            )
            t0 = time.perf_counter()
            frames = subject.render(audio)
            speeds.append(seconds / (time.perf_counter() - t0))
        p50, p5 = np.percentile(speeds, [50, 5])
        rows.append(
            f"  {space:14s} {len(frames)} frames: x{p50:.0f} real time (p50), x{p5:.0f} (p5) over {repeats} runs"
        )
    return "\n".join(
        [
            f"throughput: `emorig animate` path ({model.name} model, VAD, post-processing, 60 fps clock, retarget) on {seconds:g} s of speech",
            *rows,
            f"  machine: {machine()}",
        ]
    )


def streams(counts=(1, 2, 4, 8, 16), seconds: float = 10.0, rig: str = "livelinkface", model=None) -> str:
    model = model or ReferenceModel()
    rows = []
    for n in counts:
        _, subjects, load, packets = _live(n, seconds, rig, model)
        lat = np.concatenate([np.asarray(s.latencies) for s in subjects])
        frames = sum(s.frames_out for s in subjects)
        keeps_up = bool(len(lat)) and np.percentile(lat, 99) < 2 * BLOCK / SR
        rows.append(
            f"  {n:3d} subjects: latency (ms) {_percentiles(lat)}; CPU {load * 100:.0f}% of one core; "
            f"{frames} frames, {packets} packets; {'keeps up' if keeps_up else 'falls behind'}"
        )
    return "\n".join(
        [
            f"streams: {model.name} model, N subjects at 60 fps ({rig}), each its own real-time input, {seconds:g} s, Live Link Face UDP",
            *rows,
            f"  machine: {machine()}",
            "  'keeps up' = p99 latency under two 10 ms blocks (no backlog builds)",
        ]
    )


def model_alone(seconds: float = 20.0, model=None, blocks=(160, 320, 800)) -> str:
    """The face model alone: compute per block when streaming, and how far streaming is from offline."""
    from .model import Controls

    model = model or ReferenceModel()
    audio = speechlike(seconds)
    controls = Controls()
    offline = model.offline(audio, controls)
    rows = []
    for block in blocks:
        state, times, parts = model.new_state(), [], []
        for i in range(0, len(audio), block):
            t0 = time.perf_counter()
            parts.append(model.step(state, audio[i : i + block], controls))
            times.append(time.perf_counter() - t0)
        parts.append(model.flush(state, controls))
        stream = parts[0].concat(parts)
        n = min(len(stream), len(offline))
        diff = np.abs(stream.frames[:n] - offline.frames[:n])
        rows.append(
            f"  {block / 16:4.0f} ms blocks: compute per block (ms) {_percentiles(times)}; "
            f"streaming - offline: max {diff.max():.2g}, mean {diff.mean():.2g} ({n} frames)"
        )
    t0 = time.perf_counter()
    model.offline(audio, controls)
    speed = seconds / (time.perf_counter() - t0)
    return "\n".join(
        [
            f"model: {model.name}, {seconds:g} s of speech-like audio, lookahead {model.lookahead * 1000:.1f} ms, "
            f"{model.frame_rate:g} frames/s",
            *rows,
            f"  offline: x{speed:.0f} real time",
            f"  machine: {machine()}",
        ]
    )


def run(what: str, seconds: float | None = None, rig: str = "livelinkface", subjects=None, model=None) -> str:
    if what == "latency":
        return latency(seconds or 30.0, rig, model)
    if what == "jitter":
        return jitter(seconds or 60.0, rig, model)
    if what == "throughput":
        return throughput(seconds or 60.0, rig, model=model)
    if what == "model":
        return model_alone(seconds or 20.0, model)
    return streams(tuple(subjects or (1, 2, 4, 8, 16)), seconds or 10.0, rig, model)
