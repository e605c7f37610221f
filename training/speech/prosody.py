"""Emotional prosody for synthetic voices: the settings per emotion (data/emotion_prosody.tsv)
and their application to a waveform with the WORLD vocoder (pyworld).

Rate is not applied here: each synthesiser applies it with its own duration model, so
its phone times follow (see voices.synthesize). Everything else is applied here, the
same way for every engine, in calibrated units (semitones, dB), which the synthesisers'
own pitch knobs are not. The WORLD analysis/resynthesis keeps the sample count, so the
phone times stay valid.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from functools import cache
from importlib import resources

import numpy as np

from retarget.errors import InputError
from training.emotions import EMOTIONS

FRAME_MS = 5.0
F0_FLOOR, F0_CEIL = 60.0, 500.0  # search range of the pitch tracker, Hz
F0_LIMITS = (50.0, 700.0)  # where a modified F0 is clamped
TREMOR_HZ = 5.5
REFERENCE_DBFS = -23.0  # active-speech level every clip is brought to before its emotion's gain
PEAK_LIMIT = 0.97


@dataclass(frozen=True)
class Prosody:
    rate: float = 1.0
    pitch_st: float = 0.0
    range: float = 1.0
    loudness_db: float = 0.0
    tilt_db: float = 0.0
    breathiness: float = 0.0
    tremor_st: float = 0.0

    def scaled(self, intensity: float) -> Prosody:
        """The settings at an intensity: multipliers on a log scale, the rest linearly, from neutral."""
        i = float(intensity)
        return Prosody(
            rate=self.rate**i,
            pitch_st=self.pitch_st * i,
            range=self.range**i,
            loudness_db=self.loudness_db * i,
            tilt_db=self.tilt_db * i,
            breathiness=self.breathiness * i,
            tremor_st=self.tremor_st * i,
        )


@cache
def prosody_table() -> dict[str, Prosody]:
    """data/emotion_prosody.tsv, one Prosody per emotion in EMOTIONS."""
    name = "emotion_prosody.tsv"
    text = resources.files("training").joinpath("data", name).read_text("utf-8")
    rows = [line.split("\t") for line in text.splitlines() if line.strip() and not line.startswith("#")]
    header, table = rows[0], {}
    expected = ["emotion"] + [f.name for f in fields(Prosody)]
    if header != expected:
        raise InputError(f"header must be {expected}", path=name, row=1)
    for row, cells in enumerate(rows[1:], start=2):
        try:
            table[cells[0]] = Prosody(*(float(c) for c in cells[1:]))
        except (TypeError, ValueError):
            raise InputError("expected an emotion and seven numbers", path=name, row=row) from None
    missing = [e for e in EMOTIONS if e not in table]
    if missing:
        raise InputError(f"no row for {', '.join(missing)}", path=name)
    return table


def emotion_prosody(emotion: str, intensity: float = 1.0) -> Prosody:
    return prosody_table()[emotion].scaled(intensity)


def _active_rms(x: np.ndarray, rate: int) -> float:
    """RMS over the louder 20 ms frames (those within 30 dB of the loudest): speech, not pauses."""
    n = max(1, rate // 50)
    frames = x[: len(x) // n * n].reshape(-1, n) if len(x) >= n else x.reshape(1, -1)
    power = (frames.astype(np.float64) ** 2).mean(axis=1)
    if power.max() <= 0:
        return 0.0
    return float(np.sqrt(power[power >= power.max() * 1e-3].mean()))


def apply_prosody(audio: np.ndarray, rate: int, prosody: Prosody) -> np.ndarray:
    """The waveform with `prosody`'s pitch, range, tremor, tilt and breathiness (WORLD), then
    brought to REFERENCE_DBFS + loudness_db; same length, float32."""
    try:
        import pyworld
    except ImportError:
        raise InputError("emotional prosody needs pyworld: pip install 'emorig[corpus]'") from None

    x = np.asarray(audio, dtype=np.float64)
    if len(x) < rate // 10:  # too short for WORLD's analysis windows: level only
        y = x
    else:
        f0, t = pyworld.dio(x, rate, f0_floor=F0_FLOOR, f0_ceil=F0_CEIL, frame_period=FRAME_MS)
        f0 = pyworld.stonemask(x, f0, t, rate)
        sp = pyworld.cheaptrick(x, f0, t, rate)
        ap = pyworld.d4c(x, f0, t, rate)

        voiced = f0 > 0
        if voiced.any():
            log_f0 = np.log(np.where(voiced, f0, 1.0))
            centre = log_f0[voiced].mean()
            semitone = math.log(2) / 12
            shaped = centre + prosody.pitch_st * semitone + prosody.range * (log_f0 - centre)
            shaped += prosody.tremor_st * semitone * np.sin(2 * np.pi * TREMOR_HZ * t)
            f0 = np.where(voiced, np.clip(np.exp(shaped), *F0_LIMITS), 0.0)

        freqs = np.linspace(0, rate / 2, sp.shape[1])
        if prosody.tilt_db:
            gain_db = prosody.tilt_db * np.log2(np.maximum(freqs, 125.0) / 1000.0)
            sp = sp * 10 ** (gain_db / 10)[None, :]  # sp is a power spectrum
        if prosody.breathiness:
            # Breath noise lives mostly above 1 kHz; below, keep most of the harmonics.
            weight = np.clip(freqs / 4000.0, 0.3, 1.0)[None, :]
            ap = np.clip(ap + prosody.breathiness * weight * (1 - ap), 0.0, 1.0)
        y = pyworld.synthesize(f0, sp, ap, rate, FRAME_MS)
        y = np.pad(y, (0, max(0, len(x) - len(y))))[: len(x)]

    level = _active_rms(y, rate)
    if level > 0:
        y = y * (10 ** ((REFERENCE_DBFS + prosody.loudness_db) / 20) / level)
    peak = float(np.abs(y).max()) if len(y) else 0.0
    if peak > PEAK_LIMIT:  # keep the clip unclipped; the loudest emotions lose a little level
        y = y * (PEAK_LIMIT / peak)
    return y.astype(np.float32)
