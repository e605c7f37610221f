"""Live controls of one subject: what the control channel writes and the engine reads.

The control server thread calls `update`; the engine takes a `snapshot` once per
block. A lock guards the few fields; nothing else is shared between threads.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field, replace

import numpy as np

from training.emotions import EMOTIONS, emotion_index

MAX_INTENSITY = 2.0  # above 1 exaggerates; beyond 2 faces break
MAX_TRANSITION = 10.0


@dataclass
class ControlValues:
    emotion: str = "neutral"  # a label from EMOTIONS, or "auto"
    intensity: float = 0.6
    transition: float = 0.4  # seconds to blend from one emotion to the next
    mute: bool = False


@dataclass
class ControlState:
    values: ControlValues = field(default_factory=ControlValues)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def update(self, **changes) -> None:
        """Validate and apply; raises ValueError with a readable reason (nothing applied then)."""
        clean = {}
        for key, value in changes.items():
            if key == "emotion":
                if not isinstance(value, str):
                    raise ValueError("emotion must be a string")
                clean[key] = "auto" if value.strip().lower() == "auto" else EMOTIONS[emotion_index(value)]
            elif key in ("intensity", "transition"):
                if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                    raise ValueError(f"{key} must be a finite number")
                top = MAX_INTENSITY if key == "intensity" else MAX_TRANSITION
                if not 0 <= value <= top:
                    raise ValueError(f"{key} must be between 0 and {top:g}")
                clean[key] = float(value)
            elif key == "mute":
                if isinstance(value, (bool, int)) and value in (0, 1):
                    clean[key] = bool(value)
                else:
                    raise ValueError("mute must be true/false or 0/1")
            else:
                raise ValueError(f"unknown control {key!r}")
        with self._lock:
            self.values = replace(self.values, **clean)

    def snapshot(self) -> ControlValues:
        with self._lock:
            return replace(self.values)


class EmotionBlender:
    """Moves the emotion weights toward the requested label over the transition time,
    counted on the audio clock so offline and live renders blend alike."""

    def __init__(self, label: str = "neutral"):
        self.weights = np.zeros(len(EMOTIONS), np.float32)
        self.weights[emotion_index(label)] = 1.0

    def advance(self, label: str, transition: float, seconds: float) -> np.ndarray:
        target = np.zeros_like(self.weights)
        target[emotion_index(label)] = 1.0
        if transition <= 0:
            self.weights = target
        else:
            # Exponential approach: 95% of the way after `transition` seconds.
            k = 1 - math.exp(-3.0 * seconds / transition)
            self.weights = self.weights + k * (target - self.weights)
        return self.weights.copy()
