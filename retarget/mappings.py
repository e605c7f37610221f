"""Mappings between rig spaces, and retargeting a take through them.

ARKit is the hub: every built-in space has a mapping to and from it, and a take
goes source -> arkit -> target unless a direct mapping exists. A mapping has a
forward direction (as its data is written) and an inverse, which is always a
bounded least-squares solve with the shared BlendshapeSolver: the inverse of an
additive pose mapping is "which ARKit weights in [0, 1] best explain these
curves", not a matrix inverse.

Mapping files (JSON, `"format": "emorig-mapping"`) let a user's own rig replace
a built-in table; see docs/rig-spaces.md for the form and
engine_plugins/unreal/EmoRig/Content/Python/emorig_export_arkit_mapping.py for
the Unreal exporter.
"""

from __future__ import annotations

import functools
import json
import sys
from importlib import resources
from pathlib import Path

import numpy as np

from .errors import InputError
from .fileio import atomic_write_text, read_json_file
from .solver import BlendshapeSolver, SolverSettings
from .spaces import MH_PREFIX, RigSpace, get_space

MAPPING_FORMAT = "emorig-mapping"
MAPPING_VERSION = 1
SATURATION_ROUNDS = 200  # at most; it stops once the weights settle


class LinearMapping:
    """target = clip(matrix @ source + bias); inverse by the bounded solver.

    Subclasses add the few non-linear rules real rigs have (MetaHuman's
    lips-together ratio, VRCFT's eye closure) through `rules_forward` and
    `rules_inverse`; the curves those rules own are left out of the linear part.
    """

    kind = "linear"

    def __init__(self, source: RigSpace, target: RigSpace, matrix, bias=None, *, clamp=True, note=""):
        self.source, self.target = source, target
        self.matrix = np.asarray(matrix, dtype=np.float64)
        if self.matrix.shape != (len(target), len(source)):
            raise ValueError(f"matrix must be {len(target)} x {len(source)}, got {self.matrix.shape}")
        self.bias = np.zeros(len(target)) if bias is None else np.asarray(bias, dtype=np.float64)
        self.clamp = clamp
        self.note = note
        self._solvers: dict[SolverSettings, tuple[BlendshapeSolver, np.ndarray]] = {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.source.name} -> {self.target.name})"

    # -- forward -------------------------------------------------------------
    def forward(self, frames: np.ndarray) -> np.ndarray:
        x = np.asarray(frames, dtype=np.float64)
        y = x @ self.matrix.T + self.bias
        y = self.rules_forward(x, y)
        return self.target.clip(y) if self.clamp else y

    def rules_forward(self, source: np.ndarray, target: np.ndarray) -> np.ndarray:
        return target

    # -- inverse -------------------------------------------------------------
    def solver_columns(self) -> np.ndarray:
        """Source curves the solve finds (the rest come from rules or stay neutral)."""
        return np.flatnonzero(np.any(self.matrix != 0, axis=0))

    def _solver(self, settings: SolverSettings) -> tuple[BlendshapeSolver, np.ndarray]:
        # Built once per settings: the Gram matrix is the same for every take.
        if settings not in self._solvers:
            self._solvers[settings] = self._build_solver(settings)
        return self._solvers[settings]

    def _build_solver(self, settings: SolverSettings) -> tuple[BlendshapeSolver, np.ndarray]:
        cols = self.solver_columns()
        local = {c: i for i, c in enumerate(cols)}
        pairs = [(local[a], local[b]) for a, b in self.source.pairs if a in local and b in local]
        solver = BlendshapeSolver(
            self.matrix[:, cols], self.source.lower[cols], self.source.upper[cols], pairs, settings
        )
        return solver, cols

    def inverse(self, frames: np.ndarray, settings: SolverSettings | None = None, prev=None) -> np.ndarray:
        y = np.asarray(frames, dtype=np.float64) - self.bias
        solver, cols = self._solver(settings or SolverSettings(l2=1e-5))
        x = self.source.neutral_frames(len(y)).astype(np.float64)
        p = None if prev is None else prev[cols]
        w = solver.solve(y, prev=p)
        if self.clamp:
            # A clamped target curve only says "at least this much" (two poses may have summed
            # past the top of its range). Treat it as a lower bound: alternate between solving
            # and raising its target to what the solution asks for. This is alternating
            # minimisation of the one-sided (hinge) fit, a convex problem, so it converges;
            # only frames with a saturated curve take part (all frames if they are coupled in time).
            saturated = y >= self.target.upper - self.bias - 1e-6
            rows = np.flatnonzero(saturated.any(axis=1))
            if len(rows) and solver.settings.temporal > 0:
                rows = np.arange(len(y))
            ys, sat, ws = y[rows], saturated[rows], w[rows]
            for _ in range(SATURATION_ROUNDS if len(rows) else 0):
                target = np.where(sat, np.maximum(ys, ws @ solver.basis.T), ys)
                new = solver.solve(target, init=ws, prev=p if rows[0] == 0 else None)
                moved = np.abs(new - ws).max()
                ws = new
                if moved < 1e-6:
                    break
            w[rows] = ws
        x[:, cols] = w
        return self.rules_inverse(x, np.asarray(frames, dtype=np.float64))

    def rules_inverse(self, source: np.ndarray, target: np.ndarray) -> np.ndarray:
        return source

    # -- files ---------------------------------------------------------------
    def to_json(self) -> dict:
        return {
            "format": MAPPING_FORMAT,
            "version": MAPPING_VERSION,
            "kind": "linear",
            "source": self.source.name,
            "target": self.target.name,
            "source_curves": list(self.source.curves),
            "target_curves": list(self.target.curves),
            "matrix": self.matrix.round(8).tolist(),
            "bias": self.bias.round(8).tolist(),
            "clamp": self.clamp,
            "note": self.note,
        }


def _col(space: RigSpace, name: str) -> int:
    return space.curves.index(name)


class RenameMapping(LinearMapping):
    """Same curves, other spelling or order (ARKit <-> Live Link Face, MetaHuman rig versions)."""

    def __init__(self, source: RigSpace, target: RigSpace):
        matrix = np.zeros((len(target), len(source)))
        for j, name in enumerate(source.curves):
            i = target.find(name)
            if i is not None:
                matrix[i, j] = 1.0
        super().__init__(source, target, matrix)
        # Curves the target has but the source lacks keep the target's neutral.
        self.bias = np.where(matrix.any(axis=1), 0.0, target.neutral)

    def inverse(self, frames, settings=None, prev=None):
        # A renaming needs no solve: copy the shared curves back.
        y = np.asarray(frames, dtype=np.float64)
        x = self.source.neutral_frames(len(y)).astype(np.float64)
        rows, cols = np.nonzero(self.matrix)
        x[:, cols] = y[:, rows]
        return x


class ArkitToMetahuman(LinearMapping):
    """Epic's additive ARKit pose mapping plus Unreal's lips-together rule for mouthClose."""

    kind = "additive-poses"
    LIPS_TOGETHER = ("mouthLipsTogetherUL", "mouthLipsTogetherUR", "mouthLipsTogetherDL", "mouthLipsTogetherDR")

    def __init__(self, target: RigSpace, poses: dict[str, dict[str, float]], note="", path=None):
        source = get_space("arkit")
        matrix = np.zeros((len(target), len(source)))
        extra = []
        for pose, curves in poses.items():
            j = source.index(pose, path)
            for curve, weight in curves.items():
                i = target.find(curve)
                if i is None:
                    extra.append(curve)
                    continue
                matrix[i, j] += float(weight)
        # Animated-map curves (head_wm*) and curves of another rig version are not ours to
        # drive; load_mapping tells the user which were left out.
        self.dropped = sorted(set(extra))
        super().__init__(source, target, matrix, note=note)
        self.poses = poses
        self._jaw, self._close = _col(source, "jawOpen"), _col(source, "mouthClose")
        self._together = [i for i in (target.find(MH_PREFIX + n) for n in self.LIPS_TOGETHER) if i is not None]

    def rules_forward(self, source, target):
        jaw, close = source[:, self._jaw], source[:, self._close]
        # Unreal's MetaHuman Live Link graph: LipsTogether = clamp(mouthClose / jawOpen, 0, 1).
        # With the jaw shut there is nothing to close: any mouthClose then means fully together.
        ratio = np.divide(close, jaw, out=np.where(close > 0, 1.0, 0.0), where=jaw > 1e-6)
        target[:, self._together] = np.clip(ratio, 0.0, 1.0)[:, None]
        return target

    def rules_inverse(self, source, target):
        if self._together:
            together = np.clip(target[:, self._together].mean(axis=1), 0.0, 1.0)
            source[:, self._close] = together * source[:, self._jaw]
        return source

    def to_json(self) -> dict:
        return {
            "format": MAPPING_FORMAT,
            "version": MAPPING_VERSION,
            "kind": "additive-poses",
            "source": "arkit",
            "target": self.target.name,
            "poses": self.poses,
            "note": self.note,
        }


class ArkitToVrcft(LinearMapping):
    """VRCFaceTracking's ARKit -> Unified Expressions copies plus its eye and lip-suck rules."""

    def __init__(self, rows: list[tuple[str, str, float]]):
        source, target = get_space("arkit"), get_space("vrcft")
        matrix = np.zeros((len(target), len(source)))
        for a, u, w in rows:
            matrix[target.index(u), source.index(a)] += w
        super().__init__(source, target, matrix)
        s = functools.partial(_col, source)
        t = functools.partial(_col, target)
        self.sides = []
        for side in ("Left", "Right"):
            self.sides.append(
                dict(
                    side=side,
                    blink=s(f"eyeBlink{side}"),
                    squint=s(f"eyeSquint{side}"),
                    look_in=s(f"eyeLookIn{side}"),
                    look_out=s(f"eyeLookOut{side}"),
                    look_up=s(f"eyeLookUp{side}"),
                    look_down=s(f"eyeLookDown{side}"),
                    upper_up=s(f"mouthUpperUp{side}"),
                    closed=t(f"EyeClosed{side}"),
                    x=t(f"Eye{side}X"),
                    y=t(f"Eye{side}Y"),
                    suck_upper=t(f"LipSuckUpper{side}"),
                )
            )
        self._roll_upper = s("mouthRollUpper")

    def solver_columns(self):
        ruled = {d[k] for d in self.sides for k in ("blink", "look_in", "look_out", "look_up", "look_down")}
        ruled.add(self._roll_upper)
        return np.array([c for c in super().solver_columns() if c not in ruled], dtype=int)

    def rules_forward(self, x, y):
        for d in self.sides:
            blink = x[:, d["blink"]]
            y[:, d["closed"]] = np.clip(blink + blink * x[:, d["squint"]], 0.0, 1.0)
            # Gaze: +X looks to the avatar's right. For the left eye that is "in" (toward the
            # nose), for the right eye "out".
            toward_right = x[:, d["look_in"]] - x[:, d["look_out"]]
            y[:, d["x"]] = toward_right if d["side"] == "Left" else -toward_right
            y[:, d["y"]] = x[:, d["look_up"]] - x[:, d["look_down"]]
            # VRCFT gates upper-lip suck by the upper lip's raise so the two never fight.
            gate = 1.0 - np.clip(x[:, d["upper_up"]], 0.0, 1.0) ** (1.0 / 6.0)
            y[:, d["suck_upper"]] = np.minimum(gate, x[:, self._roll_upper])
        return y

    def rules_inverse(self, x, y):
        for d in self.sides:
            x[:, d["blink"]] = np.clip(y[:, d["closed"]] / (1.0 + x[:, d["squint"]]), 0.0, 1.0)
            toward_right = y[:, d["x"]] if d["side"] == "Left" else -y[:, d["x"]]
            x[:, d["look_in"]] = np.clip(toward_right, 0.0, 1.0)
            x[:, d["look_out"]] = np.clip(-toward_right, 0.0, 1.0)
            x[:, d["look_up"]] = np.clip(y[:, d["y"]], 0.0, 1.0)
            x[:, d["look_down"]] = np.clip(-y[:, d["y"]], 0.0, 1.0)
        x[:, self._roll_upper] = np.clip(y[:, [d["suck_upper"] for d in self.sides]].max(axis=1), 0.0, 1.0)
        return x


# -- built-in tables -----------------------------------------------------------------------------


def _read_tsv(name: str) -> list[list[str]]:
    text = resources.files("retarget").joinpath("data").joinpath("mappings").joinpath(name).read_text("utf-8")
    rows = [line.split("\t") for line in text.splitlines() if line.strip() and not line.startswith("#")]
    return rows[1:]  # drop the header


def builtin_metahuman_poses() -> dict[str, dict[str, float]]:
    poses: dict[str, dict[str, float]] = {}
    for arkit, curve, weight in _read_tsv("arkit_to_metahuman.tsv"):
        poses.setdefault(arkit, {})[MH_PREFIX + curve] = float(weight)
    return poses


@functools.cache
def builtin_mapping(source: str, target: str) -> LinearMapping | None:
    """The built-in mapping from `source` to `target` in its forward direction, if one exists."""
    if source == "arkit" and target in ("metahuman", "metahuman_2021"):
        return ArkitToMetahuman(
            get_space(target), builtin_metahuman_poses(), note="built-in (Epic mh_arkit_mapping_pose)"
        )
    if source == "arkit" and target == "vrcft":
        return ArkitToVrcft([(a, u, float(w)) for a, u, w in _read_tsv("arkit_to_vrcft.tsv")])
    if {source, target} in ({"arkit", "livelinkface"}, {"metahuman", "metahuman_2021"}):
        return RenameMapping(get_space(source), get_space(target))
    return None


# -- mapping files --------------------------------------------------------------------------------


def _require(doc: dict, field: str, kind, path):
    if field not in doc:
        raise InputError(f"mapping has no {field!r} field", path=path)
    if not isinstance(doc[field], kind):
        raise InputError(f"mapping field {field!r} has the wrong type", path=path)
    return doc[field]


def _finite(value, path, what) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
        raise InputError(f"{what} is not a finite number: {value!r}", path=path)
    return float(value)


def mapping_from_json(doc, path=None):
    """Build a mapping from its JSON form (validated; errors name the file and field)."""
    if not isinstance(doc, dict) or doc.get("format") != MAPPING_FORMAT:
        raise InputError(f'not an emorig mapping (expected "format": "{MAPPING_FORMAT}")', path=path)
    if doc.get("version") != MAPPING_VERSION:
        raise InputError(
            f"mapping version {doc.get('version')!r} is not supported (this emorig reads {MAPPING_VERSION})", path=path
        )
    kind = _require(doc, "kind", str, path)
    target = get_space(_require(doc, "target", str, path))
    note = doc.get("note", "") if isinstance(doc.get("note", ""), str) else ""
    if kind == "additive-poses":
        poses = _require(doc, "poses", dict, path)
        clean = {}
        for pose, curves in poses.items():
            if not isinstance(curves, dict):
                raise InputError(f"pose {pose!r} must map curve names to weights", path=path)
            clean[pose] = {c: _finite(w, path, f"weight of {pose}/{c}") for c, w in curves.items()}
        return ArkitToMetahuman(target, clean, note=note, path=path)
    if kind == "linear":
        source = get_space(_require(doc, "source", str, path))
        src_names = _require(doc, "source_curves", list, path)
        dst_names = _require(doc, "target_curves", list, path)
        rows = _require(doc, "matrix", list, path)
        if len(rows) != len(dst_names) or any(not isinstance(r, list) or len(r) != len(src_names) for r in rows):
            raise InputError(f"matrix must be {len(dst_names)} rows of {len(src_names)} numbers", path=path)
        bias = doc.get("bias", [0.0] * len(dst_names))
        if not isinstance(bias, list) or len(bias) != len(dst_names):
            raise InputError(f"bias must be {len(dst_names)} numbers", path=path)
        matrix = np.zeros((len(target), len(source)))
        full_bias = target.neutral.astype(np.float64).copy()
        src_idx = source.indices(src_names, path)
        dst_idx = target.indices(dst_names, path)
        for r, i in enumerate(dst_idx):
            full_bias[i] = _finite(bias[r], path, f"bias[{r}]")
            for c, j in enumerate(src_idx):
                matrix[i, j] = _finite(rows[r][c], path, f"matrix[{r}][{c}]")
        return LinearMapping(source, target, matrix, full_bias, clamp=bool(doc.get("clamp", True)), note=note)
    raise InputError(f"unknown mapping kind {kind!r} (known: additive-poses, linear)", path=path)


def load_mapping(path) -> LinearMapping:
    path = Path(path)
    if not path.exists():
        raise InputError("mapping file not found", path=path)
    mapping = mapping_from_json(read_json_file(path), path)
    dropped = getattr(mapping, "dropped", [])
    if dropped:
        print(
            f"emorig: note: {path}: {len(dropped)} curves are not in rig space {mapping.target.name!r} "
            f"and are left out (e.g. {dropped[0]})",
            file=sys.stderr,
        )
    return mapping


def save_mapping(mapping: LinearMapping, path) -> None:
    atomic_write_text(path, json.dumps(mapping.to_json(), indent=1) + "\n")


# -- retargeting ----------------------------------------------------------------------------------


def _steps(source: RigSpace, target: RigSpace, user: list[LinearMapping]):
    """The chain of (mapping, direction) that takes `source` to `target`."""

    def edge(a: RigSpace, b: RigSpace):
        for m in user:
            if (m.source.name, m.target.name) == (a.name, b.name):
                return (m, "forward")
            if (m.source.name, m.target.name) == (b.name, a.name):
                return (m, "inverse")
        m = builtin_mapping(a.name, b.name)
        if m is not None:
            return (m, "forward")
        m = builtin_mapping(b.name, a.name)
        return (m, "inverse") if m is not None else None

    direct = edge(source, target)
    if direct:
        return [direct]
    hub = get_space("arkit")
    first, second = edge(source, hub), edge(hub, target)
    if first and second:
        return [first, second]
    missing = source if not first else target
    hint = (
        " (FLAME needs a mapping fitted to your model: see `emorig mapping --help`)"
        if missing.name.startswith("flame")
        else ""
    )
    raise InputError(f"no mapping from {source.name!r} to {target.name!r}: pass --mapping FILE{hint}")


def retarget_frames(frames, source: RigSpace, target: RigSpace, mappings=(), settings: SolverSettings | None = None):
    """Frames of `source` as frames of `target`, through the user's mappings where given."""
    x = np.asarray(frames, dtype=np.float64)
    if source.name == target.name:
        return x.copy()
    for mapping, direction in _steps(source, target, list(mappings)):
        x = mapping.forward(x) if direction == "forward" else mapping.inverse(x, settings)
    return x
