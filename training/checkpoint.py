"""Checkpoints as folders: `model.safetensors` (weights) + `config.json` (everything else).

Loading never unpickles: safetensors holds only tensors and JSON only data, so a checkpoint from
anywhere cannot run code. Any problem (missing file, bad JSON, a pickle where safetensors should be,
weights that do not fit the config) is an InputError whose one line names the file.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from retarget.errors import InputError

FORMAT = "emorig-checkpoint"
VERSION = 1
WEIGHTS = "model.safetensors"
CONFIG = "config.json"


def save_checkpoint(folder, model, preset: str, training: dict | None = None) -> Path:
    """Write `model` (a network from training.models.PRESETS[preset]) to `folder`."""
    from safetensors.torch import save

    from retarget.fileio import atomic_output, atomic_write_text
    from training.features import FeatureParams

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    cfg = model.cfg
    params = FeatureParams()
    doc = {
        "format": FORMAT,
        "version": VERSION,
        "preset": preset,
        "config": dataclasses.asdict(cfg),
        "space": cfg.space,
        "sample_rate": params.sample_rate,
        "frame_rate": params.frame_rate,
        "lookahead_frames": cfg.lookahead,
        "lookahead_s": (params.win_length // 2 + cfg.lookahead * params.hop_length) / params.sample_rate,
        "training": training or {},
    }
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    # Each file is written whole or not at all; the config last, so a folder with a config has weights.
    with atomic_output(folder / WEIGHTS, "wb") as f:
        f.write(save(state))
    atomic_write_text(folder / CONFIG, json.dumps(doc, indent=2) + "\n")
    return folder


def read_config(folder) -> dict:
    path = Path(folder) / CONFIG
    if not Path(folder).is_dir():
        raise InputError("not a checkpoint folder (expected config.json + model.safetensors)", path=folder)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError("missing", path=path) from None
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InputError(f"not valid JSON ({e})", path=path) from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise InputError(f"not an {FORMAT} config", path=path)
    if doc.get("version") != VERSION:
        raise InputError(f"checkpoint version {doc.get('version')!r}, this emorig reads {VERSION}", path=path)
    return doc


def read_weights(folder) -> dict:
    """The folder's model.safetensors as {name: tensor}; missing or damaged is a one-line error."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    wpath = Path(folder) / WEIGHTS
    if not wpath.is_file():
        raise InputError("missing", path=wpath)
    try:
        return load_file(str(wpath))
    except (SafetensorError, OSError, ValueError) as e:
        raise InputError(f"not a safetensors file ({e})", path=wpath) from None


def load_checkpoint(folder, device: str = "cpu"):
    """-> (model in eval mode on `device`, config document)."""
    from training.models import PRESETS

    folder = Path(folder)
    doc = read_config(folder)
    cpath, wpath = folder / CONFIG, folder / WEIGHTS
    if doc.get("preset") not in PRESETS:
        raise InputError(f"unknown preset {doc.get('preset')!r}; known: {', '.join(PRESETS)}", path=cpath)
    net_cls, cfg_cls = PRESETS[doc["preset"]]
    fields = {f.name for f in dataclasses.fields(cfg_cls)}
    given = doc.get("config")
    if not isinstance(given, dict) or set(given) - fields:
        extra = sorted(set(given or {}) - fields) if isinstance(given, dict) else "not an object"
        raise InputError(f"config does not fit preset {doc['preset']!r}: {extra}", path=cpath)
    try:
        cfg = cfg_cls(**given)
        model = net_cls(cfg)
    except Exception as e:  # e.g. an unknown rig space
        raise InputError(f"config does not build a model ({e})", path=cpath) from None
    state = read_weights(folder)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        first = str(e).splitlines()[0:2]
        raise InputError(f"weights do not fit config.json ({' '.join(first)})", path=wpath) from None
    return model.to(device).eval(), doc
