"""What happens to a model's frames before they leave: smoothing, silence, and the
procedural life a face has between words (blinks, glances, head motion).

Every stage works on blocks of frames of any length with its state in a small
object, so streaming (a few frames at a time) and offline (a whole file) run the
same code and give the same result. Everything here works in ARKit terms: the
stages are defined on ARKit's meaning (lids, gaze, jaw); retargeting to the
subject's rig comes after.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from retarget.spaces import RigSpace

# Curves that move with articulation: what silence relaxes. Emotion stays on the face.
ARTICULATION_REGIONS = ("jaw", "mouth", "tongue")


class OneEuroFilter:
    """The One Euro filter (Casiez et al., CHI 2012), per curve, vectorised.

    A low-pass whose cutoff rises with speed: steady curves are smoothed hard
    (no jitter), fast ones pass almost untouched (no lag on a jaw snapping open)."""

    def __init__(self, rate: float, min_cutoff: float = 2.0, beta: float = 0.4, d_cutoff: float = 1.0):
        self.rate, self.min_cutoff, self.beta, self.d_cutoff = rate, min_cutoff, beta, d_cutoff
        self.x: np.ndarray | None = None
        self.dx: np.ndarray | None = None

    @staticmethod
    def _alpha(cutoff, rate):
        tau = 1.0 / (2 * math.pi * cutoff)
        return 1.0 / (1.0 + tau * rate)

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        out = np.empty_like(frames)
        a_d = self._alpha(self.d_cutoff, self.rate)
        for i, x in enumerate(frames):
            if self.x is None:
                self.x, self.dx = x.copy(), np.zeros_like(x)
            else:
                dx = (x - self.x) * self.rate
                self.dx = self.dx + a_d * (dx - self.dx)
                a = self._alpha(self.min_cutoff + self.beta * np.abs(self.dx), self.rate)
                self.x = self.x + a * (x - self.x)
            out[i] = self.x
        return out


@dataclass
class SilenceGate:
    """In silence the mouth relaxes to closed (keeping the emotion's expression).

    `speech` is a 0..1 voice-activity value per frame; the gate follows it with a
    fast attack (a word's first frame must not be lost) and a quick release: the VAD's
    own hangover (0.1 s for Silero) already keeps short gaps inside a phrase open, so
    after it the mouth should be at rest within ~150 ms of the last sound, not drift
    shut over half a second. The rest pose is the model's face for silence with the
    jaw capped at `rest_jaw`: a network unsure of silence rests a little open, and a
    slack, open mouth between phrases is what users notice."""

    rate: float
    mask: np.ndarray  # bool [K]: articulation curves
    jaw: int | None = None  # jawOpen's column, for the cap
    attack_s: float = 0.02
    release_s: float = 0.04
    rest_jaw: float = 0.04  # under the 0.05 that reads as closed: the easing nears it from above
    gain: float = 0.0

    def __call__(self, frames: np.ndarray, rest: np.ndarray, speech: np.ndarray) -> np.ndarray:
        up = 1 - math.exp(-1 / (self.attack_s * self.rate))
        down = 1 - math.exp(-1 / (self.release_s * self.rate))
        out = frames.copy()
        if self.jaw is not None:
            rest = rest.copy()
            rest[:, self.jaw] = np.minimum(rest[:, self.jaw], self.rest_jaw)
        # The gain's recursion frame by frame (scalars), the blend over all frames at once.
        gains = np.empty(len(speech))
        g = float(self.gain)
        for i, s in enumerate(np.asarray(speech, np.float64).tolist()):
            g += (up if s > g else down) * (s - g)
            gains[i] = g
        self.gain = g
        m = self.mask
        out[:, m] = rest[:, m] + gains[:, None] * (frames[:, m] - rest[:, m])
        return out


@dataclass
class Blinker:
    """Blinks at human intervals (2-6 s, a little more often while talking)."""

    rate: float
    left: int
    right: int
    rng: np.random.Generator
    next_blink: float = 1.0
    t: float = 0.0
    CLOSE, HOLD, OPEN = 0.07, 0.04, 0.13

    def __call__(self, frames: np.ndarray, speech: np.ndarray) -> np.ndarray:
        out = frames.copy()
        closed = np.zeros(len(frames))  # how far the lids are shut by the blink, per frame
        for i in range(len(frames)):
            phase = self.t - self.next_blink
            if phase >= 0:
                if phase < self.CLOSE:
                    closed[i] = phase / self.CLOSE
                elif phase < self.CLOSE + self.HOLD:
                    closed[i] = 1.0
                elif phase < self.CLOSE + self.HOLD + self.OPEN:
                    closed[i] = 1 - (phase - self.CLOSE - self.HOLD) / self.OPEN
                else:
                    gap = self.rng.uniform(2.0, 6.0) * (0.7 if speech[i] > 0.5 else 1.0)
                    self.next_blink = self.t + gap
            self.t += 1 / self.rate
        blinking = closed > 0
        for lid in (self.left, self.right):
            out[blinking, lid] = np.maximum(out[blinking, lid], closed[blinking])
        return out


@dataclass
class Saccades:
    """Small conjugate gaze shifts every 0.5-2.5 s, held, with quick 30 ms moves."""

    rate: float
    curves: dict  # ARKit index by name
    rng: np.random.Generator
    target: np.ndarray = field(default_factory=lambda: np.zeros(2))  # (x right, y up) in ARKit weight units
    gaze: np.ndarray = field(default_factory=lambda: np.zeros(2))
    next_shift: float = 0.8
    t: float = 0.0

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        out = frames.copy()
        c = self.curves
        step = min(1.0, 1 / (0.03 * self.rate))
        gaze = np.empty((len(frames), 2))
        for i in range(len(frames)):
            if self.t >= self.next_shift:
                self.target = self.rng.uniform(-0.18, 0.18, 2) * (self.rng.uniform() < 0.8)  # sometimes back to centre
                self.next_shift = self.t + self.rng.uniform(0.5, 2.5)
            self.gaze += step * (self.target - self.gaze)
            gaze[i] = self.gaze
            self.t += 1 / self.rate
        right, left = np.maximum(gaze[:, 0], 0), np.maximum(-gaze[:, 0], 0)
        up, down = np.maximum(gaze[:, 1], 0), np.maximum(-gaze[:, 1], 0)
        # Looking to the character's right: the left eye turns in, the right eye turns out.
        for name, amount in (
            ("eyeLookInLeft", right),
            ("eyeLookOutRight", right),
            ("eyeLookOutLeft", left),
            ("eyeLookInRight", left),
            ("eyeLookUpLeft", up),
            ("eyeLookUpRight", up),
            ("eyeLookDownLeft", down),
            ("eyeLookDownRight", down),
        ):
            out[:, c[name]] += amount
        return np.clip(out, 0, 1)


@dataclass
class HeadMotion:
    """Subtle head motion in radians (yaw, pitch, roll) that follows the voice: small nods on
    loudness rises, drift that grows with speech energy and pitch movement."""

    rate: float
    rng: np.random.Generator
    pose: np.ndarray = field(default_factory=lambda: np.zeros(3))
    drift: np.ndarray = field(default_factory=lambda: np.zeros(3))
    energy: float = 0.0

    def __call__(self, level: np.ndarray) -> np.ndarray:
        out = np.zeros((len(level), 3))
        k = 1 / (0.25 * self.rate)
        # The random walk's steps drawn for the whole block at once (the same numbers, in the same
        # order, as one draw per frame), the recursion on plain floats: this runs per frame.
        steps = self.rng.standard_normal((len(level), 3)).tolist()
        energy = float(self.energy)
        drift, pose = self.drift.tolist(), self.pose.tolist()
        for i, lv in enumerate(np.asarray(level, np.float64).tolist()):
            rise = max(0.0, lv - energy)
            energy += k * (lv - energy)
            # A slow random walk pulled back to centre; its step grows while talking.
            scale = 0.002 + 0.01 * energy
            nod = (0.0, 0.08 * rise, 0.0)
            for j in range(3):
                drift[j] += scale * steps[i][j] - 0.02 * drift[j]
                pose[j] += 0.15 * (min(max(drift[j], -0.08), 0.08) + nod[j] - pose[j])
            out[i] = pose
        self.energy, self.drift, self.pose = energy, np.array(drift), np.array(pose)
        return out


@dataclass
class PostSettings:
    smoothing: bool = True
    blinks: bool = True
    saccades: bool = True
    head: bool = True
    silence: bool = True
    seed: int = 0


class PostProcessor:
    """The chain for one subject, with its state."""

    def __init__(self, space: RigSpace, rate: float, settings: PostSettings, mouth_smoothed: bool = False):
        """mouth_smoothed: the model's jaw and mouth come out smooth already (smoothed inside its
        lookahead), so the causal smoother, which would put them ~30 ms behind the voice and
        round off closures, leaves them alone and smooths the rest of the face only."""
        assert space.name == "arkit", "post-processing works on ARKit frames"
        self.settings = s = settings
        articulation = space.region_mask(*ARTICULATION_REGIONS)
        self.smoothed = ~articulation if mouth_smoothed else np.ones(len(space), bool)
        c = {n: i for i, n in enumerate(space.curves)}
        # One random stream per stage: a shared one would make the result depend on block sizes.
        blink_rng, gaze_rng, head_rng = (np.random.default_rng(g) for g in np.random.SeedSequence(s.seed).spawn(3))
        self.smoother = OneEuroFilter(rate) if s.smoothing else None
        self.gate = SilenceGate(rate, articulation, c["jawOpen"]) if s.silence else None
        self.blinker = Blinker(rate, c["eyeBlinkLeft"], c["eyeBlinkRight"], blink_rng) if s.blinks else None
        self.saccades = Saccades(rate, c, gaze_rng) if s.saccades else None
        self.head = HeadMotion(rate, head_rng) if s.head else None

    def __call__(self, frames, rest, speech, level):
        """frames, rest [n x 52]; speech, level [n] -> (frames [n x 52], head [n x 3] radians)."""
        if rest is None:
            rest = np.zeros_like(frames)
        if self.gate is not None:
            frames = self.gate(frames, rest, speech)
        if self.smoother is not None:
            frames = frames.copy()
            frames[:, self.smoothed] = self.smoother(frames[:, self.smoothed])
        if self.blinker is not None:
            frames = self.blinker(frames, speech)
        if self.saccades is not None:
            frames = self.saccades(frames)
        head = self.head(level) if self.head is not None else np.zeros((len(frames), 3))
        return np.clip(frames, 0, 1), head
