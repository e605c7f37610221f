"""Training-time audio augmentation: pure numpy/scipy functions of (audio, settings, rng).

Each function takes 16 kHz mono float audio and returns new audio of the same length,
except `speed`, which changes the length and returns the phone times scaled with it.
Randomness comes only from the `rng` argument (numpy Generator), so a seed reproduces
an augmented clip. `augment` chains them with probabilities, for a training loop:

    rng = np.random.default_rng(seed)
    audio, phones, applied = augment(audio, rng, AugmentSettings(), phones)

Filters are zero-phase and the G.722 round trip is delay-compensated, so nothing but
`speed` moves the speech in time: phone timings stay valid.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.signal import butter, fftconvolve, resample_poly, sosfiltfilt

from bridge.audio import SAMPLE_RATE, resample_ratio
from training.speech.phones import Phone, scale

G722_DELAY = 22  # samples the G.722 encoder + decoder (QMF banks) delay the signal at 16 kHz


def _power(x: np.ndarray) -> float:
    return float(np.mean(np.square(x, dtype=np.float64))) if len(x) else 0.0


def gain(audio: np.ndarray, db: float) -> np.ndarray:
    return (np.asarray(audio, np.float32) * np.float32(10 ** (db / 20))).astype(np.float32)


def coloured_noise(n: int, rng: np.random.Generator, colour: str = "white") -> np.ndarray:
    """Gaussian noise with power falling as 1/f**k: white k=0, pink k=1, brown k=2."""
    exponent = {"white": 0.0, "pink": 1.0, "brown": 2.0}[colour]
    white = rng.standard_normal(n)
    if exponent == 0 or n < 2:
        return white
    spectrum = np.fft.rfft(white)
    f = np.fft.rfftfreq(n)
    f[0] = f[1]  # no infinite DC
    return np.fft.irfft(spectrum / f ** (exponent / 2), n)


def add_noise(
    audio: np.ndarray,
    snr_db: float,
    rng: np.random.Generator,
    colour: str = "white",
    noise: np.ndarray | None = None,
) -> np.ndarray:
    """Noise mixed in at `snr_db`: the ratio of the clip's mean power to the noise's mean
    power over the same samples. `noise` (a recording, looped or cut at a random offset)
    replaces the generated `colour` noise."""
    x = np.asarray(audio, np.float32)
    n = len(x)
    if noise is not None:
        noise = np.asarray(noise, np.float64)
        reps = math.ceil((n + len(noise)) / max(len(noise), 1))
        start = int(rng.integers(0, max(len(noise), 1)))
        noise = np.tile(noise, reps)[start : start + n]
    else:
        noise = coloured_noise(n, rng, colour)
    p_signal, p_noise = _power(x), _power(noise)
    if p_signal == 0 or p_noise == 0:
        return x.copy()
    noise = noise * math.sqrt(p_signal / (p_noise * 10 ** (snr_db / 10)))
    return (x + noise).astype(np.float32)


def room_impulse(rt60: float, rng: np.random.Generator, rate: int = SAMPLE_RATE, direct: float = 1.0) -> np.ndarray:
    """A synthetic room: a direct path, then exponentially decaying noise reaching -60 dB
    after `rt60` seconds (the reverberation time), with early reflections from ~2 ms."""
    n = max(2, int(rt60 * rate))
    t = np.arange(n) / rate
    tail = rng.standard_normal(n) * np.exp(-6.9078 * t / rt60)  # ln(1000) = 6.9078: 60 dB in amplitude
    tail[: int(0.002 * rate)] = 0.0
    tail /= np.sqrt(np.sum(tail**2)) or 1.0
    h = tail
    h[0] = direct
    return h


def reverb(
    audio: np.ndarray, rt60: float, rng: np.random.Generator, rate: int = SAMPLE_RATE, direct: float = 1.0
) -> np.ndarray:
    """The clip in a synthetic room (room_impulse), same length, same mean power. The direct
    path comes first, so the speech keeps its timing."""
    x = np.asarray(audio, np.float32)
    if len(x) == 0:
        return x.copy()
    y = fftconvolve(x.astype(np.float64), room_impulse(rt60, rng, rate, direct))[: len(x)]
    p_in, p_out = _power(x), _power(y)
    if p_out > 0:
        y *= math.sqrt(p_in / p_out)
    return y.astype(np.float32)


def band_limit(
    audio: np.ndarray, low: float | None = 300.0, high: float | None = 3400.0, rate: int = SAMPLE_RATE, order: int = 10
) -> np.ndarray:
    """Butterworth band-pass (the telephone band by default), run forwards and backwards so
    that it shifts nothing in time. low=None: low-pass only; high=None: high-pass only."""
    x = np.asarray(audio, np.float32)
    nyquist = rate / 2
    if low and high:
        sos = butter(order, [low / nyquist, high / nyquist], btype="bandpass", output="sos")
    elif high:
        sos = butter(order, high / nyquist, btype="lowpass", output="sos")
    elif low:
        sos = butter(order, low / nyquist, btype="highpass", output="sos")
    else:
        return x.copy()
    if len(x) <= 3 * (2 * order + 1):  # too short for filtfilt's padding
        return x.copy()
    return sosfiltfilt(sos, x.astype(np.float64)).astype(np.float32)


def g722_round_trip(audio: np.ndarray) -> np.ndarray:
    """Encode to G.722 (64 kbit/s) and decode again, as the real Asterisk prompts were; the
    codec's delay is taken out. Needs PyPI's g722 package."""
    from training.speech.asterisk import decode_g722_bytes, encode_g722

    x = np.asarray(audio, np.float32)
    padded = np.concatenate([x, np.zeros(G722_DELAY, np.float32)])
    y = decode_g722_bytes(encode_g722(padded))
    return y[G722_DELAY : G722_DELAY + len(x)].astype(np.float32)


def speed(
    audio: np.ndarray, factor: float, rate: int = SAMPLE_RATE, phones: list[Phone] | None = None
) -> tuple[np.ndarray, list[Phone] | None]:
    """Played `factor` times as fast (pitch rises with it, as on tape): resampled to
    len/factor samples; phone times divided by factor."""
    x = np.asarray(audio, np.float32)
    if factor <= 0 or not math.isfinite(factor):
        raise ValueError(f"speed factor must be positive, got {factor}")
    if factor == 1.0 or len(x) == 0:
        return x.copy(), (list(phones) if phones is not None else None)
    # Resampling from rate*factor to rate leaves len/factor samples: the same audio, faster.
    up, down = resample_ratio(int(round(rate * factor)), rate)
    y = resample_poly(x, up, down).astype(np.float32)
    if phones is not None:
        phones = scale(phones, len(y) / len(x))  # the ratio resample_poly gave, length rounded
        if phones:
            phones[-1] = phones[-1]._replace(end=len(y) / rate)
    return y, phones


@dataclass(frozen=True)
class AugmentSettings:
    """What `augment` may do: each step's probability and the range it draws from."""

    p_speed: float = 0.5
    speed_range: tuple[float, float] = (0.9, 1.1)
    p_reverb: float = 0.3
    rt60_range: tuple[float, float] = (0.15, 0.8)
    p_band: float = 0.2  # telephone band
    p_g722: float = 0.3  # codec round trip (what the real prompts went through)
    p_noise: float = 0.5
    snr_range: tuple[float, float] = (5.0, 35.0)
    noise_colours: tuple[str, ...] = ("white", "pink", "brown")
    p_gain: float = 0.5
    gain_range: tuple[float, float] = (-12.0, 6.0)


def augment(
    audio: np.ndarray,
    rng: np.random.Generator,
    settings: AugmentSettings | None = None,
    phones: list[Phone] | None = None,
    rate: int = SAMPLE_RATE,
) -> tuple[np.ndarray, list[Phone] | None, dict]:
    """A random chain in a fixed, physical order (speaker speed, room, channel, codec, noise,
    level); returns (audio, phones, {step: parameter}) so a caller can log what was done."""
    s = settings or AugmentSettings()
    x = np.asarray(audio, np.float32)
    applied: dict = {}
    if rng.random() < s.p_speed:
        applied["speed"] = float(rng.uniform(*s.speed_range))
        x, phones = speed(x, applied["speed"], rate, phones)
    if rng.random() < s.p_reverb:
        applied["rt60"] = float(rng.uniform(*s.rt60_range))
        x = reverb(x, applied["rt60"], rng, rate)
    if rng.random() < s.p_band:
        applied["band"] = (300.0, 3400.0)
        x = band_limit(x, 300.0, 3400.0, rate)
    if rate == SAMPLE_RATE and rng.random() < s.p_g722:
        applied["g722"] = True
        x = g722_round_trip(x)
    if rng.random() < s.p_noise:
        colour = str(rng.choice(s.noise_colours))
        applied["noise"] = (colour, float(rng.uniform(*s.snr_range)))
        x = add_noise(x, applied["noise"][1], rng, colour)
    if rng.random() < s.p_gain:
        applied["gain_db"] = float(rng.uniform(*s.gain_range))
        x = gain(x, applied["gain_db"])
    return x, phones, applied
