"""The teacher: phones with timings (+ emotion, intensity, prosody) -> ARKit curves.

A phonetically grounded procedural animator. The default model learns from its output,
so it must be right where phonetics is certain and consistent everywhere else:

1. Each phone aims for a mouth shape (`data/phone_visemes.tsv`). Shapes are blended with
   Cohen & Massaro's dominance functions (`data/coarticulation.tsv`): per phone and per
   group of curves, a strength and how far before/after the phone it reaches, so lip
   rounding of /UW/ starts during the consonants before it while /K/ lets its neighbours
   decide the lips.
2. Hard constraints where phonetics has them, applied after blending so that neither
   coarticulation nor emotion can soften them: lips sealed on P B M (full, crisp closures:
   a model trained on soft closures learns to skip them), lower lip to the upper teeth on
   F V, a relaxed closed mouth in pauses of 150 ms or more.
3. The emotion's facial actions (FACS-based, `data/emotion_overlays.tsv`), scaled by an
   intensity that breathes with the voice's energy and pitch when audio (or per-frame
   energy/pitch) is given; brow raises on pitch accents; seeded blinks at human intervals,
   more often at phrase boundaries.

Everything is deterministic for a given seed; only the blinks use the seed.
"""

from __future__ import annotations

import argparse
import functools
import math
import re
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import NamedTuple

import numpy as np

from retarget.errors import InputError
from retarget.spaces import get_space
from retarget.takes import Take, write_take
from training.emotions import EMOTIONS, emotion_index, emotion_overlays

SAMPLE_RATE = 16000  # audio for prosody analysis
PAUSE_S = 0.15  # silences at least this long relax the mouth; shorter ones keep coarticulation
TINY_GAP_S = 0.02  # a gap between phones shorter than this is absorbed by the phone before it
HOLD_FRACTION = 0.3  # the central part of a phone where its dominance is at full strength
REACH_S = 0.7  # dominance is tapered to exactly zero this far from a phone's hold
MAX_PIECE_S = 0.4  # long segments are cut into pieces so each keeps a central hold
GLIDE_AT = 0.65  # a diphthong's nucleus takes its first 65%, the glide the rest
PLATEAU_FRACTION = 0.7  # a closure is held over the middle 70% of a bilabial/labiodental
CLOSURE_RAMP_S = 0.06  # lips close and open within ~60 ms (a fast labial gesture)
PAUSE_RAMP_IN_S = 0.12  # after the last word the mouth settles to rest within ~120 ms
PAUSE_RAMP_OUT_S = 0.10  # ...and starts shaping the next word ~100 ms before its sound
EPS = 1e-6

# Which coarticulation group each viseme column belongs to (see coarticulation.tsv).
COLUMN_GROUPS = {
    "jawOpen": "jaw",
    "mouthClose": "closure",
    "mouthPress": "closure",
    "mouthRollLower": "closure",
    "mouthRollUpper": "closure",
    "mouthLowerDown": "aperture",
    "mouthUpperUp": "aperture",
    "mouthShrugUpper": "aperture",
    "mouthShrugLower": "aperture",
    "mouthFunnel": "round",
    "mouthPucker": "round",
    "mouthStretch": "spread",
    "mouthSmile": "spread",
    "tongueOut": "tongue",
}

# Hard constraints, applied where a constrained phone's envelope is 1 (blended in on its
# ramps). ceil: at most the phone's target; floor: at least it; set: exactly it;
# seal: mouthClose follows jawOpen, which in ARKit means the lips meet whatever the jaw does.
CONSTRAINTS = {
    # P B M: both lips sealed (and pressed for the stops' pressure build-up); nothing may
    # part them: no lip raising/lowering, no funnel (a funnel opens the lips), no tongue.
    "bilabial": {
        "jawOpen": "ceil",
        "mouthPress": "floor",
        "mouthRollLower": "floor",
        "mouthRollUpper": "floor",
        "mouthLowerDown": "set",
        "mouthUpperUp": "set",
        "mouthFunnel": "set",
        "tongueOut": "set",
        "mouthClose": "seal",
    },
    # F V: the lower lip rolls in and up against the upper teeth (mouthRollLower), the
    # upper lip lifts clear of them (mouthUpperUp), the jaw nearly closed.
    "labiodental": {
        "jawOpen": "ceil",
        "mouthRollLower": "floor",
        "mouthUpperUp": "floor",
        "mouthRollUpper": "set",
        "mouthLowerDown": "set",
        "mouthFunnel": "set",
        "tongueOut": "set",
    },
}

# Brow movement on a pitch accent (Ekman 1979: brows as conversational "batons"): a raise
# (AU1+AU2) in most emotions; where the emotion lowers the brows (AU4: angry, disgust)
# the accent deepens the frown instead.
ACCENT_GAIN = 0.4  # brow weight on a strong accent
ACCENT_RAISE = {"browInnerUp": 0.7, "browOuterUpLeft": 1.0, "browOuterUpRight": 1.0}
ACCENT_LOWER = {"browDownLeft": 0.7, "browDownRight": 0.7}
ACCENT_MIN_ST = 2.0  # semitones above the speaker's running mean for a pitch accent
ACCENT_FULL_ST = 8.0  # semitones for a full-strength raise
ACCENT_GAP_S = 0.4  # at most one accent per this long
RISE_S, HOLD_S, FALL_S = 0.18, 0.06, 0.35  # a quick rise to the accent, a slow relaxation
BROW_LEAD_S = 0.03  # the brows peak slightly ahead of the voice's pitch peak

# Blinks: ~20-25 a minute while talking (Bentivoglio et al. 1997: 26/min speaking, 17 at rest),
# log-normal intervals; most phrase boundaries get one (blinks cluster at pauses and
# turn ends). Closing is faster than opening.
BLINK_MEDIAN_S = 3.0  # spontaneous; boundary blinks come on top
BLINK_SPREAD = 0.5  # sigma of log interval
BLINK_MIN_GAP_S = 0.8
BLINK_MAX_GAP_S = 8.0
BLINK_AT_BOUNDARY = 0.7  # chance of a blink in each pause
BLINK_CLOSE_S, BLINK_SHUT_S, BLINK_OPEN_S = (0.07, 0.10), (0.02, 0.05), (0.13, 0.20)

# Intensity breathes with prosody: x (0.75 + 0.5 * saliency), saliency 0..1 (DEITalk's idea,
# with energy and pitch prominence standing in for its learnt saliency); the jaw opens a
# little wider on loud, stressed syllables (vocal effort).
INTENSITY_SWING = 0.5
JAW_EFFORT = 0.2

SILENCE_ALIASES = {"SIL": "SIL", "PAU": "SIL", "H#": "SIL", "#": "SIL", "": "SIL", "SP": "SP"}
NOISE_ALIASES = {"NSN", "SPN", "+NSN+", "+SPN+", "NOISE", "BR", "LG"}


class Phone(NamedTuple):
    start: float  # seconds
    end: float
    phone: str  # ARPAbet without stress digits, or SIL / SP / NSN


# -- tables ---------------------------------------------------------------------------------------


def _table_rows(filename: str) -> list[dict[str, str]]:
    text = resources.files("training").joinpath("data").joinpath(filename).read_text("utf-8")
    lines = [line.split("\t") for line in text.splitlines() if line.strip() and not line.startswith("#")]
    return [dict(zip(lines[0], cells)) for cells in lines[1:]]


@dataclass(frozen=True, eq=False)
class Visemes:
    """The two tables as arrays: per phone (row) and viseme column."""

    phones: tuple[str, ...]
    classes: tuple[str, ...]
    glides: tuple[int, ...]  # row of the glide target, -1 for none
    columns: tuple[str, ...]  # viseme columns: ARKit curves, or pairs without Left/Right
    targets: np.ndarray  # [phones x columns]
    expand: np.ndarray  # [columns x 52]: 1 where a column drives an ARKit curve
    dominance: dict  # (phone, class) -> [4 x columns]: strength, lead s, lag s, shape

    def row(self, phone: str) -> int:
        return self.phones.index(phone)

    def dominance_of(self, phone: str, cls: str) -> np.ndarray:
        return self.dominance[phone, cls]


@functools.cache
def visemes() -> Visemes:
    """phone_visemes.tsv and coarticulation.tsv, checked and as arrays."""
    arkit = get_space("arkit")
    rows = _table_rows("phone_visemes.tsv")
    columns = tuple(c for c in rows[0] if c not in ("phone", "class", "glide", "example"))
    expand = np.zeros((len(columns), len(arkit)), np.float32)
    for j, col in enumerate(columns):
        if col not in COLUMN_GROUPS:
            raise InputError(f"phone_visemes.tsv: column {col!r} has no coarticulation group")
        names = [col] if arkit.find(col) is not None else [col + "Left", col + "Right"]
        expand[j, arkit.indices(names)] = 1
    phones = tuple(r["phone"] for r in rows)
    targets = np.array([[float(r[c]) for c in columns] for r in rows], np.float32)
    glides = tuple(phones.index(r["glide"]) if r["glide"] != "-" else -1 for r in rows)

    groups = tuple(COLUMN_GROUPS[c] for c in columns)
    classes = tuple(r["class"] for r in rows)
    rules = {}
    for r in _table_rows("coarticulation.tsv"):
        # A typo in an edited table must not be silently ignored.
        if r["who"] not in {"*", "pause", "gap", *classes, *phones} or r["group"] not in set(groups):
            raise InputError(f"coarticulation.tsv: unknown class/phone or group in row {r['who']!r} {r['group']!r}")
        rules[r["who"], r["group"]] = r

    def params(phone: str, cls: str) -> np.ndarray:
        out = np.zeros((4, len(columns)))
        for j, g in enumerate(groups):
            r = rules.get((phone, g)) or rules.get((cls, g)) or rules[("*", g)]
            out[:, j] = (float(r["strength"]), float(r["lead_ms"]) / 1000, float(r["lag_ms"]) / 1000, float(r["shape"]))
        return out

    dominance = {}
    for p, c in zip(phones, classes):
        for cls in ("pause", "gap") if c == "silence" else (c,):
            dominance[p, cls] = params(p, cls)
    for table in (targets, expand, *dominance.values()):
        table.setflags(write=False)  # shared by every call: read-only
    return Visemes(phones, classes, glides, columns, targets, expand, dominance)


# -- phones ---------------------------------------------------------------------------------------


def normalise_phone(label: str) -> str | None:
    """An ARPAbet label as the tables spell it (stress stripped, silences unified); None if unknown."""
    key = label.strip().upper()
    if key in SILENCE_ALIASES:
        return SILENCE_ALIASES[key]
    if key in NOISE_ALIASES:
        return "NSN"
    key = re.sub(r"[012]$", "", key)
    return key if key in visemes().phones else None


def read_phones(path) -> list[Phone]:
    """A phones TSV: header `start<TAB>end<TAB>phone` (extra columns ignored), times in seconds.

    `#` lines and blank lines are skipped. Bad rows raise InputError naming file and line."""
    path = Path(path)
    try:
        lines = path.read_text("utf-8-sig").splitlines()
    except FileNotFoundError:
        raise InputError("phones file not found", path=path) from None
    except UnicodeDecodeError:
        raise InputError("not a text file (cannot decode as UTF-8)", path=path) from None
    header, phones = None, []
    for number, line in enumerate(lines, start=1):
        if not line.strip() or line.startswith("#"):
            continue
        cells = [c.strip() for c in line.split("\t")]
        if header is None:
            names = [c.lower() for c in cells]
            if not {"start", "end", "phone"} <= set(names):
                raise InputError("expected a header start<TAB>end<TAB>phone", path=path, row=number)
            header = [names.index(n) for n in ("start", "end", "phone")]
            continue
        if len(cells) < len(names):
            raise InputError(f"expected {len(names)} tab-separated cells, found {len(cells)}", path=path, row=number)
        start, end, label = (cells[i] for i in header)
        phones.append(_phone(start, end, label, phones[-1] if phones else None, path, number))
    if header is None:
        raise InputError("empty phones file (no header)", path=path)
    if not phones:
        raise InputError("no phones in this file", path=path)
    return phones


def _phone(start, end, label, previous: Phone | None, path=None, row=None) -> Phone:
    """One checked phone; `row` and `path` name where it came from in errors."""
    times = []
    for what, value in (("start", start), ("end", end)):
        try:
            t = float(value)
        except (TypeError, ValueError):
            raise InputError(f"{what} time is not a number: {value!r}", path=path, row=row) from None
        if not math.isfinite(t) or t < 0:
            raise InputError(f"{what} time must be a finite number of seconds >= 0, not {value!r}", path=path, row=row)
        times.append(t)
    if times[1] < times[0]:
        raise InputError(f"phone ends ({times[1]}) before it starts ({times[0]})", path=path, row=row)
    if previous is not None and times[0] < previous.end - 1e-4:
        raise InputError(
            f"phone starts at {times[0]}, before the previous one ends ({previous.end})", path=path, row=row
        )
    phone = normalise_phone(str(label))
    if phone is None:
        raise InputError(f"unknown phone {label!r}; expected ARPAbet (AA .. ZH) or SIL/SP/NSN", path=path, row=row)
    return Phone(times[0], times[1], phone)


def _checked(phones) -> list[Phone]:
    out: list[Phone] = []
    for i, p in enumerate(phones, start=1):
        try:
            start, end, label = p
        except (TypeError, ValueError):
            raise InputError(f"phone {i}: expected (start, end, phone), got {p!r}") from None
        out.append(_phone(start, end, label, out[-1] if out else None, row=i))
    return out


# -- segments -------------------------------------------------------------------------------------


class Segment(NamedTuple):
    start: float
    end: float
    phone: str  # whose dominance (and class) applies
    target: str  # whose shape it aims for (the glide phone in a diphthong's tail)
    cls: str  # coarticulation class: the table's, or pause/gap for silences

    @property
    def centre(self) -> float:
        return 0.5 * (self.start + self.end)


def _segments(phones: list[Phone], duration: float) -> list[Segment]:
    """Phones -> segments covering [0, duration]: gaps filled with silence (tiny ones absorbed),
    adjacent silences merged, each silence classed pause or gap by its length."""
    v = visemes()
    spans: list[list] = []
    t = 0.0
    for p in [*(p for p in phones if p.start < duration), Phone(duration, duration, "SIL")]:
        if spans and p.start - t < TINY_GAP_S:
            spans[-1][1] = max(spans[-1][1], p.start)  # rounding in the aligner, not a silence
        elif p.start > t:
            spans.append([t, p.start, "SIL"])
        if p.end > p.start:
            spans.append([p.start, min(p.end, duration), p.phone])
        t = max(t, p.end)
    merged: list[list] = []
    for s in spans:
        silent = v.classes[v.row(s[2])] == "silence"
        if merged and silent and v.classes[v.row(merged[-1][2])] == "silence":
            merged[-1][1] = s[1]
        elif s[1] > s[0]:
            merged.append(s)
    out = []
    for start, end, phone in merged:
        cls = v.classes[v.row(phone)]
        if cls == "silence":
            cls = "pause" if end - start >= PAUSE_S else "gap"
        out.append(Segment(start, end, phone, phone, cls))
    return out


def _pieces(segments: list[Segment]) -> list[Segment]:
    """Diphthongs split into nucleus and glide; long segments cut so each piece has a hold."""
    v = visemes()
    out = []
    for s in segments:
        glide = v.glides[v.row(s.phone)]
        parts = [s]
        if glide >= 0:
            cut = s.start + GLIDE_AT * (s.end - s.start)
            parts = [s._replace(end=cut), s._replace(start=cut, target=v.phones[glide])]
        for p in parts:
            k = max(1, math.ceil((p.end - p.start) / MAX_PIECE_S - 1e-9))
            edges = np.linspace(p.start, p.end, k + 1)
            out += [p._replace(start=float(a), end=float(b)) for a, b in zip(edges[:-1], edges[1:])]
    return out


# -- coarticulation -------------------------------------------------------------------------------


def _blend(pieces: list[Segment], n: int, fps: float, chunk: int = 512) -> np.ndarray:
    """Dominance-weighted average of the pieces' targets at every frame: [n x columns].

    Each piece touches only the frames within its reach, so the work is
    pieces x (frames per reach) x columns, whatever the length of the take; pieces are
    taken `chunk` at a time to bound memory on long takes."""
    v = visemes()
    num = np.zeros((n, len(v.columns)))
    den = np.full((n, len(v.columns)), EPS)  # a whisper of rest where no phone reaches
    for i in range(0, len(pieces), chunk):
        d, targets, rows = _dominance(pieces[i : i + chunk], n, fps)
        np.add.at(num, rows, (d * targets[:, None, :]).reshape(-1, len(v.columns)))
        np.add.at(den, rows, d.reshape(-1, len(v.columns)))
    return num / den


def _dominance(pieces: list[Segment], n: int, fps: float):
    """Cohen & Massaro dominance of each piece over the frames it reaches:
    -> (dominance [S x W x C], targets [S x C], frame of each (piece, W) flattened)."""
    v = visemes()
    centre = np.array([p.centre for p in pieces])
    hold = HOLD_FRACTION * 0.5 * np.array([p.end - p.start for p in pieces])
    targets = v.targets[[v.row(p.target) for p in pieces]]
    dom = np.stack([v.dominance_of(p.phone, p.cls) for p in pieces])  # [S x 4 x C]
    strength, lead, lag, shape = (dom[:, k, None, :] for k in range(4))  # each [S x 1 x C]

    width = int(math.ceil(2 * (hold.max() + REACH_S) * fps)) + 2
    first = np.ceil((centre - hold - REACH_S) * fps).astype(int)
    frames = first[:, None] + np.arange(width)  # [S x W]
    offset = frames / fps - centre[:, None]
    tau = np.maximum(np.abs(offset) - hold[:, None], 0)
    # A smooth taper to zero at REACH_S keeps the sum exact without a visible cut-off.
    taper = np.clip(1 - (tau / REACH_S) ** 2, 0, 1) ** 2 * ((frames >= 0) & (frames < n))
    reach = np.where(offset[..., None] < 0, lead, lag)  # before the phone: anticipation
    d = strength * np.exp(-((tau[..., None] / reach) ** shape)) * taper[..., None]
    return d, targets, np.clip(frames, 0, n - 1).ravel()


def _envelope(n: int, fps: float, lo: float, hi: float, ramp_in: float, ramp_out: float):
    """1 on [lo, hi], raised-cosine ramps outside it; -> (frame slice, values)."""
    a = max(0, math.ceil((lo - ramp_in) * fps - 1e-9))
    b = min(n, math.floor((hi + ramp_out) * fps + 1e-9) + 1)
    t = np.arange(a, b) / fps
    before = np.clip((lo - t) / max(ramp_in, EPS), 0, 1)
    after = np.clip((t - hi) / max(ramp_out, EPS), 0, 1)
    g = 0.5 * (1 + np.cos(np.pi * np.maximum(before, after)))
    g[(t < lo - ramp_in - 1e-9) | (t > hi + ramp_out + 1e-9)] = 0
    return slice(a, b), g


def _closure_events(segments: list[Segment], fps: float):
    """(class, phone, plateau lo, hi, ramp in, ramp out) for every bilabial and labiodental.

    The plateau is held over the middle of the phone and always covers the frame nearest its
    midpoint; the ramps stop short of the neighbours' midpoints so their own shapes survive."""
    half_frame = 0.5 / fps
    for i, s in enumerate(segments):
        if s.cls not in CONSTRAINTS:
            continue
        h = max(PLATEAU_FRACTION * 0.5 * (s.end - s.start), 0.6 / fps)
        lo, hi = s.centre - h, s.centre + h
        prev = segments[i - 1] if i > 0 else None
        after = segments[i + 1] if i + 1 < len(segments) else None
        # At rest the lips are together: a bilabial next to a pause keeps them sealed from
        # the rest into the closure (and after it), rather than parting them only to close again.
        if s.cls == "bilabial" and prev is not None and prev.cls == "pause":
            lo = min(lo, s.start - min(PAUSE_RAMP_OUT_S, 0.5 * (prev.end - prev.start)))
        if s.cls == "bilabial" and after is not None and after.cls == "pause":
            hi = max(hi, s.end + min(PAUSE_RAMP_IN_S, 0.5 * (after.end - after.start)))
        prev_c = prev.centre if prev is not None else -math.inf
        next_c = after.centre if after is not None else math.inf
        ramp_in = float(np.clip(lo - prev_c - half_frame, 0, CLOSURE_RAMP_S))
        ramp_out = float(np.clip(next_c - hi - half_frame, 0, CLOSURE_RAMP_S))
        yield s.cls, s.phone, lo, hi, ramp_in, ramp_out


def bilabial_closure(phones, n: int, fps: float) -> np.ndarray:
    """Bool [n]: the frames where the teacher holds the lips sealed for a P, B or M (the closure
    plateaus of `animate_phones`): a yes/no label, so a network can learn closure as an event
    rather than regress toward it (regression shrinks the press when the network is unsure)."""
    segments = _segments(_checked(phones), n / fps)
    t = np.arange(n) / fps
    sealed = np.zeros(n, bool)
    for cls, _phone, lo, hi, _ramp_in, _ramp_out in _closure_events(segments, fps):
        if cls == "bilabial":
            sealed |= (t >= lo - 1e-9) & (t <= hi + 1e-9)
    return sealed


# Stops whose silent closure sounds like a P/B's but is made with the tongue: the lips stay apart.
TONGUE_STOPS = ("T", "D", "K", "G", "CH", "JH")


def tongue_stops(phones, n: int, fps: float, sealed: np.ndarray | None = None) -> np.ndarray:
    """Bool [n]: the frames of a T, D, K, G, CH or JH, less any on a P/B/M plateau (`sealed`,
    bilabial_closure's answer, when the caller has it): where a closure detector that only
    listens for silence-then-burst fires but the lips must not seal."""
    segments = _segments(_checked(phones), n / fps)
    t = np.arange(n) / fps
    stops = np.zeros(n, bool)
    for s in segments:
        if s.phone in TONGUE_STOPS:
            stops |= (t >= s.start - 1e-9) & (t <= s.end + 1e-9)
    return stops & ~(bilabial_closure(phones, n, fps) if sealed is None else sealed)


ROUNDED_PHONES = ("UW", "UH", "OW", "OY", "W")  # the lips round (funnel or pucker) for these
ROUND_FRACTION = 0.7  # the rounding is held over the middle 70% of the phone


def rounded_lips(phones, n: int, fps: float) -> np.ndarray:
    """Bool [n]: the frames in the middle of a rounded vowel or W, where the teacher's lips are
    rounded: the yes/no label of a rounding head (the same reason as bilabial_closure)."""
    segments = _segments(_checked(phones), n / fps)
    t = np.arange(n) / fps
    rounded = np.zeros(n, bool)
    for s in segments:
        if s.phone not in ROUNDED_PHONES:
            continue
        h = max(ROUND_FRACTION * 0.5 * (s.end - s.start), 0.6 / fps)
        rounded |= (t >= s.centre - h - 1e-9) & (t <= s.centre + h + 1e-9)
    return rounded


def _apply_constraints(face: np.ndarray, segments: list[Segment], fps: float) -> np.ndarray:
    v, arkit = visemes(), get_space("arkit")
    n = len(face)
    jaw, close = arkit.index("jawOpen"), arkit.index("mouthClose")
    events = list(_closure_events(segments, fps))
    for cls, rules in CONSTRAINTS.items():
        g = np.zeros(n)
        target = np.zeros_like(face)
        for ev_cls, phone, lo, hi, r_in, r_out in events:
            if ev_cls != cls:
                continue
            sl, e = _envelope(n, fps, lo, hi, r_in, r_out)
            stronger = e > g[sl]
            g[sl] = np.where(stronger, e, g[sl])
            target[sl][stronger] = v.targets[v.row(phone)] @ v.expand
        if not g.any():
            continue
        for col, how in rules.items():
            idx = np.flatnonzero(v.expand[v.columns.index(col)]) if col in v.columns else [arkit.index(col)]
            for k in idx:
                f, t = face[:, k], target[:, k]
                if how == "ceil":
                    face[:, k] = f - g * np.maximum(f - t, 0)
                elif how == "floor":
                    face[:, k] = f + g * np.maximum(t - f, 0)
                elif how == "set":
                    face[:, k] = f + g * (t - f)
        if rules.get("mouthClose") == "seal":
            face[:, close] += g * (face[:, jaw] - face[:, close])
    return face


def _pause_gate(segments: list[Segment], n: int, fps: float) -> np.ndarray:
    """0..1 per frame: 1 where a pause holds the mouth at rest."""
    g = np.zeros(n)
    for s in segments:
        if s.cls != "pause":
            continue
        r_in = min(PAUSE_RAMP_IN_S, 0.4 * (s.end - s.start))
        r_out = min(PAUSE_RAMP_OUT_S, 0.4 * (s.end - s.start))
        # A pause at the very start or end of the take has nothing to ramp from/to.
        lo = s.start + (r_in if s.start > 0 else 0)
        hi = s.end - (r_out if s.end < n / fps - 1e-6 else -1.0)
        sl, e = _envelope(n, fps, lo, hi, r_in, r_out)
        g[sl] = np.maximum(g[sl], e)
    return g


# -- prosody --------------------------------------------------------------------------------------


class Prosody(NamedTuple):
    energy: np.ndarray  # [n] loudness in dB (any monotonic scale works for the teacher)
    pitch: np.ndarray  # [n] Hz, 0 where unvoiced


def analyse_prosody(audio, fps: float, n_frames: int | None = None) -> Prosody:
    """Energy (dB) and pitch (Hz, autocorrelation) per frame of 16 kHz mono audio.

    Frame i is analysed in a 40 ms window centred on i / fps (two periods at 50 Hz)."""
    x = np.asarray(audio, np.float64).reshape(-1)
    if n_frames is None:
        n_frames = max(1, math.ceil(len(x) / SAMPLE_RATE * fps))
    win = int(0.04 * SAMPLE_RATE)
    starts = np.round(np.arange(n_frames) / fps * SAMPLE_RATE).astype(int) + win - win // 2
    padded = np.pad(x, (win, max(0, starts[-1] + win - len(x) - win) + win))
    frames = padded[starts[:, None] + np.arange(win)]
    frames = frames - frames.mean(1, keepdims=True)
    power = np.mean(frames**2, 1)
    energy = 10 * np.log10(power + 1e-10)
    ac = np.fft.irfft(np.abs(np.fft.rfft(frames, 2 * win)) ** 2)[:, :win]
    lo, hi = SAMPLE_RATE // 400, SAMPLE_RATE // 70  # 70-400 Hz: speaking voices
    # Unbiased normalised autocorrelation; the shortest lag near the best peak is the period
    # (taking the very best would often pick twice the period: an octave too low).
    r = ac / (ac[:, :1] + 1e-12) * win / (win - np.arange(win))
    seg = r[:, lo - 1 : hi + 2]
    peaks = (seg[:, 1:-1] > seg[:, :-2]) & (seg[:, 1:-1] >= seg[:, 2:])
    inner = seg[:, 1:-1]
    best = np.where(peaks, inner, -1).max(1)
    choice = np.argmax(peaks & (inner >= 0.85 * best[:, None]), axis=1)
    y0, y1, y2 = (seg[np.arange(n_frames), choice + k] for k in range(3))
    shift = np.clip(0.5 * (y0 - y2) / (y0 - 2 * y1 + y2 - 1e-12), -0.5, 0.5)  # parabolic peak
    lag = lo + choice + shift
    loud = energy > max(energy.max() - 40, -60)
    voiced = (best > 0.5) & loud
    return Prosody(energy.astype(np.float32), np.where(voiced, SAMPLE_RATE / lag, 0.0).astype(np.float32))


def _moving(x: np.ndarray, weight: np.ndarray, frames: int) -> np.ndarray:
    """Centred weighted moving average over `frames` frames (weight 0 frames are ignored)."""
    k = np.ones(max(1, frames))
    # "full" then the centre: "same" returns the longer input's length, which breaks clips
    # shorter than the window.
    h = (len(k) - 1) // 2
    num = np.convolve(x * weight, k, "full")[h : h + len(x)]
    den = np.convolve(weight.astype(float), k, "full")[h : h + len(x)]
    return np.where(den > 0, num / np.maximum(den, EPS), 0.0)


def _semitones_above_mean(pitch: np.ndarray, fps: float) -> np.ndarray:
    """How far the (lightly smoothed) pitch sits above the speaker's running mean, in semitones;
    -inf where unvoiced."""
    voiced = np.isfinite(pitch) & (pitch > 0)
    st = np.where(voiced, 12 * np.log2(np.where(voiced, pitch, 100) / 100), 0.0)
    smooth = _moving(st, voiced, int(round(0.06 * fps)) | 1)
    mean = _moving(st, voiced, int(round(2.0 * fps)) | 1)
    return np.where(voiced, smooth - mean, -np.inf)


def _saliency(prosody: Prosody, fps: float) -> np.ndarray:
    """0..1 per frame: how loud and how high the voice is against its own range."""
    e = np.asarray(prosody.energy, np.float64)
    lo, hi = np.percentile(e, [10, 95])
    loud = np.clip((e - lo) / max(hi - lo, EPS), 0, 1)
    high = np.clip(_semitones_above_mean(np.asarray(prosody.pitch, np.float64), fps) / 6, 0, 1)
    s = 0.6 * loud + 0.4 * high
    return np.clip(_moving(s, np.ones_like(s), int(round(0.3 * fps)) | 1), 0, 1)


def pitch_accents(pitch, fps: float) -> list[tuple[float, float]]:
    """(time s, semitones above the running mean) of each pitch accent: a local pitch peak at
    least ACCENT_MIN_ST above the speaker's running mean, at most one per ACCENT_GAP_S."""
    z = _semitones_above_mean(np.asarray(pitch, np.float64), fps)
    half = max(1, int(round(0.15 * fps)))
    padded = np.pad(z, half, constant_values=-np.inf)
    local_max = np.lib.stride_tricks.sliding_window_view(padded, 2 * half + 1).max(1)
    candidates = np.flatnonzero((z >= ACCENT_MIN_ST) & (z >= local_max))
    chosen: list[int] = []
    for i in candidates[np.argsort(-z[candidates], kind="stable")]:  # strongest first
        if all(abs(i - j) >= ACCENT_GAP_S * fps for j in chosen):
            chosen.append(int(i))
    return [(i / fps, float(z[i])) for i in sorted(chosen)]


def _bumps(n: int, fps: float, events, rise: float, hold: float, fall: float) -> np.ndarray:
    """Raised-cosine bumps (start of peak, height): rising over `rise` to the peak, holding
    `hold`, falling over `fall`; where two overlap the larger wins."""
    out = np.zeros(n)
    for t, height in events:
        sl, g = _envelope(n, fps, t, t + hold, rise, fall)
        out[sl] = np.maximum(out[sl], height * g)
    return out


# -- blinks ---------------------------------------------------------------------------------------


def blink_times(duration: float, pauses: list[tuple[float, float]], rng: np.random.Generator) -> list[float]:
    """Blink onsets in seconds: log-normal intervals, plus most pauses (phrase boundaries)."""
    at_pauses = [s + rng.uniform(0.05, min(0.25, max(0.06, 0.5 * (e - s)))) for s, e in pauses]
    at_pauses = [t for t, keep in zip(at_pauses, rng.uniform(size=len(pauses)) < BLINK_AT_BOUNDARY) if keep]
    spontaneous, t = [], rng.uniform(0.3, 2.0)
    while t < duration:
        spontaneous.append(t)
        t += float(np.clip(rng.lognormal(math.log(BLINK_MEDIAN_S), BLINK_SPREAD), BLINK_MIN_GAP_S, BLINK_MAX_GAP_S))
    # Boundary blinks take precedence; a spontaneous one too close to any kept blink is dropped.
    times = sorted(at_pauses)
    for t in spontaneous:
        if all(abs(t - u) >= BLINK_MIN_GAP_S for u in times):
            times.append(t)
            times.sort()
    kept: list[float] = []
    for t in times:
        if not kept or t - kept[-1] >= BLINK_MIN_GAP_S:
            kept.append(t)
    return [t for t in kept if t < duration]


def _blink_curve(n: int, fps: float, times: list[float], rng: np.random.Generator) -> np.ndarray:
    out = np.zeros(n)
    for t in times:
        close, shut, open_ = (rng.uniform(*r) for r in (BLINK_CLOSE_S, BLINK_SHUT_S, BLINK_OPEN_S))
        sl, g = _envelope(n, fps, t + close, t + close + shut, close, open_)
        out[sl] = np.maximum(out[sl], g)
    return out


# -- the animator ---------------------------------------------------------------------------------


def _emotion_weights(emotion) -> np.ndarray:
    if isinstance(emotion, str):
        try:
            w = np.zeros(len(EMOTIONS))
            w[emotion_index(emotion)] = 1
            return w
        except ValueError as e:
            raise InputError(str(e)) from None
    w = np.asarray(emotion, np.float64).reshape(-1)
    if w.shape != (len(EMOTIONS),) or not np.all(np.isfinite(w)) or (w < 0).any():
        raise InputError(f"emotion must be a label or {len(EMOTIONS)} weights >= 0 ({', '.join(EMOTIONS)})")
    return w


def _per_frame(name: str, values, n: int) -> np.ndarray:
    a = np.asarray(values, np.float64).reshape(-1)
    if len(a) != n:
        raise InputError(f"{name} has {len(a)} values but the take has {n} frames")
    return a


def animate_phones(
    phones,
    fps: float = 60,
    duration: float | None = None,
    emotion="neutral",
    intensity=0.6,
    audio=None,
    seed: int = 0,
    blinks: bool = True,
    energy=None,
    pitch=None,
) -> np.ndarray:
    """Phones -> ARKit frames [n x 52] in [0, 1] at `fps`; frame i is at time i / fps.

    phones: Phone or (start, end, phone) items in time order. duration: seconds of take
    (default: as long as the per-frame arrays if any are given, else the last phone's end
    or the audio's length, whichever is longer). emotion: a label
    (training.emotions.EMOTIONS) or 8 weights. intensity: 0..1, a number (which then breathes
    with prosody when there is any) or one value per frame (used as given). audio: 16 kHz mono
    float, for prosody (energy, pitch: intensity, jaw effort, brow raises on pitch accents);
    or give `energy` (any loudness scale, e.g. dB) and `pitch` (Hz, 0 unvoiced) per frame.
    seed: for the blinks; the rest does not depend on it."""
    if not (fps > 0 and math.isfinite(fps)):
        raise InputError(f"fps must be positive, got {fps}")
    phones = _checked(phones)
    if audio is not None:
        audio = np.asarray(audio, np.float32).reshape(-1)
    per_frame = [np.size(a) for a in (energy, pitch, intensity) if a is not None and np.ndim(a) > 0]
    if duration is None and per_frame:
        duration = per_frame[0] / fps  # per-frame arrays say how long the take is
    elif duration is None:
        duration = max([phones[-1].end if phones else 0.0] + ([len(audio) / SAMPLE_RATE] if audio is not None else []))
    n = max(1, int(round(duration * fps)))
    duration = n / fps
    v, arkit = visemes(), get_space("arkit")
    c = arkit.index

    prosody = None
    if energy is not None or pitch is not None:
        prosody = Prosody(
            _per_frame("energy", energy, n) if energy is not None else np.zeros(n),
            np.nan_to_num(_per_frame("pitch", pitch, n)) if pitch is not None else np.zeros(n),
        )
        if not np.all(np.isfinite(prosody.energy)):
            raise InputError("energy must be finite")
    elif audio is not None:
        prosody = analyse_prosody(audio, fps, n)
    saliency = _saliency(prosody, fps) if prosody is not None else None

    # Speech: coarticulated visemes, louder syllables a little wider, pauses at rest.
    segments = _segments(phones, duration)
    speech = _blend(_pieces(segments), n, fps)
    if saliency is not None:
        effort = 1 + JAW_EFFORT * (saliency - 0.5)
        for col in ("jawOpen", "mouthLowerDown"):
            speech[:, v.columns.index(col)] *= effort
    speech *= 1 - _pause_gate(segments, n, fps)[:, None]
    face = speech @ v.expand

    # Emotion: the FACS overlay, scaled by intensity.
    overlay = _emotion_weights(emotion) @ emotion_overlays()
    if np.ndim(intensity) == 0:
        level = np.full(n, float(intensity))
        if saliency is not None:
            level *= 1 - INTENSITY_SWING / 2 + INTENSITY_SWING * saliency
    else:
        level = _per_frame("intensity", intensity, n)
    if not np.all(np.isfinite(level)):
        raise InputError("intensity must be finite")
    face += np.clip(level, 0, None)[:, None] * overlay[None, :]

    # Phonetic certainties win over everything above.
    face = _apply_constraints(face, segments, fps)

    if prosody is not None:
        accents = [(t, ACCENT_GAIN * min(1.0, z / ACCENT_FULL_ST)) for t, z in pitch_accents(prosody.pitch, fps)]
        brows = _bumps(n, fps, [(t - BROW_LEAD_S, h) for t, h in accents], RISE_S, HOLD_S, FALL_S)
        down = overlay[[c("browDownLeft"), c("browDownRight")]].mean()
        up = overlay[[c("browInnerUp"), c("browOuterUpLeft"), c("browOuterUpRight")]].mean()
        for name, w in (ACCENT_LOWER if down > up else ACCENT_RAISE).items():
            face[:, c(name)] += w * brows

    if blinks:
        rng = np.random.default_rng(seed)
        pauses = [(s.start, s.end) for s in segments if s.cls == "pause" and 0 < s.start]
        blink = _blink_curve(n, fps, blink_times(duration, pauses, rng), rng)
        for side in ("Left", "Right"):
            face[:, c("eyeBlink" + side)] = np.maximum(face[:, c("eyeBlink" + side)], blink)
            face[:, c("eyeWide" + side)] *= 1 - blink  # the lids cannot be wide and shut

    # In ARKit mouthClose only means something against jawOpen: beyond it the lips cross.
    face[:, c("mouthClose")] = np.minimum(face[:, c("mouthClose")], face[:, c("jawOpen")])
    return np.clip(face, 0, 1).astype(np.float32)


def teacher_take(phones, fps: float = 60, **kwargs) -> Take:
    """animate_phones(...) as a Take in the arkit space."""
    frames = animate_phones(phones, fps=fps, **kwargs)
    meta = {"source": "teacher"} | {k: kwargs[k] for k in ("emotion", "seed") if isinstance(kwargs.get(k), (str, int))}
    return Take(get_space("arkit"), float(fps), frames, meta=meta)


# -- manual checks --------------------------------------------------------------------------------


def _read_audio(path) -> np.ndarray:
    import soundfile
    from scipy.signal import resample_poly

    try:
        x, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except Exception as e:  # soundfile raises its own error types for unreadable files
        raise InputError(f"cannot read audio ({e})", path=path) from None
    x = x.mean(1)
    if rate != SAMPLE_RATE:
        g = math.gcd(int(rate), SAMPLE_RATE)
        x = resample_poly(x, SAMPLE_RATE // g, int(rate) // g).astype(np.float32)
    return x


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m training.teacher", description="Phones TSV -> ARKit take (teacher).")
    ap.add_argument("phones", help="TSV with header start<TAB>end<TAB>phone (seconds, ARPAbet)")
    ap.add_argument("-o", "--output", required=True, help="take file: .csv, .json or .npz")
    ap.add_argument("--fps", type=float, default=60)
    ap.add_argument("--emotion", default="neutral", help=", ".join(EMOTIONS))
    ap.add_argument("--intensity", type=float, default=0.6)
    ap.add_argument("--audio", help="the speech, for prosody (intensity, brow raises)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-blinks", action="store_true")
    args = ap.parse_args(argv)
    try:
        take = teacher_take(
            read_phones(args.phones),
            fps=args.fps,
            emotion=args.emotion,
            intensity=args.intensity,
            audio=_read_audio(args.audio) if args.audio else None,
            seed=args.seed,
            blinks=not args.no_blinks,
        )
        write_take(take, args.output)
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"{args.output}: {len(take)} frames at {take.fps:g} fps")
    return 0


if __name__ == "__main__":
    sys.exit(main())
