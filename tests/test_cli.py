"""The `emorig` command as a user runs it: a child process, real files, exit codes."""

import ast
import subprocess
import sys

import numpy as np
import pytest
import tomllib
from conftest import ROOT, run_emorig

from retarget.mappings import retarget_frames
from retarget.spaces import get_space
from retarget.takes import read_take

EXAMPLE = ROOT / "examples" / "take.csv"


def test_readme_main_command_turns_the_example_take_into_metahuman_curves(tmp_path):
    out = tmp_path / "mh.csv"
    result = run_emorig("retarget", EXAMPLE, "-o", out, "--to", "metahuman")
    assert result.returncode == 0, result.stderr
    take = read_take(out)
    source = read_take(EXAMPLE)
    assert take.space.name == "metahuman" and len(take) == len(source) == 240
    assert take.fps == 60 and take.start == pytest.approx(source.start)
    jaw_in, jaw_out = source.curve("JawOpen"), take.curve("CTRL_expressions_jawOpen")
    np.testing.assert_allclose(jaw_out, jaw_in, atol=1e-6)
    assert take.curve("CTRL_expressions_mouthCornerPullL").max() > 0.5  # the example smiles


def test_metahuman_back_to_arkit_recovers_the_take(tmp_path):
    mh, back = tmp_path / "mh.npz", tmp_path / "back.json"
    assert run_emorig("retarget", EXAMPLE, "-o", mh, "--to", "metahuman").returncode == 0
    result = run_emorig("retarget", mh, "-o", back, "--to", "livelinkface")
    assert result.returncode == 0, result.stderr
    a, b = read_take(EXAMPLE), read_take(back)
    assert np.abs(a.frames[:, :52] - b.frames[:, :52]).mean() < 0.02


def test_to_vrcft_and_explicit_from(tmp_path):
    out = tmp_path / "vrc.csv"
    result = run_emorig("retarget", EXAMPLE, "-o", out, "--to", "vrcft", "--from", "livelinkface")
    assert result.returncode == 0, result.stderr
    assert read_take(out).space.name == "vrcft"


def test_user_mapping_file_from_the_command_line(tmp_path):
    mapping = tmp_path / "rig.json"
    mapping.write_text(
        '{"format": "emorig-mapping", "version": 1, "kind": "additive-poses", "source": "arkit",'
        ' "target": "metahuman", "poses": {"JawOpen": {"CTRL_expressions_jawOpen": 0.5}}}'
    )
    out = tmp_path / "mh.csv"
    result = run_emorig("retarget", EXAMPLE, "-o", out, "--to", "metahuman", "--mapping", mapping)
    assert result.returncode == 0, result.stderr
    jaw = read_take(EXAMPLE).curve("JawOpen")
    np.testing.assert_allclose(read_take(out).curve("CTRL_expressions_jawOpen"), 0.5 * jaw, atol=1e-6)
    assert read_take(out).curve("CTRL_expressions_mouthCornerPullL").max() == 0  # only the user's poses


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["retarget", "{bad}", "-o", "{out}", "--to", "metahuman"], "row 3: expected"),
        (["retarget", "{example}", "-o", "{out}", "--to", "metahumann"], "unknown rig space 'metahumann'"),
        (["retarget", "{missing}", "-o", "{out}", "--to", "arkit"], "file not found"),
        (["retarget", "{example}", "-o", "{out}", "--to", "flame"], "no mapping from"),
        (["retarget", "{example}", "-o", "{out}", "--to", "arkit", "--mapping", "{missing}"], "mapping file not found"),
        (["retarget", "{example}", "-o", "{tmp}/no/such/dir/out.csv", "--to", "arkit"], "output folder does not exist"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_no_output(tmp_path, args, message):
    bad = tmp_path / "bad.csv"
    bad.write_text("Timecode,jawOpen\n00:00:00:00.000,0.1\n00:00:00:01.000,0.1,0.3\n")
    out = tmp_path / "out.csv"
    fill = {"bad": bad, "out": out, "example": EXAMPLE, "missing": tmp_path / "missing.csv", "tmp": tmp_path}
    result = run_emorig(*[a.format(**fill) for a in args])
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("emorig: error: ") and message in lines[0], result.stderr
    assert "Traceback" not in result.stderr
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.csv"]  # no temp file left behind


def test_failed_run_keeps_an_existing_output(tmp_path):
    out = tmp_path / "out.csv"
    out.write_text("precious")
    bad = tmp_path / "bad.csv"
    bad.write_text("Timecode,jawOpen\n00:00:00:00.000,nan\n")
    assert run_emorig("retarget", bad, "-o", out, "--to", "arkit").returncode == 2
    assert out.read_text() == "precious"


def test_spaces_lists_every_space_and_one_in_detail():
    result = run_emorig("spaces")
    assert result.returncode == 0
    for name in ("arkit", "livelinkface", "metahuman", "metahuman_2021", "vrcft", "flame"):
        assert name in result.stdout
    result = run_emorig("spaces", "arkit")
    assert "eyeBlinkLeft\t0\t1\t0\teyeBlinkRight\teyes" in result.stdout


def test_console_script_is_declared():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert meta["project"]["scripts"]["emorig"] == "bridge.cli:main"
    assert meta["project"]["name"] == "emorig"


def test_retarget_imports_without_torch_and_uses_only_numpy_scipy():
    code = "import sys, retarget.mappings, retarget.takes, retarget.solver, bridge.cli; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
    allowed = {"numpy", "scipy", "retarget"}
    for path in (ROOT / "retarget").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                roots = [a.name.split(".")[0] for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                roots = [node.module.split(".")[0]]
            else:
                continue
            for root in roots:
                assert root in allowed or root in sys.stdlib_module_names, f"{path.name} imports {root}"


def test_example_take_is_what_the_generator_makes(tmp_path):
    # The bundled take stays reproducible from its script.
    fresh = tmp_path / "take.csv"
    subprocess.run([sys.executable, str(ROOT / "examples" / "make_example_take.py"), str(fresh)], check=True, cwd=ROOT)
    assert fresh.read_bytes() == EXAMPLE.read_bytes()
    example = read_take(EXAMPLE)
    assert example.space.name == "livelinkface"
    assert 0.5 < example.curve("JawOpen").max() <= 1
    arkit = retarget_frames(example.frames, example.space, get_space("arkit"))
    assert arkit.shape == (240, 52)
