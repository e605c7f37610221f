"""A take: frames of one rig space at one frame rate, and the files that hold takes.

Formats, chosen by file extension:
- `.csv`: a Live Link Face take (`Timecode,BlendShapeCount,<61 curves>`) when the
  space is livelinkface; otherwise a generic CSV (`Timecode,<curve names>`).
  Columns are always matched by name, never by position.
- `.json`: `{"format": "emorig-take", "version": 1, "space", "fps", "start",
  "curves", "frames"}`.
- `.npz`: arrays `frames` [frames x curves], `curves`, `space`, `fps`, `start`;
  read without pickle.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

from .errors import InputError
from .fileio import atomic_output, read_json_file
from .spaces import RigSpace, get_space, infer_space

TAKE_FORMAT = "emorig-take"
TAKE_VERSION = 1
LIVE_LINK_FACE_FPS = 60
STANDARD_RATES = (24, 25, 30, 48, 50, 60, 72, 90, 100, 120, 240)
_TIMECODE = re.compile(r"^(\d{1,2}):(\d{2}):(\d{2})[:;](\d{1,3})(?:\.(\d+))?$")


@dataclass
class Take:
    space: RigSpace
    fps: float
    frames: np.ndarray  # float32 [frames x curves], in the space's curve order
    start: float = 0.0  # seconds since midnight of the first frame (from its timecode)
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.frames = np.asarray(self.frames, dtype=np.float32)
        if self.frames.ndim != 2 or self.frames.shape[1] != len(self.space):
            raise ValueError(f"frames must be [n x {len(self.space)}] for {self.space.name}, got {self.frames.shape}")
        if not (self.fps > 0 and math.isfinite(self.fps)):
            raise ValueError(f"fps must be positive, got {self.fps}")

    def __len__(self) -> int:
        return len(self.frames)

    @property
    def times(self) -> np.ndarray:
        return self.start + np.arange(len(self)) / self.fps

    @property
    def duration(self) -> float:
        return len(self) / self.fps

    def curve(self, name: str) -> np.ndarray:
        return self.frames[:, self.space.index(name)]


# -- timecode -------------------------------------------------------------------------------------


def parse_timecode(text: str) -> tuple[int, float]:
    """`HH:MM:SS:FF.fff` -> (whole seconds, frame number with sub-frame fraction)."""
    m = _TIMECODE.match(text.strip())
    if not m:
        raise ValueError(f"timecode {text!r} is not HH:MM:SS:FF.fff")
    h, mi, s, f, frac = m.groups()
    if int(mi) > 59 or int(s) > 59:
        raise ValueError(f"timecode {text!r} has minutes or seconds over 59")
    return int(h) * 3600 + int(mi) * 60 + int(s), int(f) + (float("0." + frac) if frac else 0.0)


def format_timecode(seconds: float, rate: int) -> str:
    """Seconds since midnight -> `HH:MM:SS:FF.fff` at a timecode rate of `rate` frames/s."""
    total_frames = seconds * rate
    whole = math.floor(total_frames + 1e-6)
    sub = max(0.0, total_frames - whole)
    s, f = divmod(whole, rate)
    h, rem = divmod(int(s), 3600)
    mi, s = divmod(rem, 60)
    return f"{h % 24:02d}:{mi:02d}:{s:02d}:{int(f):02d}.{int(round(sub * 1000)) % 1000:03d}"


def timecode_fields(seconds, rate: int) -> np.ndarray:
    """format_timecode's numbers for many times at once: int64 [n, 5] of hours (mod 24), minutes,
    seconds, frame and sub-frame thousandths; the same arithmetic, element for element."""
    total = np.asarray(seconds, dtype=np.float64) * rate
    whole = np.floor(total + 1e-6)
    sub = np.maximum(0.0, total - whole)
    s, f = np.divmod(whole.astype(np.int64), rate)
    h, rem = np.divmod(s, 3600)
    mi, s = np.divmod(rem, 60)
    return np.stack([h % 24, mi, s, f, np.rint(sub * 1000).astype(np.int64) % 1000], axis=1)


def rate_from_times(times) -> float | None:
    """The frame rate the median step between frame times gives, snapped to a standard rate
    when within 2 % (capture clocks jitter); None when the times do not advance."""
    steps = np.diff(np.asarray(times, dtype=np.float64))
    steps = steps[steps > 0]
    if not len(steps):
        return None
    value = 1.0 / float(np.median(steps))
    best = min(STANDARD_RATES, key=lambda r: abs(r - value))
    return float(best) if abs(best - value) < 0.02 * best else round(value, 3)


def _times_from_timecodes(codes: list[tuple[int, float]], fps: float | None) -> tuple[np.ndarray, float]:
    """Row times in seconds and the capture rate, from timecodes whose timecode rate is unknown.

    The timecode rate is the smallest standard rate above every frame number seen (Live Link
    Face may count 30 fps timecode with half-frame sub-frames at 60 fps capture); the capture
    rate is then the median spacing of rows, unless the caller knows it."""
    max_frame = max(int(f) for _, f in codes)
    rate = next((r for r in STANDARD_RATES if r > max_frame), max_frame + 1)
    if len({s for s, _ in codes}) < 2 and max_frame < LIVE_LINK_FACE_FPS:
        # Under a second of take the frame numbers cannot tell the rate: trust the caller,
        # else assume Live Link Face's default capture rate.
        rate = fps if fps is not None and fps > max_frame else LIVE_LINK_FACE_FPS
        fps = fps or LIVE_LINK_FACE_FPS
    times = np.array([s + f / rate for s, f in codes])
    if fps is None:
        fps = rate_from_times(times) or float(LIVE_LINK_FACE_FPS)
    return times, float(fps)


# -- CSV ------------------------------------------------------------------------------------------


def livelinkface_csv_columns() -> list[str]:
    text = resources.files("retarget").joinpath("data").joinpath("livelinkface_csv_columns.txt").read_text("utf-8")
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def _number(cell: str, path, row: int, column: str) -> float:
    try:
        value = float(cell)
    except ValueError:
        raise InputError(f"not a number: {cell!r}", path=path, row=row, column=column) from None
    if not math.isfinite(value):
        raise InputError(f"value is not finite: {cell!r}", path=path, row=row, column=column)
    return value


def read_csv(path, space: RigSpace | None = None, fps: float | None = None) -> Take:
    path = Path(path)
    try:
        text = path.read_text("utf-8-sig")
    except FileNotFoundError:
        raise InputError("file not found", path=path) from None
    except UnicodeDecodeError:
        raise InputError("not a text CSV file (cannot decode as UTF-8)", path=path) from None
    rows = list(csv.reader(io.StringIO(text)))
    while rows and not any(c.strip() for c in rows[-1]):
        rows.pop()
    if not rows:
        raise InputError("empty file", path=path)
    header = [h.strip() for h in rows[0]]
    lower = [h.lower() for h in header]
    if "timecode" in lower:
        time_col, time_kind = lower.index("timecode"), "timecode"
    elif "time" in lower:
        time_col, time_kind = lower.index("time"), "seconds"
    else:
        raise InputError("missing column 'Timecode' (or 'time' in seconds)", path=path, row=1)
    skip = {time_col} | {i for i, h in enumerate(lower) if h in ("blendshapecount", "frame")}
    curve_cols = [i for i in range(len(header)) if i not in skip]
    if not curve_cols:
        raise InputError("no curve columns", path=path, row=1)
    names = [header[i] for i in curve_cols]
    for i, n in enumerate(names):
        if not n:
            raise InputError("a curve column has no name", path=path, row=1, column=curve_cols[i] + 1)
    llf_take = "blendshapecount" in lower
    space = space or (get_space("livelinkface") if llf_take else infer_space(names, path))
    targets = [space.index(n, path) for n in names]
    if llf_take and space.name == "livelinkface" and len(set(targets)) < len(space):
        # A Live Link Face take always has all 61 columns: fewer means a damaged file.
        lacking = [space.curves[i] for i in range(len(space)) if i not in set(targets)]
        raise InputError(
            f"Live Link Face take lacks {len(lacking)} columns: {', '.join(lacking[:5])}", path=path, row=1
        )
    seen = {}
    for n, t in zip(names, targets):
        if t in seen:
            raise InputError(f"columns {seen[t]!r} and {n!r} are the same curve {space.curves[t]!r}", path=path, row=1)
        seen[t] = n
    if len(rows) < 2:
        raise InputError("no frames (only a header)", path=path)
    frames = np.tile(space.neutral.astype(np.float64), (len(rows) - 1, 1))
    codes: list[tuple[int, float]] = []
    seconds: list[float] = []
    for r, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise InputError(f"expected {len(header)} cells, found {len(row)}", path=path, row=r)
        cell = row[time_col]
        if time_kind == "timecode":
            try:
                codes.append(parse_timecode(cell))
            except ValueError as e:
                raise InputError(str(e), path=path, row=r, column=header[time_col]) from None
        else:
            seconds.append(_number(cell, path, r, header[time_col]))
        for c, t in zip(curve_cols, targets):
            frames[r - 2, t] = _number(row[c], path, r, header[c])
    if time_kind == "timecode":
        times, fps = _times_from_timecodes(codes, fps)
    else:
        times = np.array(seconds)
        fps = fps or rate_from_times(times) or float(LIVE_LINK_FACE_FPS)
    return Take(space, fps, frames, start=float(times[0]), meta={"source": str(path), "curves_present": len(names)})


def write_csv(take: Take, path) -> None:
    """Live Link Face take layout for livelinkface; `Timecode,<curves>` otherwise. Values with
    10 decimals, as the app writes them."""
    llf = take.space.name == "livelinkface"
    order = [take.space.index(n) for n in livelinkface_csv_columns()] if llf else list(range(len(take.space)))
    rate = int(round(take.fps))
    with atomic_output(path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        head = ["Timecode"] + (["BlendShapeCount"] if llf else []) + [take.space.curves[i] for i in order]
        w.writerow(head)
        # Rows by hand: numbers and timecodes never need CSV quoting, and one %-format per row
        # (timecode and values together, the timecodes' numbers computed for the whole take at
        # once) is ~5x faster than a cell list through csv.writer (a bake writes millions of
        # cells). The float32 values widen exactly to float, so the digits are those of
        # f"{value:.10f}"; the timecode is format_timecode's.
        row_format = "%02d:%02d:%02d:%02d.%03d" + (",61," if llf else ",") + ",".join(["%.10f"] * len(order)) + "\n"
        codes = timecode_fields(take.times, rate).tolist()
        values = take.frames[:, order].astype(np.float64).tolist()
        f.write("".join([row_format % (*c, *v) for c, v in zip(codes, values)]))


# -- JSON -----------------------------------------------------------------------------------------


def read_json(path, space: RigSpace | None = None, fps: float | None = None) -> Take:
    path = Path(path)
    doc = read_json_file(path)
    if not isinstance(doc, dict) or doc.get("format") != TAKE_FORMAT:
        raise InputError(f'not an emorig take (expected "format": "{TAKE_FORMAT}")', path=path)
    curves, frames = doc.get("curves"), doc.get("frames")
    if not isinstance(curves, list) or not all(isinstance(c, str) for c in curves):
        raise InputError("'curves' must be a list of names", path=path)
    if not isinstance(frames, list):
        raise InputError("'frames' must be a list of frames", path=path)
    if space is None:
        space = get_space(doc["space"]) if isinstance(doc.get("space"), str) else infer_space(curves, path)
    rate = fps or doc.get("fps")
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not rate > 0:
        raise InputError("'fps' must be a positive number", path=path)
    data = np.tile(space.neutral.astype(np.float64), (len(frames), 1))
    cols = space.indices(curves, path)
    for r, frame in enumerate(frames):
        if not isinstance(frame, list) or len(frame) != len(curves):
            raise InputError(f"frame {r} must hold {len(curves)} numbers", path=path)
        for c, v in enumerate(frame):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise InputError(f"frame {r}: value for {curves[c]!r} is not a finite number: {v!r}", path=path)
            data[r, cols[c]] = v
    if not len(frames):
        raise InputError("no frames", path=path)
    start = doc.get("start", 0.0)
    if isinstance(start, bool) or not isinstance(start, (int, float)):
        raise InputError("'start' must be a number of seconds", path=path)
    return Take(space, float(rate), data, start=float(start), meta={"source": str(path)})


def write_json(take: Take, path) -> None:
    doc = {
        "format": TAKE_FORMAT,
        "version": TAKE_VERSION,
        "space": take.space.name,
        "fps": take.fps,
        "start": take.start,
        "curves": list(take.space.curves),
        "frames": [[round(float(v), 7) for v in f] for f in take.frames],
    }
    doc.update({k: v for k, v in _emotion_track(take).items()})
    with atomic_output(path, "w", encoding="utf-8") as f:
        json.dump(doc, f, separators=(",", ":"))
        f.write("\n")


# -- NPZ ------------------------------------------------------------------------------------------


def read_npz(path, space: RigSpace | None = None, fps: float | None = None) -> Take:
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except FileNotFoundError:
        raise InputError("file not found", path=path) from None
    except ValueError as e:
        raise InputError(f"NPZ holds objects that would need unpickling; refused ({e})", path=path) from None
    except Exception as e:  # zipfile.BadZipFile, OSError, EOFError ...
        raise InputError(f"not a readable NPZ file ({type(e).__name__}: {e})", path=path) from None
    if "frames" not in arrays:
        raise InputError("NPZ has no 'frames' array", path=path)
    frames = arrays["frames"]
    if frames.ndim != 2 or not np.issubdtype(frames.dtype, np.number):
        raise InputError(f"'frames' must be a 2-D numeric array, got {frames.dtype} {frames.shape}", path=path)
    if space is None and "space" in arrays:
        space = get_space(str(arrays["space"]))
    curves = [str(c) for c in arrays["curves"]] if "curves" in arrays else None
    if curves is None:
        if space is None or frames.shape[1] != len(space):
            raise InputError("NPZ has no 'curves' array and its width matches no given space", path=path)
        curves = list(space.curves)
    space = space or infer_space(curves, path)
    if frames.shape[1] != len(curves):
        raise InputError(f"'frames' has {frames.shape[1]} columns but {len(curves)} curve names", path=path)
    bad = np.argwhere(~np.isfinite(frames))
    if len(bad):
        r, c = bad[0]
        raise InputError(f"frame {r}: value for {curves[c]!r} is not finite", path=path)
    data = np.tile(space.neutral.astype(np.float64), (len(frames), 1))
    data[:, space.indices(curves, path)] = frames
    rate = fps or (float(arrays["fps"]) if "fps" in arrays else None)
    if not rate or rate <= 0:
        raise InputError("NPZ has no positive 'fps'; pass --fps", path=path)
    start = float(arrays["start"]) if "start" in arrays else 0.0
    return Take(space, rate, data, start=start, meta={"source": str(path)})


def write_npz(take: Take, path) -> None:
    with atomic_output(path, "wb") as f:
        np.savez_compressed(
            f,
            frames=take.frames.astype(np.float32),
            curves=np.array(take.space.curves),
            space=np.array(take.space.name),
            fps=np.array(take.fps),
            start=np.array(take.start),
            **{k: np.array(v) for k, v in _emotion_track(take).items()},
        )


def _emotion_track(take: Take) -> dict:
    """The take's per-frame emotion label and intensity, when it carries them (takes the bridge
    records do): written into .json and .npz so `emorig preview` can show them; CSV has no room."""
    out = {}
    labels, intensity = take.meta.get("emotion"), take.meta.get("intensity")
    if isinstance(labels, str):  # one label for the whole take
        labels = [labels] * len(take)
    if isinstance(intensity, (int, float)):
        intensity = [intensity] * len(take)
    if labels is not None and len(labels) == len(take):
        out["emotion"] = [str(x) for x in labels]
    if intensity is not None and len(intensity) == len(take):
        out["intensity"] = [round(float(x), 4) for x in intensity]
    return out


READERS = {".csv": read_csv, ".json": read_json, ".npz": read_npz}
WRITERS = {".csv": write_csv, ".json": write_json, ".npz": write_npz}


def _format(path) -> str:
    ext = Path(path).suffix.lower()
    if ext not in READERS:
        raise InputError(f"unknown take format {ext or '(none)'!r}; use .csv, .json or .npz", path=path)
    return ext


def read_take(path, space: RigSpace | str | None = None, fps: float | None = None) -> Take:
    if isinstance(space, str):
        space = get_space(space)
    return READERS[_format(path)](path, space=space, fps=fps)


def write_take(take: Take, path) -> None:
    WRITERS[_format(path)](take, path)
