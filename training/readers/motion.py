"""Curve files of every kind a training corpus arrives in, read into a `Take`.

- `.csv`, `.npz` and emorig-take `.json`: retarget.takes (columns matched by name).
- BEAT facial `.json`: `{"names": [ARKit names], "frames": [{"time": s, "weights": [...]}, ...]}`.
  BEAT captures faces at 60 fps; the rate is taken from the frame times when they are there.
- `.npy`: a bare [frames x curves] array. It names no curves, so it is read only with a rig
  space and a frame rate, given by the caller (`--space`, `--fps`) or by a sidecar
  `<name>.npy.json` = `{"space": "arkit", "fps": 30}`.

Every problem is an InputError naming the file and, where it can, the line.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from retarget.errors import InputError
from retarget.spaces import RigSpace, get_space, infer_space
from retarget.takes import TAKE_FORMAT, Take, rate_from_times, read_take

BEAT_FPS = 60.0  # BEAT's facial capture rate, used when its frames carry no times
MOTION_EXTENSIONS = (".csv", ".json", ".npz", ".npy")
NPY_SIDECAR = ".npy.json"  # appended to the whole name: clip.npy -> clip.npy.json


def _space(space: RigSpace | str | None) -> RigSpace | None:
    return get_space(space) if isinstance(space, str) else space


def _load_json(path: Path):
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError:
        raise InputError("file not found", path=path) from None
    except UnicodeDecodeError:
        raise InputError("not a text JSON file (cannot decode as UTF-8)", path=path) from None
    try:
        return text, json.loads(text)
    except json.JSONDecodeError as e:
        raise InputError(f"not valid JSON: {e.msg}", path=path, row=e.lineno) from None


def is_beat_json(doc) -> bool:
    frames = doc.get("frames") if isinstance(doc, dict) else None
    return isinstance(frames, list) and (not frames or (isinstance(frames[0], dict) and "weights" in frames[0]))


def _line_of_nth(text: str, needle: str, n: int) -> int | None:
    """Line of the n-th (0-based) occurrence of `needle`: JSON parsers forget where values
    were, but in a BEAT file `"weights"` appears once per frame, so this finds frame n."""
    at = -1
    for _ in range(n + 1):
        at = text.find(needle, at + 1)
        if at < 0:
            return None
    return text.count("\n", 0, at) + 1


def read_beat_json(path, space: RigSpace | str | None = None, fps: float | None = None) -> Take:
    path = Path(path)
    text, doc = _load_json(path)
    return _beat_take(path, text, doc, _space(space), fps)


def _beat_take(path: Path, text: str, doc, space: RigSpace | None, fps: float | None) -> Take:
    if not is_beat_json(doc):
        raise InputError(
            'not a BEAT facial JSON (expected {"names": [...], "frames": [{"weights": [...]}]})', path=path
        )
    names = doc.get("names")
    if names is None:
        if space is None:
            raise InputError("BEAT JSON without 'names': pass --space to say which curves the weights are", path=path)
        names = list(space.curves)
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise InputError("'names' must be a non-empty list of curve names", path=path)
    space = space or infer_space(names, path)
    columns = space.indices(names, path)
    frames = doc["frames"]
    if not frames:
        raise InputError("no frames", path=path)
    rows, times = [], []
    for i, frame in enumerate(frames):
        weights = frame.get("weights") if isinstance(frame, dict) else None
        if not isinstance(weights, list) or len(weights) != len(names):
            found = f"{len(weights)}" if isinstance(weights, list) else "no list of"
            raise InputError(
                f"frame {i}: expected {len(names)} weights, found {found}",
                path=path,
                row=_line_of_nth(text, '"weights"', i),
            )
        rows.append(weights)
        t = frame.get("time")
        if isinstance(t, (int, float)) and not isinstance(t, bool) and math.isfinite(t):
            times.append(float(t))
    # All at once (BEAT holds hours at 60 fps); value by value only to name a bad one.
    values = np.array(rows)
    if values.dtype.kind not in "iuf" or not np.isfinite(values).all():
        for i, weights in enumerate(rows):
            for c, v in enumerate(weights):
                if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                    raise InputError(
                        f"frame {i}: weight for {names[c]!r} is not a finite number: {v!r}",
                        path=path,
                        row=_line_of_nth(text, '"weights"', i),
                    )
    data = np.tile(space.neutral.astype(np.float64), (len(frames), 1))
    data[:, columns] = values
    timed = len(times) == len(frames)
    fps = fps or (rate_from_times(times) if timed else None) or BEAT_FPS
    start = times[0] if timed else 0.0
    return Take(space, float(fps), data, start=start, meta={"source": str(path), "format": "beat"})


def _npy_sidecar(path: Path) -> dict:
    sidecar = path.with_name(path.name + ".json")
    if not sidecar.exists():
        return {}
    _, doc = _load_json(sidecar)
    if not isinstance(doc, dict):
        raise InputError('expected {"space": NAME, "fps": NUMBER}', path=sidecar)
    if "space" in doc and not isinstance(doc["space"], str):
        raise InputError("'space' must be a rig space name", path=sidecar)
    rate = doc.get("fps")
    if rate is not None and (isinstance(rate, bool) or not isinstance(rate, (int, float)) or not rate > 0):
        raise InputError("'fps' must be a positive number", path=sidecar)
    return doc


def read_npy(path, space: RigSpace | str | None = None, fps: float | None = None) -> Take:
    path = Path(path)
    sidecar = _npy_sidecar(path)
    space = _space(space) or (get_space(sidecar["space"]) if "space" in sidecar else None)
    fps = fps or sidecar.get("fps")
    if space is None or fps is None:
        lacking = " and ".join(w for w, v in (("rig space", space), ("frame rate", fps)) if v is None)
        raise InputError(
            f".npy names no curves and no frame rate: give its {lacking} with --space/--fps "
            f'or a sidecar {path.name}.json = {{"space": ..., "fps": ...}}',
            path=path,
        )
    try:
        frames = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise InputError("file not found", path=path) from None
    except Exception as e:  # ValueError (pickled objects, bad header), OSError, EOFError
        raise InputError(f"not a readable .npy array ({type(e).__name__}: {e})", path=path) from None
    if frames.ndim != 2 or not np.issubdtype(frames.dtype, np.number):
        raise InputError(
            f"expected a 2-D numeric array [frames x curves], got {frames.dtype} {frames.shape}", path=path
        )
    if frames.shape[1] != len(space):
        raise InputError(
            f"{frames.shape[1]} columns, but {space.name} has {len(space)} curves; is --space right?", path=path
        )
    if not len(frames):
        raise InputError("no frames", path=path)
    bad = np.argwhere(~np.isfinite(frames))
    if len(bad):
        r, c = bad[0]
        raise InputError(f"frame {r}: value for {space.curves[c]!r} is not finite", path=path)
    return Take(space, float(fps), frames, meta={"source": str(path), "format": "npy"})


def read_motion(path, space: RigSpace | str | None = None, fps: float | None = None) -> Take:
    """Any curve file a corpus may hold, by extension (and, for .json, by content).

    `space` and `fps` are what the caller knows: a file that says otherwise is read as
    the caller says (as `emorig retarget --from/--fps` does); a file that does not say
    needs them."""
    path = Path(path)
    ext = path.suffix.lower()
    if ext == ".npy":
        return read_npy(path, space, fps)
    if ext == ".json":
        text, doc = _load_json(path)
        if is_beat_json(doc):
            return _beat_take(path, text, doc, _space(space), fps)
        if not (isinstance(doc, dict) and doc.get("format") == TAKE_FORMAT):
            raise InputError(
                f'a .json curve file must be an emorig take ("format": "{TAKE_FORMAT}") or BEAT facial JSON', path=path
            )
    if ext not in MOTION_EXTENSIONS:
        raise InputError(f"not a curve file ({ext or 'no extension'}); use {', '.join(MOTION_EXTENSIONS)}", path=path)
    return read_take(path, space=_space(space), fps=fps)
