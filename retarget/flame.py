"""FLAME: load the user's own model file and pose it, in numpy.

FLAME is a parametric head model: a template mesh, linear identity and
expression blendshapes, five joints (global, neck, jaw, left eye, right eye),
pose-corrective blendshapes and linear blend skinning. Its model file is
licensed and never shipped with emorig; the user points us at theirs.

The common `generic_model.pkl` is a Python-2 pickle whose arrays are often
`chumpy` objects and whose joint regressor is a `scipy.sparse` matrix. A plain
`pickle.load` would need the abandoned chumpy package and, worse, runs whatever
a pickle asks it to run. `load_flame_model` uses an unpickler that resolves
only an explicit allow-list of globals: numpy's array reconstruction, and inert
stand-ins of our own for chumpy and scipy.sparse objects that merely record the
state they are given. Any other global is refused before anything runs.
"""

from __future__ import annotations

import codecs
import copyreg
import functools
import io
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse
from scipy.spatial.transform import Rotation

from .errors import InputError
from .spaces import RigSpace, get_space

N_JOINTS = 5
JOINTS = ("global", "neck", "jaw", "eyeLeft", "eyeRight")
N_POSE_FEATURES = 9 * (N_JOINTS - 1)  # (R - I) of every joint but the global one
REQUIRED_KEYS = ("v_template", "f", "shapedirs", "posedirs", "J_regressor", "weights", "kintree_table")
FLAME_IDENTITY = 300  # FLAME 2020/2023: 300 identity components, then 100 expression components
FLAME_MAX_EXPRESSION = 100
POSE_CHUNK = 128  # frames posed at once: bounds memory at ~60 MB for a 5023-vertex head
_ROOT_PARENTS = (-1, 2**32 - 1)  # FLAME's kintree_table stores the root's parent as uint32 -1


# -- the safe unpickler ---------------------------------------------------------------------------


class _Inert:
    """A stand-in that records what pickle hands it and does nothing else."""

    pickled_name = "?"
    args: tuple = ()
    state = None  # copyreg._reconstructor makes instances with object.__new__, skipping ours

    def __new__(cls, *args, **kwargs):
        obj = object.__new__(cls)
        obj.args, obj.state = args, None
        return obj

    def __init__(self, *args, **kwargs):
        pass

    def __setstate__(self, state):
        self.state = state


class _ChumpyStandIn(_Inert):
    """Any chumpy object; a `Ch` keeps its value under the state key 'x'."""


class _SparseStandIn(_Inert):
    """A scipy.sparse csc/csr matrix; rebuilt from data/indices/indptr afterwards."""

    sparse_format = "csc"


@functools.cache
def _stand_in(base: type, module: str, name: str) -> type:
    attrs = {"pickled_name": f"{module}.{name}"}
    if base is _SparseStandIn:
        attrs["sparse_format"] = "csr" if name.startswith("csr") else "csc"
    return type(f"Inert_{name}", (base,), attrs)


def _latin1_encode(text, encoding="latin1"):
    """`_codecs.encode` as Python 3 pickles bytes at protocol 2, for latin-1 only."""
    if codecs.lookup(encoding).name != "iso8859-1":
        raise pickle.UnpicklingError(f"refused _codecs.encode with encoding {encoding!r}")
    return text.encode("latin1")


def _numpy_globals() -> dict[tuple[str, str], object]:
    try:  # numpy >= 2 moved the internals to numpy._core; importing numpy.core warns there
        from numpy._core import multiarray, numeric
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core import multiarray, numeric
    allowed: dict[tuple[str, str], object] = {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("copyreg", "_reconstructor"): copyreg._reconstructor,
        ("copy_reg", "_reconstructor"): copyreg._reconstructor,
        ("builtins", "object"): object,
        ("__builtin__", "object"): object,
        ("_codecs", "encode"): _latin1_encode,
    }
    for package in ("numpy.core", "numpy._core"):
        allowed[(f"{package}.multiarray", "_reconstruct")] = multiarray._reconstruct
        allowed[(f"{package}.multiarray", "scalar")] = multiarray.scalar
        allowed[(f"{package}.numeric", "_frombuffer")] = numeric._frombuffer  # protocol 5 arrays
    return allowed


_SPARSE_CLASSES = {"csc_matrix", "csr_matrix", "csc_array", "csr_array"}


class _AllowListUnpickler(pickle.Unpickler):
    """Resolves only allow-listed globals; chumpy and scipy.sparse become inert stand-ins."""

    def __init__(self, file, path):
        super().__init__(file, encoding="latin1")
        self.path = path
        self.allowed = _numpy_globals()

    def find_class(self, module, name):
        # Overriding find_class also skips pickle's Python 2 renaming, so both spellings
        # (copy_reg / copyreg, __builtin__ / builtins) are listed explicitly above.
        if (module, name) in self.allowed:
            return self.allowed[(module, name)]
        if module == "chumpy" or module.startswith("chumpy."):
            return _stand_in(_ChumpyStandIn, module, name)
        if (module == "scipy.sparse" or module.startswith("scipy.sparse.")) and name in _SPARSE_CLASSES:
            return _stand_in(_SparseStandIn, module, name)
        raise InputError(
            f"refused to load: the pickle asks for {module}.{name}, which is not part of a FLAME model "
            "(only numpy arrays, chumpy arrays and scipy sparse matrices are read; nothing was executed)",
            path=self.path,
        )

    def persistent_load(self, pid):
        raise InputError("refused to load: the pickle uses persistent ids", path=self.path)


def _state_dict(obj: _Inert, path, key: str) -> dict:
    state = obj.state
    if isinstance(state, tuple) and len(state) == 2 and isinstance(state[0], dict):
        state = state[0]  # (dict state, slot state)
    if not isinstance(state, dict):
        raise InputError(f"{key!r}: {obj.pickled_name} object has no readable state", path=path)
    return state


def _to_array(value, path, key: str, depth: int = 0) -> np.ndarray:
    """A plain numpy array from an unpickled value (array, chumpy stand-in, sparse stand-in)."""
    if depth > 8:
        raise InputError(f"{key!r}: chumpy objects nest too deeply", path=path)
    if isinstance(value, _ChumpyStandIn):
        state = _state_dict(value, path, key)
        if "x" not in state:
            raise InputError(f"{key!r}: {value.pickled_name} object holds no array (no 'x' in its state)", path=path)
        return _to_array(state["x"], path, key, depth + 1)
    if isinstance(value, _SparseStandIn):
        state = _state_dict(value, path, key)
        shape = state.get("_shape", state.get("shape"))
        try:
            parts = [np.asarray(_to_array(state[k], path, key, depth + 1)) for k in ("data", "indices", "indptr")]
            build = scipy.sparse.csr_matrix if value.sparse_format == "csr" else scipy.sparse.csc_matrix
            return build(tuple(parts), shape=tuple(int(s) for s in shape)).toarray()
        except InputError:
            raise
        except Exception as e:
            raise InputError(f"{key!r}: sparse matrix cannot be rebuilt ({type(e).__name__}: {e})", path=path) from None
    if isinstance(value, _Inert):
        raise InputError(f"{key!r}: unexpected {value.pickled_name} object", path=path)
    if isinstance(value, np.ndarray):
        if value.dtype == object:
            raise InputError(f"{key!r}: an array of objects, not numbers", path=path)
        return value
    try:
        return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"{key!r}: not an array ({type(value).__name__})", path=path) from None


def _read_pickle(path: Path, data: bytes) -> dict[str, np.ndarray]:
    try:
        doc = _AllowListUnpickler(io.BytesIO(data), path).load()
    except InputError:
        raise
    except RecursionError:
        raise InputError("not a readable FLAME pickle (nested too deeply)", path=path) from None
    except Exception as e:  # UnpicklingError, EOFError (truncated), ValueError, TypeError, ...
        raise InputError(f"not a readable FLAME pickle ({type(e).__name__}: {e})", path=path) from None
    if not isinstance(doc, dict):
        raise InputError(f"not a FLAME model: the pickle holds a {type(doc).__name__}, not a dict of arrays", path=path)
    _require_keys(doc, path)
    return {k: _to_array(doc[k], path, k) for k in REQUIRED_KEYS}


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as z:
            doc = {k: z[k] for k in z.files if k in REQUIRED_KEYS}
            names = set(z.files)
    except ValueError as e:
        raise InputError(f"NPZ holds objects that would need unpickling; refused ({e})", path=path) from None
    except Exception as e:  # BadZipFile, OSError, EOFError, ...
        raise InputError(f"not a readable NPZ file ({type(e).__name__}: {e})", path=path) from None
    _require_keys(names, path)
    return doc


def _require_keys(keys, path) -> None:
    missing = [k for k in REQUIRED_KEYS if k not in keys]
    if missing:
        raise InputError(
            f"not a FLAME model: missing {', '.join(missing)} (a FLAME file has {', '.join(REQUIRED_KEYS)})", path=path
        )


# -- the model ------------------------------------------------------------------------------------


@dataclass(eq=False)
class FlameModel:
    """A FLAME model as plain numpy arrays (float64)."""

    v_template: np.ndarray  # (V, 3) the mean head
    faces: np.ndarray  # (F, 3) vertex indices of each triangle
    identity_dirs: np.ndarray  # (V, 3, S) identity (shape) blendshapes
    expression_dirs: np.ndarray  # (V, 3, E) expression blendshapes, E <= 100
    posedirs: np.ndarray  # (V, 3, 36) pose correctives, driven by (R - I) of joints 1..4
    J_regressor: np.ndarray  # (5, V) joint positions from the shaped mesh
    weights: np.ndarray  # (V, 5) skinning weights
    parents: np.ndarray  # (5,) parent of every joint, -1 for the root
    source: str = ""

    @property
    def n_vertices(self) -> int:
        return len(self.v_template)

    @property
    def n_identity(self) -> int:
        return self.identity_dirs.shape[2]

    @property
    def n_expression(self) -> int:
        return self.expression_dirs.shape[2]

    @functools.cached_property
    def _flat(self) -> dict[str, np.ndarray]:
        """Bases as matrices [V*3 x K], and the joints each blendshape moves [5*3 x K].

        Joints are linear in the blendshape coefficients, so the regressor is applied to
        the template and to each blendshape once instead of to every frame's mesh."""
        v = self.n_vertices
        reg = self.J_regressor
        return {
            "identity": self.identity_dirs.reshape(3 * v, -1),
            "expression": self.expression_dirs.reshape(3 * v, -1),
            "pose": self.posedirs.reshape(3 * v, N_POSE_FEATURES),
            "j_template": reg @ self.v_template,
            "j_identity": np.einsum("jv,vck->jck", reg, self.identity_dirs).reshape(3 * N_JOINTS, -1),
            "j_expression": np.einsum("jv,vck->jck", reg, self.expression_dirs).reshape(3 * N_JOINTS, -1),
        }

    def forward(self, expression, jaw, shape=None, neck=None, eyes=None, global_rot=None) -> np.ndarray:
        """Vertices [T, V, 3] for T frames.

        expression [T, N] (N <= n_expression; missing components are zero), jaw [T, 3],
        neck [T, 3], eyes [T, 6] (left then right), global_rot [T, 3]: axis-angle in
        radians. shape: identity coefficients [S'] or [T, S'] (S' <= n_identity).
        """
        expression = np.atleast_2d(np.asarray(expression, dtype=np.float64))
        t = len(expression)
        pose = np.zeros((t, N_JOINTS, 3))
        for joint, value, width in ((0, global_rot, 3), (1, neck, 3), (2, jaw, 3), (3, eyes, 6)):
            if value is not None:
                value = np.broadcast_to(np.asarray(value, dtype=np.float64), (t, width))
                pose[:, joint : joint + width // 3] = value.reshape(t, width // 3, 3)
        return self.pose(expression, pose, shape)

    def pose(self, expression, rotations, shape=None) -> np.ndarray:
        """Vertices [T, V, 3] from expression [T, N] and joint rotations [T, 5, 3] (axis-angle)."""
        expression = np.atleast_2d(np.asarray(expression, dtype=np.float64))
        rotations = np.asarray(rotations, dtype=np.float64)
        t = len(expression)
        if expression.shape[1] > self.n_expression:
            raise ValueError(f"{expression.shape[1]} expression coefficients for a model with {self.n_expression}")
        if rotations.shape != (t, N_JOINTS, 3):
            raise ValueError(f"rotations must be [{t}, {N_JOINTS}, 3], got {rotations.shape}")
        beta = None if shape is None else np.atleast_2d(np.asarray(shape, dtype=np.float64))
        if beta is not None and beta.shape[1] > self.n_identity:
            raise ValueError(f"{beta.shape[1]} identity coefficients for a model with {self.n_identity}")
        out = np.empty((t, self.n_vertices, 3))
        for a in range(0, t, POSE_CHUNK):  # chunks bound the [T, V, 12] blended transforms
            part = slice(a, a + POSE_CHUNK)
            out[part] = self._pose(
                expression[part], rotations[part], None if beta is None else beta[part] if len(beta) > 1 else beta
            )
        return out

    def _pose(self, expression, rotations, beta) -> np.ndarray:
        flat, v, t = self._flat, self.n_vertices, len(expression)
        n_exp = expression.shape[1]

        # 1. Shaped mesh: template + identity + expression blendshapes, and its joints.
        offsets = np.zeros((t, 3 * v))
        joints = np.broadcast_to(flat["j_template"], (t, N_JOINTS, 3)).copy()
        if beta is not None:
            k = beta.shape[1]
            offsets += beta @ flat["identity"][:, :k].T
            joints += (beta @ flat["j_identity"][:, :k].T).reshape(-1, N_JOINTS, 3)
        if n_exp:
            offsets += expression @ flat["expression"][:, :n_exp].T
            joints += (expression @ flat["j_expression"][:, :n_exp].T).reshape(t, N_JOINTS, 3)

        # 2. Pose correctives from how far each non-root joint is rotated.
        rot = _rotation_matrices(rotations)
        feature = (rot[:, 1:] - np.eye(3)).reshape(t, N_POSE_FEATURES)
        offsets += feature @ flat["pose"].T
        return self._skin(self.v_template + offsets.reshape(t, v, 3), joints, rot)

    def _skin(self, vertices, joints, rot) -> np.ndarray:
        """Linear blend skinning of vertices [T, V, 3] with rest joints [T, 5, 3] and local
        rotations [T, 5, 3, 3]. For fixed rotations this is linear in (vertices, joints) together,
        which is what makes `expression_jacobian` exact."""
        t = len(vertices)
        # Kinematic chain: world rotation and translation of every joint.
        world_r = np.empty_like(rot)
        world_t = np.empty((t, N_JOINTS, 3))
        for j in range(N_JOINTS):
            p = self.parents[j]
            if p < 0:
                world_r[:, j], world_t[:, j] = rot[:, j], joints[:, j]
            else:
                local_t = joints[:, j] - joints[:, p]
                world_r[:, j] = world_r[:, p] @ rot[:, j]
                world_t[:, j] = np.einsum("tab,tb->ta", world_r[:, p], local_t) + world_t[:, p]
        # Each joint moves the rest pose by x -> R (x - J_rest) + world_t: a 3 x 4 transform.
        transform = np.concatenate(
            [world_r, (world_t - np.einsum("tjab,tjb->tja", world_r, joints))[..., None]], axis=-1
        )
        # Blend the transforms per vertex by the skinning weights, then apply them.
        blended = (self.weights @ transform.reshape(t, N_JOINTS, 12)).reshape(t, self.n_vertices, 3, 4)
        return (
            blended[..., 3]
            + blended[..., 0] * vertices[..., 0:1]
            + blended[..., 1] * vertices[..., 1:2]
            + blended[..., 2] * vertices[..., 2:3]
        )

    def expression_jacobian(self, rotations, n_expression: int | None = None) -> np.ndarray:
        """d vertices / d expression coefficients [V*3, E] at joint rotations [5, 3].

        Exact: for fixed rotations, skinning is linear in the mesh and its joints, and both
        are affine in the coefficients, so the derivative is the skinned blendshapes (with
        the joint motion they cause) and does not depend on the coefficients or identity."""
        n = self.n_expression if n_expression is None else n_expression
        if n == 0:
            return np.zeros((3 * self.n_vertices, 0))
        rot = np.broadcast_to(_rotation_matrices(np.asarray(rotations, dtype=np.float64)[None]), (n, N_JOINTS, 3, 3))
        dirs = self.expression_dirs[..., :n].transpose(2, 0, 1)
        joint_dirs = self._flat["j_expression"][:, :n].T.reshape(n, N_JOINTS, 3)
        return self._skin(dirs, joint_dirs, rot).reshape(n, -1).T

    def forward_space(self, frames, space: RigSpace | str, shape=None) -> np.ndarray:
        """Vertices [T, V, 3] for frames of a FLAME rig space (exp000.., jaw_r*, neck_r*, eye*_r*)."""
        expression, rotations = self.split_frames(frames, space)
        return self.pose(expression, rotations, shape)

    def split_frames(self, frames, space: RigSpace | str) -> tuple[np.ndarray, np.ndarray]:
        """(expression [T, E'], rotations [T, 5, 3]) from frames of a FLAME rig space."""
        space = get_space(space) if isinstance(space, str) else space
        x = np.atleast_2d(np.asarray(frames, dtype=np.float64))
        if x.shape[1] != len(space):
            raise InputError(f"frames have {x.shape[1]} columns but rig space {space.name!r} has {len(space)}")
        exp_cols = [i for i, c in enumerate(space.curves) if c.startswith("exp")]
        if not exp_cols and not space.name.startswith("flame"):
            raise InputError(f"rig space {space.name!r} is not a FLAME space")
        used = min(len(exp_cols), self.n_expression)
        beyond = x[:, exp_cols[used:]]
        if beyond.size and np.any(beyond != 0):
            raise InputError(
                f"frames use expression coefficients up to {len(exp_cols)} "
                f"but the FLAME model has only {self.n_expression}"
            )
        rotations = np.zeros((len(x), N_JOINTS, 3))
        for i, curve in enumerate(space.curves):
            joint, _, axis = curve.rpartition("_r")
            if joint in JOINTS and axis in ("x", "y", "z"):
                rotations[:, JOINTS.index(joint), "xyz".index(axis)] = x[:, i]
        return x[:, exp_cols[:used]], rotations


def _rotation_matrices(rotations: np.ndarray) -> np.ndarray:
    """Axis-angle [T, 5, 3] -> rotation matrices [T, 5, 3, 3] (Rodrigues, via scipy)."""
    return Rotation.from_rotvec(rotations.reshape(-1, 3)).as_matrix().reshape(*rotations.shape[:-1], 3, 3)


# -- loading --------------------------------------------------------------------------------------


def load_flame_model(path, n_identity: int | None = None) -> FlameModel:
    """The user's FLAME model from `generic_model.pkl` (FLAME 2020/2023) or an `.npz` with
    the same keys. Needs neither chumpy nor trust in the file: see the module docstring.

    `shapedirs` holds identity components then expression components. FLAME files have
    300 + 100; for other counts the split is `n_identity`, by default the first
    S - min(100, S // 2) components.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError("FLAME model file not found", path=path) from None
    except OSError as e:
        raise InputError(f"cannot read FLAME model ({e.strerror or e})", path=path) from None
    if not data:
        raise InputError("FLAME model file is empty", path=path)
    arrays = _read_npz(path) if data[:4] == b"PK\x03\x04" else _read_pickle(path, data)
    return _build_model(arrays, path, n_identity)


def _numeric(arrays, key, path, ndim) -> np.ndarray:
    a = arrays[key]
    if not isinstance(a, np.ndarray) or not (np.issubdtype(a.dtype, np.number) or a.dtype == bool):
        raise InputError(f"{key!r} must be a numeric array, got {getattr(a, 'dtype', type(a).__name__)}", path=path)
    if a.ndim != ndim:
        raise InputError(f"{key!r} must have {ndim} dimensions, got shape {a.shape}", path=path)
    if np.issubdtype(a.dtype, np.floating) and not np.all(np.isfinite(a)):
        raise InputError(f"{key!r} holds values that are not finite", path=path)
    return a


def _build_model(arrays: dict, path: Path, n_identity: int | None) -> FlameModel:
    v_template = _numeric(arrays, "v_template", path, 2).astype(np.float64)
    if v_template.shape[1] != 3 or len(v_template) == 0:
        raise InputError(f"'v_template' must be (V, 3), got {v_template.shape}", path=path)
    v = len(v_template)

    def expect(key, shape_ok, want):
        a = arrays[key]
        if not shape_ok(a.shape):
            raise InputError(f"{key!r} must be {want} for {v} vertices, got shape {a.shape}", path=path)
        return a

    faces = _numeric(arrays, "f", path, 2)
    expect("f", lambda s: s[1] == 3, "(F, 3)")
    if not np.issubdtype(faces.dtype, np.integer) and not np.all(faces == np.round(faces)):
        raise InputError("'f' must hold whole vertex indices", path=path)
    faces = faces.astype(np.int64)
    if faces.size and (faces.min() < 0 or faces.max() >= v):
        raise InputError(f"'f' refers to vertices outside 0..{v - 1}", path=path)

    shapedirs = _numeric(arrays, "shapedirs", path, 3).astype(np.float64)
    expect("shapedirs", lambda s: s[:2] == (v, 3) and s[2] >= 2, "(V, 3, S) with S >= 2")
    s = shapedirs.shape[2]
    if n_identity is None:
        n_identity = FLAME_IDENTITY if s > FLAME_IDENTITY else s - min(FLAME_MAX_EXPRESSION, s // 2)
    if not 0 <= n_identity < s:
        raise InputError(f"cannot split {s} shape components at {n_identity}", path=path)
    identity_dirs = shapedirs[:, :, :n_identity]
    expression_dirs = shapedirs[:, :, n_identity : n_identity + FLAME_MAX_EXPRESSION]

    posedirs = arrays["posedirs"]
    posedirs = _numeric(arrays, "posedirs", path, 2 if getattr(posedirs, "ndim", 3) == 2 else 3).astype(np.float64)
    # FLAME stores (V, 3, 36); re-exported files met in the wild hold (V*3, 36) or the
    # transposed (36, V*3) that PyTorch ports multiply with.
    if posedirs.shape == (v, 3, N_POSE_FEATURES):
        pass
    elif posedirs.shape == (3 * v, N_POSE_FEATURES):
        posedirs = posedirs.reshape(v, 3, N_POSE_FEATURES)
    elif posedirs.shape == (N_POSE_FEATURES, 3 * v):
        posedirs = posedirs.T.reshape(v, 3, N_POSE_FEATURES)
    else:
        raise InputError(f"'posedirs' must be ({v}, 3, {N_POSE_FEATURES}), got shape {posedirs.shape}", path=path)

    regressor = _numeric(arrays, "J_regressor", path, 2).astype(np.float64)
    expect("J_regressor", lambda s: s == (N_JOINTS, v), f"({N_JOINTS}, V)")
    weights = _numeric(arrays, "weights", path, 2).astype(np.float64)
    expect("weights", lambda s: s == (v, N_JOINTS), f"(V, {N_JOINTS})")
    kintree = _numeric(arrays, "kintree_table", path, 2)
    expect("kintree_table", lambda s: s == (2, N_JOINTS), f"(2, {N_JOINTS})")
    parents = np.array([-1 if int(p) in _ROOT_PARENTS else int(p) for p in kintree[0]], dtype=np.int64)
    if parents[0] != -1 or any(not 0 <= parents[j] < j for j in range(1, N_JOINTS)):
        raise InputError(f"'kintree_table' is not a chain rooted at joint 0 (parents {parents.tolist()})", path=path)

    return FlameModel(
        v_template=v_template,
        faces=faces,
        identity_dirs=np.ascontiguousarray(identity_dirs),
        expression_dirs=np.ascontiguousarray(expression_dirs),
        posedirs=np.ascontiguousarray(posedirs),
        J_regressor=regressor,
        weights=weights,
        parents=parents,
        source=str(path),
    )
