"""Forgiving curve-name matching.

Real files spell the same curve many ways: Apple's camelCase (`eyeBlinkLeft`),
Live Link's PascalCase (`EyeBlinkLeft`), Unity's ARKit keys (`eyeBlink_L`),
Maya/Blender blendshape-node prefixes (`blendShape1.jawOpen`, `Face.jawOpen`,
`ns:jawOpen`), MetaHuman curves with or without `CTRL_expressions_`, and any
case. A NameIndex maps every such spelling of a space's curves back to the
canonical name, and refuses with the closest known names when it cannot.
"""

from __future__ import annotations

import difflib
import re

# A side written as a whole word (Left/Right) or as a single letter (L/R),
# optionally behind an underscore; the letter form only at the end of a name
# (or before a MetaHuman phase suffix) so that e.g. "mouthRoll" is never split.
_SIDE_WORD = re.compile(r"(Left|Right)")
_SIDE_LETTER = re.compile(r"_?(L|R)(?=$|Ph\d$)")

_PREFIX_SEPARATORS = re.compile(r"^.*[.:|/]")


def strip_prefix(name: str) -> str:
    """Drop a node or namespace prefix: `blendShape1.jawOpen` -> `jawOpen`."""
    return _PREFIX_SEPARATORS.sub("", name.strip())


def key(name: str) -> str:
    """The comparison key: no prefix, no separators, lower case."""
    return re.sub(r"[^0-9a-z]", "", strip_prefix(name).lower())


def spellings(canonical: str, optional_prefix: str = "") -> set[str]:
    """Every key under which `canonical` may be met in the wild."""
    bases = {canonical}
    if optional_prefix and canonical.startswith(optional_prefix):
        bases.add(canonical[len(optional_prefix) :])
    out = set()
    for base in bases:
        out.add(key(base))
        # Left/Right written as L/R (Unity's `eyeBlink_L`) ...
        if _SIDE_WORD.search(base) and base.endswith(("Left", "Right")):
            out.add(key(base[:-4] + "L" if base.endswith("Left") else base[:-5] + "R"))
        # ... and L/R written as Left/Right (a MetaHuman `eyeBlinkL` met as `eyeBlinkLeft`).
        m = _SIDE_LETTER.search(base)
        if m and not base.endswith(("Left", "Right")):
            word = "Left" if m.group(1) == "L" else "Right"
            out.add(key(base[: m.start()] + word + base[m.end() :]))
    return out


class NameIndex:
    """Resolve real-world spellings to the canonical names of one rig space."""

    def __init__(self, names, optional_prefix: str = "", space: str = "") -> None:
        self.names = list(names)
        self.space = space
        table: dict[str, int] = {}
        clashes: set[str] = set()
        for i, name in enumerate(self.names):
            for k in spellings(name, optional_prefix):
                if k in table and table[k] != i:
                    clashes.add(k)
                table[k] = i
        # An alias that two curves could claim is ambiguous; only exact keys survive.
        for k in clashes:
            del table[k]
        for i, name in enumerate(self.names):
            table[key(name)] = i
        self._table = table

    def find(self, name: str) -> int | None:
        """Index of the curve `name` stands for, or None."""
        return self._table.get(key(name))

    def closest(self, name: str, n: int = 3) -> list[str]:
        keys = {key(c): c for c in self.names}
        hits = difflib.get_close_matches(key(name), list(keys), n=n, cutoff=0.5)
        return [keys[h] for h in hits]

    def unknown_message(self, name: str) -> str:
        near = self.closest(name)
        space = f" in rig space {self.space!r}" if self.space else ""
        hint = f"; closest known: {', '.join(near)}" if near else ""
        return f"unknown curve name {name!r}{space}{hint}"
