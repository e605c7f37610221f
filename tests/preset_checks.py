"""What every preset's tests share: speech-like audio, teacher-like batches where the emotion matters,
and the streaming-equals-offline check through the bridge's model wrapper."""

import numpy as np
import torch

from bridge.model import ModelOutput
from retarget.spaces import get_space
from training.dataset import SILENCE_MEL
from training.emotions import EMOTIONS, emotion_overlays
from training.models.frontend import LogMel, normalise_mel

ARKIT = get_space("arkit")
SILENCE = SILENCE_MEL  # the normalised log-mel of silence (training/dataset.py)


def tiny_deitalk(space="arkit", **kw):
    """A DEITalk config small enough for tests (seconds on a CPU)."""
    from training.models import DEITalkConfig

    base = dict(
        space=space,
        d_speech=32,
        d_emo=16,
        motion_channels=(16, 16, 16, 16),
        classifier_hidden=8,
        d_style=8,
        tcn_channels=32,
        saliency_window=8,
        lookahead=3,
    )
    return DEITalkConfig(**(base | kw))


def onehot(label: str) -> np.ndarray:
    v = np.zeros(len(EMOTIONS), np.float32)
    v[EMOTIONS.index(label)] = 1
    return v


def speechlike(seconds, seed=0):
    """Bursts of pitched, noisy sound with pauses: loud and quiet stretches, like syllables."""
    rng = np.random.default_rng(seed)
    n = int(seconds * 16000)
    t = np.arange(n) / 16000
    env = np.clip(np.sin(2 * np.pi * rng.uniform(2, 4) * t) * 1.5, 0, 1)
    x = env * (0.3 * np.sin(2 * np.pi * 140 * t) + 0.05 * rng.standard_normal(n))
    return x.astype(np.float32)


def pitched_speech(seconds, seed=0, f0=140.0):
    """Bursts of pitched, noisy sound with pauses (the rhythm is the 'sentence'; f0 the voice)."""
    rng = np.random.default_rng(seed)
    n = int(seconds * 16000)
    t = np.arange(n) / 16000
    env = np.clip(np.sin(2 * np.pi * rng.uniform(2, 4) * t + rng.uniform(0, 6)) * 1.5, 0, 1)
    x = env * (0.3 * np.sin(2 * np.pi * f0 * t) + 0.05 * rng.standard_normal(n))
    return x.astype(np.float32)


TRAIN_EMOTIONS = ("neutral", "happy", "sad", "angry")
VOICE = {"neutral": 120.0, "happy": 260.0, "sad": 85.0, "angry": 180.0}  # each emotion's pitch


def emotional_clip(sentence: int, emotion: str, k: float, seconds: float):
    """Speech whose pitch carries the emotion and whose rhythm carries the sentence; the target's jaw
    follows loudness (content) and the teacher's FACS overlay for the emotion, scaled by k."""
    x = pitched_speech(seconds, seed=sentence, f0=VOICE[emotion])
    mel = LogMel().frames(torch.from_numpy(x)[None])[0]
    level = np.clip((mel.exp().sum(1).log().numpy() + 5) / 15, 0, 1)
    y = np.zeros((len(mel), len(ARKIT)), np.float32)
    y[:, ARKIT.index("jawOpen")] = 0.6 * level
    y = np.clip(y + k * emotion_overlays()[EMOTIONS.index(emotion)], 0, 1)
    return normalise_mel(mel), torch.from_numpy(y)


def teacher_batch(n, seconds=0.6, seed=0):
    """Audio and targets where emotion matters: jaw follows loudness, plus the teacher's FACS overlay
    (training/data/emotion_overlays.tsv, as training/teacher.py uses) scaled by the intensity.
    Only 4 distinct clips, each with several labels, so the net cannot read the label off the audio."""
    rng = np.random.default_rng(seed)
    overlays = emotion_overlays()
    lm = LogMel()
    audio, targets, emotions, intens = [], [], [], []
    for i in range(n):
        x = speechlike(seconds, seed + i // len(EMOTIONS))
        mel = lm.frames(torch.from_numpy(x)[None])[0]
        level = np.clip((mel.exp().sum(1).log().numpy() + 5) / 15, 0, 1)
        e = i % len(EMOTIONS)  # every emotion on every clip
        k = rng.uniform(0, 1)
        y = np.zeros((len(mel), len(ARKIT)), np.float32)
        y[:, ARKIT.index("jawOpen")] = 0.6 * level
        y = np.clip(y + k * overlays[e], 0, 1)
        audio.append(normalise_mel(mel))
        targets.append(torch.from_numpy(y))
        emotions.append(torch.from_numpy(onehot(EMOTIONS[e])))
        intens.append(k)
    return torch.stack(audio), torch.stack(targets), torch.stack(emotions), torch.tensor(intens, dtype=torch.float32)


def stream_in_random_blocks(model, audio, controls, seed=7, block=None):
    """Feed `audio` through model.step in random block sizes (1 to 2500 samples; or all `block`
    samples, e.g. 160 = the 10 ms blocks of a live stream), then flush."""
    rng = np.random.default_rng(seed)
    state, parts, i = model.new_state(), [], 0
    while i < len(audio):
        n = block or int(rng.integers(1, 2500))
        parts.append(model.step(state, audio[i : i + n], controls))
        i += n
    parts.append(model.flush(state, controls))
    return ModelOutput.concat(parts), state


def assert_streaming_equals_offline(model, audio, controls, atol=1e-5):
    """-> (offline, stream) after checking they agree frame for frame, with bounded history."""
    offline = model.offline(audio, controls)
    assert len(offline) == (len(audio) - 1) // 160 + 1
    for block in (None, 160):  # random blocks, then the live 10 ms blocks (one mel row at a start)
        stream, state = stream_in_random_blocks(model, audio, controls, block=block)
        np.testing.assert_allclose(stream.times, offline.times)
        np.testing.assert_allclose(stream.frames, offline.frames, atol=atol)
        np.testing.assert_allclose(stream.emotion_probs, offline.emotion_probs, atol=atol)
        assert len(state.mel) <= model.context  # bounded memory
    return offline, stream


def assert_causal_up_to_lookahead(net, silence_mel: float, exact: bool = False):
    """Changing the audio from frame 40 on leaves every output frame before 40 - lookahead alone
    and changes frame 40 - lookahead."""
    torch.manual_seed(0)
    net = net.eval()
    mel = torch.randn(1, 60, 80)
    changed = mel.clone()
    changed[:, 40:] += 1.0
    with torch.no_grad():
        a = net.predict(mel, torch.eye(8)[:1], torch.ones(1), silence_mel)["rig"]
        b = net.predict(changed, torch.eye(8)[:1], torch.ones(1), silence_mel)["rig"]
    la = net.cfg.lookahead
    same = torch.equal if exact else torch.allclose
    assert same(a[:, : 40 - la], b[:, : 40 - la])
    assert not torch.allclose(a[:, 40 - la], b[:, 40 - la])


def assert_controls_move_the_face(model, happy_curves=None):
    """On a trained model: more intensity -> more of the happy overlay's curves (or `happy_curves`),
    another label -> another upper face, and sad raises the inner brows more than happy where the
    teacher's overlays say so."""
    from bridge.model import Controls

    audio = speechlike(1.0, seed=99)
    overlays = emotion_overlays()
    if happy_curves is None:
        happy_curves = overlays[EMOTIONS.index("happy")] > 0
    strong = model.offline(audio, Controls(emotion=onehot("happy"), intensity=1.0)).frames
    weak = model.offline(audio, Controls(emotion=onehot("happy"), intensity=0.1)).frames
    assert strong[:, happy_curves].mean() > weak[:, happy_curves].mean() + 0.05
    upper = ARKIT.region_mask("brows", "eyes")
    sad = model.offline(audio, Controls(emotion=onehot("sad"), intensity=1.0)).frames
    assert np.abs(sad[:, upper] - strong[:, upper]).mean() > 0.02
    brow = ARKIT.index("browInnerUp")
    if overlays[EMOTIONS.index("sad"), brow] > overlays[EMOTIONS.index("happy"), brow] + 0.1:
        assert sad[:, brow].mean() > strong[:, brow].mean()
