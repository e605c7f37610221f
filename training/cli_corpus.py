"""`emorig data synth` and `emorig data align`: the speech corpus tools.

    emorig data synth --out DIR [--hours H] [--voices V ...] [--emotions E ...]
                      [--languages L ...] [--intensity I] [--real SOURCE ...] [--seed N]
                      [--fps F] [--no-motion] [--limit N] [--jobs N]
    emorig data align AUDIO_DIR_OR_MANIFEST [--transcripts FILE_OR_DIR] -o OUT
                      [--language L] [--force]

training/cli_data.py creates `emorig data` and calls add_data_subcommands. See docs/data.md.
"""

from __future__ import annotations

from pathlib import Path

from retarget.argtypes import count as _count
from retarget.argtypes import fraction as _fraction
from retarget.argtypes import positive as _positive


def _print_report(report) -> None:
    for clip_id, reason in report.failed[:10]:
        print(f"  failed: {clip_id}: {reason}")
    if len(report.failed) > 10:
        print(f"  ... and {len(report.failed) - 10} more failures")
    for note in report.notes:
        print(f"  note: {note}")


def _synth(args) -> int:
    from training.corpus import SynthRequest, build
    from training.emotions import EMOTIONS
    from training.speech.voices import DEFAULT_VOICES

    request = SynthRequest(
        out=Path(args.out),
        hours=args.hours,
        voices=tuple(args.voices or DEFAULT_VOICES),
        emotions=tuple(args.emotions or EMOTIONS),
        languages=tuple(args.languages) if args.languages else None,
        intensity=args.intensity,
        real=tuple(args.real or ()),
        seed=args.seed,
        fps=args.fps,
        motion=not args.no_motion,
        limit=args.limit,
        jobs=args.jobs,
        val_speakers=tuple(args.val_speakers or ()),
        test_speakers=tuple(args.test_speakers or ()),
    )
    report = build(request, progress=True)
    print(
        f"{request.out / 'manifest.jsonl'}: {report.clips} clips, {_duration(report.seconds)} of audio "
        f"({report.made} made now, {report.skipped} already done, {len(report.failed)} failed)"
    )
    _print_report(report)
    return 1 if report.failed and not report.made and not report.skipped else 0


def _align(args) -> int:
    from retarget.errors import InputError
    from training.corpus import align_items, items_from_folder, items_from_manifest

    source, out = Path(args.source), Path(args.output)
    if source.is_dir():
        items, entries = items_from_folder(source, args.transcripts, args.language), None
    elif source.is_file():
        from training.manifest import read_manifest

        entries = read_manifest(source)
        items = items_from_manifest(entries, args.transcripts, args.language)
    else:
        raise InputError("no such file or folder", path=source)
    out.mkdir(parents=True, exist_ok=True)
    report = align_items(items, out, force=args.force, progress=True)
    if entries is not None:
        from dataclasses import replace

        from training.manifest import write_manifest

        done = {i.key for i in items if (out / f"{i.key}.tsv").exists()}
        entries = [replace(e, phones=out / f"{e.clip_id}.tsv") if e.clip_id in done else e for e in entries]
        write_manifest(entries, out / "manifest.jsonl")
    print(
        f"{out}: {report.made} aligned ({report.seconds / 60:.1f} min), {report.skipped} already there, "
        f"{len(report.failed)} failed"
    )
    _print_report(report)
    return 1 if report.failed and not report.made and not report.skipped else 0


def add_data_subcommands(actions) -> None:
    """Add `synth` and `align` to the `emorig data` subparsers."""
    from training.emotions import EMOTIONS

    p = actions.add_parser(
        "synth",
        help="build a speech corpus: synthetic voices in every emotion (+ real prompts), phones, teacher motion",
        description="Synthesise the project's sentences with espeak-ng, flite and festival voices in each "
        "emotion (same sentence, every emotion), with phone timings, optionally add real recorded speech "
        "aligned with pocketsphinx, animate every clip with the teacher, and write a manifest. A rerun "
        "skips finished clips. See docs/data.md.",
    )
    p.add_argument("--out", required=True, help="corpus folder (created; reruns extend it)")
    p.add_argument("--hours", type=_positive, default=1.0, help="hours of synthetic speech to plan (default 1)")
    p.add_argument("--voices", nargs="+", metavar="ENGINE:VOICE", help="e.g. flite:slt espeak:en-us+m3 (default: all)")
    p.add_argument("--emotions", nargs="+", choices=EMOTIONS, metavar="EMOTION", help="default: all eight")
    p.add_argument("--languages", nargs="+", metavar="LANG", help="sentence sets to speak, e.g. en de (default: all)")
    p.add_argument("--intensity", type=_fraction, default=1.0, help="emotion intensity 0..1 (default 1)")
    p.add_argument(
        "--real",
        nargs="+",
        choices=("asterisk", "asterisk-ru", "prompt-fr-armelle", "prompt-it-menardi", "prompt-es-co"),
        help="add real recorded prompts: asterisk (English, ~24 min), asterisk-ru (Russian, ~23 min), "
        "prompt-fr-armelle / prompt-it-menardi / prompt-es-co (other speakers' numbers, days, months and "
        "letters, ~1-2 min each, 8 kHz GSM)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the plan, the teacher and the split (default 0)")
    p.add_argument("--fps", type=_positive, default=60.0, help="frame rate of the teacher's takes (default 60)")
    p.add_argument("--no-motion", action="store_true", help="audio + phones only, no teacher takes")
    p.add_argument("--limit", type=_count, help="at most this many synthetic clips (a trial run)")
    p.add_argument("--jobs", type=_count, default=1, help="worker processes (default 1)")
    p.add_argument(
        "--val-speakers",
        nargs="+",
        metavar="SPEAKER",
        help="these speakers form the validation split (e.g. asterisk-it-menardi); default: drawn by hash",
    )
    p.add_argument(
        "--test-speakers",
        nargs="+",
        metavar="SPEAKER",
        help="these speakers form the test split (e.g. asterisk-es-co); default: drawn by hash",
    )
    p.set_defaults(func=_synth)

    p = actions.add_parser(
        "align",
        help="phone timings for recorded speech + transcripts (pocketsphinx forced alignment)",
        description="Force-align each audio file (or each clip of a manifest) to its transcript and write "
        "PHONES files (start, end, ARPAbet phone). Non-English speech is spelt with espeak-ng and aligned "
        "with the English acoustic model. Existing phone files are kept unless --force.",
    )
    p.add_argument("source", help="a folder of audio files, or a manifest (.jsonl)")
    p.add_argument(
        "--transcripts",
        help="a table (name<TAB>text or name: text per line) or a folder of <name>.txt/.lab; default: "
        "a .txt/.lab beside each audio file, or the manifest's text",
    )
    p.add_argument("-o", "--output", required=True, help="folder for the phone files (and manifest.jsonl)")
    p.add_argument("--language", default="en", help="language of the speech when not given per clip (default en)")
    p.add_argument("--force", action="store_true", help="align again even where a phone file exists")
    p.set_defaults(func=_align)


def _duration(seconds: float) -> str:
    """Hours for a corpus, minutes or seconds for a small one, so a test build doesn't read '0.00 h'."""
    if seconds >= 3600:
        return f"{seconds / 3600:.2f} h"
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.1f} s"
