"""`emorig train`: fit a preset to a manifest (training/train.py). See docs/presets.md.

    emorig train --preset deitalk --data corpus/manifest.jsonl -o runs/deitalk [--rig arkit]
                 [--steps N] [--batch N] [--lr X] [--window FRAMES] [--set FIELD=VALUE ...]
                 [--resume | --init CKPT] [--seed N] [--device cpu|cuda] [--threads N]

Multi-GPU: torchrun --nproc_per_node 4 -m training.train --preset ... (same flags).
"""

from __future__ import annotations

import json
from pathlib import Path

from retarget.argtypes import count as _count
from retarget.argtypes import positive as _positive
from retarget.errors import InputError


def _override(text: str) -> tuple[str, object]:
    """FIELD=VALUE with VALUE as JSON when it parses (numbers, lists, true), else a string."""
    import argparse

    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected FIELD=VALUE, got {text!r}")
    key, value = text.split("=", 1)
    try:
        return key.strip(), json.loads(value)
    except json.JSONDecodeError:
        return key.strip(), value


def _bounded(lo: float, hi: float, what: str):
    """An argparse type: a number from lo to hi, else a one-line error naming `what`."""

    def parse(text: str) -> float:
        import argparse

        try:
            value = float(text)
        except ValueError:
            value = lo - 1.0
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"expected {what} from {lo:g} to {hi:g}, got {text!r}")
        return value

    return parse


_share = _bounded(0.0, 1.0, "a share")
_warp = _bounded(0.0, 0.3, "a warp")
_decay = _bounded(0.0, 0.99999, "a decay")


def _run(args) -> int:
    from training.train import TrainOptions, train

    if args.preset is None and not (args.resume or args.init):
        raise InputError("--preset is required (or --resume an existing run, or --init a checkpoint)")
    if args.resume and args.init:
        raise InputError("--resume continues a run; --init starts a new one from a checkpoint: pick one")
    init = None
    if args.init:
        from training.inference import DEFAULT_MODEL

        init = DEFAULT_MODEL if args.init == "default" else Path(args.init)
    out = train(
        TrainOptions(
            preset=args.preset,
            data=Path(args.data),
            out=Path(args.output),
            rig=args.rig,
            steps=args.steps,
            batch=args.batch,
            lr=args.lr,
            window=args.window,
            val_every=args.val_every,
            val_windows=args.val_windows,
            seed=args.seed,
            device=args.device,
            cache=Path(args.cache),
            overrides=dict(args.set or []),
            resume=args.resume,
            init=init,
            threads=args.threads,
            augment=args.augment,
            jobs=args.jobs,
            recorded_share=args.recorded_share,
            speaker_warp=args.speaker_warp,
            ema=args.ema,
            keep=args.keep,
        )
    )
    print(f"{out}: checkpoint written (use it with --model {out})")
    return 0


PRESET_NAMES = ("deitalk", "emotalk", "deeptalk", "emotalker")  # training/models/<name>.py; torch loads later


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "train",
        help="train a face network (deitalk, emotalk, deeptalk, emotalker) on a manifest",
        description="Train one of the presets on a manifest's train split, validating on its val "
        "split; the output folder is a checkpoint (safetensors + JSON) usable with --model. "
        "Resumable; deterministic for a seed; torchrun for several GPUs. See docs/presets.md.",
    )
    p.add_argument("--preset", choices=PRESET_NAMES, help="network family")
    p.add_argument("--data", required=True, help="manifest (.jsonl) from `emorig data`")
    p.add_argument("-o", "--output", required=True, help="run folder (becomes the checkpoint)")
    p.add_argument(
        "--rig", help="rig space the network outputs (default arkit; with --init or --resume: the checkpoint's)"
    )
    p.add_argument("--steps", type=_count, default=2000, help="optimiser steps per training stage (default 2000)")
    p.add_argument("--batch", type=_count, default=16, help="windows per step (per process; default 16)")
    p.add_argument("--lr", type=_positive, help="learning rate (default: the preset's, from its paper)")
    p.add_argument("--window", type=_count, default=200, help="window length in 10 ms frames (default 200)")
    p.add_argument("--val-every", type=_count, default=250, help="validate and checkpoint every N steps")
    p.add_argument(
        "--val-windows", type=_count, default=64, help="fixed validation windows (2 s each) judged at every validation"
    )
    p.add_argument("--set", type=_override, action="append", metavar="FIELD=VALUE", help="config override")
    p.add_argument("--resume", action="store_true", help="continue the run in --output where it stopped")
    p.add_argument(
        "--init",
        metavar="CKPT",
        help="fine-tune: start from this checkpoint's weights and config ('default': the shipped model); "
        "--set may add parts such as closure_head=true",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", help="cpu, cuda, cuda:1 (default: cuda when available)")
    p.add_argument("--threads", type=_count, help="CPU threads for torch")
    p.add_argument("--cache", default=".cache/features", help="feature cache folder (default .cache/features)")
    p.add_argument(
        "--augment",
        type=int,
        default=0,
        metavar="K",
        help="K augmented copies of every training clip: speed (pitch and vocal tract), room reverb, phone "
        "line or VoIP codec, a real noise floor (hiss, hum, fan, typing); cached (default 0)",
    )
    p.add_argument("--jobs", type=_count, default=1, help="processes that compute the augmented copies (default 1)")
    p.add_argument(
        "--recorded-share",
        type=_share,
        metavar="F",
        help="share of training windows drawn from people's recordings (0-1), the rest from synthetic "
        "voices (default: every clip in proportion to its length)",
    )
    p.add_argument(
        "--speaker-warp",
        type=_warp,
        default=0.0,
        metavar="W",
        help="every training window as a new voice: frequencies scaled by a random 1-W..1+W (vocal tract) "
        "and a random spectral tilt (0-0.3; default 0, off)",
    )
    p.add_argument(
        "--ema",
        type=_decay,
        default=0.0,
        metavar="D",
        help="validate and keep a moving average of the weights, decay D per step (e.g. 0.998: about the "
        "last 500 steps); steadier than any one step's weights (default 0, off)",
    )
    p.add_argument(
        "--keep",
        choices=("best", "last"),
        default="best",
        help="what OUT holds: the weights with the best validation rig error (default), or the last "
        "validated ones (with --ema: the average at the end; rig error hardly tells fine-tuning "
        "checkpoints apart, closures on new voices do)",
    )
    p.set_defaults(func=_run)
