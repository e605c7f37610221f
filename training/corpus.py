"""The speech corpus builder behind `emorig data synth`: synthetic voices speaking the
project's sentences in every emotion, plus real recorded prompts, each clip with 16 kHz
audio, phone timings and (when training.teacher is there) the teacher's ARKit take.

Layout of a corpus folder (the folder *is* the corpus; the manifest lists every finished
clip in it, so a rerun with more hours or more voices extends it):

    audio/<clip>.wav      16 kHz mono PCM16
    phones/<clip>.tsv     start, end, phone (ARPAbet, SIL), covering the audio
    motion/<clip>.npz     the teacher's take, ARKit at --fps (absent without the teacher)
    done/<clip>.json      written last: the clip's manifest entry; its presence means finished
    manifest.jsonl        rewritten at the end of every run from done/

Resumability: each file is written atomically and the done marker last, so an interrupted
run leaves no half clip, and a rerun skips every clip with a marker (its files untouched).

The plan is deterministic for a given request: groups of (voice, sentence), shuffled with
the seed and taken until the requested hours are reached, each group spoken in every
requested emotion (EmoTalk-style cross-reconstruction needs the same content in
different emotions, from the same voice).
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from retarget.errors import InputError
from retarget.fileio import atomic_output, atomic_write_text
from training.emotions import EMOTIONS
from training.speech.phones import Phone, write_phones
from training.speech.voices import DEFAULT_VOICES, Voice, available, parse_voice

SAMPLE_RATE = 16000
CHARS_PER_SECOND = 17.0  # speech + pauses, measured on the sentence sets; only to plan --hours
LEAD_SECONDS = 0.3  # the silence synthesisers put around a sentence
SYNTH_SOURCE = "emorig-synth"


@dataclass(frozen=True)
class SynthRequest:
    out: Path
    hours: float = 1.0  # synthetic speech to plan for (real prompts come on top)
    voices: tuple[str, ...] = DEFAULT_VOICES
    emotions: tuple[str, ...] = EMOTIONS
    languages: tuple[str, ...] | None = None  # None: every language with a sentence set
    intensity: float = 1.0
    real: tuple[str, ...] = ()  # "asterisk", "asterisk-ru" (training.speech.asterisk.SETS)
    seed: int = 0
    fps: float = 60.0
    motion: bool = True  # the teacher's take per clip, when training.teacher is importable
    limit: int | None = None  # at most this many synthetic clips (trial runs, tests)
    jobs: int = 1
    val: float = 0.05
    test: float = 0.05
    val_speakers: tuple[str, ...] = ()  # speakers (manifest names) that form the val split
    test_speakers: tuple[str, ...] = ()  # ... and the test split (random by hash when empty)


@dataclass(frozen=True)
class ClipJob:
    clip_id: str
    text: str
    language: str
    speaker: str
    emotion: str | None
    intensity: float | None
    source: str
    voice: str | None = None  # synthetic: ENGINE:NAME
    recording: str | None = None  # real: the .g722 or .gsm file


@dataclass
class BuildReport:
    made: int = 0
    skipped: int = 0  # finished by an earlier run
    failed: list[tuple[str, str]] = field(default_factory=list)  # (clip_id, reason)
    notes: list[str] = field(default_factory=list)
    clips: int = 0  # in the manifest
    seconds: float = 0.0  # of audio in the manifest


# -- planning --------------------------------------------------------------------------------------


def estimated_seconds(text: str, rate: float = 1.0) -> float:
    return LEAD_SECONDS + len(text) / CHARS_PER_SECOND / rate


def clip_seed(seed: int, clip_id: str) -> int:
    """A per-clip seed that depends only on the run's seed and the clip's id (not on order)."""
    return zlib.crc32(f"{seed}:{clip_id}".encode())


def plan(request: SynthRequest) -> tuple[list[ClipJob], list[str]]:
    """(every clip the request asks for, notes for the person) in a fixed order."""
    from training.speech.prosody import emotion_prosody
    from training.speech.sentences import languages as sentence_languages
    from training.speech.sentences import sentences

    notes: list[str] = []
    for emotion in request.emotions:
        if emotion not in EMOTIONS:
            raise InputError(f"unknown emotion {emotion!r}; use any of {', '.join(EMOTIONS)}")
    if not 0 <= request.intensity <= 1:
        raise InputError(f"intensity must be from 0 to 1, not {request.intensity}")
    have = sentence_languages()
    wanted = list(request.languages) if request.languages else have
    for language in wanted:
        if language not in have:
            raise InputError(f"no sentence set for language {language!r} (have: {', '.join(have)})")

    voices: list[Voice] = []
    for spec in request.voices:
        voice = parse_voice(spec)
        if voice.language not in wanted:
            continue
        if not available(voice):
            notes.append(f"{voice} skipped: its synthesiser is not installed")
            continue
        voices.append(voice)

    groups = [(voice, sentence) for voice in voices for sentence in sentences(voice.language)]
    np.random.default_rng(request.seed).shuffle(groups)
    rates = [emotion_prosody(e, request.intensity).rate for e in request.emotions]
    budget, jobs = request.hours * 3600.0, []
    for voice, sentence in groups:
        if budget <= 0 or (request.limit is not None and len(jobs) >= request.limit):
            break
        budget -= sum(estimated_seconds(sentence.text, r) for r in rates)
        for emotion in request.emotions:
            jobs.append(
                ClipJob(
                    clip_id=f"{voice.slug}_{sentence.id}_{emotion}",
                    text=sentence.text,
                    language=sentence.language,
                    speaker=str(voice),
                    emotion=emotion,
                    # Neutral prosody is the same at any intensity: 0 says "no emotion" honestly.
                    intensity=0.0 if emotion == "neutral" else request.intensity,
                    source=SYNTH_SOURCE,
                    voice=str(voice),
                )
            )
    if request.limit is not None:
        jobs = jobs[: request.limit]

    for name in request.real:
        jobs.extend(_asterisk_jobs(name, notes))
    return jobs, notes


def _asterisk_jobs(name: str, notes: list[str]) -> list[ClipJob]:
    from training.speech import asterisk

    if name not in asterisk.SOURCES:
        raise InputError(f"unknown real speech source {name!r}; known: {', '.join(asterisk.SOURCES)}")
    if name in asterisk.PROMPT_SETS:
        spec = asterisk.PROMPT_SETS[name]
        language, speaker, found, prefix = spec.language, spec.speaker, asterisk.prompt_set(name), spec.speaker
        source = spec.package
        if not found:
            notes.append(f"{name} skipped: install {spec.package}")
            return []
    else:
        language, speaker = asterisk.SETS[name]
        found, prefix, source = asterisk.prompts(language), f"asterisk-{language}", f"asterisk-core-sounds-{language}"
        if not found:
            notes.append(
                f"{name} skipped: install asterisk-core-sounds-{language}-g722 (audio) and "
                f"asterisk-core-sounds-{language} (transcripts)"
            )
            return []
    return [
        ClipJob(
            clip_id=f"{prefix}_" + p.name.replace("/", "-"),
            text=p.text,
            language=language,
            speaker=speaker,
            # A calm, professional read: the nearest of the eight labels, intensity unknown.
            emotion="neutral",
            intensity=None,
            source=source,
            recording=str(p.audio),
        )
        for p in found
    ]


# -- one clip ----------------------------------------------------------------------------------------


def paths(out: Path, clip_id: str) -> dict[str, Path]:
    return {
        "audio": out / "audio" / f"{clip_id}.wav",
        "phones": out / "phones" / f"{clip_id}.tsv",
        "motion": out / "motion" / f"{clip_id}.npz",
        "done": out / "done" / f"{clip_id}.json",
    }


def _teacher() -> Callable | None:
    try:
        from training.teacher import animate_phones
    except ImportError:
        return None
    return animate_phones


class _Workshop:
    """What a process needs to make clips, loaded once per process (the aligner's model)."""

    def __init__(self):
        self._aligner = None

    @property
    def aligner(self):
        if self._aligner is None:
            from training.speech.align import Aligner

            self._aligner = Aligner()
        return self._aligner

    def speech(self, job: ClipJob) -> tuple[np.ndarray, list[Phone]]:
        if job.voice is not None:
            from training.speech.prosody import apply_prosody, emotion_prosody
            from training.speech.voices import synthesize

            prosody = emotion_prosody(job.emotion, job.intensity)
            audio, phones = synthesize(parse_voice(job.voice), job.text, prosody.rate)
            return apply_prosody(audio, SAMPLE_RATE, prosody), phones
        audio = load_speech(Path(job.recording))
        return audio, self.aligner.align(audio, job.text, job.language)


_WORKSHOP: _Workshop | None = None


def _write_wav(path: Path, audio: np.ndarray) -> None:
    import soundfile as sf

    with atomic_output(path, "wb") as f:
        sf.write(f, np.clip(audio, -1, 1), SAMPLE_RATE, format="WAV", subtype="PCM_16")


def make_clip(job: ClipJob, out: Path, fps: float, motion: bool, seed: int) -> dict:
    """Synthesise (or decode and align) one clip and write its files, the done marker last.
    Returns the marker's content: the manifest entry (paths relative to `out`) + seconds."""
    global _WORKSHOP
    if _WORKSHOP is None:
        _WORKSHOP = _Workshop()
    audio, phones = _WORKSHOP.speech(job)
    # Everything is computed before anything is written: a clip that fails leaves no files.
    animate = _teacher() if motion else None
    take = None
    if animate is not None:
        from retarget.spaces import get_space
        from retarget.takes import Take

        frames = animate(
            phones,
            fps=fps,
            duration=len(audio) / SAMPLE_RATE,
            emotion=job.emotion or "neutral",
            intensity=job.intensity if job.intensity is not None else 0.6,
            audio=audio,
            seed=clip_seed(seed, job.clip_id) % 2**31,
        )
        take = Take(get_space("arkit"), fps, frames)
    p = paths(out, job.clip_id)
    _write_wav(p["audio"], audio)
    write_phones(p["phones"], phones)
    if take is not None:
        from retarget.takes import write_take

        write_take(take, p["motion"])
    record = {
        "entry": {
            "clip_id": job.clip_id,
            "audio": p["audio"].relative_to(out).as_posix(),
            "motion": p["motion"].relative_to(out).as_posix() if take is not None else None,
            "space": "arkit",
            "fps": fps,
            "speaker": job.speaker,
            "emotion": job.emotion,
            "intensity": job.intensity,
            "text": job.text,
            "language": job.language,
            "split": "train",  # set for the whole corpus when the manifest is written
            "phones": p["phones"].relative_to(out).as_posix(),
            "source": job.source,
        },
        "seconds": len(audio) / SAMPLE_RATE,
    }
    atomic_write_text(p["done"], json.dumps(record, ensure_ascii=False) + "\n")
    return record


def _make_clip_safely(args) -> tuple[str, str | None]:
    """For the process pool: (clip_id, None) or (clip_id, reason it failed)."""
    job, out, fps, motion, seed = args
    try:
        make_clip(job, out, fps, motion, seed)
        return job.clip_id, None
    except (RuntimeError, ValueError, KeyError, OSError) as e:
        # One clip that cannot be made (an alignment that fails, a voice that errors) must not
        # end a corpus build of thousands: it is reported and retried by the next run.
        return job.clip_id, f"{type(e).__name__}: {e}"


# -- the corpus --------------------------------------------------------------------------------------


def read_done(out: Path) -> list[dict]:
    """Every finished clip's record, sorted by clip id."""
    records = []
    for marker in sorted((out / "done").glob("*.json")):
        try:
            records.append(json.loads(marker.read_text("utf-8")))
        except (OSError, json.JSONDecodeError) as e:
            raise InputError(f"unreadable done marker ({e}); delete it to rebuild the clip", path=marker) from None
    return records


def write_corpus_manifest(
    out: Path, seed: int = 0, val: float = 0.05, test: float = 0.05, val_speakers=(), test_speakers=()
) -> tuple[int, float]:
    """manifest.jsonl from done/, split by speaker; (clips, seconds of audio)."""
    from training.manifest import ManifestEntry, split_by_speaker, write_manifest

    records = read_done(out)
    if not records:
        return 0, 0.0
    entries = []
    for r in records:
        doc = dict(r["entry"])
        for key in ("audio", "motion", "phones"):
            if doc[key] is not None:
                doc[key] = out / doc[key]
        entries.append(ManifestEntry(**doc))
    write_manifest(split_by_speaker(entries, seed, val, test, val_speakers, test_speakers), out / "manifest.jsonl")
    return len(records), sum(r["seconds"] for r in records)


def build(request: SynthRequest, progress: bool = False) -> BuildReport:
    """Make every planned clip that is not finished yet, then (re)write the manifest."""
    out = Path(request.out)
    report = BuildReport()
    jobs, report.notes = plan(request)
    for sub in ("audio", "phones", "motion", "done"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    if request.motion and _teacher() is None:
        report.notes.append("training.teacher not found: clips have audio + phones only (no motion)")

    todo = [j for j in jobs if not paths(out, j.clip_id)["done"].exists()]
    report.skipped = len(jobs) - len(todo)
    tasks = [(j, out, request.fps, request.motion, request.seed) for j in todo]
    results = _run(tasks, request.jobs, progress)
    for clip_id, error in results:
        if error is None:
            report.made += 1
        else:
            report.failed.append((clip_id, error))
    report.clips, report.seconds = write_corpus_manifest(
        out, request.seed, request.val, request.test, request.val_speakers, request.test_speakers
    )
    return report


def _run(tasks: list, jobs: int, progress: bool):
    import sys

    from tqdm import tqdm

    bar = tqdm(total=len(tasks), desc="clips", unit="clip", file=sys.stderr, disable=not progress or None)
    results = []
    if jobs <= 1:
        for task in tasks:
            results.append(_make_clip_safely(task))
            bar.update()
    else:
        from concurrent.futures import ProcessPoolExecutor

        # Each worker process loads its own espeak-ng and pocketsphinx (neither is thread-safe).
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            for result in pool.map(_make_clip_safely, tasks, chunksize=4):
                results.append(result)
                bar.update()
    bar.close()
    return results


# -- aligning speech that is already there (`emorig data align`) -------------------------------------

AUDIO_EXTENSIONS = {".wav", ".flac", ".ogg", ".mp3", ".m4a", ".g722", ".gsm", ".aiff", ".aif", ".opus"}


@dataclass(frozen=True)
class AlignItem:
    key: str  # where the phones go: OUT/<key>.tsv (the audio's path under its folder, no suffix)
    audio: Path
    text: str | None
    language: str


def read_transcript_table(path) -> dict[str, str]:
    """`name<TAB>text` or `name: text` per line (Asterisk's core-sounds-*.txt style, .gz too)."""
    import gzip

    path = Path(path)
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except OSError as e:
        raise InputError(f"cannot read transcripts ({e.strerror})", path=path) from None
    table = {}
    for row, line in enumerate(raw.decode("utf-8", "replace").splitlines(), start=1):
        if not line.strip() or line.startswith(("#", ";")):
            continue
        name, sep, text = line.partition("\t") if "\t" in line else line.partition(":")
        if not sep:
            raise InputError("expected name<TAB>text or name: text", path=path, row=row)
        table[name.strip()] = text.strip()
    return table


def _transcript_for(audio: Path, key: str, transcripts: Path | None, table: dict[str, str] | None) -> str | None:
    if table is not None:
        return table.get(key, table.get(audio.stem))
    folder = transcripts if transcripts is not None else audio.parent
    stem = audio.stem if transcripts is None else key
    for suffix in (".txt", ".lab"):
        candidate = folder / f"{stem}{suffix}"
        if candidate.is_file():
            return candidate.read_text("utf-8", "replace").strip()
    return None


def items_from_folder(folder, transcripts=None, language: str = "en") -> list[AlignItem]:
    """Every audio file under `folder`; transcripts from a table file, a folder of <name>.txt/.lab,
    or (None) a .txt/.lab beside each audio file."""
    folder = Path(folder)
    transcripts = Path(transcripts) if transcripts is not None else None
    table = read_transcript_table(transcripts) if transcripts is not None and transcripts.is_file() else None
    items = []
    for audio in sorted(folder.rglob("*")):
        if audio.suffix.lower() not in AUDIO_EXTENSIONS or not audio.is_file():
            continue
        key = audio.relative_to(folder).with_suffix("").as_posix()
        items.append(AlignItem(key, audio, _transcript_for(audio, key, transcripts, table), language))
    return items


def items_from_manifest(entries, transcripts=None, default_language: str = "en") -> list[AlignItem]:
    """A manifest's clips; the text from `transcripts` (a table keyed by clip id) or the entry's."""
    table = read_transcript_table(transcripts) if transcripts is not None else None
    items = []
    for e in entries:
        text = table.get(e.clip_id) if table is not None else e.text
        language = (e.language or default_language).split("-")[0].lower()
        items.append(AlignItem(e.clip_id, Path(e.audio), text, language))
    return items


def load_speech(path: Path) -> np.ndarray:
    """16 kHz mono float32 from any audio file emorig reads, raw G.722 included."""
    if path.suffix.lower() == ".g722":
        from training.speech.asterisk import decode_g722

        return decode_g722(path)
    from bridge.audio import load_audio

    return load_audio(path)


def align_items(items: list[AlignItem], out: Path, force: bool = False, progress: bool = False) -> BuildReport:
    """OUT/<key>.tsv for every item with a transcript; existing files are kept unless `force`."""
    import sys

    from tqdm import tqdm

    from training.speech.align import AlignmentError

    report = BuildReport()
    for item in tqdm(items, desc="aligning", unit="file", file=sys.stderr, disable=not progress or None):
        target = out / f"{item.key}.tsv"
        if target.exists() and not force:
            report.skipped += 1
            continue
        if not item.text or not item.text.strip():
            report.failed.append((item.key, "no transcript"))
            continue
        try:
            audio = load_speech(item.audio)
            global _WORKSHOP
            if _WORKSHOP is None:
                _WORKSHOP = _Workshop()
            phones = _WORKSHOP.aligner.align(audio, item.text, item.language)
        except (AlignmentError, InputError, RuntimeError) as e:
            report.failed.append((item.key, str(e)))
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        write_phones(target, phones)
        report.made += 1
        report.seconds += len(audio) / SAMPLE_RATE
    return report
