"""The output frame clock: model frames at the model's rate in, frames at 30/60 fps out.

Output frame k is the face at audio-clock time k / fps, linearly interpolated
between the two model frames around it. A frame is emitted as soon as the model
frame after its time exists, so the clock adds no latency beyond one model frame.
The state is the last model frame seen and the next frame number to emit.
"""

from __future__ import annotations

import numpy as np


class FrameClock:
    def __init__(self, fps: float):
        if fps <= 0:
            raise ValueError("fps must be positive")
        self.fps = fps
        self.next_frame = 0
        self.last_time: float | None = None
        self.last_values: np.ndarray | None = None

    def __call__(self, times: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Model frames (times [n], values [n x C]) -> (frame numbers, times, interpolated values)."""
        if len(times) == 0:
            return np.zeros(0, int), np.zeros(0), np.zeros((0, values.shape[1]))
        if self.last_time is not None:
            times = np.concatenate([[self.last_time], times])
            values = np.concatenate([self.last_values[None], values])
        last = times[-1]
        k_end = int(np.floor(last * self.fps + 1e-9))  # last frame whose time is covered
        numbers = np.arange(self.next_frame, k_end + 1)
        out_t = numbers / self.fps
        # Linear interpolation of every column at once, between the model frames around each
        # output time (np.interp per column costs a call per curve per block).
        if len(times) == 1:  # the very first model frame: nothing to interpolate with yet
            out_v = np.repeat(values, len(numbers), axis=0)
        else:
            right = np.clip(np.searchsorted(times, out_t, side="left"), 1, len(times) - 1)
            left = right - 1
            span = times[right] - times[left]
            w = np.divide(out_t - times[left], span, out=np.zeros_like(out_t), where=span > 0)
            w = np.clip(w, 0.0, 1.0)[:, None]
            out_v = values[left] * (1 - w) + values[right] * w
        self.next_frame = k_end + 1
        self.last_time, self.last_values = float(times[-1]), values[-1].copy()
        return numbers, out_t, out_v
