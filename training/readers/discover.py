"""Finding clips: which audio file goes with which curve file, in the folders a user points at.

Three layouts, decided per folder (`kind="auto"`) or forced for all:

- **livelinkface**: a Live Link Face take folder, as the iPhone app exports it:
  `<slate>_<take>_<subject>.csv` (or, for a calibrated take, `..._cal.csv`, else `..._raw.csv`;
  `..._neutral.csv` and `frame_log.csv` are not animation), `<slate>_<take>_<subject>.mov`
  (video with the take's sound), `take.json` (slate, take, subject, ...), thumbnail and
  metadata. A folder with `take.json` or a CSV with a `BlendShapeCount` column is one.
  Several takes may share a folder. The sound is the media file with the CSV's name (an
  extracted .wav preferred to the .mov), else one whose name starts with it or that it starts
  with, else the folder's only media file.
- **beat**: BEAT: `<name>.wav` with `<name>.json` (facial ARKit weights). BEAT's same-named
  .csv (semantic labels) and .txt (word timings) are not curves and are left alone. Chosen
  when a folder's JSON holds `"weights"`.
- **folder**: anything else: each audio file, with a curve file of the same name (.csv, .json,
  .npz or .npy) if there is one, else as an audio-only clip. A .json counts as curves only when
  it is an emorig take or BEAT JSON (other JSON is metadata). `<name>.txt` beside the audio is
  its transcript, `<name>.phones.tsv` its phone alignment.

Names are compared without letter case, so `Take1.WAV` and `take1.csv` pair.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from retarget.errors import InputError

from .motion import MOTION_EXTENSIONS, NPY_SIDECAR

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".oga", ".opus", ".aif", ".aiff", ".mp3", ".m4a", ".aac")
VIDEO_EXTENSIONS = (".mov", ".mp4", ".m4v", ".mkv", ".webm", ".avi")
MEDIA_EXTENSIONS = AUDIO_EXTENSIONS + VIDEO_EXTENSIONS  # audio first: preferred when both share a name
KINDS = ("auto", "livelinkface", "folder", "beat")
LLF_METADATA = {"take.json", "video_metadata.json", "audio_metadata.json", "frame_log.csv"}
LLF_SUFFIXES = ("", "_cal", "_raw")  # the take's curves, in order of preference
LLF_NOT_CURVES = ("_neutral",)
PHONES_SUFFIX = ".phones.tsv"
TRANSCRIPT_SUFFIX = ".txt"
SNIFF_BYTES = 65536


@dataclass
class ClipFiles:
    audio: Path
    motion: Path | None
    root: Path  # the folder the user named, for clip ids and labels from paths
    kind: str  # livelinkface | folder | beat
    meta: dict = field(default_factory=dict)  # a Live Link Face take.json
    transcript: Path | None = None
    phones: Path | None = None


@dataclass
class Discovery:
    clips: list[ClipFiles] = field(default_factory=list)
    unpaired_curves: list[Path] = field(default_factory=list)  # curve files with no audio beside them
    unused_media: list[Path] = field(default_factory=list)  # media in take folders that no take claimed


def _head(path: Path) -> str:
    with open(path, "rb") as f:
        return f.read(SNIFF_BYTES).decode("utf-8", errors="replace")


def _is_llf_csv(path: Path) -> bool:
    first = _head(path).lstrip("\ufeff").splitlines()[:1]
    return bool(first) and "blendshapecount" in first[0].lower()


def _is_curve_json(path: Path) -> bool:
    head = _head(path)
    return '"weights"' in head or "emorig-take" in head


def _folder_kind(files: list[Path]) -> str:
    if any(f.name.lower() == "take.json" for f in files):
        return "livelinkface"
    if any(f.suffix.lower() == ".csv" and _is_llf_csv(f) for f in files):
        return "livelinkface"
    stems = {f.stem.lower() for f in files if f.suffix.lower() in MEDIA_EXTENSIONS}
    jsons = [f for f in files if f.suffix.lower() == ".json" and f.stem.lower() in stems]
    if jsons and '"weights"' in _head(jsons[0]):
        return "beat"
    return "folder"


def _media_preference(path: Path) -> int:
    return MEDIA_EXTENSIONS.index(path.suffix.lower())


def _sidecars(audio: Path, files_by_name: dict[str, Path]) -> tuple[Path | None, Path | None]:
    stem = audio.stem.lower()
    return files_by_name.get(stem + TRANSCRIPT_SUFFIX), files_by_name.get(stem + PHONES_SUFFIX)


# -- Live Link Face -------------------------------------------------------------------------------


def _llf_base(stem: str) -> tuple[str, int]:
    low = stem.lower()
    for rank, suffix in reversed(list(enumerate(LLF_SUFFIXES))):
        if suffix and low.endswith(suffix):
            return low[: -len(suffix)], rank
    return low, 0


def _read_take_json(files: list[Path]) -> dict:
    path = next((f for f in files if f.name.lower() == "take.json"), None)
    if path is None:
        return {}
    try:
        doc = json.loads(path.read_text("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InputError(f"Live Link Face take.json is not valid JSON ({e})", path=path) from None
    if not isinstance(doc, dict):
        raise InputError("Live Link Face take.json must hold a JSON object", path=path)
    return doc


def _llf_audio(csv: Path, base: str, media: list[Path], only_take: bool) -> Path:
    names = {base, csv.stem.lower()}
    found = [m for m in media if m.stem.lower() in names]
    if not found:
        found = [m for m in media if m.stem.lower().startswith(base) or base.startswith(m.stem.lower())]
    if not found and only_take and len(media) == 1:
        found = list(media)
    if not found:
        raise InputError(
            "no audio or video file for this Live Link Face take (looked for one named like it, "
            f"{', '.join(MEDIA_EXTENSIONS[:4])}, .mov, .mp4 ...)",
            path=csv,
        )
    found.sort(key=lambda m: (_media_preference(m), m.name))
    best = [m for m in found if _media_preference(m) == _media_preference(found[0])]
    if len(best) > 1:
        raise InputError(
            f"cannot tell which file is this take's sound: {', '.join(m.name for m in best)}; keep one", path=csv
        )
    return found[0]


def _livelinkface(files: list[Path], root: Path, out: Discovery) -> None:
    by_name = {f.name.lower(): f for f in files}
    csvs = [
        f
        for f in files
        if f.suffix.lower() == ".csv"
        and f.name.lower() not in LLF_METADATA
        and not f.stem.lower().endswith(LLF_NOT_CURVES)
        and _is_llf_csv(f)
    ]
    takes: dict[str, tuple[int, Path]] = {}
    for csv in csvs:
        base, rank = _llf_base(csv.stem)
        if base not in takes or rank < takes[base][0]:
            takes[base] = (rank, csv)
    meta = _read_take_json(files)
    media = [f for f in files if f.suffix.lower() in MEDIA_EXTENSIONS]
    used = set()
    for base, (_, csv) in sorted(takes.items()):
        audio = _llf_audio(csv, base, media, only_take=len(takes) == 1)
        used.add(audio)
        prefix = "_".join(str(meta.get(k, "")) for k in ("slate", "take", "subject")).lower()
        transcript, phones = _sidecars(audio, by_name)
        out.clips.append(
            ClipFiles(
                audio=audio,
                motion=csv,
                root=root,
                kind="livelinkface",
                meta=meta if len(takes) == 1 or prefix == base else {},
                transcript=transcript,
                phones=phones,
            )
        )
    out.unused_media.extend(m for m in media if m not in used)


# -- plain folders and BEAT -----------------------------------------------------------------------


def _plain(files: list[Path], root: Path, kind: str, out: Discovery) -> None:
    by_name = {f.name.lower(): f for f in files}
    curve_exts = (".json",) if kind == "beat" else MOTION_EXTENSIONS
    media: dict[str, list[Path]] = {}
    curves: dict[str, list[Path]] = {}
    for f in files:
        name, ext = f.name.lower(), f.suffix.lower()
        if ext in MEDIA_EXTENSIONS:
            media.setdefault(f.stem.lower(), []).append(f)
        elif ext in curve_exts and not name.endswith(NPY_SIDECAR) and name not in LLF_METADATA:
            if ext == ".json" and not _is_curve_json(f):
                continue  # metadata that happens to be JSON
            curves.setdefault(f.stem.lower(), []).append(f)
    for stem in sorted(media):
        audio = min(media[stem], key=lambda m: (_media_preference(m), m.name))
        motion = curves.get(stem, [])
        if len(motion) > 1:
            raise InputError(
                f"{len(motion)} curve files for one clip: {', '.join(m.name for m in motion)}; keep one", path=audio
            )
        transcript, phones = _sidecars(audio, by_name)
        out.clips.append(
            ClipFiles(
                audio=audio,
                motion=motion[0] if motion else None,
                root=root,
                kind=kind,
                transcript=transcript,
                phones=phones,
            )
        )
    out.unpaired_curves.extend(c for stem in sorted(curves) if stem not in media for c in curves[stem])


# -- walking --------------------------------------------------------------------------------------


def _scan_folder(files: list[Path], root: Path, kind: str, out: Discovery) -> None:
    chosen = _folder_kind(files) if kind == "auto" else kind
    if chosen == "livelinkface":
        _livelinkface(files, root, out)
    else:
        _plain(files, root, chosen, out)


def discover(sources, kind: str = "auto") -> Discovery:
    """Every clip under the sources (folders, searched recursively, or single files)."""
    if kind not in KINDS:
        raise InputError(f"unknown kind {kind!r}; use {', '.join(KINDS)}")
    out = Discovery()
    for source in map(Path, sources):
        if source.is_dir():
            for folder, dirs, names in os.walk(source):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                files = [Path(folder) / n for n in sorted(names) if not n.startswith(".")]
                _scan_folder(files, source, kind, out)
        elif source.is_file():
            # One file: the clip it belongs to, found among its neighbours.
            found = Discovery()
            files = sorted(f for f in source.parent.iterdir() if f.is_file() and not f.name.startswith("."))
            _scan_folder(files, source.parent, kind, found)
            mine = [c for c in found.clips if source in (c.audio, c.motion)]
            if not mine:
                raise InputError(
                    "no clip here: expected an audio file, or a curve file with audio beside it", path=source
                )
            out.clips.extend(mine)
        else:
            raise InputError("no such file or folder", path=source)
    return out
