"""`emorig preview`: a video of the preview face driven by a take, with the audio muxed in.

The frame: the face (bridge/face_drawing.py) in a square on the left; on the right a
panel with the take's name and the time, the emotion label and intensity when the take
carries them, and lanes that scroll past a fixed playhead: the audio waveform, then a
few curves. Frame i of the take is shown at time i / fps; the audio's time 0 is the
take's first frame, and the audio is cut or padded with silence to the take's length.

How a take carries emotion (optional; the panel row and plot row only appear with it):
- in memory: `take.meta["emotion"]`, one label per frame (a list of str, or one str for
  the whole take), and `take.meta["intensity"]`, one number per frame (or one number);
- in a `.json` take: the same two keys at the top level of the document;
- in a `.npz` take: arrays `emotion` (strings) and `intensity` (numbers).
Labels are training.emotions.EMOTIONS (neutral, happy, sad, angry, surprised, fear,
disgust, contempt; common synonyms accepted); intensity is 0 (none) .. 1 (full), up
to 2 exaggerated.

Encoding: H.264 (libx264, yuv420p) at the take's frame rate; AAC audio only when an
audio file is given. The file appears in one rename when it is complete.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from retarget.errors import InputError
from retarget.mappings import retarget_frames
from retarget.spaces import RigSpace, get_space
from retarget.takes import Take, read_take

DEFAULT_SIZE = (640, 360)
DEFAULT_WINDOW = 4.0  # seconds of curves visible in the scrolling panel
# The curves the panel shows unless told otherwise: lip sync, emotion, blinks, brows.
PANEL_CURVES = ("jawOpen", "mouthSmileLeft+mouthSmileRight", "eyeBlinkLeft+eyeBlinkRight", "browInnerUp")
MAX_PANEL_LANES = 6
MIN_PANEL_WIDTH = 120  # narrower than this and the video is the face alone
VIDEO_FORMATS = {".mp4": "mp4", ".mov": "mov", ".mkv": "matroska"}
AAC_RATES = (96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000)
X264_OPTIONS = {"preset": "veryfast", "crf": "20"}  # tune=animation looks no better here and costs 15 %

# Panel colours, in the face's palette.
PANEL_BG = (28, 31, 38)
LANE_BG = (40, 44, 53)
LANE_OUTSIDE = (32, 35, 42)  # before the first frame and after the last
GRID = (58, 63, 75)
TEXT = (220, 224, 232)
TEXT_DIM = (140, 146, 160)
WAVE = (118, 176, 210)
PLAYHEAD = (255, 214, 102)
SERIES = ((240, 140, 120), (130, 200, 150), (200, 160, 240), (240, 200, 110))
EMOTION_COLOURS = {
    "neutral": (170, 176, 190),
    "happy": (250, 200, 90),
    "sad": (110, 150, 230),
    "angry": (235, 90, 80),
    "surprised": (240, 150, 230),
    "fear": (160, 120, 220),
    "disgust": (130, 190, 90),
    "contempt": (200, 140, 100),
}


# -- the take and what it carries -----------------------------------------------------------------


def load_take(path, space: RigSpace | str | None = None, fps: float | None = None) -> Take:
    """read_take, refusing an empty take, with the file's emotion track (if any) in `meta`."""
    take = read_take(path, space=space, fps=fps)
    if len(take) == 0:
        raise InputError("the take has no frames", path=path)
    take.meta.update(_emotion_from_file(path, len(take)))
    return take


def _emotion_from_file(path, n: int) -> dict:
    ext = Path(path).suffix.lower()
    if ext == ".json":
        doc = json.loads(Path(path).read_text("utf-8"))  # read_take already proved it parses
        found = {k: doc[k] for k in ("emotion", "intensity") if k in doc}
    elif ext == ".npz":
        with np.load(path, allow_pickle=False) as z:
            found = {k: z[k] for k in ("emotion", "intensity") if k in z.files}
        if "emotion" in found:
            e = found["emotion"]
            found["emotion"] = str(e) if e.ndim == 0 else [str(x) for x in e]
    else:
        return {}
    if not found:
        return {}
    track = emotion_track(found, n, path)
    return {"emotion": track[0], "intensity": track[1]}


def emotion_track(meta: dict, n: int, path=None) -> tuple[list[str] | None, np.ndarray | None]:
    """(one label per frame or None, one intensity per frame or None) from a take's meta."""
    from training.emotions import EMOTIONS, emotion_index

    labels = meta.get("emotion")
    if labels is not None:
        if isinstance(labels, str):
            labels = [labels] * n
        labels = list(labels)
        if len(labels) != n:
            raise InputError(f"'emotion' has {len(labels)} labels for {n} frames", path=path)
        try:
            labels = [EMOTIONS[emotion_index(str(x))] for x in labels]
        except ValueError as e:
            raise InputError(f"'emotion': {e}", path=path) from None
    intensity = meta.get("intensity")
    if intensity is not None:
        try:
            values = np.asarray(intensity, dtype=np.float64)
        except (TypeError, ValueError):
            raise InputError("'intensity' must be numbers", path=path) from None
        if values.ndim == 0:
            values = np.full(n, float(values))
        if values.shape != (n,):
            raise InputError(f"'intensity' has {values.size} values for {n} frames", path=path)
        if not np.all(np.isfinite(values)):
            raise InputError(
                f"'intensity' value at frame {int(np.argmin(np.isfinite(values)))} is not finite", path=path
            )
        intensity = values
    return labels, intensity


def arkit_frames(take: Take, mappings=()) -> np.ndarray:
    """The take as ARKit curves [frames x 52], retargeted if it is in another rig space."""
    arkit = get_space("arkit")
    frames = retarget_frames(take.frames, take.space, arkit, mappings)
    return arkit.clip(frames).astype(np.float32)


@dataclass
class Series:
    name: str
    values: np.ndarray  # one per frame
    lower: float
    upper: float


def resolve_curves(take: Take, specs, arkit=None) -> list[list[Series]]:
    """Lanes of curves from names such as `jawOpen` or `mouthSmileLeft+mouthSmileRight` (one lane).

    A name is looked up in the take's own rig space first (so a MetaHuman take can show
    `CTRL_expressions_jawOpen`), then in ARKit; `arkit:jawOpen` asks for the retargeted
    ARKit curve even where the take's space knows the name. `arkit` is the take's ARKit
    frames, or a callable that makes them when first needed."""
    space = get_space("arkit")
    lanes = []
    for spec in specs:
        lane = []
        for name in (n.strip() for n in str(spec).split("+")):
            if not name:
                raise InputError(f"--curves: empty curve name in {spec!r}")
            forced = name.lower().startswith("arkit:")
            name = name[len("arkit:") :].strip() if forced else name
            i = None if forced else take.space.find(name)
            if i is not None:
                lane.append(Series(take.space.curves[i], take.frames[:, i], take.space.lower[i], take.space.upper[i]))
                continue
            if space.find(name) is None:
                where = "ARKit" if take.space.name == "arkit" or forced else f"{take.space.name} or ARKit"
                close = space.closest(name)[:3]
                hint = f"; closest ARKit names: {', '.join(close)}" if close else ""
                raise InputError(f"--curves: {name!r} is not a curve of {where}{hint}")
            if callable(arkit):
                arkit = arkit()
            j = space.index(name)
            # Say where a value came from when it is not the take's own curve.
            label = space.curves[j] if take.space.name == "arkit" else f"arkit:{space.curves[j]}"
            lane.append(Series(label, arkit[:, j], 0.0, 1.0))
        lanes.append(lane)
    return lanes


# -- audio ----------------------------------------------------------------------------------------


def read_audio(path) -> tuple[np.ndarray, int]:
    """(samples float32 [n x channels], sample rate): soundfile for wav/flac/ogg, PyAV for the rest
    (mp3, m4a, mp4, ...)."""
    path = Path(path)
    if not path.is_file():
        raise InputError("audio file not found", path=path)
    import soundfile

    try:
        samples, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except Exception:  # soundfile.LibsndfileError and friends: try FFmpeg before giving up
        samples, rate = _read_audio_av(path)
    if samples.size == 0:
        raise InputError("audio file holds no samples", path=path)
    if not np.all(np.isfinite(samples)):
        raise InputError("audio holds samples that are not finite numbers", path=path)
    return samples, int(rate)


def _read_audio_av(path: Path) -> tuple[np.ndarray, int]:
    import av

    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise InputError("no audio stream in this file", path=path)
            stream = container.streams.audio[0]
            rate = stream.codec_context.sample_rate
            resampler = av.AudioResampler(format="fltp", layout=stream.codec_context.layout, rate=rate)
            chunks = []
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray())
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray())
    except av.FFmpegError as e:
        raise InputError(f"not a readable audio file ({getattr(e, 'strerror', None) or e})", path=path) from None
    if not chunks or not rate:
        raise InputError("audio file holds no samples", path=path)
    return np.concatenate(chunks, axis=1).T.astype(np.float32), int(rate)


def fit_audio(samples: np.ndarray, rate: int, seconds: float) -> np.ndarray:
    """Cut or pad (with silence) to `seconds`: the audio's 0 is the take's first frame."""
    n = int(round(seconds * rate))
    if len(samples) >= n:
        return samples[:n]
    return np.vstack([samples, np.zeros((n - len(samples), samples.shape[1]), samples.dtype)])


def _aac_ready(samples: np.ndarray, rate: int) -> tuple[np.ndarray, int]:
    """Mono or stereo at a rate AAC supports (resampled to 48 kHz otherwise)."""
    samples = samples[:, :2]
    if rate not in AAC_RATES:
        from scipy.signal import resample_poly

        g = math.gcd(48000, rate)
        samples = resample_poly(samples, 48000 // g, rate // g, axis=0).astype(np.float32)
        rate = 48000
    return np.ascontiguousarray(samples.T), rate  # planar [channels x n]


# -- the panel ------------------------------------------------------------------------------------


def _font(px: int):
    from PIL import ImageFont

    return ImageFont.load_default(size=max(8, px))


@dataclass
class _Lane:
    top: int
    height: int
    series: list  # list[Series]; empty for the waveform lane
    label: str


class ScrollingStrip:
    """The lanes (waveform, curves) of the whole take as one long picture, drawn in tiles
    the first time they are needed; `window(i)` is the part centred on frame i."""

    TILE = 512  # pixels of output per tile
    SUPERSAMPLE = 2

    def __init__(self, width, height, lanes, n_frames, fps, pixels_per_second, envelope=None, label_band=14):
        self.width, self.height, self.lanes = width, height, lanes
        self.n, self.fps, self.pps = n_frames, fps, pixels_per_second
        self.half = width // 2
        self.envelope = envelope  # (low, high) per supersampled column of take time, or None
        self._tiles: dict[int, np.ndarray] = {}
        self._label_font = _font(int(round(height / 26)) * self.SUPERSAMPLE)
        self.label_band = label_band  # pixels at the top of each lane kept for its label

    def _column_time(self, col_ss: np.ndarray) -> np.ndarray:
        return (col_ss / self.SUPERSAMPLE - self.half) / self.pps

    def _tile(self, k: int) -> np.ndarray:
        if k not in self._tiles:
            self._tiles[k] = self._draw_tile(k)
        return self._tiles[k]

    def _draw_tile(self, k: int) -> np.ndarray:
        from PIL import Image, ImageDraw

        ss = self.SUPERSAMPLE
        x0 = k * self.TILE * ss  # first supersampled column of the tile
        w, h = self.TILE * ss, self.height * ss
        img = Image.new("RGB", (w, h), PANEL_BG)
        d = ImageDraw.Draw(img)
        duration = self.n / self.fps
        t0, t1 = self._column_time(np.array([x0, x0 + w]))

        def col(t):
            return (np.asarray(t) * self.pps + self.half) * ss - x0

        take_x0, take_x1 = float(col(0.0)), float(col(duration))
        for lane in self.lanes:
            y0, y1 = lane.top * ss, (lane.top + lane.height) * ss - ss
            d.rectangle([0, y0, w, y1], fill=LANE_OUTSIDE)
            if take_x1 > 0 and take_x0 < w:
                d.rectangle([max(0, take_x0), y0, min(w, take_x1), y1], fill=LANE_BG)
        for second in range(max(0, math.floor(t0)), min(math.ceil(duration), math.ceil(t1)) + 1):
            x = float(col(second))
            d.line([(x, 0), (x, h)], fill=GRID, width=ss)
            d.text((x + 3 * ss, h - 2 * ss), f"{second} s", fill=TEXT_DIM, font=self._label_font, anchor="ld")
        pixels = np.asarray(img).copy()
        wave = next((lane for lane in self.lanes if not lane.series), None)
        if wave is not None and self.envelope is not None:
            self._draw_wave(pixels, wave, x0, w)
        img = Image.fromarray(pixels)
        d = ImageDraw.Draw(img)
        first = max(0, math.floor(t0 * self.fps) - 1)
        last = min(self.n, math.ceil(t1 * self.fps) + 2)
        if last - first >= 2:
            xs = col(np.arange(first, last) / self.fps)
            for lane in self.lanes:
                for s, series in enumerate(lane.series):
                    ys = self._y(lane, series, series.values[first:last]) * ss
                    d.line(
                        list(zip(xs.tolist(), ys.tolist())), fill=SERIES[s % len(SERIES)], width=2 * ss, joint="curve"
                    )
        return np.asarray(img.reduce(ss))

    def _draw_wave(self, pixels: np.ndarray, lane: _Lane, x0: int, w: int) -> None:
        low, high = self.envelope
        ss = self.SUPERSAMPLE
        cols = np.arange(x0, x0 + w) - self.half * ss  # column within the take's time
        inside = (cols >= 0) & (cols < len(low))
        if not inside.any():
            return
        band = min(lane.height // 3, self.label_band)  # under the label, like the curves
        mid = (lane.top + band + (lane.height - band) / 2) * ss
        amp = ((lane.height - band) / 2 - 2) * ss
        c = cols[inside]
        top, bottom = np.floor(mid - high[c] * amp), np.ceil(mid - low[c] * amp)
        r0, r1 = lane.top * ss, (lane.top + lane.height) * ss
        rows = np.arange(r0, r1)[:, None]
        first = int(np.flatnonzero(inside)[0])  # `inside` is one run of columns: slice, do not copy
        region = pixels[r0:r1, first : first + len(c)]
        region[(rows >= top[None, :]) & (rows <= bottom[None, :])] = WAVE

    def _y(self, lane: _Lane, series: Series, values) -> np.ndarray:
        """Pixel rows for values: the lane's label sits in a band at the top that curves stay out of."""
        span = series.upper - series.lower or 1.0
        norm = np.clip((np.asarray(values, dtype=np.float64) - series.lower) / span, 0, 1)
        top = lane.top + min(lane.height // 2, int(self.label_band))
        bottom = lane.top + lane.height - max(3, lane.height // 10)
        return bottom - norm * (bottom - top)

    def window(self, i: int) -> np.ndarray:
        """[height x width x 3] of the strip with frame i under the playhead (the window's centre)."""
        left = int(round(i / self.fps * self.pps))
        k0, k1 = left // self.TILE, (left + self.width - 1) // self.TILE
        for old in [k for k in self._tiles if k < k0]:
            del self._tiles[old]  # playback goes forward: forget what has scrolled past
        parts = [self._tile(k) for k in range(k0, k1 + 1)]
        strip = parts[0] if len(parts) == 1 else np.concatenate(parts, axis=1)
        start = left - k0 * self.TILE
        return strip[:, start : start + self.width]


def _envelope(samples: np.ndarray, rate: int, columns_per_second: float, n_columns: int):
    """Per column: (min, max) of the mono mix, scaled so the loudest peak reaches 1."""
    mono = samples.mean(axis=1)
    peak = float(np.max(np.abs(mono))) or 1.0
    edges = np.round(np.arange(n_columns + 1) * rate / columns_per_second).astype(np.int64)
    edges = np.clip(edges, 0, len(mono))
    mono = mono[: edges[-1]]
    low = np.zeros(n_columns, np.float32)
    high = np.zeros(n_columns, np.float32)
    has = edges[1:] > edges[:-1]  # columns that hold at least one sample
    if has.any():
        # reduceat runs from each start to the next one (the last to the end): with the empty
        # columns left out, that is exactly each column's samples.
        starts = edges[:-1][has]
        high[has] = np.maximum.reduceat(mono, starts)
        low[has] = np.minimum.reduceat(mono, starts)
    # A hairline even in silence, so the lane reads as audio.
    return np.minimum(low / peak, -0.01), np.maximum(high / peak, 0.01)


class PreviewRenderer:
    """Composes the frames of the preview video. `frame(i)` -> RGB uint8 [height x width x 3]."""

    def __init__(
        self,
        take: Take,
        audio: tuple[np.ndarray, int] | None = None,
        size: tuple[int, int] = DEFAULT_SIZE,
        curves=PANEL_CURVES,
        window: float = DEFAULT_WINDOW,
        mappings=(),
        title: str | None = None,
        audio_name: str | None = None,
    ) -> None:
        from PIL import Image, ImageDraw

        from .face_drawing import FacePainter

        width, height = size
        self.take, self.width, self.height = take, width, height
        self.arkit = arkit_frames(take, mappings)
        self.painter = FacePainter(height)
        labels, intensity = emotion_track(take.meta, len(take))
        self.emotion, self.intensity = labels, intensity
        self.title = title or Path(str(take.meta.get("source", "take"))).name
        self.panel_x, self.panel_w = height, width - height
        self.has_panel = self.panel_w >= MIN_PANEL_WIDTH
        self.face_x = 0 if self.has_panel else (width - height) // 2  # too narrow: the face alone, centred
        k = height / 360
        self.k = k
        self.font = _font(int(round(13 * k)))
        self.font_small = _font(int(round(11 * k)))
        self.font_big = _font(int(round(19 * k)))
        self.base = Image.new("RGB", (width, height), PANEL_BG)
        self.stamps = _TextStamps()
        if not self.has_panel:
            return

        lanes_curves = resolve_curves(take, curves, self.arkit)
        if len(lanes_curves) > MAX_PANEL_LANES:
            raise InputError(f"--curves: the preview panel shows at most {MAX_PANEL_LANES} lanes")
        pad = int(round(8 * k))
        self.pad = pad
        header_h = int(round(26 * k))
        emotion_h = int(round(40 * k)) if (labels is not None or intensity is not None) else 0
        self.strip_x = self.panel_x + pad
        self.strip_y = pad + header_h + emotion_h
        strip_w = self.panel_w - 2 * pad
        strip_h = height - self.strip_y - pad
        # The waveform lane is a little taller than a curve lane; without audio there is none.
        wave_h = int(round(strip_h * 1.4 / (len(lanes_curves) + 1.4))) if audio is not None else 0
        lane_h = (strip_h - wave_h) // max(1, len(lanes_curves))
        lanes = [_Lane(0, wave_h, [], f"audio: {audio_name}" if audio_name else "audio")] if audio is not None else []
        for j, series in enumerate(lanes_curves):
            lanes.append(_Lane(wave_h + j * lane_h, lane_h, series, _lane_label(series)))
        self.lanes = lanes
        pps = strip_w / window
        envelope = None
        if audio is not None:
            samples, rate = audio
            cols = int(math.ceil(take.duration * pps * ScrollingStrip.SUPERSAMPLE))
            envelope = _envelope(samples, rate, pps * ScrollingStrip.SUPERSAMPLE, cols)
        label_band = int(round(16 * k))
        self.strip = ScrollingStrip(strip_w, strip_h, lanes, len(take), take.fps, pps, envelope, label_band)

        d = ImageDraw.Draw(self.base)
        title = self.title if audio is not None else f"{self.title}  (no audio)"
        d.text((self.panel_x + pad, pad), _fit_text(d, title, self.font, strip_w * 0.62), fill=TEXT, font=self.font)
        if emotion_h and labels is None:
            d.text((self.panel_x + pad, pad + header_h), "emotion", fill=TEXT_DIM, font=self.font_small)

    def frame_image(self, i: int):
        from PIL import Image, ImageDraw

        img = self.base.copy()
        img.paste(self.painter.draw_image(self.arkit[i]), (self.face_x, 0))
        if not self.has_panel:
            return img
        d = ImageDraw.Draw(img)
        k, pad = self.k, self.pad
        right = self.width - pad
        self.stamps.draw(img, (right, pad), f"{i / self.take.fps:.2f} s  #{i}", self.font, TEXT_DIM, "ra")
        if self.emotion is not None or self.intensity is not None:
            self._draw_emotion(img, d, i, pad + int(round(26 * k)), right)
        sx, sy = self.strip_x, self.strip_y
        img.paste(Image.fromarray(self.strip.window(i)), (sx, sy))
        x = sx + self.strip.half
        for lane in self.lanes:
            at = (sx + 4 * k, sy + lane.top + 2 * k)
            self.stamps.draw(img, at, lane.label, self.font_small, TEXT)
            at = (at[0] + d.textlength(lane.label + "  ", font=self.font_small), at[1])
            for s, series in enumerate(lane.series):  # each value in its line's colour
                text = f"{series.values[i]:.2f}".replace("-0.00", "0.00")
                self.stamps.draw(img, at, text, self.font_small, SERIES[s % len(SERIES)])
                at = (at[0] + d.textlength(text + "  ", font=self.font_small), at[1])
            for s, series in enumerate(lane.series):
                y = sy + float(self.strip._y(lane, series, series.values[i]))
                r = 3 * k
                d.ellipse([x - r, y - r, x + r, y + r], fill=SERIES[s % len(SERIES)], outline=PLAYHEAD)
        d.line([(x, sy), (x, sy + self.strip.height - 1)], fill=PLAYHEAD, width=max(1, int(round(1.5 * k))))
        return img

    def _draw_emotion(self, img, d, i: int, top: int, right: int) -> None:
        k, x = self.k, self.panel_x + self.pad
        if self.emotion is not None:
            label = self.emotion[i]
            self.stamps.draw(img, (x, top), label, self.font_big, EMOTION_COLOURS.get(label, TEXT))
        if self.intensity is not None:
            value = float(self.intensity[i])
            bar_x0 = x + int(round(110 * k))
            bar_y0, bar_y1 = top + int(round(6 * k)), top + int(round(16 * k))
            bar_x1 = right - int(round(40 * k))
            d.rectangle([bar_x0, bar_y0, bar_x1, bar_y1], fill=LANE_BG)
            fill = EMOTION_COLOURS.get(self.emotion[i], PLAYHEAD) if self.emotion is not None else PLAYHEAD
            filled = bar_x0 + (bar_x1 - bar_x0) * min(max(value, 0.0), 1.0)
            if filled > bar_x0:
                d.rectangle([bar_x0, bar_y0, filled, bar_y1], fill=fill)
            self.stamps.draw(img, (right, bar_y0 - 2 * k), f"{value:.2f}", self.font_small, TEXT, "ra")

    def frame(self, i: int) -> np.ndarray:
        return np.asarray(self.frame_image(i))


def _lane_label(series: list[Series]) -> str:
    """`mouthSmileLeft + mouthSmileRight` -> `mouthSmile L/R`; other names joined with `+`."""
    names = [s.name for s in series]
    if len(names) == 2:
        for a, b in (("Left", "Right"), ("Right", "Left"), ("L", "R"), ("R", "L")):
            if names[0].endswith(a) and names[1] == names[0][: -len(a)] + b:
                return f"{names[0][: -len(a)]} {a[0]}/{b[0]}"
    return " + ".join(names)


class _TextStamps:
    """Text drawn through a cache of rendered masks: lane names and values repeat from frame
    to frame, and rendering glyphs costs more than pasting them."""

    LIMIT = 4096

    def __init__(self) -> None:
        self._cache: dict = {}

    def draw(self, img, xy, text: str, font, fill, anchor: str = "la") -> None:
        from PIL import Image, ImageDraw

        key = (text, id(font), anchor)
        if key not in self._cache:
            if len(self._cache) >= self.LIMIT:
                self._cache.clear()
            x0, y0, x1, y1 = font.getbbox(text, anchor=anchor)
            mask = Image.new("L", (max(1, x1 - x0), max(1, y1 - y0)), 0)
            ImageDraw.Draw(mask).text((-x0, -y0), text, fill=255, font=font, anchor=anchor)
            self._cache[key] = (mask, x0, y0)
        mask, x0, y0 = self._cache[key]
        img.paste(fill, (int(round(xy[0] + x0)), int(round(xy[1] + y0))), mask)


def _fit_text(d, text: str, font, width: float) -> str:
    if d.textlength(text, font=font) <= width:
        return text
    while text and d.textlength(text + "…", font=font) > width:
        text = text[:-1]
    return text + "…"


# -- writing the video ----------------------------------------------------------------------------


def check_output(path: Path) -> None:
    """Fail before any work when `path` cannot be written."""
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise InputError("output folder does not exist", path=folder)
    if path.is_dir():
        raise InputError("is a folder, not a file name", path=path)
    if not os.access(folder, os.W_OK):
        raise InputError("cannot write in this folder (permission denied)", path=folder)


@contextlib.contextmanager
def _temp_beside(path: Path):
    """A temporary path in the target's folder, renamed onto `path` on success, removed on error."""
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise InputError("output folder does not exist", path=folder)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix, dir=folder)
    except OSError as e:
        raise InputError(f"cannot write in this folder ({e.strerror})", path=folder) from None
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, 0o644)  # mkstemp made it private (0600); a video is for sharing
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@dataclass
class PreviewResult:
    frames: int
    fps: float
    seconds: float  # wall time spent rendering and encoding
    audio_seconds: float | None  # length of the audio file, before it was fitted to the take

    @property
    def frames_per_second(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else float("inf")


def parse_size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(x) for x in text.lower().split("x"))
    except ValueError:
        raise InputError(f"--size must be WIDTHxHEIGHT such as 640x360, not {text!r}") from None
    if h < 96 or w < h or w > 7680 or h > 4320 or w % 2 or h % 2:
        raise InputError(f"--size {text}: need even numbers, height at least 96 and width at least the height")
    return w, h


def write_preview(
    take: Take,
    out,
    audio_path=None,
    size: tuple[int, int] = DEFAULT_SIZE,
    curves=PANEL_CURVES,
    window: float = DEFAULT_WINDOW,
    mappings=(),
    progress: bool = True,
) -> PreviewResult:
    """Render `take` to the video file `out` (.mp4, .mov or .mkv), with `audio_path` muxed in if given."""
    import av
    from tqdm import tqdm

    out = Path(out)
    container_format = VIDEO_FORMATS.get(out.suffix.lower())
    if container_format is None:
        raise InputError(f"unknown video format {out.suffix or '(none)'!r}; use .mp4, .mov or .mkv", path=out)
    check_output(out)
    if len(take) == 0:
        raise InputError("the take has no frames")
    if not window > 0:
        raise InputError(f"--window must be a positive number of seconds, not {window}")
    audio, audio_seconds = None, None
    if audio_path is not None:
        samples, rate = read_audio(audio_path)
        audio_seconds = len(samples) / rate
        audio = (fit_audio(samples, rate, take.duration), rate)
    renderer = PreviewRenderer(
        take, audio, size, curves, window, mappings, audio_name=audio_path and Path(audio_path).name
    )
    width, height = size
    rate = Fraction(take.fps).limit_denominator(1001)
    started = time.perf_counter()
    with _temp_beside(out) as tmp, av.open(tmp, mode="w", format=container_format) as container:
        video = container.add_stream("libx264", rate=rate)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.options = dict(X264_OPTIONS)
        sound = None
        if audio is not None:
            planar, audio_rate = _aac_ready(*audio)
            sound = container.add_stream("aac", rate=audio_rate)
            sound.layout = "mono" if planar.shape[0] == 1 else "stereo"
            sound.bit_rate = 128000
            layout, sent = sound.layout.name, 0
        bar = tqdm(total=len(take), unit="frame", desc="preview", file=sys.stderr, disable=None if progress else True)
        with bar:
            for i in range(len(take)):
                frame = av.VideoFrame.from_ndarray(renderer.frame(i), format="rgb24")
                frame.pts, frame.time_base = i, 1 / rate
                for packet in video.encode(frame):
                    container.mux(packet)
                if sound is not None:  # keep the audio in step with the video, frame by frame
                    until = min(planar.shape[1], int(round((i + 1) / rate * audio_rate)))
                    if until > sent:
                        chunk = av.AudioFrame.from_ndarray(planar[:, sent:until], format="fltp", layout=layout)
                        chunk.sample_rate, chunk.pts, chunk.time_base = audio_rate, sent, Fraction(1, audio_rate)
                        for packet in sound.encode(chunk):
                            container.mux(packet)
                        sent = until
                bar.update()
        for stream in (video, sound):
            if stream is not None:
                for packet in stream.encode(None):
                    container.mux(packet)
    return PreviewResult(len(take), take.fps, time.perf_counter() - started, audio_seconds)
