"""Labels from file names: the naming conventions of RAVDESS, CREMA-D, MEAD and BEAT.

The conventions are data (training/data/dataset_naming.tsv); this module only turns
the table's path templates into regular expressions and fills the label templates.
A path that fits no convention simply has no labels: naming is a convenience, never
a requirement.
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import PurePath

from training.emotions import EMOTIONS, emotion_index

TABLE = "dataset_naming.tsv"
LABEL_KEYS = ("speaker", "emotion", "intensity", "text", "language")
UNKNOWN = "-"
_TOKEN = r"[A-Za-z0-9]+"  # a field with neither codes nor a shape
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True)
class Labels:
    """What a file's name says about it; None where the name does not say."""

    dataset: str
    speaker: str | None = None
    emotion: str | None = None  # one of EMOTIONS
    intensity: float | None = None  # 0..1
    text: str | None = None
    language: str | None = None
    fields: dict = field(default_factory=dict)  # every field as written, for the curious


@dataclass
class Convention:
    dataset: str
    patterns: list[str] = field(default_factory=list)
    codes: dict[str, dict[str, str]] = field(default_factory=dict)  # field -> lower-case code -> meaning
    shapes: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    regexes: list[re.Pattern] = field(default_factory=list)

    def compile(self) -> None:
        self.regexes = [re.compile(self._regex(p), re.IGNORECASE) for p in self.patterns]

    def _regex(self, template: str) -> str:
        out, last, seen = ["(?:^|/)"], 0, set()
        for m in _PLACEHOLDER.finditer(template):
            name = m.group(1)
            out.append(re.escape(template[last : m.start()]))
            if name in seen:  # the same field twice would need a backreference; no corpus needs it
                raise ValueError(f"{TABLE}: {self.dataset}: field {{{name}}} appears twice in {template!r}")
            seen.add(name)
            out.append(f"(?P<{name}>{self._field_regex(name)})")
            last = m.end()
        out.append(re.escape(template[last:]) + "$")
        return "".join(out)

    def _field_regex(self, name: str) -> str:
        if name in self.shapes:
            return f"(?:{self.shapes[name]})"
        if name in self.codes:
            # Longest first, so that `left_30` is tried before a code that is its prefix.
            return "(?:" + "|".join(re.escape(c) for c in sorted(self.codes[name], key=len, reverse=True)) + ")"
        return _TOKEN

    def match(self, path: str) -> Labels | None:
        for regex in self.regexes:
            m = regex.search(path)
            if m is None:
                continue
            fields = m.groupdict()
            if any(name in self.codes and value.lower() not in self.codes[name] for name, value in fields.items()):
                continue  # a shaped field that also has codes must hold one of them
            return self._labels(fields)
        return None

    def _fill(self, key: str, fields: dict[str, str]) -> str | None:
        template = self.labels.get(key, UNKNOWN)
        if template == UNKNOWN:
            return None
        unknown = False

        def meaning(m: re.Match) -> str:
            nonlocal unknown
            name = m.group(1)
            value = fields[name]
            if name in self.codes:
                value = self.codes[name][value.lower()]
            unknown |= value == UNKNOWN
            return value

        text = _PLACEHOLDER.sub(meaning, template)
        return None if unknown else text

    def _labels(self, fields: dict[str, str]) -> Labels:
        emotion = self._fill("emotion", fields)
        intensity = self._fill("intensity", fields)
        return Labels(
            dataset=self.dataset,
            speaker=self._fill("speaker", fields),
            emotion=EMOTIONS[emotion_index(emotion)] if emotion is not None else None,
            intensity=float(intensity) if intensity is not None else None,
            text=self._fill("text", fields),
            language=self._fill("language", fields),
            fields=dict(fields),
        )

    def check(self) -> None:
        """Every template names known fields and every meaning is usable: a broken table
        fails on first use, not in the middle of an import."""
        fields = {n for p in self.patterns for n in _PLACEHOLDER.findall(p)}
        for key, template in self.labels.items():
            if key not in LABEL_KEYS:
                raise ValueError(f"{TABLE}: {self.dataset}: unknown label {key!r}; use {', '.join(LABEL_KEYS)}")
            for name in _PLACEHOLDER.findall(template):
                if name not in fields:
                    raise ValueError(f"{TABLE}: {self.dataset}: label {key} uses {{{name}}}, which no pattern has")
        for key, check in (("emotion", _check_emotion), ("intensity", _check_intensity)):
            for name in _PLACEHOLDER.findall(self.labels.get(key, "")):
                for meaning in self.codes.get(name, {}).values():
                    if meaning != UNKNOWN:
                        check(self.dataset, meaning)


def _check_emotion(dataset: str, value: str) -> None:
    try:
        emotion_index(value)
    except ValueError as e:
        raise ValueError(f"{TABLE}: {dataset}: {e}") from None


def _check_intensity(dataset: str, value: str) -> None:
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not 0.0 <= number <= 1.0:
        raise ValueError(f"{TABLE}: {dataset}: intensity {value!r} is not a number from 0 to 1")


def parse_table(text: str) -> list[Convention]:
    conventions: dict[str, Convention] = {}
    header = None
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        cells = line.split("\t")
        if header is None:
            header = cells
            continue
        if len(cells) != len(header):
            raise ValueError(f"{TABLE}: line {number}: expected {len(header)} tab-separated cells, found {len(cells)}")
        row = dict(zip(header, cells))
        conv = conventions.setdefault(row["dataset"], Convention(row["dataset"]))
        kind, name, code, value = row["kind"], row["name"], row["code"], row["value"]
        if kind == "pattern":
            conv.patterns.append(value)
        elif kind == "code":
            conv.codes.setdefault(name, {})[code.lower()] = value
        elif kind == "shape":
            conv.shapes[name] = value
        elif kind == "label":
            conv.labels[name] = value
        else:
            raise ValueError(f"{TABLE}: line {number}: unknown kind {kind!r}")
    for conv in conventions.values():
        conv.compile()
        conv.check()
    return list(conventions.values())


@functools.cache
def conventions() -> tuple[Convention, ...]:
    text = resources.files("training").joinpath("data").joinpath(TABLE).read_text("utf-8")
    return tuple(parse_table(text))


def labels_from_path(path, root=None) -> Labels | None:
    """The labels a file's name (and its folders below `root`) carry, or None.

    The extension is dropped and folders are joined with "/" before matching, so
    `M003\\audio\\angry\\level_2\\001.m4a` on Windows reads like it does anywhere."""
    p = PurePath(path)
    if root is not None:
        try:
            p = p.relative_to(root)
        except ValueError:
            pass
    key = (p.parent / p.stem).as_posix()
    for conv in conventions():
        found = conv.match(key)
        if found is not None:
            return found
    return None
