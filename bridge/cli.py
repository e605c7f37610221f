"""The `emorig` command.

Subcommands import what they need when they run, so `emorig retarget` starts
fast and never needs torch. Bad input ends in one line on stderr and exit 2.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from retarget.errors import InputError

COMMAND_MODULES = (
    "bridge.cli_mapping",  # emorig mapping fit | from-meshes
    "bridge.cli_preview",  # emorig preview | plot
    "bridge.cli_stream",  # emorig stream | animate | devices | bench
    "bridge.cli_bake",  # emorig bake
    "training.cli_data",  # emorig data ...
    "training.cli_train",  # emorig train
    "training.cli_eval",  # emorig eval
)


def _retarget(args) -> int:
    from retarget.mappings import load_mapping, retarget_frames
    from retarget.solver import SolverSettings
    from retarget.spaces import get_space
    from retarget.takes import Take, read_take, write_take

    target = get_space(args.to)
    source = get_space(args.source) if args.source else None
    mappings = [load_mapping(p) for p in args.mapping]
    take = read_take(args.input, space=source, fps=args.fps)
    settings = SolverSettings(l2=1e-5, l1=args.sparsity, symmetry=args.symmetry, temporal=args.smooth)
    frames = retarget_frames(take.frames, take.space, target, mappings, settings)
    out = Take(target, take.fps, frames, start=take.start)
    write_take(out, args.output)
    print(f"{args.input}: {len(take)} frames at {take.fps:g} fps, {take.space.name} -> {target.name}: {args.output}")
    return 0


def _spaces(args) -> int:
    from retarget.spaces import BUILTIN, get_space

    if not args.name:
        for name in BUILTIN:
            space = get_space(name)
            print(f"{name:16s} {len(space):4d} curves  {space.description}")
        return 0
    space = get_space(args.name)
    print(f"# {space.name}: {space.description}")
    print("name\tmin\tmax\tneutral\tmirror\tregion")
    for i, c in enumerate(space.curves):
        mirror = space.curves[space.mirror[i]] if space.mirror[i] >= 0 else "-"
        print(f"{c}\t{space.lower[i]:g}\t{space.upper[i]:g}\t{space.neutral[i]:g}\t{mirror}\t{space.regions[i]}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="emorig", description="Speech to emotional facial animation, live.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser(
        "retarget", help="convert a take between rig spaces (ARKit, Live Link Face, MetaHuman, VRCFT, FLAME)"
    )
    p.add_argument("input", help="take to read: .csv (Live Link Face or Timecode + curves), .json or .npz")
    p.add_argument("-o", "--output", required=True, help="take to write; format from the extension")
    p.add_argument("--to", required=True, help="target rig space (see `emorig spaces`)")
    p.add_argument("--from", dest="source", help="source rig space (default: inferred from the curve names)")
    p.add_argument(
        "--mapping",
        action="append",
        default=[],
        metavar="FILE",
        help="a mapping JSON that replaces or adds a mapping (e.g. exported from your Unreal project); repeatable",
    )
    p.add_argument("--fps", type=float, help="frame rate of the input when its file does not say")
    p.add_argument(
        "--smooth",
        type=float,
        default=0.0,
        metavar="W",
        help="inverse solves only: pull each frame toward its neighbours (0 = off, 0.1..1 typical)",
    )
    p.add_argument(
        "--sparsity",
        type=float,
        default=0.0,
        metavar="W",
        help="inverse solves only: prefer fewer active shapes (L1 weight, 0 = off)",
    )
    p.add_argument(
        "--symmetry",
        type=float,
        default=0.0,
        metavar="W",
        help="inverse solves only: prefer equal left and right weights (0 = off)",
    )
    p.set_defaults(func=_retarget)

    p = sub.add_parser("spaces", help="list the rig spaces, or the curves of one")
    p.add_argument("name", nargs="?", help="a rig space to list curve by curve")
    p.set_defaults(func=_spaces)

    # Each area registers its own subcommands; a module that is not there yet is skipped,
    # but an import error inside one is a bug and surfaces.
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name != name:
                raise
            continue
        module.add_parser(sub)
    return parser


def main(argv=None) -> int:
    code = _run(argv)
    if argv is None and "torch" in sys.modules:
        # Run as the `emorig` command: skip the interpreter's teardown, which with torch loaded
        # costs ~0.3 s per call (a sixth of a short `animate`). Every output is already written
        # and fsynced by then (retarget.fileio), so only the streams need flushing.
        import logging

        logging.shutdown()
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(code)
    return code


def _run(argv) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except InputError as e:
        print(f"emorig: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("emorig: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `emorig ... | head` closed our output early: that is the reader's choice, not an error.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
