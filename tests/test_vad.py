"""Voice activity detection: speech-like bursts in noise, streaming equals whole, choosing a detector."""

import logging

import numpy as np
import pytest

from bridge import vad
from bridge.vad import EnergyVad, EnergyVadConfig, SileroVad, VadFrames, make_vad
from retarget.errors import InputError

SR = 16000


def speechlike(seconds):
    """A voiced sound: harmonics of a gliding 140 Hz pitch, in 4 Hz syllables that dip to 10 %."""
    t = np.arange(int(seconds * SR)) / SR
    f0 = 140 * (1 + 0.1 * np.sin(2 * np.pi * 0.7 * t))
    phase = 2 * np.pi * np.cumsum(f0) / SR
    voiced = sum(np.sin(k * phase) / k for k in range(1, 20))
    syllables = 0.55 + 0.45 * np.sin(2 * np.pi * 4 * t - np.pi / 2)
    fade = np.minimum(1, np.minimum(t, seconds - t) / 0.02)
    return voiced * syllables * fade


# (kind, seconds): two utterances; the second has a 120 ms gap a hangover must bridge
LAYOUT = [
    ("pause", 0.6),
    ("speech", 1.0),
    ("pause", 0.8),
    ("speech", 0.7),
    ("gap", 0.12),
    ("speech", 0.6),
    ("pause", 1.0),
]


def scene(seed=0, speech_db=-18.0, noise_db=-40.0):
    """The layout as audio, speech at speech_db RMS over white noise at noise_db (dBFS)."""
    rng = np.random.default_rng(seed)
    parts = [speechlike(d) if kind == "speech" else np.zeros(int(d * SR)) for kind, d in LAYOUT]
    x = np.concatenate(parts)
    x *= 10 ** (speech_db / 20) / np.sqrt(np.mean(x[x != 0] ** 2))
    x += rng.standard_normal(len(x)) * 10 ** (noise_db / 20)
    spans, t = [], 0.0
    for kind, d in LAYOUT:
        spans.append((kind, int(round(t * 100)), int(round((t + d) * 100))))
        t += d
    return x.astype(np.float32), spans


def run(detector, x, block=None):
    if block is None:
        parts = [detector.process(x)]
    else:
        parts = [detector.process(x[i : i + block]) for i in range(0, len(x), block)]
    return VadFrames.concat([*parts, detector.flush()])


def test_energy_flags_bursts_not_pauses():
    x, spans = scene()
    frames = run(EnergyVad(), x)
    assert len(frames) == len(x) // 160 and frames.start_frame == 0
    hangover = 25  # 0.25 s
    for kind, a, b in spans:
        if kind == "speech":
            # all of it, after an onset of a few frames (the fade-in and the 20 ms onset count)
            assert frames.speech[a + 5 : b].all(), (kind, a, b)
        elif kind == "pause":
            # silent from the end of the hangover on
            assert not frames.speech[a + hangover + 1 : b].any(), (kind, a, b)
            assert (frames.prob[a + hangover + 1 : b] < 0.1).all()
    # the short gap is kept inside the utterance: exactly two speech runs
    segments = frames.segments()
    assert len(segments) == 2
    (s1, e1), (s2, e2) = segments
    assert 60 <= s1 <= 65 and 160 + hangover - 1 <= e1 <= 160 + hangover + 1
    assert 240 <= s2 <= 245 and 382 + hangover - 1 <= e2 <= 382 + hangover + 1


def test_energy_hangover_is_what_bridges_the_gap():
    x, _ = scene()
    frames = run(EnergyVad(EnergyVadConfig(hangover_s=0.0)), x)
    assert len(frames.segments()) > 2  # without hangover, syllable dips and the gap split the speech


def test_energy_ignores_steady_noise_and_learns_a_louder_room():
    rng = np.random.default_rng(3)
    quiet = rng.standard_normal(SR) * 10 ** (-60 / 20)
    loud = rng.standard_normal(4 * SR) * 10 ** (-35 / 20)  # the fan goes on
    frames = run(EnergyVad(), np.concatenate([quiet, loud]).astype(np.float32))
    # the 25 dB step looks like speech at first, but the floor learns it within its 2 s window
    assert not frames.speech[:100].any()
    assert not frames.speech[100 + 200 + 26 :].any()


def test_energy_digital_silence_and_very_quiet_input_are_not_speech():
    x = np.zeros(2 * SR, np.float32)
    x[SR:] = np.random.default_rng(0).standard_normal(SR) * 10 ** (-75 / 20)  # dither after silence
    assert not run(EnergyVad(), x).speech.any()


@pytest.mark.parametrize("block", [1, 37, 160, 512, 1000, 4801])
def test_energy_streaming_equals_whole(block):
    x, _ = scene(seed=1)
    whole = run(EnergyVad(), x)
    streamed = run(EnergyVad(), x, block)
    np.testing.assert_array_equal(streamed.prob, whole.prob)
    np.testing.assert_array_equal(streamed.speech, whole.speech)


def test_frames_are_numbered_on_the_audio_clock():
    detector = EnergyVad()
    first = detector.process(np.zeros(250, np.float32))  # one frame and 90 samples
    second = detector.process(np.zeros(230, np.float32))  # completes frames 1 and 2
    assert (first.start_frame, len(first), second.start_frame, len(second)) == (0, 1, 1, 2)
    assert second.start_sample == 160
    last = detector.process(np.zeros(10, np.float32))
    assert len(last) == 0 and last.start_frame == 3
    tail = detector.flush()  # the 10 samples, padded to a frame
    assert (tail.start_frame, len(tail)) == (3, 1)
    detector.reset()
    assert detector.process(np.zeros(160, np.float32)).start_frame == 0


def test_state_is_per_detector():
    x, _ = scene()
    a, b = EnergyVad(), EnergyVad()
    run(a, x[: len(x) // 2])
    assert b.state.next_frame == 0 and a.state.next_frame > 0


def test_concat_refuses_a_hole():
    one = VadFrames(0, np.zeros(2, np.float32), np.zeros(2, bool))
    with pytest.raises(ValueError):
        VadFrames.concat([one, VadFrames(3, np.zeros(1, np.float32), np.zeros(1, bool))])


# ---------------------------------------------------------------------------
# choosing a detector


def silero_missing(monkeypatch):
    def missing():
        raise vad.SileroUnavailable("the silero-vad package is not installed")

    monkeypatch.setattr(vad, "_silero_dir", missing)


def test_make_vad_energy_and_unknown():
    assert isinstance(make_vad("energy"), EnergyVad)
    with pytest.raises(InputError, match="unknown VAD 'webrtc'"):
        make_vad("webrtc")


def test_auto_falls_back_to_energy_and_says_so(monkeypatch, caplog):
    silero_missing(monkeypatch)
    with caplog.at_level(logging.INFO, logger="emorig.audio"):
        detector = make_vad("auto")
    assert isinstance(detector, EnergyVad)
    assert [r.getMessage() for r in caplog.records] == [
        "VAD: energy (silero not loadable: the silero-vad package is not installed)"
    ]


def test_silero_asked_for_but_missing_is_a_clear_error(monkeypatch):
    silero_missing(monkeypatch)
    with pytest.raises(
        InputError, match=r"silero VAD is not available: the silero-vad package is not installed \(pip install"
    ):
        make_vad("silero")


def test_silero_without_a_runtime(monkeypatch, tmp_path):
    # the package is there but neither onnxruntime nor torch: say both
    monkeypatch.setattr(vad, "_silero_dir", lambda: tmp_path)
    real = vad.importlib.util.find_spec
    monkeypatch.setattr(
        vad.importlib.util, "find_spec", lambda name, *a: None if name in ("onnxruntime", "torch") else real(name, *a)
    )
    with pytest.raises(vad.SileroUnavailable, match="onnxruntime is not installed; torch is not installed"):
        vad.load_silero()


class FakeSilero:
    """Stands in for the network: the probability is the window's RMS scaled, so tests can predict it."""

    backend = "fake"

    def initial_state(self):
        return {"calls": 0}

    def __call__(self, state, window):
        assert window.shape == (512,)
        state["calls"] += 1
        return float(min(1.0, np.sqrt(np.mean(window**2)) * 10))


def test_silero_frames_from_windows():
    x = np.zeros(SR, np.float32)
    x[4096:8192] = 0.5  # windows 8..15 loud
    frames = run(SileroVad(FakeSilero()), x, block=333)
    assert len(frames) == 100
    loud = np.flatnonzero(frames.prob > 0.9)
    # frames overlapping windows 8..15 (samples 4096..8191): frames 25..51
    assert loud[0] == 25 and loud[-1] == 51
    # No hangover of its own: speech ends with the loud windows (the network hears pauses itself).
    assert frames.speech[25:52].all()
    assert not frames.speech[:25].any() and not frames.speech[53:].any()


@pytest.mark.parametrize("block", [100, 512, 1600, 7777])
def test_silero_streaming_equals_whole_fake(block):
    x, _ = scene(seed=2)
    whole = run(SileroVad(FakeSilero()), x)
    streamed = run(SileroVad(FakeSilero()), x, block)
    assert len(whole) == -(-len(x) // 160)
    np.testing.assert_array_equal(streamed.prob, whole.prob)
    np.testing.assert_array_equal(streamed.speech, whole.speech)


def real_silero():
    try:
        return vad.load_silero()
    except vad.SileroUnavailable as e:
        pytest.skip(f"silero not loadable here: {e}")


def test_real_silero_streams_like_whole_and_is_quiet_on_noise():
    model = real_silero()
    x, _ = scene(seed=4)
    whole = run(SileroVad(model), x)
    streamed = run(SileroVad(model), x, 1000)
    assert len(whole) == len(streamed) == len(x) // 160
    np.testing.assert_allclose(streamed.prob, whole.prob, atol=1e-5)
    noise = (np.random.default_rng(5).standard_normal(2 * SR) * 0.01).astype(np.float32)
    assert not run(SileroVad(model), noise).speech.any()
    assert isinstance(make_vad("auto"), SileroVad)


class LingeringSilero(FakeSilero):
    """A network that never lets go: sure of speech everywhere."""

    def __call__(self, state, window):
        return 0.95


def test_silero_hears_digital_silence_as_silence_whatever_the_network_says():
    x = np.zeros(SR, np.float32)
    x[: SR // 2] = 0.1 * np.sin(np.arange(SR // 2) * 0.2)  # half a second of tone, then digital zeros
    frames = run(SileroVad(LingeringSilero()), x, block=333)
    assert frames.speech[:50].all()
    assert not frames.speech[50 + 9 :].any()  # off after the 80 ms hangover


def test_silero_batched_over_several_signals_gives_each_the_frames_it_gets_alone():
    model = real_silero()
    signals = [scene(seed=s)[0][: n * 160 + extra] for s, n, extra in ((6, 480, 77), (7, 130, 0), (8, 300, 511))]
    signals.append(np.zeros(0, np.float32))
    probs = vad.window_probabilities(model, signals)
    assert [len(p) for p in probs] == [-(-len(x) // vad.WINDOW) for x in signals]
    for x, p in zip(signals[:3], probs):
        alone = run(SileroVad(model), x)
        replayed = run(SileroVad(vad.ReplayModel(p)), x)
        np.testing.assert_allclose(replayed.prob, alone.prob, atol=1e-6)
        np.testing.assert_array_equal(replayed.speech, alone.speech)
        assert alone.speech.any() and not alone.speech.all()
    with pytest.raises(RuntimeError, match="more windows"):
        run(SileroVad(vad.ReplayModel(probs[1][:-2])), signals[1])
