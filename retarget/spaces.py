"""Rig spaces: what a column of animation means.

A rig space is data: ordered curve names, each curve's range and neutral value,
its mirror counterpart on the other side of the face, and the face region it
moves. The tables live in `retarget/data/spaces/*.tsv` (an animator can read
and edit them); FLAME's space is parametric (50 or 100 expression coefficients,
jaw, optionally neck and eyes) and built here.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from importlib import resources

import numpy as np

from .errors import InputError
from .names import NameIndex

MH_PREFIX = "CTRL_expressions_"


@dataclass(frozen=True, eq=False)
class RigSpace:
    name: str
    curves: tuple[str, ...]
    lower: np.ndarray
    upper: np.ndarray
    neutral: np.ndarray
    mirror: tuple[int, ...]  # index of the counterpart curve, -1 where none
    regions: tuple[str, ...]
    description: str = ""
    optional_prefix: str = ""
    _index: NameIndex = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_index", NameIndex(self.curves, self.optional_prefix, self.name))

    def __len__(self) -> int:
        return len(self.curves)

    def __repr__(self) -> str:
        return f"RigSpace({self.name!r}, {len(self)} curves)"

    def find(self, name: str) -> int | None:
        """Index of the curve a real-world spelling stands for, or None."""
        return self._index.find(name)

    def index(self, name: str, path=None) -> int:
        i = self.find(name)
        if i is None:
            raise InputError(self._index.unknown_message(name), path=path)
        return i

    def indices(self, names, path=None) -> list[int]:
        return [self.index(n, path) for n in names]

    def closest(self, name: str) -> list[str]:
        return self._index.closest(name)

    @property
    def pairs(self) -> list[tuple[int, int]]:
        """Left/right pairs, each once."""
        return [(i, j) for i, j in enumerate(self.mirror) if j > i]

    def region_mask(self, *regions: str) -> np.ndarray:
        return np.array([r in regions for r in self.regions])

    def clip(self, frames: np.ndarray) -> np.ndarray:
        return np.clip(frames, self.lower, self.upper)

    def neutral_frames(self, n: int) -> np.ndarray:
        return np.tile(self.neutral.astype(np.float32), (n, 1))

    def mirrored(self, frames: np.ndarray) -> np.ndarray:
        """Swap every curve with its counterpart (the face seen in a mirror)."""
        order = [j if j >= 0 else i for i, j in enumerate(self.mirror)]
        return frames[..., order]


def _read_table(filename: str) -> tuple[str, list[dict[str, str]]]:
    text = resources.files("retarget").joinpath("data").joinpath("spaces").joinpath(filename).read_text("utf-8")
    comments, rows, header = [], [], None
    for line in text.splitlines():
        if line.startswith("#"):
            comments.append(line[1:].strip())
        elif line.strip():
            cells = line.split("\t")
            if header is None:
                header = cells
            else:
                rows.append(dict(zip(header, cells)))
    return " ".join(comments), rows


def _space_from_table(name: str, optional_prefix: str = "") -> RigSpace:
    description, rows = _read_table(f"{name}.tsv")
    curves = tuple(r["name"] for r in rows)
    where = {c: i for i, c in enumerate(curves)}
    return RigSpace(
        name=name,
        curves=curves,
        lower=np.array([float(r["min"]) for r in rows]),
        upper=np.array([float(r["max"]) for r in rows]),
        neutral=np.array([float(r["neutral"]) for r in rows]),
        mirror=tuple(where.get(r["mirror"], -1) for r in rows),
        regions=tuple(r["region"] for r in rows),
        description=description,
        optional_prefix=optional_prefix,
    )


FLAME_EXPRESSION_RANGE = 3.0  # coefficients are in units of the PCA standard deviation
FLAME_ROTATION_RANGE = {"jaw": (-0.2, 0.8), "neck": (-math.pi / 2, math.pi / 2), "eye": (-0.8, 0.8)}


def flame_space(n_expression: int = 50, neck: bool = False, eyes: bool = False) -> RigSpace:
    """FLAME: expression coefficients, then jaw (and optionally neck, eyes) axis-angle in radians."""
    if not 1 <= n_expression <= 100:
        raise InputError(f"FLAME has 1 to 100 expression coefficients, not {n_expression}")
    curves = [f"exp{i:03d}" for i in range(n_expression)]
    lower = [-FLAME_EXPRESSION_RANGE] * n_expression
    upper = [FLAME_EXPRESSION_RANGE] * n_expression
    regions = ["expression"] * n_expression
    joints = ["jaw"] + (["neck"] if neck else []) + (["eyeLeft", "eyeRight"] if eyes else [])
    for joint in joints:
        lo, hi = FLAME_ROTATION_RANGE["eye" if joint.startswith("eye") else joint]
        for axis in "xyz":
            curves.append(f"{joint}_r{axis}")
            lower.append(lo)
            upper.append(hi)
            regions.append("eyes" if joint.startswith("eye") else joint)
    where = {c: i for i, c in enumerate(curves)}
    mirror = [
        where.get(c.replace("eyeLeft", "eyeRight") if "eyeLeft" in c else c.replace("eyeRight", "eyeLeft"), -1)
        for c in curves
    ]
    mirror = [m if curves[m] != c else -1 for m, c in zip(mirror, curves)]
    suffix = ("+neck" if neck else "") + ("+eyes" if eyes else "")
    return RigSpace(
        name=f"flame{n_expression}{suffix}",
        curves=tuple(curves),
        lower=np.array(lower),
        upper=np.array(upper),
        neutral=np.zeros(len(curves)),
        mirror=tuple(mirror),
        regions=tuple(regions),
        description=f"FLAME: {n_expression} expression coefficients (units of standard deviation), "
        f"then {', '.join(joints)} rotations as axis-angle in radians.",
    )


BUILTIN = ("arkit", "livelinkface", "metahuman", "metahuman_2021", "vrcft", "flame")


@functools.cache
def get_space(name: str) -> RigSpace:
    """A rig space by name: arkit, livelinkface, metahuman, metahuman_2021, vrcft,
    flame (= flame50), flame100, flame50+neck+eyes, ..."""
    spec = name.strip().lower().replace("-", "_")
    if spec.startswith("flame"):
        base, *extras = spec.split("+")
        digits = base[len("flame") :] or "50"
        if not digits.isdigit() or any(e not in ("neck", "eyes") for e in extras):
            raise InputError(f"unknown FLAME space {name!r}; use flame, flame100, flame50+neck+eyes")
        return flame_space(int(digits), neck="neck" in extras, eyes="eyes" in extras)
    aliases = {
        "mh": "metahuman",
        "metahuman2021": "metahuman_2021",
        "llf": "livelinkface",
        "unified": "vrcft",
        "vrchat": "vrcft",
        "ue": "vrcft",
    }
    spec = aliases.get(spec, spec)
    if spec not in BUILTIN:
        raise InputError(f"unknown rig space {name!r}; known: {', '.join(BUILTIN)}")
    return _space_from_table(spec, MH_PREFIX if spec.startswith("metahuman") else "")


def infer_space(names, path=None) -> RigSpace:
    """The smallest built-in space that knows every name; an error naming the strays if none does."""
    names = list(names)
    if not names:
        raise InputError("no curve columns to infer a rig space from", path=path)
    candidates = [get_space(s) for s in BUILTIN if s != "flame"]
    flame_like = all(n.startswith(("exp", "jaw_", "neck_", "eyeLeft_", "eyeRight_")) for n in names)
    if flame_like:
        top = max((int(n[3:]) for n in names if n.startswith("exp") and n[3:].isdigit()), default=0)
        candidates.append(
            get_space(
                f"flame{100 if top >= 50 else 50}"
                + ("+neck" if any(n.startswith("neck_") for n in names) else "")
                + ("+eyes" if any(n.startswith("eye") for n in names) else "")
            )
        )
    scored = []
    for space in candidates:
        found = sum(space.find(n) is not None for n in names)
        scored.append((found, -len(space), space))
    scored.sort(key=lambda s: (s[0], s[1]), reverse=True)
    found, _, best = scored[0]
    if found == len(names):
        return best
    strays = [n for n in names if best.find(n) is None]
    raise InputError(
        f"cannot tell the rig space: {len(strays)} of {len(names)} curve names are unknown "
        f"even to the closest space {best.name!r} (e.g. {best._index.unknown_message(strays[0])}); "
        "pass --from SPACE",
        path=path,
    )
