"""The Blender add-on (engine_plugins/blender/emorig_blender) inside a real, headless Blender.

Each test packs the add-on into a zip, starts `blender -b --factory-startup` with
tests/blender/driver.py, which installs and enables the zip in a throw-away user folder,
builds a head mesh with ARKit-named shape keys and runs one scenario; what Blender saw comes
back as JSON and is checked here against the take files, read by emorig itself:

- a golden take (examples/take.csv, 60 fps) imported into a 24 fps scene: every matched
  shape key's f-curve equals the take interpolated at that frame's time, by both readers
  (emorig's, and the add-on's own CSV fallback); head rotations land on the head bone;
  takes in other rig spaces (MetaHuman NPZ, onto CTRL-named keys; ARKit onto VRChat names);
- the bundled speech clip, padded with silence, animated through `emorig animate`: the jaw
  moves in speech and rests in the silence, the sound strip is added;
- the live receiver fed by `emorig stream` over loopback: the shape keys follow each newest
  frame, the recording bakes to what the stream wrote to its own take file, and a flood of
  malformed datagrams is counted and dropped without an exception.

Without Blender (Debian: `apt-get install blender`; .ci/run installs it as root) they skip.
"""

from __future__ import annotations

import json
import random
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from retarget.mappings import retarget_frames
from retarget.spaces import get_space
from retarget.takes import Take, read_take, write_take

ROOT = Path(__file__).resolve().parents[1]
DRIVER = ROOT / "tests" / "blender" / "driver.py"
VECTORS = ROOT / "tests" / "vectors"
BLENDER = shutil.which("blender")
sys.path.insert(0, str(ROOT / "engine_plugins" / "blender"))
from make_zip import make_zip  # noqa: E402

pytestmark = pytest.mark.skipif(
    BLENDER is None, reason="blender not installed (Debian: apt-get install blender; .ci/run does it as root)"
)

ARKIT_KEYS = ["jawOpen", "eyeBlink_L", "eyeBlink.R", "blendShape1.mouthSmileLeft", "MouthSmileRight", "browInnerUp"]
# The emorig command of this Python's environment (pip install -e . puts it beside python).
EMORIG = next(
    (str(p) for p in (Path(sys.executable).with_name("emorig"), shutil.which("emorig")) if p and Path(p).is_file()),
    None,
)
needs_emorig = pytest.mark.skipif(EMORIG is None, reason="no emorig command beside this Python (pip install -e .)")


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_blender(tmp_path: Path, scenario: str, timeout: int = 300, **config) -> dict:
    tmp_path.mkdir(parents=True, exist_ok=True)
    config.update(scenario=scenario, zip=str(make_zip(tmp_path / "emorig_blender.zip")), out=str(tmp_path / "out.json"))
    config.setdefault("command", EMORIG or "emorig")
    (tmp_path / "config.json").write_text(json.dumps(config))
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        # A user folder of its own: the zip installs there, never into the real Blender setup.
        "BLENDER_USER_SCRIPTS": str(tmp_path / "user_scripts"),
        "BLENDER_USER_CONFIG": str(tmp_path / "user_config"),
    }
    done = subprocess.run(
        [
            BLENDER,
            "-b",
            "--factory-startup",
            "--python-exit-code",
            "1",
            "--python",
            str(DRIVER),
            "--",
            str(tmp_path / "config.json"),
        ],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads((tmp_path / "out.json").read_text())
    assert result["operators"] == ["animate_audio", "import_take", "live_start", "live_stop"]
    assert result["import_menu"] and result["panel"]
    assert Path(result["installed_at"]).is_relative_to(tmp_path / "user_scripts")
    return result


def expected_at(take: Take, curve: str, frames, start_frame: int, fps: float) -> np.ndarray:
    """The take's curve at each scene frame's time, by linear interpolation between its frames."""
    t = (np.asarray(frames, dtype=float) - start_frame) / fps
    return np.interp(t, np.arange(len(take)) / take.fps, take.curve(curve))


FRAMES = [5, 6, 9, 17, 30, 41, 52, 64]  # start 5 at 24 fps: 0 s .. 2.46 s of a 4 s take


@pytest.fixture(scope="module")
def golden_imports(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("import")
    take = read_take(ROOT / "examples" / "take.csv")
    bad = tmp / "bad.csv"
    bad.write_text((ROOT / "examples" / "take.csv").read_text().replace("0.0000000000", "zero", 1))
    result = run_blender(
        tmp,
        "import",
        fps=24,
        start_frame=5,
        frames=FRAMES,
        shapes=ARKIT_KEYS + ["notAShape"],
        bones=["head", "eye.L"],
        package=str(ROOT),
        takes=[
            {"path": str(ROOT / "examples" / "take.csv")},
            {"path": str(ROOT / "examples" / "take.csv"), "use_emorig": False},
            {"path": str(bad)},
            {"path": str(bad), "use_emorig": False},
            {"path": str(tmp / "missing.json"), "use_emorig": False},
        ],
    )
    return take, result["imports"]


@pytest.mark.parametrize("which,reader", [(0, "emorig"), (1, "csv fallback")])
def test_golden_take_becomes_fcurves_at_the_scene_rate(golden_imports, which, reader):
    take, imports = golden_imports
    got = imports[which]
    assert "error" not in got, got
    assert got["reader"] == reader
    assert got["matched"] == len(ARKIT_KEYS)
    assert got["unmatched_keys"] == ["notAShape"]
    # Unmatched take curves are listed (e.g. CheekPuff), matched ones and rotations are not.
    assert "CheekPuff" in got["unmatched_curves"] and "JawOpen" not in got["unmatched_curves"]
    assert not any(c.startswith(("Head", "LeftEye")) for c in got["unmatched_curves"])
    pairs = {
        "jawOpen": "JawOpen",
        "eyeBlink_L": "EyeBlinkLeft",
        "eyeBlink.R": "EyeBlinkRight",
        "blendShape1.mouthSmileLeft": "MouthSmileLeft",
        "MouthSmileRight": "MouthSmileRight",
        "browInnerUp": "BrowInnerUp",
    }
    # 240 frames at 60 fps are 4 s: 97 keys at 24 fps, resampled, not one per take frame.
    n = int((len(take) - 1) / take.fps * 24 + 1e-6) + 1
    for shape, curve in pairs.items():
        values = [got["curves"][shape][str(f)] for f in FRAMES]
        np.testing.assert_allclose(values, expected_at(take, curve, FRAMES, 5, 24), atol=2e-6, err_msg=shape)
        assert got["curves"][shape]["keys"] == n
    assert np.ptp([got["curves"]["jawOpen"][str(f)] for f in FRAMES]) > 0.1  # the check compares motion
    # Head yaw/pitch/roll go onto the head bone: pitch about X, yaw about Y, roll about Z.
    for axis, curve in [(0, "HeadPitch"), (1, "HeadYaw"), (2, "HeadRoll")]:
        values = [got["bones"][f"head[{axis}]"][str(f)] for f in FRAMES]
        np.testing.assert_allclose(values, expected_at(take, curve, FRAMES, 5, 24), atol=2e-6)
    assert "eye.L[1]" in got["bones"]


def test_bad_takes_are_one_line_errors(golden_imports):
    _, imports = golden_imports
    for got in imports[2:]:
        assert "error" in got and "\n" not in got["error"], got
    assert "bad.csv" in imports[2]["error"] and "row 2" in imports[2]["error"]
    assert "bad.csv" in imports[3]["error"] and "row 2" in imports[3]["error"]
    assert "needs emorig" in imports[4]["error"]


def test_other_rig_spaces_metahuman_npz_and_vrchat_names(tmp_path):
    take = read_take(ROOT / "examples" / "take.csv")
    arkit = get_space("arkit")
    ark = retarget_frames(take.frames, take.space, arkit)
    mh_space = get_space("metahuman")
    mh = Take(mh_space, take.fps, retarget_frames(ark, arkit, mh_space))
    write_take(mh, tmp_path / "mh.npz")
    write_take(Take(arkit, take.fps, ark), tmp_path / "arkit.json")
    mh_keys = ["CTRL_expressions_jawOpen", "CTRL_expressions_mouthCornerPullL", "CTRL_expressions_eyeBlinkR"]
    vrc_keys = ["EyeClosedLeft", "MouthCornerPullRight", "JawOpen", "MouthCornerSlantLeft", "BrowInnerUpLeft"]
    common = dict(fps=30, start_frame=1, frames=[1, 10, 25, 40, 60], package=str(ROOT))
    # One mesh each: a mesh with both sets would rightly pick the space that fits more keys.
    (mh_got,) = run_blender(
        tmp_path / "mh", "import", shapes=mh_keys, takes=[{"path": str(tmp_path / "mh.npz")}], **common
    )["imports"]
    (vrc_got,) = run_blender(
        tmp_path / "vrc", "import", shapes=vrc_keys, takes=[{"path": str(tmp_path / "arkit.json")}], **common
    )["imports"]
    assert mh_got["space"] == "metahuman" and mh_got["matched"] == 3, mh_got
    for shape, curve in zip(
        mh_keys, ["CTRL_expressions_jawOpen", "CTRL_expressions_mouthCornerPullL", "CTRL_expressions_eyeBlinkR"]
    ):
        values = [mh_got["curves"][shape][str(f)] for f in [1, 10, 25, 40, 60]]
        np.testing.assert_allclose(values, expected_at(mh, curve, [1, 10, 25, 40, 60], 1, 30), atol=1e-5)
    # The ARKit take matches one VRChat key by name (JawOpen); retargeted to vrcft, all five.
    assert vrc_got["space"] == "vrcft" and vrc_got["matched"] == len(vrc_keys), vrc_got
    vspace = get_space("vrcft")
    vrc = Take(vspace, take.fps, retarget_frames(ark, arkit, vspace))
    for shape in vrc_keys:
        values = [vrc_got["curves"][shape][str(f)] for f in [1, 10, 25, 40, 60]]
        np.testing.assert_allclose(values, expected_at(vrc, shape, [1, 10, 25, 40, 60], 1, 30), atol=1e-4)


@needs_emorig
def test_animate_speech_moves_the_jaw_and_rests_in_silence(tmp_path):
    import soundfile as sf

    speech, rate = sf.read(ROOT / "examples" / "speech.wav", dtype="float32")
    pad = np.zeros(int(1.5 * rate), dtype=np.float32)
    audio = tmp_path / "padded speech.wav"  # a space in the name: paths are passed as arguments
    sf.write(audio, np.concatenate([pad, speech, pad]), rate)
    got = run_blender(
        tmp_path,
        "animate",
        fps=30,
        start_frame=1,
        shapes=ARKIT_KEYS,
        audio=str(audio),
        take_path=str(tmp_path / "take.csv"),
    )
    assert "error" not in got, got
    assert got["matched"] == len(ARKIT_KEYS)
    assert got["strips"] == [["padded speech", str(audio), 1]]
    assert got["sync_mode"] == "AUDIO_SYNC"
    assert "sound file not found" in got["missing_audio"]
    jaw = np.array(got["jaw"])
    t = (jaw[:, 0] - 1) / 30
    speaking = jaw[(t > 1.5 + 0.3) & (t < 1.5 + 4.2), 1]
    silent = jaw[((t > 0.3) & (t < 1.2)) | (t > 1.5 + len(speech) / rate + 0.5), 1]
    assert len(silent) > 30 and len(speaking) > 90
    assert speaking.max() > 0.2 and speaking.std() > 0.04, speaking
    assert silent.max() < 0.05, silent
    # The f-curves are the take emorig wrote (30 fps asked of emorig: no resampling needed).
    take = read_take(tmp_path / "take.csv")
    assert take.fps == 30
    np.testing.assert_allclose(jaw[:, 1], take.curve("JawOpen")[: len(jaw)], atol=1e-6)


def _malformed_flood(rng: random.Random) -> list[str]:
    good = (VECTORS / "osc_compact_bundle.bin").read_bytes()
    names = (VECTORS / "osc_compact_names.bin").read_bytes()
    out = []
    for v in sorted(VECTORS.glob("*.json")):
        doc = json.loads(v.read_text())
        if doc["format"].startswith("osc") and not doc["valid"]:
            out.append(v.with_suffix(".bin").read_bytes())
    for _ in range(3000):
        kind = rng.randrange(4)
        if kind == 0:
            d = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 600)))
        elif kind == 1:
            src = rng.choice([good, names])
            d = src[: rng.randrange(1, len(src))]  # truncated
        elif kind == 2:
            d = bytearray(good)
            d[rng.randrange(16, len(d))] ^= 1 << rng.randrange(8)  # one bit flipped
            d = bytes(d)
            if d == good:
                continue
        else:
            d = good  # a frame of a subject whose names never came
        out.append(d)
    return [d.hex() for d in out]


@needs_emorig
def test_live_receiver_follows_emorig_stream_and_drops_malformed(tmp_path):
    port = _free_udp_port()
    sent_take = tmp_path / "sent.csv"
    stream = [EMORIG, "stream", "--input", str(ROOT / "examples" / "speech.wav"), "--realtime"]
    stream += ["--sink", f"osc://127.0.0.1:{port}", "--sink", str(sent_take)]
    frames = [11, 20, 35, 60, 90, 120]
    flood = _malformed_flood(random.Random(14))
    valid = [(VECTORS / n).read_bytes().hex() for n in ("osc_compact_names.bin", "osc_compact_bundle.bin")]
    got = run_blender(
        tmp_path, "live", fps=25, start_frame=11, port=port, shapes=ARKIT_KEYS, stream=stream, frames=frames,
        flood=flood, valid_after=valid,
    )  # fmt: skip
    assert got["start"] == {"result": ["FINISHED"]}
    assert got["timer_registered"] is True
    assert "already listening" in got["second_start"]["error"]
    assert got["stream_rc"] == 0, got["stream_err"]
    take = read_take(sent_take)
    st = got["after_stream"]
    # Every frame on loopback arrived and drove the mesh; none was dropped.
    assert st["frames"] == len(take) and st["dropped"] == 0 and st["errors"] == 0, st
    assert st["space"] == "livelinkface" and st["matched"] == len(ARKIT_KEYS)
    follow = np.array(got["follow"])
    assert len(follow) > 50  # a realtime stream arrives over many ticks, not in one burst
    np.testing.assert_allclose(follow[:, 0], follow[:, 1], atol=1e-6)
    assert np.ptp(follow[:, 1]) > 0.1

    # The flood: every datagram counted as dropped (by reason), nothing raised, timer kept.
    fl = got["after_flood"]
    assert fl["dropped"] == got["flood_sent"] == len(flood), fl
    assert fl["errors"] == 0 and fl["frames"] == st["frames"]
    assert {"bad_osc", "no_names_yet"} <= set(fl["drops"]), fl["drops"]
    assert None not in got["intervals"]
    assert got["after_valid"]["frames"] == fl["frames"] + 1

    # Stopping bakes the recording: keys at 25 fps equal the stream's own take, interpolated.
    assert got["stop"] == {"result": ["FINISHED"]} and got["timer_after_stop"] is False
    assert got["recorded_t0"] == 0.0
    info = got["stop_info"]["bake"]
    assert info["frames"] == int((len(take) - 1) / take.fps * 25 + 1e-6) + 1
    for shape, curve in [
        ("jawOpen", "JawOpen"),
        ("eyeBlink_L", "EyeBlinkLeft"),
        ("MouthSmileRight", "MouthSmileRight"),
    ]:
        values = [got["curves"][shape][str(f)] for f in frames]
        np.testing.assert_allclose(values, expected_at(take, curve, frames, 11, 25), atol=1e-5, err_msg=shape)
    assert "not running" in got["stop_again"]["error"]
