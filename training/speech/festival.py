"""festival, through a Scheme script run by `festival --batch`: the utterance's Segment
relation gives each phone's end time, for the diphone voices and the HTS voice alike.

The rate goes to each voice's own duration control: `Duration_Stretch` for diphone
voices, the HTS engine's speed (`-r`) for HTS voices, which ignore Duration_Stretch.
Either way the Segment times come from the same synthesis and follow the rate.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

from .phones import Phone, cover, map_phones, phone_map

# voice name -> (the Scheme function that selects it, how its rate is set).
# Debian: festvox-kallpc16k (kal_diphone), festvox-kdlpc16k (ked_diphone), festvox-us-slt-hts.
VOICES = {
    "kal_diphone": ("voice_kal_diphone", "stretch"),
    "ked_diphone": ("voice_ked_diphone", "stretch"),
    "cmu_us_slt_arctic_hts": ("voice_cmu_us_slt_arctic_hts", "hts"),
}

_SCRIPT = """
({select})
{rate}
(set! utt (Utterance Text "{text}"))
(utt.synth utt)
(utt.save.wave utt "{wav}" 'riff)
(mapcar (lambda (s) (format t "%s %f\\n" (item.name s) (item.feat s "end"))) (utt.relation.items utt 'Segment))
"""


def available(voice: str | None = None) -> bool:
    if shutil.which("festival") is None:
        return False
    if voice is None:
        return True
    folders = [Path("/usr/share/festival/voices"), Path("/usr/local/share/festival/voices")]
    return any(folder.glob(f"*/{voice}") for folder in folders if folder.is_dir())


def _scheme_string(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def synthesize(text: str, voice: str, rate: float = 1.0) -> tuple[np.ndarray, int, list[Phone]]:
    """(audio float32, sample rate, ARPAbet phones covering it)."""
    if voice not in VOICES:
        raise ValueError(f"unknown festival voice {voice!r}; known: {', '.join(VOICES)}")
    if not available():
        raise RuntimeError("festival is not installed (Debian: apt-get install festival festvox-kallpc16k)")
    select, kind = VOICES[voice]
    if kind == "hts":
        rate_code = f'(set! hts_engine_params (append hts_engine_params (list (list "-r" {rate:.4f}))))'
    else:
        rate_code = f"(Parameter.set 'Duration_Stretch {1.0 / rate:.4f})"
    with tempfile.TemporaryDirectory(prefix="emorig-festival-") as tmp:
        wav = Path(tmp) / "out.wav"
        script = Path(tmp) / "say.scm"
        script.write_text(
            _SCRIPT.format(select=select, rate=rate_code, text=_scheme_string(text), wav=wav), encoding="utf-8"
        )
        result = subprocess.run(["festival", "--batch", str(script)], capture_output=True, text=True)
        if result.returncode != 0 or not wav.exists():
            raise RuntimeError(f"festival {voice} failed: {result.stderr.strip()[-300:]}")
        audio, sample_rate = sf.read(wav, dtype="float32")
    segments, start = [], 0.0
    for line in result.stdout.splitlines():
        name, _, end = line.strip().partition(" ")
        if not end:
            continue
        segments.append((start, float(end), name))
        start = float(end)
    phones = map_phones(segments, phone_map("festival_radio"), f"festival {voice}")
    return audio, sample_rate, cover(phones, len(audio) / sample_rate)
