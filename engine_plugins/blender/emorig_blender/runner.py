"""Running `emorig animate` for the add-on: as a command (the installed `emorig`, or any command
line the user sets) or in Blender's own Python when the emorig package imports there."""

from __future__ import annotations

import contextlib
import io
import shlex
import shutil
import subprocess

EMOTIONS = ("neutral", "happy", "sad", "angry", "surprised", "fear", "disgust", "contempt", "auto")
EMORIG_RATES = (24.0, 25.0, 30.0, 50.0, 60.0)  # what `emorig animate --fps` accepts
TIMEOUT_S = 600


class RunError(RuntimeError):
    """emorig could not animate the file; the message is one line."""


def take_rate(scene_fps: float) -> float:
    """The rate to ask emorig for: the scene's when emorig offers it (no resampling), else 60."""
    return next((r for r in EMORIG_RATES if abs(r - scene_fps) < 1e-3), 60.0)


def animate_args(audio: str, out: str, emotion: str, intensity: float, fps: float) -> list[str]:
    if emotion not in EMOTIONS:
        raise RunError(f"unknown emotion {emotion!r}; use one of {', '.join(EMOTIONS)}")
    if not 0.0 <= intensity <= 2.0:
        raise RunError(f"intensity {intensity} is outside 0..2")
    return ["animate", str(audio), "-o", str(out), "--quiet", "--emotion", emotion] + [
        "--intensity",
        f"{intensity:g}",
        "--fps",
        f"{fps:g}",
    ]


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1] if lines else ""


def run_command(command: str, args: list[str]) -> None:
    """`command` is a command line (e.g. `emorig`, or `/path/python -m bridge.cli`)."""
    try:
        argv = shlex.split(command)
    except ValueError as e:
        raise RunError(f"emorig command {command!r} does not parse: {e}") from None
    if not argv:
        raise RunError("no emorig command set (add-on preferences)")
    if shutil.which(argv[0]) is None:
        raise RunError(
            f"emorig command {argv[0]!r} not found; install emorig or set its path in the add-on preferences"
        )
    try:
        done = subprocess.run(argv + args, capture_output=True, text=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise RunError(f"emorig took over {TIMEOUT_S} s and was stopped") from None
    if done.returncode != 0:
        raise RunError(_last_line(done.stderr) or f"emorig exited with status {done.returncode}")


def run_in_process(args: list[str]) -> None:
    """The emorig package inside Blender's Python (needs its requirements there, torch included)."""
    try:
        from bridge.cli import main
    except ImportError as e:
        raise RunError(f"emorig does not import in Blender's Python ({e}); use the command instead") from None
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            code = main(args)
        except SystemExit as e:  # argparse refusing an argument exits
            code = e.code if isinstance(e.code, int) else 2
    if code:
        raise RunError(_last_line(err.getvalue()) or f"emorig exited with status {code}")
