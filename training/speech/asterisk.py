"""Real recorded speech from Debian's Asterisk prompt packages: G.722 audio + transcripts.

asterisk-core-sounds-en-g722 holds ~570 prompts read by one professional speaker
(Allison Smith), ~24 minutes, as raw G.722 at 64 kbit/s: 16 kHz audio (the wav variant
is only 8 kHz). The transcripts come with asterisk-core-sounds-en, in
/usr/share/doc/asterisk-core-sounds-en/core-sounds-en.txt(.gz), as `name: text` lines.
The Russian set (asterisk-core-sounds-ru-g722) is laid out the same way.
G.722 is decoded with the G722 module of PyPI's g722 package.

Older prompt sets by other speakers (asterisk-prompt-fr-armelle, -es-co, -it-menardi-gsm) are
8 kHz GSM with no transcripts; training/data/prompt_words/ says what their unambiguous prompts
(numbers, days, months, letters) say, so those can be force-aligned too (PROMPT_SETS).
asterisk-core-sounds-fr, -es and -it are NOT here on purpose: an outside evaluation uses them.
"""

from __future__ import annotations

import gzip
import re
from pathlib import Path
from typing import NamedTuple

import numpy as np

from retarget.errors import InputError

SOUNDS = Path("/usr/share/asterisk/sounds")
DOCS = Path("/usr/share/doc")
# The prompt sets `emorig data synth --real` knows: name -> (language, the manifest's speaker).
# asterisk-ru: asterisk-core-sounds-ru-g722 + asterisk-core-sounds-ru, one Russian speaker, ~23 min.
SETS = {"asterisk": ("en", "asterisk-en-allison"), "asterisk-ru": ("ru", "asterisk-ru-ivrvoice")}


class PromptSet(NamedTuple):
    language: str
    speaker: str  # the manifest's speaker
    folder: str  # under SOUNDS
    package: str  # the Debian package that installs it
    licence: str


# name -> the set; its transcripts are training/data/prompt_words/<name minus "prompt-">.tsv.
PROMPT_SETS = {
    "prompt-fr-armelle": PromptSet("fr", "asterisk-fr-armelle", "fr", "asterisk-prompt-fr-armelle", "BSD-style"),
    "prompt-it-menardi": PromptSet(
        "it", "asterisk-it-menardi", "it_IT_f_Menardi", "asterisk-prompt-it-menardi-gsm", "CC BY-SA 3.0 IT"
    ),
    "prompt-es-co": PromptSet("es", "asterisk-es-co", "es", "asterisk-prompt-es-co", "GPL-2"),
}
SOURCES = (*SETS, *PROMPT_SETS)  # every name `emorig data synth --real` takes
_BRACKETS = re.compile(r"\[[^\]]*\]|\([^)]*\)|<[^>]*>")  # [tones], (note: ...), <beep>: descriptions, not words


class Prompt(NamedTuple):
    name: str  # e.g. digits/7, auth-thankyou
    audio: Path  # the .g722 file
    text: str


def _codec():
    try:
        import G722  # PyPI's g722 package installs the module as G722
    except ImportError:
        raise InputError("decoding the G.722 prompts needs g722: pip install 'emorig[corpus]'") from None
    return G722.G722(16000, 64000)  # a fresh codec: its state must start at zero per stream


def decode_g722_bytes(data: bytes) -> np.ndarray:
    """Raw G.722 at 64 kbit/s -> 16 kHz mono float32 (two samples per byte)."""
    return np.asarray(_codec().decode(data), dtype=np.float32) / 32768.0


def decode_g722(path) -> np.ndarray:
    """A raw G.722 (64 kbit/s) file as 16 kHz mono float32."""
    data = Path(path).read_bytes()
    if not data:
        raise InputError("the file is empty (0 bytes)", path=path)
    return decode_g722_bytes(data)


def encode_g722(audio: np.ndarray) -> bytes:
    """16 kHz mono float -> G.722 at 64 kbit/s (for the codec round trip in augmentation)."""
    pcm = (np.clip(np.asarray(audio, np.float32), -1, 1) * 32767).astype(np.int16)
    return _codec().encode(pcm)


def transcript_file(language: str = "en") -> Path | None:
    for path in (
        DOCS / f"asterisk-core-sounds-{language}" / f"core-sounds-{language}.txt.gz",
        DOCS / f"asterisk-core-sounds-{language}" / f"core-sounds-{language}.txt",
    ):
        if path.is_file():
            return path
    return None


def read_transcripts(path) -> dict[str, str]:
    """`name: text` lines (`;` starts a comment) -> {name: text}; bracketed descriptions removed,
    prompts left with no words dropped."""
    path = Path(path)
    raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    out = {}
    for line in raw.decode("utf-8", "replace").splitlines():
        if not line.strip() or line.startswith(";"):
            continue
        name, sep, text = line.partition(":")
        text = " ".join(_BRACKETS.sub(" ", text).split())
        if sep and re.search(r"\w", text):
            out[name.strip()] = text
    return out


def prompts(language: str = "en", root: Path = SOUNDS) -> list[Prompt]:
    """Every prompt that has both G.722 audio and a transcript, sorted by name; [] when the
    packages are not installed."""
    transcripts_path = transcript_file(language)
    folder = root / language
    if transcripts_path is None or not folder.is_dir():
        return []
    out = []
    for name, text in sorted(read_transcripts(transcripts_path).items()):
        audio = folder / f"{name}.g722"
        if audio.is_file():
            out.append(Prompt(name, audio, text))
    return out


def prompt_set(name: str, root: Path = SOUNDS) -> list[Prompt]:
    """The prompts of PROMPT_SETS[name] that are installed and have a transcript, sorted."""
    from importlib import resources

    spec = PROMPT_SETS[name]
    table = resources.files("training") / "data" / "prompt_words" / f"{name.removeprefix('prompt-')}.tsv"
    out = []
    for line in table.read_text("utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        prompt, _, text = line.partition("\t")
        audio = root / spec.folder / f"{prompt}.gsm"
        if audio.is_file() and text.strip():
            out.append(Prompt(prompt, audio, text.strip()))
    return sorted(out)
