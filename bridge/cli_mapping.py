"""`emorig mapping`: build a mapping file from the user's own data (FLAME <-> ARKit and more).

    emorig mapping fit SOURCE_TAKE TARGET_TAKE -o map.json [--ridge R]
    emorig mapping from-meshes --flame generic_model.pkl --shapes DIR_OR_NPZ -o map.json [--expressions 50|100]

The file written is an emorig-mapping JSON that `emorig retarget --mapping` reads.
Imports happen when a subcommand runs, so `emorig --help` stays fast.
"""

from __future__ import annotations

import argparse


def _fit(args) -> int:
    from retarget.flame_maps import fit_linear_map
    from retarget.mappings import save_mapping
    from retarget.takes import read_take

    source = read_take(args.source_take, space=args.source_space)
    target = read_take(args.target_take, space=args.target_space)
    mapping = fit_linear_map(source, target, ridge=args.ridge)
    save_mapping(mapping, args.output)
    print(f"{args.output}: {mapping.note}")
    return 0


def _from_meshes(args) -> int:
    from retarget.flame import load_flame_model
    from retarget.flame_maps import read_shape_meshes, solve_from_meshes
    from retarget.mappings import save_mapping
    from retarget.spaces import get_space

    space = get_space(f"flame{args.expressions}" + ("+eyes" if args.eyes else ""))
    model = load_flame_model(args.flame)
    neutral, shapes = read_shape_meshes(args.shapes, n_vertices=model.n_vertices)
    mapping = solve_from_meshes(model, neutral, shapes, space)
    save_mapping(mapping, args.output)
    print(f"{args.output}: {mapping.note}")
    return 0


def _ridge(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number >= 0, not {text!r}")
    return value


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register `mapping fit` and `mapping from-meshes` under an `emorig` subparsers object."""
    parser = subparsers.add_parser(
        "mapping",
        help="build a mapping file from your own data (e.g. FLAME <-> ARKit)",
        description="Build an emorig mapping JSON from your own data, for `emorig retarget --mapping FILE`. "
        "See docs/flame.md.",
    )
    sub = parser.add_subparsers(dest="mapping_command", required=True, metavar="HOW")

    p = sub.add_parser(
        "fit",
        help="fit a linear mapping from two takes of the same performance (paired frame by frame)",
        description="Ridge regression with a bias from paired frames: frame i of SOURCE_TAKE and frame i of "
        "TARGET_TAKE show the same face (e.g. a FLAME take and an ARKit take of one performance).",
    )
    p.add_argument("source_take", help="take in the source space (.csv, .json or .npz), e.g. FLAME")
    p.add_argument("target_take", help="take in the target space with the same number of frames, e.g. ARKit")
    p.add_argument("-o", "--output", required=True, help="mapping JSON to write")
    p.add_argument(
        "--ridge",
        type=_ridge,
        default=1e-3,
        metavar="R",
        help="regularisation: larger is smoother but fits less closely (default 0.001)",
    )
    p.add_argument(
        "--from",
        dest="source_space",
        metavar="SPACE",
        help="rig space of the source take (default: inferred from its curve names)",
    )
    p.add_argument(
        "--to",
        dest="target_space",
        metavar="SPACE",
        help="rig space of the target take (default: inferred from its curve names)",
    )
    p.set_defaults(func=_fit)

    p = sub.add_parser(
        "from-meshes",
        help="solve an ARKit -> FLAME mapping from ARKit blendshape meshes on FLAME topology",
        description="For every ARKit shape mesh (same vertices as your FLAME model), find the FLAME expression "
        "coefficients and jaw rotation that reproduce it. The mapping works both ways in `emorig retarget`.",
    )
    p.add_argument(
        "--flame",
        required=True,
        metavar="MODEL",
        help="your FLAME model: generic_model.pkl (read safely, chumpy not needed) or an .npz",
    )
    p.add_argument(
        "--shapes",
        required=True,
        metavar="DIR_OR_NPZ",
        help="folder of OBJ files named by ARKit shape plus neutral.obj, or an .npz of [V, 3] arrays",
    )
    p.add_argument("-o", "--output", required=True, help="mapping JSON to write")
    p.add_argument(
        "--expressions",
        type=int,
        choices=(50, 100),
        default=50,
        help="FLAME expression coefficients in the mapping's space (flame50 or flame100; default 50)",
    )
    p.add_argument(
        "--eyes",
        action="store_true",
        help="also fit eye rotations (space flame50+eyes) for eyeLook shapes that turn the eyeballs",
    )
    p.set_defaults(func=_from_meshes)
    return parser
