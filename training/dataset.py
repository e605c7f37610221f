"""Manifest clips as arrays on the network's frame grid, and the windows training draws from them.

One clip = normalised log-mel [T, 80], prosody [T, 3] and the target rig [T, K] at 100 frames/s,
all aligned (frame t is centred on audio sample t * 160). Targets come from the clip's motion take
(resampled in time, retargeted to the training rig when its space differs) or, for audio-only
clips with phone timings, from the procedural teacher (training/teacher.py).

Pairs (EmoTalk's cross-reconstruction): clips with the same speaker and sentence text in different
emotions. A pair window is the partner clip stretched to the anchor's length, so the same window
position covers the same words.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from retarget.errors import InputError
from training.corpus import SYNTH_SOURCE
from training.emotions import EMOTIONS, emotion_index
from training.features import MEL_FLOOR, MEL_OFFSET, MEL_SCALE, SILENCE_MEL, FeatureParams, mel_band_centers

PARAMS = FeatureParams()
FRAME_RATE = PARAMS.frame_rate
GAIN_DB = (-15.0, 6.0)  # training windows are played this much quieter or louder (level robustness)
# `emorig train --speaker-warp`: a speaker change drawn afresh for every training window (the WORLD
# copies in training/augment.py are a few fixed ones per clip): frequencies scaled by 1 +- warp, as a
# longer or shorter vocal tract moves every formant, and a tilt of +- TILT_DB across the band (a
# brighter or duller voice or microphone). Tried on 2026-12-07 against held-out voices' missed
# closures: better on the validation voices, worse on the held-out ones (docs/model-card.md), so
# not in the shipped recipe.
TILT_DB = 6.0


def db_to_mel(db):
    """A level change in dB as a shift of the normalised log-mel (natural-log power / MEL_SCALE)."""
    return db * np.log(10) / 10 / MEL_SCALE


def normalise(logmel: np.ndarray) -> np.ndarray:
    return ((np.maximum(logmel, MEL_FLOOR) + MEL_OFFSET) / MEL_SCALE).astype(np.float32)


DEFAULT_INTENSITY = 0.6  # a clip labelled with an emotion but no intensity


@dataclass
class Clip:
    clip_id: str
    mel: np.ndarray  # [T, 80] float32, normalised log-mel
    prosody: np.ndarray  # [T, 3] float32: f0 octaves above 100 Hz (0 unvoiced), periodicity, energy dB / 60
    target: np.ndarray  # [T, K] float32 in the training rig space
    emotion: np.ndarray  # [8] float32 one-hot
    intensity: float
    speaker: str
    text: str | None
    phones: object = None  # Path of the phone timings, if any (evaluation's phonetic checks)
    audio: object = None  # Path of the audio
    closure: np.ndarray | None = None  # [T] float32: 1 lips sealed for a P/B/M, 0 not, None unknown
    rounding: np.ndarray | None = None  # [T] float32: 1 lips rounded for UW UH OW OY W, 0 not, None unknown
    recorded: bool = True  # a person's recording (False: a voice emorig synthesised)
    stops: np.ndarray | None = None  # [T] float32: 1 inside a T/D/K/G/CH/JH (lips apart), 0 not, None unknown

    def closure_labels(self) -> np.ndarray:
        """[T] float32 closure labels, -1 where unknown (no phone timings)."""
        return self.closure if self.closure is not None else np.full(len(self.mel), -1, np.float32)

    def event_labels(self, event: str) -> np.ndarray | None:
        return {"closure": self.closure, "rounding": self.rounding, "stops": self.stops}[event]

    def __len__(self) -> int:
        return len(self.mel)


def prosody_features(features: dict) -> np.ndarray:
    f0 = features["f0"]
    octaves = np.where(f0 > 0, np.log2(np.maximum(f0, 1.0) / 100.0), 0.0)
    return np.stack([octaves, features["periodicity"], features["energy"] / 60.0], 1).astype(np.float32)


def resample_rows(x: np.ndarray, n: int) -> np.ndarray:
    """[T, C] -> [n, C] by linear interpolation over the same time span."""
    if len(x) == n:
        return x
    src = np.linspace(0, 1, len(x))
    dst = np.linspace(0, 1, n)
    return np.stack([np.interp(dst, src, c) for c in x.T], 1).astype(np.float32)


def clip_target(entry, n: int, space: str) -> np.ndarray:
    """The entry's animation on the 100 fps grid, in `space`: [n, K]."""
    from retarget.mappings import retarget_frames
    from retarget.spaces import get_space
    from retarget.takes import read_take
    from training.teacher import animate_phones, read_phones

    if entry.motion is not None:
        take = read_take(entry.motion, entry.space, entry.fps)
        t_src = np.arange(len(take.frames)) / take.fps
        t = np.arange(n) / FRAME_RATE
        frames = np.stack([np.interp(t, t_src, c) for c in take.frames.T], 1).astype(np.float32)
        source = take.space
    elif entry.phones is not None:
        frames = animate_phones(
            read_phones(entry.phones),
            fps=FRAME_RATE,
            duration=n / FRAME_RATE,
            emotion=entry.emotion or "neutral",
            intensity=entry.intensity if entry.intensity is not None else DEFAULT_INTENSITY,
        )[:n]
        source = get_space("arkit")
    else:
        raise InputError("no motion and no phones: nothing to learn from", path=entry.audio)
    target = get_space(space)
    if source.name != target.name:
        frames = retarget_frames(frames, source, target)
    return np.asarray(frames, np.float32)


def load_clip(entry, cache, space: str) -> Clip:
    features = cache.get(entry.audio)
    mel = normalise(features["logmel"])
    target = clip_target(entry, len(mel), space)
    n = min(len(mel), len(target))
    emotion = np.zeros(len(EMOTIONS), np.float32)
    emotion[emotion_index(entry.emotion or "neutral")] = 1
    intensity = 0.0 if (entry.emotion or "neutral") == "neutral" else entry.intensity
    closure = rounding = stops = None
    if entry.phones is not None:
        from training.teacher import bilabial_closure, read_phones, rounded_lips, tongue_stops

        phones = read_phones(entry.phones)
        sealed = bilabial_closure(phones, n, FRAME_RATE)
        closure = sealed.astype(np.float32)
        rounding = rounded_lips(phones, n, FRAME_RATE).astype(np.float32)
        stops = tongue_stops(phones, n, FRAME_RATE, sealed).astype(np.float32)
    return Clip(
        entry.clip_id,
        mel[:n],
        prosody_features(features)[:n],
        target[:n],
        emotion,
        float(DEFAULT_INTENSITY if intensity is None else intensity),
        entry.speaker,
        entry.text,
        entry.phones,
        entry.audio,
        closure,
        rounding,
        entry.source != SYNTH_SOURCE,
        stops,
    )


def load_clips(entries, cache, space: str, progress: bool = True, desc: str = "features") -> list[Clip]:
    from tqdm import tqdm

    return [load_clip(e, cache, space) for e in tqdm(entries, desc=desc, unit="clip", disable=not progress)]


def _variant_features(args):
    """For the process pool: (features, speed factor) of one augmented copy."""
    from training.features import FeatureCache

    root, params, audio, variant, seed = args
    return FeatureCache(root, params).get_variant(audio, variant, seed)


def variant_clip(clip: Clip, features: dict, factor: float, variant: int) -> Clip:
    """`clip` heard through an augmented copy of its audio: the copy's features, the clip's
    targets and closure labels stretched to the copy's length (speed changes it)."""
    mel = normalise(features["logmel"])
    n = len(mel)
    target = resample_rows(clip.target, n)
    idx = np.minimum((np.arange(n) * len(clip) / n).astype(int), len(clip) - 1)
    closure = None if clip.closure is None else clip.closure[idx]
    rounding = None if clip.rounding is None else clip.rounding[idx]
    stops = None if clip.stops is None else clip.stops[idx]
    return Clip(
        f"{clip.clip_id}~{variant}",
        mel,
        prosody_features(features)[:n],
        target,
        clip.emotion,
        clip.intensity,
        clip.speaker,
        clip.text,
        None,  # the phone file's times are the original's: not for evaluation
        clip.audio,
        closure,
        rounding,
        clip.recorded,
        stops,
    )


def augmented_clips(clips: list[Clip], cache, variants: int, seed: int = 0, jobs: int = 1, progress: bool = True):
    """`variants` augmented copies of every clip (training.augment.training_variant: speed,
    room, line, noise floor), features cached beside the clean ones; computed in `jobs`
    processes the first time."""
    from tqdm import tqdm

    tasks = [(cache.root, cache.params, c.audio, k, seed) for c in clips for k in range(variants)]
    owners = [(c, k) for c in clips for k in range(variants)]
    bar = tqdm(total=len(tasks), desc="augmented copies", unit="clip", disable=not progress)
    results = []
    if jobs <= 1:
        for task in tasks:
            results.append(_variant_features(task))
            bar.update()
    else:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(max_workers=jobs) as pool:
            for result in pool.map(_variant_features, tasks, chunksize=8):
                results.append(result)
                bar.update()
    bar.close()
    return [variant_clip(c, f, factor, k) for (c, k), (f, factor) in zip(owners, results)]


def speaker_warp(mel: np.ndarray, factor: float, tilt_db: float = 0.0) -> np.ndarray:
    """Normalised log-mel [T, n_mels] as a voice whose frequencies are `factor` times these (a
    formant at f Hz moves to factor*f) and whose spectrum tilts by `tilt_db` from the lowest band
    to the highest. Bands read beyond the top edge repeat the top band; the floor is kept."""
    centres = mel_band_centers(PARAMS)
    source = np.interp(centres / factor, centres, np.arange(len(centres), dtype=float))
    lo = np.floor(source).astype(int)
    hi = np.minimum(lo + 1, len(centres) - 1)
    frac = (source - lo).astype(np.float32)
    warped = mel[:, lo] * (1 - frac) + mel[:, hi] * frac
    tilt = np.linspace(-0.5, 0.5, len(centres), dtype=np.float32) * np.float32(db_to_mel(tilt_db))
    # Only where there is sound: a tilt must not lift the silence floor into something heard.
    audible = warped > SILENCE_MEL + 1e-6
    return np.where(audible, np.maximum(warped + tilt, SILENCE_MEL), warped).astype(np.float32)


class WindowSampler:
    """Random fixed-length windows from a list of clips, as numpy batches (the contract's keys).

    Clips are drawn in proportion to their length; clips shorter than the window are padded with
    silence (mel), their last frame (target) and left out of nothing. `speakers` fixes the speaker
    index table (training's), so validation uses the same indices. `recorded_share` (0-1, None:
    by length alone) is the share of windows drawn from people's recordings, the rest from
    synthetic voices: real speech is the scarce kind and the kind users bring."""

    def __init__(
        self, clips: list[Clip], window: int, speakers: list[str] | None = None, recorded_share: float | None = None
    ):
        if not clips:
            raise InputError("no clips to train on")
        self.clips, self.window = clips, window
        self.speakers = speakers if speakers is not None else sorted({c.speaker for c in clips})
        self.speaker_index = {s: i for i, s in enumerate(self.speakers)}
        lengths = np.array([max(1, len(c) - window + 1) for c in clips], float)
        self.weights = lengths / lengths.sum()
        recorded = np.array([c.recorded for c in clips])
        if recorded_share is not None and recorded.any() and not recorded.all():
            self.weights = np.where(
                recorded,
                recorded_share * lengths / lengths[recorded].sum(),
                (1 - recorded_share) * lengths / lengths[~recorded].sum(),
            )
        groups = defaultdict(list)
        for i, c in enumerate(clips):
            if c.text:
                groups[(c.speaker, c.text.strip().lower())].append(i)
        emo = [int(np.argmax(c.emotion)) for c in clips]
        self.partners = [
            [j for j in groups.get((c.speaker, (c.text or "").strip().lower()), []) if emo[j] != emo[i]]
            for i, c in enumerate(clips)
        ]

    def _window(self, clip: Clip, start: int, length: int | None = None):
        """Rows [start, start + window) of a clip stretched to `length` frames (None: as is)."""
        mel, pro, tgt = clip.mel, clip.prosody, clip.target
        if length is not None:
            mel, pro, tgt = resample_rows(mel, length), resample_rows(pro, length), resample_rows(tgt, length)
        end = start + self.window
        pad = max(0, end - len(mel))
        mel, pro, tgt = mel[start:end], pro[start:end], tgt[start:end]
        if pad:
            mel = np.concatenate([mel, np.full((pad, mel.shape[1]), SILENCE_MEL, np.float32)])
            pro = np.concatenate([pro, np.zeros((pad, pro.shape[1]), np.float32)])
            tgt = np.concatenate([tgt, np.repeat(tgt[-1:], pad, 0)])
        return mel, pro, tgt

    def _event_window(self, clip: Clip, start: int, event: str = "closure") -> np.ndarray:
        """Closure, rounding or tongue-stop labels for the same rows as `_window`, -1 where
        unknown (padding is silence: none of them)."""
        known = clip.event_labels(event)
        if known is None:
            return np.full(self.window, -1.0, np.float32)
        labels = known[start : start + self.window]
        return np.concatenate([labels, np.zeros(self.window - len(labels), np.float32)])

    def batch(self, size: int, rng: np.random.Generator, gain: bool = True, warp: float = 0.0) -> dict:
        """Random windows; with `gain`, each at a random level (a gain on the audio is a shift of
        its log-mel, floored again as at run time; pairs get the same gain); with `warp` > 0, each
        as a different voice (`speaker_warp`; pairs get the same one)."""
        picks = rng.choice(len(self.clips), size=size, p=self.weights)
        starts = [int(rng.integers(0, max(1, len(self.clips[i]) - self.window + 1))) for i in picks]
        batch = self.collate(list(zip(picks, starts)), rng)
        if warp > 0:
            factors = rng.uniform(1 - warp, 1 + warp, size)
            tilts = rng.uniform(-TILT_DB, TILT_DB, size)
            for key in ("mel", "pair_mel"):
                batch[key] = np.stack([speaker_warp(m, f, t) for m, f, t in zip(batch[key], factors, tilts)])
        if gain:
            shift = db_to_mel(rng.uniform(*GAIN_DB, size=(size, 1, 1)))
            for key in ("mel", "pair_mel"):
                batch[key] = np.maximum(batch[key] + shift, SILENCE_MEL).astype(np.float32)
        return batch

    def collate(self, items, rng: np.random.Generator | None = None) -> dict:
        keys = ("mel", "prosody", "target", "closure", "rounding", "stops", "emotion", "intensity", "speaker")
        pair_keys = ("pair_mel", "pair_target", "pair_emotion", "pair_intensity", "pair_mask")
        out = {k: [] for k in keys + pair_keys}
        for i, start in items:
            clip = self.clips[int(i)]
            mel, pro, tgt = self._window(clip, start)
            out["mel"].append(mel)
            out["prosody"].append(pro)
            out["target"].append(tgt)
            out["closure"].append(self._event_window(clip, start, "closure"))
            out["rounding"].append(self._event_window(clip, start, "rounding"))
            out["stops"].append(self._event_window(clip, start, "stops"))
            out["emotion"].append(clip.emotion)
            out["intensity"].append(clip.intensity)
            out["speaker"].append(self.speaker_index.get(clip.speaker, -1))
            partners = self.partners[int(i)]
            if partners:
                j = partners[int(rng.integers(len(partners)))] if rng is not None else partners[0]
                other = self.clips[j]
                pmel, _, ptgt = self._window(other, start, length=len(clip))
                out["pair_mel"].append(pmel)
                out["pair_target"].append(ptgt)
                out["pair_emotion"].append(other.emotion)
                out["pair_intensity"].append(other.intensity)
                out["pair_mask"].append(True)
            else:
                out["pair_mel"].append(mel)
                out["pair_target"].append(tgt)
                out["pair_emotion"].append(clip.emotion)
                out["pair_intensity"].append(clip.intensity)
                out["pair_mask"].append(False)
        batch = {k: np.stack(v) for k, v in out.items()}
        batch["intensity"] = batch["intensity"].astype(np.float32)
        batch["pair_intensity"] = batch["pair_intensity"].astype(np.float32)
        batch["speaker"] = batch["speaker"].astype(np.int64)
        return batch

    def fixed_windows(self, count: int, seed: int = 0) -> list[tuple[int, int]]:
        """A deterministic set of (clip, start) windows (validation)."""
        rng = np.random.default_rng(seed)
        picks = rng.choice(len(self.clips), size=count, p=self.weights)
        return [(int(i), int(rng.integers(0, max(1, len(self.clips[i]) - self.window + 1)))) for i in picks]
