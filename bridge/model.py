"""The contract between the bridge and any face model.

A model turns 16 kHz mono audio into frames of one rig space. It has two calls
that must agree:

- `step(state, samples, controls)`: streaming. Feed any number of new samples;
  get back every frame whose audio (plus the model's lookahead) has now arrived.
  All memory lives in `state`, a plain object from `new_state()`, so several
  subjects share one model and a stream can be inspected or dropped at will.
- `offline(audio, controls)`: the whole file at once.

`flush(state, controls)` ends a stream: the last frames are computed with
silence standing in for the future audio. A model that streams exactly what it
computes offline implements offline as step + flush (the default here).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from retarget.spaces import RigSpace
from training.emotions import EMOTIONS

SAMPLE_RATE = 16_000


@dataclass
class Controls:
    """What the engine tells the model for the next block."""

    emotion: np.ndarray = field(default_factory=lambda: _neutral())  # float32 [8] weights, EMOTIONS order
    intensity: float = 0.5  # 0 = none, 1 = full, above 1 exaggerates
    auto: bool = False  # take the emotion from the speech instead of `emotion`


@dataclass
class ModelOutput:
    times: np.ndarray  # [n] seconds on the audio clock
    frames: np.ndarray  # [n x K] in the model's rig space
    emotion_probs: np.ndarray  # [n x 8]
    intensity: np.ndarray  # [n]
    rest: np.ndarray | None = None  # [n x K]: the face with the same emotion but no speech, if the model knows it

    @classmethod
    def empty(cls, n_curves: int) -> ModelOutput:
        return cls(
            np.zeros(0),
            np.zeros((0, n_curves), np.float32),
            np.zeros((0, len(EMOTIONS)), np.float32),
            np.zeros(0, np.float32),
            np.zeros((0, n_curves), np.float32),
        )

    def __len__(self) -> int:
        return len(self.times)

    @staticmethod
    def concat(parts: list[ModelOutput]) -> ModelOutput:
        rest = None if any(p.rest is None for p in parts) else np.concatenate([p.rest for p in parts])
        return ModelOutput(
            np.concatenate([p.times for p in parts]),
            np.concatenate([p.frames for p in parts]),
            np.concatenate([p.emotion_probs for p in parts]),
            np.concatenate([p.intensity for p in parts]),
            rest,
        )


class FaceModel:
    """Base class: subclasses set `space`, `frame_rate`, `lookahead` and implement the calls."""

    space: RigSpace
    frame_rate: float  # frames per second the model itself produces
    lookahead: float  # seconds of audio after a frame's time the model needs before it emits the frame
    sample_rate: int = SAMPLE_RATE
    name: str = "model"
    mouth_smoothed: bool = False  # jaw/mouth come out smooth: the bridge's smoother leaves them alone

    def new_state(self):
        raise NotImplementedError

    def step(self, state, samples: np.ndarray, controls: Controls) -> ModelOutput:
        raise NotImplementedError

    def flush(self, state, controls: Controls) -> ModelOutput:
        raise NotImplementedError

    def step_batch(self, states: list, blocks: list[np.ndarray], controls: list[Controls]) -> list[ModelOutput]:
        """Several subjects at once. A network on a GPU overrides this with one batched call."""
        return [self.step(s, b, c) for s, b, c in zip(states, blocks, controls)]

    def offline(self, audio: np.ndarray, controls: Controls) -> ModelOutput:
        state = self.new_state()
        return ModelOutput.concat([self.step(state, audio, controls), self.flush(state, controls)])


def _neutral() -> np.ndarray:
    v = np.zeros(len(EMOTIONS), dtype=np.float32)
    v[0] = 1.0
    return v
