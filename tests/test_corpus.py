"""The speech corpus builder: synthesisers and their phone timings, forced alignment,
emotional prosody, augmentation, `emorig data synth` / `align`, and the real Asterisk prompts.

Each synthesiser test skips, saying which Debian package is missing, when its tool is not
installed; .ci/run installs them all, so in CI everything runs. Fixtures are made here.
"""

from __future__ import annotations

import argparse

import numpy as np
import pytest
import pyworld  # emorig[corpus] comes with the test extra: missing is a failure, not a skip

from training.speech import espeak, festival, flite
from training.speech.phones import ARPABET, SILENCE, Phone, cover, read_phones, sequence, write_phones
from training.speech.sentences import languages, sentences

needs_espeak = pytest.mark.skipif(not espeak.available(), reason="libespeak-ng missing (apt-get install espeak-ng)")
needs_flite = pytest.mark.skipif(not flite.available(), reason="flite missing (apt-get install flite)")
needs_festival = pytest.mark.skipif(
    not festival.available("kal_diphone"),
    reason="festival or its kal voice missing (apt-get install festvox-kallpc16k)",
)


def _has(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        return False
    return True


needs_pocketsphinx = pytest.mark.skipif(not _has("pocketsphinx"), reason="pip install pocketsphinx")
needs_g722 = pytest.mark.skipif(not _has("G722"), reason="pip install g722")

SENTENCE = "Could you bring the blue umbrella when you come over?"


@pytest.fixture(scope="module")
def aligner():
    from training.speech.align import Aligner

    return Aligner()


def _synth(spec: str, text: str = SENTENCE, rate: float = 1.0):
    from training.speech.voices import parse_voice, synthesize

    return synthesize(parse_voice(spec), text, rate)


def _check_covering(phones: list[Phone], audio: np.ndarray) -> None:
    """Contiguous from 0 to the audio's end, ARPAbet only, some speech in it."""
    duration = len(audio) / 16000
    assert phones[0].start == 0.0
    assert phones[-1].end == pytest.approx(duration, abs=1e-6)
    for a, b in zip(phones, phones[1:]):
        assert a.end == pytest.approx(b.start, abs=1e-9)
        assert b.end > b.start
    assert all(p.phone in ARPABET or p.phone == SILENCE for p in phones)
    assert len(sequence(phones)) >= 10


# -- sentence sets and phone files -------------------------------------------------------------------


def test_english_sentences_cover_every_arpabet_phone():
    pocketsphinx = pytest.importorskip("pocketsphinx", reason="pip install pocketsphinx (bundles CMUdict)")
    import os
    import re

    from training.speech.align import words

    dictionary = {}
    path = os.path.join(pocketsphinx.get_model_path(), "en-us", "cmudict-en-us.dict")
    with open(path, encoding="utf-8") as f:
        for line in f:
            word, *phones = line.split()
            dictionary.setdefault(word, [re.sub(r"\d", "", p) for p in phones])
    english = sentences("en")
    assert len(english) >= 300 and len({s.text for s in english}) == len(english)
    seen, diphones = set(), set()
    for s in english:
        seq = [p for w in words(s.text) for p in dictionary.get(w, [])]
        seen.update(seq)
        diphones.update(zip(seq, seq[1:]))
    assert seen == set(ARPABET)
    assert len(diphones) >= 900
    for language in ("de", "fr", "es", "it", "ru"):
        assert language in languages() and len(sentences(language)) >= 24


def test_phones_file_round_trip_and_errors(tmp_path):
    from retarget.errors import InputError

    phones = cover([Phone(0.1, 0.2, "HH"), Phone(0.2, 0.35, "AY")], 0.5)
    assert [p.phone for p in phones] == ["SIL", "HH", "AY", "SIL"]
    write_phones(tmp_path / "a.tsv", phones)
    assert (tmp_path / "a.tsv").read_text().splitlines()[0] == "start\tend\tphone"
    assert read_phones(tmp_path / "a.tsv") == [Phone(round(p.start, 4), round(p.end, 4), p.phone) for p in phones]
    (tmp_path / "b.tsv").write_text("start\tend\tphone\n0\t0.1\tXX\n")
    with pytest.raises(InputError, match=r"b\.tsv, row 2.*'XX'"):
        read_phones(tmp_path / "b.tsv")


def test_phone_maps_are_arpabet():
    from training.speech.phones import phone_map

    names = {"espeak_ipa", "flite_cmu", "pocketsphinx_en_us"} | {v.phones for v in festival.VOICES.values()}
    for name in sorted(names):
        table = phone_map(name)
        assert len(table) > 30
        assert all(p in ARPABET or p == SILENCE for targets in table.values() for p in targets)


# -- synthesisers --------------------------------------------------------------------------------------


@needs_espeak
def test_espeak_speaks_every_sentence_set_with_mapped_phones():
    """Every phone espeak-ng says for the first sentences of each language is in the IPA map."""
    for language in languages():
        voice = "en-us" if language == "en" else language
        for s in sentences(language)[:4]:
            audio, phones = espeak.engine().synthesize(s.text, voice)
            assert len(audio) > 0 and phones[-1].end == pytest.approx(len(audio) / espeak.engine().rate)


@pytest.mark.parametrize(
    "spec",
    [
        pytest.param("espeak:en-us+m3", marks=needs_espeak),
        pytest.param("espeak:de+f2", marks=needs_espeak),
        pytest.param("flite:slt", marks=needs_flite),
        pytest.param("flite:kal16", marks=needs_flite),
        pytest.param("festival:kal_diphone", marks=needs_festival),
        pytest.param(
            "festival:cmu_us_slt_arctic_hts",
            marks=pytest.mark.skipif(
                not festival.available("cmu_us_slt_arctic_hts"), reason="apt-get install festvox-us-slt-hts"
            ),
        ),
    ],
)
def test_synthesiser_gives_16k_audio_and_phones_covering_it(spec):
    text = sentences("de")[0].text if spec.startswith("espeak:de") else SENTENCE
    synthesis = _synth(spec, text)
    _check_covering(synthesis.phones, synthesis.audio)
    if not spec.startswith("espeak:de"):
        # "could you bring": the dictionaries agree on the first phones
        assert sequence(synthesis.phones)[:5] == ["K", "UH", "D", "Y", "UW"]
    # speech where the phones say so: the loudest 100 ms lies inside a spoken phone
    energy = np.convolve(synthesis.audio**2, np.ones(1600), "valid")
    loudest = (np.argmax(energy) + 800) / 16000
    assert next(p for p in synthesis.phones if p.start <= loudest < p.end).phone != SILENCE


def _level_db(audio: np.ndarray, start: float, end: float) -> float:
    """Mean power of 16 kHz audio from start to end (s), in dB."""
    a = int(start * 16000)
    return float(10 * np.log10(np.mean(audio[a : max(int(end * 16000), a + 1)] ** 2) + 1e-10))


@pytest.mark.parametrize("name", sorted(n for n, v in festival.VOICES.items() if v.language != "en"))
def test_festival_voice_of_another_language_reads_its_sentences_with_lips_where_the_audio_says(name):
    """Each non-English festival voice reads its language's sentences (in the text encoding its front end
    wants), every phone it says is in its map, and its phone times fit the audio: the first half of
    P (its silent closure) is at least 8 dB quieter than the open vowels."""
    if not festival.available(name):
        pytest.skip(f"festival voice {name} not installed (training/data/festival_voices.tsv names its package)")
    from training.speech.voices import parse_voice

    voice = parse_voice(f"festival:{name}")
    closures, vowels = [], []
    for s in sentences(voice.language)[:6]:
        synthesis = _synth(str(voice), s.text)
        _check_covering(synthesis.phones, synthesis.audio)
        audio = synthesis.audio
        closures += [_level_db(audio, p.start, (p.start + p.end) / 2) for p in synthesis.phones if p.phone == "P"]
        vowels += [_level_db(audio, p.start, p.end) for p in synthesis.phones if p.phone in ("AA", "AE", "EH")]
    assert len(closures) >= 3 and vowels
    assert np.median(closures) < np.median(vowels) - 8


@needs_flite
@needs_pocketsphinx
def test_alignment_matches_flite_timings_within_25_ms(aligner):
    """pocketsphinx phone onsets against flite's own -psdur timings (no known offset), two voices."""
    from training.speech.align import onset_errors

    errors = []
    for voice in ("slt", "awb"):
        for s in sentences("en")[:6]:
            synthesis = _synth(f"flite:{voice}", s.text)
            aligned = aligner.align(synthesis.audio, s.text)
            _check_covering(aligned, synthesis.audio)
            e = onset_errors(synthesis.phones, aligned)
            assert len(e) >= 0.8 * len(sequence(synthesis.phones))  # nearly every phone matched
            errors.append(e)
    errors = np.concatenate(errors)
    assert np.abs(errors).mean() < 0.025, f"mean onset error {np.abs(errors).mean() * 1000:.1f} ms"


@needs_espeak
@needs_pocketsphinx
def test_espeak_timings_with_closure_correction_agree_with_the_aligner(aligner):
    """espeak-ng's phone onsets, stops moved CLOSURE_LEAD earlier, against the aligner: mean
    error under 25 ms, and the stops no longer systematically late."""
    from training.speech.align import onset_errors

    errors, stops = [], []
    for s in sentences("en")[:6]:
        synthesis = _synth("espeak:en-us", s.text)
        aligned = aligner.align(synthesis.audio, s.text)
        errors.append(onset_errors(synthesis.phones, aligned))
        only_stops = [[p for p in ph if p.phone in espeak.CLOSURE_PHONES] for ph in (synthesis.phones, aligned)]
        stops.append(onset_errors(*only_stops))
    assert np.abs(np.concatenate(errors)).mean() < 0.025
    assert abs(np.median(np.concatenate(stops))) < 0.012


# -- emotional prosody ---------------------------------------------------------------------------------


def _mean_f0(audio: np.ndarray) -> float:
    """Mean F0 over voiced frames, by Praat when parselmouth is there (independent of WORLD)."""
    try:
        import parselmouth

        f0 = parselmouth.Sound(audio.astype(np.float64), 16000).to_pitch().selected_array["frequency"]
    except ImportError:
        x = audio.astype(np.float64)
        f0, t = pyworld.dio(x, 16000)
        f0 = pyworld.stonemask(x, f0, t, 16000)
    return float(f0[f0 > 0].mean())


@needs_flite
def test_same_sentence_in_every_emotion_same_phones_different_prosody():
    from training.emotions import EMOTIONS
    from training.speech.prosody import apply_prosody, emotion_prosody

    spoken = {}
    for emotion in EMOTIONS:
        prosody = emotion_prosody(emotion)
        synthesis = _synth("flite:slt", SENTENCE, prosody.rate)
        audio = apply_prosody(synthesis.audio, 16000, prosody)
        assert len(audio) == len(synthesis.audio)  # WORLD keeps the length: phone times stay valid
        spoken[emotion] = (sequence(synthesis.phones), len(audio) / 16000, _mean_f0(audio))
    first = spoken["neutral"][0]
    assert all(seq == first for seq, _, _ in spoken.values())
    durations = {e: d for e, (_, d, _) in spoken.items()}
    f0 = {e: f for e, (_, _, f) in spoken.items()}
    assert durations["sad"] > durations["neutral"] * 1.1 > durations["angry"] * 1.1
    assert min(f0["happy"], f0["surprised"]) > f0["neutral"] * 1.08 > f0["sad"] * 1.08
    # intensity 0 is neutral whatever the emotion
    assert emotion_prosody("angry", 0.0) == emotion_prosody("neutral")


@needs_espeak
def test_espeak_rate_moves_its_phone_times():
    slow = _synth("espeak:en-us+f2", SENTENCE, 0.8)
    fast = _synth("espeak:en-us+f2", SENTENCE, 1.25)
    assert sequence(slow.phones) == sequence(fast.phones)
    assert len(slow.audio) > 1.3 * len(fast.audio)
    last_slow = [p for p in slow.phones if p.phone != SILENCE][-1]
    last_fast = [p for p in fast.phones if p.phone != SILENCE][-1]
    assert last_slow.end > 1.3 * last_fast.end


# -- augmentation --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def speech():
    """Speech-like test audio without any synthesiser: a 120 Hz pulse train through a few
    formant resonances, some broadband noise, and a pause."""
    from scipy.signal import lfilter

    rng = np.random.default_rng(0)
    n = 16000 * 2
    source = np.zeros(n)
    source[:: 16000 // 120] = 1.0
    source += 0.05 * rng.standard_normal(n)
    x = source
    for f, bw in ((700, 90), (1200, 110), (2600, 160), (5200, 300)):
        r = np.exp(-np.pi * bw / 16000)
        x = lfilter([1 - r], [1, -2 * r * np.cos(2 * np.pi * f / 16000), r * r], x)
    x = x / np.sqrt(np.mean(x**2))
    x += 0.2 * rng.standard_normal(n)  # breath and fricatives: energy up to 8 kHz
    x[8000:12000] *= 0.01
    return (0.3 * x / np.abs(x).max()).astype(np.float32)


def test_noise_is_added_at_the_requested_snr(speech):
    from training.augment import add_noise

    for colour in ("white", "pink", "brown"):
        for snr in (0.0, 10.0, 25.0):
            y = add_noise(speech, snr, np.random.default_rng(1), colour)
            noise = y.astype(np.float64) - speech
            measured = 10 * np.log10(np.mean(speech.astype(np.float64) ** 2) / np.mean(noise**2))
            assert abs(measured - snr) < 0.5
    recorded = np.random.default_rng(2).standard_normal(5000)
    y = add_noise(speech, 5.0, np.random.default_rng(3), noise=recorded)
    assert abs(10 * np.log10(np.mean(speech.astype(np.float64) ** 2) / np.mean((y - speech) ** 2)) - 5.0) < 0.5


def _energy_above(x: np.ndarray, hz: float) -> float:
    spectrum = np.abs(np.fft.rfft(x.astype(np.float64))) ** 2
    return float(spectrum[np.fft.rfftfreq(len(x), 1 / 16000) > hz].sum() / spectrum.sum())


def test_band_limit_removes_energy_outside_the_telephone_band(speech):
    from training.augment import band_limit

    y = band_limit(speech)
    assert _energy_above(speech, 3400) > 0.01
    assert _energy_above(y, 3600) < 1e-3 * _energy_above(speech, 3600)
    assert len(y) == len(speech)
    # zero phase: the waveform is not shifted (peak of the cross-correlation at lag 0)
    corr = np.correlate(y[4000:6000], speech[4000:6000], "full")
    assert abs(int(np.argmax(corr)) - 1999) <= 1


@needs_g722
def test_g722_round_trip_keeps_timing_and_drops_the_top_band(speech):
    from training.augment import g722_round_trip

    y = g722_round_trip(speech)
    assert len(y) == len(speech)
    assert np.corrcoef(y, speech)[0, 1] > 0.95  # delay taken out: sample-aligned


def test_speed_scales_duration_and_phone_times(speech):
    from training.augment import speed

    phones = cover([Phone(0.2, 0.5, "AA"), Phone(0.5, 0.9, "M")], len(speech) / 16000)
    y, scaled = speed(speech, 1.1, phones=phones)
    assert len(y) == pytest.approx(len(speech) / 1.1, abs=2)
    assert scaled[1].start == pytest.approx(0.2 / 1.1, abs=1e-3)
    assert scaled[-1].end == pytest.approx(len(y) / 16000)
    assert [p.phone for p in scaled] == [p.phone for p in phones]


def test_reverb_gain_and_the_seeded_chain(speech):
    from training.augment import AugmentSettings, augment, gain, reverb

    wet = reverb(speech, 0.6, np.random.default_rng(0))
    assert len(wet) == len(speech)
    assert np.mean(wet**2) == pytest.approx(np.mean(speech**2), rel=1e-3)
    # the pause fills with the tail of what came before it
    assert np.mean(wet[8400:9000] ** 2) > 10 * np.mean(speech[8400:9000] ** 2)
    assert np.allclose(gain(speech, 6.0), speech * 10 ** (6 / 20), atol=1e-6)
    everything = AugmentSettings(p_speed=1, p_reverb=1, p_band=1, p_g722=1 if _has("G722") else 0, p_noise=1, p_gain=1)
    a = augment(speech, np.random.default_rng(5), everything)
    b = augment(speech, np.random.default_rng(5), everything)
    assert np.array_equal(a[0], b[0]) and a[2] == b[2]
    assert set(a[2]) >= {"speed", "rt60", "band", "noise", "gain_db"}


# -- the commands --------------------------------------------------------------------------------------


def _parser():
    from training.cli_corpus import add_data_subcommands

    parser = argparse.ArgumentParser(prog="emorig data")
    add_data_subcommands(parser.add_subparsers(dest="action", required=True))
    return parser


def _run(argv) -> int:
    args = _parser().parse_args(argv)
    return args.func(args)


@needs_flite
@needs_espeak
def test_synth_end_to_end_and_rerun_skips_finished_clips(tmp_path, capsys):
    from training.manifest import read_manifest

    out = tmp_path / "corpus"
    argv = ["synth", "--out", str(out), "--hours", "1", "--limit", "6", "--seed", "3"]
    argv += ["--voices", "flite:slt", "espeak:en-us+f2", "--emotions", "neutral", "happy", "sad", "--languages", "en"]
    assert _run(argv) == 0
    entries = read_manifest(out / "manifest.jsonl")
    assert len(entries) == 6
    teacher = _has("training.teacher")
    for e in entries:
        assert e.space == "arkit" and e.fps == 60 and e.language == "en" and e.source == "emorig-synth"
        assert e.audio.is_file() and e.phones.is_file()
        import soundfile

        info = soundfile.info(e.audio)
        assert info.samplerate == 16000 and info.channels == 1
        phones = read_phones(e.phones)
        assert phones[-1].end == pytest.approx(info.duration, abs=1e-3)
        if teacher:
            from retarget.takes import read_take

            take = read_take(e.motion)
            assert take.space.name == "arkit" and abs(len(take) - info.duration * 60) <= 1
        else:
            assert e.motion is None
    # the same sentence and voice in each emotion, in the same group
    groups = {}
    for e in entries:
        groups.setdefault((e.speaker, e.text), set()).add(e.emotion)
    assert all(emotions == {"neutral", "happy", "sad"} for emotions in groups.values())
    # splits by speaker: one speaker's clips share a split
    assert all(len({x.split for x in entries if x.speaker == s}) == 1 for s in {e.speaker for e in entries})

    files = [p for p in out.rglob("*") if p.is_file() and p.name != "manifest.jsonl"]
    before = {p: p.stat().st_mtime_ns for p in files}
    capsys.readouterr()
    assert _run(argv) == 0
    assert "0 made now, 6 already done" in capsys.readouterr().out
    assert {p: p.stat().st_mtime_ns for p in files} == before
    assert len(read_manifest(out / "manifest.jsonl")) == 6


@needs_flite
@needs_pocketsphinx
def test_align_command_on_a_folder_with_transcripts(tmp_path, capsys):
    import soundfile

    audio_dir = tmp_path / "speech"
    audio_dir.mkdir()
    texts = [s.text for s in sentences("en")[10:12]]
    for i, text in enumerate(texts):
        synthesis = _synth("flite:rms", text)
        soundfile.write(audio_dir / f"clip{i}.wav", synthesis.audio, 16000)
    (tmp_path / "transcripts.txt").write_text("".join(f"clip{i}: {t}\n" for i, t in enumerate(texts)))
    out = tmp_path / "phones"
    argv = ["align", str(audio_dir), "--transcripts", str(tmp_path / "transcripts.txt"), "-o", str(out)]
    assert _run(argv) == 0
    assert "2 aligned" in capsys.readouterr().out
    for i in range(2):
        phones = read_phones(out / f"clip{i}.tsv")
        assert sequence(phones)[:2] and phones[-1].end == pytest.approx(
            soundfile.info(audio_dir / f"clip{i}.wav").duration
        )
    assert _run(argv) == 0
    assert "2 already there" in capsys.readouterr().out


@needs_espeak
@needs_pocketsphinx
def test_alignment_of_another_language_spelt_by_espeak(aligner):
    s = sentences("fr")[0]
    synthesis = _synth("espeak:fr+f3", s.text)
    aligned = aligner.align(synthesis.audio, s.text, "fr")
    _check_covering(aligned, synthesis.audio)
    assert sequence(aligned) == sequence(synthesis.phones)


# -- real speech -----------------------------------------------------------------------------------------


@needs_g722
@needs_pocketsphinx
def test_asterisk_prompt_decodes_to_16k_and_aligns_with_its_transcript(aligner):
    from training.speech import asterisk

    found = {p.name: p for p in asterisk.prompts("en")}
    if not found:
        pytest.skip("apt-get install asterisk-core-sounds-en-g722 (audio) asterisk-core-sounds-en (transcripts)")
    prompt = found.get("auth-incorrect") or next(iter(found.values()))
    audio = asterisk.decode_g722(prompt.audio)
    assert len(audio) == 2 * prompt.audio.stat().st_size  # 64 kbit/s G.722: two 16 kHz samples per byte
    assert 0.05 < np.abs(audio).max() <= 1.0
    phones = aligner.align(audio, prompt.text)
    _check_covering(phones, audio)
    # the phones fall on the speech: voiced energy inside spoken phones far above that in silences
    spoken = np.concatenate([audio[int(p.start * 16000) : int(p.end * 16000)] for p in phones if p.phone != SILENCE])
    quiet = [audio[int(p.start * 16000) : int(p.end * 16000)] for p in phones if p.phone == SILENCE]
    assert np.mean(spoken**2) > 10 * np.mean(np.concatenate(quiet) ** 2)


def test_read_transcript_tables(tmp_path):
    from training.corpus import read_transcript_table
    from training.speech.asterisk import read_transcripts

    (tmp_path / "a.txt").write_text("; comment\nbeep: [a beep]\nhello: Hello, world.\ndigits/1: one\n")
    assert read_transcripts(tmp_path / "a.txt") == {"hello": "Hello, world.", "digits/1": "one"}
    (tmp_path / "b.tsv").write_text("x\tsome text: with a colon\n")
    assert read_transcript_table(tmp_path / "b.tsv") == {"x": "some text: with a colon"}


def test_synth_rejects_bad_requests(tmp_path):
    from retarget.errors import InputError
    from training.corpus import SynthRequest, plan

    with pytest.raises(InputError, match="ENGINE:NAME"):
        plan(SynthRequest(out=tmp_path, voices=("slt",)))
    with pytest.raises(InputError, match="no sentence set"):
        plan(SynthRequest(out=tmp_path, languages=("xx",)))
    with pytest.raises(SystemExit):
        _parser().parse_args(["synth", "--out", str(tmp_path), "--emotions", "bored"])


def test_an_alignment_that_contradicts_the_audio_level_is_refused():
    from training.speech.align import AlignmentError, check_alignment

    rng = np.random.default_rng(0)
    sr = 16000
    quiet = rng.standard_normal(sr // 2) * 1e-4
    word = rng.standard_normal(sr // 2) * 0.1
    audio = np.concatenate([quiet, word, quiet]).astype(np.float32)
    check_alignment(audio, [(0.0, 0.5, "SIL"), (0.5, 0.75, "AA"), (0.75, 1.0, "M"), (1.0, 1.5, "SIL")])
    with pytest.raises(AlignmentError, match="pause over speech"):  # the word aligned late, into the pause
        check_alignment(audio, [(0.0, 1.0, "SIL"), (1.0, 1.25, "AA"), (1.25, 1.5, "M")])
    with pytest.raises(AlignmentError, match="silence"):  # words over the silence, the pause short
        check_alignment(audio, [(0.0, 0.5, "AA"), (0.5, 0.7, "SIL"), (0.7, 1.5, "M")])
