"""`emorig eval`: a checkpoint's metrics on a manifest split, as report.md + metrics.json + PNGs.

    emorig eval --model runs/mine --data corpus/manifest.jsonl [--split test] [-o eval-mine]
                [--flame generic_model.pkl [--flame-masks masks.npz]] [--mapping FILE ...]
                [--plots N] [--cache .cache/features] [--device cpu|cuda] [--threads N]

The maths lives in training/evaluate.py; the metrics are defined in docs/evaluation.md.
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

from retarget.argtypes import count as _count
from retarget.errors import InputError

SPLITS = ("train", "val", "test")  # training/manifest.py (not imported here: the CLI starts fast)


def _model_folder(text: str) -> Path:
    if text == "default":
        from training.inference import DEFAULT_MODEL

        return DEFAULT_MODEL
    return Path(text)


def _run(args) -> int:
    from retarget.mappings import load_mapping
    from retarget.spaces import get_space
    from training.checkpoint import load_checkpoint, read_config
    from training.dataset import load_clips
    from training.evaluate import (
        flame_regions,
        motion_features,
        predict_clips,
        report_inputs,
        score,
        write_report,
    )
    from training.features import FeatureCache
    from training.manifest import read_manifest

    if args.flame_masks and not args.flame:
        raise InputError("--flame-masks needs --flame MODEL (the FLAME model file the masks index)")
    model_path = _model_folder(args.model)
    entries = read_manifest(args.data)
    chosen = [e for e in entries if e.split == args.split]
    if not chosen:
        have = Counter(e.split for e in entries)
        held = ", ".join(f"{s} {have[s]}" for s in SPLITS if have[s])
        raise InputError(
            f"no clips in the {args.split!r} split (the manifest has {held}); pick one with --split", path=args.data
        )
    read_config(model_path)  # a folder that is not a checkpoint fails here, before torch loads
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    device = args.device or "cpu"
    net, doc = load_checkpoint(model_path, device=device)
    space = get_space(net.cfg.space)

    flame = regions = None
    if args.flame:
        from retarget.flame import load_flame_model

        if not space.name.startswith("flame"):
            raise InputError(f"--flame needs a network with a FLAME rig; {model_path} outputs {space.name!r}")
        flame = load_flame_model(args.flame)
        regions = flame_regions(flame, args.flame_masks)
    mappings = [load_mapping(p) for p in args.mapping]

    name = Path(model_path).resolve().name or "model"
    out = Path(args.output) if args.output else Path(f"eval-{name}")
    if out.exists() and not out.is_dir():
        raise InputError("exists and is not a folder", path=out)

    tty = sys.stderr.isatty()
    clips = load_clips(chosen, FeatureCache(args.cache), space.name, progress=tty, desc=f"{args.split} clips")
    results = predict_clips(net, clips, device=device, progress=True)
    features, features_name = motion_features(net, device)
    scored = score(
        results, space, features=features, features_name=features_name, flame=flame, regions=regions, mappings=mappings
    )
    try:  # only now: bad input leaves no empty folder behind
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InputError(f"cannot make the report folder ({e.strerror or e})", path=out) from None
    model, data = report_inputs(model_path, net, doc, args.data, args.split, clips)
    write_report(out, scored, results, model, data, plots=args.plots)

    m = scored["metrics"]

    def fmt(key):
        v = m.get(key)
        return "–" if v is None else f"{v:.4g}"

    print(f"{out}: {len(clips)} {args.split} clips, report.md + metrics.json")
    print(f"  lip error {fmt('lip_error')}, emotion error {fmt('emotion_error')}, MAE {fmt('mae')}, FFD {fmt('ffd')}")
    if m.get("lve_mm") is not None:
        print(f"  LVE {fmt('lve_mm')} mm, EVE {fmt('eve_mm')} mm")
    checks = [
        (k, m[k])
        for k in ("bilabial_closed", "open_vowel_jaw", "rounded_lips", "silence_still")
        if m.get(k) is not None
    ]
    if checks:
        print("  phonetics: " + ", ".join(f"{k} {100 * v:.0f}%" for k, v in checks))
    acc = [(k, m.get(k)) for k in ("auto_emotion_accuracy", "centroid_emotion_accuracy")]
    print("  emotion: " + ", ".join(f"{k} {'–' if v is None else f'{100 * v:.0f}%'}" for k, v in acc))
    for note in scored["notes"]:
        print(f"  note: {note}")
    return 0


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "eval",
        help="measure a trained network on a manifest split: report.md, metrics.json and plots",
        description="Animate every clip of a manifest split with a checkpoint and compare with the clips' "
        "curves: DEITalk's lip/emotion parameter errors, per-region error, LVE/EVE on FLAME, FFD, "
        "emotion diversity, phonetic checks (closed lips on P B M, open jaw, rounding, still pauses), "
        "jitter and emotion recognisability. See docs/evaluation.md.",
    )
    p.add_argument("--model", required=True, help="checkpoint folder (from `emorig train`), or `default`")
    p.add_argument("--data", required=True, help="manifest (.jsonl) from `emorig data`")
    p.add_argument("--split", choices=SPLITS, default="test", help="which clips (default test)")
    p.add_argument("-o", "--output", help="report folder (default eval-<model folder name>)")
    p.add_argument("--flame", metavar="MODEL", help="FLAME model file (generic_model.pkl or .npz): adds LVE/EVE")
    p.add_argument(
        "--flame-masks",
        metavar="NPZ",
        help="vertex index arrays `lips`, `eye_region`, `forehead` (as FLAME_masks.pkl); default: from the jaw",
    )
    p.add_argument(
        "--mapping",
        action="append",
        default=[],
        metavar="FILE",
        help="mapping JSON to ARKit for the phonetic checks (FLAME rigs need one); repeatable",
    )
    p.add_argument("--plots", type=_count, default=3, help="clips to plot curve by curve (default 3)")
    p.add_argument("--cache", default=".cache/features", help="feature cache folder (default .cache/features)")
    p.add_argument("--device", help="cpu, cuda, cuda:1 (default cpu)")
    p.add_argument("--threads", type=_count, help="CPU threads for torch")
    p.set_defaults(func=_run)
