"""Frames at one rate (or at arbitrary times) -> frames at the scene's rate, by linear interpolation.

Blender scenes run at 24, 25, 30 ... fps while emorig's takes are usually 60 fps:
dropping frames would alias fast mouth motion, so every scene frame is interpolated
from the two take frames around its time.
"""

from __future__ import annotations

import bisect


def resample_times(times: list[float], rows: list[list[float]], fps: float) -> list[list[float]]:
    """Rows sampled at increasing `times` (seconds) -> rows at 0, 1/fps, 2/fps ... from times[0]
    up to the last time; a gap (dropped live frames) is bridged linearly."""
    if not rows:
        return []
    if len(rows) != len(times):
        raise ValueError(f"{len(rows)} rows but {len(times)} times")
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    t0, span = times[0], times[-1] - times[0]
    count = int(span * fps + 1e-6) + 1
    out = []
    for k in range(count):
        t = t0 + k / fps
        j = bisect.bisect_right(times, t)
        if j >= len(times):
            out.append(list(rows[-1]))
            continue
        if j == 0:
            out.append(list(rows[0]))
            continue
        a, b = times[j - 1], times[j]
        w = 0.0 if b <= a else (t - a) / (b - a)
        out.append([x + (y - x) * w for x, y in zip(rows[j - 1], rows[j])])
    return out


def resample(rows: list[list[float]], fps_in: float, fps_out: float) -> list[list[float]]:
    """Evenly spaced rows at `fps_in` -> rows at `fps_out`."""
    return resample_times([i / fps_in for i in range(len(rows))], rows, fps_out)
