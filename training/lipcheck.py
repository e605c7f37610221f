"""Lip sync measured the way a user meets it: every clip's audio through `emorig animate` with its
default flags (60 fps ARKit take, post-processing on, the default model unless told), scored on
the clip's phone timings (forced alignment) with the checks of issue 12, pooled per language.

The checks (docs/evaluation.md, "As shipped", has each in a table):
- closure: some frame of a P/B/M has jawOpen <= 0.05, or mouthClose >= 0.6 jawOpen with
  jawOpen <= 0.35, or a lip press/roll >= 0.3 (M alone is reported too: it is the hard one,
  voiced, with no burst to time it);
- open: some frame of an open vowel (50 ms or longer) has jawOpen >= 0.25;
- rounding: some frame of UW/OW (50 ms or longer) or W has max(mouthPucker, mouthFunnel) >= 0.25;
- quiet: the share of frames in pauses of 0.3 s or more with jawOpen <= 0.12, leaving out the
  150 ms after the last phone (the mouth may take that long to settle) and the 100 ms before the
  next (lips part before the sound starts);
- false closures: the share of vowels (50 ms or longer) whose middle frame passes the closure
  check — what a closure detector tuned for recall costs (a stutter on the lips); lower is better;
- lag: the shift that best lines jawOpen up with the audio's 50 ms RMS envelope (cross-correlation
  pooled over clips, peak refined to sub-frame); positive = the face is behind the voice.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from retarget.spaces import get_space

from .evaluate import MIN_VOWEL_S, OPEN_VOWELS
from .teacher import TONGUE_STOPS

BILABIALS = ("P", "B", "M")
ROUNDED = ("UW", "OW", "W")
VOWELS = ("AA", "AE", "AH", "AO", "AW", "AY", "EH", "ER", "EY", "IH", "IY", "OW", "OY", "UH", "UW")
CLOSED_JAW = 0.05
SEAL_RATIO, SEAL_MAX_JAW = 0.6, 0.35
PRESS = 0.3
OPEN_JAW = 0.25
ROUNDING = 0.25
QUIET_JAW = 0.12
MIN_PAUSE_S = 0.3
SETTLE_S, ANTICIPATE_S = 0.15, 0.10
ENVELOPE_S = 0.05
MAX_LAG_S = 0.2

# The row to beat: Rhubarb Lip Sync on the outside evaluation's clips (issue 12).
RHUBARB = {"closure": 0.70, "open": 0.88, "rounding": 0.47, "quiet": 1.00, "lag_ms": -17.0}
TARGETS = {"closure": 0.90, "closure_m": 0.80, "open": 0.95, "rounding": 0.85, "quiet": 0.97, "lag_ms": 20.0}


@dataclass
class Tally:
    """Pass counts for one group of clips (a language, or all)."""

    hits: dict = field(default_factory=lambda: defaultdict(int))
    totals: dict = field(default_factory=lambda: defaultdict(int))
    xcorr: np.ndarray | None = None
    jitter_sum: float = 0.0
    jitter_n: int = 0
    clips: int = 0
    seconds: float = 0.0

    def add(self, check: str, passed) -> None:
        passed = np.asarray(passed, bool).ravel()
        self.hits[check] += int(passed.sum())
        self.totals[check] += int(passed.size)

    def merge(self, other: Tally) -> None:
        for k in other.totals:
            self.hits[k] += other.hits[k]
            self.totals[k] += other.totals[k]
        if other.xcorr is not None:
            self.xcorr = other.xcorr.copy() if self.xcorr is None else self.xcorr + other.xcorr
        self.jitter_sum += other.jitter_sum
        self.jitter_n += other.jitter_n
        self.clips += other.clips
        self.seconds += other.seconds

    def rates(self, fps: float) -> dict:
        out = {k: (self.hits[k] / self.totals[k] if self.totals[k] else None) for k in sorted(self.totals)}
        out |= {f"n_{k}": self.totals[k] for k in sorted(self.totals)}
        out["lag_ms"] = None if self.xcorr is None else 1000 * peak_lag(self.xcorr) / fps
        out["jitter"] = self.jitter_sum / self.jitter_n if self.jitter_n else None
        out["clips"], out["seconds"] = self.clips, round(self.seconds, 1)
        return out


def _inside_speech(phones, i: int) -> bool:
    """Phone i has a phone of speech before it and no P/B/M beside it. A stop after a pause is
    left out: its closure is silent, so the face is still at rest (lips together) when it starts."""
    if i == 0 or phones[i - 1][2] == "SIL":
        return False
    return not any(q in BILABIALS for _, _, q in phones[i - 1 : i + 2])


def _span(times: np.ndarray, start: float, end: float) -> np.ndarray:
    """Frames whose time lies in [start, end]; the nearest one when none does."""
    idx = np.flatnonzero((times >= start - 1e-9) & (times <= end + 1e-9))
    if len(idx) == 0:
        idx = np.array([int(np.abs(times - (start + end) / 2).argmin())])
    return idx


def rms_envelope(audio: np.ndarray, sr: int, times: np.ndarray, width_s: float = ENVELOPE_S) -> np.ndarray:
    """RMS of the audio in a window of width_s centred on each frame time."""
    x = np.asarray(audio, np.float64)
    csum = np.concatenate([[0.0], np.cumsum(x * x)])
    half = int(width_s * sr / 2)
    centre = np.round(times * sr).astype(int)
    a, b = np.clip(centre - half, 0, len(x)), np.clip(centre + half, 0, len(x))
    return np.sqrt((csum[b] - csum[a]) / np.maximum(b - a, 1))


def cross_correlation(face: np.ndarray, voice: np.ndarray, max_lag: int) -> np.ndarray:
    """Sum over t of z(face)[t + k] * z(voice)[t] for k = -max_lag..max_lag (not divided: clips pool
    by adding, so long clips count for more)."""
    f = (face - face.mean()) / (face.std() + 1e-9)
    v = (voice - voice.mean()) / (voice.std() + 1e-9)
    n = len(f)
    out = np.zeros(2 * max_lag + 1)
    for i, k in enumerate(range(-max_lag, max_lag + 1)):
        if abs(k) < n:
            out[i] = float(np.dot(f[max(k, 0) : n + min(k, 0)], v[max(-k, 0) : n - max(k, 0)]))
    return out


def peak_lag(xcorr: np.ndarray) -> float:
    """Lag in frames of the correlation peak, refined by a parabola through its neighbours."""
    max_lag = (len(xcorr) - 1) // 2
    i = int(np.argmax(xcorr))
    shift = 0.0
    if 0 < i < len(xcorr) - 1:
        a, b, c = xcorr[i - 1], xcorr[i], xcorr[i + 1]
        denom = a - 2 * b + c
        shift = 0.5 * (a - c) / denom if denom < 0 else 0.0
    return i - max_lag + shift


def score_clip(arkit: np.ndarray, times: np.ndarray, phones, audio: np.ndarray, sr: int, fps: float) -> Tally:
    """One clip's checks: arkit [T, 52] at frame times `times` (s); phones (start, end, ARPAbet)."""
    space = get_space("arkit")
    x = np.asarray(arkit, np.float64)
    col = {n: x[:, space.index(n)] for n in space.curves}
    jaw, close = col["jawOpen"], col["mouthClose"]
    press = np.max([col[n] for n in ("mouthPressLeft", "mouthPressRight", "mouthRollLower", "mouthRollUpper")], 0)
    sealed = (jaw <= CLOSED_JAW) | ((close >= SEAL_RATIO * jaw) & (jaw <= SEAL_MAX_JAW)) | (press >= PRESS)
    rounded = np.maximum(col["mouthPucker"], col["mouthFunnel"])
    t = Tally(clips=1, seconds=len(audio) / sr)
    if len(x) == 0:
        return t
    phones = [(float(a), float(b), p) for a, b, p in phones]
    for i, (start, end, phone) in enumerate(phones):
        if start > times[-1]:
            break
        long_enough = end - start >= MIN_VOWEL_S - 1e-9
        if phone in VOWELS and long_enough:
            t.add("sealed_vowel", sealed[int(np.abs(times - (start + end) / 2).argmin())])
        if phone in BILABIALS:
            ok = bool(sealed[_span(times, start, end)].any())
            t.add("closure", ok)
            if phone == "M":
                t.add("closure_m", ok)
        elif phone in OPEN_VOWELS and long_enough:
            t.add("open", jaw[_span(times, start, end)].max() >= OPEN_JAW)
        elif phone in ROUNDED and (long_enough or phone == "W"):
            t.add("rounding", rounded[_span(times, start, end)].max() >= ROUNDING)
        elif phone in TONGUE_STOPS and _inside_speech(phones, i):
            # The tongue's closure sounds like a P/B's; the lips must stay apart (mid-stop frame).
            t.add("sealed_stop", sealed[int(np.abs(times - (start + end) / 2).argmin())])
        elif phone == "SIL" and end - start >= MIN_PAUSE_S:
            a = start + (SETTLE_S if i > 0 else 0.0)  # a clip's leading silence has nothing to settle from
            b = end - (ANTICIPATE_S if i < len(phones) - 1 else 0.0)
            idx = np.flatnonzero((times >= a) & (times <= b))
            t.add("quiet", jaw[idx] <= QUIET_JAW)
    envelope = rms_envelope(audio, sr, times)
    t.xcorr = cross_correlation(jaw, envelope, int(round(MAX_LAG_S * fps)))
    mouth = x[:, space.region_mask("jaw", "mouth")]
    if len(mouth) >= 3:
        d2 = np.abs(mouth[2:] - 2 * mouth[1:-1] + mouth[:-2])
        t.jitter_sum, t.jitter_n = float(d2.sum()), d2.size
    return t


class ShippedRenderer:
    """Audio -> the ARKit frames `emorig animate AUDIO -o take.csv [options]` would write, with the
    model loaded once (a fresh subject per clip: no state carries from one clip to the next)."""

    def __init__(self, options: list[str] | tuple[str, ...] = ()):
        from bridge.cli import build_parser

        self.args = build_parser().parse_args(["animate", "audio.wav", "-o", "take.csv", *options])
        self.args.sink = []  # frames stay here: nothing is written
        self.model = None

    @property
    def fps(self) -> float:
        return float(self.args.fps)

    def __call__(self, audio: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        from bridge.cli_stream import _build

        (subject,), registry = _build(self.args, [self.args.subject], model=self.model)
        self.model = subject.model
        try:
            frames = subject.render(audio)
        finally:
            subject.close()
            registry.close()
        space = subject.config.space
        values = np.stack([f.values for f in frames]) if frames else np.zeros((0, len(space)), np.float32)
        if space.name != "arkit":
            from retarget.mappings import retarget_frames

            values = retarget_frames(values, space, get_space("arkit"), [])
        return values, np.array([f.time for f in frames], np.float64)


def measure(items, renderer: ShippedRenderer, progress: bool = False) -> dict[str, Tally]:
    """items: (language, audio path, phones) triples -> {language: Tally, "all": Tally}."""
    from tqdm import tqdm

    from bridge.audio import SAMPLE_RATE, load_audio

    groups: dict[str, Tally] = defaultdict(Tally)
    for language, audio_path, phones in tqdm(list(items), desc="animating", unit="clip", disable=not progress):
        audio = load_audio(audio_path)
        arkit, times = renderer(audio)
        groups[language or "?"].merge(score_clip(arkit, times, phones, audio, SAMPLE_RATE, renderer.fps))
    total = Tally()
    for tally in groups.values():
        total.merge(tally)
    return dict(sorted(groups.items())) | {"all": total}


ROWS = (
    ("closure", "lips closed on P/B/M", "≥ 90%"),
    ("closure_m", "lips closed on M alone", "≥ 80%"),
    ("open", "jaw open on open vowels (≥ 0.25)", "≥ 95%"),
    ("rounding", "rounding on UW/OW/W (≥ 0.25)", "≥ 85%"),
    ("quiet", "quiet frames in pauses ≥ 0.3 s (jawOpen ≤ 0.12)", "≥ 97%"),
    ("sealed_vowel", "lips sealed mid-vowel (false closures)", "low"),
    ("sealed_stop", "lips sealed on T/D/K/G/CH/JH inside speech (false closures)", "low"),
    ("lag_ms", "face behind the voice (jaw–energy lag)", "≤ 20 ms"),
    ("jitter", "jitter (mean abs. 2nd difference, jaw+mouth)", "no worse"),
)


def passes_target(key: str, value) -> bool | None:
    if value is None or key not in TARGETS:
        return None
    return abs(value) <= TARGETS[key] if key == "lag_ms" else value >= TARGETS[key]


def _cell(key: str, value) -> str:
    if value is None:
        return "–"
    if key == "lag_ms":
        return f"{value:+.0f} ms"
    if key == "jitter":
        return f"{value:.4f}"
    return f"{100 * value:.0f}%"


def report_table(results: dict[str, dict]) -> str:
    """Markdown: one column per language (and all), one row per check, plus Rhubarb's row."""
    langs = list(results)
    head = "| check | " + " | ".join(langs) + " | target | Rhubarb (issue 12) |"
    lines = [head, "|" + "---|" * (len(langs) + 3)]
    for key, label, target in ROWS:
        cells = []
        for lang in langs:
            v = results[lang].get(key)
            n = results[lang].get(f"n_{key}")
            mark = {True: "", False: " ✗", None: ""}[passes_target(key, v)]
            cells.append(_cell(key, v) + mark + (f" ({n})" if n else ""))
        rh = RHUBARB.get(key)
        lines.append(
            f"| {label} | " + " | ".join(cells) + f" | {target} | {_cell(key, rh) if rh is not None else '–'} |"
        )
    lines.append("")
    lines.append("Counts in brackets: phones (or pause frames) checked. ✗: misses the target.")
    return "\n".join(lines)


def plot_lag(tallies: dict[str, Tally], fps: float):
    """The pooled jaw–energy cross-correlation per language against lag (ms)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.2))
    for lang, tally in tallies.items():
        if tally.xcorr is None:
            continue
        lags = (np.arange(len(tally.xcorr)) - (len(tally.xcorr) - 1) // 2) * 1000 / fps
        ax.plot(lags, tally.xcorr / max(tally.xcorr.max(), 1e-9), label=lang, lw=2 if lang == "all" else 1)
    ax.axvline(0, color="k", lw=0.5)
    ax.set_xlabel("lag of jawOpen behind the voice's envelope (ms)")
    ax.set_ylabel("correlation (peak = 1)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
