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


# -- noise floors: what a real room and microphone add around and under speech -------------------------
# Levels are absolute (dBFS RMS), not relative to the speech: a face at rest must stay at rest in
# a quiet studio's -70 dBFS hiss and in a laptop's -35 dBFS fan alike.
NOISE_KINDS = ("white", "pink", "brown", "hum", "fan", "keyboard")


def hum(n: int, rng: np.random.Generator, rate: int = SAMPLE_RATE) -> np.ndarray:
    """Mains hum: 50 or 60 Hz and its harmonics (odd ones stronger, as from a transformer)."""
    f0 = float(rng.choice([50.0, 60.0])) * rng.uniform(0.995, 1.005)
    t = np.arange(n) / rate
    out = np.zeros(n)
    for k in range(1, 12):
        amplitude = rng.uniform(0.2, 1.0) / k ** (0.7 if k % 2 else 1.3)
        out += amplitude * np.sin(2 * np.pi * f0 * k * t + rng.uniform(0, 2 * np.pi))
    return out


def fan(n: int, rng: np.random.Generator, rate: int = SAMPLE_RATE) -> np.ndarray:
    """A fan or air conditioner: low-heavy broadband noise, a slow wobble and a blade tone."""
    t = np.arange(n) / rate
    body = coloured_noise(n, rng, "brown") + 0.3 * coloured_noise(n, rng, "pink")
    body = body / (np.std(body) or 1.0)
    wobble = 1 + 0.15 * np.sin(2 * np.pi * rng.uniform(0.2, 2.0) * t + rng.uniform(0, 2 * np.pi))
    tone = 0.3 * np.sin(2 * np.pi * rng.uniform(80, 400) * t)
    return body * wobble + tone


def keyboard(n: int, rng: np.random.Generator, rate: int = SAMPLE_RATE) -> np.ndarray:
    """Typing: short clicks (decaying bursts of bright noise) at 3-10 keys per second."""
    out = np.zeros(n)
    click_len = int(0.012 * rate)
    envelope = np.exp(-np.arange(click_len) / (0.002 * rate))
    t = float(rng.exponential(0.15))
    per_second = rng.uniform(3, 10)
    while t * rate < n - click_len:
        i = int(t * rate)
        burst = np.diff(rng.standard_normal(click_len + 1)) * envelope  # differenced: bright
        out[i : i + click_len] += burst * rng.uniform(0.3, 1.0)
        t += float(rng.exponential(1 / per_second)) + 0.03
    return out


def noise_of_kind(kind: str, n: int, rng: np.random.Generator, rate: int = SAMPLE_RATE) -> np.ndarray:
    if kind == "hum":
        return hum(n, rng, rate)
    if kind == "fan":
        return fan(n, rng, rate)
    if kind == "keyboard":
        return keyboard(n, rng, rate)
    return coloured_noise(n, rng, kind)


def add_floor(
    audio: np.ndarray, dbfs: float, rng: np.random.Generator, kind: str = "pink", rate: int = SAMPLE_RATE
) -> np.ndarray:
    """Noise of `kind` (NOISE_KINDS) mixed in at an absolute level: `dbfs` RMS over the clip
    (keyboard: over its clicks, which is how loud typing sounds)."""
    x = np.asarray(audio, np.float32)
    noise = noise_of_kind(kind, len(x), rng, rate)
    active = noise[np.abs(noise) > 0] if kind == "keyboard" else noise
    rms = math.sqrt(_power(active)) if len(active) else 0.0
    if rms == 0:
        return x.copy()
    return (x + noise * (10 ** (dbfs / 20) / rms)).astype(np.float32)


# -- channels: telephone and VoIP codecs ---------------------------------------------------------------


def mu_law(audio: np.ndarray, bits: int = 8) -> np.ndarray:
    """G.711 mu-law quantisation (encode + decode)."""
    mu = 2**bits - 1
    x = np.clip(np.asarray(audio, np.float64), -1, 1)
    y = np.sign(x) * np.log1p(mu * np.abs(x)) / np.log1p(mu)
    y = np.round((y + 1) / 2 * mu) / mu * 2 - 1
    return (np.sign(y) * ((1 + mu) ** np.abs(y) - 1) / mu).astype(np.float32)


def telephone(audio: np.ndarray, rate: int = SAMPLE_RATE) -> np.ndarray:
    """A narrow-band phone line, as the 8 kHz GSM/G.711 prompts were: 300-3400 Hz, 8 kHz
    sampling and 8-bit mu-law, back at `rate`. Zero-phase: nothing moves in time."""
    x = band_limit(audio, 300.0, 3400.0, rate)
    narrow = resample_poly(x.astype(np.float64), 1, rate // 8000) if rate % 8000 == 0 else x
    narrow = mu_law(narrow)
    y = resample_poly(narrow.astype(np.float64), rate // 8000, 1) if rate % 8000 == 0 else narrow
    return np.asarray(y[: len(x)], np.float32)


def _realign(original: np.ndarray, coded: np.ndarray, max_shift: int) -> np.ndarray:
    """`coded` shifted so it lines up with `original` (a codec's delay removed), same length."""
    n = len(original)
    if n == 0:
        return original.copy()
    a = np.asarray(original, np.float64)
    b = np.concatenate([np.asarray(coded, np.float64), np.zeros(max_shift + n)])[: n + max_shift]
    corr = fftconvolve(b, a[::-1], mode="valid")  # corr[k] = sum a[i] b[i + k]
    shift = int(np.argmax(corr[: max_shift + 1]))
    return b[shift : shift + n].astype(np.float32)


def opus_round_trip(audio: np.ndarray, bitrate: int = 16000, rate: int = SAMPLE_RATE) -> np.ndarray:
    """Encode with Opus (a VoIP call at `bitrate` bit/s) and decode again, delay removed (PyAV)."""
    import av

    x = np.clip(np.asarray(audio, np.float32), -1, 1)
    codec = av.CodecContext.create("libopus", "w")
    codec.sample_rate, codec.layout, codec.format, codec.bit_rate = rate, "mono", "s16", bitrate
    codec.open()
    decoder = av.CodecContext.create("libopus", "r")
    decoder.sample_rate, decoder.layout = rate, "mono"
    pcm = (np.concatenate([x, np.zeros(rate // 10, np.float32)]) * 32767).astype(np.int16)
    frame_len = rate // 50  # 20 ms frames
    pcm = np.concatenate([pcm, np.zeros((-len(pcm)) % frame_len, np.int16)])
    out, out_rate = [], rate
    packets = []
    for i in range(0, len(pcm), frame_len):
        frame = av.AudioFrame.from_ndarray(pcm[None, i : i + frame_len], format="s16", layout="mono")
        frame.sample_rate, frame.pts = rate, i
        packets.extend(codec.encode(frame))
    packets.extend(codec.encode(None))
    for packet in packets:
        for f in decoder.decode(packet):  # libopus decodes at 48 kHz whatever it was given
            out_rate = f.sample_rate
            out.append(f.to_ndarray().astype(np.float64).ravel() / 32768.0)
    y = np.concatenate(out) if out else np.zeros(0)
    if out_rate != rate:
        up, down = resample_ratio(out_rate, rate)
        y = resample_poly(y, up, down)
    return _realign(x, y, rate // 20)


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


# -- the training variants (`emorig train --augment K`) ------------------------------------------------

VARIANT_VERSION = 1  # bump when training_variant changes, so cached variants are recomputed
CHANNELS = ("clean", "telephone", "g722", "opus", "lowpass")


@dataclass(frozen=True)
class VariantSettings:
    """How `training_variant` makes a clip sound like another speaker in another room on another
    line. Defaults from what users record on: studio to laptop, headset to phone call."""

    p_speed: float = 0.5  # tape-style speed: pitch, formants (vocal tract length) and rate together
    speed_range: tuple[float, float] = (0.88, 1.12)
    p_reverb: float = 0.35
    rt60_range: tuple[float, float] = (0.15, 0.7)
    channel_weights: tuple[float, ...] = (0.35, 0.2, 0.2, 0.15, 0.1)  # CHANNELS
    floor_dbfs: tuple[float, float] = (-70.0, -35.0)  # always a noise floor: no recording is silent
    p_busy: float = 0.15  # a second, louder noise at an SNR (a café, a street)
    busy_snr: tuple[float, float] = (10.0, 30.0)


def training_variant(
    audio: np.ndarray, rng: np.random.Generator, settings: VariantSettings | None = None, rate: int = SAMPLE_RATE
) -> tuple[np.ndarray, dict]:
    """One augmented copy of a training clip in a fixed, physical order (speaker, room, line,
    noise); returns (audio, {step: parameter}). `applied["speed"]` (when present) is the factor
    the clip's timings shrink by: its targets must be resampled to the new length."""
    s = settings or VariantSettings()
    x = np.asarray(audio, np.float32)
    applied: dict = {}
    if rng.random() < s.p_speed:
        applied["speed"] = float(rng.uniform(*s.speed_range))
        x, _ = speed(x, applied["speed"], rate)
    if rng.random() < s.p_reverb:
        applied["rt60"] = float(rng.uniform(*s.rt60_range))
        x = reverb(x, applied["rt60"], rng, rate, direct=float(rng.uniform(0.5, 2.0)))
    weights = np.asarray(s.channel_weights, float)
    channel = CHANNELS[int(rng.choice(len(CHANNELS), p=weights / weights.sum()))]
    applied["channel"] = channel
    if channel == "telephone":
        x = telephone(x, rate)
    elif channel == "g722":
        x = g722_round_trip(x)
    elif channel == "opus":
        applied["opus_bitrate"] = int(rng.choice([8000, 12000, 16000, 24000]))
        x = opus_round_trip(x, applied["opus_bitrate"], rate)
    elif channel == "lowpass":  # a cheap microphone or an 8 kHz recording played back at 16 kHz
        applied["lowpass_hz"] = float(rng.uniform(3500, 7000))
        x = band_limit(x, None, applied["lowpass_hz"], rate)
    kind = str(rng.choice(NOISE_KINDS))
    applied["floor"] = (kind, float(rng.uniform(*s.floor_dbfs)))
    x = add_floor(x, applied["floor"][1], rng, kind, rate)
    if rng.random() < s.p_busy:
        busy = str(rng.choice(("pink", "brown", "fan")))
        applied["busy"] = (busy, float(rng.uniform(*s.busy_snr)))
        x = add_noise(x, applied["busy"][1], rng, noise=noise_of_kind(busy, len(x), rng, rate))
    return np.clip(x, -1, 1).astype(np.float32), applied
