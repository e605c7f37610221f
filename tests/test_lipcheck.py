"""Lip sync as shipped (training/lipcheck.py, `emorig eval --shipped`): the checks on frames whose
answers are known, and the command end to end on the bundled example."""

import json
from pathlib import Path

import numpy as np
import pytest

from retarget.spaces import get_space
from training.lipcheck import Tally, cross_correlation, peak_lag, rms_envelope, score_clip

ARKIT = get_space("arkit")
FPS = 60.0
SR = 16000
EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "speech.wav"

# 0-0.5 s pause, "M AA" 0.5-0.8, "P UW" 0.8-1.1, 1.1-1.6 s pause
PHONES = [(0.0, 0.5, "SIL"), (0.5, 0.6, "M"), (0.6, 0.8, "AA"), (0.8, 0.9, "P"), (0.9, 1.1, "UW"), (1.1, 1.6, "SIL")]


def frames_for(phones, n, good=True):
    """ARKit frames that do (good) or do not (mumbled) what each phone asks."""
    x = np.zeros((n, len(ARKIT)))
    t = np.arange(n) / FPS
    jaw, close, pucker = ARKIT.index("jawOpen"), ARKIT.index("mouthClose"), ARKIT.index("mouthPucker")
    x[:, jaw] = 0.02 if good else 0.2
    for start, end, phone in phones:
        idx = (t >= start) & (t <= end)
        if phone == "AA":
            x[idx, jaw] = 0.5 if good else 0.2
        elif phone == "UW":
            x[idx, pucker] = 0.6 if good else 0.1
            x[idx, jaw] = 0.1
        elif phone in ("M", "P") and good:
            x[idx, jaw], x[idx, close] = 0.2, 0.2  # sealed by mouthClose, jaw a little open
        elif phone == "T":
            x[idx, jaw] = 0.15  # the tongue closes; the lips stay a little apart
    return x, t


def test_a_face_that_does_what_the_phones_ask_passes_and_a_mumble_fails():
    n = int(1.6 * FPS)
    audio = np.zeros(int(1.6 * SR), np.float32)
    good = score_clip(*frames_for(PHONES, n), PHONES, audio, SR, FPS).rates(FPS)
    bad = score_clip(*frames_for(PHONES, n, good=False), PHONES, audio, SR, FPS).rates(FPS)
    for key in ("closure", "closure_m", "open", "rounding", "quiet"):
        assert good[key] == 1.0, key
        assert bad[key] == 0.0, key
    assert good["n_closure"] == 2 and good["n_closure_m"] == 1
    assert good["sealed_vowel"] == 0.0 and good["n_sealed_vowel"] == 2  # AA and UW stay open
    # the pause before the words is checked up to 100 ms before them, the one after from 150 ms after
    t = np.arange(n) / FPS
    assert good["n_quiet"] == np.count_nonzero(t <= 0.4) + np.count_nonzero(t >= 1.25)


def test_lips_that_seal_through_every_phone_are_counted_as_false_closures():
    n = int(1.6 * FPS)
    x, t = frames_for(PHONES, n)
    x[:, ARKIT.index("jawOpen")] = 0.0  # a face shut all the way through: every closure "passes"
    rates = score_clip(x, t, PHONES, np.zeros(int(1.6 * SR), np.float32), SR, FPS).rates(FPS)
    assert rates["closure"] == 1.0 and rates["sealed_vowel"] == 1.0


def test_lips_sealed_on_a_tongue_stop_in_speech_count_as_false_closures_after_a_pause_or_p_not():
    phones = [(0.0, 0.2, "SIL"), (0.2, 0.3, "T"), (0.3, 0.5, "AA"), (0.5, 0.6, "T"), (0.6, 0.8, "AA"), (0.8, 0.9, "P")]
    phones += [(0.9, 1.0, "T"), (1.0, 1.2, "AA"), (1.2, 1.6, "SIL")]
    n, audio = int(1.6 * FPS), np.zeros(int(1.6 * SR), np.float32)
    x, t = frames_for(phones, n)
    good = score_clip(x, t, phones, audio, SR, FPS).rates(FPS)
    # Only the middle T is asked: the first follows a pause (the face is at rest), the last a P.
    assert good["sealed_stop"] == 0.0 and good["n_sealed_stop"] == 1
    x[(t >= 0.2) & (t <= 0.3), ARKIT.index("jawOpen")] = 0.0  # at rest through the first T: not a fault
    assert score_clip(x, t, phones, audio, SR, FPS).rates(FPS)["sealed_stop"] == 0.0
    x[(t >= 0.5) & (t <= 0.6), ARKIT.index("jawOpen")] = 0.0  # lips shut on the first T
    assert score_clip(x, t, phones, audio, SR, FPS).rates(FPS)["sealed_stop"] == 1.0


def test_the_lag_is_how_far_the_jaw_trails_the_voice():
    rng = np.random.default_rng(0)
    sr, n = SR, int(4 * FPS)
    times = np.arange(n) / FPS
    # bursts of noise: the envelope has clear onsets
    gate = (np.sin(2 * np.pi * 2.3 * np.arange(4 * sr) / sr) > 0.3).astype(np.float32)
    audio = (rng.standard_normal(4 * sr) * 0.1 * gate).astype(np.float32)
    env = rms_envelope(audio, sr, times)
    for delay in (0, 3, -2):  # frames
        jaw = np.roll(env, delay)
        lag_ms = 1000 * peak_lag(cross_correlation(jaw, env, 12)) / FPS
        assert abs(lag_ms - 1000 * delay / FPS) < 5, (delay, lag_ms)


def test_tallies_pool_by_adding_counts():
    a, b = Tally(), Tally()
    a.add("closure", [True, False])
    b.add("closure", [True, True])
    a.merge(b)
    assert a.rates(FPS)["closure"] == 0.75 and a.rates(FPS)["n_closure"] == 4


def test_eval_shipped_on_the_example_writes_a_report_per_language(tmp_path):
    pytest.importorskip("torch")
    from bridge.cli import main

    out = tmp_path / "report"
    assert main(["eval", "--shipped", "--data", str(EXAMPLE), "--language", "en", "-o", str(out)]) == 0
    doc = json.loads((out / "metrics.json").read_text())
    assert set(doc["results"]) == {"en", "all"}
    en = doc["results"]["en"]
    assert en["n_open"] > 0 and en["n_closure"] > 0 and en["lag_ms"] is not None
    assert "emorig animate AUDIO -o take.csv --model default" in doc["animate"]
    assert (out / "lag.png").read_bytes()[:4] == b"\x89PNG"
    assert "Rhubarb" in (out / "report.md").read_text()


def test_eval_shipped_needs_the_phone_timings(tmp_path, capsys):
    from bridge.cli import main

    lone = tmp_path / "speech.wav"
    lone.write_bytes(EXAMPLE.read_bytes())
    assert main(["eval", "--shipped", "--data", str(lone), "-o", str(tmp_path / "r")]) == 2
    assert "speech.phones.tsv" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()
