"""Audio features for training, and a cache so that they are computed once per clip.

Front end (numpy/scipy only), every frame 10 ms, frame t centred on sample t * hop:
- `logmel` [T x 80]: natural log of the power in 80 mel bands (HTK mel scale, triangular
  filters of peak 1, 0-8 kHz) of a 25 ms Hann window, floored so that silence stays finite.
- `f0` [T]: pitch in Hz by YIN (de Cheveigné & Kawahara 2002), 0 where unvoiced.
- `periodicity` [T]: 1 - YIN's normalised difference at the chosen lag; near 1 for a clean
  voice, near 0 for noise. Useful as a soft voicing weight.
- `energy` [T]: log RMS of the 25 ms window, in dB (floored like logmel).

`FeatureCache(root)` keeps them on disk as `.npz`, keyed by the audio file's content hash
and the hash of the parameters, so a renamed file is a hit and an edited one a miss.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from retarget.errors import InputError
from retarget.fileio import atomic_output

FEATURES_VERSION = 1  # bump when the computation changes, so old cache entries are not used
FEATURE_NAMES = ("logmel", "f0", "periodicity", "energy")
# Normalised log-mel = (max(log power, floor) + offset) / scale, what every network reads (training/dataset.py
# and training/models/frontend.py): speech lands around [-1, 2]. The floor: the quietest pauses in the corpus
# sit at -12..-16 (natural-log power), digital silence at -23; without a floor a microphone's true zeros are
# inputs no recording showed the network, and it held the jaw half open in them. Kept here, not in the
# dataset module, so that running a model does not import the corpus tools.
MEL_OFFSET, MEL_SCALE, MEL_FLOOR = 5.0, 5.0, -15.0
SILENCE_MEL = (MEL_FLOOR + MEL_OFFSET) / MEL_SCALE


@dataclass(frozen=True)
class FeatureParams:
    sample_rate: int = 16000
    win_length: int = 400  # 25 ms
    hop_length: int = 160  # 10 ms
    n_fft: int = 512
    n_mels: int = 80
    fmin: float = 0.0
    fmax: float = 8000.0
    log_floor: float = 1e-10  # power floor before the log: -23 for digital silence
    f0_min: float = 60.0  # low male voice
    f0_max: float = 600.0  # raised, emotional female and child voices
    yin_window: int = 512  # 32 ms of integration for the YIN difference
    yin_threshold: float = 0.15  # de Cheveigné & Kawahara's absolute threshold

    @property
    def frame_rate(self) -> float:
        return self.sample_rate / self.hop_length

    def digest(self) -> str:
        doc = dict(dataclasses.asdict(self), version=FEATURES_VERSION)
        return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:16]


def n_frames(n_samples: int, params: FeatureParams) -> int:
    return 1 + n_samples // params.hop_length


def _frames(x: np.ndarray, length: int, params: FeatureParams, half: int | None = None) -> np.ndarray:
    """[T x length] windows, window t starting at t*hop - half (zero padded); half defaults to
    length // 2, which centres window t on sample t*hop."""
    t = n_frames(len(x), params)
    half = length // 2 if half is None else half
    padded = np.zeros(half + (t - 1) * params.hop_length + length, dtype=np.float64)
    padded[half : half + len(x)] = x
    return np.lib.stride_tricks.sliding_window_view(padded, length)[:: params.hop_length][:t]


# -- log-mel --------------------------------------------------------------------------------------


def hz_to_mel(f):
    """HTK: mel = 2595 log10(1 + f / 700)."""
    return 2595.0 * np.log10(1.0 + np.asarray(f, dtype=np.float64) / 700.0)


def mel_to_hz(m):
    return 700.0 * (10.0 ** (np.asarray(m, dtype=np.float64) / 2595.0) - 1.0)


def mel_band_centers(params: FeatureParams = FeatureParams()) -> np.ndarray:
    """Centre frequency in Hz of each mel band."""
    edges = mel_to_hz(np.linspace(hz_to_mel(params.fmin), hz_to_mel(params.fmax), params.n_mels + 2))
    return edges[1:-1]


def mel_filterbank(params: FeatureParams = FeatureParams()) -> np.ndarray:
    """[n_mels x n_fft//2+1] triangles, equally spaced in mel, each rising from its lower
    neighbour's centre to 1 at its own and falling to 0 at its upper neighbour's."""
    edges = mel_to_hz(np.linspace(hz_to_mel(params.fmin), hz_to_mel(params.fmax), params.n_mels + 2))
    bins = np.fft.rfftfreq(params.n_fft, 1.0 / params.sample_rate)
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (bins - lower) / (centre - lower)
    falling = (upper - bins) / (upper - centre)
    return np.maximum(0.0, np.minimum(rising, falling))


def log_mel(x: np.ndarray, params: FeatureParams = FeatureParams()) -> np.ndarray:
    frames = _frames(np.asarray(x, dtype=np.float64), params.win_length, params)
    # Periodic Hann, as for spectral analysis; the window sits in the middle of the FFT frame.
    window = np.hanning(params.win_length + 1)[:-1]
    spectrum = np.fft.rfft(frames * window, n=params.n_fft, axis=1)
    power = spectrum.real**2 + spectrum.imag**2
    mel = power @ mel_filterbank(params).T
    return np.log(np.maximum(mel, params.log_floor)).astype(np.float32)


# -- prosody --------------------------------------------------------------------------------------


def energy_db(x: np.ndarray, params: FeatureParams = FeatureParams()) -> np.ndarray:
    frames = _frames(np.asarray(x, dtype=np.float64), params.win_length, params)
    mean_square = np.mean(frames**2, axis=1)
    return (10.0 * np.log10(np.maximum(mean_square, params.log_floor))).astype(np.float32)


def yin(x: np.ndarray, params: FeatureParams = FeatureParams()) -> tuple[np.ndarray, np.ndarray]:
    """(f0 in Hz with 0 where unvoiced, periodicity in 0..1), one value per 10 ms frame.

    For every lag tau up to the longest period, the difference function
    d(tau) = sum_j (x_j - x_{j+tau})^2 over a window W, computed for all frames at once as
    e(0) + e(tau) - 2 r(tau) with the cross term r by FFT; then YIN's cumulative mean
    normalisation, the first dip under the threshold followed down to its minimum, and a
    parabola through the minimum for a lag finer than one sample."""
    sr, w = params.sample_rate, params.yin_window
    tau_min = max(2, int(sr / params.f0_max))
    tau_max = int(np.ceil(sr / params.f0_min))
    # The integration window (the first w samples) is the part centred on the frame's time.
    frames = _frames(np.asarray(x, dtype=np.float64), w + tau_max + 1, params, half=w // 2)
    n_fft = 1 << int(np.ceil(np.log2(w + frames.shape[1])))
    head = np.fft.rfft(frames[:, :w], n=n_fft, axis=1)
    whole = np.fft.rfft(frames, n=n_fft, axis=1)
    r = np.fft.irfft(np.conj(head) * whole, n=n_fft, axis=1)[:, : tau_max + 1]
    squares = np.concatenate([np.zeros((len(frames), 1)), np.cumsum(frames**2, axis=1)], axis=1)
    lags = np.arange(tau_max + 1)
    e_lag = squares[:, lags + w] - squares[:, lags]  # energy of the window shifted by tau
    d = np.maximum(e_lag[:, :1] + e_lag - 2.0 * r, 0.0)
    # Cumulative mean normalised difference: d'(0) = 1, d'(tau) = d(tau) * tau / sum_{1..tau} d.
    cumulative = np.cumsum(d[:, 1:], axis=1)
    cmnd = np.ones_like(d)
    cmnd[:, 1:] = d[:, 1:] * lags[1:] / np.maximum(cumulative, 1e-12)

    search = cmnd[:, tau_min:]
    below = search < params.yin_threshold
    voiced = below.any(axis=1)
    tau = np.where(voiced, below.argmax(axis=1), search.argmin(axis=1)) + tau_min
    rows = np.arange(len(frames))
    # Walk down from the first lag under the threshold to the bottom of its dip.
    for _ in range(tau_max):
        step = (tau < tau_max) & (cmnd[rows, np.minimum(tau + 1, tau_max)] < cmnd[rows, tau])
        if not step.any():
            break
        tau = tau + step
    # Parabolic interpolation through (tau-1, tau, tau+1) for a sub-sample lag.
    left = cmnd[rows, np.maximum(tau - 1, 0)]
    centre = cmnd[rows, tau]
    right = cmnd[rows, np.minimum(tau + 1, tau_max)]
    curvature = left - 2.0 * centre + right
    inner = (tau > tau_min) & (tau < tau_max) & (curvature > 1e-12)
    shift = np.where(inner, 0.5 * (left - right) / np.where(inner, curvature, 1.0), 0.0)
    periodicity = np.clip(1.0 - centre, 0.0, 1.0)
    silent = e_lag[:, 0] < 1e-8 * w  # below about -80 dBFS there is no voice to track
    voiced &= ~silent
    f0 = np.where(voiced, sr / (tau + shift), 0.0)
    return f0.astype(np.float32), np.where(silent, 0.0, periodicity).astype(np.float32)


def compute_features(x: np.ndarray, params: FeatureParams = FeatureParams()) -> dict[str, np.ndarray]:
    """Every feature of a 16 kHz mono signal, all with the same number of frames."""
    x = np.asarray(x, dtype=np.float32)
    f0, periodicity = yin(x, params)
    return {"logmel": log_mel(x, params), "f0": f0, "periodicity": periodicity, "energy": energy_db(x, params)}


# -- cache ----------------------------------------------------------------------------------------


def file_digest(path, chunk: int = 1 << 20) -> str:
    """sha256 of a file's bytes. Hashing every time (no size/mtime shortcut) costs a read,
    far less than the features, and never trusts a timestamp that a quick rewrite keeps."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


class FeatureCache:
    """Features per audio file under `root/<params digest>/<aa>/<content sha256>.npz`.

    Entries are written to a temporary file in the same folder and renamed into place
    (retarget.fileio.atomic_output), so a reader (another process, another training worker)
    sees a whole file or none; two writers of the same entry write the same bytes and the
    last rename wins. `hits` and `misses` count this object's lookups."""

    def __init__(self, root, params: FeatureParams = FeatureParams()):
        self.root = Path(root)
        self.params = params
        self.hits = 0
        self.misses = 0

    def path_for(self, audio_path) -> Path:
        try:
            digest = file_digest(audio_path)
        except OSError as e:
            raise InputError(f"cannot read the audio file ({e.strerror or e})", path=audio_path) from None
        return self.root / self.params.digest() / digest[:2] / f"{digest}.npz"

    def get(self, audio_path) -> dict[str, np.ndarray]:
        from bridge.audio import load_audio

        entry = self.path_for(audio_path)
        cached = self._load(entry)
        if cached is not None:
            self.hits += 1
            return cached
        self.misses += 1
        features = compute_features(load_audio(audio_path), self.params)
        self._store(entry, features)
        return features

    def get_variant(self, audio_path, variant: int, seed: int = 0) -> tuple[dict[str, np.ndarray], float]:
        """Features of augmented copy number `variant` of the file (training.augment.training_variant,
        seeded by the file's content, `variant` and `seed`) and its speed factor (1: same timing)."""
        from bridge.audio import load_audio
        from training.augment import VARIANT_VERSION, training_variant

        digest = file_digest(audio_path)
        key = f"{digest}-v{VARIANT_VERSION}-s{seed}-{variant}"
        entry = self.root / self.params.digest() / "variants" / digest[:2] / f"{key}.npz"
        cached = self._load(entry, extra=("speed",))
        if cached is not None:
            self.hits += 1
            return cached, float(cached.pop("speed"))
        self.misses += 1
        rng = np.random.default_rng([seed, variant, int(digest[:12], 16)])
        audio, applied = training_variant(load_audio(audio_path), rng)
        features = compute_features(audio, self.params)
        factor = applied.get("speed", 1.0)
        self._store(entry, {**features, "speed": np.float64(factor)})
        return features, factor

    def _load(self, entry: Path, extra: tuple[str, ...] = ()) -> dict[str, np.ndarray] | None:
        try:
            with np.load(entry, allow_pickle=False) as z:
                arrays = {k: z[k] for k in (*FEATURE_NAMES, *extra)}
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
            # Damaged by something outside us (a full disk before the rename cannot do it):
            # compute again and replace it.
            return None
        return arrays

    def _store(self, entry: Path, features: dict[str, np.ndarray]) -> None:
        entry.parent.mkdir(parents=True, exist_ok=True)
        with atomic_output(entry, "wb") as f:
            np.savez(f, **features)
