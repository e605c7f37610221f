"""The model contract, the reference model, post-processing stages, the frame clock and controls."""

import numpy as np
import pytest

from bridge.clock import FrameClock
from bridge.controls import ControlState, EmotionBlender
from bridge.model import Controls, ModelOutput
from bridge.postprocess import Blinker, OneEuroFilter, PostProcessor, PostSettings, SilenceGate
from bridge.reference_model import ReferenceModel
from retarget.spaces import get_space
from training.emotions import EMOTIONS

SR = 16000
ARKIT = get_space("arkit")


def speechlike(seconds=3.0, seed=0):
    """Voiced syllables (a 130 Hz harmonic source shaped by vowel-like formants) with pauses."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(SR * seconds)) / SR
    source = sum(np.sin(2 * np.pi * 130 * k * t) / k for k in range(1, 20))
    envelope = (np.sin(2 * np.pi * 2.5 * t) > 0.2) * (t % 1.5 < 1.1)
    return (0.15 * source * envelope + 0.002 * rng.normal(size=len(t))).astype(np.float32)


def one_hot(label):
    v = np.zeros(len(EMOTIONS), np.float32)
    v[EMOTIONS.index(label)] = 1
    return v


def test_streaming_equals_offline_for_any_block_sizes():
    model, audio = ReferenceModel(), speechlike()
    controls = Controls(auto=True)
    offline = model.offline(audio, controls)
    rng = np.random.default_rng(1)
    state, parts, i = model.new_state(), [], 0
    while i < len(audio):
        n = int(rng.integers(1, 2000))
        parts.append(model.step(state, audio[i : i + n], controls))
        i += n
    parts.append(model.flush(state, controls))
    streamed = ModelOutput.concat(parts)
    np.testing.assert_allclose(streamed.times, offline.times)
    np.testing.assert_allclose(streamed.frames, offline.frames, atol=1e-6)
    np.testing.assert_allclose(streamed.emotion_probs, offline.emotion_probs, atol=1e-6)
    assert len(offline) == len(audio) // 160 + (len(audio) % 160 > 0)


def test_frames_wait_only_for_the_lookahead():
    model = ReferenceModel(smooth_frames=3)
    state = model.new_state()
    out = model.step(state, np.zeros(SR, np.float32), Controls())
    # After one second, every frame up to 1 s minus the lookahead is out, none later.
    assert out.times[-1] <= 1.0 - model.lookahead + 1e-9
    assert out.times[-1] >= 1.0 - model.lookahead - 0.01


def test_jaw_follows_speech_and_rests_in_silence():
    model, audio = ReferenceModel(), speechlike()
    out = model.offline(audio, Controls())
    jaw = out.frames[:, ARKIT.index("jawOpen")]
    loud = np.abs(audio[: len(jaw) * 160].reshape(len(jaw), 160)).max(1) > 0.05
    assert jaw[loud].mean() > 0.2
    assert jaw[~loud].mean() < 0.05
    assert np.isfinite(out.frames).all() and out.frames.min() >= 0 and out.frames.max() <= 1


def test_emotion_controls_move_the_face_and_more_intensity_moves_it_more():
    model, audio = ReferenceModel(), speechlike()
    brow, smile = ARKIT.index("browInnerUp"), ARKIT.index("mouthSmileLeft")
    neutral = model.offline(audio, Controls(one_hot("neutral"), 0.8))
    happy = model.offline(audio, Controls(one_hot("happy"), 0.8))
    sad_low = model.offline(audio, Controls(one_hot("sad"), 0.3))
    sad_high = model.offline(audio, Controls(one_hot("sad"), 1.0))
    assert happy.frames[:, smile].mean() > neutral.frames[:, smile].mean() + 0.3
    assert sad_high.frames[:, brow].mean() > sad_low.frames[:, brow].mean() + 0.2
    assert (happy.emotion_probs.argmax(1) == EMOTIONS.index("happy")).all()


def test_auto_emotion_gives_probabilities():
    out = ReferenceModel().offline(speechlike(), Controls(auto=True))
    np.testing.assert_allclose(out.emotion_probs.sum(1), 1, atol=1e-5)


def test_frame_clock_interpolates_at_the_output_rate_whatever_the_blocks():
    times = np.arange(0, 200) / 100
    values = np.stack([times, np.sin(times)], 1)
    clock = FrameClock(60)
    outs = [clock(times[a:b], values[a:b]) for a, b in ((0, 1), (1, 57), (57, 58), (58, 200))]
    numbers = np.concatenate([o[0] for o in outs])
    vals = np.concatenate([o[2] for o in outs])
    np.testing.assert_array_equal(numbers, np.arange(len(numbers)))
    assert numbers[-1] == int(1.99 * 60)
    np.testing.assert_allclose(vals[:, 0], numbers / 60, atol=1e-9)  # linear curves come out exact
    np.testing.assert_allclose(vals[:, 1], np.sin(numbers / 60), atol=1e-4)


def test_one_euro_smooths_jitter_but_follows_a_jump_quickly():
    rng = np.random.default_rng(0)
    steady = 0.5 + 0.02 * rng.normal(size=(200, 1))
    out = OneEuroFilter(100)(steady)
    assert out[50:].std() < 0.5 * steady[50:].std()
    jump = np.concatenate([np.zeros((50, 1)), np.ones((50, 1))])
    out = OneEuroFilter(100)(jump)
    assert out[50 + 5, 0] > 0.6  # within 50 ms most of the way there


def test_a_model_that_smooths_its_own_mouth_keeps_it_unfiltered_and_on_time():
    rng = np.random.default_rng(0)
    frames = np.clip(0.4 + 0.05 * rng.normal(size=(200, 52)), 0, 1).astype(np.float32)
    speech = np.ones(200)
    settings = PostSettings(blinks=False, saccades=False, head=False, silence=False)
    plain, _ = PostProcessor(ARKIT, 100, settings)(frames, None, speech, speech)
    own, _ = PostProcessor(ARKIT, 100, settings, mouth_smoothed=True)(frames, None, speech, speech)
    mouth = ARKIT.region_mask("jaw", "mouth", "tongue")
    np.testing.assert_array_equal(own[:, mouth], frames[:, mouth])  # no causal filter: no lag
    assert np.abs(np.diff(plain[:, mouth], axis=0)).mean() < 0.5 * np.abs(np.diff(frames[:, mouth], axis=0)).mean()
    np.testing.assert_allclose(own[:, ~mouth], plain[:, ~mouth])  # brows, cheeks, eyes: smoothed as before


def test_silence_gate_relaxes_the_mouth_but_keeps_the_emotion():
    mask = ARKIT.region_mask("jaw", "mouth", "tongue")
    frames = np.full((100, 52), 0.5, np.float32)
    rest = np.zeros((100, 52), np.float32)
    rest[:, ARKIT.index("mouthSmileLeft")] = 0.4
    out = SilenceGate(100, mask)(frames, rest, np.zeros(100))
    assert out[-1, ARKIT.index("jawOpen")] < 0.01
    assert out[-1, ARKIT.index("mouthSmileLeft")] == pytest.approx(0.4, abs=0.01)
    assert out[-1, ARKIT.index("browInnerUp")] == 0.5  # not a mouth curve: untouched


def test_blinks_close_both_lids_every_few_seconds():
    blinker = Blinker(100, ARKIT.index("eyeBlinkLeft"), ARKIT.index("eyeBlinkRight"), np.random.default_rng(0))
    out = blinker(np.zeros((3000, 52)), np.zeros(3000))
    closed = out[:, ARKIT.index("eyeBlinkLeft")] > 0.99
    starts = np.flatnonzero(np.diff(closed.astype(int)) == 1)
    assert 4 <= len(starts) <= 16  # 30 s at one blink per 2-6 s
    np.testing.assert_array_equal(out[:, ARKIT.index("eyeBlinkLeft")], out[:, ARKIT.index("eyeBlinkRight")])


def test_every_procedural_stage_can_be_switched_off():
    frames = np.full((500, 52), 0.2, np.float32)
    post = PostProcessor(
        ARKIT, 100, PostSettings(smoothing=False, blinks=False, saccades=False, head=False, silence=False)
    )
    out, head = post(frames, None, np.zeros(500), np.zeros(500))
    np.testing.assert_array_equal(out, frames)
    assert not head.any()


def test_controls_validate_and_blend():
    state = ControlState()
    state.update(emotion="Happiness", intensity=1.5)
    assert state.snapshot().emotion == "happy"
    for bad in ({"emotion": "smug"}, {"intensity": 3.0}, {"intensity": float("nan")}, {"mute": "yes"}, {"volume": 1}):
        with pytest.raises(ValueError):
            state.update(**bad)
    assert state.snapshot().intensity == 1.5  # a rejected update changes nothing
    blender = EmotionBlender()
    w = blender.advance("sad", transition=0.5, seconds=0.5)
    assert w[EMOTIONS.index("sad")] == pytest.approx(0.95, abs=0.01)
