"""Phone timings: the PHONES file format and the tables that map each synthesiser's phones to ARPAbet.

A PHONES file is TSV with the header `start\\tend\\tphone`: seconds, one row per phone,
ARPAbet upper case without stress digits, `SIL` for silence. The corpus writes them
contiguous (each phone starts where the previous one ends) and covering the whole
clip, so a reader can look up the phone at any instant without gaps to handle.

Phone maps live in training/data/phone_maps/<name>.tsv as `source<TAB>arpabet`. The
ARPAbet side may be empty (the phone is dropped and its time goes to its neighbour),
`SIL`, or several phones separated by spaces (the source phone's time is split
evenly: German "ts" is T then S). Comment lines start with "# " (hash, space): festival's
silence phone is "#" itself.
"""

from __future__ import annotations

import math
from functools import cache
from importlib import resources
from pathlib import Path
from typing import NamedTuple

from retarget.errors import InputError
from retarget.fileio import atomic_write_text

# The 39 phones of CMUdict (ARPAbet without stress), plus SIL for silence.
ARPABET = "AA AE AH AO AW AY B CH D DH EH ER EY F G HH IH IY JH K L M N NG OW OY P R S SH T TH UH UW V W Y Z ZH".split()
SILENCE = "SIL"
PHONES_HEADER = "start\tend\tphone"


class Phone(NamedTuple):
    start: float  # seconds
    end: float
    phone: str  # ARPAbet or SIL


# -- files -----------------------------------------------------------------------------------------


def write_phones(path, phones: list[Phone]) -> None:
    """Write a PHONES file atomically (milliseconds are plenty: the models run at 10 ms hops)."""
    lines = [PHONES_HEADER] + [f"{p.start:.4f}\t{p.end:.4f}\t{p.phone}" for p in phones]
    atomic_write_text(path, "\n".join(lines) + "\n")


def read_phones(path) -> list[Phone]:
    """Read a PHONES file; InputError naming the file and row for anything malformed."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise InputError(f"cannot read phones file ({e.strerror})", path=path) from None
    if not lines or lines[0].strip() != PHONES_HEADER:
        raise InputError(f"first line must be the header {PHONES_HEADER!r}", path=path, row=1)
    phones = []
    for row, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        cells = line.split("\t")
        if len(cells) != 3:
            raise InputError(f"expected 3 tab-separated cells, found {len(cells)}", path=path, row=row)
        try:
            start, end = float(cells[0]), float(cells[1])
        except ValueError:
            raise InputError("start and end must be numbers (seconds)", path=path, row=row) from None
        phone = cells[2].strip()
        if not (math.isfinite(start) and math.isfinite(end)) or end < start:
            raise InputError(f"bad interval {start}..{end}", path=path, row=row)
        if phone != SILENCE and phone not in ARPABET:
            raise InputError(f"{phone!r} is not an ARPAbet phone or SIL", path=path, row=row, column="phone")
        phones.append(Phone(start, end, phone))
    return phones


# -- maps ------------------------------------------------------------------------------------------


@cache
def phone_map(name: str) -> dict[str, tuple[str, ...]]:
    """training/data/phone_maps/<name>.tsv as {source phone: (ARPAbet phones...)}."""
    text = resources.files("training").joinpath("data", "phone_maps", f"{name}.tsv").read_text("utf-8")
    table: dict[str, tuple[str, ...]] = {}
    # A comment is "# ..."; festival's silence phone is "#" itself (a row "#<TAB>SIL").
    rows = [line for line in text.splitlines() if line.strip() and not line.startswith("# ")]
    for row, line in enumerate(rows[1:], start=2):  # rows[0] is the header
        source, _, target = line.partition("\t")
        phones = tuple(target.split())
        bad = [p for p in phones if p != SILENCE and p not in ARPABET]
        if bad:
            raise InputError(f"{bad} are not ARPAbet", path=f"phone_maps/{name}.tsv", row=row)
        table[source] = phones
    return table


def map_phones(segments: list[tuple[float, float, str]], table: dict[str, tuple[str, ...]], what: str) -> list[Phone]:
    """(start, end, source phone) -> ARPAbet Phones via a map; a phone missing from the map is an error
    naming it, because silently dropping phones would shift what the model learns."""
    out: list[Phone] = []
    for start, end, source in segments:
        if source not in table:
            raise KeyError(f"{what}: phone {source!r} is not in the phone map")
        targets = table[source]
        if not targets:  # dropped: the previous phone takes its time (at the start, `cover` makes it SIL)
            if out:
                out[-1] = out[-1]._replace(end=end)
            continue
        step = (end - start) / len(targets)
        out.extend(Phone(start + i * step, start + (i + 1) * step, p) for i, p in enumerate(targets))
    return out


# -- shaping ---------------------------------------------------------------------------------------


def cover(phones: list[Phone], duration: float) -> list[Phone]:
    """Contiguous phones from 0 to `duration`: gaps become SIL, overlaps are cut at the later start,
    neighbouring silences merge, nothing extends past the end."""
    out: list[Phone] = []
    t = 0.0
    for p in sorted(phones, key=lambda p: p.start):
        start, end = max(p.start, t), min(p.end, duration)
        if end <= start:
            continue
        if start > t:
            out.append(Phone(t, start, SILENCE))
        out.append(Phone(start, end, p.phone))
        t = end
    if t < duration:
        out.append(Phone(t, duration, SILENCE))
    merged: list[Phone] = []
    for p in out:
        if merged and p.phone == SILENCE and merged[-1].phone == SILENCE:
            merged[-1] = merged[-1]._replace(end=p.end)
        else:
            merged.append(p)
    return merged


def shift(phones: list[Phone], seconds: float) -> list[Phone]:
    return [Phone(p.start + seconds, p.end + seconds, p.phone) for p in phones]


def scale(phones: list[Phone], factor: float) -> list[Phone]:
    """Times multiplied by `factor` (audio played `1/factor` times as fast)."""
    return [Phone(p.start * factor, p.end * factor, p.phone) for p in phones]


def sequence(phones: list[Phone]) -> list[str]:
    """The spoken phones in order, silences left out."""
    return [p.phone for p in phones if p.phone != SILENCE]
