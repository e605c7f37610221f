"""Voices by name (`engine:voice`) and one synthesize() for all engines: 16 kHz audio and
ARPAbet phones that cover it.

    espeak:en-us+m3    espeak-ng voice + variant (many languages; `espeak-ng --voices`)
    flite:slt          flite's built-in US English voices
    festival:kal_diphone  festival's installed voices (diphone and HTS)
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from bridge.audio import SAMPLE_RATE, resample
from retarget.errors import InputError

from . import espeak, festival, flite
from .phones import Phone

ENGINES = ("espeak", "flite", "festival")

# The default cast: every flite and festival voice (festival's in six languages), and espeak-ng's
# accents of English and the languages with a sentence set, each with a male and a female variant.
DEFAULT_VOICES = (
    "espeak:en-us+m3",
    "espeak:en-us+f2",
    "espeak:en+m1",
    "espeak:en+f3",
    "espeak:en-gb-x-rp+m7",
    "espeak:en-gb-scotland+f4",
    "espeak:en-029+m2",
    "espeak:en-us-nyc+f1",
    "espeak:de+m2",
    "espeak:de+f2",
    "espeak:fr+m4",
    "espeak:fr+f3",
    "espeak:es+m5",
    "espeak:es+f4",
    "espeak:it+m6",
    "espeak:it+f5",
    "espeak:ru+m1",
    "espeak:ru+f2",
    "espeak:pt+m3",
    "espeak:pt+f1",
    "espeak:nl+m2",
    "espeak:nl+f3",
    "flite:slt",
    "flite:rms",
    "flite:awb",
    "flite:kal16",
    "festival:kal_diphone",
    "festival:ked_diphone",
    "festival:cmu_us_slt_arctic_hts",
    "festival:lp_diphone",
    "festival:pc_diphone",
    "festival:msu_ru_nsh_clunits",
    "festival:czech_dita",
    "festival:czech_krb",
    "festival:czech_machac",
    "festival:czech_ph",
    "festival:suo_fi_lj_diphone",
    "festival:hy_fi_mv_diphone",
    "festival:upc_ca_ona_hts",
)


class Voice(NamedTuple):
    engine: str
    name: str

    def __str__(self) -> str:
        return f"{self.engine}:{self.name}"

    @property
    def language(self) -> str:
        """The language code of the sentences this voice reads (flite's are English)."""
        if self.engine == "festival":
            return festival.VOICES[self.name].language
        if self.engine != "espeak":
            return "en"
        return self.name.split("+")[0].split("-")[0].lower()

    @property
    def slug(self) -> str:
        """The voice in a form fit for file names: espeak-en-us-m3."""
        return f"{self.engine}-{self.name}".replace("+", "-").replace(":", "-").replace("/", "-")


def parse_voice(spec: str) -> Voice:
    engine, sep, name = spec.partition(":")
    if not sep or engine not in ENGINES or not name:
        raise InputError(f"voice {spec!r} is not ENGINE:NAME with ENGINE one of {', '.join(ENGINES)} (e.g. flite:slt)")
    if engine == "festival" and name not in festival.VOICES:
        raise InputError(f"festival voice {name!r} is not known; known: {', '.join(festival.VOICES)}")
    return Voice(engine, name)


def available(voice: Voice) -> bool:
    """Whether the voice's synthesiser (and, for festival, the voice itself) is installed."""
    if voice.engine == "espeak":
        return espeak.available()
    if voice.engine == "flite":
        return flite.available()
    return festival.available(voice.name)


class Synthesis(NamedTuple):
    audio: np.ndarray  # float32, 16 kHz mono
    phones: list[Phone]  # ARPAbet + SIL, contiguous from 0 to the audio's end


def synthesize(voice: Voice, text: str, rate: float = 1.0) -> Synthesis:
    """`text` spoken by `voice` at `rate` times its normal speed, resampled to 16 kHz."""
    if voice.engine == "espeak":
        engine = espeak.engine()
        audio, phones = engine.synthesize(text, voice.name, rate)
        sample_rate = engine.rate
    elif voice.engine == "flite":
        audio, sample_rate, phones = flite.synthesize(text, voice.name, rate)
    else:
        audio, sample_rate, phones = festival.synthesize(text, voice.name, rate)
    audio = resample(audio, sample_rate, SAMPLE_RATE)
    duration = len(audio) / SAMPLE_RATE
    # Resampling rounds the length by under a sample; keep the last phone on the audio's end.
    if phones:
        phones[-1] = phones[-1]._replace(end=duration)
    return Synthesis(audio, phones)
