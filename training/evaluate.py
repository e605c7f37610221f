"""Evaluation: how good a face network's animation is, in numbers an animator can read.

    metrics = evaluate(net, clips)                  # any preset (the contract in training/models/__init__.py)
    results = predict_clips(net, clips)             # or in two steps, keeping the predictions
    metrics = score(results, space, features=motion_features(net))
    write_report(folder, metrics, results, ...)     # report.md, metrics.json and PNGs (`emorig eval`)

`clips` are training.dataset.Clip (load_clips of manifest entries): log-mel, the reference
animation ("ground truth") on the 100 fps grid, the emotion label, the intensity, the phone timings.
The metric maths (`score` and the functions under it) is numpy only and takes plain arrays, so the
trainer's validation and preset comparisons can use the same numbers. Definitions: docs/evaluation.md.

- Parameter errors (DEITalk, Sec. 4.2): lip parameter error LPE = mean over frames of the largest
  squared error among the lip curves (jaw, mouth and tongue regions; FaceFormer's LVE computed on
  rig curves instead of vertices); emotion parameter error EPE = the same on the other curves
  (eyes, brows, cheeks, nose: head and neck pose excluded). Plain MAE per face region.
- LVE / EVE (MeshTalk, EmoTalk) on FLAME rigs when a FLAME model is given: mean over frames of the
  largest vertex distance in the lip region, and in the eye + forehead region.
- FFD: Fréchet distance between Gaussians fitted to features of predicted and reference motion
  windows: the network's own motion encoder when it has one (DEITalk), else per-window rig statistics.
- Diversity: variance across the 8 emotion labels of the non-lip curves for the same audio.
- Phonetic checks on ARKit curves (other rigs are retargeted): lips closed on P B M, jaw open on
  open vowels, lips rounded on rounded vowels, a still mouth in silences.
- Jitter: mean absolute second difference of the curves.
- Emotion recognisability: the network's own emotion estimate (auto) against the labels, and a
  nearest-centroid classifier of mean non-lip curves, fitted on the references, applied to the predictions.
"""

from __future__ import annotations

import io
import json
import math
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from retarget.errors import InputError
from retarget.spaces import RigSpace, get_space
from training.emotions import EMOTIONS

FORMAT = "emorig-eval"
VERSION = 1
FPS = 100.0  # training.dataset's frame grid: every clip array is at 100 frames/s

LIP_REGIONS = ("jaw", "mouth", "tongue")  # as training.models.blocks.LIP_REGIONS (kept torch-free here)
POSE_REGIONS = ("head", "neck")  # rigid head pose: neither lip sync nor facial expression

# FFD windows: 1 s of motion, a new one every 100 ms.
FFD_WINDOW = 100
FFD_HOP = 10

SWEEP_INTENSITY = 1.0  # diversity: every label at full intensity, the most the network can vary

# Phonetic checks (ARKit curves, 0..1). Sets as in training/data/phone_visemes.tsv's classes.
BILABIALS = ("P", "B", "M")
OPEN_VOWELS = ("AA", "AE", "AH", "AO", "AW", "AY")
ROUNDED = ("UW", "UH", "OW", "OY", "W")
MIN_VOWEL_S = 0.05  # shorter vowels rarely reach their target, in captures as in the teacher
MIN_SILENCE_S = 0.3  # pauses at least this long: the mouth is at rest in their core
CLOSED_APERTURE = 0.1  # lips closed: jawOpen - mouthClose (the lip gap) at most this at some frame
OPEN_JAW = 0.2  # jaw open: jawOpen at least this at some frame of the vowel
ROUNDING = 0.2  # rounded: max(mouthFunnel, mouthPucker) at least this at some frame
REST_RANGE = 0.1  # still: jaw, lip gap, funnel and pucker move less than this in the pause's core

CHECKS = {
    "bilabial_closed": (
        "lips closed on P B M",
        "lip gap jawOpen - mouthClose, smallest in the phone",
        "<=",
        CLOSED_APERTURE,
    ),
    "open_vowel_jaw": ("jaw open on AA AE AH AO AW AY", "jawOpen, largest in the vowel", ">=", OPEN_JAW),
    "rounded_lips": (
        "lips rounded on UW UH OW OY W",
        "max(mouthFunnel, mouthPucker), largest in the phone",
        ">=",
        ROUNDING,
    ),
    "silence_still": (
        "mouth still in pauses (SIL)",
        "largest range of jawOpen, lip gap, mouthFunnel, mouthPucker in the pause's core",
        "<=",
        REST_RANGE,
    ),
}

PLOT_CURVES = ("jawOpen", "mouthClose", "mouthFunnel", "mouthPucker", "mouthSmileLeft", "browInnerUp", "eyeBlinkLeft")

# What every headline number means, for the report (one line each, for animators).
METRIC_DOCS = {
    "lip_error": (
        "lip parameter error (LPE)",
        "how far the worst mouth/jaw curve is from the reference, per frame (mean of the largest squared error; DEITalk)",
    ),
    "emotion_error": (
        "emotion parameter error (EPE)",
        "the same for the eyes, brows, cheeks and nose: is the expression around the speech right",
    ),
    "mae": ("mean absolute error", "average distance of every curve from the reference, in the rig's units"),
    "lve_mm": ("lip vertex error (LVE, mm)", "largest distance of a lip vertex from where it should be, per frame"),
    "eve_mm": ("emotion vertex error (EVE, mm)", "the same for the eye and forehead vertices"),
    "ffd": (
        "Fréchet feature distance (FFD)",
        "how different the motion looks as a whole (its rhythm and range), not frame by frame; 0 = alike",
    ),
    "diversity": (
        "emotion diversity",
        "how much the upper face changes when you switch the emotion for the same audio; 0 = emotion ignored",
    ),
    "jitter": (
        "jitter",
        "frame-to-frame shake (mean absolute second difference of the curves); compare with the reference",
    ),
    "auto_emotion_accuracy": (
        "emotion heard (auto)",
        "how often the network's own emotion estimate from the voice matches the label",
    ),
    "centroid_emotion_accuracy": (
        "emotion seen",
        "how often the predicted upper face is closest to the reference look of the asked-for emotion",
    ),
    "bilabial_closed": ("lips closed on P B M", "share of P, B and M where the lips meet"),
    "open_vowel_jaw": ("jaw open on open vowels", "share of AA, AE, AH, AO, AW, AY where the jaw opens"),
    "rounded_lips": ("lips rounded", "share of UW, UH, OW, OY, W where the lips round (funnel or pucker)"),
    "silence_still": ("still in pauses", "share of pauses where the mouth stays still"),
}


# -- predictions ---------------------------------------------------------------------------------


@dataclass
class ClipResult:
    """One clip's predictions beside its reference (clip.target), all [T, K] at 100 fps."""

    clip: object  # training.dataset.Clip
    pred: np.ndarray  # with the clip's own label and intensity
    auto_pred: np.ndarray | None = None  # with the network's own emotion estimate (auto=True)
    auto_probs: np.ndarray | None = None  # [T, 8] that estimate, softmax of emotion_logits
    sweep: np.ndarray | None = None  # [8, T, K] one prediction per label (EMOTIONS order) at SWEEP_INTENSITY

    @property
    def target(self) -> np.ndarray:
        return self.clip.target


def predict_clips(net, clips, device: str = "cpu", sweep: bool = True, auto: bool = True, progress: bool = False):
    """Offline, aligned predictions (net.predict) for every clip -> list[ClipResult].

    Per clip one pass with the clip's label and intensity plus, with `sweep`, every label at full
    intensity (the same batch), and with `auto` one pass where the network reads the emotion itself."""
    import torch
    from tqdm import tqdm

    from training.dataset import SILENCE_MEL

    was_training = net.training
    net.eval()
    results = []
    eye = np.eye(len(EMOTIONS), dtype=np.float32)
    try:
        with torch.no_grad():
            bar = tqdm(clips, desc="evaluating", unit="clip", file=sys.stderr, disable=None if progress else True)
            for clip in bar:
                emotions = [clip.emotion] + (list(eye) if sweep else [])
                intensity = [clip.intensity] + ([SWEEP_INTENSITY] * len(EMOTIONS) if sweep else [])
                mel = torch.from_numpy(np.asarray(clip.mel, np.float32))[None].to(device)
                out = net.predict(
                    mel.expand(len(emotions), -1, -1),
                    torch.from_numpy(np.stack(emotions).astype(np.float32)).to(device),
                    torch.tensor(intensity, dtype=torch.float32, device=device),
                    SILENCE_MEL,
                )
                rig = out["rig"].float().cpu().numpy()
                result = ClipResult(clip, rig[0], sweep=rig[1:] if sweep else None)
                if auto:
                    a = net.predict(
                        mel,
                        torch.from_numpy(clip.emotion[None]).to(device),
                        torch.ones(1, device=device) * clip.intensity,
                        SILENCE_MEL,
                        auto=True,
                    )
                    result.auto_pred = a["rig"][0].float().cpu().numpy()
                    result.auto_probs = a["emotion_logits"][0].float().softmax(-1).cpu().numpy()
                results.append(result)
    finally:
        net.train(was_training)
    return results


def motion_features(net, device: str = "cpu"):
    """(features, description): a function rig frames [T, K] -> window features [W, D] from the
    network's own motion encoder (DEITalk's E_M, trained on reference motion), or (None, None)
    when the network has none (FFD then uses rig statistics)."""
    encoder = getattr(net, "motion_encoder", None)
    if encoder is None:
        return None, None
    import torch

    def features(frames: np.ndarray) -> np.ndarray:
        was = encoder.training
        encoder.eval()
        try:
            with torch.no_grad():
                x = torch.from_numpy(np.asarray(frames, np.float32))[None].to(device)
                per_frame = encoder(x)[0].float().cpu().numpy()
        finally:
            encoder.train(was)
        # Max-pooled over each window, as DEITalk pools the encoder for its contrastive embedding (Eq. 4).
        return np.stack([per_frame[a:b].max(0) for a, b in _windows(len(per_frame))])

    name = type(net).__name__
    return features, f"{name}'s own motion encoder (max-pooled over 1 s windows)"


# -- the metric maths (numpy) --------------------------------------------------------------------


def curve_masks(space: RigSpace) -> tuple[np.ndarray, np.ndarray]:
    """(lip, emotion) bool masks [K]: lip = jaw, mouth, tongue regions (as the trainer's lip_mask);
    emotion = every other curve except rigid head/neck pose."""
    lip = space.region_mask(*LIP_REGIONS)
    pose = space.region_mask(*POSE_REGIONS)
    return lip, ~lip & ~pose


def parameter_error(pred: np.ndarray, target: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Per frame [T]: the largest squared error among the masked curves (DEITalk's LPE/EPE before
    the mean over frames). NaN per frame when the mask is empty."""
    if not np.any(mask):
        return np.full(len(pred), np.nan)
    return ((np.asarray(pred, np.float64) - target)[:, mask] ** 2).max(1)


def vertex_error(pred_vertices: np.ndarray, target_vertices: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """Per frame [T]: the largest Euclidean distance among the given vertices (MeshTalk's LVE,
    EmoTalk's EVE before the mean over frames)."""
    d = np.linalg.norm(pred_vertices[:, indices] - target_vertices[:, indices], axis=-1)
    return d.max(1)


def _windows(n: int) -> list[tuple[int, int]]:
    if n <= FFD_WINDOW:
        return [(0, n)]
    return [(a, a + FFD_WINDOW) for a in range(0, n - FFD_WINDOW + 1, FFD_HOP)]


def rig_statistics(frames: np.ndarray) -> np.ndarray:
    """Window features [W, 3K]: each curve's mean, standard deviation and velocity standard deviation
    over 1 s windows (every 100 ms): FFD's feature space for networks without a motion encoder."""
    x = np.asarray(frames, np.float64)
    rows = []
    for a, b in _windows(len(x)):
        w = x[a:b]
        vel = np.diff(w, axis=0) if len(w) > 1 else np.zeros_like(w)
        rows.append(np.concatenate([w.mean(0), w.std(0), vel.std(0) * FPS]))
    return np.stack(rows)


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two sets of feature rows [N, D]:
    |mu_a - mu_b|^2 + tr(S_a) + tr(S_b) - 2 tr((S_a S_b)^1/2).

    The cross term without a matrix square root, so singular covariances (fewer windows than
    features) stay exact: with centred rows A, B, the eigenvalues of S_a S_b are the squared singular
    values of A B^T / sqrt((N_a - 1)(N_b - 1)); through S_a^1/2 S_b S_a^1/2 when D is the smaller side."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1] or not len(a) or not len(b):
        raise ValueError(f"feature rows must be [N, D] with the same D, got {a.shape} and {b.shape}")
    ca, cb = a - a.mean(0), b - b.mean(0)
    na, nb = max(len(a) - 1, 1), max(len(b) - 1, 1)
    traces = (ca**2).sum() / na + (cb**2).sum() / nb
    if min(len(a), len(b)) <= a.shape[1]:
        cross = np.linalg.svd(ca @ cb.T, compute_uv=False).sum() / math.sqrt(na * nb)
    else:
        s_a, s_b = ca.T @ ca / na, cb.T @ cb / nb
        w, v = np.linalg.eigh(s_a)
        root = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
        middle = root @ s_b @ root
        cross = np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0, None)).sum()
    d = float(((a.mean(0) - b.mean(0)) ** 2).sum() + traces - 2 * cross)
    return max(d, 0.0)


def jitter(frames: np.ndarray) -> tuple[float, int]:
    """(sum of |second difference| over frames and curves, count): pooled later."""
    x = np.asarray(frames, np.float64)
    if len(x) < 3:
        return 0.0, 0
    d2 = np.abs(x[2:] - 2 * x[1:-1] + x[:-2])
    return float(d2.sum()), d2.size


# -- phonetic checks -------------------------------------------------------------------------------


def _span(start: float, end: float, n: int, fps: float) -> np.ndarray:
    """Frame indices whose time lies in [start, end]; the nearest frame when none does."""
    a, b = int(math.ceil(start * fps - 1e-9)), int(math.floor(end * fps + 1e-9))
    idx = np.arange(max(a, 0), min(b, n - 1) + 1)
    if len(idx) == 0:
        idx = np.array([min(max(int(round((start + end) / 2 * fps)), 0), n - 1)])
    return idx


def phone_measures(arkit: np.ndarray, phones, fps: float = FPS) -> dict[str, list[float]]:
    """One value per checked phone (see CHECKS) from ARKit frames [T, 52] and phones
    (training.teacher.Phone or (start, end, phone) in seconds, ARPAbet)."""
    from training.teacher import PAUSE_RAMP_IN_S, PAUSE_RAMP_OUT_S

    space = get_space("arkit")
    x = np.asarray(arkit, np.float64)
    n = len(x)
    jaw, close = x[:, space.index("jawOpen")], x[:, space.index("mouthClose")]
    rounding = np.maximum(x[:, space.index("mouthFunnel")], x[:, space.index("mouthPucker")])
    shape = np.stack(
        [jaw, np.clip(jaw - close, 0, None), x[:, space.index("mouthFunnel")], x[:, space.index("mouthPucker")]], 1
    )
    out: dict[str, list[float]] = {k: [] for k in CHECKS}
    for start, end, phone in phones:
        start, end = float(start), float(end)
        if n == 0 or start * fps > n - 1:
            continue
        long_enough = end - start >= MIN_VOWEL_S
        if phone in BILABIALS:
            idx = _span(start, end, n, fps)
            out["bilabial_closed"].append(float(np.clip(jaw[idx] - close[idx], 0, None).min()))
        elif phone in OPEN_VOWELS and long_enough:
            out["open_vowel_jaw"].append(float(jaw[_span(start, end, n, fps)].max()))
        elif phone in ROUNDED and (long_enough or phone == "W"):
            out["rounded_lips"].append(float(rounding[_span(start, end, n, fps)].max()))
        elif phone == "SIL" and end - start >= MIN_SILENCE_S:
            a, b = start + PAUSE_RAMP_IN_S, end - PAUSE_RAMP_OUT_S
            idx = _span(a, b, n, fps)
            core = shape[idx]
            out["silence_still"].append(float((core.max(0) - core.min(0)).max()) if len(core) else 0.0)
    return out


def passes(check: str, values) -> np.ndarray:
    _, _, op, threshold = CHECKS[check]
    v = np.asarray(values, np.float64)
    return v <= threshold if op == "<=" else v >= threshold


def to_arkit(frames: np.ndarray, space: RigSpace, mappings=()) -> np.ndarray:
    """Frames of any rig as ARKit curves (retarget.mappings; FLAME needs a fitted mapping)."""
    if space.name == "arkit":
        return np.asarray(frames, np.float64)
    from retarget.mappings import retarget_frames

    return retarget_frames(frames, space, get_space("arkit"), mappings)


def read_clip_phones(path):
    from training.teacher import read_phones

    return [(p.start, p.end, p.phone) for p in read_phones(path)]


# -- FLAME regions ---------------------------------------------------------------------------------

LIP_SHARE = 0.05  # FLAME's own lip mask holds about 5% of the head's vertices
JAW_PROBE = 0.2  # radians of jaw opening for the fallback lip region


@dataclass
class FlameRegions:
    lips: np.ndarray  # vertex indices
    upper: np.ndarray
    how: str  # where they came from, for the report


def _jaw_motion(model) -> np.ndarray:
    rest = model.forward(np.zeros((1, 0)), np.zeros((1, 3)))[0]
    opened = model.forward(np.zeros((1, 0)), np.array([[JAW_PROBE, 0.0, 0.0]]))[0]
    return np.linalg.norm(opened - rest, axis=-1)


def flame_regions(model, masks=None) -> FlameRegions:
    """Lip and upper-face (eyes + forehead) vertex indices of a FLAME model.

    `masks`: an .npz path (or a dict) of index arrays as in FLAME's FLAME_masks.pkl: `lips`, and
    `eye_region` and/or `forehead` (EmoTalk's EVE region; `upper` is taken as given). Without them:
    lips = the 5% of vertices the jaw moves most when it opens (an approximation that leans toward
    the chin and lower lip), upper = vertices at or above the eyes' height that the jaw does not move."""
    n = model.n_vertices
    given: dict[str, np.ndarray] = {}
    if masks is not None:
        if isinstance(masks, dict):
            given = {k: np.asarray(v) for k, v in masks.items()}
        else:
            try:
                with np.load(masks, allow_pickle=False) as z:
                    given = {k: z[k] for k in z.files}
            except FileNotFoundError:
                raise InputError("FLAME masks file not found", path=masks) from None
            except (OSError, ValueError) as e:
                raise InputError(f"not an .npz of index arrays ({e})", path=masks) from None
        for key, idx in given.items():
            if (
                idx.ndim != 1
                or not np.issubdtype(idx.dtype, np.integer)
                or (idx.size and (idx.min() < 0 or idx.max() >= n))
            ):
                raise InputError(
                    f"mask {key!r} must be a list of vertex indices 0..{n - 1}",
                    path=masks if not isinstance(masks, dict) else None,
                )
    how = []
    motion = None
    if "lips" in given and given["lips"].size:
        lips = np.unique(given["lips"])
        how.append("lips from the masks file")
    else:
        motion = _jaw_motion(model)
        k = max(1, int(round(LIP_SHARE * n)))
        lips = np.sort(np.argsort(-motion)[:k])
        how.append(f"lips = the {k} vertices the jaw moves most (no lip mask given)")
    upper_keys = [k for k in ("upper", "eye_region", "forehead") if k in given and given[k].size]
    if upper_keys:
        upper = np.unique(np.concatenate([given[k] for k in upper_keys]))
        how.append(f"upper face = {' + '.join(upper_keys)} from the masks file")
    else:
        motion = _jaw_motion(model) if motion is None else motion
        joints = model.J_regressor @ model.v_template
        eye_height = joints[3:5, 1].min()
        still = motion <= 0.01 * max(float(motion.max()), 1e-12)
        upper = np.flatnonzero(still & (model.v_template[:, 1] >= eye_height))
        if len(upper) == 0:
            upper = np.flatnonzero(still)
        how.append("upper face = vertices at or above the eyes that the jaw does not move (no eye/forehead mask given)")
    if len(upper) == 0:
        raise InputError("no upper-face vertices for EVE: pass --flame-masks with eye_region/forehead")
    return FlameRegions(lips, upper, "; ".join(how))


def flame_vertices(model, frames: np.ndarray, space: RigSpace) -> np.ndarray:
    """Vertices [T, V, 3]; expression coefficients beyond the model's are left out."""
    x = np.array(frames, np.float64)
    exp_cols = [i for i, c in enumerate(space.curves) if c.startswith("exp")]
    x[:, exp_cols[model.n_expression :]] = 0
    return model.forward_space(x, space)


# -- scoring ---------------------------------------------------------------------------------------


def _mean(values) -> float | None:
    v = np.asarray([x for x in values if x is not None], np.float64)
    v = v[np.isfinite(v)] if v.size else v
    return float(v.mean()) if v.size else None


def _confusion(truth: list[int], guess: list[int], n: int) -> np.ndarray:
    m = np.zeros((n, n), np.int64)
    for t, g in zip(truth, guess):
        m[t, g] += 1
    return m


def score(
    results: list[ClipResult],
    space: RigSpace | str,
    *,
    features=None,
    features_name: str | None = None,
    flame=None,
    regions: FlameRegions | None = None,
    mappings=(),
    phonetics: bool = True,
) -> dict:
    """Every metric of a set of clip results -> a JSON-ready dict (see docs/evaluation.md).

    features: a function rig frames [T, K] -> window features [W, D] for FFD (motion_features(net));
    None: per-window rig statistics. flame (+ regions): a retarget.flame.FlameModel for LVE/EVE on a
    FLAME rig. mappings: for retargeting to ARKit for the phonetic checks (FLAME needs one)."""
    space = get_space(space) if isinstance(space, str) else space
    if not results:
        raise InputError("no clips to evaluate")
    notes: list[str] = []
    lip, emo = curve_masks(space)
    k = len(space)
    for r in results:
        if r.pred.shape != r.target.shape or r.pred.shape[1] != k:
            raise InputError(f"clip {r.clip.clip_id}: prediction {r.pred.shape} and reference {r.target.shape} differ")

    # Parameter errors, pooled over all frames of the split (FaceFormer/DEITalk average over the test set).
    lpe = [parameter_error(r.pred, r.target, lip) for r in results]
    epe = [parameter_error(r.pred, r.target, emo) for r in results]
    frames = sum(len(r.pred) for r in results)
    if not lip.any():
        notes.append(f"rig {space.name} has no lip curves (jaw/mouth/tongue): no lip parameter error")
    if not emo.any():
        notes.append(f"rig {space.name} has no non-lip expression curves: no emotion parameter error")
    metrics: dict = {
        "lip_error": _mean(np.concatenate(lpe)) if lip.any() else None,
        "emotion_error": _mean(np.concatenate(epe)) if emo.any() else None,
    }
    err = np.concatenate([np.abs(r.pred.astype(np.float64) - r.target) for r in results])
    metrics["mae"] = float(err.mean())
    region_names = list(dict.fromkeys(space.regions))
    region_mae = {g: float(err[:, space.region_mask(g)].mean()) for g in region_names}
    region_spread = {
        g: float(np.std([np.abs(r.pred - r.target)[:, space.region_mask(g)].mean() for r in results]))
        for g in region_names
    }

    # Vertex errors on FLAME.
    if flame is not None:
        if not space.name.startswith("flame"):
            raise InputError(f"LVE/EVE need a FLAME rig; this model outputs {space.name!r}")
        regions = regions or flame_regions(flame)
        lve, eve = [], []
        for r in results:
            pv, gv = flame_vertices(flame, r.pred, space), flame_vertices(flame, r.target, space)
            lve.append(vertex_error(pv, gv, regions.lips))
            eve.append(vertex_error(pv, gv, regions.upper))
        metrics["lve_mm"] = 1000 * float(np.concatenate(lve).mean())
        metrics["eve_mm"] = 1000 * float(np.concatenate(eve).mean())
        notes.append(f"LVE/EVE in mm (FLAME is in metres); {regions.how}")
        exp = sum(c.startswith("exp") for c in space.curves)
        if exp > flame.n_expression:
            notes.append(
                f"the FLAME model has {flame.n_expression} expression components: coefficients beyond them are left out of LVE/EVE"
            )

    # FFD.
    if features is None:
        features, features_name = (
            rig_statistics,
            "rig statistics (each curve's mean, std and velocity std over 1 s windows)",
        )
    f_pred = np.concatenate([features(r.pred) for r in results])
    f_true = np.concatenate([features(r.target) for r in results])
    metrics["ffd"] = frechet_distance(f_pred, f_true)

    # Diversity across labels.
    sweeps = [r for r in results if r.sweep is not None]
    if sweeps and emo.any():
        total = sum(float(r.sweep[:, :, emo].astype(np.float64).var(0).sum()) for r in sweeps)
        count = sum(r.sweep.shape[1] * int(emo.sum()) for r in sweeps)
        metrics["diversity"] = total / count
    else:
        metrics["diversity"] = None

    # Jitter.
    jp = [jitter(r.pred) for r in results]
    jt = [jitter(r.target) for r in results]
    metrics["jitter"] = sum(s for s, _ in jp) / max(1, sum(c for _, c in jp))
    metrics["jitter_gt"] = sum(s for s, _ in jt) / max(1, sum(c for _, c in jt))

    # Emotion recognisability.
    labels = [int(np.argmax(r.clip.emotion)) for r in results]
    emotion: dict = {"labels": list(EMOTIONS)}
    autos = [r for r in results if r.auto_probs is not None]
    if autos:
        truth = [int(np.argmax(r.clip.emotion)) for r in autos]
        guess = [int(np.argmax(r.auto_probs.mean(0))) for r in autos]
        metrics["auto_emotion_accuracy"] = float(np.mean(np.equal(truth, guess)))
        emotion["auto_confusion"] = _confusion(truth, guess, len(EMOTIONS)).tolist()
        auto_lpe = [parameter_error(r.auto_pred, r.target, lip) for r in autos if r.auto_pred is not None]
        auto_epe = [parameter_error(r.auto_pred, r.target, emo) for r in autos if r.auto_pred is not None]
        if auto_lpe and lip.any():
            metrics["lip_error_auto"] = _mean(np.concatenate(auto_lpe))
        if auto_epe and emo.any():
            metrics["emotion_error_auto"] = _mean(np.concatenate(auto_epe))
    else:
        metrics["auto_emotion_accuracy"] = None
    present = sorted(set(labels))
    if len(present) >= 2 and emo.any():
        look = np.stack([r.target[:, emo].mean(0) for r in results]).astype(np.float64)
        scale = look.std(0) + 1e-3
        centroids = np.stack([look[np.equal(labels, e)].mean(0) for e in present])
        pred_look = np.stack([r.pred[:, emo].mean(0) for r in results]).astype(np.float64)
        dist = (((pred_look[:, None] - centroids[None]) / scale) ** 2).sum(-1)
        guess = [present[i] for i in dist.argmin(1)]
        metrics["centroid_emotion_accuracy"] = float(np.mean(np.equal(labels, guess)))
        emotion["centroid_labels"] = [EMOTIONS[e] for e in present]
        emotion["centroid_confusion"] = _confusion(labels, guess, len(EMOTIONS)).tolist()
    else:
        metrics["centroid_emotion_accuracy"] = None
        notes.append("the nearest-centroid emotion check needs clips of two or more emotions")

    # Phonetic checks.
    phonetic: dict = {}
    with_phones = [r for r in results if getattr(r.clip, "phones", None) is not None]
    if phonetics and not with_phones:
        notes.append("no clip has phone timings: no phonetic checks")
    elif phonetics:
        try:
            measured = {c: ([], []) for c in CHECKS}
            for r in with_phones:
                phones = read_clip_phones(r.clip.phones)
                mp = phone_measures(to_arkit(r.pred, space, mappings), phones)
                mt = phone_measures(to_arkit(r.target, space, mappings), phones)
                for c in CHECKS:
                    measured[c][0].extend(mp[c])
                    measured[c][1].extend(mt[c])
        except InputError as e:
            notes.append(f"phonetic checks skipped: {e}")
        else:
            for c, (vp, vt) in measured.items():
                phonetic[c] = {
                    "phones": len(vp),
                    "pass_rate": float(passes(c, vp).mean()) if vp else None,
                    "pass_rate_gt": float(passes(c, vt).mean()) if vt else None,
                    "mean": _mean(vp),
                    "mean_gt": _mean(vt),
                    "threshold": f"{CHECKS[c][2]} {CHECKS[c][3]:g}",
                }
                metrics[c] = phonetic[c]["pass_rate"]

    per_clip = []
    for r, a, b in zip(results, lpe, epe):
        per_clip.append(
            {
                "clip_id": r.clip.clip_id,
                "emotion": EMOTIONS[int(np.argmax(r.clip.emotion))],
                "frames": len(r.pred),
                "lip_error": _mean(a),
                "emotion_error": _mean(b),
                "mae": float(np.abs(r.pred.astype(np.float64) - r.target).mean()),
            }
        )
    return {
        "metrics": metrics,
        "regions": {
            g: {"curves": int(space.region_mask(g).sum()), "mae": region_mae[g], "spread": region_spread[g]}
            for g in region_names
        },
        "phonetics": phonetic,
        "emotion": emotion,
        "ffd_features": features_name,
        "space": space.name,
        "frames": frames,
        "clips": len(results),
        "per_clip": per_clip,
        "notes": notes,
    }


def evaluate(
    net,
    clips,
    *,
    device: str = "cpu",
    flame=None,
    flame_masks=None,
    mappings=(),
    sweep: bool = True,
    auto: bool = True,
    phonetics: bool = True,
    progress: bool = False,
) -> dict:
    """Every metric of `net` (any preset) on `clips` (training.dataset.Clip in the net's rig space).

    A light check for validation during training: sweep=False, phonetics=False."""
    results = predict_clips(net, clips, device=device, sweep=sweep, auto=auto, progress=progress)
    features, name = motion_features(net, device)
    regions = flame_regions(flame, flame_masks) if flame is not None else None
    return score(
        results,
        net.cfg.space,
        features=features,
        features_name=name,
        flame=flame,
        regions=regions,
        mappings=mappings,
        phonetics=phonetics,
    )


# -- the report ------------------------------------------------------------------------------------


def _json_ready(x):
    """Numbers JSON can hold: NaN and infinities become null, numpy scalars plain numbers."""
    if isinstance(x, dict):
        return {str(k): _json_ready(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_json_ready(v) for v in x]
    if isinstance(x, np.ndarray):
        return _json_ready(x.tolist())
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        return float(x) if math.isfinite(float(x)) else None
    return x


def _fmt(x, digits: int = 4) -> str:
    if x is None:
        return "–"
    if isinstance(x, float) and (abs(x) >= 1e4 or (x != 0 and abs(x) < 10 ** -(digits - 1))):
        return f"{x:.{digits - 1}e}"
    return f"{x:.{digits}g}" if isinstance(x, float) else str(x)


def _pct(x) -> str:
    return "–" if x is None else f"{100 * x:.0f}%"


def metrics_table(scored: dict) -> str:
    """The headline metrics as a markdown table (report.md; docs can paste it from metrics.json)."""
    m, ph = scored["metrics"], scored.get("phonetics", {})
    rows = ["| metric | model | reference | what it means |", "|---|---|---|---|"]
    for key in ("lip_error", "emotion_error", "mae", "lve_mm", "eve_mm", "ffd", "diversity", "jitter"):
        if key not in m or (key in ("lve_mm", "eve_mm") and m[key] is None):
            continue
        name, doc = METRIC_DOCS[key]
        ref = (
            _fmt(m.get("jitter_gt"))
            if key == "jitter"
            else "0"
            if key in ("lip_error", "emotion_error", "mae", "lve_mm", "eve_mm", "ffd")
            else "–"
        )
        rows.append(f"| {name} | {_fmt(m[key])} | {ref} | {doc} |")
    for key in CHECKS:
        if key in ph:
            name, doc = METRIC_DOCS[key]
            what = "pauses" if key == "silence_still" else "phones"
            rate, rate_gt = _pct(ph[key]["pass_rate"]), _pct(ph[key]["pass_rate_gt"])
            rows.append(f"| {name} | {rate} | {rate_gt} | {doc} ({ph[key]['phones']} {what}) |")
    for key in ("auto_emotion_accuracy", "centroid_emotion_accuracy"):
        if m.get(key) is not None:
            name, doc = METRIC_DOCS[key]
            rows.append(f"| {name} | {_pct(m[key])} | – | {doc} |")
    return "\n".join(rows)


def _figure_bytes(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "clip"


def plot_clip(result: ClipResult, space: RigSpace, audio=None, phones=None):
    """Figure: the waveform (with phones) over predicted vs reference curves of one clip.
    ARKit-named curves when the rig has them, else the rig's curves that move most in the reference."""
    from matplotlib.figure import Figure

    from bridge.preview import SERIES

    names = [c for c in PLOT_CURVES if space.find(c) is not None]
    if len(names) >= 3:
        cols = [space.index(c) for c in names]
    else:
        cols = list(np.argsort(-result.target.var(0))[:6])
        names = [space.curves[i] for i in cols]
    t = np.arange(len(result.pred)) / FPS
    duration = max(len(t) / FPS, 1e-3)
    heights = [1.4] + [0.85] * len(cols)
    fig = Figure(figsize=(12, 0.8 + sum(heights)), dpi=100, layout="constrained")
    axes = fig.subplots(len(heights), 1, sharex=True, gridspec_kw={"height_ratios": heights}, squeeze=False)[:, 0]
    ax = axes[0]
    if audio is not None and len(audio):
        n = len(audio)
        bins = min(4000, n)
        edges = np.linspace(0, n, bins + 1).astype(np.int64)
        starts = edges[:-1][edges[1:] > edges[:-1]]
        peak = float(max(np.abs(audio).max(), 1e-9))
        ax.fill_between(
            starts / 16000,
            np.minimum.reduceat(audio, starts) / peak,
            np.maximum.reduceat(audio, starts) / peak,
            color=(70 / 255, 130 / 255, 180 / 255),
            lw=0,
            step="post",
        )
    ax.set_ylim(-1.1, 1.1)
    ax.set_yticks([])
    ax.set_ylabel("audio", rotation=0, ha="right", va="center")
    for start, end, phone in phones or ():
        if start > duration:
            continue
        ax.axvline(start, color="0.6", lw=0.5, zorder=0)
        if phone not in ("SIL", "SP"):
            ax.text(
                (start + min(end, duration)) / 2,
                0.97,
                phone,
                transform=ax.get_xaxis_transform(),
                ha="center",
                va="top",
                fontsize=7,
                clip_on=True,
            )
    pred_colour = tuple(c / 255 for c in SERIES[0])
    for ax, col, name in zip(axes[1:], cols, names):
        ax.plot(t, result.target[:, col], color="0.35", lw=1.3, label="reference")
        ax.plot(t, result.pred[:, col], color=pred_colour, lw=1.3, label="predicted")
        ax.set_ylabel(name, rotation=0, ha="right", va="center", fontsize=8)
        ax.tick_params(axis="y", labelsize=7)
        for start, _, _ in phones or ():
            if start <= duration:
                ax.axvline(start, color="0.9", lw=0.5, zorder=0)
    axes[1].legend(loc="upper right", fontsize=7, frameon=False, ncols=2)
    for ax in axes:
        ax.set_xlim(0, duration)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    axes[-1].set_xlabel("time (s)")
    emotion = EMOTIONS[int(np.argmax(result.clip.emotion))]
    fig.suptitle(
        f"{result.clip.clip_id}: {emotion} at {result.clip.intensity:g}, predicted vs reference ({space.name})",
        fontsize=10,
    )
    return fig


def plot_confusions(scored: dict):
    """Figure of the emotion confusion matrices (rows: label, columns: recognised as)."""
    from matplotlib.figure import Figure

    emotion = scored["emotion"]
    panels = [
        (key, title)
        for key, title in (
            ("auto_confusion", "network's own estimate (auto)"),
            ("centroid_confusion", "nearest centroid of the predicted upper face"),
        )
        if key in emotion
    ]
    fig = Figure(figsize=(5.2 * max(1, len(panels)), 4.8), dpi=100, layout="constrained")
    if not panels:
        ax = fig.subplots()
        ax.text(0.5, 0.5, "no emotion check was possible", ha="center", va="center")
        ax.set_axis_off()
        return fig
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (key, title) in zip(axes, panels):
        m = np.asarray(emotion[key])
        ax.imshow(m, cmap="Blues", vmin=0, vmax=max(1, m.max()))
        for i in range(m.shape[0]):
            for j in range(m.shape[1]):
                if m[i, j]:
                    ax.text(
                        j,
                        i,
                        str(m[i, j]),
                        ha="center",
                        va="center",
                        fontsize=8,
                        color="white" if m[i, j] > m.max() / 2 else "black",
                    )
        ax.set_xticks(range(len(EMOTIONS)), EMOTIONS, rotation=45, ha="right", fontsize=8)
        ax.set_yticks(range(len(EMOTIONS)), EMOTIONS, fontsize=8)
        ax.set_xlabel("recognised as")
        ax.set_ylabel("label")
        ax.set_title(title, fontsize=9)
    return fig


def plot_regions(scored: dict):
    """Figure: mean absolute error per face region, with the spread across clips."""
    from matplotlib.figure import Figure

    regions = scored["regions"]
    names = list(regions)
    fig = Figure(figsize=(max(5, 0.9 * len(names) + 2), 3.6), dpi=100, layout="constrained")
    ax = fig.subplots()
    ax.bar(
        names,
        [regions[g]["mae"] for g in names],
        yerr=[regions[g]["spread"] for g in names],
        color=(0.94, 0.55, 0.47),
        capsize=4,
    )
    ax.set_ylabel("mean absolute error")
    ax.set_title(f"error by face region ({scored['space']}; bars: spread across clips)", fontsize=10)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return fig


def _model_lines(model: dict) -> list[str]:
    doc = model.get("config_doc", {})
    cfg = doc.get("config", {})
    training = doc.get("training", {}) or {}
    lines = ["| field | value |", "|---|---|"]
    lines.append(f"| preset | {doc.get('preset', '?')} |")
    lines.append(f"| rig space | {doc.get('space', '?')} |")
    if "lookahead_s" in doc:
        lines.append(f"| latency (lookahead) | {1000 * float(doc['lookahead_s']):.0f} ms |")
    if model.get("parameters"):
        lines.append(f"| parameters | {model['parameters']:,} |")
    for key, value in cfg.items():
        if key != "space":
            lines.append(f"| config.{key} | {json.dumps(value)} |")
    for key, value in training.items():
        if isinstance(value, (str, int, float, bool)) or value is None:
            lines.append(f"| training.{key} | {json.dumps(value)} |")
        elif isinstance(value, dict):
            flat = ", ".join(
                f"{k} {_fmt(v) if isinstance(v, float) else v}"
                for k, v in value.items()
                if isinstance(v, (int, float, str))
            )
            lines.append(f"| training.{key} | {flat} |")
    return lines


def report_markdown(scored: dict, model: dict, data: dict, images: dict) -> str:
    m = scored["metrics"]
    doc = model.get("config_doc", {})
    emotions = ", ".join(f"{k} {n}" for k, n in data.get("emotions", {}).items())
    lines = [
        f"# Evaluation of {model['name']}",
        "",
        f"Model `{model['path']}` ({doc.get('preset', '?')}, rig `{scored['space']}`) on the **{data['split']}** split of "
        f"`{data['manifest']}`: **{scored['clips']} clips**, {data.get('seconds', 0) / 60:.1f} min, "
        f"{data.get('speakers', '?')} speaker(s); emotions: {emotions or '–'}.",
        "Predictions are offline (the whole clip at once, aligned to the audio) with each clip's own emotion "
        "label and intensity; the reference is the clip's curves (or the teacher's animation of its phones).",
        "",
        "## Metrics",
        "",
        metrics_table(scored),
        "",
        f"FFD compares motion in this feature space: {scored['ffd_features']}.",
    ]
    if m.get("lip_error_auto") is not None:
        lines.append(
            f"With the emotion read from the voice (auto): lip error {_fmt(m['lip_error_auto'])}, "
            f"emotion error {_fmt(m.get('emotion_error_auto'))}."
        )
    if scored.get("phonetics"):
        lines += [
            "",
            "## Phonetic checks",
            "",
            "Measured on ARKit curves at each phone of the clips' phone timings (other rigs are retargeted to ARKit first).",
            "",
            "| check | phones | pass rate | reference pass rate | measured | mean | reference mean | passes when |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for key, row in scored["phonetics"].items():
            title, measured, _, _ = CHECKS[key]
            lines.append(
                f"| {title} | {row['phones']} | {_pct(row['pass_rate'])} | {_pct(row['pass_rate_gt'])} | {measured} | "
                f"{_fmt(row['mean'], 3)} | {_fmt(row['mean_gt'], 3)} | {row['threshold']} |"
            )
    lines += ["", "## Emotion", ""]
    if "confusion" in images:
        lines.append(f"![emotion confusion]({images['confusion']})")
    lines += [
        "",
        "## Error by face region",
        "",
        "| region | curves | mean absolute error |",
        "|---|---|---|",
    ]
    lines += [f"| {g} | {r['curves']} | {_fmt(r['mae'])} |" for g, r in scored["regions"].items()]
    if "regions" in images:
        lines += ["", f"![error by region]({images['regions']})"]
    worst = sorted((c for c in scored["per_clip"] if c["lip_error"] is not None), key=lambda c: -c["lip_error"])[:10]
    if worst:
        lines += [
            "",
            "## Clips, worst lip error first",
            "",
            "| clip | emotion | frames | lip error | emotion error | MAE |",
            "|---|---|---|---|---|---|",
        ]
        lines += [
            f"| {c['clip_id']} | {c['emotion']} | {c['frames']} | {_fmt(c['lip_error'])} | {_fmt(c['emotion_error'])} | {_fmt(c['mae'])} |"
            for c in worst
        ]
    if images.get("clips"):
        lines += ["", "## Curves", ""]
        lines += [f"![{name}]({name})" for name in images["clips"]]
    lines += ["", "## Model", "", *_model_lines(model)]
    if scored["notes"]:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in scored["notes"]]
    lines += ["", "Definitions of every metric: docs/evaluation.md. Machine-readable numbers: metrics.json.", ""]
    return "\n".join(lines)


def write_report(folder, scored: dict, results: list[ClipResult], model: dict, data: dict, plots: int = 3) -> Path:
    """report.md + metrics.json + PNGs in `folder` (which must exist), each written atomically;
    report.md last, so a folder with a report has everything it shows."""
    from bridge.audio import load_audio
    from retarget.fileio import atomic_write_bytes, atomic_write_text

    folder = Path(folder)
    space = get_space(scored["space"])
    images: dict = {"clips": []}
    for r in results[:plots]:
        audio = None
        if getattr(r.clip, "audio", None) is not None:
            try:
                audio = load_audio(r.clip.audio)
            except InputError:
                audio = None
        phones = None
        if getattr(r.clip, "phones", None) is not None:
            try:
                phones = read_clip_phones(r.clip.phones)
            except InputError:
                phones = None
        name = f"clip-{_safe_name(r.clip.clip_id)}.png"
        atomic_write_bytes(folder / name, _figure_bytes(plot_clip(r, space, audio, phones)))
        images["clips"].append(name)
    atomic_write_bytes(folder / "confusion.png", _figure_bytes(plot_confusions(scored)))
    images["confusion"] = "confusion.png"
    atomic_write_bytes(folder / "regions.png", _figure_bytes(plot_regions(scored)))
    images["regions"] = "regions.png"
    doc = {
        "format": FORMAT,
        "version": VERSION,
        "model": {k: v for k, v in model.items() if k != "config_doc"} | {"config": model.get("config_doc", {})},
        "data": data,
        **scored,
        "images": images,
    }
    atomic_write_text(folder / "metrics.json", json.dumps(_json_ready(doc), indent=2, ensure_ascii=False) + "\n")
    atomic_write_text(folder / "report.md", report_markdown(scored, model, data, images))
    return folder


def report_inputs(model_path, net, doc: dict, manifest, split: str, clips) -> tuple[dict, dict]:
    """(model, data) descriptions for write_report from a checkpoint and the clips evaluated."""
    from collections import Counter

    model = {
        "path": str(model_path),
        "name": Path(model_path).resolve().name,
        "preset": doc.get("preset"),
        "space": doc.get("space"),
        "parameters": int(sum(p.numel() for p in net.parameters())),
        "config_doc": doc,
    }
    emotions = Counter(EMOTIONS[int(np.argmax(c.emotion))] for c in clips)
    data = {
        "manifest": str(manifest),
        "split": split,
        "clips": len(clips),
        "seconds": float(sum(len(c) for c in clips) / FPS),
        "speakers": len({c.speaker for c in clips}),
        "emotions": dict(emotions.most_common()),
    }
    return model, data
