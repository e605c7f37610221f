"""Building subjects from command-line choices: the model, the device, VAD, sinks, controls.

Kept apart from the CLI so the benchmarks and tests build subjects the same way.
"""

from __future__ import annotations

import logging

from retarget.errors import InputError

from .model import FaceModel

log = logging.getLogger("emorig")

MODELS = ("default", "reference")  # default: the trained network shipped in training/default_model


def resolve_device(spec: str, model: str | None = None) -> str:
    """cpu | cuda | auto -> the device models run on. cuda without a GPU is an error; auto falls back.
    `model`: the --model it is for; the reference model runs on numpy, so asking torch about GPUs
    (an import of ~0.8 s) is skipped for it."""
    if spec not in ("cpu", "cuda", "auto"):
        raise InputError(f"--device must be cpu, cuda or auto, not {spec!r}")
    if spec == "cpu" or (model == "reference" and spec == "auto"):
        return "cpu"
    try:
        import torch

        has_cuda = torch.cuda.is_available()
    except ImportError:
        has_cuda = False
    if spec == "cuda" and not has_cuda:
        raise InputError("--device cuda: no CUDA GPU is available here (PyTorch with CUDA is needed); use --device cpu")
    return "cuda" if has_cuda else "cpu"


def load_model(spec: str, device: str, live: bool = False) -> FaceModel:
    """`default` (the shipped network), `reference` (the DSP model), or a checkpoint folder
    (safetensors + JSON, e.g. from `emorig train`). `live`: for 10 ms blocks rather than whole files (on the CPU both now run one torch thread)."""
    if spec == "reference":
        from .reference_model import ReferenceModel

        return ReferenceModel()
    try:
        from training.inference import DEFAULT_MODEL, load_face_model  # torch loads here, not before
    except ModuleNotFoundError as e:
        if e.name not in ("torch", "safetensors"):
            raise
        raise InputError(
            f"model {spec!r} needs PyTorch ({e.name} is not installed); --model reference runs without"
        ) from None
    if device == "cpu":
        # One thread, live and offline. A live block is one frame of network: too little work to
        # share between threads, and torch's thread pool then spins against everything else on the
        # machine (measured with `emorig bench model` beside another busy process: p99 per 10 ms
        # block 192 ms with the default threads, 5 ms with one). Offline, the thread count changes
        # the order of float sums (frames differ by ~1e-7, visible in a take's 10 decimals): with
        # one thread a take is the same bytes whichever machine, --jobs or Ray worker made it.
        import torch

        torch.set_num_threads(1)
    return load_face_model(DEFAULT_MODEL if spec == "default" else spec, device)
