"""flite (CMU), through its command line: `-psdur` prints each phone with its end time.

flite's phone end times line up with its audio (no offset was found, unlike espeak-ng's
events), which makes it the reference the aligner is checked against. The rate is
changed with flite's own duration model (`duration_stretch`), so the printed times
already follow it.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

from .phones import Phone, cover, map_phones, phone_map

# flite's built-in voices, all US English. kal (8 kHz) is left out: its -psdur times run
# past its audio by ~0.1 s; kal16 is the same speaker at 16 kHz without that fault.
VOICES = ("slt", "rms", "awb", "kal16")


def available() -> bool:
    return shutil.which("flite") is not None


def synthesize(text: str, voice: str, rate: float = 1.0) -> tuple[np.ndarray, int, list[Phone]]:
    """(audio float32, sample rate, ARPAbet phones covering it)."""
    if not available():
        raise RuntimeError("flite is not installed (Debian: apt-get install flite)")
    with tempfile.TemporaryDirectory(prefix="emorig-flite-") as tmp:
        wav = Path(tmp) / "out.wav"
        command = ["flite", "-voice", voice, "-psdur", "--setf", f"duration_stretch={1.0 / rate:.4f}"]
        result = subprocess.run(command + ["-t", text, "-o", str(wav)], capture_output=True, text=True)
        if result.returncode != 0 or not wav.exists():
            raise RuntimeError(f"flite -voice {voice} failed: {result.stderr.strip() or result.stdout.strip()}")
        audio, sample_rate = sf.read(wav, dtype="float32")
    segments, start = [], 0.0
    for token in result.stdout.split():  # "dh:0.236 ax:0.265 ..." end times, one utterance after another
        name, _, end = token.rpartition(":")
        segments.append((start, float(end), name))
        start = float(end)
    phones = map_phones(segments, phone_map("flite_cmu"), f"flite {voice}")
    return audio, sample_rate, cover(phones, len(audio) / sample_rate)
