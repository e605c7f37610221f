"""`emorig bench bake`: the whole `emorig bake` command (start-up included) over a generated set
of lines, against one `emorig animate` per line, and the re-run that finds everything fresh."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from .bench import SR, machine, speechlike


def _run(args) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "bridge.cli", *map(str, args)], check=True, capture_output=True)
    return time.perf_counter() - t0


def bake(seconds: float = 560.0, model: str = "default", rig: str = "livelinkface") -> str:
    import soundfile as sf

    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory(prefix="emorig-bench-bake-") as tmp:
        folder, total, lengths = Path(tmp) / "lines", 0.0, []
        folder.mkdir()
        while total < seconds:
            length = float(rng.uniform(1.0, 6.0))  # a game line: 1-6 s
            sf.write(folder / f"line{len(lengths):05d}.wav", speechlike(length, seed=len(lengths)), SR)
            lengths.append(length)
            total += length
        out = Path(tmp) / "takes"
        common = ["--model", model, "--rig", rig, "--fps", "60"]
        first = _run(["bake", folder, "-o", out, "--quiet", *common])
        second = _run(["bake", folder, "-o", out, "--quiet", *common])
        per_line = [
            _run(["animate", p, "-o", Path(tmp) / "one.csv", "--quiet", *common]) for p in sorted(folder.iterdir())[:3]
        ]
    n = len(lengths)
    animate = float(np.median(per_line))
    return "\n".join(
        [
            f"bake: {n} generated lines (1-6 s, {total:.0f} s of speech-like audio), {model} model, {rig} CSV at 60 fps",
            f"  emorig bake (whole command): {first:.2f} s wall, {n / first:.1f} lines/s, x{total / first:.0f} real time",
            f"  second identical run (all fresh): {second:.2f} s",
            f"  one emorig animate per line: {animate:.2f} s a line (median of 3) -> {animate * n:.0f} s for the set, "
            f"bake x{animate * n / first:.1f} faster",
            f"  machine: {machine()}",
        ]
    )
