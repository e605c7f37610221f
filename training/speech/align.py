"""Forced alignment with pocketsphinx: audio + its transcript -> ARPAbet phone timings.

pocketsphinx's wheel bundles a US English acoustic model and CMUdict. Words missing from
the dictionary are spelt in ARPAbet from espeak-ng's IPA (phone_maps/espeak_ipa.tsv) and
added to the decoder's dictionary ("162" is aligned as "one hundred and sixty two").
Another language's transcript is spelt by espeak-ng as a whole (so liaison and other
cross-word rules apply), so the English acoustic model aligns French or Russian speech
to its nearest English phones.

The beams are far wider than pocketsphinx's defaults: with the defaults, the first pass
lost the transcript's path on about half of some espeak-ng voices' sentences (en-us+m3);
with these, all of them align, at no measurable cost in time on short utterances.

Alignment runs in two passes, as pocketsphinx's own aligner does: a first pass decodes
the utterance against the transcript's word graph, the second aligns phones and states.
Times are quantised to the acoustic model's 10 ms frames.

An alignment that disagrees with the audio's own loudness is refused (check_alignment): the
English model on 8 kHz telephone prompts in other languages sometimes lays a pause over a
word and the word over the silence after it (73% of asterisk-prompt-fr-armelle's prompts,
19% of it-menardi's, 2% of the Russian and English core sounds); trained on, such a clip
teaches a shut mouth on speech.
"""

from __future__ import annotations

import hashlib
import re

import numpy as np

from bridge.audio import SAMPLE_RATE
from retarget.errors import InputError

from .phones import Phone, cover, map_phones, phone_map

FRAME_S = 0.01  # pocketsphinx's frame rate: 100 frames per second
PAD_S = 0.25  # near-silence added before and after the audio while aligning
_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")  # letters and digits, with inner apostrophes
# espeak-ng voice that spells each language's words; English uses the US voice to match the model.
SPELLING_VOICE = {"en": "en-us"}


# check_alignment's limits, measured on the corpus's real prompts (see the module notes).
PAUSE_MIN_S = 0.25  # pauses this long are checked, less PAUSE_EDGE_S at each end
PAUSE_EDGE_S = 0.08
PAUSE_LOUD_DB = 25.0  # "speech": the 20 ms level within this of the clip's loud frames (99th percentile)
PAUSE_LOUD_SHARE = 0.3  # a pause with more of its frames loud than this holds speech
DEAD_DB = 6.0  # "silence": the 20 ms level within this of the clip's floor (5th percentile)
DEAD_SHARE = 0.4  # phones with more of their frames silent than this (stop closures are silent too)


class AlignmentError(RuntimeError):
    """The audio could not be aligned to the transcript (wrong transcript, no speech, ...)."""


def level_db(audio: np.ndarray) -> np.ndarray:
    """20 ms RMS level in dB every 10 ms (frame i centred near (i + 1) * 10 ms)."""
    x = np.asarray(audio, np.float64)
    hop = SAMPLE_RATE // 100
    if len(x) < 2 * hop:
        x = np.pad(x, (0, 2 * hop - len(x)))
    frames = np.lib.stride_tricks.sliding_window_view(x, 2 * hop)[::hop]
    return 10 * np.log10((frames**2).mean(1) + 1e-12)


def check_alignment(audio: np.ndarray, phones) -> None:
    """AlignmentError when the phones contradict the audio's level: a pause that holds speech,
    or speech phones that lie mostly on the recording's silence."""
    db = level_db(audio)
    loud, floor = np.percentile(db, 99), np.percentile(db, 5)
    t = (np.arange(len(db)) + 1) * FRAME_S
    dead = []
    for p in phones:
        start, end, name = float(p[0]), float(p[1]), p[2]
        if name == "SIL":
            if end - start < PAUSE_MIN_S:
                continue
            core = (t >= start + PAUSE_EDGE_S) & (t <= end - PAUSE_EDGE_S)
            if core.any() and np.mean(db[core] > loud - PAUSE_LOUD_DB) > PAUSE_LOUD_SHARE:
                raise AlignmentError(f"the alignment puts a pause over speech at {start:.2f}-{end:.2f} s")
        else:
            dead.append(db[(t >= start) & (t <= end)] < floor + DEAD_DB)
    if dead and np.concatenate(dead).mean() > DEAD_SHARE:
        raise AlignmentError("the alignment lays the words over the recording's silence")


def words(text: str) -> list[str]:
    """The transcript's words, lower case, punctuation removed."""
    return [w.replace("’", "'") for w in _WORD.findall(text.lower())]


class Aligner:
    """One pocketsphinx decoder, reused across utterances (loading the model takes ~0.5 s)."""

    def __init__(self):
        try:
            from pocketsphinx import Decoder
        except ImportError:
            raise InputError("forced alignment needs pocketsphinx: pip install 'emorig[corpus]'") from None
        self.decoder = Decoder(
            samprate=SAMPLE_RATE, bestpath=False, loglevel="FATAL", beam=1e-120, wbeam=1e-100, pbeam=1e-120
        )

    def _entry(self, phones: list[str]) -> str:
        """A dictionary word pronounced `phones`, added on first use. The name is ASCII and our own,
        so it never clashes with a CMUdict word."""
        name = "emorig_" + hashlib.sha1(" ".join(phones).encode()).hexdigest()[:12]
        if self.decoder.lookup_word(name) is None:
            # update=False: set_align_text builds a new search from the dictionary anyway,
            # and rebuilding the current one per word made alignment ten times slower.
            self.decoder.add_word(name, " ".join(phones), False)
        return name

    def _spell(self, text: str, language: str) -> list[list[str]]:
        """espeak-ng's pronunciation of `text`, one ARPAbet list per spoken word."""
        from . import espeak

        if not espeak.available():
            raise AlignmentError(f"cannot spell {text!r}: espeak-ng is not installed")
        voice = SPELLING_VOICE.get(language, language)
        try:
            spelt = [espeak.word_arpabet(w) for w in espeak.engine().ipa_words(text, voice)]
        except (KeyError, ValueError) as e:
            raise AlignmentError(f"cannot spell {text!r} in ARPAbet ({e})") from None
        return [phones for phones in spelt if phones]

    def dictionary_words(self, text: str, language: str = "en") -> list[str]:
        """Transcript -> the decoder's dictionary words: CMUdict's for English words it has,
        espeak-ng's spelling for the rest (a whole non-English transcript at once)."""
        if language != "en":
            return [self._entry(phones) for phones in self._spell(text, language)]
        out = []
        for word in words(text):
            if self.decoder.lookup_word(word) is not None:
                out.append(word)
            else:
                out.extend(self._entry(phones) for phones in self._spell(word, language))
        return out

    def align(self, audio: np.ndarray, text: str, language: str = "en") -> list[Phone]:
        """Phones covering `audio` (16 kHz mono float) as spoken from `text`."""
        entries = self.dictionary_words(text, language)
        if not entries:
            raise AlignmentError("the transcript has no words")
        # Trimmed recordings (the Asterisk prompts start within 0.1 s) left no room for the
        # leading silence, and the first phone swallowed it; padding with near-silence (faint
        # fixed noise: digital zeros upset the log spectrum) gives the model its silence.
        pad = (np.random.default_rng(0).standard_normal(int(PAD_S * SAMPLE_RATE)) * 1e-4).astype(np.float32)
        padded = np.concatenate([pad, np.asarray(audio, np.float32), pad])
        pcm = (np.clip(padded, -1, 1) * 32767).astype("<i2").tobytes()
        d = self.decoder
        try:
            d.set_align_text(" ".join(entries))
            d.start_utt()
            d.process_raw(pcm, full_utt=True)
            d.end_utt()
            d.set_alignment()
            d.start_utt()
            d.process_raw(pcm, full_utt=True)
            d.end_utt()
            alignment = d.get_alignment()
        except RuntimeError as e:
            raise AlignmentError(f"pocketsphinx could not align: {e}") from None
        segments = []
        if alignment is not None:
            for word in alignment:
                for phone in word:
                    start = phone.start * FRAME_S - PAD_S
                    segments.append((start, start + phone.duration * FRAME_S, phone.name))
        if not any(name not in ("SIL", "+NSN+", "+SPN+") for *_, name in segments):
            raise AlignmentError("pocketsphinx found no alignment of the transcript in the audio")
        phones = cover(map_phones(segments, phone_map("pocketsphinx_en_us"), "pocketsphinx"), len(audio) / SAMPLE_RATE)
        check_alignment(audio, phones)
        return phones


def onset_errors(reference: list[Phone], aligned: list[Phone]) -> np.ndarray:
    """Onset time differences (aligned - reference, seconds) over the phones both sequences
    share, matched in order (difflib), silences left out: a measure of alignment accuracy."""
    import difflib

    ref = [p for p in reference if p.phone != "SIL"]
    ali = [p for p in aligned if p.phone != "SIL"]
    matcher = difflib.SequenceMatcher(a=[p.phone for p in ref], b=[p.phone for p in ali], autojunk=False)
    pairs = [(ref[m.a + k], ali[m.b + k]) for m in matcher.get_matching_blocks() for k in range(m.size)]
    return np.array([a.start - r.start for r, a in pairs], dtype=np.float64)


def main(argv=None) -> int:
    """`python -m training.speech.align [--sentences N] [VOICE ...]`: the aligner's phone onsets
    against each synthesiser's own timings, on the English sentence set (docs/data.md)."""
    import argparse

    from .sentences import sentences
    from .voices import available, parse_voice, synthesize

    parser = argparse.ArgumentParser(prog="python -m training.speech.align", description=main.__doc__)
    parser.add_argument("voices", nargs="*", default=["flite:slt", "flite:awb", "flite:rms", "flite:kal16"])
    parser.add_argument(
        "--sentences", type=int, default=20, help="every n-th of the English set, n chosen for this many"
    )
    args = parser.parse_args(argv)
    english = sentences("en")
    chosen = english[:: max(1, len(english) // args.sentences)][: args.sentences]
    aligner = Aligner()
    for spec in args.voices:
        voice = parse_voice(spec)
        if not available(voice):
            print(f"{spec}: not installed")
            continue
        errors = []
        for s in chosen:
            synthesis = synthesize(voice, s.text)
            errors.append(onset_errors(synthesis.phones, aligner.align(synthesis.audio, s.text)))
        e = np.concatenate(errors) * 1000
        print(
            f"{spec:32s} {len(e):5d} phones  mean |error| {np.abs(e).mean():5.1f} ms  "
            f"median error {np.median(e):+5.1f} ms  90% within {np.percentile(np.abs(e), 90):5.1f} ms"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
