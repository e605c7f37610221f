"""`emorig train`: real files in, a usable checkpoint out; validation, resuming, determinism, bad input.

The corpus here is tiny and made on the spot (pitched bursts as speech, the jaw following the loudness,
an emotion overlay from training/data/emotion_overlays.tsv), and the network is a tiny DEITalk."""

import json

import numpy as np
import pytest
import soundfile as sf
from conftest import run_emorig

torch = pytest.importorskip("torch")

from retarget.spaces import get_space  # noqa: E402
from retarget.takes import Take, write_take  # noqa: E402
from training.emotions import EMOTIONS, emotion_overlays  # noqa: E402
from training.manifest import ManifestEntry, write_manifest  # noqa: E402

TINY = [
    "--set",
    "d_speech=16",
    "--set",
    "d_emo=8",
    "--set",
    "motion_channels=[8,8,8,8]",
    "--set",
    "classifier_hidden=8",
    "--set",
    "d_style=4",
    "--set",
    "tcn_channels=16",
    "--set",
    "saliency_window=8",
]


def make_corpus(folder, speakers=("a", "b", "c"), sentences=2):
    """Clips of every speaker saying each 'sentence' in two emotions; speaker c is validation."""
    rng = np.random.default_rng(0)
    arkit = get_space("arkit")
    overlays = emotion_overlays()
    entries = []
    for s_i, speaker in enumerate(speakers):
        for k in range(sentences):
            for emotion in ("neutral", "happy"):
                n = 16000
                t = np.arange(n) / 16000
                env = np.clip(np.sin(2 * np.pi * (2 + k) * t) * 1.5, 0, 1)
                x = env * (0.3 * np.sin(2 * np.pi * (120 + 30 * s_i) * t) + 0.05 * rng.standard_normal(n))
                clip = f"{speaker}-{k}-{emotion}"
                sf.write(folder / f"{clip}.wav", x.astype(np.float32), 16000)
                env60 = np.clip(np.sin(2 * np.pi * (2 + k) * np.arange(60) / 60) * 1.5, 0, 1)
                frames = np.zeros((60, len(arkit)), np.float32)
                frames[:, arkit.index("jawOpen")] = 0.6 * env60
                intensity = 0.0 if emotion == "neutral" else 1.0
                frames = np.clip(frames + intensity * overlays[EMOTIONS.index(emotion)], 0, 1)
                write_take(Take(arkit, 60.0, frames), folder / f"{clip}.npz")
                entries.append(
                    ManifestEntry(
                        clip_id=clip,
                        audio=folder / f"{clip}.wav",
                        motion=folder / f"{clip}.npz",
                        space="arkit",
                        fps=60.0,
                        speaker=speaker,
                        emotion=emotion,
                        intensity=intensity,
                        text=f"sentence {k}",
                        language="en",
                        split="val" if speaker == "c" else "train",
                    )
                )
    write_manifest(entries, folder / "manifest.jsonl")
    return folder / "manifest.jsonl"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return make_corpus(tmp_path_factory.mktemp("corpus"))


def train(corpus, out, *extra):
    cache = out.parent / "cache"
    args = ["train", "--preset", "deitalk", "--data", corpus, "-o", out, "--batch", "4", "--window", "40"]
    return run_emorig(*args, "--val-every", "5", "--cache", cache, "--threads", "1", *TINY, *extra)


def test_train_writes_a_checkpoint_that_animates(corpus, tmp_path):
    out = tmp_path / "run"
    result = train(corpus, out, "--steps", "12", "--lr", "3e-3")
    assert result.returncode == 0, result.stderr
    for name in ("config.json", "model.safetensors", "log.jsonl", "curves.png", "last/optimizer.safetensors"):
        assert (out / name).is_file(), name
    rows = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if r["kind"] == "val"] == [5, 10, 12]  # validated on speaker c
    assert all(np.isfinite(r["rig_mse"]) and r["lip_mse"] >= 0 for r in rows if r["kind"] == "val")
    doc = json.loads((out / "config.json").read_text())
    assert doc["preset"] == "deitalk" and doc["config"]["tcn_channels"] == 16
    assert doc["training"]["train_clips"] == 8 and doc["training"]["val"]["rig_mse"] > 0
    take = tmp_path / "take.csv"
    wav = corpus.parent / "a-0-happy.wav"
    result = run_emorig("animate", wav, "-o", take, "--model", out, "--emotion", "happy", "--quiet")
    assert result.returncode == 0, result.stderr
    assert take.stat().st_size > 0


def test_resume_continues_exactly_where_it_stopped(corpus, tmp_path):
    from safetensors.torch import load_file

    whole, split = tmp_path / "whole", tmp_path / "split"
    assert train(corpus, whole, "--steps", "10").returncode == 0
    assert train(corpus, split, "--steps", "5").returncode == 0
    again = train(corpus, split, "--steps", "10", "--resume")
    assert again.returncode == 0, again.stderr
    a = load_file(str(whole / "last" / "model.safetensors"))
    b = load_file(str(split / "last" / "model.safetensors"))
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=1e-6)


def test_ema_keeps_an_average_of_the_weights_and_resumes_it_exactly(corpus, tmp_path):
    from safetensors.torch import load_file

    whole, split = tmp_path / "whole", tmp_path / "split"
    assert train(corpus, whole, "--steps", "10", "--lr", "3e-3", "--ema", "0.8").returncode == 0
    assert train(corpus, split, "--steps", "5", "--lr", "3e-3", "--ema", "0.8").returncode == 0
    again = train(corpus, split, "--steps", "10", "--lr", "3e-3", "--ema", "0.8", "--resume")
    assert again.returncode == 0, again.stderr
    a, b = load_file(str(whole / "last" / "ema.safetensors")), load_file(str(split / "last" / "ema.safetensors"))
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=1e-6)
    # The average trails the trained weights, and the checkpoint one animates with is an average.
    trained = load_file(str(whole / "last" / "model.safetensors"))
    shipped = load_file(str(whole / "model.safetensors"))
    for key in trained:
        assert not torch.allclose(shipped[key], trained[key]) or torch.allclose(trained[key], a[f"module.{key}"])
    assert any(not torch.allclose(trained[k], a[f"module.{k}"]) for k in trained)
    assert json.loads((whole / "config.json").read_text())["training"]["ema"] == 0.8
    # --keep last: the checkpoint is the average at the last step, whatever validation said.
    kept = tmp_path / "kept"
    assert train(corpus, kept, "--steps", "10", "--lr", "3e-3", "--ema", "0.8", "--keep", "last").returncode == 0
    average = load_file(str(kept / "last" / "ema.safetensors"))
    assert json.loads((kept / "config.json").read_text())["training"]["keep"] == "last"
    for k, v in load_file(str(kept / "model.safetensors")).items():
        torch.testing.assert_close(v, average[f"module.{k}"], rtol=0, atol=0)
    refused = train(corpus, tmp_path / "bad", "--steps", "1", "--ema", "1.5")
    assert refused.returncode == 2 and "--ema" in refused.stderr


def test_init_fine_tunes_from_a_checkpoint_and_adds_the_closure_head(corpus, tmp_path):
    from safetensors.torch import load_file

    base, tuned = tmp_path / "base", tmp_path / "tuned"
    assert train(corpus, base, "--steps", "5").returncode == 0
    # A vanishing learning rate: what comes out is what went in, plus the new head.
    result = train(corpus, tuned, "--steps", "2", "--lr", "1e-12", "--init", base, "--set", "closure_head=true")
    assert result.returncode == 0, result.stderr
    a = load_file(str(base / "last" / "model.safetensors"))
    b = load_file(str(tuned / "last" / "model.safetensors"))
    assert {"closure_logit.weight", "sealed_head.weight"} <= set(b) - set(a)
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=1e-6)
    assert json.loads((tuned / "config.json").read_text())["config"]["closure_head"] is True
    # Another width would not fit the weights: refused, naming the checkpoint.
    refused = train(corpus, tmp_path / "wider", "--steps", "1", "--init", base, "--set", "tcn_channels=32")
    assert refused.returncode == 2 and "do not fit" in refused.stderr and str(base) in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    other_rig = train(corpus, tmp_path / "mh", "--steps", "1", "--init", base, "--rig", "metahuman")
    assert other_rig.returncode == 2 and "outputs arkit, not metahuman" in other_rig.stderr
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    (damaged / "config.json").write_text((base / "config.json").read_text())
    (damaged / "model.safetensors").write_bytes(b"not weights")
    broken = train(corpus, tmp_path / "from-damaged", "--steps", "1", "--init", damaged)
    assert broken.returncode == 2 and "not a safetensors file" in broken.stderr
    assert len(broken.stderr.strip().splitlines()) == 1 and not (tmp_path / "from-damaged").exists()


def test_training_lowers_the_validation_error(corpus, tmp_path):
    out = tmp_path / "run"
    assert train(corpus, out, "--steps", "60", "--lr", "3e-3").returncode == 0
    val = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    val = [r["rig_mse"] for r in val if r["kind"] == "val"]
    assert val[-1] < 0.5 * val[0]


def test_bad_training_input_is_one_line_and_exit_2(corpus, tmp_path):
    cases = [
        (["--data", tmp_path / "none.jsonl", "--steps", "2"], "none.jsonl"),
        (["--data", corpus, "--steps", "2", "--set", "nonsense=1"], "no config field"),
        (["--data", corpus, "--steps", "2", "--resume"], "nothing to resume"),
        (["--data", corpus, "--steps", "2", "--rig", "nope"], "nope"),
    ]
    for args, message in cases:
        out = tmp_path / f"run{len(message)}"
        result = run_emorig("train", "--preset", "deitalk", "-o", out, "--cache", tmp_path / "c", *args)
        assert result.returncode == 2, (args, result.stderr)
        errors = [line for line in result.stderr.splitlines() if "error" in line]  # progress bars aside
        assert len(errors) == 1 and message in errors[0] and result.stderr.strip().endswith(errors[0])
        assert not (out / "model.safetensors").exists()
    used = tmp_path / "used"
    assert train(corpus, used, "--steps", "2").returncode == 0
    result = train(corpus, used, "--steps", "2")
    assert result.returncode == 2 and "--resume" in result.stderr


def test_torchrun_trains_with_two_processes(corpus, tmp_path):
    """DistributedDataParallel over gloo on the CPU: the same code path several GPUs take."""
    import subprocess
    import sys

    from conftest import ROOT

    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29533"]
    args = ["-m", "training.train", "--preset", "deitalk", "--data", str(corpus), "-o", str(out), "--steps", "4"]
    args += ["--batch", "2", "--window", "40", "--val-every", "2", "--cache", str(tmp_path / "cache"), "--threads", "1"]
    result = subprocess.run(cmd + args + [str(a) for a in TINY], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    doc = json.loads((out / "config.json").read_text())
    assert doc["training"]["batch"] == 4  # 2 windows per process, 2 processes
    rows = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if r["kind"] == "val"] == [2, 4]  # rank 0 alone writes
