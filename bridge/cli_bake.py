"""`emorig bake INPUT -o OUT_DIR`: a dialogue library to takes (docs/bake.md)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from retarget.errors import InputError

from .cli_stream import _add_face_options, _controls_or_error

FORMATS = {"csv": ".csv", "json": ".json", "npz": ".npz"}


def _check_options(args) -> None:
    """The options every line shares, checked before anything is baked: bad ones are the command's
    error (exit 2), not thousands of identical line failures."""
    from retarget.mappings import load_mapping
    from retarget.spaces import get_space

    from .runtime import resolve_device

    _controls_or_error(args)
    get_space(args.rig)
    for path in args.mapping:
        load_mapping(path)
    if args.device not in ("cpu", "cuda", "auto"):
        resolve_device(args.device)
    if args.jobs is not None and args.jobs < 1:
        raise InputError(f"--jobs must be 1 or more, not {args.jobs}")
    if args.collect and not args.ray:
        raise InputError("--collect applies to --ray (local workers write their takes themselves)")


def _bake(args) -> int:
    from .bake import RENDER_OPTIONS, Bake, default_jobs, run_local
    from .bake_lines import find_lines

    _check_options(args)
    out_dir = Path(args.output)
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError("the output must be a folder", path=out_dir)
    fmt = FORMATS[args.format]
    defaults = {k: getattr(args, k) for k in RENDER_OPTIONS}
    defaults["mapping"] = [str(Path(m).resolve()) for m in args.mapping]  # workers may run elsewhere
    t0 = time.perf_counter()
    lines, failures = find_lines(args.input, out_dir, defaults, fmt)
    bake = Bake(lines, failures, out_dir, fmt, args.model, quiet=args.quiet)
    interrupted = False
    try:
        if args.ray:
            from .bake_ray import run_ray

            run_ray(bake, args.ray, jobs=args.jobs, collect=args.collect, device=args.device, vad=args.vad)
        else:
            run_local(bake, args.jobs or default_jobs(), device=args.device, vad=args.vad)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        outcome = bake.finish()
    wall = time.perf_counter() - t0
    speed = f" ({outcome.seconds / wall:.0f}x real time)" if outcome.seconds and wall > 0 else ""
    parts = [f"{outcome.baked} baked", f"{outcome.fresh} up to date", f"{outcome.failed} failed"]
    if outcome.not_done:
        parts.append(f"{outcome.not_done} not done")
    print(
        f"bake: {len(outcome.records)} lines: {', '.join(parts)}; {outcome.seconds:.1f} s of audio in {wall:.1f} s"
        f"{speed} -> {out_dir}"
        + (f" (report: {out_dir / 'bake-report.jsonl'})" if outcome.failed or outcome.not_done else "")
    )
    if interrupted:
        print("emorig: interrupted; run the same command again to finish the rest", file=sys.stderr)
        return 130
    return 1 if outcome.failed or outcome.not_done else 0


def add_parser(sub) -> None:
    p = sub.add_parser(
        "bake",
        help="render a whole dialogue library (folder, glob or CSV/JSONL table) to takes: all cores, resumable, Ray",
    )
    p.add_argument(
        "input",
        help="a folder of audio (walked recursively; OUT_DIR mirrors it), a quoted glob ('vo/**/*.wav'), or a "
        "dialogue table (.csv or .jsonl with a column audio and optionally id, emotion, intensity, rig, subject, "
        "output)",
    )
    p.add_argument("-o", "--output", required=True, metavar="OUT_DIR", help="folder for the takes (made if missing)")
    p.add_argument("--format", choices=tuple(FORMATS), default="csv", help="take format (default csv: Live Link Face)")
    p.add_argument(
        "--jobs", type=int, default=None, help="worker processes, each with its own model (default: the CPU cores)"
    )
    p.add_argument(
        "--ray",
        metavar="ADDRESS",
        help="bake on a Ray cluster: auto (the cluster this machine belongs to), HOST:PORT, ray://HOST:PORT, or "
        "local (start one here); needs pip install 'emorig[ray]'",
    )
    p.add_argument(
        "--collect",
        action="store_true",
        help="with --ray: workers return each take to this machine, which writes it (no shared output folder needed)",
    )
    p.add_argument("--subject", default="emorig", help="subject name carried by the frames (a table may set it)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_face_options(p, sinks=False)
    p.set_defaults(func=_bake)
