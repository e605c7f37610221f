"""espeak-ng through libespeak-ng (ctypes): audio and phone timings from the same synthesis.

The phone timings come from the library's PHONEME events, requested with IPA names so
that one table (phone_maps/espeak_ipa.tsv) covers every language espeak-ng speaks. The
command line cannot give per-phone times, hence the library.

Timing correction: a stop's PHONEME event comes at about its release, 20-25 ms after its
closure has begun (the silent closure of /p/ /b/ sits before the event). Measured here
against pocketsphinx alignment, with flite as the aligner's calibration, per phone class:
stops -20 ms, every other class (affricates included) within 6 ms of flite's (docs/data.md).
So the onset of each stop moves CLOSURE_LEAD earlier, taking that time from the phone
before; nothing else moves.

libespeak-ng keeps one global state per process and is not thread-safe: use one Espeak
per process (the corpus builder gives each worker process its own).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading

import numpy as np

from .phones import Phone, cover, map_phones, phone_map

CLOSURE_LEAD = 0.020  # seconds by which a stop's event lags the start of its closure
CLOSURE_PHONES = frozenset("P B T D K G".split())
MIN_PHONE = 0.010  # the phone before a stop keeps at least this much
DEFAULT_WPM = 175  # espeak-ng's default speaking rate, words per minute

# espeak_ng/speak_lib.h
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_PHONEME_EVENTS = 0x0001
_INITIALIZE_PHONEME_IPA = 0x0002
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_EVENT_LIST_TERMINATED = 0
_EVENT_PHONEME = 7
_EVENT_END = 5  # end of a sentence/clause: the audio between clauses is a pause
_RATE = 1
_STRESS_MARKS = "ˈˌ"


class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", _EventId),
    ]


_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event))


def find_library() -> str | None:
    return ctypes.util.find_library("espeak-ng")


class Espeak:
    """A loaded libespeak-ng: `synthesize` returns (audio at `self.rate`, [(start, end, ipa)])."""

    _lock = threading.Lock()  # the library is global; serialise even accidental threaded use

    def __init__(self, library: str | None = None):
        path = library or find_library()
        if not path:
            raise RuntimeError("libespeak-ng is not installed (Debian: apt-get install espeak-ng)")
        self.lib = ctypes.CDLL(path)
        self.lib.espeak_Synth.argtypes = [
            ctypes.c_void_p,
            ctypes.c_size_t,
            ctypes.c_uint,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.c_uint,
            ctypes.c_void_p,
            ctypes.c_void_p,
        ]
        self.lib.espeak_TextToPhonemes.restype = ctypes.c_char_p
        self.lib.espeak_TextToPhonemes.argtypes = [ctypes.POINTER(ctypes.c_char_p), ctypes.c_int, ctypes.c_int]
        self.rate = self.lib.espeak_Initialize(
            _AUDIO_OUTPUT_SYNCHRONOUS, 0, None, _INITIALIZE_PHONEME_EVENTS | _INITIALIZE_PHONEME_IPA
        )
        if self.rate <= 0:
            raise RuntimeError("espeak_Initialize failed")
        self._chunks: list[np.ndarray] = []
        self._events: list[tuple[int, int, str]] = []
        self._callback = _CALLBACK(self._on_synth)  # keep a reference: the library holds the pointer
        self.lib.espeak_SetSynthCallback(self._callback)

    def _on_synth(self, wav, n, events) -> int:
        if n > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, (n,)).copy())
        i = 0
        while events[i].type != _EVENT_LIST_TERMINATED:
            e = events[i]
            if e.type == _EVENT_PHONEME:
                name = bytes(e.id.string).split(b"\0")[0].decode("utf-8", "replace")
                self._events.append((e.type, e.sample, name))
            elif e.type == _EVENT_END:
                self._events.append((e.type, e.sample, ""))
            i += 1
        return 0

    def set_voice(self, voice: str) -> None:
        if self.lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise ValueError(f"espeak-ng has no voice {voice!r} (see `espeak-ng --voices` and variants like en+m3)")

    def synthesize_raw(
        self, text: str, voice: str, rate: float = 1.0
    ) -> tuple[np.ndarray, list[tuple[float, float, str]]]:
        """Audio (float32 at self.rate) and IPA phone intervals (pauses left out), uncorrected."""
        with self._lock:
            self.set_voice(voice)
            self.lib.espeak_SetParameter(_RATE, int(round(DEFAULT_WPM * rate)), 0)
            self._chunks, self._events = [], []
            data = text.encode("utf-8") + b"\0"
            self.lib.espeak_Synth(data, len(data), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
            self.lib.espeak_Synchronize()
            chunks, events = self._chunks, self._events
        audio = (np.concatenate(chunks) if chunks else np.zeros(0, np.int16)).astype(np.float32) / 32768.0
        # Each phoneme lasts until the next event (the next phoneme, or the end of its clause).
        intervals = []
        for (kind, sample, name), (_, next_sample, _) in zip(events, events[1:] + [(0, len(audio), "")]):
            # A nameless phoneme event marks a pause: leave it out, `cover` turns the gap into SIL.
            # "(en)" and the like mark a switch of language, not a sound.
            if kind == _EVENT_PHONEME and name and not name.startswith("(") and next_sample > sample:
                intervals.append((sample / self.rate, next_sample / self.rate, name.strip(_STRESS_MARKS)))
        return audio, intervals

    def synthesize(self, text: str, voice: str, rate: float = 1.0) -> tuple[np.ndarray, list[Phone]]:
        """Audio at self.rate and ARPAbet phones covering it, stop closures corrected."""
        audio, intervals = self.synthesize_raw(text, voice, rate)
        table = phone_map("espeak_ipa")
        segments = [(s, e, known(p, table)) for s, e, p in intervals]
        phones = cover(map_phones(segments, table, f"espeak-ng {voice}"), len(audio) / self.rate)
        return audio, lead_closures(phones)

    def ipa_words(self, text: str, voice: str) -> list[str]:
        """espeak-ng's IPA for `text`, one string per word, phonemes separated by '_' (for a lexicon)."""
        with self._lock:
            self.set_voice(voice)
            data = ctypes.c_char_p(text.encode("utf-8"))
            pointer = ctypes.pointer(data)
            # phonememode: bit 1 = IPA; bits 8-23 = the character written between phonemes
            mode = 0x02 | (ord("_") << 8)
            words: list[str] = []
            while pointer.contents.value:
                clause = self.lib.espeak_TextToPhonemes(pointer, _CHARS_UTF8, mode)
                if clause:
                    words.extend(clause.decode("utf-8").split())
        return words


def lead_closures(phones: list[Phone], lead: float | None = None) -> list[Phone]:
    """Contiguous phones with each stop starting `lead` (default CLOSURE_LEAD) earlier, its
    closure, the phone before ending there; that phone keeps at least MIN_PHONE."""
    lead = CLOSURE_LEAD if lead is None else lead
    out = list(phones)
    for i in range(1, len(out)):
        if out[i].phone in CLOSURE_PHONES:
            start = max(out[i].start - lead, out[i - 1].start + MIN_PHONE)
            if start < out[i].start:
                out[i - 1] = out[i - 1]._replace(end=start)
                out[i] = out[i]._replace(start=start)
    return out


def known(symbol: str, table) -> str:
    """`symbol`, or the symbol without its length mark and/or palatalisation when only that is in
    the table (geminates like Italian tː and Russian soft consonants like rʲ arrive in lexicon lookups)."""
    for candidate in (
        symbol,
        symbol.replace("ː", ""),
        symbol.replace("ʲ", ""),
        symbol.replace("ː", "").replace("ʲ", ""),
    ):
        if candidate in table:
            return candidate
    return symbol


def word_arpabet(ipa_word: str) -> list[str]:
    """One word of `Espeak.ipa_words` output in ARPAbet (a pronunciation for the aligner's lexicon)."""
    table = phone_map("espeak_ipa")
    out: list[str] = []
    for symbol in ipa_word.split("_"):
        symbol = symbol.strip(_STRESS_MARKS)
        if symbol and not symbol.startswith("("):  # "(en)": a switch of language, not a sound
            out.extend(p for p in table[known(symbol, table)] if p != "SIL")
    return out


_ENGINE: Espeak | None = None


def engine() -> Espeak:
    """The process's Espeak, loaded on first use."""
    global _ENGINE
    if _ENGINE is None:
        _ENGINE = Espeak()
    return _ENGINE


def available() -> bool:
    return find_library() is not None
