"""A trained network behind the bridge's FaceModel contract (bridge/model.py).

Streaming and offline run the same causal network: a frame t needs log-mel rows up to
t + lookahead (and the 12.5 ms half window of audio after that row's centre), and the past rows
back to t + lookahead - left_context. The state keeps exactly that history, so every block's
forward pass sees the same inputs the whole-file pass does and the two agree (bar float noise).
`step_batch` stacks subjects whose windows have the same length into one forward pass (the GPU path).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from bridge.model import SAMPLE_RATE, Controls, FaceModel, ModelOutput
from retarget.errors import InputError
from retarget.spaces import get_space
from training.checkpoint import load_checkpoint
from training.emotions import EMOTIONS
from training.features import SILENCE_MEL, FeatureParams
from training.models.frontend import LogMel, normalise_mel

DEFAULT_MODEL = Path(__file__).parent / "default_model"  # shipped with the package (docs/model-card.md)
PARAMS = FeatureParams()
HOP = PARAMS.hop_length
WIN = PARAMS.win_length
HALF = WIN // 2


@dataclass
class TorchState:
    pending: np.ndarray = field(default_factory=lambda: np.zeros(HALF, np.float32))  # audio not yet framed
    pending_start: int = -HALF  # absolute sample index of pending[0] (frame 0 is centred on sample 0)
    mel: np.ndarray = field(default_factory=lambda: np.zeros((0, PARAMS.n_mels), np.float32))  # history rows
    mel_start: int = 0  # absolute row index of mel[0]
    next_output: int = 0  # next frame index to emit
    samples_seen: int = 0
    cache: dict | None = None  # a streaming network's own state (net.stream), per subject


@dataclass
class _Job:  # one subject's share of a forward pass
    state: TorchState
    controls: Controls
    new_from: int  # first new mel row (absolute)
    n_new: int


class TorchFaceModel(FaceModel):
    frame_rate = PARAMS.frame_rate

    def __init__(self, net, device: str = "cpu", name: str = "deitalk"):
        if SAMPLE_RATE != PARAMS.sample_rate:
            raise InputError(f"the bridge runs at {SAMPLE_RATE} Hz but features at {PARAMS.sample_rate} Hz")
        self.net = net.to(device).eval()
        self.device = device
        self.name = name
        self.cfg = net.cfg
        self.space = get_space(self.cfg.space)
        # A network with `stream` keeps its own activations (the new rows are all it needs);
        # any other re-runs the last left_context rows every block.
        self.streams = hasattr(net, "stream")
        self.context = 0 if self.streams else self.cfg.left_context
        self._rest: dict[tuple, np.ndarray] = {}
        self.mouth_smoothed = bool(
            getattr(self.cfg, "feature_smoothing", 0) or getattr(self.cfg, "output_smoothing", 0)
        )
        self.la = self.cfg.lookahead
        self.lookahead = (HALF + self.la * HOP) / SAMPLE_RATE
        self.logmel = LogMel(PARAMS)  # on the CPU: a few rows per block

    def new_state(self) -> TorchState:
        return TorchState()

    # -- streaming ------------------------------------------------------------------------------
    def _prepare(self, state: TorchState, samples, controls: Controls) -> _Job:
        """Frame the new audio into log-mel rows (frame i spans [i*HOP - HALF, i*HOP + HALF))."""
        samples = np.asarray(samples, dtype=np.float32).reshape(-1)
        state.samples_seen += len(samples)
        state.pending = np.concatenate([state.pending, samples])
        end = state.pending_start + len(state.pending)
        next_row = state.mel_start + len(state.mel)
        n_new = max(0, (end - HALF) // HOP - next_row + 1)
        if n_new:
            offsets = (next_row + np.arange(n_new)) * HOP - HALF - state.pending_start
            windows = torch.from_numpy(state.pending[offsets[:, None] + np.arange(WIN)])
            with torch.no_grad():
                rows = normalise_mel(self.logmel(windows)).numpy()
            state.mel = np.concatenate([state.mel, rows])
            keep_from = (next_row + n_new) * HOP - HALF - state.pending_start
            state.pending = state.pending[keep_from:]
            state.pending_start += keep_from
        return _Job(state, controls, next_row, n_new)

    def _forward(self, jobs: list[_Job]) -> list[dict | None]:
        """One network pass per group of jobs that can share one (same window length, auto flag,
        and for streaming networks same number of new rows and cache presence)."""
        results: list[dict | None] = [None] * len(jobs)
        groups: dict[tuple, list[int]] = {}
        for i, job in enumerate(jobs):
            if job.n_new:
                size = job.n_new if self.streams else len(job.state.mel)
                groups.setdefault((size, bool(job.controls.auto), job.state.cache is None), []).append(i)
        for (_, auto, fresh), idx in groups.items():
            js = [jobs[i] for i in idx]
            emo = torch.tensor(np.stack([_weights(j.controls) for j in js]), device=self.device)
            inten = torch.tensor([float(j.controls.intensity) for j in js], device=self.device)
            with torch.no_grad():
                if self.streams:
                    mel = torch.from_numpy(np.stack([j.state.mel[-j.n_new :] for j in js])).to(self.device)
                    pos = torch.stack([j.new_from + torch.arange(j.n_new) for j in js]).to(self.device)
                    cache = {} if fresh else {k: torch.cat([j.state.cache[k] for j in js]) for k in js[0].state.cache}
                    out = self.net.stream(mel, emo, inten, pos, cache, auto=auto)
                    for k, j in enumerate(js):
                        j.state.cache = {name: v[k : k + 1] for name, v in cache.items()}
                else:
                    mel = torch.from_numpy(np.stack([j.state.mel for j in js])).to(self.device)
                    pos = torch.stack([j.state.mel_start + torch.arange(len(j.state.mel)) for j in js]).to(self.device)
                    out = self.net(mel, emo, inten, pos, auto=auto)
            for k, (i, j) in enumerate(zip(idx, js)):
                results[i] = {name: v[k, -j.n_new :].float().cpu().numpy() for name, v in out.items()}
        return results

    def rest_face(self, emotion: np.ndarray, intensity: float) -> np.ndarray:
        """The face the network makes for these controls with no speech (its output after a
        second of silence), for the bridge's silence gate. Cached per control setting."""
        key = (tuple(np.round(emotion, 3)), round(float(intensity), 3))
        if key not in self._rest:
            if len(self._rest) > 256:  # a slider swept through many values: start again
                self._rest.clear()
            silence = torch.full((1, 100, PARAMS.n_mels), SILENCE_MEL, device=self.device)
            with torch.no_grad():
                out = self.net.predict(
                    silence,
                    torch.tensor(emotion[None], device=self.device),
                    torch.tensor([float(intensity)], device=self.device),
                    SILENCE_MEL,
                )
            self._rest[key] = self.space.clip(out["rig"][0, -1].float().cpu().numpy()).astype(np.float32)
        return self._rest[key]

    def _emit(self, job: _Job, out: dict | None) -> ModelOutput:
        state, controls = job.state, job.controls
        # Drop history the next block cannot need (the first rows of a stream stay until then).
        drop = max(0, len(state.mel) - self.context)
        state.mel, state.mel_start = state.mel[drop:], state.mel_start + drop
        if out is None:
            return ModelOutput.empty(len(self.space))
        frames_idx = job.new_from + np.arange(job.n_new) - self.la  # output row p is frame p - lookahead
        keep = frames_idx >= state.next_output
        if not keep.any():
            return ModelOutput.empty(len(self.space))
        idx = frames_idx[keep]
        state.next_output = int(idx[-1]) + 1
        rig = self.space.clip(out["rig"][keep]).astype(np.float32)
        if controls.auto:
            logits = out["emotion_logits"][keep]
            e = np.exp(logits - logits.max(1, keepdims=True))
            probs = (e / e.sum(1, keepdims=True)).astype(np.float32)
        else:
            probs = np.tile(_weights(controls), (len(idx), 1))
        # Dynamic intensity (Sec. 3.3): the user's level, modulated by the frame's emotional saliency.
        # ("saliency" is optional in the preset contract: without it the level is the user's.)
        saliency = np.clip(out["saliency"][keep], 0, 1) if "saliency" in out else np.ones(len(idx))
        intensity = (float(controls.intensity) * saliency).astype(np.float32)
        # Auto: the rest face of the block's dominant emotion (a handful of cached faces, not one per block).
        label = np.eye(len(EMOTIONS), dtype=np.float32)[probs.mean(0).argmax()] if controls.auto else _weights(controls)
        rest = np.tile(self.rest_face(label, controls.intensity), (len(idx), 1))
        return ModelOutput(idx / self.frame_rate, rig, probs, intensity, rest)

    def step(self, state: TorchState, samples, controls: Controls) -> ModelOutput:
        job = self._prepare(state, samples, controls)
        return self._emit(job, self._forward([job])[0])

    def step_batch(self, states, blocks, controls) -> list[ModelOutput]:
        jobs = [self._prepare(s, b, c) for s, b, c in zip(states, blocks, controls)]
        return [self._emit(j, o) for j, o in zip(jobs, self._forward(jobs))]

    def offline(self, audio, controls: Controls) -> ModelOutput:
        """The whole file in one forward pass: the audio and flush's silence together, so a short
        line pays the network's per-call cost once, not twice (half a 3 s line's compute)."""
        audio = np.asarray(audio, dtype=np.float32).reshape(-1)
        state = self.new_state()
        end_frame = (len(audio) - 1) // HOP if len(audio) else -1
        out = self.step(state, np.concatenate([audio, np.zeros(HALF + (self.la + 1) * HOP, np.float32)]), controls)
        keep = out.times <= end_frame / self.frame_rate + 1e-9
        rest = None if out.rest is None else out.rest[keep]
        return ModelOutput(out.times[keep], out.frames[keep], out.emotion_probs[keep], out.intensity[keep], rest)

    def flush(self, state: TorchState, controls: Controls) -> ModelOutput:
        # Silence stands in for the future; frames past the end of the audio are not emitted.
        total = state.samples_seen
        end_frame = (total - 1) // HOP if total else -1
        out = self.step(state, np.zeros(HALF + (self.la + 1) * HOP, np.float32), controls)
        state.samples_seen = total
        keep = out.times <= end_frame / self.frame_rate + 1e-9
        rest = None if out.rest is None else out.rest[keep]
        return ModelOutput(out.times[keep], out.frames[keep], out.emotion_probs[keep], out.intensity[keep], rest)


def _weights(controls: Controls) -> np.ndarray:
    w = np.asarray(controls.emotion, np.float32).reshape(-1)
    if w.shape != (len(EMOTIONS),) or not np.all(np.isfinite(w)) or w.sum() <= 0:
        raise InputError(f"emotion must be {len(EMOTIONS)} non-negative weights, got {w.tolist()}")
    return w / w.sum()


def load_face_model(path, device: str = "cpu") -> TorchFaceModel:
    """The bridge's hook (bridge/runtime.py): a checkpoint folder -> a FaceModel on `device`."""
    net, doc = load_checkpoint(path, device)
    return TorchFaceModel(net, device, name=str(doc.get("preset", "model")))
