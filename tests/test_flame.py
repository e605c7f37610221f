"""FLAME loading, posing and the FLAME <-> ARKit mappings, on a small synthetic model.

The FLAME model file is licensed and never in the repository, so the tests build a
FLAME-format pickle themselves: chumpy-like objects from a fake `chumpy` package that
exists only while pickling, and a scipy.sparse joint regressor.
"""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse
from scipy.spatial.transform import Rotation

from bridge.cli import main as cli_main
from retarget.errors import InputError
from retarget.flame import FlameModel, load_flame_model
from retarget.flame_maps import (
    GeometricSolve,
    fit_linear_map,
    flame_to_arkit_by_geometry,
    read_obj_vertices,
    read_shape_meshes,
    solve_from_meshes,
)
from retarget.mappings import load_mapping, retarget_frames
from retarget.spaces import get_space
from retarget.takes import Take, read_take, write_take

REPO = Path(__file__).resolve().parents[1]
V, N_ID, N_EXP = 60, 10, 10
JAW_ONLY = np.arange(30, 45)  # vertices skinned to the jaw alone
LEFT_EYE = np.arange(50, 55)


# -- a synthetic FLAME model ----------------------------------------------------------------------


def make_arrays(seed=0, posedirs_scale=1e-3) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    weights = np.zeros((V, 5))
    weights[:30, :2] = rng.dirichlet([1, 1], 30)  # head: global and neck
    weights[JAW_ONLY, 2] = 1.0
    weights[45:50, 1:3] = rng.dirichlet([1, 1], 5)  # jaw line: neck and jaw
    weights[LEFT_EYE, 3] = 1.0
    weights[55:, 4] = 1.0
    regressor = np.zeros((5, V))
    for j, verts in enumerate([range(0, 10), range(10, 20), range(20, 30), range(50, 55), range(55, 60)]):
        regressor[j, list(verts)] = 1.0 / len(verts)
    return {
        "v_template": rng.uniform(-0.1, 0.1, (V, 3)),
        "f": rng.integers(0, V, (40, 3)).astype(np.uint32),
        "shapedirs": rng.normal(0, 0.01, (V, 3, N_ID + N_EXP)),
        "posedirs": rng.normal(0, posedirs_scale, (V, 3, 36)),
        "J_regressor": regressor,
        "weights": weights,
        "kintree_table": np.array([[2**32 - 1, 0, 1, 1, 1], [0, 1, 2, 3, 4]], dtype=np.uint32),
    }


class _FakeChumpy:
    """Installs a fake `chumpy.ch.Ch` while pickling and removes every trace of it afterwards."""

    def __enter__(self):
        self.saved = {k: sys.modules.get(k) for k in ("chumpy", "chumpy.ch")}
        chumpy, ch = types.ModuleType("chumpy"), types.ModuleType("chumpy.ch")

        class Ch:
            pass

        Ch.__module__, Ch.__qualname__ = "chumpy.ch", "Ch"
        ch.Ch, chumpy.ch = Ch, ch
        sys.modules.update({"chumpy": chumpy, "chumpy.ch": ch})
        self.Ch = Ch
        return self

    def wrap(self, array):
        obj = self.Ch()
        obj.__dict__.update(x=array, _cache={"junk": 1}, _depends_on_deps=[], label="r")
        return obj

    def __exit__(self, *exc):
        for k, module in self.saved.items():
            if module is None:
                sys.modules.pop(k, None)
            else:  # pragma: no cover - a real chumpy installed
                sys.modules[k] = module


def flame_pickle(arrays, protocol=2, extra=None) -> bytes:
    """A generic_model.pkl look-alike: chumpy shapedirs/v_template, sparse J_regressor."""
    with _FakeChumpy() as fake:
        doc = dict(arrays)
        doc["shapedirs"] = fake.wrap(arrays["shapedirs"])
        doc["v_template"] = fake.wrap(arrays["v_template"])
        doc["J_regressor"] = scipy.sparse.csc_matrix(arrays["J_regressor"])
        doc["bs_style"], doc["bs_type"] = "lbs", "lrotmin"
        doc.update(extra or {})
        data = pickle.dumps(doc, protocol=protocol)
    assert "chumpy" not in sys.modules
    # Spell the globals as a FLAME file from the numpy 1 / old scipy era does.
    return data.replace(b"numpy._core.multiarray", b"numpy.core.multiarray").replace(
        b"scipy.sparse._csc", b"scipy.sparse.csc"
    )


@pytest.fixture(scope="module")
def arrays():
    return make_arrays()


@pytest.fixture(scope="module")
def model_path(arrays, tmp_path_factory):
    path = tmp_path_factory.mktemp("flame") / "generic_model.pkl"
    path.write_bytes(flame_pickle(arrays))
    return path


@pytest.fixture(scope="module")
def model(model_path):
    return load_flame_model(model_path)


# -- loading --------------------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", [0, 2])
def test_loader_reads_chumpy_pickle_without_chumpy(arrays, tmp_path, protocol):
    data = flame_pickle(arrays, protocol=protocol)
    assert b"chumpy" in data and b"scipy.sparse.csc" in data
    path = tmp_path / "generic_model.pkl"
    path.write_bytes(data)
    m = load_flame_model(path)
    assert "chumpy" not in sys.modules
    np.testing.assert_array_equal(m.v_template, arrays["v_template"])
    np.testing.assert_array_equal(m.faces, arrays["f"])
    np.testing.assert_array_equal(m.identity_dirs, arrays["shapedirs"][:, :, :N_ID])
    np.testing.assert_array_equal(m.expression_dirs, arrays["shapedirs"][:, :, N_ID:])
    np.testing.assert_array_equal(m.posedirs, arrays["posedirs"])
    np.testing.assert_array_equal(m.J_regressor, arrays["J_regressor"])
    assert isinstance(m.J_regressor, np.ndarray)
    np.testing.assert_array_equal(m.weights, arrays["weights"])
    assert m.parents.tolist() == [-1, 0, 1, 1, 1]
    assert (m.n_vertices, m.n_identity, m.n_expression) == (V, N_ID, N_EXP)


def test_loader_reads_npz(arrays, model, tmp_path):
    path = tmp_path / "flame.npz"
    np.savez(path, **arrays)
    m = load_flame_model(path)
    for field in ("v_template", "identity_dirs", "expression_dirs", "posedirs", "J_regressor", "weights", "parents"):
        np.testing.assert_array_equal(getattr(m, field), getattr(model, field))


def test_loader_accepts_flattened_posedirs(arrays, tmp_path):
    path = tmp_path / "flame.npz"
    np.savez(path, **{**arrays, "posedirs": arrays["posedirs"].reshape(-1, 36).T})
    np.testing.assert_array_equal(load_flame_model(path).posedirs, arrays["posedirs"])


class _Payload:
    def __init__(self, func, arg):
        self.func, self.arg = func, arg

    def __reduce__(self):
        return (self.func, (self.arg,))


@pytest.mark.parametrize("kind", ["os.system", "builtins.eval", "subprocess.Popen"])
def test_hostile_pickle_is_refused_and_nothing_runs(arrays, tmp_path, kind):
    import os

    marker = tmp_path / "pwned"
    payload = {
        "os.system": _Payload(os.system, f"touch {marker}"),
        "builtins.eval": _Payload(eval, f"open({str(marker)!r}, 'w').write('x')"),
        "subprocess.Popen": _Payload(subprocess.Popen, ["touch", str(marker)]),
    }[kind]
    path = tmp_path / "generic_model.pkl"
    # Hidden among real model data, as a real attack would be.
    path.write_bytes(flame_pickle(arrays, extra={"junk": payload}))
    with pytest.raises(InputError) as err:
        load_flame_model(path)
    message = str(err.value)
    assert str(path) in message and "refused" in message and kind.split(".")[1] in message
    assert "\n" not in message
    assert not marker.exists()


def test_truncated_garbage_and_incomplete_files(arrays, tmp_path):
    data = flame_pickle(arrays)
    cases = {
        "truncated.pkl": data[: len(data) // 2],
        "garbage.pkl": bytes(range(7, 250)) * 3,
        "empty.pkl": b"",
        "bad.npz": b"PK\x03\x04 not really a zip",
        "list.pkl": pickle.dumps([1, 2, 3], protocol=2),
    }
    for name, blob in cases.items():
        (tmp_path / name).write_bytes(blob)
        with pytest.raises(InputError, match=name):
            load_flame_model(tmp_path / name)
    with pytest.raises(InputError, match="not found"):
        load_flame_model(tmp_path / "absent.pkl")

    missing = {k: v for k, v in arrays.items() if k != "posedirs"}
    (tmp_path / "missing.pkl").write_bytes(flame_pickle(missing))
    with pytest.raises(InputError, match="missing posedirs"):
        load_flame_model(tmp_path / "missing.pkl")

    bad_weights = {**arrays, "weights": arrays["weights"][:, :4]}
    np.savez(tmp_path / "shape.npz", **bad_weights)
    with pytest.raises(InputError, match="'weights' must be"):
        load_flame_model(tmp_path / "shape.npz")

    cyclic = {**arrays, "kintree_table": np.array([[2**32 - 1, 2, 1, 1, 1], [0, 1, 2, 3, 4]])}
    np.savez(tmp_path / "cycle.npz", **cyclic)
    with pytest.raises(InputError, match="kintree_table"):
        load_flame_model(tmp_path / "cycle.npz")


# -- posing ---------------------------------------------------------------------------------------


def test_zero_parameters_give_the_template(model):
    out = model.forward(np.zeros((3, N_EXP)), np.zeros((3, 3)))
    assert out.shape == (3, V, 3)
    np.testing.assert_allclose(out, np.broadcast_to(model.v_template, out.shape), atol=1e-12)


def test_expressions_move_vertices_linearly(model):
    rng = np.random.default_rng(1)
    exp = rng.normal(size=(4, N_EXP))
    out = model.forward(exp, np.zeros((4, 3)))
    expected = model.v_template + np.einsum("vck,tk->tvc", model.expression_dirs, exp)
    np.testing.assert_allclose(out, expected, atol=1e-12)
    # Fewer coefficients than the model has: the rest are zero.
    np.testing.assert_allclose(
        model.forward(exp[:, :3], np.zeros((4, 3))),
        model.v_template + np.einsum("vck,tk->tvc", model.expression_dirs[..., :3], exp[:, :3]),
        atol=1e-12,
    )


def test_jaw_rotates_only_jaw_vertices(tmp_path):
    arrays = make_arrays(posedirs_scale=0.0)
    np.savez(tmp_path / "flame.npz", **arrays)
    m = load_flame_model(tmp_path / "flame.npz")
    jaw = np.array([[0.3, 0.05, -0.1]])
    out = m.forward(np.zeros((1, N_EXP)), jaw)[0]
    pivot = arrays["J_regressor"][2] @ arrays["v_template"]
    r = Rotation.from_rotvec(jaw[0]).as_matrix()
    expected = (arrays["v_template"][JAW_ONLY] - pivot) @ r.T + pivot
    np.testing.assert_allclose(out[JAW_ONLY], expected, atol=1e-12)
    still = arrays["weights"][:, 2] == 0
    np.testing.assert_allclose(out[still], arrays["v_template"][still], atol=1e-12)
    assert np.all(np.linalg.norm(out[~still] - arrays["v_template"][~still], axis=1) > 1e-6)


def test_kinematic_chain(model):
    """Global rotation turns the whole head rigidly; an eye follows its neck."""
    rng = np.random.default_rng(2)
    exp = rng.normal(size=(1, N_EXP))
    rest = model.forward(exp, np.zeros((1, 3)))[0]
    joints = model.J_regressor @ (model.v_template + model.expression_dirs @ exp[0])
    g = np.array([0.2, -0.4, 0.1])
    turned = model.forward(exp, np.zeros((1, 3)), global_rot=g[None])[0]
    rg = Rotation.from_rotvec(g).as_matrix()
    np.testing.assert_allclose(turned, (rest - joints[0]) @ rg.T + joints[0], atol=1e-12)

    neck, eye = np.array([0.1, 0.3, 0.0]), np.array([0.0, 0.2, 0.1])
    out = model.forward(exp, np.zeros((1, 3)), neck=neck[None], eyes=np.concatenate([eye, [0, 0, 0]])[None])[0]
    rn, re = Rotation.from_rotvec(neck).as_matrix(), Rotation.from_rotvec(eye).as_matrix()
    feature = np.concatenate([(rn - np.eye(3)).ravel(), np.zeros(9), (re - np.eye(3)).ravel(), np.zeros(9)])
    posed = rest[LEFT_EYE] + (model.posedirs @ feature)[LEFT_EYE]
    expected = ((posed - joints[3]) @ re.T + joints[3] - joints[1]) @ rn.T + joints[1]
    np.testing.assert_allclose(out[LEFT_EYE], expected, atol=1e-12)


def test_forward_space_matches_forward(model):
    rng = np.random.default_rng(3)
    space = get_space("flame50+neck+eyes")
    frames = np.zeros((5, len(space)))
    frames[:, :N_EXP] = rng.normal(size=(5, N_EXP))
    frames[:, 50:] = rng.normal(0, 0.1, (5, 12))  # jaw, neck, eyes
    out = model.forward_space(frames, space)
    ref = model.forward(frames[:, :N_EXP], frames[:, 50:53], neck=frames[:, 53:56], eyes=frames[:, 56:62])
    np.testing.assert_allclose(out, ref, atol=1e-12)
    frames[0, 20] = 1.0  # exp020: the model has only 10
    with pytest.raises(InputError, match="only 10"):
        model.forward_space(frames, space)


# -- FLAME <-> ARKit ------------------------------------------------------------------------------


def _takes(rng, n=300):
    flame, arkit = get_space("flame50"), get_space("arkit")
    x = rng.uniform(-1, 1, (n, len(flame)))
    truth = rng.normal(0, 0.01, (len(arkit), len(flame)))
    bias = rng.uniform(0.3, 0.7, len(arkit))
    y = x @ truth.T + bias
    return Take(flame, 60.0, x), Take(arkit, 60.0, y), truth, bias


def test_fit_linear_map_recovers_a_known_map(tmp_path):
    rng = np.random.default_rng(4)
    source, target, truth, bias = _takes(rng)
    mapping = fit_linear_map(source, target, ridge=1e-4)
    assert (mapping.source.name, mapping.target.name) == ("flame50", "arkit")
    np.testing.assert_allclose(mapping.matrix, truth, atol=1e-3)
    np.testing.assert_allclose(mapping.bias, bias, atol=1e-3)
    assert mapping.residual < 1e-3 and "RMS residual" in mapping.note

    from retarget.mappings import save_mapping

    save_mapping(mapping, tmp_path / "map.json")
    loaded = load_mapping(tmp_path / "map.json")
    np.testing.assert_allclose(
        retarget_frames(source.frames, source.space, target.space, [loaded]), mapping.forward(source.frames), atol=1e-5
    )

    with pytest.raises(InputError, match="300 source frames but 299"):
        fit_linear_map(source, Take(target.space, 60.0, target.frames[:-1]))
    with pytest.raises(InputError, match="too few frames"):
        fit_linear_map(Take(source.space, 60.0, source.frames[:20]), Take(target.space, 60.0, target.frames[:20]))


# ARKit shapes as FLAME parameters (expression coefficients, jaw rotation).
SHAPES = "jawOpen jawLeft mouthSmileLeft mouthSmileRight browInnerUp eyeBlinkLeft mouthPucker cheekPuff".split()


@pytest.fixture(scope="module")
def meshes(model):
    rng = np.random.default_rng(5)
    params = {}
    for name in SHAPES:
        exp = rng.uniform(-1.5, 1.5, N_EXP)
        jaw = {"jawOpen": [0.25, 0, 0], "jawLeft": [0, 0.12, 0.02]}.get(name, [0, 0, 0])
        params[name] = (exp, np.array(jaw, dtype=float))
    beta = rng.normal(0, 1, N_ID)  # the user's head is not the mean head
    neutral = model.forward(np.zeros((1, N_EXP)), np.zeros((1, 3)), shape=beta)[0]
    shapes = {name: model.forward(e[None], j[None], shape=beta)[0] for name, (e, j) in params.items()}
    return neutral, shapes, params


def test_solve_from_meshes_recovers_flame_parameters(model, meshes):
    neutral, shapes, params = meshes
    mapping = solve_from_meshes(model, neutral, shapes, "flame50")
    flame, arkit = get_space("flame50"), get_space("arkit")
    assert (mapping.source.name, mapping.target.name) == ("arkit", "flame50")
    for name, (exp, jaw) in params.items():
        column = mapping.matrix[:, arkit.index(name)]
        np.testing.assert_allclose(column[:N_EXP], exp, atol=1e-4)
        np.testing.assert_allclose(column[flame.indices(["jaw_rx", "jaw_ry", "jaw_rz"])], jaw, atol=1e-4)
        assert not column[N_EXP:50].any()  # the model has only 10 expressions
    absent = [i for i, c in enumerate(arkit.curves) if c not in SHAPES]
    assert not mapping.matrix[:, absent].any()
    assert mapping.residual < 1e-6


def test_solve_from_meshes_fits_eye_rotations(model):
    """With an eyes space, an eyeLook shape that turns the eyeballs becomes eye rotations."""
    eyes = np.array([[0.0, 0.3, 0.0, 0.0, -0.3, 0.0]])
    neutral = model.v_template
    shapes = {"eyeLookInLeft": model.forward(np.zeros((1, N_EXP)), np.zeros((1, 3)), eyes=eyes)[0]}
    mapping = solve_from_meshes(model, neutral, shapes, "flame50+eyes")
    space = mapping.target
    column = mapping.matrix[:, get_space("arkit").index("eyeLookInLeft")]
    np.testing.assert_allclose(column[space.indices(["eyeLeft_ry", "eyeRight_ry"])], [0.3, -0.3], atol=1e-4)
    assert np.abs(column[:N_EXP]).max() < 1e-4


def test_flame_to_arkit_both_ways(model, meshes):
    neutral, shapes, _ = meshes
    arkit = get_space("arkit")
    mapping = solve_from_meshes(model, neutral, shapes, "flame50")
    rng = np.random.default_rng(6)
    truth = np.zeros((40, len(arkit)))
    cols = arkit.indices(SHAPES)
    truth[:, cols] = rng.uniform(0, 1, (40, len(cols))) * (rng.uniform(size=(40, len(cols))) < 0.5)
    flame_frames = mapping.forward(truth)
    take = Take(get_space("flame50"), 60.0, flame_frames)

    by_geometry = flame_to_arkit_by_geometry(model, neutral, shapes, take)
    assert by_geometry.shape == truth.shape
    assert by_geometry.min() >= 0 and by_geometry.max() <= 1
    assert np.abs(by_geometry - truth).mean() < 0.02
    assert not by_geometry[:, [i for i in range(len(arkit)) if i not in cols]].any()
    # The same through the mapping's inverse (a bounded solve in FLAME parameter space).
    np.testing.assert_allclose(mapping.inverse(flame_frames), truth, atol=0.02)
    # Head motion is no blendshape: the neck is ignored.
    neck_space = get_space("flame50+neck")
    with_neck = np.zeros((len(take), len(neck_space)))
    with_neck[:, :53] = flame_frames
    with_neck[:, 53:] = 0.3
    solver = GeometricSolve(model, neutral, shapes)
    np.testing.assert_allclose(solver.solve(with_neck, neck_space), by_geometry, atol=1e-6)


def test_mesh_readers(model, meshes, tmp_path):
    neutral, shapes, _ = meshes

    def write_obj(path, vertices):
        lines = [
            "# exported",
            "o head",
            *(f"v {x:.12f} {y:.12f} {z:.12f}" for x, y, z in vertices),
            "vn 0 0 1",
            "f 1 2 3",
        ]
        path.write_text("\n".join(lines) + "\n")

    folder = tmp_path / "shapes"
    folder.mkdir()
    write_obj(folder / "neutral.obj", neutral)
    write_obj(folder / "JawOpen.obj", shapes["jawOpen"])
    write_obj(folder / "mouthSmile_L.obj", shapes["mouthSmileLeft"])
    (folder / "head.mtl").write_text("newmtl skin\n")
    got_neutral, got = read_shape_meshes(folder, n_vertices=V)
    assert sorted(got) == ["jawOpen", "mouthSmileLeft"]
    np.testing.assert_allclose(got_neutral, neutral, atol=1e-11)
    np.testing.assert_allclose(got["mouthSmileLeft"], shapes["mouthSmileLeft"], atol=1e-11)

    np.savez(tmp_path / "shapes.npz", neutral=neutral, **shapes)
    got_neutral, got = read_shape_meshes(tmp_path / "shapes.npz", n_vertices=V)
    assert sorted(got) == sorted(SHAPES)

    bad = tmp_path / "bad.obj"
    bad.write_text("# head\nv 0 0 0\nv 1 2\nv 0 1 0\n")
    with pytest.raises(InputError, match=r"bad\.obj: line 3: malformed"):
        read_obj_vertices(bad)
    write_obj(folder / "cheekPuff.obj", neutral[:-1])
    with pytest.raises(InputError, match="cheekPuff: 59 vertices but the FLAME model has 60"):
        read_shape_meshes(folder, n_vertices=V)
    (folder / "cheekPuff.obj").unlink()
    write_obj(folder / "jawOpn.obj", neutral)
    with pytest.raises(InputError, match="closest known: jawOpen"):
        read_shape_meshes(folder)


# -- the command line -----------------------------------------------------------------------------


def cli(*args) -> int:
    return cli_main([str(a) for a in args])


def test_cli_fit_and_retarget(tmp_path, capsys):
    rng = np.random.default_rng(7)
    source, target, _, _ = _takes(rng, 200)
    write_take(source, tmp_path / "flame.npz")
    write_take(target, tmp_path / "arkit.npz")
    out = tmp_path / "map.json"
    assert cli("mapping", "fit", tmp_path / "flame.npz", tmp_path / "arkit.npz", "-o", out, "--ridge", 1e-4) == 0
    assert "RMS residual" in capsys.readouterr().out
    assert json.loads(out.read_text())["source"] == "flame50"
    retarget = ["retarget", tmp_path / "flame.npz", "--from", "flame50", "--to", "arkit", "--mapping", out]
    assert cli(*retarget, "-o", tmp_path / "out.npz") == 0
    np.testing.assert_allclose(read_take(tmp_path / "out.npz").frames, target.frames, atol=2e-3)

    write_take(Take(target.space, 60.0, target.frames[:150]), tmp_path / "short.npz")
    bad_out = tmp_path / "bad.json"
    assert cli("mapping", "fit", tmp_path / "flame.npz", tmp_path / "short.npz", "-o", bad_out) == 2
    assert "200 source frames but 150" in capsys.readouterr().err
    assert not bad_out.exists() and not list(tmp_path.glob(".bad.json*"))


def test_cli_from_meshes(model_path, meshes, tmp_path, capsys):
    neutral, shapes, _ = meshes
    np.savez(tmp_path / "shapes.npz", neutral=neutral, **shapes)
    out = tmp_path / "map.json"
    shapes_file = tmp_path / "shapes.npz"
    assert (
        cli("mapping", "from-meshes", "--flame", model_path, "--shapes", shapes_file, "-o", out, "--expressions", 100)
        == 0
    )
    assert "RMS vertex residual" in capsys.readouterr().out
    mapping = load_mapping(out)
    assert (mapping.source.name, mapping.target.name) == ("arkit", "flame100")
    # FLAME -> ARKit through the file: the mapping's inverse.
    truth = np.zeros((10, 52))
    truth[:, get_space("arkit").indices(SHAPES)] = np.random.default_rng(8).uniform(0, 1, (10, len(SHAPES)))
    write_take(Take(mapping.target, 30.0, mapping.forward(truth)), tmp_path / "flame.npz")
    retarget = ["retarget", tmp_path / "flame.npz", "--to", "arkit", "--mapping", out, "-o", tmp_path / "arkit.npz"]
    assert cli(*retarget) == 0
    np.testing.assert_allclose(read_take(tmp_path / "arkit.npz").frames, truth, atol=1e-3)


def test_cli_refuses_hostile_model_with_exit_2(arrays, meshes, tmp_path):
    neutral, shapes_arrays, _ = meshes
    marker = tmp_path / "pwned"
    model = tmp_path / "generic_model.pkl"
    import os

    model.write_bytes(flame_pickle(arrays, extra={"junk": _Payload(os.system, f"touch {marker}")}))
    shapes = tmp_path / "shapes.npz"
    np.savez(shapes, neutral=neutral, **shapes_arrays)
    out = tmp_path / "map.json"
    run = subprocess.run(
        [sys.executable, "-m", "bridge.cli", "mapping", "from-meshes", "--flame", model, "--shapes", shapes, "-o", out],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 2, run.stderr
    assert run.stderr.startswith("emorig: error: ") and run.stderr.count("\n") == 1
    assert "refused" in run.stderr and "system" in run.stderr
    assert not out.exists() and not marker.exists()


def test_flame_model_is_a_dataclass_of_arrays(model):
    assert isinstance(model, FlameModel)
    assert model.faces.dtype == np.int64 and model.faces.shape == (40, 3)
