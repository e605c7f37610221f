"""`emorig plot`: a take's curves over its waveform, as a picture (PNG, SVG or PDF).

    plot_take(take, audio, curves, phones) -> matplotlib Figure
    write_plot(take, out, audio_path=..., curves=..., phones_path=...)

Rows share one time axis in seconds from the take's first frame (which is the audio's
time 0): the waveform on top with phone labels over it when a phones file is given,
an emotion row when the take carries an emotion track (see bridge/preview.py), then
one row per curve lane. A lane is a curve name or several joined with `+`
(`mouthSmileLeft+mouthSmileRight`), looked up in the take's own rig space first, then
in ARKit.

Phones files, chosen by extension (no Praat needed):
- `.json`: a list of `{"start": s, "end": s, "phone": "AA"}` (or `"label"`), or of
  `[start, end, phone]` triples, or `{"phones": [...]}` holding either.
- `.lab`: HTK label lines `start end phone`, times in units of 100 ns.
- anything else (`.tsv`, `.txt`, `.csv`, ...): lines `start end phone` in seconds,
  separated by tabs, commas or spaces; `#` starts a comment. A first line of names is
  a header: `start`/`begin`/`xmin`, `end`/`stop`/`xmax` and `phone`/`label`/`text`
  columns are found by name, and with a `type` column (Montreal Forced Aligner's CSV)
  only rows of type `phones` are kept.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from retarget.errors import InputError
from retarget.fileio import atomic_write_bytes
from retarget.takes import Take

from .preview import (
    EMOTION_COLOURS,
    SERIES,
    arkit_frames,
    check_output,
    emotion_track,
    fit_audio,
    read_audio,
    resolve_curves,
)

PLOT_CURVES = (
    "jawOpen",
    "mouthClose",
    "mouthFunnel+mouthPucker",
    "mouthSmileLeft+mouthSmileRight",
    "eyeBlinkLeft+eyeBlinkRight",
    "browInnerUp",
)
IMAGE_FORMATS = {".png": "png", ".svg": "svg", ".pdf": "pdf"}
SILENCE = {"", "sil", "sp", "spn", "<sil>", "<eps>", "pau", "#", "_"}
HTK_UNIT = 1e-7  # seconds per HTK time unit
WAVE_BINS = 4000  # the waveform is drawn as a min/max envelope of this many columns


@dataclass(frozen=True)
class Phone:
    start: float
    end: float
    label: str


# -- phones files ---------------------------------------------------------------------------------

_START = {"start", "begin", "xmin", "tmin", "onset", "start_time", "begin_time"}
_END = {"end", "stop", "xmax", "tmax", "offset", "end_time", "stop_time"}
_LABEL = {"phone", "label", "text", "phoneme", "ph", "mark"}


def read_phones(path) -> list[Phone]:
    path = Path(path)
    try:
        text = path.read_text("utf-8-sig")
    except FileNotFoundError:
        raise InputError("phones file not found", path=path) from None
    except (UnicodeDecodeError, IsADirectoryError):
        raise InputError("not a text file", path=path) from None
    ext = path.suffix.lower()
    phones = (
        _phones_json(text, path) if ext == ".json" else _phones_lines(text, path, HTK_UNIT if ext == ".lab" else 1.0)
    )
    if not phones:
        raise InputError("no phones in this file", path=path)
    return phones


def _phone(start, end, label, path, row=None) -> Phone:
    try:
        a, b = float(start), float(end)
    except (TypeError, ValueError):
        raise InputError(f"start and end must be numbers, not {start!r} and {end!r}", path=path, row=row) from None
    if not (math.isfinite(a) and math.isfinite(b)):
        raise InputError("start and end must be finite numbers", path=path, row=row)
    if b < a:
        raise InputError(f"phone {label!r} ends ({b:g}) before it starts ({a:g})", path=path, row=row)
    return Phone(a, b, str(label).strip())


def _phones_json(text: str, path: Path) -> list[Phone]:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise InputError(f"not valid JSON ({e})", path=path) from None
    if isinstance(doc, dict):
        doc = doc.get("phones")
    if not isinstance(doc, list):
        raise InputError('expected a list of phones, or {"phones": [...]}', path=path)
    phones = []
    for k, item in enumerate(doc):
        if isinstance(item, dict):
            label = next((item[key] for key in ("phone", "label", "text") if key in item), None)
            if label is None or "start" not in item or "end" not in item:
                raise InputError(f"phone {k} needs 'start', 'end' and 'phone'", path=path)
            phones.append(_phone(item["start"], item["end"], label, path))
        elif isinstance(item, list) and len(item) == 3:
            phones.append(_phone(item[0], item[1], item[2], path))
        else:
            raise InputError(f"phone {k} must be an object or [start, end, phone]", path=path)
    return phones


def _split(line: str) -> tuple[list[str], bool]:
    """(cells, whether they were split at spaces)."""
    if "\t" in line:
        return [c.strip() for c in line.split("\t")], False
    if "," in line:
        return [c.strip() for c in next(csv.reader(io.StringIO(line)))], False
    return line.split(), True


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _phones_lines(text: str, path: Path, unit: float) -> list[Phone]:
    rows = [(n, *_split(line)) for n, line in enumerate(text.splitlines(), start=1)]
    rows = [(n, cells, spaced) for n, cells, spaced in rows if cells and not cells[0].startswith("#")]
    if not rows:
        return []
    cols, kind, header = (0, 1, 2), None, False
    if not _is_number(rows[0][1][0]):  # a header names the columns
        header = True
        names = [c.lower() for c in rows[0][1]]

        def find(options, what):
            hit = next((i for i, name in enumerate(names) if name in options), None)
            if hit is None:
                raise InputError(
                    f"header has no {what} column (one of {', '.join(sorted(options))})", path=path, row=rows[0][0]
                )
            return hit

        cols = (find(_START, "start"), find(_END, "end"), find(_LABEL, "phone"))
        kind = names.index("type") if "type" in names else None
        rows = rows[1:]
    phones = []
    for n, cells, spaced in rows:
        if len(cells) < 2 or len(cells) <= max(cols[:2]):
            raise InputError(f"expected start, end and phone, found {len(cells)} fields", path=path, row=n)
        if kind is not None and kind < len(cells) and cells[kind].lower() not in ("phones", "phone"):
            continue  # MFA writes words and phones in one table
        label = cells[cols[2]] if cols[2] < len(cells) else ""
        if spaced and not header and len(cells) > 3:
            label = " ".join(cells[2:])  # a label with spaces in a space-separated file
        p = _phone(cells[cols[0]], cells[cols[1]], label, path, row=n)
        phones.append(Phone(p.start * unit, p.end * unit, p.label))
    return phones


# -- the figure -----------------------------------------------------------------------------------


def _rgb(colour) -> tuple[float, float, float]:
    return tuple(c / 255 for c in colour)


def _runs(labels: list[str]):
    """(first frame, end frame, label) for each run of equal labels."""
    start = 0
    for i in range(1, len(labels) + 1):
        if i == len(labels) or labels[i] != labels[start]:
            yield start, i, labels[start]
            start = i


def plot_take(
    take: Take,
    audio: tuple[np.ndarray, int] | None = None,
    curves=PLOT_CURVES,
    phones: list[Phone] | None = None,
    mappings=(),
    title: str | None = None,
    width: float = 12.0,
):
    """A matplotlib Figure (Agg, no pyplot state) of the take's curves over its waveform."""
    from matplotlib.figure import Figure

    lanes = resolve_curves(take, curves, lambda: arkit_frames(take, mappings))
    labels, intensity = emotion_track(take.meta, len(take))
    has_top = audio is not None or phones is not None
    has_emotion = labels is not None or intensity is not None
    heights = (
        ([1.6 if audio is not None else 0.5] if has_top else []) + ([0.55] if has_emotion else []) + [0.9] * len(lanes)
    )
    fig = Figure(figsize=(width, 0.6 + sum(heights)), dpi=100, layout="constrained")
    axes = fig.subplots(len(heights), 1, sharex=True, gridspec_kw={"height_ratios": heights}, squeeze=False)[:, 0]
    t = np.arange(len(take)) / take.fps
    duration = take.duration
    row = 0
    if has_top:
        ax = axes[row]
        row += 1
        if audio is not None:
            _draw_wave(ax, *audio)
            ax.set_ylabel("audio", rotation=0, ha="right", va="center")
        else:
            ax.set_ylim(0, 1)
            ax.set_ylabel("phones", rotation=0, ha="right", va="center")
        ax.set_yticks([])
        if phones:
            _draw_phones(ax, phones, duration, with_labels=True)
    if has_emotion:
        ax = axes[row]
        row += 1
        ax.set_ylim(0, 1.05)
        ax.set_yticks([])
        ax.set_ylabel("emotion", rotation=0, ha="right", va="center")
        if labels is not None:
            for a, b, label in _runs(labels):
                colour = _rgb(EMOTION_COLOURS.get(label, (170, 170, 170)))
                ax.axvspan(a / take.fps, b / take.fps, color=colour, alpha=0.35, lw=0)
                ax.text((a + b) / 2 / take.fps, 0.5, label, ha="center", va="center", fontsize=8, clip_on=True)
        if intensity is not None:
            ax.plot(t, np.clip(intensity, 0, 1.05), color="0.25", lw=1.2)
    for lane, ax in zip(lanes, axes[row:]):
        lo = min(s.lower for s in lane)
        hi = max(s.upper for s in lane)
        for k, series in enumerate(lane):
            ax.plot(t, series.values, color=_rgb(SERIES[k % len(SERIES)]), lw=1.4, label=series.name)
        ax.set_ylim(lo - 0.04 * (hi - lo), hi + 0.04 * (hi - lo))
        ax.set_yticks([lo, hi])
        ax.tick_params(axis="y", labelsize=7)
        name = lane[0].name if len(lane) == 1 else "\n".join(s.name for s in lane)
        ax.set_ylabel(name, rotation=0, ha="right", va="center", fontsize=8)
        if len(lane) > 1:
            ax.legend(loc="upper right", fontsize=7, frameon=False, ncols=len(lane))
        if phones:
            _draw_phones(ax, phones, duration, with_labels=False)
    for ax in axes:
        ax.set_xlim(0, duration)
        ax.grid(axis="x", color="0.88", lw=0.6)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    axes[-1].set_xlabel("time (s) from the take's first frame")
    source = Path(str(take.meta.get("source", "take"))).name
    fig.suptitle(title or f"{source}: {len(take)} frames at {take.fps:g} fps ({take.space.name})", fontsize=10)
    return fig


def _draw_wave(ax, samples: np.ndarray, rate: int) -> None:
    mono = samples.mean(axis=1)
    n = len(mono)
    bins = min(WAVE_BINS, n)
    edges = np.linspace(0, n, bins + 1).astype(np.int64)
    starts = edges[:-1][edges[1:] > edges[:-1]]
    high = np.maximum.reduceat(mono, starts)
    low = np.minimum.reduceat(mono, starts)
    peak = float(max(np.max(np.abs(mono)), 1e-9))
    times = starts / rate
    ax.fill_between(times, low / peak, high / peak, color=_rgb((70, 130, 180)), lw=0, step="post")
    ax.set_ylim(-1.1, 1.1)


def _draw_phones(ax, phones: list[Phone], duration: float, with_labels: bool) -> None:
    for k, p in enumerate(phones):
        if p.start > duration:
            continue
        silent = p.label.lower() in SILENCE
        ax.axvline(p.start, color="0.55" if with_labels else "0.85", lw=0.6, zorder=0)
        if with_labels and not silent:
            ax.axvspan(p.start, min(p.end, duration), color="0.5", alpha=0.08 if k % 2 else 0.16, lw=0)
            ax.text(
                (p.start + min(p.end, duration)) / 2,
                0.97,
                p.label,
                transform=ax.get_xaxis_transform(),
                ha="center",
                va="top",
                fontsize=7,
                clip_on=True,
            )


def write_plot(
    take: Take,
    out,
    audio_path=None,
    curves=PLOT_CURVES,
    phones_path=None,
    mappings=(),
    title: str | None = None,
) -> None:
    """Render the plot to `out` (.png, .svg or .pdf), written in one rename."""
    out = Path(out)
    fmt = IMAGE_FORMATS.get(out.suffix.lower())
    if fmt is None:
        raise InputError(f"unknown image format {out.suffix or '(none)'!r}; use .png, .svg or .pdf", path=out)
    check_output(out)
    if len(take) == 0:
        raise InputError("the take has no frames")
    audio = None
    if audio_path is not None:
        samples, rate = read_audio(audio_path)
        audio = (fit_audio(samples, rate, take.duration), rate)
    phones = read_phones(phones_path) if phones_path is not None else None
    fig = plot_take(take, audio, curves, phones, mappings, title)
    buffer = io.BytesIO()
    fig.savefig(buffer, format=fmt, dpi=100)
    try:
        atomic_write_bytes(out, buffer.getvalue())
    except PermissionError as e:
        raise InputError(f"cannot write here ({e.strerror})", path=out) from None
