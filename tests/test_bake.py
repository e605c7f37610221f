"""`emorig bake`: real speech, the real command in child processes, takes compared byte for byte."""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.conftest import ROOT, run_emorig

SPEECH = ROOT / "examples" / "speech.wav"


def _clips(folder: Path, n: int = 4) -> list[Path]:
    """n different real-speech lines (pieces of the example recording), some in a subfolder."""
    audio, rate = sf.read(SPEECH, dtype="float32")
    paths = []
    for i in range(n):
        start = int(i * 0.35 * rate)
        piece = audio[start : start + int((1.0 + 0.3 * i) * rate)]
        path = folder / ("scene2" if i % 2 else "scene1") / f"line{i}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, piece, rate)
        paths.append(path)
    return paths


def _report(out: Path) -> list[dict]:
    return [json.loads(t) for t in (out / "bake-report.jsonl").read_text().splitlines()]


def test_folder_bake_mirrors_the_tree_equals_animate_and_a_rerun_does_nothing(tmp_path):
    clips = _clips(tmp_path / "vo")
    out = tmp_path / "takes"
    r = run_emorig("bake", tmp_path / "vo", "-o", out, "--jobs", "2", "--quiet")
    assert r.returncode == 0, r.stderr
    assert "4 baked" in r.stdout
    for clip in clips:
        take = out / clip.parent.name / (clip.stem + ".csv")
        one = tmp_path / "one.csv"
        a = run_emorig("animate", clip, "-o", one, "--quiet")
        assert a.returncode == 0, a.stderr
        assert take.read_bytes() == one.read_bytes()  # the same take as `emorig animate`
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*.csv")}
    again = run_emorig("bake", tmp_path / "vo", "-o", out, "--quiet")
    assert again.returncode == 0 and "0 baked, 4 up to date" in again.stdout
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.csv")} == stamps
    # New audio for one line re-bakes that line only; other options re-bake everything.
    sf.write(clips[0], sf.read(clips[1], dtype="float32")[0], 16000)
    changed = run_emorig("bake", tmp_path / "vo", "-o", out, "--quiet")
    assert "1 baked, 3 up to date" in changed.stdout
    happy = run_emorig("bake", tmp_path / "vo", "-o", out, "--quiet", "--emotion", "happy")
    assert "4 baked" in happy.stdout


def test_lines_rendered_in_groups_are_the_takes_animate_writes(tmp_path):
    # 12 lines on one worker go in groups of 3 (bridge.bake.groups): their voice activity computed
    # side by side, each line's take still its own, byte for byte.
    clips = _clips(tmp_path / "vo", 12)
    out = tmp_path / "takes"
    r = run_emorig("bake", tmp_path / "vo", "-o", out, "--jobs", "1", "--quiet")
    assert r.returncode == 0, r.stderr
    assert "12 baked" in r.stdout
    for clip in clips[::2]:
        one = tmp_path / "one.csv"
        a = run_emorig("animate", clip, "-o", one, "--quiet")
        assert a.returncode == 0, a.stderr
        assert (out / clip.parent.name / (clip.stem + ".csv")).read_bytes() == one.read_bytes(), clip.name


def test_bad_files_are_reported_and_never_stop_the_bake(tmp_path):
    vo = tmp_path / "vo"
    _clips(vo, 2)
    sf.write(vo / "empty.wav", np.zeros(0, np.float32), 16000)
    (vo / "notes.wav").write_text("this is not audio\n")
    good = (vo / "scene1" / "line0.wav").read_bytes()
    (vo / "corrupt.wav").write_bytes(b"RIFF\xff\xff\xff\x7fWAVEfmt " + good[100:400])  # a torn header
    out = tmp_path / "takes"
    r = run_emorig("bake", vo, "-o", out, "--quiet", "--model", "reference")
    assert r.returncode == 1
    failed = {Path(x["audio"]).name: x["reason"] for x in _report(out) if x["status"] == "failed"}
    assert set(failed) == {"empty.wav", "notes.wav", "corrupt.wav"}
    assert "no audio" in failed["empty.wav"]
    assert all(reason for reason in failed.values())
    assert "3 failed" in r.stdout
    takes = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert takes == [".emorig-bake.jsonl", "bake-report.jsonl", "scene1/line0.csv", "scene2/line1.csv"]


def test_a_dialogue_table_carries_each_lines_emotion_and_reports_bad_rows(tmp_path):
    clips = _clips(tmp_path, 2)
    table = tmp_path / "lines.csv"
    table.write_text(
        "id,audio,emotion,intensity\n"
        f"hello,{clips[0].relative_to(tmp_path)},happy,0.9\n"
        f"bye,{clips[1].relative_to(tmp_path)},sad,\n"
        "missing,nowhere.wav,,\n"
        f"shout,{clips[1].relative_to(tmp_path)},furious,\n"
        f"loud,{clips[1].relative_to(tmp_path)},angry,loud\n"
    )
    out = tmp_path / "takes"
    r = run_emorig("bake", table, "-o", out, "--quiet", "--model", "reference", "--format", "json")
    assert r.returncode == 1
    report = {x["line"]: x for x in _report(out)}
    assert [report[n]["status"] for n in (2, 3, 4, 5, 6)] == ["baked", "baked", "failed", "failed", "failed"]
    assert "no such file" in report[4]["reason"] and "row 5" in report[5]["reason"] and "row 6" in report[6]["reason"]
    hello = json.loads((out / "hello.json").read_text())
    assert set(hello["emotion"]) == {"happy"}
    one = tmp_path / "one.json"
    run_emorig(
        "animate", clips[0], "-o", one, "--quiet", "--model", "reference", "--emotion", "happy", "--intensity", "0.9"
    )
    assert (out / "hello.json").read_bytes() == one.read_bytes()
    jsonl = tmp_path / "lines.jsonl"
    jsonl.write_text(json.dumps({"audio": str(clips[1]), "output": "act1/bye", "emotion": "sad"}) + "\n{oops\n")
    r = run_emorig("bake", jsonl, "-o", out, "--quiet", "--model", "reference")
    assert r.returncode == 1 and (out / "act1" / "bye.csv").exists()
    assert "not JSON" in [x for x in _report(out) if x["line"] == 2][0]["reason"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["nowhere"], "no such folder"),
        (["{vo}", "--emotion", "furious"], "furious"),
        (["{vo}", "--rig", "nope"], "nope"),
        (["{table}"], "unknown column 'feeling'"),
    ],
)
def test_bad_command_input_is_one_line_exit_2(tmp_path, args, message):
    _clips(tmp_path / "vo", 1)
    (tmp_path / "t.csv").write_text("audio,feeling\nx.wav,meh\n")
    args = [a.format(vo=tmp_path / "vo", table=tmp_path / "t.csv") for a in args]
    r = run_emorig("bake", *args, "-o", tmp_path / "out", "--model", "reference", "--quiet")
    assert r.returncode == 2
    assert len(r.stderr.strip().splitlines()) == 1 and message in r.stderr


def _bake_with_killed_worker(tmp_path, extra, clean):
    vo = tmp_path / "vo"
    out = tmp_path / "takes"
    env = dict(os.environ, EMORIG_BAKE_TEST_KILL_AFTER="2")
    cmd = [sys.executable, "-m", "bridge.cli", "bake", str(vo), "-o", str(out), "--quiet", "--jobs", "2", *extra]
    first = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    assert first.returncode == 1, first.stderr
    assert any(x["status"] in ("failed", "not done") for x in _report(out))
    assert not [p for p in out.rglob("*.tmp")]  # nothing half-written
    second = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    assert second.returncode == 0, second.stderr
    for take in clean.rglob("*.csv"):
        assert (out / take.relative_to(clean)).read_bytes() == take.read_bytes()


@pytest.fixture
def one_process_bake(tmp_path):
    _clips(tmp_path / "vo", 6)
    clean = tmp_path / "clean"
    r = run_emorig("bake", tmp_path / "vo", "-o", clean, "--jobs", "1", "--quiet")
    assert r.returncode == 0, r.stderr
    return clean


def test_a_killed_local_worker_is_reported_and_the_rerun_finishes(tmp_path, one_process_bake):
    _bake_with_killed_worker(tmp_path, [], one_process_bake)


needs_ray = pytest.mark.skipif(
    importlib.util.find_spec("ray") is None, reason="Ray is not installed (pip install 'emorig[ray]')"
)


@needs_ray
def test_ray_bake_with_a_killed_actor_finishes_on_rerun_identical_to_one_process(tmp_path, one_process_bake):
    # `--ray local`: each bake starts a real one-node Ray cluster (raylet, GCS, worker processes).
    ray_cluster = "local"
    _bake_with_killed_worker(tmp_path, ["--ray", ray_cluster], one_process_bake)
    collected = tmp_path / "collected"
    r = run_emorig("bake", tmp_path / "vo", "-o", collected, "--ray", ray_cluster, "--collect", "--quiet")
    assert r.returncode == 0, r.stderr
    for take in one_process_bake.rglob("*.csv"):
        assert (collected / take.relative_to(one_process_bake)).read_bytes() == take.read_bytes()


def test_voice_activity_computed_ahead_is_what_a_worker_computes_for_its_group(tmp_path):
    # run_local forks a child that runs Silero over the groups while torch loads; a worker uses
    # those probabilities only for exactly the group (and audio) they were computed for.
    pytest.importorskip("onnxruntime")
    from bridge import bake
    from bridge.audio import load_audio
    from bridge.vad import load_silero, window_probabilities

    clips = _clips(tmp_path / "vo", 5)
    jobs = [{"audio": str(c), "options": {"vad": "auto"}} for c in clips]
    missing = {"audio": str(tmp_path / "gone.wav"), "options": {"vad": "auto"}}
    energy = {"audio": str(clips[0]), "options": {"vad": "energy"}}
    bake.VAD_AHEAD.clear()
    bake.finish_vad_ahead(bake.start_vad_ahead([jobs[:3], [*jobs[3:], missing, energy]]))
    model = load_silero()
    assert len(bake.VAD_AHEAD) == 2
    for group in (jobs[:3], jobs[3:]):  # the unreadable and the energy-VAD lines are not in a group's batch
        key = tuple((j["audio"], bake._stat(j["audio"])) for j in group)
        expected = window_probabilities(model, [load_audio(j["audio"]) for j in group])
        assert all(np.array_equal(a, b) for a, b in zip(bake.VAD_AHEAD[key], expected, strict=True))
    bake.VAD_AHEAD.clear()
