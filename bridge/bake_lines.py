"""The lines of a bake: from a folder (walked recursively, mirrored under OUT_DIR), a glob, or a
dialogue table (CSV or JSONL: `audio`, and optionally `id`, `emotion`, `intensity`, `rig`,
`subject`, `output` per line).

A bad row is one line's failure (reported, the others bake); a table that cannot be read at all,
or an INPUT that names nothing, is the command's bad input (InputError, exit 2).
"""

from __future__ import annotations

import csv
import glob
import io
import json
import math
from pathlib import Path, PurePosixPath

from retarget.errors import InputError

from .audio import RAW_AV_FORMATS, SOUNDFILE_EXTENSIONS
from .bake import Failure, Line

AUDIO_EXTENSIONS = SOUNDFILE_EXTENSIONS | set(RAW_AV_FORMATS) | {".mp3", ".m4a", ".aac", ".wma", ".g722"}
TABLE_EXTENSIONS = (".csv", ".jsonl")
TABLE_COLUMNS = ("audio", "id", "emotion", "intensity", "rig", "subject", "output")
TAKE_FORMATS = (".csv", ".json", ".npz")


def find_lines(spec: str, out_dir: Path, defaults: dict, fmt: str) -> tuple[list[Line], list[Failure]]:
    """INPUT (folder, glob, table or one audio file) -> (lines to bake, rows that cannot be)."""
    path = Path(spec)
    if path.is_dir():
        files = [p for p in sorted(path.rglob("*")) if _is_audio(p, path, out_dir)]
        if not files:
            raise InputError(f"no audio files ({', '.join(sorted(AUDIO_EXTENSIONS))}) in the folder", path=path)
        return _mirror(files, path, out_dir, defaults, fmt)
    if path.is_file() and path.suffix.lower() in TABLE_EXTENSIONS:
        return _table(path, defaults, fmt)
    if path.is_file():
        return _mirror([path], path.parent, out_dir, defaults, fmt)
    if glob.has_magic(spec):
        files = [Path(p) for p in sorted(glob.glob(spec, recursive=True)) if Path(p).is_file()]
        if not files:
            raise InputError("the pattern matches no files", path=spec)
        return _mirror(files, _glob_root(spec), out_dir, defaults, fmt)
    raise InputError("no such folder, dialogue table (.csv, .jsonl) or audio file", path=spec)


def _is_audio(p: Path, root: Path, out_dir: Path) -> bool:
    rel = p.relative_to(root)
    if any(part.startswith(".") for part in rel.parts):
        return False  # hidden files and folders (editors' and tools' own)
    try:
        p.resolve().relative_to(out_dir.resolve())
        return False  # OUT_DIR inside INPUT: its takes are not dialogue
    except ValueError:
        pass
    return p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS


def _glob_root(pattern: str) -> Path:
    """The folder a glob's matches are mirrored from: its parts before the first wildcard."""
    parts = []
    for part in Path(pattern).parts[:-1]:
        if glob.has_magic(part):
            break
        parts.append(part)
    return Path(*parts) if parts else Path(".")


def _mirror(files, root: Path, out_dir: Path, defaults: dict, fmt: str):
    lines, failures, seen = [], [], {}
    for number, p in enumerate(files, start=1):
        try:
            rel = p.relative_to(root)
        except ValueError:
            rel = Path(p.name)
        output = PurePosixPath(*rel.parts).with_suffix(fmt).as_posix()
        if output in seen:
            failures.append(Failure(number, f"same take {output} as line {seen[output]}", str(p), output))
            continue
        seen[output] = number
        lines.append(Line(number, str(p), output, options=dict(defaults)))
    return lines, failures


# -- dialogue tables --------------------------------------------------------------------------------


def _table(path: Path, defaults: dict, fmt: str):
    rows = list(_read_csv(path) if path.suffix.lower() == ".csv" else _read_jsonl(path))
    lines, failures, seen = [], [], {}
    for number, row in rows:
        if isinstance(row, str):  # the row could not be read at all: the reason
            failures.append(Failure(number, f"{path}: row {number}: {row}"))
            continue
        try:
            line = _row_line(path, number, row, defaults, fmt)
        except InputError as e:
            failures.append(
                Failure(number, str(e), _text(row.get("audio")), _text(row.get("output")), _text(row.get("id")))
            )
            continue
        if line.output in seen:
            failures.append(
                Failure(
                    number,
                    f"{path}: row {number}: same output {line.output} as row {seen[line.output]}",
                    line.audio,
                    line.output,
                    line.id,
                )
            )
            continue
        seen[line.output] = number
        lines.append(line)
    if not rows:
        raise InputError("the dialogue table has no rows", path=path)
    return lines, failures


def _text(value):
    return None if value is None else str(value)


def _read_csv(path: Path):
    try:
        text = path.read_text("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError("not a UTF-8 text table", path=path) from None
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in (reader.fieldnames or [])]
    _check_columns(path, header)
    reader.fieldnames = header
    for row in reader:
        number = reader.line_num
        if None in row:
            yield number, f"{len(header) + len(row[None])} cells, the header has {len(header)}"
            continue
        values = {k: v.strip() for k, v in row.items() if v is not None and v.strip() != ""}
        if values:
            yield number, values


def _read_jsonl(path: Path):
    try:
        text = path.read_text("utf-8")
    except UnicodeDecodeError:
        raise InputError("not a UTF-8 text table", path=path) from None
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            row = json.loads(raw)
        except json.JSONDecodeError as e:
            yield number, f"not JSON ({e.msg})"
            continue
        if not isinstance(row, dict):
            yield number, "not a JSON object"
            continue
        unknown = sorted(set(row) - set(TABLE_COLUMNS))
        if unknown:
            yield number, f"unknown field {unknown[0]!r}; known: {', '.join(TABLE_COLUMNS)}"
            continue
        yield number, row


def _check_columns(path: Path, header: list[str]) -> None:
    if "audio" not in header:
        raise InputError(f"the dialogue table has no 'audio' column (columns: {', '.join(TABLE_COLUMNS)})", path=path)
    unknown = [h for h in header if h not in TABLE_COLUMNS]
    if unknown:
        raise InputError(f"unknown column {unknown[0]!r}; known: {', '.join(TABLE_COLUMNS)}", path=path, row=1)


def _row_line(path: Path, number: int, row: dict, defaults: dict, fmt: str) -> Line:
    def bad(message):
        return InputError(message, path=path, row=number)

    audio = row.get("audio")
    if not isinstance(audio, str) or not audio.strip():
        raise bad("no audio")
    audio_path = Path(audio)
    if not audio_path.is_absolute():
        audio_path = path.parent / audio_path  # relative to the table, wherever the bake runs
    ident = row.get("id")
    if ident is not None and (not isinstance(ident, (str, int)) or isinstance(ident, bool) or not str(ident).strip()):
        raise bad(f"id must be text, got {ident!r}")
    ident = None if ident is None else str(ident).strip()
    options = dict(defaults)
    if "emotion" in row:
        if not isinstance(row["emotion"], str):
            raise bad(f"emotion must be a name, got {row['emotion']!r}")
        options["emotion"] = row["emotion"]
    if "intensity" in row:
        value = row["intensity"]
        try:
            if isinstance(value, bool):
                raise ValueError
            value = float(value)
        except (TypeError, ValueError):
            raise bad(f"intensity must be a number, got {row['intensity']!r}") from None
        if not math.isfinite(value):
            raise bad(f"intensity must be finite, got {row['intensity']!r}")
        options["intensity"] = value
    for key in ("rig", "subject"):
        if key in row:
            if not isinstance(row[key], str) or not row[key].strip():
                raise bad(f"{key} must be text, got {row[key]!r}")
            options[key] = row[key].strip()
    _check_options(options, bad)
    output = row.get("output")
    if output is not None:
        if not isinstance(output, str) or not output.strip():
            raise bad(f"output must be a path, got {output!r}")
        out = PurePosixPath(output.strip().replace("\\", "/"))
        if out.is_absolute() or ".." in out.parts:
            raise bad(f"output {output!r} must be a path inside OUT_DIR")
        if out.suffix.lower() not in TAKE_FORMATS:
            out = out.with_name(out.name + fmt)
    elif ident is not None:
        out = PurePosixPath(ident.replace("/", "_") + fmt)
    else:
        try:
            rel = Path(audio_path).relative_to(path.parent)
        except ValueError:
            rel = Path(audio_path.name)
        out = PurePosixPath(*rel.parts).with_suffix(fmt)
    return Line(number, str(audio_path), out.as_posix(), ident, options)


def _check_options(options: dict, bad) -> None:
    """A row's emotion, intensity and rig, checked as `emorig animate` checks them."""
    from retarget.spaces import get_space

    from .controls import ControlState

    try:
        ControlState().update(emotion=options["emotion"], intensity=options["intensity"])
    except ValueError as e:
        raise bad(str(e)) from None
    try:
        get_space(options["rig"])
    except (KeyError, ValueError) as e:
        raise bad(str(e).strip("'\"")) from None
