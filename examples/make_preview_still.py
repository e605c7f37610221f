"""Writes docs/images/preview_example.png: one frame of `emorig preview` for examples/take.csv.

The frame is 2.3 s into the take (a stressed syllable: jaw open, smile building, brows
up), at the video's default size of 640x360, exactly as the video shows it.

The example take ships without a recording, so for the picture the waveform lane is fed
a synthetic hum whose loudness follows the take's jawOpen, and the take is given an
emotion track (neutral, then happy as the smile builds) to show the label and the
intensity bar. Neither is part of examples/take.csv. Run it again to regenerate:

    python examples/make_preview_still.py [OUT.png] [--frame N]
"""

import argparse
import io
from pathlib import Path

import numpy as np
from PIL import Image

from bridge.preview import PreviewRenderer, load_take
from retarget.fileio import atomic_write_bytes

ROOT = Path(__file__).resolve().parents[1]
TAKE = ROOT / "examples" / "take.csv"
OUT = ROOT / "docs" / "images" / "preview_example.png"
RATE = 16000


def synthetic_hum(take) -> np.ndarray:
    """A voiced buzz at 140 Hz, loud where the jaw is open: a stand-in for the missing recording."""
    t = np.arange(int(take.duration * RATE)) / RATE
    jaw = np.interp(t, np.arange(len(take)) / take.fps, take.curve("JawOpen"))
    buzz = sum(np.sin(2 * np.pi * 140 * h * t) / h for h in range(1, 6))
    noise = np.random.default_rng(0).standard_normal(len(t)) * 0.15
    return (0.3 * np.clip(2 * jaw, 0, 1) * (buzz + noise)).astype(np.float32)[:, None]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", type=Path, default=OUT)
    parser.add_argument("--frame", type=int, default=138)
    args = parser.parse_args()

    take = load_take(TAKE)
    smile = take.curve("MouthSmileLeft")
    take.meta["emotion"] = ["happy" if s > 0.05 else "neutral" for s in smile]
    take.meta["intensity"] = np.clip(smile / 0.6, 0, 1)
    renderer = PreviewRenderer(take, audio=(synthetic_hum(take), RATE), audio_name="synthetic hum")
    buffer = io.BytesIO()
    Image.fromarray(renderer.frame(args.frame)).save(buffer, format="PNG", optimize=True)
    atomic_write_bytes(args.out, buffer.getvalue())
    print(f"{args.out}: frame {args.frame} of {TAKE.name}")


if __name__ == "__main__":
    main()
