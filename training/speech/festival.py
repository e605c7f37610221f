"""festival, through a Scheme script run by `festival --batch`: the utterance's Segment
relation gives each phone's end time, for every voice in training/data/festival_voices.tsv
(diphone, HTS and unit-selection voices in six languages, each with its phone map).

The rate goes to each voice's own duration control: `Duration_Stretch` for diphone
voices, the HTS engine's speed (`-r`) for HTS voices, which ignore Duration_Stretch.
Either way the Segment times come from the same synthesis and follow the rate. A
unit-selection voice (the Russian one) has no rate control and speaks at its recorded rate.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from importlib import resources
from pathlib import Path
from typing import NamedTuple

import numpy as np
import soundfile as sf

from .phones import Phone, cover, map_phones, phone_map


class FestivalVoice(NamedTuple):
    select: str  # the Scheme function that selects the voice
    rate: str  # stretch | hts | none (training/data/festival_voices.tsv says what each means)
    language: str  # the sentence set it reads
    phones: str  # its phone map's name
    encoding: str  # the text encoding its front end reads


def _voices() -> dict[str, FestivalVoice]:
    text = resources.files("training").joinpath("data", "festival_voices.tsv").read_text("utf-8")
    rows = [line.split("\t") for line in text.splitlines() if line.strip() and not line.startswith("#")]
    return {row[0]: FestivalVoice(*row[1:]) for row in rows[1:]}  # rows[0] is the header


VOICES = _voices()

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
    spec = VOICES[voice]
    if spec.rate == "hts":
        rate_code = f'(set! hts_engine_params (append hts_engine_params (list (list "-r" {rate:.4f}))))'
    elif spec.rate == "stretch":
        rate_code = f"(Parameter.set 'Duration_Stretch {1.0 / rate:.4f})"
    else:  # unit selection speaks at its recorded rate
        rate_code = ""
    with tempfile.TemporaryDirectory(prefix="emorig-festival-") as tmp:
        wav = Path(tmp) / "out.wav"
        script = Path(tmp) / "say.scm"
        script.write_text(
            _SCRIPT.format(select=spec.select, rate=rate_code, text=_scheme_string(text), wav=wav),
            encoding=spec.encoding,
            errors="replace",
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
    phones = map_phones(segments, phone_map(spec.phones), f"festival {voice}")
    return audio, sample_rate, cover(phones, len(audio) / sample_rate)
