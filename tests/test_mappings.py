"""Mappings between rig spaces: facts from Epic's and VRCFT's tables, the rules, inverses, user files."""

import json

import numpy as np
import pytest
from conftest import reference

from retarget.errors import InputError
from retarget.mappings import builtin_mapping, load_mapping, retarget_frames, save_mapping
from retarget.spaces import MH_PREFIX, get_space

ARKIT = get_space("arkit")
MH = get_space("metahuman")


def one(name, value=1.0, **others):
    frame = np.zeros((1, len(ARKIT)))
    frame[0, ARKIT.index(name)] = value
    for k, v in others.items():
        frame[0, ARKIT.index(k)] = v
    return frame


def mh(frames, curve):
    return frames[:, MH.index(MH_PREFIX + curve)]


def sparse_arkit(n, seed, density=0.2):
    """Random sparse ARKit frames in [0, 1] that a face can make: mouthClose never exceeds
    jawOpen (lips can only be pressed together as far as the jaw is open)."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, (n, len(ARKIT))) * (rng.uniform(size=(n, len(ARKIT))) < density)
    j, c = ARKIT.index("jawOpen"), ARKIT.index("mouthClose")
    x[:, c] = np.minimum(x[:, c], x[:, j])
    return x


def test_arkit_to_metahuman_one_to_one_facts():
    to_mh = lambda f: retarget_frames(f, ARKIT, MH)  # noqa: E731
    assert mh(to_mh(one("jawOpen", 0.6)), "jawOpen")[0] == pytest.approx(0.6)
    assert mh(to_mh(one("mouthSmileLeft")), "mouthCornerPullL")[0] == pytest.approx(1.0)
    assert mh(to_mh(one("mouthFrownLeft")), "mouthCornerDepressL")[0] == pytest.approx(1.0)
    assert mh(to_mh(one("eyeBlinkRight", 0.5)), "eyeBlinkR")[0] == pytest.approx(0.5)


def test_pucker_spreads_over_purse_towards_and_funnel():
    y = retarget_frames(one("mouthPucker"), ARKIT, MH)
    for corner in ("UL", "UR", "DL", "DR"):
        assert mh(y, "mouthLipsPurse" + corner)[0] == pytest.approx(1.0)
        assert mh(y, "mouthLipsTowards" + corner)[0] == pytest.approx(0.41, abs=0.01)
        assert mh(y, "mouthFunnel" + corner)[0] == pytest.approx(0.75, abs=0.01)


def test_eye_look_directions_are_mirrored_as_in_epics_asset():
    y = retarget_frames(one("eyeLookInLeft", 0.8), ARKIT, MH)
    assert mh(y, "eyeLookRightL")[0] == pytest.approx(0.8)  # the left eye looking in looks to its right
    assert mh(y, "eyeLookLeftL")[0] == 0
    y = retarget_frames(one("eyeLookOutRight", 0.3), ARKIT, MH)
    assert mh(y, "eyeLookRightR")[0] == pytest.approx(0.3)


@pytest.mark.parametrize(
    ("jaw", "close", "together"),
    [(0.5, 0.25, 0.5), (0.2, 0.2, 1.0), (0.1, 0.3, 1.0), (0.4, 0.0, 0.0), (0.0, 0.2, 1.0), (0.0, 0.0, 0.0)],
)
def test_mouth_close_becomes_lips_together_by_unreals_rule(jaw, close, together):
    y = retarget_frames(one("jawOpen", jaw, mouthClose=close), ARKIT, MH)
    for corner in ("UL", "UR", "DL", "DR"):
        assert mh(y, "mouthLipsTogether" + corner)[0] == pytest.approx(together)
    assert mh(y, "jawOpen")[0] == pytest.approx(jaw)


def test_builtin_table_matches_epics_published_weights():
    """Every CTRL weight of the reference export is in our table, and nothing else is."""
    poses = json.loads(reference("metahuman_arkit_pose_weights.json").read_text())
    mapping = builtin_mapping("arkit", "metahuman_2021")
    space = get_space("metahuman_2021")
    for pose, curves in poses.items():
        j = ARKIT.index(pose)
        expected = {c: w for c, w in curves.items() if c.startswith(MH_PREFIX) and w != 0}
        got = {space.curves[i]: mapping.matrix[i, j] for i in np.flatnonzero(mapping.matrix[:, j])}
        assert got == pytest.approx(expected), pose


@pytest.mark.parametrize("rig", ["metahuman", "metahuman_2021"])
def test_arkit_metahuman_arkit_round_trip(rig):
    x = sparse_arkit(500, seed=11)
    back = retarget_frames(retarget_frames(x, ARKIT, get_space(rig)), get_space(rig), ARKIT)
    assert np.abs(back - x).mean() < 0.02
    assert back.min() >= 0 and back.max() <= 1


def test_metahuman_output_stays_in_range_when_poses_add_up():
    # browInnerUp and browOuterUpLeft both raise browRaiseInL: the sum is clamped, and the
    # inverse still recovers both from the curves that are not saturated.
    x = one("browInnerUp", 0.9, browOuterUpLeft=0.8)
    y = retarget_frames(x, ARKIT, MH)
    assert mh(y, "browRaiseInL")[0] == pytest.approx(1.0)
    back = retarget_frames(y, MH, ARKIT)
    assert np.abs(back - x).max() < 0.02


def test_vrcft_rules():
    vr = get_space("vrcft")
    y = retarget_frames(one("eyeBlinkLeft", 0.5, eyeSquintLeft=0.4), ARKIT, vr)
    assert y[0, vr.index("EyeClosedLeft")] == pytest.approx(0.7)  # 0.5 + 0.5 * 0.4
    y = retarget_frames(one("eyeLookInLeft", 0.6, eyeLookOutRight=0.6, eyeLookUpLeft=0.3), ARKIT, vr)
    assert y[0, vr.index("EyeLeftX")] == pytest.approx(0.6)  # both eyes look to the avatar's right
    assert y[0, vr.index("EyeRightX")] == pytest.approx(0.6)
    assert y[0, vr.index("EyeLeftY")] == pytest.approx(0.3)
    y = retarget_frames(one("mouthRollUpper", 0.8, mouthUpperUpLeft=0.5), ARKIT, vr)
    assert y[0, vr.index("LipSuckUpperRight")] == pytest.approx(0.8)
    assert y[0, vr.index("LipSuckUpperLeft")] == pytest.approx(1 - 0.5 ** (1 / 6))
    y = retarget_frames(one("mouthSmileRight", 0.4, browInnerUp=0.3), ARKIT, vr)
    for n, v in (
        ("MouthCornerPullRight", 0.4),
        ("MouthCornerSlantRight", 0.4),
        ("BrowInnerUpLeft", 0.3),
        ("BrowInnerUpRight", 0.3),
    ):
        assert y[0, vr.index(n)] == pytest.approx(v)


def test_vrcft_round_trip_for_faces_a_person_can_make():
    x = sparse_arkit(300, seed=5)
    for a, b in (
        ("eyeLookInLeft", "eyeLookOutLeft"),
        ("eyeLookUpLeft", "eyeLookDownLeft"),
        ("eyeLookInRight", "eyeLookOutRight"),
        ("eyeLookUpRight", "eyeLookDownRight"),
    ):
        x[:, ARKIT.index(b)] *= x[:, ARKIT.index(a)] == 0  # an eye looks one way at a time
    for side in ("Left", "Right"):
        x[:, ARKIT.index("mouthUpperUp" + side)] *= x[:, ARKIT.index("mouthRollUpper")] == 0
    vr = get_space("vrcft")
    back = retarget_frames(retarget_frames(x, ARKIT, vr), vr, ARKIT)
    assert np.abs(back - x).mean() < 0.02


def test_livelinkface_and_arkit_are_the_same_curves():
    llf = get_space("livelinkface")
    x = sparse_arkit(20, seed=2)
    y = retarget_frames(x, ARKIT, llf)
    assert y.shape == (20, 61)
    assert np.all(y[:, 52:] == 0)
    np.testing.assert_array_equal(retarget_frames(y, llf, ARKIT), x)
    assert y[0, llf.index("JawOpen")] == x[0, ARKIT.index("jawOpen")]


def test_metahuman_to_vrcft_goes_through_arkit():
    x = one("jawOpen", 0.7)
    y = retarget_frames(retarget_frames(x, ARKIT, MH), MH, get_space("vrcft"))
    assert y[0, get_space("vrcft").index("JawOpen")] == pytest.approx(0.7, abs=0.01)


def test_flame_without_a_mapping_says_what_to_do():
    with pytest.raises(InputError, match="mapping"):
        retarget_frames(np.zeros((1, 53)), get_space("flame"), ARKIT)


def _write(tmp_path, doc, name="map.json"):
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    return path


def test_user_pose_mapping_replaces_the_builtin_one(tmp_path):
    doc = {
        "format": "emorig-mapping",
        "version": 1,
        "kind": "additive-poses",
        "source": "arkit",
        "target": "metahuman",
        "poses": {
            "JawOpen": {
                "CTRL_expressions_jawOpen": 0.5,
                "CTRL_expressions_jawOpenExtreme": 0.25,
                "head_wm1_normal_head_wm13_jawOpen": 1.0,
            },
            "MouthSmileLeft": {"CTRL_expressions_mouthCornerPullL": 1.0},
        },
    }
    mapping = load_mapping(_write(tmp_path, doc))
    y = retarget_frames(one("jawOpen", 0.8), ARKIT, MH, [mapping])
    assert mh(y, "jawOpen")[0] == pytest.approx(0.4)
    assert mh(y, "jawOpenExtreme")[0] == pytest.approx(0.2)
    back = retarget_frames(y, MH, ARKIT, [mapping])
    assert back[0, ARKIT.index("jawOpen")] == pytest.approx(0.8, abs=1e-3)
    # A saved mapping reads back the same.
    save_mapping(mapping, tmp_path / "again.json")
    again = load_mapping(tmp_path / "again.json")
    np.testing.assert_allclose(again.matrix, mapping.matrix)


def test_user_linear_mapping_between_any_spaces(tmp_path):
    doc = {
        "format": "emorig-mapping",
        "version": 1,
        "kind": "linear",
        "source": "flame",
        "target": "arkit",
        "source_curves": ["exp000", "jaw_rx"],
        "target_curves": ["mouthSmileLeft", "jawOpen"],
        "matrix": [[0.5, 0.0], [0.0, 2.0]],
        "bias": [0.0, 0.0],
    }
    mapping = load_mapping(_write(tmp_path, doc))
    flame = get_space("flame")
    x = np.zeros((1, len(flame)))
    x[0, flame.index("exp000")], x[0, flame.index("jaw_rx")] = 1.0, 0.25
    y = retarget_frames(x, flame, ARKIT, [mapping])
    assert y[0, ARKIT.index("mouthSmileLeft")] == pytest.approx(0.5)
    assert y[0, ARKIT.index("jawOpen")] == pytest.approx(0.5)
    back = retarget_frames(y, ARKIT, flame, [mapping])  # the inverse: a bounded solve in FLAME space
    assert back[0, flame.index("jaw_rx")] == pytest.approx(0.25, abs=1e-3)
    # ... and FLAME reaches MetaHuman through ARKit.
    assert mh(retarget_frames(x, flame, MH, [mapping]), "jawOpen")[0] == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ("{not json", "not valid JSON"),
        ({"format": "something-else"}, "not an emorig mapping"),
        ({"format": "emorig-mapping", "version": 99, "kind": "linear"}, "version 99"),
        ({"format": "emorig-mapping", "version": 1, "kind": "magic", "target": "arkit"}, "unknown mapping kind"),
        (
            {
                "format": "emorig-mapping",
                "version": 1,
                "kind": "additive-poses",
                "target": "metahuman",
                "poses": {"JawOpn": {}},
            },
            "closest known: jawOpen",
        ),
        (
            {
                "format": "emorig-mapping",
                "version": 1,
                "kind": "additive-poses",
                "target": "metahuman",
                "poses": {"JawOpen": {"CTRL_expressions_jawOpen": "a lot"}},
            },
            "not a finite number",
        ),
        (
            {
                "format": "emorig-mapping",
                "version": 1,
                "kind": "linear",
                "source": "arkit",
                "target": "vrcft",
                "source_curves": ["jawOpen"],
                "target_curves": ["JawOpen"],
                "matrix": [[1.0, 2.0]],
            },
            "matrix must be",
        ),
        ({"format": "emorig-mapping", "version": 1, "kind": "additive-poses", "target": "metahuman"}, "no 'poses'"),
    ],
)
def test_bad_mapping_files_get_one_clear_line(tmp_path, doc, message):
    path = tmp_path / "bad.json"
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    with pytest.raises(InputError, match=message) as e:
        load_mapping(path)
    assert "bad.json" in str(e.value) and "\n" not in str(e.value)


def test_smoothing_and_sparsity_settings_reach_the_inverse():
    from retarget.solver import SolverSettings

    rng = np.random.default_rng(0)
    x = np.clip(sparse_arkit(100, seed=3) + 0.05 * rng.normal(size=(100, 52)), 0, 1)
    y = retarget_frames(x, ARKIT, MH)
    plain = retarget_frames(y, MH, ARKIT)
    smooth = retarget_frames(y, MH, ARKIT, settings=SolverSettings(l2=1e-5, temporal=2.0))
    assert np.abs(np.diff(smooth, axis=0)).mean() < np.abs(np.diff(plain, axis=0)).mean()
