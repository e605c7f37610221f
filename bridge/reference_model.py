"""A small deterministic face model made of signal processing, for tests and as a fallback.

It is not the trained network (that comes from training/): it reads loudness,
voicing, pitch and where the spectrum's energy sits, and turns them into ARKit
curves with rules a phonetician would recognise — the jaw opens with loud,
low-frequency (open-vowel) energy, the lips round when the spectrum's centroid
is low and voiced, they stretch for bright fricative energy, and they press
together in the short dips between loud stretches (stop closures). Emotion
comes from the controls (the FACS-based overlays in
training/data/emotion_overlays.tsv), or in `auto` mode from a prosody
heuristic (pitch level and range, loudness).

Streaming and offline share one implementation, so they agree exactly: a frame
every 10 ms, each from a 25 ms window centred on its time, smoothed over
+/- `smooth_frames` frames. A frame is emitted once the audio up to its time
plus the lookahead (window half-width + smoothing) has arrived.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from retarget.spaces import get_space
from training.emotions import EMOTIONS, emotion_overlays

from .model import SAMPLE_RATE, Controls, FaceModel, ModelOutput

HOP = 160  # 10 ms
WIN = 400  # 25 ms
HALF = WIN // 2
N_FFT = 512
BANDS_HZ = ((80, 900), (900, 2500), (2500, 8000))  # low (open vowels), mid (front vowels), high (fricatives)
PITCH_HZ = (70, 400)
PROSODY_SECONDS = 1.5  # the memory of the auto-emotion heuristic
CLOSURE_MEMORY = 12  # frames (120 ms): a stop closure is a dip below the loudness of the last syllable


@dataclass
class ReferenceState:
    pending: np.ndarray = field(default_factory=lambda: np.zeros(HALF, np.float32))  # audio not yet framed, left-padded
    pending_start: int = -HALF  # absolute sample index of pending[0]
    next_feature: int = 0  # index of the next 10 ms frame to analyse
    features: np.ndarray = field(default_factory=lambda: np.zeros((0, 6), np.float32))  # recent rows, for smoothing
    features_start: int = 0  # frame index of features[0]
    next_output: int = 0
    prosody: np.ndarray = field(
        default_factory=lambda: np.array([150.0, 20.0, 0.3], np.float32)
    )  # pitch mean, pitch sd, level
    samples_seen: int = 0


class ReferenceModel(FaceModel):
    name = "reference"
    frame_rate = SAMPLE_RATE / HOP

    def __init__(self, smooth_frames: int = 2):
        self.space = get_space("arkit")
        self.smooth_frames = smooth_frames
        self.lookahead = (HALF + smooth_frames * HOP) / SAMPLE_RATE
        self.overlays = emotion_overlays()
        c = {name: i for i, name in enumerate(self.space.curves)}
        self._c = c
        freqs = np.fft.rfftfreq(N_FFT, 1 / SAMPLE_RATE)
        self._bands = [(freqs >= lo) & (freqs < hi) for lo, hi in BANDS_HZ]
        self._freqs = freqs
        self._window = np.hanning(WIN).astype(np.float32)

    def new_state(self) -> ReferenceState:
        return ReferenceState()

    # -- analysis ------------------------------------------------------------------
    def _analyse(self, frames: np.ndarray) -> np.ndarray:
        """[n x WIN] windows -> [n x 6]: level, voicing, pitch Hz, low/mid/high energy fractions...

        Columns: 0 level 0..1, 1 voicing 0..1, 2 pitch Hz (0 unvoiced), 3 low fraction,
        4 high fraction, 5 spectral centroid Hz."""
        rms = np.sqrt(np.mean(frames**2, axis=1) + 1e-12)
        level = np.clip((20 * np.log10(rms) + 50) / 30, 0, 1)  # -50 dBFS -> 0, -20 dBFS -> 1
        spec = np.abs(np.fft.rfft(frames * self._window, N_FFT)) ** 2
        band = np.stack([spec[:, m].sum(1) for m in self._bands], 1) + 1e-12
        total = band.sum(1)
        centroid = (spec * self._freqs).sum(1) / (spec.sum(1) + 1e-12)
        # Pitch: normalised autocorrelation peak in the speech pitch range.
        x = frames - frames.mean(1, keepdims=True)
        ac = np.fft.irfft(np.abs(np.fft.rfft(x, 2 * WIN)) ** 2)[:, :WIN]
        lo, hi = SAMPLE_RATE // PITCH_HZ[1], SAMPLE_RATE // PITCH_HZ[0]
        peak_lag = lo + np.argmax(ac[:, lo:hi], axis=1)
        strength = ac[np.arange(len(ac)), peak_lag] / (ac[:, 0] + 1e-12)
        voicing = np.clip((strength - 0.3) / 0.4, 0, 1) * (level > 0.05)
        pitch = np.where(voicing > 0.5, SAMPLE_RATE / peak_lag, 0.0)
        return np.stack([level, voicing, pitch, band[:, 0] / total, band[:, 2] / total, centroid], 1).astype(np.float32)

    def _articulate(self, f: np.ndarray, local_max_level: np.ndarray) -> np.ndarray:
        """Smoothed features -> ARKit speech curves (no emotion)."""
        c, n = self._c, len(f)
        out = np.zeros((n, len(self.space)), np.float32)
        level, voicing, low, high, centroid = f[:, 0], f[:, 1], f[:, 3], f[:, 4], f[:, 5]
        jaw = 0.7 * level * (0.35 + 0.65 * low) * (0.5 + 0.5 * voicing)
        rounding = voicing * level * np.clip((1000 - centroid) / 600, 0, 1)
        stretch = 0.35 * level * high
        # A dip inside speech (the silent closure of p/b/m, t/d, k/g): the lips seal in proportion.
        closure = np.clip((local_max_level - level - 0.1) * 2.0, 0, 1) * (level < 0.45)
        jaw = jaw * (1 - 0.7 * closure)
        out[:, c["jawOpen"]] = jaw
        for side in ("Left", "Right"):
            out[:, c["mouthLowerDown" + side]] = 0.4 * jaw
            out[:, c["mouthStretch" + side]] = stretch
            out[:, c["mouthUpperUp" + side]] = 0.25 * level * high
            out[:, c["mouthPress" + side]] = 0.8 * closure
        out[:, c["mouthFunnel"]] = 0.45 * rounding
        out[:, c["mouthPucker"]] = 0.55 * rounding
        out[:, c["mouthClose"]] = np.minimum(0.5 * closure, jaw)
        out[:, c["mouthRollLower"]] = 0.3 * closure
        return out

    def _auto_emotion(self, state: ReferenceState, f: np.ndarray) -> np.ndarray:
        """Per-frame emotion probabilities from slow prosody statistics (a heuristic)."""
        alpha = 1.0 / (PROSODY_SECONDS * self.frame_rate)
        probs = np.zeros((len(f), len(EMOTIONS)), np.float32)
        mean, sd, level = state.prosody
        for i, (lv, _, pitch, *_rest) in enumerate(f):
            level += alpha * (lv - level)
            if pitch > 0:
                mean += alpha * (pitch - mean)
                sd += alpha * (abs(pitch - mean) - sd)
            arousal = np.clip((level - 0.35) * 3, -1, 1) + np.clip((sd - 25) / 25, -1, 1)
            high_pitch = np.clip((mean - 180) / 60, -1, 1)
            scores = np.zeros(len(EMOTIONS), np.float32)
            scores[0] = 1.0  # neutral unless prosody says otherwise
            scores[EMOTIONS.index("happy")] = 0.8 * arousal + 0.4 * high_pitch
            scores[EMOTIONS.index("surprised")] = 0.6 * arousal + 0.8 * high_pitch - 0.3
            scores[EMOTIONS.index("sad")] = -1.2 * arousal - 0.3
            scores[EMOTIONS.index("angry")] = 1.0 * np.clip((level - 0.5) * 4, -1, 1) - 0.5 * high_pitch - 0.4
            scores[3:] -= 0.5  # fear, disgust, contempt: prosody alone says little; keep them unlikely
            e = np.exp(2.0 * (scores - scores.max()))
            probs[i] = e / e.sum()
        state.prosody[:] = (mean, sd, level)
        return probs

    # -- streaming -----------------------------------------------------------------
    def step(self, state: ReferenceState, samples: np.ndarray, controls: Controls) -> ModelOutput:
        samples = np.asarray(samples, dtype=np.float32).reshape(-1)
        state.samples_seen += len(samples)
        state.pending = np.concatenate([state.pending, samples])
        # Analyse every frame whose window is complete: frame i spans [i*HOP - HALF, i*HOP + HALF).
        end = state.pending_start + len(state.pending)
        last = (end - HALF) // HOP  # last frame index whose window fits
        n_new = max(0, last - state.next_feature + 1)
        if n_new:
            offsets = (state.next_feature + np.arange(n_new)) * HOP - HALF - state.pending_start
            windows = state.pending[offsets[:, None] + np.arange(WIN)]
            state.features = np.concatenate([state.features, self._analyse(windows)])
            state.next_feature += n_new
            keep_from = state.next_feature * HOP - HALF - state.pending_start
            state.pending = state.pending[keep_from:]
            state.pending_start += keep_from
        # Emit every frame whose smoothing window (+/- smooth_frames) has been analysed.
        return self._emit(state, controls, upto=state.next_feature - 1 - self.smooth_frames)

    def flush(self, state: ReferenceState, controls: Controls) -> ModelOutput:
        # Silence stands in for the future; frames past the end of the audio are not emitted.
        total = state.samples_seen
        pad = np.zeros(HALF + (self.smooth_frames + 1) * HOP, np.float32)
        end_frame = (total - 1) // HOP if total else -1
        first = self.step(state, pad, controls)
        keep = first.times <= end_frame / self.frame_rate + 1e-9
        first = ModelOutput(
            first.times[keep], first.frames[keep], first.emotion_probs[keep], first.intensity[keep], first.rest[keep]
        )
        state.samples_seen = total
        return first

    def _emit(self, state: ReferenceState, controls: Controls, upto: int) -> ModelOutput:
        n = upto - state.next_output + 1
        if n <= 0:
            return ModelOutput.empty(len(self.space))
        s = self.smooth_frames
        idx = state.next_output + np.arange(n)
        rows = idx - state.features_start
        f = state.features
        # Centred moving average over +/- s frames (clamped at the stream's start).
        window = np.clip(rows[:, None] + np.arange(-s, s + 1), 0, None)
        smooth = f[window].mean(1)
        recent = np.clip(rows[:, None] + np.arange(-CLOSURE_MEMORY, s + 1), 0, None)
        local_max = f[recent, 0].max(1)
        speech = self._articulate(smooth, local_max)
        if controls.auto:
            probs = self._auto_emotion(state, f[rows])
        else:
            probs = np.tile(np.asarray(controls.emotion, np.float32), (n, 1))
        # Dynamic intensity: the emotion shows more when the voice carries more energy (DEITalk's idea).
        intensity = (controls.intensity * (0.6 + 0.4 * smooth[:, 0])).astype(np.float32)
        rest = np.clip((probs @ self.overlays) * intensity[:, None], 0, 1).astype(np.float32)
        frames = np.clip(speech + rest, 0, 1)
        state.next_output += n
        drop = max(0, state.next_output - max(s, CLOSURE_MEMORY) - state.features_start)
        state.features = state.features[drop:]
        state.features_start += drop
        return ModelOutput(idx / self.frame_rate, frames, probs, intensity, rest)
