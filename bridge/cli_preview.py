"""`emorig preview` and `emorig plot`: look at a take without opening an engine.

    emorig preview TAKE [--audio AUDIO] -o preview.mp4 [--size 640x360] [--curves ...]
    emorig plot TAKE [--audio AUDIO] [--phones PHONES] [--curves ...] -o curves.png

See docs/preview.md. Pillow, PyAV and matplotlib are imported when a command runs,
so `emorig --help` stays fast.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from retarget.argtypes import positive as _positive

CURVES_HELP = (
    "curves to show, one lane each; join names with + to share a lane (mouthSmileLeft+mouthSmileRight). "
    "Names of the take's own rig space or of ARKit"
)


def _load(args):
    from retarget.mappings import load_mapping

    from .preview import load_take

    mappings = [load_mapping(p) for p in args.mapping]
    return load_take(args.take, space=args.source, fps=args.fps), mappings


def _preview(args) -> int:
    from .preview import PANEL_CURVES, parse_size, write_preview

    size = parse_size(args.size)
    take, mappings = _load(args)
    result = write_preview(
        take, args.output, args.audio, size, args.curves or PANEL_CURVES, args.window, mappings, progress=True
    )
    if args.audio is None:
        sound = "no audio"
    else:
        sound = f"audio {Path(args.audio).name}"
        if abs(result.audio_seconds - take.duration) >= 1 / take.fps:
            cut = "cut" if result.audio_seconds > take.duration else "padded with silence"
            sound += f" ({result.audio_seconds:.2f} s, {cut} to {take.duration:.2f} s)"
    print(
        f"{args.output}: {result.frames} frames at {take.fps:g} fps, {size[0]}x{size[1]}, {sound}; "
        f"rendered at {result.frames_per_second:.0f} frames/s ({result.frames_per_second / take.fps:.1f}x real time)"
    )
    return 0


def _plot(args) -> int:
    from .plots import PLOT_CURVES, write_plot

    take, mappings = _load(args)
    curves = args.curves or PLOT_CURVES
    write_plot(take, args.output, args.audio, curves, args.phones, mappings, args.title)
    print(f"{args.output}: {len(take)} frames at {take.fps:g} fps, {len(curves)} curve lanes")
    return 0


def _take_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "take", help="take to show: .csv (Live Link Face or Timecode + curves), .json or .npz, any rig space"
    )
    p.add_argument(
        "--from", dest="source", metavar="SPACE", help="the take's rig space (default: from its curve names)"
    )
    p.add_argument("--fps", type=_positive, help="frame rate of the take when its file does not say")
    p.add_argument(
        "--mapping",
        action="append",
        default=[],
        metavar="FILE",
        help="a mapping JSON to reach ARKit from the take's rig space (e.g. FLAME); repeatable",
    )


def add_parser(subparsers) -> None:
    """Register `preview` and `plot` under an `emorig` subparsers object."""
    p = subparsers.add_parser(
        "preview",
        help="render a take as a video of a stylised face, with the audio muxed in",
        description="Render a take as an H.264 video: a stylised face driven by the take (retargeted to ARKit "
        "first when it is in another rig space) beside its waveform and key curves scrolling past a playhead, "
        "with the emotion label and intensity when the take carries them. Frame i is shown at i / fps; the "
        "audio's 0 is the take's first frame. See docs/preview.md.",
    )
    _take_options(p)
    p.add_argument(
        "--audio",
        metavar="AUDIO",
        help="audio to mux in (wav, flac, ogg, mp3, m4a, or the sound of a video file), cut or padded to the "
        "take's length; without it the video has no audio stream",
    )
    p.add_argument("-o", "--output", required=True, help="video to write: .mp4, .mov or .mkv")
    p.add_argument(
        "--size",
        default="640x360",
        help="WIDTHxHEIGHT of the video (default 640x360); the face is a HEIGHT square, the panel takes the rest",
    )
    p.add_argument(
        "--curves",
        nargs="+",
        metavar="NAME",
        help=CURVES_HELP + " (default: jawOpen, mouthSmile L+R, eyeBlink L+R, browInnerUp; at most 6)",
    )
    p.add_argument(
        "--window",
        type=_positive,
        default=4.0,
        metavar="SECONDS",
        help="seconds of waveform and curves across the panel (default 4)",
    )
    p.set_defaults(func=_preview)

    p = subparsers.add_parser(
        "plot",
        help="draw a take's curves over its waveform (and phones) as a PNG",
        description="Draw a take's curves under its waveform on one time axis, with phone labels from a phones "
        "file and the emotion track when the take carries one. See docs/preview.md for the phones formats.",
    )
    _take_options(p)
    p.add_argument(
        "--audio", metavar="AUDIO", help="audio whose waveform goes on top (its 0 is the take's first frame)"
    )
    p.add_argument(
        "--phones", metavar="FILE", help="phone timings: `start end phone` lines (.tsv/.txt/.csv), HTK .lab, or .json"
    )
    p.add_argument(
        "--curves",
        nargs="+",
        metavar="NAME",
        help=CURVES_HELP + " (default: jawOpen, mouthClose, funnel+pucker, smile L+R, blink L+R, browInnerUp)",
    )
    p.add_argument("--title", help="title over the plot (default: file name, frames, fps, rig space)")
    p.add_argument("-o", "--output", required=True, help="image to write: .png, .svg or .pdf")
    p.set_defaults(func=_plot)
