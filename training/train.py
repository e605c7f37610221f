"""Training: a manifest -> windows -> Adam, stage by stage -> a checkpoint folder.

Read top to bottom: `train(options)` loads the clips (feature cache), builds the preset, then for
each of the preset's stages runs `steps` optimiser steps on random windows, validating every
`val_every` steps on a fixed set of held-out windows (speakers never seen in training). The
output folder is itself a checkpoint (`--model OUT` works anywhere): the best validation weights
of the last stage, or the latest when there is no validation split or with `--keep last`; with
`--ema D`, those weights are the moving average of the trained ones (OUT/last/ema.safetensors).

    OUT/config.json, model.safetensors   the model (training/checkpoint.py; never pickled)
    OUT/last/                            the latest weights + optimizer.safetensors + state.json:
                                         stage, step, RNG states, so --resume continues exactly
    OUT/log.jsonl                        one line per logged step / validation
    OUT/curves.png                       training and validation loss over steps

Multi-GPU / multi-node: launch with `torchrun --nproc_per_node N -m training.train ...` (or
`torchrun ... $(which emorig) train ...`): every rank draws its own windows (seed + rank), the
gradients are averaged by DistributedDataParallel, rank 0 writes. Without torchrun it runs in one
process on the GPU when there is one, else the CPU.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from retarget.errors import InputError
from retarget.fileio import atomic_output, atomic_write_text
from training.checkpoint import read_config, save_checkpoint
from training.dataset import SILENCE_MEL, WindowSampler, load_clips


@dataclass
class TrainOptions:
    preset: str
    data: Path
    out: Path
    rig: str | None = None  # None: arkit, or the checkpoint's with --init / --resume
    steps: int = 2000  # per stage
    batch: int = 16
    lr: float | None = None  # None: the preset config's `lr`, else 1e-4
    window: int = 200  # frames (2 s)
    val_every: int = 250
    val_windows: int = 64
    seed: int = 0
    device: str | None = None
    cache: Path = Path(".cache/features")
    overrides: dict = field(default_factory=dict)  # config field -> value
    resume: bool = False
    init: Path | None = None  # fine-tune: start from this checkpoint's weights (see start_from)
    threads: int | None = None
    progress: bool = True
    augment: int = 0  # augmented copies of every training clip (training.augment.training_variant)
    jobs: int = 1  # processes that compute them the first time
    recorded_share: float | None = None  # share of windows from people's recordings (None: by length)
    speaker_warp: float = 0.0  # each window's frequencies scaled by 1 +- this (training.dataset.speaker_warp)
    ema: float = 0.0  # validate and keep an exponential moving average of the weights (decay per step); 0: off
    keep: str = "best"  # the checkpoint OUT holds: "best" validation rig error, or the "last" weights


# -- distributed -----------------------------------------------------------------------------------


@dataclass
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


def init_distributed(device: str | None) -> tuple[Dist, str]:
    """torchrun sets WORLD_SIZE/RANK/LOCAL_RANK; without them this is a single process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return Dist(), device or ("cuda" if torch.cuda.is_available() else "cpu")
    dist = Dist(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0")))
    use_cuda = torch.cuda.is_available() and (device is None or device.startswith("cuda"))
    torch.distributed.init_process_group("nccl" if use_cuda else "gloo")
    if use_cuda:
        torch.cuda.set_device(dist.local_rank)
        return dist, f"cuda:{dist.local_rank}"
    return dist, "cpu"


class _StageLoss(torch.nn.Module):
    """DistributedDataParallel wraps a module's forward; the presets' forward is inference, so the
    loss goes through this thin wrapper."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, batch, stage):
        return self.net.loss(batch, stage)


# -- optimiser state as safetensors (no pickle anywhere in a checkpoint) --------------------------


def _optimizer_tensors(opt) -> tuple[dict, dict]:
    sd = opt.state_dict()
    tensors = {}
    for idx, state in sd["state"].items():
        for name, value in state.items():
            tensors[f"{idx}.{name}"] = torch.as_tensor(value).detach().cpu().contiguous()
    return tensors, {"param_groups": sd["param_groups"]}


def _load_optimizer(opt, tensors: dict, meta: dict) -> None:
    state: dict = {}
    for key, value in tensors.items():
        idx, name = key.split(".", 1)
        state.setdefault(int(idx), {})[name] = value
    opt.load_state_dict({"state": state, "param_groups": meta["param_groups"]})


def save_training_state(folder: Path, net, preset: str, opt, state: dict, training: dict) -> None:
    from safetensors.torch import save

    save_checkpoint(folder, net, preset, training=training)
    tensors, meta = _optimizer_tensors(opt)
    tensors["torch_rng"] = torch.get_rng_state()
    with atomic_output(folder / "optimizer.safetensors", "wb") as f:
        f.write(save(tensors))
    atomic_write_text(folder / "state.json", json.dumps({**state, "optimizer": meta}, indent=1) + "\n")


def load_training_state(folder: Path, make_optimizer) -> tuple[dict, torch.optim.Optimizer]:
    """-> (the run's state, the optimizer `make_optimizer(stage_index)` builds, with its saved state)."""
    from safetensors.torch import load_file

    try:
        state = json.loads((folder / "state.json").read_text("utf-8"))
        tensors = load_file(str(folder / "optimizer.safetensors"))
        opt = make_optimizer(state["stage"])
    except (OSError, ValueError, KeyError, IndexError) as e:
        raise InputError(f"cannot resume: {e}", path=folder) from None
    torch.set_rng_state(tensors.pop("torch_rng"))
    _load_optimizer(opt, tensors, state.pop("optimizer"))
    return state, opt


# -- the weight average (`--ema`) --------------------------------------------------------------


def _averaged(net, decay: float):
    from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

    if not 0.0 < decay < 1.0:
        raise InputError(f"--ema must be between 0 and 1 (a decay per step, e.g. 0.998), not {decay}")
    return AveragedModel(net, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)


def _save_averaged(averaged, folder: Path) -> None:
    from safetensors.torch import save

    tensors = {k: v.detach().cpu().contiguous() for k, v in averaged.state_dict().items()}
    with atomic_output(folder / "ema.safetensors", "wb") as f:
        f.write(save(tensors))


def _load_averaged(averaged, folder: Path) -> None:
    from safetensors.torch import load_file

    try:
        averaged.load_state_dict(load_file(str(folder / "ema.safetensors")))
    except (OSError, RuntimeError, ValueError) as e:
        raise InputError(f"cannot resume the weight average: {e}", path=folder) from None


# -- the loop -------------------------------------------------------------------------------------


def _to_device(batch: dict, device: str) -> dict:
    out = {k: torch.from_numpy(v).to(device) for k, v in batch.items()}
    out["silence_mel"] = SILENCE_MEL
    return out


def start_from(folder, preset: str | None, rig: str | None, overrides: dict):
    """A network to go on training (--resume: no overrides) or fine-tune (--init): the checkpoint's
    preset, rig and config with `overrides` on top, holding the checkpoint's weights. Parts the
    overrides add (e.g. `closure_head`) start fresh; a change of shape (another rig, other
    widths) is refused: those weights would not fit."""
    from training.checkpoint import read_weights

    doc = read_config(folder)
    if preset is not None and preset != doc["preset"]:
        raise InputError(f"holds a {doc['preset']} network, not {preset}", path=folder)
    if rig is not None and rig != doc["space"]:
        raise InputError(f"outputs {doc['space']}, not {rig}: its weights fit that rig only", path=folder)
    net = build_net(doc["preset"], doc["space"], {**doc["config"], **overrides})
    weights = read_weights(folder)
    own = net.state_dict()
    unfit = sorted(k for k, v in weights.items() if k not in own or own[k].shape != v.shape)
    if not overrides:  # the same config: every weight must be there
        unfit += sorted(set(own) - set(weights))
    if unfit:
        raise InputError(f"weights do not fit the config (first: {unfit[0]})", path=folder)
    net.load_state_dict(weights, strict=False)
    return net, doc["preset"]


def build_net(preset: str, rig: str, overrides: dict):
    from training.models import PRESETS

    if preset not in PRESETS:
        raise InputError(f"unknown preset {preset!r}; known: {', '.join(PRESETS)}")
    net_cls, cfg_cls = PRESETS[preset]
    names = {f.name for f in dataclasses.fields(cfg_cls)}
    unknown = sorted(set(overrides) - names)
    if unknown:
        raise InputError(f"{preset} has no config field {unknown[0]!r}; fields: {', '.join(sorted(names))}")
    try:
        cfg = cfg_cls(**{"space": rig, **overrides})
        return net_cls(cfg)
    except (TypeError, ValueError, KeyError) as e:
        raise InputError(f"bad {preset} config: {e}") from None


@torch.no_grad()
def validate(net, sampler: WindowSampler, windows, stage: str, device: str, batch: int) -> dict:
    """Mean loss parts of `stage` and the rig errors of the offline prediction on fixed windows."""
    from training.models.blocks import lip_mask

    net.eval()
    lip = lip_mask(net.cfg.space).to(device)
    sums: dict[str, float] = {}
    n = 0
    batches = [
        _to_device(sampler.collate(windows[i : i + batch], np.random.default_rng(i)), device)
        for i in range(0, len(windows), batch)
    ]
    # Decision thresholds (deitalk's closure gate) are fitted here, on held-out voices, before
    # the errors that choose the best checkpoint are measured.
    fitted = net.calibrate(batches) if hasattr(net, "calibrate") else {}
    for b in batches:
        total, parts = net.loss(b, stage)
        pred = net.predict(b["mel"], b["emotion"], b["intensity"], SILENCE_MEL)["rig"]
        err = (pred - b["target"]) ** 2
        values = {"loss": total, **parts, "rig_mse": err.mean(), "lip_mse": err[..., lip].mean()}
        if (~lip).any():
            values["other_mse"] = err[..., ~lip].mean()
        k = len(b["mel"])
        for name, v in values.items():
            sums[name] = sums.get(name, 0.0) + float(v) * k
        n += k
    net.train()
    return {**{name: v / n for name, v in sums.items()}, **fitted}


def plot_log(log_path: Path, png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [json.loads(line) for line in log_path.read_text("utf-8").splitlines() if line.strip()]
    train = [r for r in rows if r["kind"] == "train"]
    val = [r for r in rows if r["kind"] == "val"]
    fig, ax = plt.subplots(figsize=(8, 4), dpi=100)
    for stage in dict.fromkeys(r["stage"] for r in train):
        mine = [r for r in train if r["stage"] == stage]
        ax.plot([r["step"] for r in mine], [r["loss"] for r in mine], lw=0.8, label=f"train loss ({stage})")
    if val:
        ax.plot([r["step"] for r in val], [r["rig_mse"] for r in val], "o-", label="validation rig MSE")
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    with atomic_output(png, "wb") as f:
        fig.savefig(f, format="png")
    plt.close(fig)


def train(o: TrainOptions) -> Path:
    from tqdm import tqdm

    from training.features import FeatureCache
    from training.manifest import read_manifest

    dist, device = init_distributed(o.device)
    if o.threads:
        torch.set_num_threads(o.threads)
    torch.manual_seed(o.seed + dist.rank)
    out = Path(o.out)
    last = out / "last"
    if o.resume and not (last / "state.json").is_file():
        raise InputError("nothing to resume (no last/state.json)", path=out)
    if not o.resume and (out / "last").exists():
        raise InputError("already holds a training run; pass --resume to continue it or choose another -o", path=out)

    if o.resume:
        net, preset = start_from(last, o.preset, o.rig, {})
    elif o.init is not None:
        net, preset = start_from(o.init, o.preset, o.rig, o.overrides)
    else:
        net = build_net(o.preset, o.rig or "arkit", o.overrides)
        preset = o.preset
    rig = net.cfg.space  # on --resume, the run's own rig
    entries = read_manifest(o.data)
    train_entries = [e for e in entries if e.split == "train"]
    val_entries = [e for e in entries if e.split == "val"]
    if not train_entries:
        raise InputError("no clips in the train split", path=o.data)
    cache = FeatureCache(o.cache)
    show = o.progress and dist.main
    train_clips = load_clips(train_entries, cache, rig, progress=show, desc="train clips")
    if o.augment:
        from training.dataset import augmented_clips

        train_clips += augmented_clips(train_clips, cache, o.augment, o.seed, o.jobs, progress=show)
    val_clips = load_clips(val_entries, cache, rig, progress=show, desc="val clips")
    sampler = WindowSampler(train_clips, o.window, recorded_share=o.recorded_share)
    val_sampler = WindowSampler(val_clips, o.window, sampler.speakers) if val_clips else None
    val_windows = val_sampler.fixed_windows(o.val_windows, o.seed) if val_sampler else []

    net.to(device).train()
    if hasattr(net, "n_speakers_seen"):
        net.n_speakers_seen = len(sampler.speakers)
    # Why an average (issue 12): closures on held-out voices swung by 18 points between two
    # checkpoints 3000 steps apart with the same validation error; the average of the weights over
    # the last ~1/(1 - ema) steps is a steadier function of the audio than any one step's weights.
    averaged = _averaged(net, o.ema) if o.ema else None
    rng = np.random.default_rng(o.seed + dist.rank)
    if not o.resume and o.init is None and hasattr(net, "fit_content_tokens"):  # EmoTalker: k-means content tokens
        mels = [torch.from_numpy(sampler.batch(o.batch, rng)["mel"]).to(device) for _ in range(8)]
        net.fit_content_tokens(mels)

    model = _StageLoss(net)
    if dist.world > 1:
        model = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[dist.local_rank] if device.startswith("cuda") else None, find_unused_parameters=True
        )
    lr = o.lr or getattr(net.cfg, "lr", 1e-4)
    stages = list(net.stages)

    def make_optimizer(stage_index: int):
        return torch.optim.Adam(net.stage_parameters(stages[stage_index]), lr=lr)

    if o.resume:
        state, opt = load_training_state(last, make_optimizer)
        rng.bit_generator.state = state.pop("numpy_rng")
        if averaged is not None:
            _load_averaged(averaged, last)
    else:
        state = {"stage": 0, "step": 0, "best": math.inf, "speakers": sampler.speakers}
        opt = make_optimizer(0)
    if dist.main:
        out.mkdir(parents=True, exist_ok=True)
    log_path = out / "log.jsonl"
    n_params = sum(p.numel() for p in net.parameters())
    if show:
        print(
            f"{preset} on {rig}: {n_params / 1e6:.2f} M parameters, {len(train_clips)} train clips "
            f"({sum(map(len, train_clips)) / 100 / 60:.1f} min), {len(val_clips)} val clips, device {device}"
            + (f", {dist.world} processes" if dist.world > 1 else ""),
            file=sys.stderr,
        )

    def checkpoint(final_stage: bool, val: dict | None):
        if not dist.main:
            return
        meta = {
            "preset": preset,
            "data": str(o.data),
            "steps_per_stage": o.steps,
            "stage": stages[state["stage"]],
            "step": state["step"],
            "batch": o.batch * dist.world,
            "window": o.window,
            "lr": lr,
            "seed": o.seed,
            "train_clips": len(train_clips),
            # How to make it again: the starting weights, config changes and data sampling.
            "init": None if o.init is None else str(o.init),
            "overrides": o.overrides,
            "augment": o.augment,
            "recorded_share": o.recorded_share,
            "speaker_warp": o.speaker_warp,
            "ema": o.ema,
            "keep": o.keep,
            "val": val,
        }
        save_training_state(last, net, preset, opt, {**state, "numpy_rng": rng.bit_generator.state}, meta)
        if averaged is not None:
            _save_averaged(averaged, last)
        if final_stage and (val is None or o.keep == "last" or val["rig_mse"] <= state["best"]):
            if val is not None:
                state["best"] = min(state["best"], val["rig_mse"])
            save_checkpoint(out, net if averaged is None else averaged.module, preset, training=meta)

    def log(row: dict):
        if dist.main:
            with open(log_path, "a", encoding="utf-8") as f:
                f.write(json.dumps(row) + "\n")

    while state["stage"] < len(stages):
        stage = stages[state["stage"]]
        final_stage = state["stage"] == len(stages) - 1
        bar = tqdm(
            total=o.steps,
            initial=state["step"],
            desc=f"{preset} {stage}",
            unit="step",
            disable=not show,
            smoothing=0.05,
        )
        started = time.time()
        while state["step"] < o.steps:
            batch = _to_device(sampler.batch(o.batch, rng, warp=o.speaker_warp), device)
            total, parts = model(batch, stage)
            if not torch.isfinite(total):
                raise RuntimeError(f"loss is {float(total)} at {stage} step {state['step']}; lower --lr")
            opt.zero_grad(set_to_none=True)
            total.backward()
            torch.nn.utils.clip_grad_norm_(net.stage_parameters(stage), 10.0)
            opt.step()
            if averaged is not None:
                averaged.update_parameters(net)
            state["step"] += 1
            bar.update(1)
            if state["step"] % 10 == 0 or state["step"] == o.steps:
                row = {"kind": "train", "stage": stage, "step": state["step"], "loss": total.item()}
                row.update({k: float(v) for k, v in parts.items()})
                log(row)
                bar.set_postfix(loss=f"{total.item():.4f}")
            if state["step"] % o.val_every == 0 or state["step"] == o.steps:
                judged = net if averaged is None else averaged.module
                val = validate(judged, val_sampler, val_windows, stage, device, o.batch) if val_windows else None
                if val is not None:
                    log({"kind": "val", "stage": stage, "step": state["step"], **val})
                    bar.set_postfix(loss=f"{total.item():.4f}", val=f"{val['rig_mse']:.4f}")
                checkpoint(final_stage, val)
                if dist.main:
                    plot_log(log_path, out / "curves.png")
        bar.close()
        if show:
            print(f"{stage}: {o.steps} steps in {time.time() - started:.0f} s", file=sys.stderr)
        state["stage"] += 1
        state["step"] = 0
        if state["stage"] < len(stages):
            opt = make_optimizer(state["stage"])
            if averaged is not None:  # a new stage trains other parameters: average afresh
                averaged = _averaged(net, o.ema)
    if dist.world > 1:
        torch.distributed.destroy_process_group()
    return out


def main(argv=None) -> int:
    """`python -m training.train ...` (the entry torchrun runs) = `emorig train ...`."""
    from bridge.cli import main as cli_main

    return cli_main(["train", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
