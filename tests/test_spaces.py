"""Rig spaces: the curve lists match the published facts, names are matched the way real files spell them."""

import re

import numpy as np
import pytest
from conftest import reference

from retarget.errors import InputError
from retarget.spaces import BUILTIN, get_space, infer_space


def _readme_section(start, end):
    text = reference("README.md").read_text()
    i = text.index(start)
    return text[i : text.index(end, i)]


def test_arkit_is_apples_52_in_apples_order():
    block = _readme_section("Apple's 52, in Apple's documented order", "Other spellings")
    words = [w for w in re.findall(r"\b[a-z]+[A-Z][A-Za-z]+\b", block) if w != "camelCase"]
    left = [w for w in words if w.endswith("Left")][:7]
    expected = left + [w.replace("Left", "Right") for w in left] + words[7:]
    assert list(get_space("arkit").curves) == expected
    assert len(expected) == 52


def test_livelinkface_is_unreals_61_value_order():
    block = _readme_section("Value order (Unreal's `EARFaceBlendShape`)", "Unreal publishes")
    names = re.findall(r"\b[A-Z][A-Za-z]+\b", block)
    names = [n for n in names if n not in ("Value", "Unreal", "EARFaceBlendShape", "Right")]
    space = get_space("livelinkface")
    assert len(space) == 61
    # The packet order: the seven left-eye values, then the same seven for the right eye, ...
    assert space.curves[:7] == tuple(names[:7])
    assert space.curves[7:14] == tuple(n.replace("Left", "Right") for n in names[:7])
    assert space.curves[14:] == tuple(names[7:])
    # ... and its first 52 are the ARKit shapes in PascalCase.
    assert [c[0].lower() + c[1:] for c in space.curves[:52]] == list(get_space("arkit").curves)


@pytest.mark.parametrize(
    ("space", "ref"),
    [
        ("metahuman", "metahuman_ctrl_expressions_newer_rig.txt"),
        ("metahuman_2021", "metahuman_ctrl_expressions_2021rig.txt"),
    ],
)
def test_metahuman_spaces_hold_every_ctrl_curve_of_their_rig(space, ref):
    expected = reference(ref).read_text().split()
    assert sorted(get_space(space).curves) == sorted(expected)


def test_vrcft_holds_the_88_unified_expressions_in_enum_order_plus_eye_data():
    expected = reference("vrcft_unified_expressions.txt").read_text().split()
    space = get_space("vrcft")
    assert list(space.curves[:88]) == expected
    assert set(space.curves[88:]) == {
        "EyeLeftX",
        "EyeLeftY",
        "EyeRightX",
        "EyeRightY",
        "EyeClosedLeft",
        "EyeClosedRight",
    }
    assert space.lower[space.index("EyeLeftX")] == -1


@pytest.mark.parametrize(
    ("spec", "n"), [("flame", 53), ("flame100", 103), ("flame50+neck", 56), ("flame100+neck+eyes", 112)]
)
def test_flame_spaces(spec, n):
    space = get_space(spec)
    assert len(space) == n
    assert space.curves[0] == "exp000"
    assert "jaw_rx" in space.curves
    assert ("eyeLeft_ry" in space.curves) == ("eyes" in spec)
    if "eyes" in spec:
        assert space.curves[space.mirror[space.index("eyeLeft_ry")]] == "eyeRight_ry"


@pytest.mark.parametrize("name", BUILTIN)
def test_every_space_is_consistent(name):
    space = get_space(name)
    assert len(set(space.curves)) == len(space)
    assert np.all(space.lower <= space.neutral) and np.all(space.neutral <= space.upper)
    for i, j in enumerate(space.mirror):  # mirroring twice is the identity
        assert j == -1 or space.mirror[j] == i
    assert all(r for r in space.regions)
    for i, c in enumerate(space.curves):  # every canonical name finds itself
        assert space.find(c) == i


def test_mirror_pairs_follow_the_face_not_the_letters():
    mh = get_space("metahuman")
    # Left eye looking left mirrors to the right eye looking right.
    assert mh.curves[mh.mirror[mh.index("CTRL_expressions_eyeLookLeftL")]] == "CTRL_expressions_eyeLookRightR"
    ak = get_space("arkit")
    assert ak.curves[ak.mirror[ak.index("eyeLookInLeft")]] == "eyeLookInRight"
    assert ak.mirror[ak.index("jawOpen")] == -1
    frame = np.zeros(52)
    frame[ak.index("mouthSmileLeft")] = 0.7
    assert ak.mirrored(frame)[ak.index("mouthSmileRight")] == pytest.approx(0.7)


@pytest.mark.parametrize(
    "spelling",
    [
        "eyeBlinkLeft",
        "EyeBlinkLeft",
        "eyeBlink_L",
        "EYEBLINKLEFT",
        "eyeblinkleft",
        "blendShape1.eyeBlinkLeft",
        "Face.eyeBlink_L",
        "head_geo:eyeBlinkLeft",
        "eye_blink_left",
    ],
)
def test_arkit_name_variants(spelling):
    space = get_space("arkit")
    assert space.curves[space.index(spelling)] == "eyeBlinkLeft"


def test_right_side_and_unity_keys_for_every_sided_shape():
    space = get_space("arkit")
    for c in space.curves:
        for side, letter in (("Left", "L"), ("Right", "R")):
            if c.endswith(side):
                assert space.find(c[: -len(side)] + "_" + letter) == space.index(c), c


def test_metahuman_names_with_and_without_prefix():
    mh = get_space("metahuman")
    i = mh.index("CTRL_expressions_mouthCornerPullL")
    assert mh.index("mouthCornerPullL") == i
    assert mh.index("ctrl_expressions_mouthcornerpulll") == i
    assert mh.index("mouthCornerPull_Left") == i


def test_vrcft_accepts_avatar_parameter_paths():
    space = get_space("vrcft")
    assert space.curves[space.index("/avatar/parameters/FT/v2/JawOpen")] == "JawOpen"


def test_unknown_name_names_the_closest_known_names():
    with pytest.raises(InputError) as e:
        get_space("arkit").index("mouthSmileLeftt")
    assert "mouthSmileLeft" in str(e.value)
    with pytest.raises(InputError, match="known: arkit"):
        get_space("arkitt")


def test_space_is_inferred_from_curve_names():
    assert infer_space(["JawOpen", "EyeBlinkLeft"]).name == "arkit"  # smallest space that knows them
    assert infer_space(get_space("livelinkface").curves).name == "livelinkface"
    assert infer_space(["CTRL_expressions_jawOpen", "CTRL_expressions_tongueRollUp"]).name == "metahuman_2021"
    assert infer_space(["CTRL_expressions_jawOpen", "CTRL_expressions_tongueThick"]).name == "metahuman"
    assert infer_space(["MouthCornerPullLeft", "EyeLeftX"]).name == "vrcft"
    assert infer_space(["exp000", "exp070", "jaw_rx"]).name == "flame100"
    with pytest.raises(InputError, match="jawOpn"):
        infer_space(["jawOpn", "eyeBlinkLeft"])
