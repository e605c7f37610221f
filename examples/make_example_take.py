"""Writes examples/take.csv: a 4-second Live Link Face take of a short, smiling utterance.

It is procedural (syllables as jaw/lip cycles, lip closures for "b/m/p", blinks,
a smile that builds, brow raises on stressed syllables, small head motion), made
so the README's first command has a realistic take to retarget. Run it again to
regenerate: python examples/make_example_take.py [OUT.csv]
"""

import sys
from pathlib import Path

import numpy as np

from retarget.spaces import get_space
from retarget.takes import Take, write_take

FPS = 60
SECONDS = 4.0


def bump(t, centre, width):
    return np.exp(-0.5 * ((t - centre) / width) ** 2)


def main(out: Path) -> None:
    space = get_space("livelinkface")
    t = np.arange(int(SECONDS * FPS)) / FPS
    f = np.zeros((len(t), len(space)))
    c = {name: i for i, name in enumerate(space.curves)}
    # Syllable nuclei: (time, openness, closure before it, rounded?)
    syllables = [
        (0.45, 0.55, True, False),
        (0.72, 0.35, False, True),
        (1.0, 0.6, False, False),
        (1.3, 0.3, True, False),
        (1.62, 0.5, False, False),
        (2.3, 0.65, True, False),
        (2.58, 0.4, False, True),
        (2.9, 0.55, False, False),
        (3.2, 0.3, True, False),
    ]
    for when, open_, closure, rounded in syllables:
        f[:, c["JawOpen"]] += open_ * bump(t, when, 0.07)
        f[:, c["MouthLowerDownLeft"]] += 0.3 * open_ * bump(t, when, 0.07)
        f[:, c["MouthLowerDownRight"]] += 0.3 * open_ * bump(t, when, 0.07)
        if closure:  # a bilabial onset: lips pressed just before the vowel
            for n in ("MouthPressLeft", "MouthPressRight"):
                f[:, c[n]] += 0.5 * bump(t, when - 0.09, 0.03)
            f[:, c["MouthClose"]] += 0.12 * bump(t, when - 0.09, 0.03)
        if rounded:
            f[:, c["MouthPucker"]] += 0.6 * bump(t, when, 0.08)
            f[:, c["MouthFunnel"]] += 0.3 * bump(t, when, 0.08)
    smile = np.clip((t - 0.5) / 2.0, 0, 1) * 0.6
    for n in ("MouthSmileLeft", "MouthSmileRight"):
        f[:, c[n]] = smile
    for n in ("CheekSquintLeft", "CheekSquintRight"):
        f[:, c[n]] = 0.5 * smile
    for when in (1.1, 3.5):  # blinks
        for n in ("EyeBlinkLeft", "EyeBlinkRight"):
            f[:, c[n]] = np.maximum(f[:, c[n]], bump(t, when, 0.04))
    f[:, c["BrowInnerUp"]] = 0.4 * bump(t, 1.0, 0.15) + 0.5 * bump(t, 2.3, 0.15)
    for n in ("BrowOuterUpLeft", "BrowOuterUpRight"):
        f[:, c[n]] = 0.3 * bump(t, 2.3, 0.15)
    for n, amp in (("EyeLookOutLeft", 0.25), ("EyeLookInRight", 0.25)):
        f[:, c[n]] = amp * bump(t, 2.0, 0.3)
    f[:, c["HeadPitch"]] = 0.05 * np.sin(2 * np.pi * 0.7 * t)
    f[:, c["HeadYaw"]] = 0.08 * np.sin(2 * np.pi * 0.3 * t)
    f[:, c["MouthClose"]] = np.minimum(f[:, c["MouthClose"]], f[:, c["JawOpen"]])
    f[:, :52] = np.clip(f[:, :52], 0, 1)
    start = 10 * 3600 + 30 * 60  # 10:30:00:00, as a phone's timecode would be
    write_take(Take(space, FPS, f, start=start), out)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).with_name("take.csv"))
