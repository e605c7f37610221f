"""Training loop skeleton for DEITalk: manifest -> sliding windows -> Adam -> checkpoint folder.

Deliberately small. Paper settings (Sec. 4.1): Adam, batch 32, lr 1e-4, windows of 128 frames with a
stride of 5 (at the paper's 30 fps; here frames are 10 ms, so `window`/`stride` are arguments).
Targets are the clip's motion resampled to 100 fps, or the procedural teacher (training/teacher.py)
for audio-only clips with phone alignments. Not yet: validation split, augmentation, LR schedule,
resuming, multi-rig batches, a feature-cache warm-up pass.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass

import numpy as np
import torch

from retarget.errors import InputError
from training.checkpoint import save_checkpoint
from training.emotions import EMOTIONS, emotion_index
from training.features import FeatureParams
from training.models import DEITalk, DEITalkConfig
from training.models.frontend import normalise_mel

PARAMS = FeatureParams()
SILENCE_MEL = (np.log(PARAMS.log_floor) + 5.0) / 5.0  # normalise_mel of digital silence


@dataclass
class Window:
    mel: np.ndarray  # [T x 80] normalised log-mel
    target: np.ndarray  # [T x K]
    emotion: np.ndarray  # [8] label (one-hot or soft)
    intensity: float


def clip_windows(mel, target, emotion, intensity, window: int, stride: int) -> list[Window]:
    """Cut one clip into overlapping windows (DEITalk Sec. 3.2: "large overlap sliding windows")."""
    n = min(len(mel), len(target))
    starts = range(0, max(1, n - window + 1), stride)
    return [Window(mel[s : s + window], target[s : s + window], emotion, intensity) for s in starts if s + window <= n]


def entry_windows(entry, cache, window: int, stride: int) -> list[Window]:
    """A manifest entry -> windows (motion resampled to the 100 fps frame grid, or teacher targets)."""
    from retarget.takes import read_take
    from training.teacher import animate_phones, read_phones

    mel = normalise_mel(torch.from_numpy(cache.get(entry.audio)["logmel"])).numpy()
    n = len(mel)
    if entry.motion is not None:
        take = read_take(entry.motion, entry.space, entry.fps)
        t_src = np.arange(len(take.frames)) / take.fps
        t = np.arange(n) / PARAMS.frame_rate
        target = np.stack([np.interp(t, t_src, c) for c in take.frames.T], 1).astype(np.float32)
    elif entry.phones is not None:
        target = animate_phones(
            read_phones(entry.phones),
            fps=PARAMS.frame_rate,
            duration=n / PARAMS.frame_rate,
            emotion=entry.emotion or "neutral",
            intensity=entry.intensity if entry.intensity is not None else 0.6,
        )[:n]
    else:
        raise InputError("no motion and no phones: nothing to learn from", path=entry.audio)
    emotion = np.zeros(len(EMOTIONS), np.float32)
    emotion[emotion_index(entry.emotion or "neutral")] = 1
    intensity = entry.intensity if entry.intensity is not None else 0.6
    return clip_windows(mel, target, emotion, intensity, window, stride)


def fit(net: DEITalk, windows: list[Window], steps: int, batch: int = 32, lr: float = 1e-4, device="cpu", seed=0):
    """Adam on random batches of windows (Sec. 4.1 defaults); returns the loss history."""
    rng = np.random.default_rng(seed)
    net.to(device).train()
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    history = []
    for step in range(steps):
        pick = [windows[i] for i in rng.choice(len(windows), size=min(batch, len(windows)), replace=False)]

        def stack(name, pick=pick):
            return torch.tensor(np.stack([getattr(w, name) for w in pick]), dtype=torch.float32, device=device)

        loss, parts = net.loss(stack("mel"), stack("target"), stack("emotion"), stack("intensity"), SILENCE_MEL)
        opt.zero_grad()
        loss.backward()
        opt.step()
        history.append({"step": step, "loss": loss.item(), **{k: v.item() for k, v in parts.items()}})
    return history


def main(argv=None) -> int:
    from training.features import FeatureCache
    from training.manifest import read_manifest

    ap = argparse.ArgumentParser(prog="python -m training.train", description=__doc__.splitlines()[0])
    ap.add_argument("manifest")
    ap.add_argument("-o", "--output", required=True, help="checkpoint folder to write")
    ap.add_argument("--cache", default=".cache/features")
    ap.add_argument("--space", default="arkit")
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--window", type=int, default=128)
    ap.add_argument("--stride", type=int, default=5)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = ap.parse_args(argv)
    try:
        cache = FeatureCache(args.cache)
        entries = [e for e in read_manifest(args.manifest) if e.split == "train" and e.space == args.space]
        windows = [w for e in entries for w in entry_windows(e, cache, args.window, args.stride)]
        if not windows:
            raise InputError(f"no training windows for rig space {args.space!r}", path=args.manifest)
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    net = DEITalk(DEITalkConfig(space=args.space))
    history = fit(net, windows, args.steps, device=args.device)
    save_checkpoint(args.output, net, "deitalk", training={"steps": args.steps, "final": history[-1]})
    return 0


if __name__ == "__main__":
    sys.exit(main())
