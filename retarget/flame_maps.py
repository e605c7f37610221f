"""Connecting FLAME and ARKit, fitted to the user's own data.

FLAME's expression coefficients are PCA components of one training set: they
have no names, and what an ARKit shape means in FLAME depends on the user's
model and taste. So emorig ships no FLAME <-> ARKit table; it builds one from
what the user has, in one of two ways:

1. `fit_linear_map`: paired frames (the same performance as a FLAME take and an
   ARKit take, or any two spaces) -> ridge regression with a bias.
2. `solve_from_meshes`: ARKit-semantics blendshape meshes on FLAME topology ->
   for every ARKit shape the FLAME expression coefficients and jaw (and eye)
   rotations that reproduce it. That is an ARKit -> FLAME mapping whose inverse
   (FLAME -> ARKit) is the usual bounded solve. `GeometricSolve` goes
   FLAME -> ARKit through the meshes themselves instead: it poses FLAME and
   solves ARKit weights in [0, 1] against the vertex offsets.

Both give `LinearMapping`s that save as emorig-mapping JSON and load with
`retarget.mappings.load_mapping`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.linalg import solve_triangular
from scipy.optimize import lsq_linear

from .errors import InputError
from .flame import JOINTS, FlameModel
from .mappings import LinearMapping
from .solver import BlendshapeSolver, SolverSettings
from .spaces import RigSpace, get_space
from .takes import Take

FD_STEP = 1e-5  # central-difference step (radians) for the rotation columns of the Jacobian
GAUSS_NEWTON_STEPS = 30  # the fit is only mildly non-linear: a handful of steps is typical
PARAM_RIDGE = 1e-6  # keeps components no mesh moves at zero, relative to a typical component's size
FRAME_CHUNK = 256  # frames posed at once in the geometric solve (bounds memory on 5023-vertex heads)


# -- 1. from paired frames ------------------------------------------------------------------------


def fit_linear_map(source_take: Take, target_take: Take, ridge: float = 1e-3) -> LinearMapping:
    """A source -> target mapping from two takes of the same performance, frame by frame.

    Minimises mean ||target - (M source + b)||^2 + ridge * ||M||^2. Source curves that never
    move get zero weight, so a mapping fitted without, say, the eye curves leaves them alone.
    The mapping's note (and its `residual` attribute) gives the RMS residual per curve.
    """
    x = np.asarray(source_take.frames, dtype=np.float64)
    y = np.asarray(target_take.frames, dtype=np.float64)
    where = source_take.meta.get("source")
    if len(x) != len(y):
        raise InputError(
            f"the takes must pair frame by frame: {len(x)} source frames but {len(y)} target frames", path=where
        )
    if not (np.isfinite(ridge) and ridge >= 0):
        raise InputError(f"ridge must be a number >= 0, not {ridge!r}")
    varying = int(np.sum(np.ptp(x, axis=0) > 1e-9)) if len(x) else 0
    needed = max(3, varying + 1)
    if len(x) < needed:
        raise InputError(
            f"too few frames to fit: {len(x)} paired frames for {varying} moving source curves "
            f"(need at least {needed}; use a longer take with varied expressions)",
            path=where,
        )
    n = len(x)
    x_mean, y_mean = x.mean(axis=0), y.mean(axis=0)
    xc, yc = x - x_mean, y - y_mean
    gram = xc.T @ xc + ridge * n * np.eye(x.shape[1])
    matrix = np.linalg.solve(gram, xc.T @ yc).T
    bias = y_mean - matrix @ x_mean

    src, dst = source_take.space, target_take.space
    mapping = LinearMapping(src, dst, matrix, bias, clamp=True)
    err = mapping.forward(x) - y
    rms = float(np.sqrt(np.mean(err**2)))
    per_curve = np.sqrt(np.mean(err**2, axis=0))
    worst = int(np.argmax(per_curve))
    mapping.residual = rms
    mapping.note = (
        f"fitted {src.name} -> {dst.name} from {n} paired frames (ridge {ridge:g}); "
        f"RMS residual {rms:.4g}, worst curve {dst.curves[worst]} {per_curve[worst]:.4g}"
    )
    # Frames pair by index. A differing rate is worth a word but no refusal: a short CSV take's
    # rate is only inferred from its timecodes and may be off.
    if abs(source_take.fps - target_take.fps) > 0.01 * max(source_take.fps, target_take.fps):
        mapping.note += f"; the takes say {source_take.fps:g} and {target_take.fps:g} fps, frames were paired by index"
    return mapping


# -- meshes on FLAME topology ---------------------------------------------------------------------


def read_obj_vertices(path) -> np.ndarray:
    """Vertex positions [V, 3] of an OBJ file; only `v x y z` lines matter (colours after xyz are ignored)."""
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8", errors="replace")
    except FileNotFoundError:
        raise InputError("OBJ file not found", path=path) from None
    except OSError as e:
        raise InputError(f"cannot read OBJ file ({e.strerror or e})", path=path) from None
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        parts = line.split()
        if not parts or parts[0] != "v":
            continue
        try:
            values = [float(p) for p in parts[1:]]
        except ValueError:
            values = []
        if len(values) < 3 or not all(np.isfinite(values)):
            raise InputError(
                f"line {number}: malformed vertex line {line.strip()[:60]!r} (expected 'v x y z')", path=path
            )
        rows.append(values[:3])
    if not rows:
        raise InputError("OBJ file has no vertices ('v x y z' lines)", path=path)
    return np.array(rows, dtype=np.float64)


def _arkit_name(name: str, path) -> str:
    arkit = get_space("arkit")
    return arkit.curves[arkit.index(name, path)]


def read_shape_meshes(path, n_vertices: int | None = None) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """(neutral [V, 3], {ARKit name: [V, 3]}) from a folder of OBJ files named by shape plus
    `neutral.obj`, or from one NPZ with arrays named by shape plus `neutral`.

    Names are forgiving (`jawOpen`, `JawOpen`, `jaw_open`, `blendShape1.jawOpen`); an unknown
    name is an error rather than silently skipped, so a misspelt file is noticed.
    """
    path = Path(path)
    meshes: dict[str, tuple[np.ndarray, Path, str]] = {}
    neutral = None
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() == ".obj" and p.is_file())
        if not files:
            raise InputError("folder holds no .obj files", path=path)
        entries = [(p.stem, p, lambda p=p: read_obj_vertices(p)) for p in files]
    elif path.is_file():
        arrays = _read_mesh_npz(path)
        entries = [(k, path, lambda a=a: a) for k, a in arrays.items()]
    else:
        raise InputError("shapes not found (expected a folder of .obj files or an .npz)", path=path)
    for name, where, load in entries:
        if name.strip().lower() == "neutral":
            neutral = (load(), where)
            continue
        shape = _arkit_name(name, where)
        if shape in meshes:
            raise InputError(f"two meshes for {shape}: {meshes[shape][2]!r} and {name!r}", path=where)
        meshes[shape] = (load(), where, name)
    if neutral is None:
        raise InputError("no neutral mesh (neutral.obj, or an array named 'neutral')", path=path)
    if not meshes:
        raise InputError("no ARKit shape meshes beside the neutral", path=path)
    want = n_vertices if n_vertices is not None else len(neutral[0])
    for name, (vertices, where, *_) in [("neutral", neutral), *meshes.items()]:
        if vertices.shape != (want, 3):
            about = "the FLAME model has" if n_vertices is not None else "the neutral has"
            raise InputError(f"{name}: {len(vertices)} vertices but {about} {want}", path=where)
    return neutral[0], {k: v for k, (v, *_) in meshes.items()}


def _read_mesh_npz(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except ValueError as e:
        raise InputError(f"NPZ holds objects that would need unpickling; refused ({e})", path=path) from None
    except Exception as e:  # BadZipFile, OSError, ...
        raise InputError(f"not a readable NPZ file ({type(e).__name__}: {e})", path=path) from None
    out = {}
    for k, a in arrays.items():
        if not np.issubdtype(a.dtype, np.number) or a.ndim != 2 or a.shape[1] != 3:
            raise InputError(f"array {k!r} must be vertex positions [V, 3], got {a.dtype} {a.shape}", path=path)
        if not np.all(np.isfinite(a)):
            raise InputError(f"array {k!r} holds values that are not finite", path=path)
        out[k] = a.astype(np.float64)
    return out


def _check_meshes(model: FlameModel, neutral, shapes) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Vertex arrays as float64, shapes keyed by canonical ARKit name, counts checked."""
    v = model.n_vertices
    neutral = np.asarray(neutral, dtype=np.float64)
    if neutral.shape != (v, 3):
        raise InputError(f"neutral mesh has shape {neutral.shape} but the FLAME model has {v} vertices")
    out = {}
    for name, mesh in shapes.items():
        mesh = np.asarray(mesh, dtype=np.float64)
        if mesh.shape != (v, 3):
            raise InputError(f"mesh {name!r} has shape {mesh.shape} but the FLAME model has {v} vertices")
        canonical = _arkit_name(name, None)
        if canonical in out:
            raise InputError(f"two meshes for {canonical}")
        out[canonical] = mesh
    if not out:
        raise InputError("no ARKit shape meshes given")
    return neutral, out


def fit_identity(model: FlameModel, neutral) -> tuple[np.ndarray, float]:
    """Identity coefficients that make FLAME's neutral match `neutral`, and the RMS vertex error.

    At zero pose FLAME is linear in them, so this is a small ridge least-squares fit. It puts
    the joints (the jaw's pivot above all) where the user's head has them.
    """
    target = (np.asarray(neutral, dtype=np.float64) - model.v_template).ravel()
    if model.n_identity == 0:
        return np.zeros(0), float(np.sqrt(np.mean(target**2)))
    basis = model.identity_dirs.reshape(-1, model.n_identity)
    gram = basis.T @ basis
    gram += PARAM_RIDGE * np.trace(gram) / len(gram) * np.eye(len(gram))
    beta = np.linalg.solve(gram, basis.T @ target)
    return beta, float(np.sqrt(np.mean((basis @ beta - target) ** 2)))


# -- 2. ARKit -> FLAME from meshes ----------------------------------------------------------------


def _free_columns(model: FlameModel, space: RigSpace) -> list[int]:
    """Columns of the FLAME space a shape may use: the model's expressions, jaw and eyes.
    The neck stays at zero: ARKit shapes do not move the head."""
    cols, n_exp = [], 0
    for i, curve in enumerate(space.curves):
        if curve.startswith("exp"):
            if n_exp < model.n_expression:
                cols.append(i)
            n_exp += 1
        elif curve.rpartition("_r")[0] in JOINTS and not curve.startswith("neck"):
            cols.append(i)
    return cols


def _bounded_quadratic(chol: np.ndarray, rhs: np.ndarray, lower, upper) -> np.ndarray:
    """argmin x^T G x - 2 rhs^T x within [lower, upper], given G = L L^T (small and dense).

    With b = L^-1 rhs this is ||L^T x - b||^2 + const, a bounded least-squares problem that
    BVLS solves exactly (an active-set method: no tolerance to tune, unlike coordinate descent
    on the strongly correlated jaw and mouth-opening components)."""
    b = solve_triangular(chol, rhs, lower=True)
    return lsq_linear(chol.T, b, bounds=(lower, upper), method="bvls").x


def solve_from_meshes(model: FlameModel, neutral, shapes: dict, space: RigSpace | str = "flame50") -> LinearMapping:
    """An ARKit -> FLAME mapping from ARKit-semantics meshes on FLAME topology.

    For every shape, the FLAME parameters (expression coefficients, jaw and, if the space has
    them, eye rotations, within the space's ranges) whose posed mesh best reproduces the
    shape's offsets from `neutral`; they become that shape's column. Jaw and eyes act through
    skinning, so the fit is non-linear: a bounded solve linearised at the neutral gives the
    start, then Gauss-Newton steps (each a bounded solve, with backtracking) finish it. The
    Jacobian is exact for the expressions (`FlameModel.expression_jacobian`) and central
    differences for the few rotation parameters. Shapes not given are zero columns. The note
    (and `residual`) give the RMS vertex error.
    """
    space = get_space(space) if isinstance(space, str) else space
    if not any(c.startswith("exp") for c in space.curves):
        raise InputError(f"rig space {space.name!r} is not a FLAME space")
    neutral, shapes = _check_meshes(model, neutral, shapes)
    beta, identity_rms = fit_identity(model, neutral)
    cols = np.array(_free_columns(model, space))
    n_exp = sum(space.curves[c].startswith("exp") for c in cols)  # expressions come first in FLAME spaces
    n_par = len(cols)
    lower, upper = space.lower[cols], space.upper[cols]

    def frames_of(params: np.ndarray) -> np.ndarray:
        frames = np.zeros((len(params), len(space)))
        frames[:, cols] = params
        return frames

    def pose(params: np.ndarray) -> np.ndarray:  # [K, P] -> vertices [K, V*3]
        return model.forward_space(frames_of(params), space, shape=beta).reshape(len(params), -1)

    def jacobian(p: np.ndarray) -> np.ndarray:  # [V*3, P]
        rotations = model.split_frames(frames_of(p[None]), space)[1][0]
        steps = FD_STEP * np.eye(n_par)[n_exp:]
        probes = pose(np.concatenate([p + steps, p - steps]))
        half = n_par - n_exp
        return np.concatenate(
            [model.expression_jacobian(rotations, n_exp), ((probes[:half] - probes[half:]) / (2 * FD_STEP)).T], axis=1
        )

    rest = pose(np.zeros((1, n_par)))[0]
    jac0 = jacobian(np.zeros(n_par))
    ridge2 = PARAM_RIDGE * float(np.mean(np.sum(jac0**2, axis=0)))  # on ||p||^2, relative to a column's size
    if not ridge2 > 0:
        raise InputError("the FLAME model's expression blendshapes and jaw move no vertex", path=model.source or None)
    chol0 = np.linalg.cholesky(jac0.T @ jac0 + ridge2 * np.eye(n_par))

    arkit = get_space("arkit")
    matrix = np.zeros((len(space), len(arkit)))
    errors, sizes = [], []
    for name, mesh in shapes.items():
        target = rest + (mesh - neutral).ravel()
        p = _bounded_quadratic(chol0, jac0.T @ (target - rest), lower, upper)
        resid = pose(p[None])[0] - target
        cost = resid @ resid + ridge2 * p @ p
        for _ in range(GAUSS_NEWTON_STEPS):
            jac = jacobian(p)
            chol = np.linalg.cholesky(jac.T @ jac + ridge2 * np.eye(n_par))
            step = _bounded_quadratic(chol, jac.T @ (jac @ p - resid), lower, upper) - p
            t = 1.0
            while True:  # backtrack until the true cost goes down
                trial = np.clip(p + t * step, lower, upper)
                trial_resid = pose(trial[None])[0] - target
                trial_cost = trial_resid @ trial_resid + ridge2 * trial @ trial
                if trial_cost <= cost or t < 1e-3:
                    break
                t *= 0.5
            if trial_cost > cost:
                break
            done = cost - trial_cost <= 1e-12 * cost or np.max(np.abs(trial - p)) < 1e-10
            p, resid, cost = trial, trial_resid, trial_cost
            if done:
                break
        matrix[cols, arkit.index(name)] = p
        errors.append(np.mean(resid**2))
        sizes.append(np.mean((mesh - neutral) ** 2))

    rms = float(np.sqrt(np.mean(errors)))
    size = float(np.sqrt(np.mean(sizes)))
    mapping = LinearMapping(arkit, space, matrix, clamp=True)
    mapping.residual = rms
    mapping.note = (
        f"solved from {len(shapes)} ARKit meshes on FLAME topology ({model.n_vertices} vertices) "
        f"-> {space.name}; RMS vertex residual {rms:.4g} "
        f"({100 * rms / size if size else 0:.1f}% of the shapes' RMS offset); "
        f"neutral vs fitted FLAME identity RMS {identity_rms:.4g}"
    )
    return mapping


# -- FLAME -> ARKit through the geometry ----------------------------------------------------------


class GeometricSolve:
    """FLAME frames -> ARKit weights in [0, 1], solved against vertex offsets.

    Every FLAME frame is posed (neck zeroed: head motion is not a blendshape) on the identity
    fitted to the user's neutral, and the ARKit weights whose meshes best add up to its
    offsets are found with the shared bounded solver. The Gram matrix is scaled so that a
    typical shape has unit squared norm, which makes the settings' l1/l2/symmetry/temporal
    weights independent of the mesh's units.
    """

    def __init__(self, model: FlameModel, neutral, shapes: dict, settings: SolverSettings | None = None):
        self.model = model
        neutral, shapes = _check_meshes(model, neutral, shapes)
        self.beta, _ = fit_identity(model, neutral)
        arkit = self.arkit = get_space("arkit")
        self.columns = np.array([arkit.index(name) for name in shapes])
        self.basis = np.stack([(mesh - neutral).ravel() for mesh in shapes.values()], axis=1)  # [V*3, K]
        still = [name for name, column in zip(shapes, self.basis.T) if not np.any(column)]
        if still:
            raise InputError(f"mesh {still[0]!r} is identical to the neutral, so no weight for it can be solved")
        gram = self.basis.T @ self.basis
        self.scale = float(np.mean(np.diag(gram))) or 1.0
        local = {c: i for i, c in enumerate(self.columns)}
        pairs = [(local[a], local[b]) for a, b in arkit.pairs if a in local and b in local]
        self.solver = BlendshapeSolver.from_gram(
            gram / self.scale, 0.0, 1.0, pairs, settings or SolverSettings(l2=1e-6)
        )
        self._rest = {}

    def offsets_rhs(self, frames: np.ndarray, space: RigSpace) -> np.ndarray:
        """B^T (posed - rest) / scale for every frame [T, K], posed in chunks."""
        frames = np.array(frames, dtype=np.float64)
        frames[:, [i for i, c in enumerate(space.curves) if c.startswith("neck_")]] = 0.0
        if space.name not in self._rest:
            self._rest[space.name] = self.model.forward_space(np.zeros((1, len(space))), space, self.beta).ravel()
        rest = self._rest[space.name]
        rhs = np.empty((len(frames), len(self.columns)))
        for a in range(0, len(frames), FRAME_CHUNK):
            posed = self.model.forward_space(frames[a : a + FRAME_CHUNK], space, self.beta)
            rhs[a : a + FRAME_CHUNK] = (posed.reshape(len(posed), -1) - rest) @ self.basis / self.scale
        return rhs

    def solve(self, flame_frames, space: RigSpace | str | None = None, prev=None) -> np.ndarray:
        """ARKit frames [T, 52] for FLAME frames (a Take, or an array with its `space`)."""
        if isinstance(flame_frames, Take):
            space = space or flame_frames.space
            flame_frames = flame_frames.frames
        if space is None:
            raise InputError("the FLAME rig space of the frames is needed (e.g. flame50)")
        space = get_space(space) if isinstance(space, str) else space
        frames = np.atleast_2d(np.asarray(flame_frames, dtype=np.float64))
        weights = self.solver.solve_rhs(
            self.offsets_rhs(frames, space), prev=None if prev is None else np.asarray(prev)[self.columns]
        )
        out = self.arkit.neutral_frames(len(frames)).astype(np.float64)
        out[:, self.columns] = weights
        return out


def flame_to_arkit_by_geometry(
    model: FlameModel,
    neutral,
    shapes: dict,
    flame_frames,
    settings: SolverSettings | None = None,
    *,
    space: RigSpace | str | None = None,
) -> np.ndarray:
    """ARKit weights [T, 52] in [0, 1] for FLAME frames, solved against the user's ARKit meshes
    (see GeometricSolve). `flame_frames` is a Take, or an array with `space` given."""
    return GeometricSolve(model, neutral, shapes, settings).solve(flame_frames, space)
