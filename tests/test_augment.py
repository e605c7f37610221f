"""Training variants (`emorig train --augment K`): noise floors at absolute levels, telephone and
VoIP channels, the seeded variant chain, its feature cache, the stretched targets of an augmented
clip, and fixed validation / test speakers.

Synthetic signals only (no synthesiser, no corpus); every test runs in well under a second or two.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from training import augment as A

RATE = 16000


def _dbfs(x) -> float:
    x = np.asarray(x, np.float64)
    return float(10 * np.log10(np.mean(x**2)))


def _tones(seconds: float = 1.0, seed: int = 0) -> np.ndarray:
    """Syllable-like bursts of two in-band tones (600 and 1100 Hz) with a little noise: what
    every channel, the telephone line included, should pass."""
    n = int(seconds * RATE)
    t = np.arange(n) / RATE
    env = np.clip(np.sin(2 * np.pi * 3 * t) * 1.5, 0, 1)
    noise = 0.01 * np.random.default_rng(seed).standard_normal(n)
    return (env * (0.2 * np.sin(2 * np.pi * 600 * t) + 0.15 * np.sin(2 * np.pi * 1100 * t + 1) + noise)).astype(
        np.float32
    )


def _band_energy(x: np.ndarray, lo: float, hi: float) -> float:
    """Power in [lo, hi) Hz, Hann-windowed (no leakage from the rectangular window's sidelobes)."""
    spectrum = np.abs(np.fft.rfft(np.asarray(x, np.float64) * np.hanning(len(x)))) ** 2
    f = np.fft.rfftfreq(len(x), 1 / RATE)
    return float(spectrum[(f >= lo) & (f < hi)].sum())


def _chirp(seconds: float = 1.0) -> np.ndarray:
    """A 300 -> 2700 Hz sweep in syllable-like bursts: no period, so one lag alone lines it up."""
    t = np.arange(int(seconds * RATE)) / RATE
    env = np.clip(np.sin(2 * np.pi * 3 * t) * 1.5, 0, 1)
    return (0.3 * env * np.sin(2 * np.pi * (300 * t + 1200 * t**2))).astype(np.float32)


def _best_lag(x: np.ndarray, y: np.ndarray, span: int = 60) -> int:
    """The shift of y (in samples, within +-span) that lines it up best with x."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    inner = slice(span, len(x) - span)
    scores = {lag: float(np.dot(x[inner], np.roll(y, -lag)[inner])) for lag in range(-span, span + 1)}
    return max(scores, key=scores.get)


def _has_libopus() -> bool:
    try:
        import av
    except ImportError:
        return False
    return "libopus" in av.codecs_available


needs_opus = pytest.mark.skipif(not _has_libopus(), reason="PyAV built without libopus")


def _has_g722() -> bool:
    try:
        import G722  # noqa: F401
    except ImportError:
        return False
    return True


# -- noise floors ------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", A.NOISE_KINDS)
@pytest.mark.parametrize("dbfs", [-70.0, -50.0, -35.0])
def test_noise_floor_is_added_at_the_absolute_level_asked_for(kind, dbfs):
    speech = _tones()
    y = A.add_floor(speech, dbfs, np.random.default_rng(1), kind)
    assert y.dtype == np.float32 and len(y) == len(speech)
    added = y.astype(np.float64) - speech
    # Keyboard is measured over its clicks (typing is as loud as a key press, not as its silence).
    heard = added[np.abs(added) > 1e-9] if kind == "keyboard" else added
    assert abs(_dbfs(heard) - dbfs) < 1.5, kind
    # Absolute, not relative: the same floor under a 20 dB louder clip.
    louder = A.add_floor(10 * speech, dbfs, np.random.default_rng(1), kind).astype(np.float64) - 10 * speech
    heard = louder[np.abs(louder) > 1e-8] if kind == "keyboard" else louder
    assert abs(_dbfs(heard) - dbfs) < 1.5, kind


@pytest.mark.parametrize("kind", A.NOISE_KINDS)
def test_noise_floor_is_reproducible_from_the_seed(kind):
    silence = np.zeros(RATE, np.float32)
    a = A.add_floor(silence, -50, np.random.default_rng(7), kind)
    b = A.add_floor(silence, -50, np.random.default_rng(7), kind)
    c = A.add_floor(silence, -50, np.random.default_rng(8), kind)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)
    assert np.any(a != 0)  # silence is never left silent


def test_noise_kinds_sound_like_what_they_are_named():
    n = 2 * RATE
    f = np.fft.rfftfreq(n, 1 / RATE)

    def low_share(x):  # share of the power below 200 Hz
        p = np.abs(np.fft.rfft(x)) ** 2
        return p[f < 200].sum() / p.sum()

    noise = {k: A.noise_of_kind(k, n, np.random.default_rng(3)) for k in A.NOISE_KINDS}
    assert all(len(x) == n and np.all(np.isfinite(x)) for x in noise.values())
    assert low_share(noise["white"]) < 0.05 < low_share(noise["pink"]) < low_share(noise["brown"])
    assert low_share(noise["fan"]) > 0.5  # low-heavy
    # Mains hum: its strongest line is a multiple of 50 or 60 Hz.
    p = np.abs(np.fft.rfft(noise["hum"])) ** 2
    peak = f[np.argmax(p)]
    assert min(abs(peak / 50 - round(peak / 50)) * 50, abs(peak / 60 - round(peak / 60)) * 60) < 1.5
    # Typing: clicks with silence between them.
    assert 0.5 < np.mean(noise["keyboard"] == 0) < 0.99


# -- telephone and VoIP ------------------------------------------------------------------------------


def test_mu_law_is_8_bit_and_close_to_its_input():
    x = np.linspace(-1.2, 1.2, 100001)
    y = A.mu_law(x)
    assert y.dtype == np.float32 and len(np.unique(y)) == 256
    assert np.abs(y).max() <= 1.0 + 1e-6  # clipped, not wrapped
    nonzero = x != 0
    assert np.allclose(A.mu_law(-x)[nonzero], -y[nonzero], atol=1e-7)  # symmetric
    # No level at exactly 0 (a mid-rise quantiser): digital silence comes out at its smallest
    # level, which must stay inaudible (below -80 dBFS).
    assert np.abs(A.mu_law(np.zeros(100))).max() < 1e-4
    speech = np.random.default_rng(0).standard_normal(RATE) * 0.05
    error = A.mu_law(speech).astype(np.float64) - speech
    assert 10 * np.log10(np.mean(speech**2) / np.mean(error**2)) > 30  # G.711 is ~38 dB


def test_telephone_keeps_the_300_to_3400_hz_band_only():
    white = (0.1 * np.random.default_rng(0).standard_normal(2 * RATE)).astype(np.float32)
    y = A.telephone(white)
    assert y.dtype == np.float32 and len(y) == len(white)
    for lo, hi in ((0, 200), (3700, 8000)):
        assert _band_energy(y, lo, hi) < 1e-3 * _band_energy(white, lo, hi), (lo, hi)  # -30 dB and more
    assert _band_energy(y, 500, 3000) == pytest.approx(_band_energy(white, 500, 3000), rel=0.05)
    # Tones: 100 and 5000 Hz gone, 1 kHz passes at its level.
    t = np.arange(RATE) / RATE
    for hz, passes in ((100, False), (1000, True), (5000, False)):
        tone = (0.3 * np.sin(2 * np.pi * hz * t)).astype(np.float32)
        level = _dbfs(A.telephone(tone)[2000:-2000]) - _dbfs(tone[2000:-2000])
        assert (abs(level) < 1.0) if passes else (level < -40), (hz, level)


def test_telephone_moves_nothing_in_time():
    x = _tones()
    y = A.telephone(x)
    assert len(y) == len(x)
    assert abs(_best_lag(x, y)) <= 1
    assert np.corrcoef(x, y)[0, 1] > 0.95
    chirp = _chirp()
    assert abs(_best_lag(chirp, A.telephone(chirp))) <= 1


@needs_opus
@pytest.mark.parametrize("bitrate", [8000, 16000, 24000])
def test_opus_round_trip_keeps_length_and_timing(bitrate):
    x = _chirp()
    y = A.opus_round_trip(x, bitrate)
    assert y.dtype == np.float32 and len(y) == len(x)
    assert np.corrcoef(x, y)[0, 1] > 0.9  # aligned: the codec's delay is taken out
    assert abs(_best_lag(x, y)) <= 1
    assert abs(_dbfs(y) - _dbfs(x)) < 2.0  # same loudness
    tones = _tones()
    assert np.corrcoef(tones, A.opus_round_trip(tones, bitrate))[0, 1] > 0.9


@needs_opus
def test_opus_round_trip_of_an_odd_length_and_of_silence():
    x = _tones(0.33)[:5279]  # not a whole number of 20 ms frames
    assert len(A.opus_round_trip(x)) == 5279
    quiet = A.opus_round_trip(np.zeros(3000, np.float32))
    assert len(quiet) == 3000 and np.abs(quiet).max() < 1e-3


# -- the variant chain -------------------------------------------------------------------------------


def test_training_variant_is_seeded_and_stays_a_valid_signal():
    x = _tones(seed=1)
    runs = {}
    for seed in range(10):
        a, applied = A.training_variant(x, np.random.default_rng(seed))
        b, again = A.training_variant(x, np.random.default_rng(seed))
        assert np.array_equal(a, b) and applied == again
        assert a.dtype == np.float32 and np.all(np.isfinite(a)) and np.abs(a).max() <= 1.0
        assert applied["channel"] in A.CHANNELS
        kind, level = applied["floor"]  # always a floor, within the settings' range
        assert kind in A.NOISE_KINDS and -70.0 <= level <= -35.0
        runs[seed] = a
    different = [not (len(runs[0]) == len(runs[s]) and np.array_equal(runs[0], runs[s])) for s in range(1, 10)]
    assert all(different)


def test_training_variant_length_follows_its_speed_factor():
    x = _tones(seed=2)
    fast = A.VariantSettings(p_speed=1.0)
    factors = []
    for seed in range(6):
        y, applied = A.training_variant(x, np.random.default_rng(seed), fast)
        factor = applied["speed"]
        assert 0.88 <= factor <= 1.12
        assert abs(len(y) - len(x) / factor) <= 3, (len(y), len(x) / factor)
        factors.append(factor)
    assert len(set(factors)) == 6
    # Without speed the length is kept, whatever else is done.
    still = A.VariantSettings(p_speed=0.0, p_reverb=1.0, p_busy=1.0)
    for seed in range(4):
        y, applied = A.training_variant(x, np.random.default_rng(seed), still)
        assert "speed" not in applied and len(y) == len(x)


@pytest.mark.parametrize("channel", A.CHANNELS)
def test_every_channel_keeps_the_words_where_they_were(channel):
    if channel == "opus" and not _has_libopus():
        pytest.skip("PyAV built without libopus")
    if channel == "g722" and not _has_g722():
        pytest.skip("pip install g722")
    weights = tuple(float(c == channel) for c in A.CHANNELS)
    settings = A.VariantSettings(p_speed=0.0, p_reverb=0.0, p_busy=0.0, channel_weights=weights)
    x = _tones(seed=3)
    y, applied = A.training_variant(x, np.random.default_rng(3), settings)
    assert applied["channel"] == channel and len(y) == len(x)
    assert np.corrcoef(x, y)[0, 1] > 0.9


def test_a_silent_clip_gets_the_floor_the_variant_reports():
    settings = A.VariantSettings(p_speed=0.0, p_reverb=0.0, p_busy=0.0, channel_weights=(1, 0, 0, 0, 0))
    silence = np.zeros(RATE, np.float32)
    for seed in range(8):
        y, applied = A.training_variant(silence, np.random.default_rng(seed), settings)
        kind, level = applied["floor"]
        heard = y[y != 0] if kind == "keyboard" else y
        assert abs(_dbfs(heard) - level) < 1.5, applied


# -- the feature cache -------------------------------------------------------------------------------


@pytest.fixture
def wav(tmp_path):
    soundfile = pytest.importorskip("soundfile")
    path = tmp_path / "clip.wav"
    soundfile.write(str(path), _tones(1.0, seed=4), RATE, subtype="PCM_16")
    return path


def test_variant_features_are_cached_and_reused(tmp_path, wav):
    from training.features import FeatureCache

    cache = FeatureCache(tmp_path / "cache")
    first, factor = cache.get_variant(wav, 0)
    assert (cache.hits, cache.misses) == (0, 1)
    stored = list((tmp_path / "cache" / cache.params.digest() / "variants").rglob("*.npz"))
    assert len(stored) == 1
    again, factor_again = cache.get_variant(wav, 0)
    assert (cache.hits, cache.misses) == (1, 1)
    assert factor_again == factor and isinstance(factor_again, float)
    assert set(again) == set(first) == {"logmel", "f0", "periodicity", "energy"}
    for name in first:
        assert np.array_equal(again[name], first[name]), name
    # A fresh cache object (another training run, another worker) finds it on disk too.
    other = FeatureCache(tmp_path / "cache")
    third, _ = other.get_variant(wav, 0)
    assert other.hits == 1 and np.array_equal(third["logmel"], first["logmel"])
    # Keyed by content: the same bytes under another name are a hit.
    copy = shutil.copy(wav, tmp_path / "renamed.wav")
    cache.get_variant(copy, 0)
    assert cache.hits == 2


def test_variant_numbers_and_seeds_give_different_copies(tmp_path, wav):
    from training.features import FeatureCache

    cache = FeatureCache(tmp_path / "cache")
    clean = cache.get(wav)["logmel"]
    copies = {(seed, k): cache.get_variant(wav, k, seed)[0]["logmel"] for seed in (0, 1) for k in range(3)}
    assert cache.misses == 1 + 6
    keys = list(copies)
    for i, a in enumerate(keys):
        assert not (copies[a].shape == clean.shape and np.array_equal(copies[a], clean))
        for b in keys[i + 1 :]:
            assert not (copies[a].shape == copies[b].shape and np.array_equal(copies[a], copies[b])), (a, b)


def test_variant_features_have_the_length_of_the_sped_up_audio(tmp_path, wav):
    from training.features import FeatureCache

    cache = FeatureCache(tmp_path / "cache")
    clean = len(cache.get(wav)["logmel"])
    factors = []
    for k in range(8):
        features, factor = cache.get_variant(wav, k)
        lengths = {len(v) for v in features.values()}
        assert lengths == {len(features["logmel"])}  # every feature on the same frames
        assert abs(len(features["logmel"]) - clean / factor) <= 2, (k, factor)
        factors.append(factor)
    assert any(f != 1.0 for f in factors) and any(f == 1.0 for f in factors)  # p_speed = 0.5


# -- augmented clips ---------------------------------------------------------------------------------


def _clip(n: int, audio=None):
    from training.dataset import Clip
    from training.emotions import EMOTIONS

    emotion = np.zeros(len(EMOTIONS), np.float32)
    emotion[0] = 1
    target = np.stack([np.linspace(0, 1, n), np.linspace(1, 0, n)], 1).astype(np.float32)
    closure = np.zeros(n, np.float32)
    closure[40:50] = 1
    rounding = np.zeros(n, np.float32)
    rounding[70:80] = 1
    return Clip(
        "c1",
        np.zeros((n, 80), np.float32),
        np.zeros((n, 3), np.float32),
        target,
        emotion,
        0.6,
        "spk",
        "some words",
        "phones.tsv",
        audio,
        closure,
        rounding,
    )


def _features(n: int) -> dict:
    rng = np.random.default_rng(0)
    return {
        "logmel": rng.uniform(-20, 5, (n, 80)).astype(np.float32),
        "f0": np.full(n, 200.0, np.float32),
        "periodicity": np.full(n, 0.9, np.float32),
        "energy": np.full(n, -20.0, np.float32),
    }


@pytest.mark.parametrize("n_copy", [120, 100, 80])
def test_variant_clip_stretches_targets_and_labels_to_the_copy(n_copy):
    from training.dataset import normalise, variant_clip

    clip = _clip(100, audio="clip.wav")
    features = _features(n_copy)
    copy = variant_clip(clip, features, 100 / n_copy, 3)
    assert copy.clip_id == "c1~3" and len(copy) == n_copy
    assert copy.target.shape == (n_copy, 2) and copy.prosody.shape == (n_copy, 3)
    assert copy.closure.shape == (n_copy,) and copy.rounding.shape == (n_copy,)
    assert np.array_equal(copy.mel, normalise(features["logmel"]))
    # Same span of time: first and last frames match, the ramp stays a ramp.
    assert copy.target[0] == pytest.approx(clip.target[0]) and copy.target[-1] == pytest.approx(clip.target[-1])
    assert np.all(np.diff(copy.target[:, 0]) > 0)
    # The labelled events move with the stretch: frames 40..49 become 40*s..50*s.
    s = n_copy / 100
    sealed = np.flatnonzero(copy.closure)
    assert abs(sealed.min() - 40 * s) <= 1 and abs(sealed.max() + 1 - 50 * s) <= 1
    assert abs(len(sealed) - 10 * s) <= 1
    rounded = np.flatnonzero(copy.rounding)
    assert abs(rounded.min() - 70 * s) <= 1 and abs(rounded.max() + 1 - 80 * s) <= 1
    # The rest of the clip is the original's; the phone file's times are not the copy's.
    assert (copy.speaker, copy.text, copy.intensity, copy.audio) == ("spk", "some words", 0.6, "clip.wav")
    assert np.array_equal(copy.emotion, clip.emotion) and copy.phones is None


def test_variant_clip_keeps_unknown_labels_unknown():
    from training.dataset import variant_clip

    clip = _clip(100)
    clip.closure = clip.rounding = None
    copy = variant_clip(clip, _features(90), 100 / 90, 0)
    assert copy.closure is None and copy.rounding is None
    assert (copy.closure_labels() == -1).all() and len(copy.closure_labels()) == 90


def test_augmented_clips_are_the_cached_variants_in_one_or_more_processes(tmp_path, wav):
    from training.dataset import augmented_clips, normalise
    from training.features import FeatureCache

    cache = FeatureCache(tmp_path / "cache")
    n = len(cache.get(wav)["logmel"])
    clip = _clip(n, audio=wav)
    clips = augmented_clips([clip], cache, variants=3, seed=5, jobs=1, progress=False)
    assert [c.clip_id for c in clips] == ["c1~0", "c1~1", "c1~2"]
    for k, c in enumerate(clips):
        features, _ = cache.get_variant(wav, k, seed=5)  # what training would read back
        assert np.array_equal(c.mel, normalise(features["logmel"]))
        assert len(c.target) == len(c.prosody) == len(c.closure) == len(c.mel)
    in_pool = augmented_clips([clip], FeatureCache(tmp_path / "cache"), variants=3, seed=5, jobs=2, progress=False)
    assert [c.clip_id for c in in_pool] == [c.clip_id for c in clips]
    assert all(np.array_equal(a.mel, b.mel) and np.array_equal(a.target, b.target) for a, b in zip(clips, in_pool))


# -- fixed validation and test speakers --------------------------------------------------------------


def _entries(tmp_path, speakers):
    from training.manifest import ManifestEntry

    return [
        ManifestEntry(f"c{i}", tmp_path / f"c{i}.wav", None, "arkit", 60.0, s, "neutral", None, None, "en")
        for i, s in enumerate(speakers * 3)
    ]


def test_named_speakers_go_to_val_and_test_and_nowhere_else(tmp_path):
    from training.manifest import split_by_speaker

    speakers = [f"speaker{i:02d}" for i in range(30)]
    entries = _entries(tmp_path, speakers)
    out = split_by_speaker(entries, seed=3, val_speakers=("speaker04",), test_speakers=("speaker11", "speaker20"))
    assert [e.clip_id for e in out] == [e.clip_id for e in entries]
    by_split = {k: {e.speaker for e in out if e.split == k} for k in ("train", "val", "test")}
    assert by_split["val"] == {"speaker04"}
    assert by_split["test"] == {"speaker11", "speaker20"}
    assert by_split["train"] == set(speakers) - {"speaker04", "speaker11", "speaker20"}


def test_naming_test_speakers_only_still_draws_val_from_the_rest(tmp_path):
    from training.manifest import split_by_speaker

    speakers = [f"speaker{i:02d}" for i in range(30)]
    out = split_by_speaker(_entries(tmp_path, speakers), seed=3, test_speakers=("speaker07",))
    by_split = {k: {e.speaker for e in out if e.split == k} for k in ("train", "val", "test")}
    assert by_split["test"] == {"speaker07"}
    assert by_split["val"] and "speaker07" not in by_split["val"] | by_split["train"]
    assert by_split["train"]
    for e in out:  # still one split per speaker
        assert e.split == next(x.split for x in out if x.speaker == e.speaker)
