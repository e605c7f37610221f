"""The training manifest: one JSON object per line, one line per clip.

    {"clip_id": "takes/Slate_1_ana", "audio": "takes/Slate_1_ana.mov",
     "motion": "takes/Slate_1_ana.csv", "space": "livelinkface", "fps": 60.0,
     "speaker": "ana", "emotion": "happy", "intensity": 0.5, "text": null,
     "language": "en", "split": "train", "phones": null, "source": "livelinkface"}

Paths in the file are relative to the manifest's folder unless absolute; a
`ManifestEntry` holds them as file-system paths (read_manifest makes them absolute;
write_manifest takes a relative one from the current folder and writes it relative to
the manifest's folder where the file lies under it, absolute otherwise). Splits are
by speaker, never by clip, so a model is always tested on voices it never heard.
The format is documented for users in docs/data-import.md.
"""

from __future__ import annotations

import hashlib
import json
import math
import numbers
import os
import re
from dataclasses import dataclass, fields, replace
from pathlib import Path

from retarget.errors import InputError
from retarget.fileio import atomic_output
from retarget.spaces import get_space
from training.emotions import EMOTIONS

SPLITS = ("train", "val", "test")
REQUIRED = tuple("clip_id audio motion space fps speaker emotion intensity text language split".split())
OPTIONAL = ("phones", "source")
PATH_KEYS = ("audio", "motion", "phones")
# BCP-47-ish: a 2-3 letter language, then optional subtags (en, en-US, zh-Hans-CN).
LANGUAGE_TAG = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{1,8})*$")
DEFAULT_VAL = DEFAULT_TEST = 0.05


@dataclass
class ManifestEntry:
    clip_id: str
    audio: Path
    motion: Path | None  # None: an audio-only clip (animation comes from elsewhere, e.g. the teacher)
    space: str  # rig space of the motion (or of the animation to be made for an audio-only clip)
    fps: float
    speaker: str
    emotion: str | None  # one of EMOTIONS
    intensity: float | None  # 0..1
    text: str | None
    language: str | None
    split: str = "train"
    phones: Path | None = None  # TSV `start\tend\tphone`, seconds, ARPAbet without stress, SIL
    source: str | None = None  # where the clip came from: livelinkface, ravdess, a synthesis run ...

    def to_json(self, base: Path | None = None) -> dict:
        """The manifest line's object; paths relative to `base` where they lie under it."""
        doc = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in PATH_KEYS and value is not None:
                value = _path_text(Path(value), base)
            elif f.name in ("fps", "intensity") and isinstance(value, numbers.Real) and not isinstance(value, bool):
                value = float(value)  # a numpy scalar is a number too, but not one json can write
            doc[f.name] = value
        return doc


def _path_text(path: Path, base: Path | None) -> str:
    """Relative to `base` when the file lies under it (the corpus travels with its manifest),
    absolute otherwise (a `../..` path would break as soon as the manifest moves)."""
    path = Path(os.path.abspath(path))
    if base is not None:
        try:
            return path.relative_to(base).as_posix()
        except ValueError:
            pass
    return str(path)


# -- validation -----------------------------------------------------------------------------------


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _check(doc: dict, where: dict) -> None:
    """The rules of one entry, as a dict; raises InputError with `where` (path, row)."""
    missing = [k for k in REQUIRED if k not in doc]
    if missing:
        raise InputError(f"missing key{'s' if len(missing) > 1 else ''} {', '.join(missing)}", **where)
    unknown = [k for k in doc if k not in REQUIRED + OPTIONAL]
    if unknown:
        raise InputError(f"unknown key {unknown[0]!r}; keys are {', '.join(REQUIRED + OPTIONAL)}", **where)

    def text(key, optional=False):
        v = doc.get(key)
        if v is None and optional:
            return
        if not isinstance(v, str) or not v.strip():
            kind = "a non-empty string" + (" or null" if optional else "")
            raise InputError(f"{key!r} must be {kind}, not {json.dumps(v)}", **where)

    text("clip_id")
    text("audio")
    text("motion", optional=True)
    text("phones", optional=True)
    text("speaker")
    text("space")
    try:
        get_space(doc["space"])
    except InputError as e:
        raise InputError(str(e), **where) from None
    if not _is_number(doc["fps"]) or not doc["fps"] > 0:
        raise InputError(f"'fps' must be a positive number, not {json.dumps(doc['fps'])}", **where)
    emotion = doc["emotion"]
    if emotion is not None and emotion not in EMOTIONS:
        raise InputError(f"unknown emotion {json.dumps(emotion)}; use one of {', '.join(EMOTIONS)} or null", **where)
    intensity = doc["intensity"]
    if intensity is not None and not (_is_number(intensity) and 0 <= intensity <= 1):
        raise InputError(f"'intensity' must be a number from 0 to 1 or null, not {json.dumps(intensity)}", **where)
    if doc["text"] is not None and not isinstance(doc["text"], str):
        raise InputError(f"'text' must be a string or null, not {json.dumps(doc['text'])}", **where)
    language = doc["language"]
    if language is not None and not (isinstance(language, str) and LANGUAGE_TAG.match(language)):
        raise InputError(f"'language' must be a tag like en or pt-BR, or null, not {json.dumps(language)}", **where)
    if doc["split"] not in SPLITS:
        raise InputError(f"'split' must be one of {', '.join(SPLITS)}, not {json.dumps(doc['split'])}", **where)
    if doc.get("source") is not None and not isinstance(doc["source"], str):
        raise InputError(f"'source' must be a string or null, not {json.dumps(doc['source'])}", **where)


class _Consistency:
    """Rules across entries: unique clip ids, and each speaker in one split only."""

    def __init__(self) -> None:
        self.ids: dict[str, object] = {}
        self.speaker_split: dict[str, tuple[str, object]] = {}

    def add(self, clip_id: str, speaker: str, split: str, row, where: dict) -> None:
        if clip_id in self.ids:
            raise InputError(f"duplicate clip_id {clip_id!r} (first at row {self.ids[clip_id]})", **where)
        self.ids[clip_id] = row
        first = self.speaker_split.setdefault(speaker, (split, row))
        if first[0] != split:
            raise InputError(
                f"speaker {speaker!r} is in {split!r} here but in {first[0]!r} at row {first[1]}; "
                "splits go by speaker so that no voice is both trained and tested on",
                **where,
            )


# -- reading and writing --------------------------------------------------------------------------


def read_manifest(path, check_files: bool = True) -> list[ManifestEntry]:
    """Every entry, validated; InputError naming the file and line at the first problem."""
    path = Path(path)
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError:
        raise InputError("manifest not found", path=path) from None
    except UnicodeDecodeError:
        raise InputError("not a text file (cannot decode as UTF-8)", path=path) from None
    base = Path(os.path.abspath(path.parent))
    entries, rules = [], _Consistency()
    for row, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = {"path": path, "row": row}
        try:
            doc = json.loads(line)
        except json.JSONDecodeError as e:
            raise InputError(f"not valid JSON: {e.msg} (at character {e.colno})", **where) from None
        if not isinstance(doc, dict):
            raise InputError("each line must be one JSON object", **where)
        _check(doc, where)
        rules.add(doc["clip_id"], doc["speaker"], doc["split"], row, where)
        paths = {k: (base / doc[k] if doc.get(k) is not None else None) for k in PATH_KEYS}
        if check_files:
            for key, p in paths.items():
                if p is not None and not p.is_file():
                    raise InputError(f"{key} file not found: {doc[key]}", **where)
        entries.append(
            ManifestEntry(
                clip_id=doc["clip_id"],
                audio=paths["audio"],
                motion=paths["motion"],
                space=doc["space"],
                fps=float(doc["fps"]),
                speaker=doc["speaker"],
                emotion=doc["emotion"],
                intensity=None if doc["intensity"] is None else float(doc["intensity"]),
                text=doc["text"],
                language=doc["language"],
                split=doc["split"],
                phones=paths["phones"],
                source=doc.get("source"),
            )
        )
    if not entries:
        raise InputError("the manifest holds no clips", path=path)
    return entries


def write_manifest(entries, path) -> None:
    """All entries, checked by the same rules as read_manifest, in one atomic write."""
    path = Path(path)
    base = Path(os.path.abspath(path.parent))
    rules = _Consistency()
    lines = []
    for i, entry in enumerate(entries, start=1):
        doc = entry.to_json(base)
        where = {"path": path, "row": i}
        _check(doc, where)
        rules.add(doc["clip_id"], doc["speaker"], doc["split"], i, where)
        lines.append(json.dumps(doc, ensure_ascii=False))
    with atomic_output(path, "w", encoding="utf-8", newline="\n") as f:
        f.write("".join(line + "\n" for line in lines))


# -- splits ---------------------------------------------------------------------------------------


def _speaker_hash(speaker: str, seed: int) -> float:
    """A number in [0, 1) fixed by the speaker's name and the seed alone, so a speaker keeps
    its split when others are added to the corpus."""
    digest = hashlib.sha256(f"{seed}\x00{speaker}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def speaker_splits(speakers, seed: int = 0, val: float = DEFAULT_VAL, test: float = DEFAULT_TEST) -> dict[str, str]:
    """speaker -> "train" | "val" | "test".

    A speaker falls in test when its hash (of name and seed) is below `test`, in val when
    below `test + val`, else in train. Train always has a speaker; with three or more
    speakers, val and test (where their ratio is above 0) have at least one each. One
    speaker alone goes to train."""
    if not (0 <= val < 1 and 0 <= test < 1 and val + test < 1):
        raise InputError(f"val ({val}) and test ({test}) must be fractions from 0 with a sum below 1")
    names = sorted(set(speakers))
    if not names:
        return {}
    u = {s: _speaker_hash(s, seed) for s in names}
    split = {s: "test" if u[s] < test else "val" if u[s] < test + val else "train" for s in names}
    # Fix-ups, each moving the lowest-hash speaker of a split that can spare one: train is
    # never empty (a corpus to learn from), and from three speakers on, val and test are not
    # either where asked for (a model checked on no one is not checked).
    wanted = ["train"] + ([w for w, ratio in (("test", test), ("val", val)) if ratio > 0] if len(names) >= 3 else [])
    for target in wanted:
        counts = {k: sum(v == k for v in split.values()) for k in SPLITS}
        if counts[target]:
            continue
        donor = next((d for d in SPLITS if d != target and counts[d] > 1), None)
        if donor is None and target == "train":
            donor = next(d for d in SPLITS if counts[d])
        if donor is not None:
            split[min((s for s in names if split[s] == donor), key=u.get)] = target
    return split


def split_by_speaker(
    entries,
    seed: int = 0,
    val: float = DEFAULT_VAL,
    test: float = DEFAULT_TEST,
    val_speakers=(),
    test_speakers=(),
) -> list[ManifestEntry]:
    """The entries with `split` set from their speaker (see speaker_splits). Speakers named in
    `val_speakers` / `test_speakers` go there; naming any replaces that split's random draw
    (e.g. a real speaker of an unseen language as the test split)."""
    entries = list(entries)
    fixed = {**{s: "val" for s in val_speakers}, **{s: "test" for s in test_speakers}}
    rest = [e.speaker for e in entries if e.speaker not in fixed]
    split = speaker_splits(rest, seed, 0.0 if val_speakers else val, 0.0 if test_speakers else test)
    split.update(fixed)
    return [replace(e, split=split[e.speaker]) for e in entries]
