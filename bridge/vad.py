"""Voice activity detection on the 16 kHz stream, one decision per 10 ms frame.

Two detectors behind one interface (`process(samples) -> VadFrames`, `flush()`,
`reset()`), both streaming with all their memory in an explicit state object,
so feeding a signal in blocks of any size gives the same frames as feeding it
whole:

- `EnergyVad`: frame level above an adaptive noise floor. Needs nothing but
  numpy/scipy; fooled by loud non-speech (music, a door), fine for a voice in
  a quiet-to-moderate room.
- `SileroVad`: the Silero VAD network, when its model can be loaded locally:
  the `silero-vad` package ships the model files, run through onnxruntime
  (preferred) or torch. Nothing is ever downloaded.

`make_vad("auto")` takes Silero when it loads and the energy detector
otherwise, and says which in one log line.

Frame k covers samples [160k, 160k + 160) of the audio clock. `prob` is the
detector's momentary speech probability; `speech` is the decision after
hysteresis (a higher level to start than to keep going), an onset count (a
click is not a word) and hangover (speech stays on a little after the level
drops, so word endings and short pauses are not clipped).
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from retarget.errors import InputError

log = logging.getLogger("emorig.audio")

SAMPLE_RATE = 16000
FRAME = 160  # samples in a 10 ms frame
FRAME_RATE = SAMPLE_RATE // FRAME
SILERO_HINT = "pip install onnxruntime && pip install --no-deps silero-vad"


@dataclass
class VadFrames:
    """Consecutive 10 ms frames from start_frame on."""

    start_frame: int
    prob: np.ndarray  # float32 [n], momentary speech probability
    speech: np.ndarray  # bool [n], the decision

    def __len__(self) -> int:
        return len(self.prob)

    @property
    def start_sample(self) -> int:
        return self.start_frame * FRAME

    @staticmethod
    def empty(start_frame: int) -> VadFrames:
        return VadFrames(start_frame, np.zeros(0, np.float32), np.zeros(0, bool))

    @staticmethod
    def concat(parts: list[VadFrames]) -> VadFrames:
        """Join consecutive results (e.g. every process() call and the flush())."""
        parts = [p for p in parts if len(p)]
        if not parts:
            return VadFrames.empty(0)
        for a, b in zip(parts, parts[1:]):
            if a.start_frame + len(a) != b.start_frame:
                raise ValueError("VadFrames to join are not consecutive")
        return VadFrames(
            parts[0].start_frame, np.concatenate([p.prob for p in parts]), np.concatenate([p.speech for p in parts])
        )

    def segments(self) -> list[tuple[int, int]]:
        """Speech runs as (first frame, frame after the last), on the audio clock."""
        edges = np.diff(np.concatenate([[0], self.speech.astype(np.int8), [0]]))
        starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
        return [(self.start_frame + int(s), self.start_frame + int(e)) for s, e in zip(starts, ends)]


# ---------------------------------------------------------------------------
# the decision: hysteresis, onset, hangover


@dataclass
class GateState:
    speaking: bool = False
    run: int = 0  # consecutive frames above `on` while not speaking
    hang: int = 0  # frames of hangover left


def gate(state: GateState, scores: np.ndarray, on: float, off: float, onset: int, hangover: int) -> np.ndarray:
    """Speech flags for scores, one frame at a time (each decision depends on the last)."""
    flags = np.zeros(len(scores), bool)
    for i, s in enumerate(scores):
        if not state.speaking:
            state.run = state.run + 1 if s >= on else 0
            if state.run >= onset:
                state.speaking, state.hang = True, hangover
        elif s >= off:
            state.hang = hangover
        else:
            state.hang -= 1
            if state.hang < 0:
                state.speaking, state.run = False, 0
        flags[i] = state.speaking
    return flags


# ---------------------------------------------------------------------------
# energy


@dataclass
class EnergyVadConfig:
    highpass_hz: float = 80.0  # below this is rumble, handling noise and DC, not voice
    floor_window_s: float = 2.0  # the noise floor is the quietest frame of this long; a new room is learnt this fast
    on_db: float = 9.0  # start speech this far above the floor
    off_db: float = 5.0  # keep it going while above this
    min_level_db: float = -60.0  # frames quieter than this (dBFS) are never speech, however quiet the floor
    onset_s: float = 0.02  # this long above on_db to start (a click is shorter)
    hangover_s: float = 0.25  # speech stays on this long after the level drops


@dataclass
class EnergyVadState:
    filter_zi: np.ndarray  # the high-pass filter's memory
    history: np.ndarray  # frame levels (dB) of the last floor_window_s, a ring
    history_pos: int = 0
    pending: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))  # samples of an unfinished frame
    next_frame: int = 0
    gate: GateState = field(default_factory=GateState)


class EnergyVad:
    """Speech where the frame level stands out from the noise floor.

    The floor is the minimum frame level over the last floor_window_s: it drops
    at once when the room gets quieter and catches up with a louder room within
    that window, while speech, which always pauses within a couple of seconds,
    does not drag it up. prob is a logistic of the level above the floor,
    0.5 halfway between off_db and on_db.
    """

    name = "energy"

    def __init__(self, config: EnergyVadConfig | None = None):
        # scipy.signal costs ~0.5 s to import: loaded when an energy VAD is made, not with this module.
        from scipy.signal import butter

        self.config = config or EnergyVadConfig()
        self._b, self._a = butter(2, self.config.highpass_hz / (SAMPLE_RATE / 2), btype="highpass")
        self.reset()

    def reset(self) -> None:
        window = max(1, int(round(self.config.floor_window_s * FRAME_RATE)))
        # the filter starts at rest (zeros), as if silence came before the stream
        self.state = EnergyVadState(filter_zi=np.zeros(len(self._a) - 1), history=np.full(window, np.inf))

    def process(self, samples: np.ndarray) -> VadFrames:
        st = self.state
        x = np.concatenate([st.pending, np.asarray(samples, np.float32)])
        n = len(x) // FRAME
        st.pending = x[n * FRAME :]
        return self._frames(x[: n * FRAME])

    def flush(self) -> VadFrames:
        """The last, partial frame, padded with silence."""
        st = self.state
        if not len(st.pending):
            return VadFrames.empty(st.next_frame)
        x = np.concatenate([st.pending, np.zeros(FRAME - len(st.pending), np.float32)])
        st.pending = np.zeros(0, np.float32)
        return self._frames(x)

    def _frames(self, x: np.ndarray) -> VadFrames:
        st, cfg = self.state, self.config
        start = st.next_frame
        if not len(x):
            return VadFrames.empty(start)
        from scipy.signal import lfilter

        y, st.filter_zi = lfilter(self._b, self._a, x.astype(np.float64), zi=st.filter_zi)
        level = 10 * np.log10(np.mean(y.reshape(-1, FRAME) ** 2, axis=1) + 1e-12)
        snr = np.empty(len(level))
        for i, db in enumerate(level):
            st.history[st.history_pos] = db
            st.history_pos = (st.history_pos + 1) % len(st.history)
            snr[i] = db - st.history.min()
        snr[level < cfg.min_level_db] = -np.inf
        mid, slope = (cfg.on_db + cfg.off_db) / 2, max((cfg.on_db - cfg.off_db) / 4, 1e-3)
        with np.errstate(over="ignore"):
            prob = (1 / (1 + np.exp(-(snr - mid) / slope))).astype(np.float32)
        onset = max(1, int(round(cfg.onset_s * FRAME_RATE)))
        hangover = int(round(cfg.hangover_s * FRAME_RATE))
        speech = gate(st.gate, snr, cfg.on_db, cfg.off_db, onset, hangover)
        st.next_frame += len(level)
        return VadFrames(start, prob, speech)


# ---------------------------------------------------------------------------
# silero


WINDOW = 512  # samples per Silero step at 16 kHz
CONTEXT = 64  # samples of the previous window the ONNX model sees again


class SileroUnavailable(Exception):
    """Why the Silero model cannot be loaded here (a reason for a person, one line)."""


def _silero_dir() -> Path:
    # find_spec locates the package without importing it: its __init__ imports torch
    spec = importlib.util.find_spec("silero_vad")
    if spec is None or not spec.submodule_search_locations:
        raise SileroUnavailable("the silero-vad package is not installed")
    return Path(list(spec.submodule_search_locations)[0]) / "data"


class _OnnxModel:
    backend = "onnxruntime"

    def __init__(self, path: Path):
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.inter_op_num_threads = options.intra_op_num_threads = 1  # one 32 ms window at a time: threads only cost
        options.log_severity_level = 3
        self.session = onnxruntime.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
        self.sr = np.array(SAMPLE_RATE, dtype=np.int64)

    def initial_state(self):
        return {"rnn": np.zeros((2, 1, 128), np.float32), "context": np.zeros(CONTEXT, np.float32)}

    def __call__(self, state: dict, window: np.ndarray) -> float:
        x = np.concatenate([state["context"], window])[None, :]
        out, state["rnn"] = self.session.run(None, {"input": x, "state": state["rnn"], "sr": self.sr})
        state["context"] = window[-CONTEXT:].copy()
        return float(out.reshape(-1)[0])


def window_probabilities(model, signals: list[np.ndarray]) -> list[np.ndarray] | None:
    """Silero's probability for every 512-sample window of each signal (the last one completed with
    silence, as SileroVad.flush does), the signals run side by side through one batched call per
    window step: ~2.7x less time per window than one call each at 8 lines (the model itself is tiny;
    each call's overhead is most of its cost). The same numbers as SileroVad feeding them one by one.
    None when the backend cannot batch (the torch model keeps one state inside itself)."""
    if not isinstance(model, _OnnxModel):
        return None
    counts = [-(-len(x) // WINDOW) for x in signals]
    order = sorted(range(len(signals)), key=lambda i: -counts[i])  # the running lines stay a prefix
    longest = counts[order[0]] if signals else 0
    padded = np.zeros((len(signals), longest * WINDOW), np.float32)
    for row, i in enumerate(order):
        padded[row, : len(signals[i])] = signals[i]
    probs = np.zeros((len(signals), longest), np.float32)
    state = np.zeros((2, len(signals), 128), np.float32)
    context = np.zeros((len(signals), CONTEXT), np.float32)
    running = len(signals)
    for step in range(longest):
        while running and counts[order[running - 1]] <= step:
            running -= 1
        window = padded[:running, step * WINDOW : (step + 1) * WINDOW]
        x = np.concatenate([context[:running], window], axis=1)
        out, state = model.session.run(None, {"input": x, "state": state[:, :running], "sr": model.sr})
        probs[:running, step] = out.reshape(-1)
        context = window[:, -CONTEXT:]
    result: list = [None] * len(signals)
    for row, i in enumerate(order):
        result[i] = probs[row, : counts[i]]
    return result


class ReplayModel:
    """Stands in for the Silero network with probabilities already computed for one signal
    (window_probabilities): a SileroVad over that signal gives the frames it would have computed."""

    def __init__(self, probs: np.ndarray, backend: str = "onnxruntime"):
        self.probs = probs
        self.backend = backend

    def initial_state(self):
        return {"next": 0}

    def __call__(self, state: dict, window: np.ndarray) -> float:
        k = state["next"]
        if k >= len(self.probs):
            raise RuntimeError("VAD asked for more windows than were computed for this audio")
        state["next"] = k + 1
        return float(self.probs[k])


class _TorchModel:
    backend = "torch"

    def __init__(self, path: Path):
        import torch

        self.torch = torch
        self.model = torch.jit.load(str(path), map_location="cpu")
        self.model.eval()

    def initial_state(self):
        # the TorchScript model keeps its recurrent state inside itself; this resets it
        self.model.reset_states()
        return {}

    def __call__(self, state: dict, window: np.ndarray) -> float:
        with self.torch.no_grad():
            return float(self.model(self.torch.from_numpy(window.copy()), SAMPLE_RATE).item())


def load_silero():
    """The Silero model from the installed package: onnxruntime first, then torch; SileroUnavailable if neither."""
    data = _silero_dir()
    reasons = []
    for module, filename, cls in (
        ("onnxruntime", "silero_vad.onnx", _OnnxModel),
        ("torch", "silero_vad.jit", _TorchModel),
    ):
        if importlib.util.find_spec(module) is None:
            reasons.append(f"{module} is not installed")
            continue
        path = data / filename
        if not path.exists():
            reasons.append(f"{path} is missing")
            continue
        try:
            return cls(path)
        except Exception as e:  # a broken runtime or model file: say why, fall back to the next
            reasons.append(f"{module} cannot load {filename} ({type(e).__name__}: {e})".replace("\n", " "))
    raise SileroUnavailable("; ".join(reasons))


@dataclass
class SileroVadConfig:
    on: float = 0.5  # Silero's own default threshold
    off: float = 0.35  # and its default offset, threshold - 0.15
    onset_s: float = 0.0  # the network already ignores clicks
    hangover_s: float = 0.0  # none: the network hears pauses through its lookahead; the 0.35 offset is hangover enough (rest within 0.15 s)
    # Frames quieter than this (dBFS, 10 ms) are silence whatever the network says: Silero's
    # probability lingers ~0.1 s after a phrase ends even into digital silence, which kept the
    # mouth open through short pauses between phrases.
    min_level_db: float = -60.0


@dataclass
class SileroVadState:
    model: dict  # the network's recurrent state and context
    pending: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))  # samples of an unfinished window
    windows: list = field(default_factory=list)  # probabilities of windows not yet fully used by frames
    first_window: int = 0  # index of windows[0]
    n_samples: int = 0  # samples fed so far
    next_frame: int = 0
    gate: GateState = field(default_factory=GateState)
    levels: list = field(default_factory=list)  # dBFS of 10 ms frames from next_frame on, as their samples arrive
    level_pending: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))


class SileroVad:
    """Silero's probability per 32 ms window, spread onto 10 ms frames.

    A frame takes the highest probability of the windows it overlaps and is
    emitted once they have all been computed, i.e. up to 32 ms after its audio.
    """

    name = "silero"

    def __init__(self, model=None, config: SileroVadConfig | None = None):
        self.model = model or load_silero()
        self.config = config or SileroVadConfig()
        self.reset()

    @property
    def backend(self) -> str:
        return self.model.backend

    def reset(self) -> None:
        self.state = SileroVadState(model=self.model.initial_state())

    def process(self, samples: np.ndarray) -> VadFrames:
        st = self.state
        x = np.concatenate([st.pending, np.asarray(samples, np.float32)])
        st.n_samples += len(samples)
        n = len(x) // WINDOW
        for i in range(n):
            st.windows.append(self.model(st.model, x[i * WINDOW : (i + 1) * WINDOW]))
        st.pending = x[n * WINDOW :]
        self._levels(samples)
        return self._frames(final=False)

    def _levels(self, samples: np.ndarray, final: bool = False) -> None:
        st = self.state
        y = np.concatenate([st.level_pending, np.asarray(samples, np.float32)])
        if final and len(y) % FRAME:
            y = np.concatenate([y, np.zeros(FRAME - len(y) % FRAME, np.float32)])
        n = len(y) // FRAME
        st.levels.extend(
            10 * np.log10(np.mean(y[: n * FRAME].astype(np.float64).reshape(-1, FRAME) ** 2, axis=1) + 1e-12)
        )
        st.level_pending = y[n * FRAME :]

    def flush(self) -> VadFrames:
        """Frames that wait on a window past the end: that window is completed with silence."""
        st = self.state
        if len(st.pending):
            window = np.concatenate([st.pending, np.zeros(WINDOW - len(st.pending), np.float32)])
            st.windows.append(self.model(st.model, window))
            st.pending = np.zeros(0, np.float32)
        self._levels(np.zeros(0, np.float32), final=True)
        return self._frames(final=True)

    def _frames(self, final: bool) -> VadFrames:
        st, cfg = self.state, self.config
        start = st.next_frame
        done = st.first_window + len(st.windows)  # windows computed so far
        # frames whose samples have all arrived (plus, at the end, the partial last one)
        available = -(-st.n_samples // FRAME) if final else st.n_samples // FRAME
        probs = []
        k = st.next_frame
        while k < available:
            first, last = (k * FRAME) // WINDOW, (k * FRAME + FRAME - 1) // WINDOW
            if last >= done:
                break
            probs.append(max(st.windows[w - st.first_window] for w in range(first, last + 1)))
            k += 1
        st.next_frame = k
        # windows before the next frame's first are no longer needed
        keep_from = (k * FRAME) // WINDOW
        if keep_from > st.first_window:
            del st.windows[: keep_from - st.first_window]
            st.first_window = keep_from
        prob = np.asarray(probs, np.float32)
        quiet = np.asarray(st.levels[: len(prob)]) < cfg.min_level_db
        del st.levels[: len(prob)]
        prob[quiet] = 0.0
        onset = max(1, int(round(cfg.onset_s * FRAME_RATE)))
        hangover = int(round(cfg.hangover_s * FRAME_RATE))
        return VadFrames(start, prob, gate(st.gate, prob, cfg.on, cfg.off, onset, hangover))


# ---------------------------------------------------------------------------


def make_vad(
    kind: str = "auto",
    *,
    energy: EnergyVadConfig | None = None,
    silero: SileroVadConfig | None = None,
    model=None,
) -> EnergyVad | SileroVad:
    """A detector: "energy", "silero" (InputError when it cannot load) or "auto" (silero if it loads, else energy).
    `model`: a Silero network from load_silero() to reuse (loading one costs ~60 ms; a bake makes a
    detector per line). Only for one detector at a time: the torch backend keeps its state inside."""
    kind = (kind or "auto").lower()
    if kind not in ("auto", "energy", "silero"):
        raise InputError(f"unknown VAD {kind!r} (use auto, energy or silero)")
    if kind == "energy":
        log.info("VAD: energy")
        return EnergyVad(energy)
    try:
        vad = SileroVad(model=model, config=silero)
    except SileroUnavailable as e:
        if kind == "silero":
            raise InputError(f"silero VAD is not available: {e} ({SILERO_HINT})") from None
        log.info("VAD: energy (silero not loadable: %s)", e)
        return EnergyVad(energy)
    log.info("VAD: silero (%s)", vad.backend)
    return vad
