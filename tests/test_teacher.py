"""The teacher (training/teacher.py): phones -> ARKit curves that are phonetically right.

The default model learns from these curves, so the invariants here are the ones a lip-sync
viewer checks: sealed lips on every P B M (however fast), the lower lip on the teeth for F V,
an open jaw on open vowels, rounded lips on rounded vowels (and before them), a mouth at
rest in pauses, the emotion's facial actions, blinks and brow raises like a person's."""

import time

import numpy as np
import pytest

from retarget.errors import InputError
from retarget.spaces import get_space
from retarget.takes import read_take
from training.emotions import EMOTIONS, emotion_overlays
from training.teacher import (
    Phone,
    analyse_prosody,
    animate_phones,
    main,
    pitch_accents,
    read_phones,
    teacher_take,
    visemes,
)

ARKIT = get_space("arkit")
C = ARKIT.index
ARPABET = "AA AE AH AO AW AY B CH D DH EH ER EY F G HH IH IY JH K L M N NG OW OY P R S SH T TH UH UW V W Y Z ZH".split()
VOWELS = "AA AE AH AO AW AY EH ER EY IH IY OW OY UH UW".split()
CONSONANTS = [p for p in ARPABET if p not in VOWELS]
BILABIAL, LABIODENTAL = ("P", "B", "M"), ("F", "V")
OPEN = ("AA", "AE", "AH", "AO", "AW", "AY")
ROUNDED = ("UW", "OW", "UH", "AO", "W")
MOUTH = ARKIT.region_mask("mouth", "jaw", "tongue")


def speech(seed=0, seconds=60.0):
    """A long, varied phone sequence: CV words with every phone, fast (40 ms) bilabials,
    bilabials between open vowels, pauses of 0.25-0.6 s and short gaps inside phrases."""
    rng = np.random.default_rng(seed)
    out, t, words = [], 0.3, 0

    def add(phone, dur):
        nonlocal t
        out.append(Phone(round(t, 4), round(t + dur, 4), phone))
        t += dur

    while t < seconds - 1:
        for k in range(rng.integers(2, 7)):
            if k % 2:
                add(str(rng.choice(VOWELS)), float(rng.uniform(0.05, 0.2)))
            else:
                p = str(rng.choice(CONSONANTS))
                add(p, 0.04 if p in BILABIAL and rng.uniform() < 0.3 else float(rng.uniform(0.04, 0.12)))
        if rng.uniform() < 0.25:  # a fast bilabial between open vowels: "a-ma", "a-pa"
            add("AA", 0.06)
            add(str(rng.choice(BILABIAL)), 0.04)
            add("AE", 0.06)
        words += 1
        if words % int(rng.integers(4, 9)) == 0:
            add("SIL", float(rng.uniform(0.25, 0.6)))
        elif rng.uniform() < 0.2:
            add("SP", float(rng.uniform(0.03, 0.1)))
    return out, t + 0.3


def at(frames, fps, time_s, curve):
    return float(frames[min(len(frames) - 1, int(round(time_s * fps))), C(curve)])


def mid(p):
    return 0.5 * (p.start + p.end)


@pytest.fixture(scope="module", params=[60, 30])
def take(request):
    """(phones, frames, fps): a minute of speech, surprised at full intensity (its jaw drop
    must not break closures), as well as a neutral take of the same phones."""
    fps = request.param
    phones, duration = speech(seed=1)
    frames = animate_phones(phones, fps=fps, duration=duration, emotion="surprised", intensity=1.0)
    neutral = animate_phones(phones, fps=fps, duration=duration)
    return phones, frames, neutral, fps


# -- tables ---------------------------------------------------------------------------------------


def test_tables_cover_arpabet_and_silences():
    v = visemes()
    assert set(v.phones) == set(ARPABET) | {"SIL", "SP", "NSN"}
    assert len(ARPABET) == 39
    assert ((v.targets >= 0) & (v.targets <= 1)).all()
    assert v.expand.sum(1).min() >= 1  # every column drives at least one ARKit curve
    for p, cls in zip(v.phones, v.classes):
        assert (p in BILABIAL) == (cls == "bilabial") and (p in LABIODENTAL) == (cls == "labiodental")
        for c in ("pause", "gap") if cls == "silence" else (cls,):
            d = v.dominance_of(p, c)
            assert (d[0] >= 0).all() and (d[1:] > 0).all()
    # Bilabials carry mouthClose = jawOpen: in ARKit that is what sealed lips are.
    for p in BILABIAL:
        row = v.targets[v.row(p)]
        assert row[v.columns.index("mouthClose")] == row[v.columns.index("jawOpen")]


# -- articulation ---------------------------------------------------------------------------------


def test_lips_sealed_on_every_bilabial(take):
    phones, frames, _, fps = take
    bilabials = [p for p in phones if p.phone in BILABIAL]
    fast = [p for p in bilabials if p.end - p.start <= 0.041]
    i_between = [i for i, p in enumerate(phones[1:-1], 1) if p.phone in BILABIAL]
    between_open = [i for i in i_between if phones[i - 1].phone in OPEN and phones[i + 1].phone in OPEN]
    assert len(bilabials) > 40 and len(fast) > 10 and len(between_open) > 5
    for p in bilabials:
        jaw, close = at(frames, fps, mid(p), "jawOpen"), at(frames, fps, mid(p), "mouthClose")
        press = min(at(frames, fps, mid(p), "mouthPressLeft"), at(frames, fps, mid(p), "mouthPressRight"))
        # Closed: the jaw nearly shut, mouthClose cancelling it (the lips meet), and pressed.
        assert jaw <= 0.15 and close >= jaw - 0.02 and press >= 0.4, (p, jaw, close, press)


def test_lower_lip_to_teeth_on_labiodentals(take):
    phones, frames, _, fps = take
    labiodentals = [p for p in phones if p.phone in LABIODENTAL]
    assert len(labiodentals) > 10
    for p in labiodentals:
        t = mid(p)
        assert at(frames, fps, t, "mouthRollLower") >= 0.4, p
        assert min(at(frames, fps, t, "mouthUpperUpLeft"), at(frames, fps, t, "mouthUpperUpRight")) >= 0.2, p
        assert at(frames, fps, t, "jawOpen") <= 0.15, p
        assert at(frames, fps, t, "mouthLowerDownLeft") <= 0.05, p


def test_jaw_open_on_open_vowels(take):
    phones, _, frames, fps = take  # neutral: the jaw opening is the speech's own
    vowels = [p for p in phones if p.phone in OPEN and p.end - p.start >= 0.05]
    assert len(vowels) > 50
    for p in vowels:
        assert at(frames, fps, mid(p), "jawOpen") >= 0.3, p


def test_lips_rounded_on_rounded_vowels(take):
    phones, frames, _, fps = take
    rounded = [p for p in phones if p.phone in ROUNDED]
    assert len(rounded) > 30
    for p in rounded:
        t = mid(p)
        assert max(at(frames, fps, t, "mouthPucker"), at(frames, fps, t, "mouthFunnel")) >= 0.3, p


@pytest.mark.parametrize("consonants", [("S", "T"), ("K",), ("T",), ("D", "Z")])
def test_anticipatory_rounding(consonants):
    """Rounding of /UW/ is already rising during the consonants before it ("stew", "coo")."""

    def word(vowel):
        t, phones = 0.3, [Phone(0.0, 0.3, "SIL")]
        for p in (*consonants, vowel):
            d = 0.16 if p == vowel else 0.07
            phones.append(Phone(t, t + d, p))
            t += d
        return phones, animate_phones(phones + [Phone(t, t + 0.3, "SIL")], blinks=False)

    (phones, before_uw), (_, before_iy) = word("UW"), word("IY")
    last = phones[-2]  # the consonant right before the vowel
    for p in phones[1:-1]:
        assert at(before_uw, 60, mid(p), "mouthPucker") > at(before_iy, 60, mid(p), "mouthPucker") + 0.05
    assert at(before_uw, 60, mid(last), "mouthPucker") >= 0.2
    pucker = before_uw[int(last.start * 60) : int(last.end * 60) + 1, C("mouthPucker")]
    assert (np.diff(pucker) > 0).all()  # rising through the consonant


def test_neutral_mouth_in_pauses(take):
    phones, frames, neutral, fps = take
    pauses = [p for p in phones if p.phone == "SIL" and p.end - p.start > 0.2]
    assert len(pauses) > 5
    rest = np.clip(emotion_overlays()[EMOTIONS.index("surprised")], 0, 1)
    for p in pauses:
        i = int(round(mid(p) * fps))
        assert neutral[i, MOUTH].max() <= 0.02, p  # relaxed and closed
        np.testing.assert_allclose(frames[i, MOUTH], rest[MOUTH], atol=0.02)  # the emotion alone
    # A short gap inside a phrase keeps coarticulation: the mouth does not snap shut.
    gap = [Phone(0.2, 0.35, "AA"), Phone(0.35, 0.41, "SP"), Phone(0.41, 0.56, "AA")]
    assert at(animate_phones(gap, duration=0.8), 60, 0.38, "jawOpen") >= 0.3


def test_silences_and_stress_spellings():
    a = animate_phones([(0.1, 0.3, "AA1"), (0.3, 0.7, "sil"), (0.7, 0.9, "ah0"), (0.9, 1.1, "pau")], blinks=False)
    b = animate_phones([(0.1, 0.3, "AA"), (0.3, 0.7, "SIL"), (0.7, 0.9, "AH"), (0.9, 1.1, "h#")], blinks=False)
    np.testing.assert_array_equal(a, b)


# -- emotion --------------------------------------------------------------------------------------

# The facial actions each label must show (FACS): curve groups that rise above neutral.
ACTIONS = {
    "happy": [("mouthSmileLeft", "mouthSmileRight"), ("cheekSquintLeft", "cheekSquintRight")],
    "sad": [("browInnerUp",), ("mouthFrownLeft", "mouthFrownRight")],
    "angry": [("browDownLeft", "browDownRight"), ("noseSneerLeft", "noseSneerRight")],
    "surprised": [("browOuterUpLeft", "browOuterUpRight"), ("eyeWideLeft", "eyeWideRight")],
    "fear": [("browInnerUp",), ("eyeWideLeft", "eyeWideRight"), ("mouthStretchLeft", "mouthStretchRight")],
    "disgust": [("noseSneerLeft", "noseSneerRight"), ("mouthUpperUpLeft", "mouthUpperUpRight")],
    "contempt": [("mouthDimpleRight",), ("mouthSmileRight",)],
}


@pytest.fixture(scope="module")
def short_speech():
    return speech(seed=2, seconds=8.0)


def _mean(frames, names):
    return float(frames[:, ARKIT.indices(names)].mean())


@pytest.mark.parametrize("emotion", EMOTIONS)
def test_emotion_actions_present(short_speech, emotion):
    phones, duration = short_speech
    neutral = animate_phones(phones, duration=duration, blinks=False)
    frames = animate_phones(phones, duration=duration, emotion=emotion, intensity=0.8, blinks=False)
    if emotion == "neutral":
        np.testing.assert_array_equal(frames, neutral)
        assert not frames[:, ARKIT.region_mask("brows", "cheeks", "nose")].any()
        return
    for names in ACTIONS[emotion]:
        assert _mean(frames, names) >= _mean(neutral, names) + 0.1, (emotion, names)
    if emotion == "contempt":  # one-sided: AU14 on the right only
        assert _mean(frames, ["mouthDimpleRight"]) > _mean(frames, ["mouthDimpleLeft"]) + 0.1


@pytest.mark.parametrize("emotion", EMOTIONS[1:])
def test_intensity_scales_actions_monotonically(short_speech, emotion):
    phones, duration = short_speech
    names = [n for group in ACTIONS[emotion] for n in group]
    means = [
        _mean(animate_phones(phones, duration=duration, emotion=emotion, intensity=k, blinks=False), names)
        for k in (0.0, 0.25, 0.5, 0.75, 1.0)
    ]
    assert all(b > a + 0.02 for a, b in zip(means, means[1:])), means


def test_per_frame_intensity(short_speech):
    phones, duration = short_speech
    n = int(round(duration * 60))
    ramp = np.linspace(0, 1, n)
    frames = animate_phones(phones, duration=duration, emotion="happy", intensity=ramp, blinks=False)
    smile = frames[:, C("mouthSmileLeft")]
    q = n // 4
    assert smile[-q:].mean() > smile[:q].mean() + 0.25
    cheeks = frames[:, C("cheekSquintLeft")]
    np.testing.assert_allclose(cheeks, np.clip(0.45 * ramp, 0, 1), atol=1e-5)  # the overlay, scaled per frame
    zero = animate_phones(phones, duration=duration, emotion="happy", intensity=np.zeros(n), blinks=False)
    np.testing.assert_array_equal(zero, animate_phones(phones, duration=duration, blinks=False))
    with pytest.raises(InputError, match="intensity has 3 values"):
        animate_phones(phones, duration=duration, intensity=[0.1, 0.2, 0.3])


def test_emotion_mixture_and_unknown_label(short_speech):
    phones, duration = short_speech
    mix = np.zeros(len(EMOTIONS))
    mix[EMOTIONS.index("happy")] = 1
    np.testing.assert_array_equal(
        animate_phones(phones, duration=duration, emotion=mix, blinks=False),
        animate_phones(phones, duration=duration, emotion="happiness", blinks=False),
    )
    with pytest.raises(InputError, match="unknown emotion"):
        animate_phones(phones, emotion="smug")


# -- ranges, determinism, blinks ------------------------------------------------------------------


def test_curves_in_range_and_finite(take):
    phones, frames, neutral, fps = take
    for f in (frames, neutral):
        assert f.dtype == np.float32 and f.shape[1] == 52
        assert np.isfinite(f).all() and f.min() >= 0 and f.max() <= 1
    assert len(frames) == int(round(speech(seed=1)[1] * fps))
    # In ARKit mouthClose beyond jawOpen would push the lips through each other.
    assert (frames[:, C("mouthClose")] <= frames[:, C("jawOpen")] + 1e-6).all()


def test_deterministic_and_seeded(short_speech):
    phones, duration = short_speech
    a = animate_phones(phones, duration=duration, seed=3, emotion="sad")
    np.testing.assert_array_equal(a, animate_phones(phones, duration=duration, seed=3, emotion="sad"))
    b = animate_phones(phones, duration=duration, seed=4, emotion="sad")
    blink = ARKIT.indices(["eyeBlinkLeft", "eyeBlinkRight"])
    assert not np.array_equal(a[:, blink], b[:, blink])
    rest = np.ones(52, bool)
    rest[blink] = False
    np.testing.assert_array_equal(a[:, rest], b[:, rest])  # only the blinks depend on the seed
    none = animate_phones(phones, duration=duration, blinks=False)
    assert not none[:, blink].any()


def test_blinks_at_human_intervals():
    phones, duration = speech(seed=3, seconds=120.0)
    pauses = [(p.start, p.end) for p in phones if p.phone == "SIL"]
    pause_share = sum(e - s for s, e in pauses) / duration
    in_pauses, onsets_total = 0, 0
    for seed in range(3):
        b = animate_phones(phones, duration=duration, seed=seed)[:, C("eyeBlinkLeft")]
        onsets = np.flatnonzero((b[1:] >= 0.5) & (b[:-1] < 0.5)) + 1
        intervals = np.diff(onsets) / 60
        assert 10 <= len(onsets) / duration * 60 <= 40  # people blink 10-40 times a minute talking
        assert intervals.min() >= 0.7 and intervals.max() <= 10
        assert b.max() == 1.0  # a full closure
        closed = b >= 0.5
        runs = np.diff(np.flatnonzero(np.diff(np.r_[0, closed.astype(int), 0])))[::2] / 60
        assert 0.05 <= runs.min() and runs.max() <= 0.3  # a blink lasts about 100-250 ms
        in_pauses += sum(any(s <= o / 60 <= e + 0.05 for s, e in pauses) for o in onsets)
        onsets_total += len(onsets)
    assert in_pauses / onsets_total >= 2 * pause_share  # more at phrase boundaries


# -- prosody --------------------------------------------------------------------------------------

SR = 16000
PEAKS = (1.0, 2.6)


@pytest.fixture(scope="module")
def tone():
    """A voiced tone at 120 Hz whose pitch rises to 200 Hz at 1.0 s and 2.6 s (pitch accents)."""
    t = np.arange(int(4.0 * SR)) / SR
    f0 = 120 + sum(80 * np.exp(-(((t - p) / 0.08) ** 2)) for p in PEAKS)
    phase = np.cumsum(2 * np.pi * f0 / SR)
    x = 0.3 * np.sin(phase) + 0.1 * np.sin(2 * phase) + 0.05 * np.sin(3 * phase)
    x[: int(0.2 * SR)] = x[-int(0.2 * SR) :] = 0
    return x.astype(np.float32), t, f0


def test_pitch_analysis(tone):
    x, t, f0 = tone
    p = analyse_prosody(x, 60)
    voiced = p.pitch > 0
    assert voiced[15:-15].all() and not voiced[:9].any()
    true = np.interp(np.arange(len(p.pitch)) / 60, t, f0)
    assert np.max(np.abs(p.pitch[voiced] / true[voiced] - 1)) < 0.03
    assert [round(a, 1) for a, _ in pitch_accents(p.pitch, 60)] == list(PEAKS)


def test_brow_raises_on_pitch_accents(tone):
    x, _, _ = tone
    phones = [Phone(0.2 + 0.2 * i, 0.4 + 0.2 * i, "AH") for i in range(18)]
    frames = animate_phones(phones, audio=x, blinks=False)
    brow = frames[:, C("browOuterUpLeft")]
    for peak in PEAKS:
        near = brow[int((peak - 0.15) * 60) : int((peak + 0.15) * 60)]
        assert near.max() >= 0.25 and abs(np.argmax(near) / 60 - 0.15) <= 0.1
        assert at(frames, 60, peak, "browInnerUp") >= 0.15
    assert at(frames, 60, 1.8, "browOuterUpLeft") <= 0.02 and at(frames, 60, 0.5, "browOuterUpLeft") <= 0.02
    assert not animate_phones(phones, duration=4.0, blinks=False)[:, C("browOuterUpLeft")].any()  # no audio
    # The same accents from a per-frame pitch array, without audio.
    pitch = analyse_prosody(x, 60).pitch
    energy = np.full(len(pitch), -20.0)
    given = animate_phones(phones, pitch=pitch, energy=energy, blinks=False)
    assert np.argmax(given[: int(1.8 * 60), C("browOuterUpLeft")]) / 60 == pytest.approx(1.0, abs=0.1)
    # In an angry face the accent deepens the frown (AU4) instead of raising the brows.
    angry = animate_phones(phones, audio=x, emotion="angry", blinks=False)
    assert at(angry, 60, 1.0, "browDownLeft") > at(angry, 60, 1.8, "browDownLeft") + 0.15
    assert at(angry, 60, 1.0, "browOuterUpLeft") == 0


def test_intensity_follows_prosody():
    """Louder speech shows the emotion more (DEITalk's dynamic intensity)."""
    t = np.arange(4 * SR) / SR
    loudness = np.where(t < 2, 0.02, 0.4)
    x = (loudness * np.sin(2 * np.pi * 150 * t)).astype(np.float32)
    phones = [Phone(0.1 * i, 0.1 * i + 0.1, "AH") for i in range(40)]
    frames = animate_phones(phones, audio=x, emotion="happy", blinks=False)
    cheek = frames[:, C("cheekSquintLeft")]
    assert cheek[150:230].mean() > cheek[20:100].mean() + 0.05


# -- files and API --------------------------------------------------------------------------------


def test_read_phones(tmp_path):
    path = tmp_path / "p.tsv"
    path.write_text("# aligned\nstart\tend\tphone\n0.0\t0.1\tsil\n\n0.1\t0.25\tHH\n0.25\t0.4\tAH0\n0.4\t0.5\tSPN\n")
    assert read_phones(path) == [
        Phone(0, 0.1, "SIL"),
        Phone(0.1, 0.25, "HH"),
        Phone(0.25, 0.4, "AH"),
        Phone(0.4, 0.5, "NSN"),
    ]


@pytest.mark.parametrize(
    "text, line, message",
    [
        ("0.0\t0.1\tAA\n", 1, "header"),
        ("start\tend\tphone\n0.0\tx\tAA\n", 2, "not a number"),
        ("start\tend\tphone\n0.0\t0.1\tAA\n0.1\t0.05\tB\n", 3, "before it starts"),
        ("start\tend\tphone\n0.0\t0.1\tAA\n0.1\t0.2\tQQ\n", 3, "unknown phone"),
        ("start\tend\tphone\n0.0\t0.2\tAA\n0.1\t0.3\tB\n", 3, "before the previous one ends"),
        ("start\tend\tphone\n# c\n0.0\t0.1\n", 3, "cells"),
        ("start\tend\tphone\n-1\t0.1\tAA\n", 2, ">= 0"),
        ("start\tend\tphone\nnan\t0.1\tAA\n", 2, "finite"),
    ],
)
def test_malformed_phones_name_file_and_line(tmp_path, text, line, message):
    path = tmp_path / "bad.tsv"
    path.write_text(text)
    with pytest.raises(InputError, match=message) as e:
        read_phones(path)
    assert str(path) in str(e.value) and f"row {line}" in str(e.value)
    assert "\n" not in str(e.value)


def test_empty_or_missing_phones_file(tmp_path):
    (tmp_path / "empty.tsv").write_text("start\tend\tphone\n")
    with pytest.raises(InputError, match="no phones"):
        read_phones(tmp_path / "empty.tsv")
    with pytest.raises(InputError, match="not found"):
        read_phones(tmp_path / "nope.tsv")


def test_take_and_command_line(tmp_path, short_speech):
    phones, duration = short_speech
    take = teacher_take(phones, fps=30, duration=duration, emotion="fear")
    assert take.space.name == "arkit" and take.fps == 30 and len(take) == int(round(duration * 30))
    src = tmp_path / "p.tsv"
    src.write_text("start\tend\tphone\n" + "".join(f"{p.start}\t{p.end}\t{p.phone}\n" for p in phones))
    out = tmp_path / "take.csv"
    assert main([str(src), "-o", str(out), "--fps", "30", "--emotion", "happy", "--intensity", "0.7"]) == 0
    back = read_take(out)
    expected = animate_phones(read_phones(src), fps=30, emotion="happy", intensity=0.7)
    np.testing.assert_allclose(back.frames, expected, atol=1e-6)
    assert main([str(tmp_path / "missing.tsv"), "-o", str(out)]) == 2


def test_a_minute_of_speech_is_fast():
    phones, duration = speech(seed=5, seconds=60.0)
    audio = np.random.default_rng(0).normal(0, 0.1, int(duration * SR)).astype(np.float32)
    animate_phones(phones[:20], duration=2.0)  # warm up (tables)
    start = time.perf_counter()
    animate_phones(phones, duration=duration, audio=audio, emotion="happy")
    assert time.perf_counter() - start < 1.0
