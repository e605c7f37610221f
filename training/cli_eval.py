"""`emorig eval`: a checkpoint's metrics on a manifest split, as report.md + metrics.json + PNGs.

    emorig eval --model runs/mine --data corpus/manifest.jsonl [--split test] [-o eval-mine]
                [--flame generic_model.pkl [--flame-masks masks.npz]] [--mapping FILE ...]
                [--plots N] [--cache .cache/features] [--device cpu|cuda] [--threads N]
    emorig eval --shipped [--model M] --data corpus/manifest.jsonl|speech.wav [--split test]
                [--animate-option=--no-smoothing ...] [-o eval-shipped]

--shipped measures lip sync as a user meets it (training/lipcheck.py): each clip through
`emorig animate`'s defaults, per language.

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


def _shipped_items(args):
    """(language, audio, phones) for --shipped: a manifest's split, or one audio file beside its
    `<stem>.phones.tsv` (as examples/speech.wav)."""
    from training.evaluate import read_clip_phones

    data = Path(args.data)
    if data.suffix.lower() != ".jsonl":
        phones = data.with_name(data.stem + ".phones.tsv")
        if not data.is_file():
            raise InputError("no such file", path=data)
        if not phones.is_file():
            raise InputError(
                f"--shipped on one audio file needs its phone timings beside it ({phones.name})", path=data
            )
        return [(args.language or "?", data, read_clip_phones(phones))]
    from training.manifest import read_manifest

    root = data.parent
    chosen = [e for e in read_manifest(data) if e.split == args.split and e.phones]
    if args.language:
        chosen = [e for e in chosen if e.language == args.language]
    if not chosen:
        raise InputError(f"no clips with phone timings in the {args.split!r} split", path=data)
    return [(e.language, root / e.audio, read_clip_phones(root / e.phones)) for e in chosen]


def _run_shipped(args) -> int:
    import json

    from training.lipcheck import ShippedRenderer, measure, plot_lag, report_table

    items = _shipped_items(args)
    options = ["--model", args.model or "default", *args.animate_option]
    if args.device:
        options += ["--device", args.device]
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    renderer = ShippedRenderer(options)
    out = Path(args.output or "eval-shipped")
    if out.exists() and not out.is_dir():
        raise InputError("exists and is not a folder", path=out)
    tallies = measure(items, renderer, progress=True)
    results = {lang: t.rates(renderer.fps) for lang, t in tallies.items()}
    table = report_table(results)
    command = "emorig animate AUDIO -o take.csv " + " ".join(options)
    out.mkdir(parents=True, exist_ok=True)
    doc = {"data": str(args.data), "split": args.split, "animate": command, "results": results}
    for name, text in (
        ("metrics.json", json.dumps(doc, indent=2)),
        (
            "report.md",
            f"# Lip sync as shipped\n\n`{command}` on {args.data} ({args.split}):\n\n{table}\n\n![lag](lag.png)\n",
        ),
    ):
        tmp = out / (name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(out / name)
    fig = plot_lag(tallies, renderer.fps)
    fig.savefig(out / "lag.png.tmp", format="png", dpi=100)
    (out / "lag.png.tmp").replace(out / "lag.png")
    print(table)
    print(f"{out}: report.md, metrics.json, lag.png")
    return 0


def _run(args) -> int:
    if args.shipped:
        return _run_shipped(args)
    if not args.model:
        raise InputError("--model is required (a checkpoint folder, or `default`)")
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
    p.add_argument(
        "--model", help="checkpoint folder (from `emorig train`), or `default` (with --shipped: the default)"
    )
    p.add_argument(
        "--data", required=True, help="manifest (.jsonl) from `emorig data`; with --shipped also one audio file"
    )
    p.add_argument(
        "--shipped",
        action="store_true",
        help="lip sync as a user meets it: every clip through `emorig animate`'s defaults, checked on its phone "
        "timings per language (closures, open vowels, rounding, quiet pauses, lag)",
    )
    p.add_argument(
        "--animate-option",
        action="append",
        default=[],
        metavar="FLAG",
        help="with --shipped: an `emorig animate` flag to measure with (e.g. --animate-option=--no-smoothing)",
    )
    p.add_argument("--language", help="with --shipped: only clips of this language")
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
