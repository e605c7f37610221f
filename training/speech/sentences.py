"""The project's own sentence sets: training/data/sentences_<language>.txt, `id<TAB>sentence` per line."""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import NamedTuple

from retarget.errors import InputError


class Sentence(NamedTuple):
    id: str  # e.g. en-0042, stable across edits (new sentences are appended)
    language: str
    text: str


def languages() -> list[str]:
    """Languages with a sentence set, from the file names."""
    folder = resources.files("training").joinpath("data")
    names = [p.name for p in folder.iterdir() if p.name.startswith("sentences_") and p.name.endswith(".txt")]
    return sorted(n[len("sentences_") : -len(".txt")] for n in names)


@cache
def sentences(language: str) -> tuple[Sentence, ...]:
    name = f"sentences_{language}.txt"
    resource = resources.files("training").joinpath("data", name)
    if not resource.is_file():
        raise InputError(f"no sentence set for language {language!r} (have: {', '.join(languages())})")
    out = []
    for row, line in enumerate(resource.read_text("utf-8").splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        sentence_id, sep, text = line.partition("\t")
        if not sep or not text.strip():
            raise InputError("expected id<TAB>sentence", path=name, row=row)
        out.append(Sentence(sentence_id.strip(), language, text.strip()))
    return tuple(out)
