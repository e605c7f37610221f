"""From folders of captures to manifest entries: what `emorig data import` does.

Each clip found (readers/discover.py) gets its curves read in full (so a damaged file
stops the import, naming file and line, instead of a training run days later), its audio
length probed, and its labels from, in order: the command line, the dataset's naming
convention (readers/naming.py), a Live Link Face take.json, and the folders around it.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path, PurePath

from retarget.errors import InputError
from retarget.spaces import get_space
from training.emotions import EMOTIONS, emotion_index
from training.manifest import (
    DEFAULT_TEST,
    DEFAULT_VAL,
    LANGUAGE_TAG,
    ManifestEntry,
    speaker_splits,
    split_by_speaker,
)

from .discover import ClipFiles, discover
from .motion import read_motion
from .naming import Labels, labels_from_path

AUDIO_ONLY_SPACE = "arkit"  # what an audio-only clip is to be animated in, unless --space says
AUDIO_ONLY_FPS = 60.0  # the runtime's frame rate (bridge/engine.py)
LENGTH_MISMATCH_S = 1.0  # audio and curves further apart than this are worth a warning
TRANSCRIPT_MAX_CHARS = 10_000


@dataclass
class ImportOptions:
    kind: str = "auto"
    space: str | None = None  # rig space of curves that do not name it, and of audio-only clips
    fps: float | None = None
    speaker: str | None = None
    language: str | None = None
    seed: int = 0
    val: float = DEFAULT_VAL
    test: float = DEFAULT_TEST


@dataclass
class ImportResult:
    entries: list[ManifestEntry]
    seconds: dict[str, float]  # clip_id -> audio length
    notes: list[str] = field(default_factory=list)  # things the user should know; not errors


# -- audio ----------------------------------------------------------------------------------------


def audio_seconds(path) -> float | None:
    """Length of a file's sound in seconds, from its header where it says; None for a video
    without a sound track. InputError for a file that cannot be read."""
    from bridge.audio import SAMPLE_RATE, SOUNDFILE_EXTENSIONS, load_audio  # scipy: only when needed

    path = Path(path)
    if path.suffix.lower() in SOUNDFILE_EXTENSIONS:
        import soundfile

        try:
            info = soundfile.info(str(path))
            if info.frames > 0 and info.samplerate > 0:
                return info.frames / info.samplerate
        except RuntimeError:  # soundfile.LibsndfileError is one
            pass  # load_audio below gives the proper one-line error
    else:
        import av

        try:
            with av.open(str(path)) as container:
                if not container.streams.audio:
                    return None
                stream = container.streams.audio[0]
                if stream.duration and stream.time_base:
                    return float(stream.duration * stream.time_base)
                if container.duration:
                    return container.duration / av.time_base
        except av.FFmpegError:
            pass
    return len(load_audio(path)) / SAMPLE_RATE


# -- labels ---------------------------------------------------------------------------------------


def _absolute(path) -> Path:
    """Absolute without following links: a corpus kept as links (git-annex, DVC) keeps the
    names it was given, which carry its labels, instead of its store's hashes."""
    return Path(os.path.abspath(path))


def _relative(path: Path, root: Path) -> PurePath:
    try:
        return path.relative_to(root)
    except ValueError:
        return PurePath(path.name)


def _emotion_from_folders(rel: PurePath) -> str | None:
    """A folder named after an emotion (`ana/angry/take3.wav`) labels what is inside."""
    for part in reversed(rel.parent.parts):
        try:
            return EMOTIONS[emotion_index(part)]
        except ValueError:
            continue
    return None


def _speaker(clip: ClipFiles, rel: PurePath, labels: Labels | None, options: ImportOptions) -> str:
    if options.speaker:
        return options.speaker
    if labels is not None and labels.speaker:
        return labels.speaker
    subject = clip.meta.get("subject")
    if isinstance(subject, str) and subject.strip():
        return subject.strip()
    # The usual layout is one folder per speaker under the folder given; else the folder itself.
    return rel.parts[0] if len(rel.parts) > 1 else _absolute(clip.root).name


def _transcript(path: Path | None) -> str | None:
    if path is None:
        return None
    try:
        text = path.read_text("utf-8").strip()
    except UnicodeDecodeError:
        raise InputError("transcript is not UTF-8 text", path=path) from None
    # BEAT and Praat keep word timings in .txt TextGrids: those are not transcripts.
    if not text or text.startswith("File type") or len(text) > TRANSCRIPT_MAX_CHARS:
        return None
    return " ".join(text.split())


def _check_phones(path: Path | None) -> Path | None:
    if path is None:
        return None
    try:
        first = path.read_text("utf-8").splitlines()[:1]
    except UnicodeDecodeError:
        raise InputError("phones file is not UTF-8 text", path=path) from None
    if not first or first[0].strip().split("\t") != ["start", "end", "phone"]:
        raise InputError("a phones file needs the header start<TAB>end<TAB>phone", path=path, row=1)
    return path


# -- the import -----------------------------------------------------------------------------------


def _clip_id(audio: Path, root: Path, taken: set[str]) -> str:
    rel = _relative(audio, root).with_suffix("")
    base = f"{_absolute(root).name}/{rel.as_posix()}"
    clip_id, n = base, 1
    while clip_id in taken:
        n += 1
        clip_id = f"{base}#{n}"
    taken.add(clip_id)
    return clip_id


def check_options(options: ImportOptions) -> None:
    if options.space is not None:
        get_space(options.space)
    if options.fps is not None and not options.fps > 0:
        raise InputError(f"--fps must be positive, not {options.fps}")
    if options.language is not None and not LANGUAGE_TAG.match(options.language):
        raise InputError(f"--language {options.language!r} is not a language tag like en or pt-BR")
    if options.speaker is not None and not options.speaker.strip():
        raise InputError("--speaker must not be empty")
    speaker_splits((), options.seed, options.val, options.test)  # the shares, before any file is read


def _entry(clip: ClipFiles, options: ImportOptions, taken: set[str]) -> tuple[ManifestEntry, float | None]:
    """One clip's manifest entry (split not yet set), and its curves' length in seconds."""
    rel = _relative(clip.audio, clip.root)
    # The whole path: a MEAD actor's folder may lie above the folder the user named.
    labels = labels_from_path(_absolute(clip.audio)) or (
        labels_from_path(_absolute(clip.motion)) if clip.motion else None
    )
    if clip.motion is not None:
        take = read_motion(clip.motion, options.space, options.fps)
        space, fps, motion_seconds = take.space.name, take.fps, take.duration
    else:
        space, fps, motion_seconds = options.space or AUDIO_ONLY_SPACE, options.fps or AUDIO_ONLY_FPS, None
    entry = ManifestEntry(
        clip_id=_clip_id(clip.audio, clip.root, taken),
        audio=_absolute(clip.audio),
        motion=_absolute(clip.motion) if clip.motion else None,
        space=get_space(space).name,
        fps=float(fps),
        speaker=_speaker(clip, rel, labels, options),
        emotion=(labels.emotion if labels else None) or _emotion_from_folders(rel),
        intensity=labels.intensity if labels else None,
        text=(labels.text if labels else None) or _transcript(clip.transcript),
        language=options.language or (labels.language if labels else None),
        phones=_absolute(_check_phones(clip.phones)) if clip.phones else None,
        source=labels.dataset if labels else clip.kind,
    )
    return entry, motion_seconds


def import_sources(sources, options: ImportOptions | None = None, progress: bool = False) -> ImportResult:
    """Manifest entries (absolute paths, splits set) for every clip under the sources."""
    from tqdm import tqdm

    options = options or ImportOptions()
    check_options(options)
    found = discover(sources, options.kind)
    entries, seconds, taken = [], {}, set()
    no_sound, mismatched = [], []
    with tqdm(found.clips, desc="importing", unit="clip", file=sys.stderr, disable=None if progress else True) as bar:
        for clip in bar:
            length = audio_seconds(clip.audio)
            if length is None:
                if clip.kind == "livelinkface":
                    raise InputError("the take's video has no sound track", path=clip.audio)
                no_sound.append(clip.audio)  # a video-only file (RAVDESS modality 02, say)
                continue
            entry, motion_seconds = _entry(clip, options, taken)
            if motion_seconds is not None and abs(motion_seconds - length) > LENGTH_MISMATCH_S:
                mismatched.append(f"{clip.motion.name} {motion_seconds:.1f} s vs {clip.audio.name} {length:.1f} s")
            entries.append(entry)
            seconds[entry.clip_id] = length
    if not entries:
        raise InputError(
            f"no clips found in {', '.join(map(str, sources))} (kind {options.kind}): "
            "expected audio files, with curve files of the same name, or Live Link Face takes"
        )
    notes = []
    if no_sound:
        notes.append(f"skipped {len(no_sound)} video file(s) without sound, e.g. {no_sound[0]}")
    if found.unpaired_curves:
        notes.append(
            f"ignored {len(found.unpaired_curves)} curve file(s) with no audio of the same name, "
            f"e.g. {found.unpaired_curves[0]}"
        )
    if found.unused_media:
        notes.append(f"ignored {len(found.unused_media)} media file(s) no take claimed, e.g. {found.unused_media[0]}")
    if mismatched:
        notes.append(
            f"{len(mismatched)} clip(s) whose audio and curves differ by over {LENGTH_MISMATCH_S:g} s, "
            f"e.g. {mismatched[0]}"
        )
    entries = split_by_speaker(entries, options.seed, options.val, options.test)
    return ImportResult(entries, seconds, notes)
