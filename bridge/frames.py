"""What flows from the engine to the sinks: one frame of one subject.

A Frame is plain data. Its time comes from the audio clock (the sample position
of the audio that produced it divided by the sample rate), never from the wall
clock, so a file rendered offline and the same file streamed live carry the
same times.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from retarget.spaces import RigSpace
from training.emotions import EMOTIONS


@dataclass
class Frame:
    subject: str
    number: int  # frames since the subject's stream started, from 0
    time: float  # seconds on the audio clock
    fps: float
    space: RigSpace
    values: np.ndarray  # float32 [len(space)], in the space's curve order
    emotion: str = "neutral"
    emotion_probs: np.ndarray = field(default_factory=lambda: _one_hot("neutral"))  # float32 [8], EMOTIONS order
    intensity: float = 0.0

    def __post_init__(self) -> None:
        self.values = np.asarray(self.values, dtype=np.float32)
        self.emotion_probs = np.asarray(self.emotion_probs, dtype=np.float32)
        if self.values.shape != (len(self.space),):
            raise ValueError(f"frame has {self.values.shape} values for {len(self.space)} curves of {self.space.name}")
        if self.emotion_probs.shape != (len(EMOTIONS),):
            raise ValueError("emotion_probs must hold one value per label in training.emotions.EMOTIONS")


def _one_hot(label: str) -> np.ndarray:
    v = np.zeros(len(EMOTIONS), dtype=np.float32)
    v[EMOTIONS.index(label)] = 1.0
    return v
