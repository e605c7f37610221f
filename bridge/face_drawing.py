"""The preview face: a flat, stylised front view driven by the 52 ARKit curves.

    draw_face(arkit_values, size) -> RGB uint8 [size x size x 3]
    FacePainter(size).draw(arkit_values)   # the same, reusing the static parts per frame

The drawing is the project's own (no third-party mesh), built on Pillow's ImageDraw
at SUPERSAMPLE times the output size and reduced, which anti-aliases every edge.

Coordinates below are in face units: x to the right, y down, the canvas spans
[-1, 1] both ways. The character faces the viewer, so the character's LEFT side
(every `...Left` curve) is drawn at +x, on the viewer's RIGHT, as when you look
at a person. Each part is drawn by one method that reads the curves it answers to
by name (`pose["jawOpen"]`, `pose.side("eyeBlink", s)`), so "which curve moves
what" is read straight from the code; the distances each curve moves a part are
the constants just below, in face units at weight 1.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from retarget.spaces import get_space

SUPERSAMPLE = 2  # drawn at 2x then box-reduced: smooth edges for ~1 ms per frame

# -- colours ------------------------------------------------------------------------------------
BACKGROUND = (36, 40, 48)
SHIRT = (58, 104, 132)
SHIRT_COLLAR = (46, 84, 108)
SKIN = (238, 196, 164)
SKIN_NECK = (222, 176, 144)
SKIN_EAR = (228, 182, 150)
CREASE = (196, 138, 110)  # lines that appear in the skin (folds, wrinkles) at full strength
HAIR = (74, 50, 40)
BROW = (86, 56, 42)
LASH = (48, 32, 30)
SCLERA = (250, 248, 244)
SCLERA_SHADOW = (214, 206, 204)  # the upper lid's shadow on the eyeball
IRIS = (58, 128, 170)
IRIS_RIM = (34, 82, 112)
PUPIL = (22, 22, 28)
CATCHLIGHT = (255, 255, 255)
NOSTRIL = (150, 88, 72)
BLUSH = (236, 150, 138)
CHEEK_SHINE = (255, 232, 214)
LIP_UPPER = (190, 92, 96)
LIP_LOWER = (208, 108, 108)
LIP_LINE = (120, 46, 54)
CAVITY = (72, 22, 32)  # the inside of the mouth
TEETH = (250, 248, 240)
TEETH_LINE = (214, 210, 200)
TONGUE = (226, 104, 124)
TONGUE_LINE = (186, 74, 94)

# -- static geometry (face units) ---------------------------------------------------------------
# Right half of the head outline (viewer's right), from the crown to the chin; mirrored for the
# other half and smoothed with a Catmull-Rom spline.
HEAD_OUTLINE = [(0.0, -0.80), (0.34, -0.74), (0.54, -0.52), (0.60, -0.22), (0.59, 0.06), (0.54, 0.32),
                (0.43, 0.53), (0.25, 0.67), (0.0, 0.71)]  # fmt: skip
# Hair: outer edge over the crown, then the hairline back to the centre.
HAIR_OUTLINE = [(0.0, -0.90), (0.40, -0.83), (0.64, -0.58), (0.69, -0.26), (0.66, -0.02), (0.60, -0.04),
                (0.58, -0.34), (0.49, -0.54), (0.27, -0.61), (0.08, -0.585), (0.0, -0.595)]  # fmt: skip
EAR = (0.60, -0.04, 0.085, 0.15)  # centre x, centre y, half width, half height
NECK_HALF_WIDTH, NECK_TOP = 0.25, 0.3
JAW_PIVOT_Y = 0.10  # the outline below this line moves with the jaw, fading in down to the chin
CHIN_Y = 0.71

EYE_X, EYE_Y = 0.25, -0.07  # centre of the character's left eye; the right one is mirrored
EYE_HALF_WIDTH = 0.135
EYE_OPEN_UP, EYE_OPEN_DOWN = 0.074, 0.046  # lid edges above / below the centre line, eye open
EYE_OUTER_CORNER_RISE = 0.012  # a slight upward tilt toward the outer corner
IRIS_RADIUS, PUPIL_RADIUS = 0.062, 0.027
LASH_WIDTH = 0.014

BROW_INNER_X, BROW_OUTER_X, BROW_Y = 0.085, 0.40, -0.245
BROW_ARCH = 0.035
BROW_THICK_INNER, BROW_THICK_OUTER = 0.046, 0.018

NOSE_TIP_Y = 0.15
NOSTRIL_X, NOSTRIL_Y = 0.045, 0.175
ALA_X = 0.078

CHEEK_X, CHEEK_Y, CHEEK_RADIUS = 0.36, 0.17, 0.11

MOUTH_Y = 0.36  # where the lips meet at rest
MOUTH_HALF_WIDTH = 0.19
UPPER_LIP, LOWER_LIP = 0.048, 0.062  # lip thickness (red part) at the centre
TEETH_HALF_WIDTH, TEETH_HEIGHT = 0.155, 0.07

# -- how far each curve moves its part, in face units at weight 1 -------------------------------
JAW_DROP = 0.17  # jawOpen: chin, lower lip, lower teeth and tongue move down
JAW_SIDE = 0.06  # jawLeft/jawRight
JAW_FORWARD_LIFT = 0.018  # jawForward: lower teeth come up in front of the upper teeth
LIP_PART = 0.17  # lips part by jawOpen - mouthClose
FUNNEL_PART = 0.05  # mouthFunnel opens a round hole even with the jaw closed
MOUTH_SIDE = 0.07  # mouthLeft/mouthRight
SMILE_UP, SMILE_OUT = 0.06, 0.25  # mouthSmile: corner up and (as a fraction of the half width) out
FROWN_DOWN = 0.06
STRETCH_DOWN, STRETCH_OUT = 0.03, 0.30
DIMPLE_OUT = 0.12
PUCKER_IN, FUNNEL_IN = 0.45, 0.30  # fraction of the mouth width they take away
UPPER_UP = 0.045  # mouthUpperUp: upper lip lifts over the canines
LOWER_DOWN = 0.045  # mouthLowerDown: lower lip pulls down off the teeth
SHRUG_UPPER, SHRUG_LOWER = 0.02, 0.03
GAZE_X, GAZE_Y = 0.062, 0.042  # eyeLookIn/Out, eyeLookUp/Down: iris travel
BROW_INNER_UP, BROW_OUTER_UP, BROW_DOWN = 0.075, 0.06, 0.05
CHEEK_SQUINT_UP = 0.035
CHEEK_PUFF_OUT = 0.07
SNEER_UP = 0.03

ARKIT_CURVES = get_space("arkit").curves
SIDES = (1, -1)  # +1: the character's left (drawn at +x), -1: the character's right


class Pose:
    """ARKit values by name; `side(stem, s)` reads `stem + Left` for s = +1, `stem + Right` for -1."""

    def __init__(self, values) -> None:
        values = np.asarray(values, dtype=np.float64).reshape(-1)
        if values.shape != (len(ARKIT_CURVES),):
            raise ValueError(f"need {len(ARKIT_CURVES)} ARKit values, got {values.shape[0]}")
        if not np.all(np.isfinite(values)):
            raise ValueError("ARKit values must be finite")
        self._v = dict(zip(ARKIT_CURVES, np.clip(values, 0.0, 1.0).tolist()))

    def __getitem__(self, name: str) -> float:
        return self._v[name]

    def side(self, stem: str, s: int) -> float:
        return self._v[stem + ("Left" if s > 0 else "Right")]


def _lerp_colour(a, b, k: float):
    k = min(max(k, 0.0), 1.0)
    return tuple(int(round(x + (y - x) * k)) for x, y in zip(a, b))


def _catmull_rom(points, samples_per_segment: int = 8, closed: bool = True) -> np.ndarray:
    """A smooth curve through `points` ([n x 2])."""
    p = np.asarray(points, dtype=np.float64)
    if closed:
        ext = np.vstack([p[-1], p, p[0], p[1]])
    else:
        ext = np.vstack([2 * p[0] - p[1], p, 2 * p[-1] - p[-2]])
    t = np.linspace(0, 1, samples_per_segment, endpoint=False)[:, None]
    out = []
    for i in range(1, len(ext) - 2):
        p0, p1, p2, p3 = ext[i - 1], ext[i], ext[i + 1], ext[i + 2]
        out.append(
            0.5
            * (2 * p1 + (-p0 + p2) * t + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t**2 + (-p0 + 3 * p1 - 3 * p2 + p3) * t**3)
        )
    if not closed:
        out.append(p[-1:])
    return np.vstack(out)


def _mirror_half(half) -> np.ndarray:
    """Right half (crown to chin) -> the whole closed outline, going round clockwise."""
    half = np.asarray(half, dtype=np.float64)
    other = half[-2:0:-1] * [-1, 1]
    return np.vstack([half, other])


def _bump(t, centre: float, width: float):
    return np.exp(-(((t - centre) / width) ** 2))


class FacePainter:
    """Draws the face at `size` x `size` pixels. The parts that never move (background,
    shoulders, neck, ears, hair, the head above the jaw) are drawn once here; `draw` draws
    the rest for one frame."""

    def __init__(self, size: int = 360, supersample: int = SUPERSAMPLE) -> None:
        if size < 32:
            raise ValueError(f"face size must be at least 32 pixels, got {size}")
        self.size, self.ss = int(size), int(supersample)
        self.px = self.size * self.ss  # the drawing canvas
        self._head_template = _catmull_rom(_mirror_half(HEAD_OUTLINE), 10)
        self._blush_mask = self._soft_disc(int(CHEEK_RADIUS * self.px))
        self._masks: dict[int, Image.Image] = {}  # blush masks by size (in 2 % steps), made once
        # Only the jaw moves the outline, and only below JAW_PIVOT_Y: above it the head, the
        # hair and the ears are one picture drawn now; below it, each frame starts again from
        # the picture without the head and draws the moved jaw.
        self._below = int(self._p(0, JAW_PIVOT_Y)[1])
        self._static, self._static_below = self._draw_static()
        # Shapes that only move as a whole: smoothed once, shifted per frame.
        self._wing = {
            s: _catmull_rom([(-s * 0.005, -0.04), (s * 0.02, -0.005), (0, 0.03), (-s * 0.05, 0.035)], 6, closed=False)
            for s in SIDES
        }  # the nose's wing round the nostril, relative to its outermost point
        self._nose_tip = _catmull_rom(
            [(-0.03, NOSE_TIP_Y + 0.02), (0.0, NOSE_TIP_Y + 0.035), (0.03, NOSE_TIP_Y + 0.02)], 6, closed=False
        )

    # -- units --------------------------------------------------------------------------------
    def _p(self, x, y):
        """Face units -> canvas pixels (arrays or scalars)."""
        half = self.px / 2.0
        return (np.asarray(x) + 1.0) * half, (np.asarray(y) + 1.0) * half

    def _pts(self, xy) -> list[tuple[float, float]]:
        xy = np.asarray(xy, dtype=np.float64)
        px, py = self._p(xy[:, 0], xy[:, 1])
        return list(zip(px.tolist(), py.tolist()))

    def _w(self, units: float) -> int:
        """A line width in face units -> pixels: odd, because Pillow centres odd widths on the
        line but shifts even ones a pixel to one side, which would make the face lopsided."""
        return max(1, 2 * int(round((units * self.px / 2.0 - 1) / 2)) + 1)

    def _ellipse(self, d: ImageDraw.ImageDraw, cx, cy, rx, ry, fill) -> None:
        x0, y0 = self._p(cx - rx, cy - ry)
        x1, y1 = self._p(cx + rx, cy + ry)
        d.ellipse([float(x0), float(y0), float(x1), float(y1)], fill=fill)

    def _line(self, d: ImageDraw.ImageDraw, xy, colour, width_units: float) -> None:
        width = self._w(width_units)
        # Round joints only where a line is thick enough to show a notch: they cost a pie slice each.
        d.line(self._pts(xy), fill=colour, width=width, joint="curve" if width >= 4 else None)

    def _ribbon(self, d: ImageDraw.ImageDraw, xy, colour, width_units: float, offset=(0.0, 0.0)) -> None:
        """A thick, mostly horizontal curve as one polygon (thickness taken vertically): lid
        edges and lashes, without the per-joint cost of a wide Pillow line."""
        xy = np.asarray(xy, dtype=np.float64)
        half = width_units / 2
        ribbon = np.vstack([xy + [0, -half], (xy + [0, half])[::-1]])
        d.polygon([(x - offset[0], y - offset[1]) for x, y in self._pts(ribbon)], fill=colour)

    def _soft_disc(self, radius: int) -> Image.Image:
        """A round mask that fades out to its edge: blush without a hard border."""
        r = np.linspace(-1, 1, 2 * radius + 1)
        rr = np.hypot(r[None, :], r[:, None] * 1.5)
        alpha = np.clip(1 - rr, 0, 1) ** 1.2
        return Image.fromarray((alpha * 255).astype(np.uint8), "L")

    # -- static parts -------------------------------------------------------------------------
    def _draw_static(self) -> tuple[Image.Image, Image.Image]:
        """(the head at rest with hair, ears, neck and shoulders; the part below the jaw pivot
        without the head)."""
        img = Image.new("RGB", (self.px, self.px), BACKGROUND)
        d = ImageDraw.Draw(img)
        # Shoulders and collar, then the neck: the head is drawn over them every frame.
        shoulders = [(-1.05, 1.05), (-0.95, 0.86), (-0.45, 0.74), (0.45, 0.74), (0.95, 0.86), (1.05, 1.05)]
        d.polygon(self._pts(_catmull_rom(shoulders, 8, closed=False)), fill=SHIRT)
        w = NECK_HALF_WIDTH
        d.polygon(self._pts([(-w, NECK_TOP), (w, NECK_TOP), (w * 1.08, 0.82), (-w * 1.08, 0.82)]), fill=SKIN_NECK)
        collar = [(-w * 1.1, 0.80), (0.0, 0.93), (w * 1.1, 0.80)]
        self._line(d, _catmull_rom(collar, 8, closed=False), SHIRT_COLLAR, 0.05)
        ex, ey, rx, ry = EAR
        for s in SIDES:
            self._ellipse(d, s * ex, ey, rx, ry, SKIN_EAR)
            self._ellipse(d, s * (ex + 0.015), ey, rx * 0.45, ry * 0.6, CREASE)
            self._ellipse(d, s * (ex + 0.005), ey, rx * 0.45, ry * 0.6, SKIN_EAR)
        below = img.crop((0, self._below, self.px, self.px))
        d.polygon(self._pts(self._head_template), fill=SKIN)
        d.polygon(self._pts(_catmull_rom(_mirror_half(HAIR_OUTLINE), 10)), fill=HAIR)
        return img, below

    # -- one frame ----------------------------------------------------------------------------
    def draw_image(self, values) -> Image.Image:
        """The face for one frame of ARKit values (52, in ARKit order; clipped to 0..1) as a PIL image."""
        pose = Pose(values)
        img = self._static.copy()
        img.paste(self._static_below, (0, self._below))
        d = ImageDraw.Draw(img)
        self._head(d, pose)
        self._cheeks(img, pose)
        self._forehead(d, pose)
        for s in SIDES:
            self._brow(d, pose, s)
            self._eye(img, d, pose, s)
        self._nose(d, pose)
        mouth = self._mouth_shape(pose)
        self._mouth_folds(d, pose, mouth)
        self._mouth(img, d, pose, mouth)
        if self.ss > 1:
            img = img.reduce(self.ss)
        return img

    def draw(self, values) -> np.ndarray:
        return np.asarray(self.draw_image(values))

    # -- head and cheeks ----------------------------------------------------------------------
    def _jaw(self, pose: Pose) -> tuple[float, float]:
        """Where jawOpen / jawLeft / jawRight put the chin, relative to rest."""
        return JAW_SIDE * (pose["jawLeft"] - pose["jawRight"]), JAW_DROP * pose["jawOpen"]

    def _head(self, d: ImageDraw.ImageDraw, pose: Pose) -> None:
        jx, jy = self._jaw(pose)
        pts = self._head_template.copy()
        y = pts[:, 1]
        # The jaw hinges near the ears: points below the pivot follow the chin, more the lower they are.
        follow = np.clip((y - JAW_PIVOT_Y) / (CHIN_Y - JAW_PIVOT_Y), 0, 1) ** 1.5
        pts[:, 0] += jx * follow
        pts[:, 1] += jy * follow
        # cheekPuff: the outline swells out at mouth height (not above the pivot, which is static).
        swell = _bump(y, 0.30, 0.2) * np.clip((y - JAW_PIVOT_Y) / 0.08, 0, 1)
        pts[:, 0] += np.sign(pts[:, 0]) * CHEEK_PUFF_OUT * pose["cheekPuff"] * swell
        # jawForward: the chin comes toward the viewer and looks a touch broader.
        pts[:, 0] *= 1 + 0.06 * pose["jawForward"] * follow
        # Only the part below the pivot, closed across the pivot line: above it is the static head.
        below = pts[y >= JAW_PIVOT_Y - 0.02]
        d.polygon(self._pts(below), fill=SKIN)

    def _cheeks(self, img: Image.Image, pose: Pose) -> None:
        puff = pose["cheekPuff"]
        for s in SIDES:
            squint = pose.side("cheekSquint", s)
            # cheekSquint lifts the cheek; cheekPuff pushes it out and makes it rounder and rosier.
            cx = s * (CHEEK_X + 0.03 * puff)
            cy = CHEEK_Y - CHEEK_SQUINT_UP * squint + 0.05 * puff
            strength = 0.35 + 0.4 * squint + 0.5 * puff
            mask = self._mask_scaled(1 + 0.35 * puff)
            x, y = self._p(cx, cy)
            img.paste(_lerp_colour(SKIN, BLUSH, strength), (int(x - mask.width / 2), int(y - mask.height / 2)), mask)
            if puff > 0.02:  # a soft highlight where the puffed cheek is stretched
                small = self._mask_scaled(0.35 + 0.1 * puff)
                x, y = self._p(s * (CHEEK_X + 0.05), CHEEK_Y + 0.06)
                box = (int(x - small.width / 2), int(y - small.height / 2))
                img.paste(_lerp_colour(SKIN, CHEEK_SHINE, 0.8 * puff), box, small)

    def _mask_scaled(self, scale: float) -> Image.Image:
        """The blush mask at `scale`, in steps of 2 %, each size made once."""
        step = int(round(scale * 50))
        if step not in self._masks:
            m = self._blush_mask
            self._masks[step] = m.resize((max(1, m.width * step // 50), max(1, m.height * step // 50)), Image.BILINEAR)
        return self._masks[step]

    def _forehead(self, d: ImageDraw.ImageDraw, pose: Pose) -> None:
        inner = pose["browInnerUp"]
        # browInnerUp: horizontal lines in the middle of the forehead.
        if inner > 0.05:
            colour = _lerp_colour(SKIN, CREASE, 0.9 * inner)
            for k, y in enumerate((-0.415, -0.475)):
                half = 0.16 - 0.03 * k
                xs = np.linspace(-half, half, 9)
                self._line(d, np.c_[xs, y + 0.03 * (xs / half) ** 2], colour, 0.009)
        for s in SIDES:
            # browOuterUp: a short line above the outer end of the brow.
            outer = pose.side("browOuterUp", s)
            if outer > 0.05:
                xs = s * np.linspace(0.24, 0.40, 7)
                ys = -0.36 + 0.04 * ((np.abs(xs) - 0.32) / 0.08) ** 2
                self._line(d, np.c_[xs, ys], _lerp_colour(SKIN, CREASE, 0.8 * outer), 0.008)
            # browDown: a vertical furrow between the brows.
            down = pose.side("browDown", s)
            if down > 0.05:
                self._line(d, [(s * 0.035, -0.25), (s * 0.045, -0.17)], _lerp_colour(SKIN, CREASE, down), 0.01)

    # -- brows and eyes -----------------------------------------------------------------------
    def _brow(self, d: ImageDraw.ImageDraw, pose: Pose, s: int) -> None:
        t = np.linspace(0, 1, 14)  # 0 at the inner end, 1 at the outer end
        inner_up, outer_up, down = pose["browInnerUp"], pose.side("browOuterUp", s), pose.side("browDown", s)
        x = BROW_INNER_X + (BROW_OUTER_X - BROW_INNER_X) * t
        x = x - 0.025 * down * (1 - t)  # browDown also draws the inner ends together
        y = BROW_Y - BROW_ARCH * np.sin(np.pi * np.clip(t * 0.85 + 0.05, 0, 1))
        y = y - BROW_INNER_UP * inner_up * (1 - t) ** 1.5  # browInnerUp: inner ends up
        y = y - BROW_OUTER_UP * outer_up * t**1.2  # browOuterUp: outer end up
        y = y + BROW_DOWN * down * (1 - 0.5 * t)  # browDown: down, the inner end most
        thick = BROW_THICK_INNER + (BROW_THICK_OUTER - BROW_THICK_INNER) * t**0.8
        upper = np.c_[s * x, y - thick / 2]
        lower = np.c_[s * x, y + thick / 2]
        d.polygon(self._pts(np.vstack([upper, lower[::-1]])), fill=BROW)

    def _eye_lids(self, pose: Pose, s: int):
        """(upper lid edge, lower lid edge, open-eye upper edge) as [n x 2] from the inner to the
        outer corner, and the eye's centre."""
        blink, wide, squint = pose.side("eyeBlink", s), pose.side("eyeWide", s), pose.side("eyeSquint", s)
        cheek = pose.side("cheekSquint", s)
        t = np.linspace(-1, 1, 19)  # -1 inner corner, +1 outer corner
        cx = s * EYE_X
        x = cx + s * EYE_HALF_WIDTH * t
        corner_y = EYE_Y - EYE_OUTER_CORNER_RISE * (t + 1) / 2
        # Upper lids peak a little toward the nose, lower lids dip a little toward the ear.
        shape_up = (1 - t**2) ** 0.75 * (1 - 0.12 * t)
        shape_down = (1 - t**2) ** 0.9 * (1 + 0.1 * t)
        open_up = EYE_OPEN_UP * (1 + 0.45 * wide - 0.3 * squint)  # eyeWide / eyeSquint
        open_down = EYE_OPEN_DOWN * (1 + 0.2 * wide - 0.6 * squint - 0.4 * cheek)  # lower lid rises
        lower = np.c_[x, corner_y + open_down * shape_down]
        upper_open = np.c_[x, corner_y - open_up * shape_up]
        # eyeBlink: the upper lid comes down to the lower lid.
        upper = upper_open + (lower - upper_open) * [0, blink]
        return upper, lower, upper_open, (cx, EYE_Y)

    def _eye(self, img: Image.Image, d: ImageDraw.ImageDraw, pose: Pose, s: int) -> None:
        upper, lower, upper_open, (cx, cy) = self._eye_lids(pose, s)
        # Lid crease above the open eye, and the fold under it (cheekSquint deepens it).
        crease = upper_open[2:-2] + [0, -0.028]
        self._line(d, crease, _lerp_colour(SKIN, CREASE, 0.55), 0.008)
        cheek = pose.side("cheekSquint", s) + 0.5 * pose.side("eyeSquint", s)
        under = lower[4:-2] + [0, 0.035 - 0.01 * cheek]
        self._line(d, under, _lerp_colour(SKIN, CREASE, 0.15 + 0.6 * min(cheek, 1)), 0.007)

        # The eyeball, seen through the opening between the lids.
        opening = self._pts(np.vstack([upper, lower[::-1]]))
        xs, ys = [p[0] for p in opening], [p[1] for p in opening]
        box = (int(min(xs)) - 2, int(min(ys)) - 2, int(max(xs)) + 3, int(max(ys)) + 3)
        if max(ys) - min(ys) > 0.5:
            ball = Image.new("RGB", (box[2] - box[0], box[3] - box[1]), SCLERA)
            bd = ImageDraw.Draw(ball)
            ox, oy = box[0], box[1]

            def shift(points):
                return [(x - ox, y - oy) for x, y in points]

            # eyeLookOut turns the iris toward the ear, eyeLookIn toward the nose; Up / Down as named.
            look_x = pose.side("eyeLookOut", s) - pose.side("eyeLookIn", s)
            look_y = pose.side("eyeLookDown", s) - pose.side("eyeLookUp", s)
            ix, iy = cx + s * GAZE_X * look_x, cy + GAZE_Y * look_y
            self._ribbon(bd, upper, SCLERA_SHADOW, 0.03, offset=(ox, oy))
            for r, colour in ((IRIS_RADIUS, IRIS_RIM), (IRIS_RADIUS * 0.86, IRIS), (PUPIL_RADIUS, PUPIL)):
                (x0, x1), (y0, y1) = self._p([ix - r, ix + r], [iy - r, iy + r])
                bd.ellipse([x0 - ox, y0 - oy, x1 - ox, y1 - oy], fill=colour)
            hx, hy = ix - s * 0.018, iy - 0.02  # the catchlight: upper inner, mirrored like the rest
            r = 0.011
            (x0, x1), (y0, y1) = self._p([hx - r, hx + r], [hy - r, hy + r])
            bd.ellipse([x0 - ox, y0 - oy, x1 - ox, y1 - oy], fill=CATCHLIGHT)
            mask = Image.new("L", ball.size, 0)
            ImageDraw.Draw(mask).polygon(shift(opening), fill=255)
            img.paste(ball, box[:2], mask)
        # Lashes on the upper lid edge (a closed eye reads as this line alone), a thin lower lid.
        self._line(d, lower, _lerp_colour(SKIN, LASH, 0.35), 0.007)
        self._ribbon(d, upper, LASH, LASH_WIDTH)
        tip = upper[-1]
        self._line(d, [tip + [-s * 0.02, 0.004], tip, tip + [s * 0.025, -0.018]], LASH, LASH_WIDTH * 0.7)

    # -- nose ---------------------------------------------------------------------------------
    def _nose(self, d: ImageDraw.ImageDraw, pose: Pose) -> None:
        shade = _lerp_colour(SKIN, CREASE, 0.55)
        for s in SIDES:
            sneer = pose.side("noseSneer", s)
            lift = SNEER_UP * sneer  # noseSneer: the side of the nose wrinkles and lifts
            # The bridge's side line, the wing (ala) round the nostril, and the nostril.
            self._line(
                d,
                [(s * 0.05, -0.04), (s * 0.055, 0.04), (s * 0.06, 0.10 - lift)],
                _lerp_colour(SKIN, CREASE, 0.3),
                0.008,
            )
            ax, ay = s * (ALA_X + 0.01 * sneer), NOSE_TIP_Y + 0.005 - lift
            self._line(d, self._wing[s] + [ax, ay], shade, 0.011)
            self._ellipse(d, s * (NOSTRIL_X + 0.005 * sneer), NOSTRIL_Y - lift, 0.024, 0.011 + 0.004 * sneer, NOSTRIL)
            if sneer > 0.05:
                colour = _lerp_colour(SKIN, CREASE, sneer)
                for k in range(3):
                    y = -0.02 + 0.035 * k
                    self._line(d, [(s * 0.025, y), (s * 0.07, y + 0.02)], colour, 0.007)
        self._line(d, self._nose_tip, shade, 0.009)

    # -- mouth --------------------------------------------------------------------------------
    def _mouth_shape(self, pose: Pose) -> dict:
        """Lip lines as [n x 2] arrays from the character's right corner (-x) to the left (+x)."""
        jx, jy = self._jaw(pose)
        pucker, funnel = pose["mouthPucker"], pose["mouthFunnel"]
        press = {s: pose.side("mouthPress", s) for s in SIDES}
        roll_up, roll_low = pose["mouthRollUpper"], pose["mouthRollLower"]
        shrug_up, shrug_low = pose["mouthShrugUpper"], pose["mouthShrugLower"]

        # How far apart the lips are at the centre: the jaw parts them, mouthClose holds them
        # together while the jaw is open; pressing, rolling, the lower-lip shrug and a pucker
        # close them; a funnel opens a round hole on its own.
        part = LIP_PART * max(0.0, pose["jawOpen"] - pose["mouthClose"])
        part *= (1 - 0.7 * (press[1] + press[-1]) / 2) * (1 - 0.6 * max(roll_up, roll_low))
        part *= (1 - 0.6 * shrug_low) * (1 - 0.8 * pucker)
        part += FUNNEL_PART * funnel * (1 - 0.6 * pucker)

        centre_x = MOUTH_SIDE * (pose["mouthLeft"] - pose["mouthRight"]) + 0.5 * jx
        corners = {}
        for s in SIDES:
            smile, frown = pose.side("mouthSmile", s), pose.side("mouthFrown", s)
            stretch, dimple = pose.side("mouthStretch", s), pose.side("mouthDimple", s)
            width = 1 + SMILE_OUT * smile + STRETCH_OUT * stretch + DIMPLE_OUT * dimple + 0.06 * press[s]
            width *= 1 - PUCKER_IN * pucker - FUNNEL_IN * funnel * (1 - pucker)
            lower_drop = 0.7 * part + LOWER_DOWN * pose.side("mouthLowerDown", s) * 0.5
            y = MOUTH_Y - SMILE_UP * smile + FROWN_DOWN * frown + STRETCH_DOWN * stretch - 0.01 * dimple
            corners[s] = (centre_x + s * MOUTH_HALF_WIDTH * width, y + 0.4 * lower_drop)

        n = 31
        t = np.linspace(-1, 1, n)
        side = np.where(t >= 0, 1, -1)
        at = np.abs(t)
        corner_x = np.where(side > 0, corners[1][0], corners[-1][0])
        corner_y = np.where(side > 0, corners[1][1], corners[-1][1])
        x = centre_x + at * (corner_x - centre_x)
        base = MOUTH_Y - SHRUG_LOWER * 0.3 * shrug_low + (corner_y - MOUTH_Y) * at**2
        left_w = (t + 1) / 2  # how much of the character's left side a point belongs to

        def per_side(stem):
            return pose.side(stem, 1) * left_w + pose.side(stem, -1) * (1 - left_w)

        # Rounded lips (pucker, funnel) make an oval opening; otherwise it is almond shaped.
        roundness = max(pucker, funnel)
        profile = (1 - t**2) ** (0.9 - 0.4 * roundness)
        upper_up = UPPER_UP * (
            pose["mouthUpperUpLeft"] * _bump(t, 0.45, 0.4) + pose["mouthUpperUpRight"] * _bump(t, -0.45, 0.4)
        )
        upper_up += (
            0.3 * SNEER_UP * (pose["noseSneerLeft"] * _bump(t, 0.4, 0.4) + pose["noseSneerRight"] * _bump(t, -0.4, 0.4))
        )
        open_up = (0.3 * part + SHRUG_UPPER * shrug_up * 0.5) * profile + upper_up * (1 - at**4)
        open_down = (0.7 * part + LOWER_DOWN * per_side("mouthLowerDown")) * profile
        upper_in = np.c_[x, base - open_up]
        lower_in = np.c_[x, base + open_down]

        # Lip thickness: fullest at the centre, none at the corners. Pressing thins the lips,
        # rolling tucks them in, puckering and funnelling push them out (fuller from the front).
        taper = np.clip(1 - at**1.8, 0, 1) ** 0.6
        full = 1 + 0.6 * pucker + 0.4 * funnel
        press_t = per_side("mouthPress")
        thick_up = UPPER_LIP * taper * full * (1 - 0.5 * press_t) * (1 - 0.85 * roll_up) * (1 + 0.3 * shrug_up)
        thick_low = LOWER_LIP * taper * full * (1 - 0.5 * press_t) * (1 - 0.85 * roll_low) * (1 + 0.3 * shrug_low)
        bow = 1 - 0.25 * _bump(t, 0, 0.12)  # Cupid's bow: the dip in the middle of the upper lip
        upper_out = np.c_[x, upper_in[:, 1] - thick_up * bow]
        lower_out = np.c_[x, lower_in[:, 1] + thick_low]
        return {
            "upper_in": upper_in,
            "lower_in": lower_in,
            "upper_out": upper_out,
            "lower_out": lower_out,
            "corners": corners,
            "centre_x": centre_x,
            "jaw": (jx, jy),
        }

    def _mouth_folds(self, d: ImageDraw.ImageDraw, pose: Pose, m: dict) -> None:
        """Creases that tell smile, sneer, dimple, frown and lower-lip shrug apart."""
        for s in SIDES:
            cx, cy = m["corners"][s]
            smile, sneer = pose.side("mouthSmile", s), pose.side("noseSneer", s)
            fold = min(1.0, 0.9 * smile + 0.6 * sneer + 0.4 * pose.side("mouthUpperUp", s))
            if fold > 0.05:  # nasolabial fold: from beside the nose to beyond the corner
                top = (s * 0.11, NOSTRIL_Y - 0.04 - 0.02 * sneer)
                pts = _catmull_rom(
                    [top, (s * (abs(cx) + 0.015), cy - 0.05), (s * (abs(cx) + 0.03), cy + 0.03)], 6, closed=False
                )
                self._line(d, pts, _lerp_colour(SKIN, CREASE, 0.85 * fold), 0.01)
            dimple = pose.side("mouthDimple", s)
            if dimple > 0.05:
                self._line(
                    d,
                    [(cx + s * 0.025, cy - 0.02), (cx + s * 0.035, cy), (cx + s * 0.025, cy + 0.02)],
                    _lerp_colour(SKIN, CREASE, dimple),
                    0.009,
                )
            frown = pose.side("mouthFrown", s)
            if frown > 0.05:  # marionette line from the corner down
                self._line(
                    d,
                    [(cx + s * 0.01, cy + 0.02), (cx + s * 0.025, cy + 0.10)],
                    _lerp_colour(SKIN, CREASE, frown),
                    0.009,
                )
        shrug = pose["mouthShrugLower"]
        if shrug > 0.05:  # the chin bunches up under the lower lip
            jx, jy = m["jaw"]
            y = m["lower_out"][:, 1].max() + 0.06
            xs = np.linspace(-0.08, 0.08, 7)
            self._line(
                d,
                np.c_[xs + m["centre_x"], y - 0.015 * (1 - (xs / 0.08) ** 2)],
                _lerp_colour(SKIN, CREASE, shrug),
                0.009,
            )

    def _mouth(self, img: Image.Image, d: ImageDraw.ImageDraw, pose: Pose, m: dict) -> None:
        jx, jy = m["jaw"]
        upper_in, lower_in = m["upper_in"], m["lower_in"]
        opening = self._pts(np.vstack([upper_in, lower_in[::-1]]))
        xs, ys = [p[0] for p in opening], [p[1] for p in opening]
        if max(ys) - min(ys) > 0.5 * self.ss:
            # Inside the mouth, seen through the opening: teeth fixed to the skull (upper) and to
            # the jaw (lower), the tongue on the jaw.
            box = (int(min(xs)) - 2, int(min(ys)) - 2, int(max(xs)) + 3, int(max(ys)) + 3)
            inner = Image.new("RGB", (box[2] - box[0], box[3] - box[1]), CAVITY)
            ox, oy = box[0], box[1]
            idraw = ImageDraw.Draw(inner)

            def poly(points, colour):
                idraw.polygon([(x - ox, y - oy) for x, y in self._pts(points)], fill=colour)

            def line(points, colour, width):
                idraw.line([(x - ox, y - oy) for x, y in self._pts(points)], fill=colour, width=self._w(width))

            tongue_out = pose["tongueOut"]
            ty = MOUTH_Y + 0.06 + jy - 0.02 * tongue_out
            tongue = np.c_[np.cos(np.linspace(0, np.pi, 16)), np.sin(np.linspace(0, np.pi, 16))]
            tongue = np.vstack([[[-1, 0.0]], tongue[::-1] * [1, 1], [[1, 0.0]]])

            fwd = pose["jawForward"]
            hw = TEETH_HALF_WIDTH * (1 + 0.08 * fwd)
            tx = np.linspace(-1, 1, 15)
            low_top = MOUTH_Y + 0.012 + jy - JAW_FORWARD_LIFT * fwd - 0.02 * tx**2
            lower_teeth = np.vstack([np.c_[tx * hw + jx, low_top], np.c_[tx[::-1] * hw + jx, low_top + TEETH_HEIGHT]])
            up_bottom = MOUTH_Y + 0.012 - 0.022 * tx**2
            upper_teeth = np.vstack(
                [
                    np.c_[tx * TEETH_HALF_WIDTH, up_bottom - TEETH_HEIGHT - 0.04],
                    np.c_[tx[::-1] * TEETH_HALF_WIDTH, up_bottom[::-1]],
                ]
            )
            tongue_pts = np.c_[jx + tongue[:, 0] * 0.1, ty - tongue[:, 1] * 0.045 + 0.045]
            poly(tongue_pts, TONGUE)
            parts = [(lower_teeth, low_top, hw, jx), (upper_teeth, up_bottom, TEETH_HALF_WIDTH, 0.0)]
            if fwd > 0.3:  # an underbite: the lower teeth come in front of the upper ones
                parts.reverse()
            for teeth, edge, half, off in parts:
                poly(teeth, TEETH)
                for k in (-0.5, 0.0, 0.5):  # gaps between the front teeth
                    e = edge[int((k + 1) / 2 * (len(tx) - 1))]
                    line([(k * half * 0.6 + off, e - 0.03), (k * half * 0.6 + off, e)], TEETH_LINE, 0.006)
            mask = Image.new("L", inner.size, 0)
            ImageDraw.Draw(mask).polygon([(x - ox, y - oy) for x, y in opening], fill=255)
            img.paste(inner, box[:2], mask)

        d.polygon(self._pts(np.vstack([m["upper_out"], upper_in[::-1]])), fill=LIP_UPPER)
        d.polygon(self._pts(np.vstack([lower_in, m["lower_out"][::-1]])), fill=LIP_LOWER)
        # Where the lips meet (or the rim of the opening), darker so a closed mouth still reads.
        self._line(d, upper_in, LIP_LINE, 0.008)
        self._line(d, lower_in, _lerp_colour(LIP_LOWER, LIP_LINE, 0.5), 0.005)

        tongue_out = pose["tongueOut"]
        if tongue_out > 0.02:  # the tongue comes out over the lower lip
            cx = m["centre_x"] * 0.5 + jx * 0.5
            top = float(lower_in[len(lower_in) // 2, 1]) - 0.01
            length = 0.02 + 0.09 * tongue_out
            half = 0.055 + 0.015 * tongue_out
            a = np.linspace(0, np.pi, 18)
            tip = np.c_[cx + half * np.cos(a), top + 0.01 + length * np.sin(a) ** 0.8]
            shape = np.vstack([[[cx + half, top]], tip, [[cx - half, top]]])
            d.polygon(self._pts(shape), fill=TONGUE)
            self._line(d, [(cx, top + 0.005), (cx, top + 0.6 * length)], TONGUE_LINE, 0.007)


def draw_face(arkit_values, size: int = 360) -> np.ndarray:
    """One frame of the face: RGB uint8 [size x size x 3]. For many frames keep a FacePainter."""
    return FacePainter(size).draw(arkit_values)
