"""A small reader for emorig's CSV takes, for a Blender whose Python cannot import emorig.

It reads the two layouts emorig writes: a Live Link Face take (`Timecode,
BlendShapeCount,<61 curves>`) and a generic take (`Timecode,<curves>`, or `time` in
seconds). emorig's own reader (retarget/takes.py) is used instead wherever it imports;
tests/test_blender_core.py checks that both read the same golden files alike.
"""

from __future__ import annotations

import csv
import math
import re
import statistics
from dataclasses import dataclass, field

TIMECODE = re.compile(r"^(\d{1,2}):(\d{2}):(\d{2})[:;](\d{1,3})(?:\.(\d+))?$")
TIMECODE_RATES = (24, 25, 30, 48, 50, 60, 72, 90, 100, 120, 240)
LIVE_LINK_FACE_FPS = 60.0


class TakeError(ValueError):
    """A take file that cannot be read; the message is one line naming the file."""


@dataclass
class PlainTake:
    """A take as plain Python data: `rows[frame][curve]` in `curves` order."""

    curves: list[str]
    fps: float
    rows: list[list[float]]
    space: str | None = None  # the rig space, when known (emorig's reader knows it)
    source: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def times(self) -> list[float]:
        return [i / self.fps for i in range(len(self.rows))]


def _timecode_seconds(cell: str, where: str) -> tuple[int, float]:
    m = TIMECODE.match(cell.strip())
    if not m:
        raise TakeError(f"{where}: timecode {cell!r} is not HH:MM:SS:FF.fff")
    h, mi, s, f, frac = m.groups()
    return int(h) * 3600 + int(mi) * 60 + int(s), int(f) + float("0." + (frac or "0"))


def _snap_rate(times: list[float]) -> float:
    steps = [b - a for a, b in zip(times, times[1:]) if b > a]
    if not steps:
        return LIVE_LINK_FACE_FPS
    raw = 1.0 / statistics.median(steps)
    near = min(TIMECODE_RATES, key=lambda r: abs(r - raw))
    # Capture clocks jitter by a little; anything further off is a rate of its own.
    return float(near) if abs(near - raw) < 0.02 * near else round(raw, 3)


def read_csv_take(path: str) -> PlainTake:
    try:
        with open(path, encoding="utf-8-sig", newline="") as f:
            rows = [r for r in csv.reader(f) if any(c.strip() for c in r)]
    except FileNotFoundError:
        raise TakeError(f"{path}: file not found") from None
    except UnicodeDecodeError:
        raise TakeError(f"{path}: not a text CSV file") from None
    if len(rows) < 2:
        raise TakeError(f"{path}: no frames (a header and at least one row are needed)")
    header = [h.strip() for h in rows[0]]
    lower = [h.lower() for h in header]
    if "timecode" in lower:
        time_col = lower.index("timecode")
    elif "time" in lower:
        time_col = lower.index("time")
    else:
        raise TakeError(f"{path}: row 1: missing column 'Timecode' (or 'time' in seconds)")
    curve_cols = [i for i, h in enumerate(lower) if i != time_col and h not in ("blendshapecount", "frame")]
    data, stamps = [], []
    for number, row in enumerate(rows[1:], start=2):
        where = f"{path}: row {number}"
        if len(row) != len(header):
            raise TakeError(f"{where}: expected {len(header)} cells, found {len(row)}")
        try:
            values = [float(row[i]) for i in curve_cols]
        except ValueError:
            raise TakeError(f"{where}: a curve value is not a number") from None
        if not all(math.isfinite(v) for v in values):
            raise TakeError(f"{where}: a curve value is not finite")
        data.append(values)
        if lower[time_col] == "timecode":
            stamps.append(_timecode_seconds(row[time_col], where))
        else:
            try:
                stamps.append((float(row[time_col]), 0.0))
            except ValueError:
                raise TakeError(f"{where}: time {row[time_col]!r} is not a number of seconds") from None
    if lower[time_col] == "timecode":
        # The timecode's own rate is the smallest standard rate above every frame number in it.
        top = max(int(f) for _, f in stamps)
        rate = next((r for r in TIMECODE_RATES if r > top), top + 1)
        if len({s for s, _ in stamps}) < 2 and top < LIVE_LINK_FACE_FPS:
            rate = LIVE_LINK_FACE_FPS  # under a second cannot show the rate: Live Link Face's default
        times = [s + f / rate for s, f in stamps]
    else:
        times = [s for s, _ in stamps]
    fps = LIVE_LINK_FACE_FPS if len(data) < 2 else _snap_rate(times)
    return PlainTake([header[i] for i in curve_cols], fps, data, source=str(path))
