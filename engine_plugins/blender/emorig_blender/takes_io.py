"""Reading a take for Blender: emorig's own readers where Blender's Python imports emorig,
else the small CSV reader; and picking the rig space that fits the mesh's shape keys best.

emorig's readers know every format (CSV, JSON, NPZ) and rig space and can retarget between
spaces (MetaHuman CTRL curves, VRChat's Unified Expressions); the fallback reads CSV takes
only, in the space they were written in.
"""

from __future__ import annotations

from pathlib import Path

from . import matching
from .csv_take import PlainTake, TakeError, read_csv_take

# Spaces a take may be retargeted into to fit a mesh, most common first (ties keep the first).
TARGET_SPACES = ("arkit", "livelinkface", "vrcft", "metahuman", "metahuman_2021")


def emorig_modules():
    """emorig's take reader and retargeting, or None when Blender's Python cannot import them."""
    try:
        from retarget.errors import InputError
        from retarget.mappings import retarget_frames
        from retarget.spaces import get_space
        from retarget.takes import read_take
    except ImportError:
        return None
    return {"read_take": read_take, "retarget_frames": retarget_frames, "get_space": get_space, "error": InputError}


def read(path: str, use_emorig: bool = True) -> PlainTake:
    """Any take file -> PlainTake; TakeError with one line on bad input."""
    mods = emorig_modules() if use_emorig else None
    if mods is None:
        if Path(path).suffix.lower() != ".csv":
            raise TakeError(
                f"{path}: reading {Path(path).suffix or 'this'} takes needs emorig in Blender's Python "
                "(set the emorig package folder in the add-on's preferences); CSV takes read without it"
            )
        return read_csv_take(path)
    try:
        take = mods["read_take"](path)
    except mods["error"] as e:
        raise TakeError(str(e)) from None
    plain = PlainTake(list(take.space.curves), float(take.fps), take.frames.tolist(), space=take.space.name)
    plain.source = str(path)
    plain.extra["emorig"] = True
    return plain


def fit_to_shape_keys(take: PlainTake, shape_keys) -> tuple[PlainTake, matching.Match]:
    """The take in the rig space whose curve names match the most shape keys, and that match.

    Retargeting needs emorig (it knows the spaces and the mappings between them); without it
    the take stays in its own space."""
    best, best_match = take, matching.match(take.curves, shape_keys)
    mods = emorig_modules() if take.extra.get("emorig") and take.space else None
    if mods is None or not best_match.unmatched_keys:
        return best, best_match
    source = mods["get_space"](take.space)
    choice = None
    for name in TARGET_SPACES:
        if name == take.space:
            continue
        m = matching.match(mods["get_space"](name).curves, shape_keys)
        if m.count > best_match.count:
            choice, best_match = name, m
    if choice is None:
        return best, best_match
    import numpy as np  # only reached with emorig importable, and emorig needs numpy

    target = mods["get_space"](choice)
    frames = mods["retarget_frames"](np.asarray(take.rows, dtype=np.float32), source, target)
    converted = PlainTake(list(target.curves), take.fps, np.asarray(frames).tolist(), space=choice, source=take.source)
    converted.extra = dict(take.extra, retargeted_from=take.space)
    return converted, best_match
