"""`emorig data`: training data in and checked.

    emorig data import SOURCE... -o manifest.jsonl [--kind auto|livelinkface|folder|beat]
                       [--space SPACE] [--fps F] [--speaker NAME] [--language xx]
                       [--seed N] [--val 0.05] [--test 0.05]
    emorig data check manifest.jsonl

`emorig data synth` and `emorig data align` join these when training/cli_corpus.py is there.
See docs/data-import.md. Nothing heavy is imported until a command runs.
"""

from __future__ import annotations

import importlib
from collections import Counter

from retarget.argtypes import fraction_below_one as _fraction
from retarget.argtypes import positive as _positive

CORPUS_MODULE = "training.cli_corpus"


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min"


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def summary_lines(entries, seconds: dict[str, float], splits=("train", "val", "test")) -> list[str]:
    """What a manifest holds, in a few lines for a person."""
    total = sum(seconds.get(e.clip_id, 0.0) for e in entries)
    with_motion = sum(e.motion is not None for e in entries)
    speakers = {e.speaker for e in entries}
    lines = [
        f"{_count(len(entries), 'clip')} ({with_motion} with curves, {len(entries) - with_motion} audio only), "
        f"{_count(len(speakers), 'speaker')}, {_minutes(total)} of audio"
    ]
    for split in splits:
        mine = [e for e in entries if e.split == split]
        lines.append(
            f"  {split}: {_count(len(mine), 'clip')}, {_count(len({e.speaker for e in mine}), 'speaker')}, "
            f"{_minutes(sum(seconds.get(e.clip_id, 0.0) for e in mine))}"
        )
    emotions = Counter(e.emotion or "none" for e in entries)
    lines.append("  emotions: " + ", ".join(f"{k} {n}" for k, n in sorted(emotions.items(), key=lambda kv: -kv[1])))
    spaces = Counter(f"{e.space} at {e.fps:g} fps" for e in entries)
    lines.append("  rig spaces: " + ", ".join(f"{k} ({n})" for k, n in spaces.most_common()))
    if len(speakers) == 1:
        lines.append(
            f"  note: one speaker ({next(iter(speakers))}): every clip goes to train; "
            "val and test need other voices (a speaker is never in two splits)"
        )
    else:
        empty = [s for s in splits[1:] if not any(e.split == s for e in entries)]
        if empty:
            lines.append(f"  note: no {' or '.join(empty)} speakers with only {len(speakers)} speakers")
    return lines


def _import(args) -> int:
    from training.manifest import write_manifest
    from training.readers import ImportOptions, import_sources

    options = ImportOptions(
        kind=args.kind,
        space=args.space,
        fps=args.fps,
        speaker=args.speaker,
        language=args.language,
        seed=args.seed,
        val=args.val,
        test=args.test,
    )
    result = import_sources(args.sources, options, progress=True)
    write_manifest(result.entries, args.output)
    lines = summary_lines(result.entries, result.seconds)
    print(f"{args.output}: {lines[0]}")
    for line in lines[1:] + [f"  note: {n}" for n in result.notes]:
        print(line)
    return 0


def _check(args) -> int:
    import sys

    from tqdm import tqdm

    from training.manifest import read_manifest
    from training.readers import audio_seconds

    entries = read_manifest(args.manifest)
    seconds = {}
    for e in tqdm(entries, desc="checking", unit="clip", file=sys.stderr, disable=None):
        seconds[e.clip_id] = audio_seconds(e.audio) or 0.0
    lines = summary_lines(entries, seconds)
    print(f"{args.manifest}: {lines[0]}")
    for line in lines[1:]:
        print(line)
    return 0


def add_parser(subparsers) -> None:
    data = subparsers.add_parser(
        "data", help="training data: import captures, synthesise and align a speech corpus, check a manifest"
    )
    actions = data.add_subparsers(dest="data_command", required=True, metavar="ACTION")

    p = actions.add_parser(
        "import",
        help="write a manifest from Live Link Face takes, folders of audio + curves, BEAT, RAVDESS, CREMA-D, MEAD",
        description="Find clips (audio, with curves where there are some) under the sources, read every "
        "curve file, take labels from dataset naming conventions, split by speaker, and write a JSONL "
        "manifest. See docs/data-import.md.",
    )
    p.add_argument("sources", nargs="+", metavar="SOURCE", help="folders (searched recursively) or single files")
    p.add_argument("-o", "--output", required=True, help="manifest to write (.jsonl)")
    p.add_argument(
        "--kind",
        choices=("auto", "livelinkface", "folder", "beat"),
        default="auto",
        help="layout of the sources (default: decided per folder)",
    )
    p.add_argument(
        "--space",
        help="rig space of the curves (default: from their names); needed for .npy; also the space "
        "audio-only clips are to be animated in (default arkit)",
    )
    p.add_argument(
        "--fps",
        type=_positive,
        help="frame rate of curve files that do not say (.npy); also of audio-only clips (default 60)",
    )
    p.add_argument("--speaker", help="one speaker for every clip (default: from names, take.json or folders)")
    p.add_argument("--language", help="language of the speech, e.g. en or pt-BR (default: from names, else none)")
    p.add_argument("--seed", type=int, default=0, help="seed of the speaker split (default 0)")
    p.add_argument("--val", type=_fraction, default=0.05, help="share of speakers for validation (default 0.05)")
    p.add_argument("--test", type=_fraction, default=0.05, help="share of speakers for testing (default 0.05)")
    p.set_defaults(func=_import)

    p = actions.add_parser("check", help="validate a manifest and summarise it")
    p.add_argument("manifest", help="manifest to check (.jsonl)")
    p.set_defaults(func=_check)

    # Part of `emorig data` lives in the corpus tools (synth, align); absent until they exist.
    try:
        corpus = importlib.import_module(CORPUS_MODULE)
    except ModuleNotFoundError as e:
        if e.name != CORPUS_MODULE:
            raise
    else:
        corpus.add_data_subcommands(actions)
