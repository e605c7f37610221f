"""Which take curve drives which shape key (and which bone), by forgiving name matching.

Characters spell ARKit's shapes many ways: Apple's `jawOpen`, Live Link's `JawOpen`, a
Maya export's `blendShape1.jawOpen`, Unity's `eyeBlink_L`, Blender's own `eyeBlink.L`. Each
name is reduced to a key (no node prefix, no separators, lower case, side spelled out at the
end), the same rule retarget/names.py applies, so a take and a mesh agree whatever their
spelling. No bpy here: pytest checks it directly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# A side at the end of a name: behind a separator (`eyeBlink.L`, `eyeBlink_R`, `blink_left`), as
# a word (`eyeBlinkLeft`) or as a capital letter after a lower-case one (MetaHuman's
# `eyeBlinkL`); never a letter inside a word, so `mouthRollLower` keeps its L.
_SIDE = re.compile(
    r"^(?P<base>.*?)(?:[._\- ](?P<sep>[LRlr]|[Ll]eft|[Rr]ight)|(?P<word>Left|Right)|(?<=[a-z0-9])(?P<letter>[LR]))$"
)
_PREFIX = re.compile(r"^.*[.:|/]")  # `blendShape1.`, `Face:`, `mesh|` ...
_OPTIONAL_PREFIXES = ("ctrlexpressions",)  # MetaHuman curves met with or without it

# VRM / VRoid expression names that stand for one ARKit shape. Only unambiguous ones: a VRM
# viseme like `ih` is a blend of several ARKit shapes, so it is left to the user.
VRM_ALIASES = {
    "blinkleft": "eyeblinkleft",  # VRM 1.0 blinkLeft, VRM 0.x Blink_L
    "blinkright": "eyeblinkright",
    "fcleyecloseleft": "eyeblinkleft",  # VRoid Studio's Fcl_EYE_Close_L
    "fcleyecloseright": "eyeblinkright",
    "aa": "jawopen",  # VRM 1.0's open-mouth viseme
    "fclmtha": "jawopen",
}


def key(name: str) -> str:
    """The comparison key of a curve, shape key or bone name."""
    text = name.strip()
    side = ""
    m = _SIDE.match(text)
    if m and m.group("base"):
        letter = (m.group("sep") or m.group("word") or m.group("letter"))[0].lower()
        side = "left" if letter == "l" else "right"
        text = m.group("base")
    text = re.sub(r"[^0-9a-z]", "", _PREFIX.sub("", text).lower())
    for prefix in _OPTIONAL_PREFIXES:
        if text.startswith(prefix) and len(text) > len(prefix):
            text = text[len(prefix) :]
    return text + side


@dataclass
class Match:
    """shape key name -> index of the take curve that drives it, and what found no partner."""

    pairs: dict[str, int] = field(default_factory=dict)
    unmatched_curves: list[str] = field(default_factory=list)
    unmatched_keys: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.pairs)

    def summary(self, limit: int = 12) -> str:
        text = f"{self.count} shape keys matched"
        if self.unmatched_curves:
            shown = ", ".join(self.unmatched_curves[:limit])
            more = f" (+{len(self.unmatched_curves) - limit} more)" if len(self.unmatched_curves) > limit else ""
            text += f"; {len(self.unmatched_curves)} take curves unmatched: {shown}{more}"
        return text


def match(curves, shape_keys) -> Match:
    """Pair each shape key with the take curve of the same key (a VRM alias when none)."""
    table: dict[str, int] = {}
    for i, c in enumerate(curves):
        table.setdefault(key(c), i)
    out = Match()
    used = set()
    for name in shape_keys:
        k = key(name)
        i = table.get(k)
        if i is None and k in VRM_ALIASES:
            i = table.get(VRM_ALIASES[k])
        if i is None:
            out.unmatched_keys.append(name)
        else:
            out.pairs[name] = i
            used.add(i)
    # Rotations are for bones, not shape keys: do not list them as missing shapes.
    out.unmatched_curves = [c for i, c in enumerate(curves) if i not in used and key(c) not in ROTATION_CURVES]
    return out


# -- bones ------------------------------------------------------------------------------------------

# The livelinkface space's rotation curves (radians) -> (bone role, Euler axis in the bone's own
# space). A Blender bone points along its local Y: for an upright head or a forward-looking eye,
# yaw turns about Y, pitch about X, roll about Z.
ROTATION_CURVES = {
    "headyaw": ("head", 1),
    "headpitch": ("head", 0),
    "headroll": ("head", 2),
    "lefteyeyaw": ("eye_left", 1),
    "lefteyepitch": ("eye_left", 0),
    "lefteyeroll": ("eye_left", 2),
    "righteyeyaw": ("eye_right", 1),
    "righteyepitch": ("eye_right", 0),
    "righteyeroll": ("eye_right", 2),
}
BONE_ROLES = {
    "head": ("head",),
    "eye_left": ("eyeleft", "lefteye"),
    "eye_right": ("eyeright", "righteye"),
}


def match_bones(curves, bone_names) -> dict[str, list[tuple[int, int]]]:
    """bone name -> [(curve index, Euler axis)] for the head and eye rotations a take carries."""
    by_key = {}
    for b in bone_names:
        by_key.setdefault(key(b), b)
    bones = {}
    for role, keys in BONE_ROLES.items():
        name = next((by_key[k] for k in keys if k in by_key), None)
        if name is not None:
            bones[role] = name
    out: dict[str, list[tuple[int, int]]] = {}
    for i, c in enumerate(curves):
        target = ROTATION_CURVES.get(key(c))
        if target and target[0] in bones:
            out.setdefault(bones[target[0]], []).append((i, target[1]))
    return out
