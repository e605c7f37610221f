"""`emorig preview` and `emorig plot`: the face responds where a viewer expects, the video
decodes back with the right frames, time and audio, and bad input stops cleanly.

Pixel tests measure colours the face is drawn with (bridge/face_drawing.py) inside
regions given in face units (x right, y down, the canvas spans -1..1). The character's
left (`...Left` curves) is drawn at +x, on the viewer's right.
"""

import json

import av
import numpy as np
import pytest
import soundfile
from conftest import ROOT, run_emorig
from PIL import Image

from bridge import face_drawing as fd
from bridge.plots import read_phones, write_plot
from bridge.preview import (
    EMOTION_COLOURS,
    LANE_OUTSIDE,
    PreviewRenderer,
    emotion_track,
    fit_audio,
    load_take,
    read_audio,
    resolve_curves,
    write_preview,
)
from retarget.errors import InputError
from retarget.mappings import retarget_frames
from retarget.spaces import get_space
from retarget.takes import Take, write_take

SIZE = 240
ARKIT = get_space("arkit")
EXAMPLE = ROOT / "examples" / "take.csv"


@pytest.fixture(scope="module")
def painter():
    return fd.FacePainter(SIZE)


def pose(**values) -> np.ndarray:
    v = np.zeros(len(ARKIT), np.float32)
    for name, x in values.items():
        v[ARKIT.index(name)] = x
    return v


def region(img, x0, x1, y0, y1):
    """The pixels inside a box given in face units."""
    n = img.shape[0]

    def px(u):
        return int(round((u + 1) / 2 * n))

    return img[px(y0) : px(y1), px(x0) : px(x1)]


def count(img, colour, tol=14) -> int:
    return int(np.all(np.abs(img.astype(int) - colour) <= tol, axis=-1).sum())


def changed(a, b, threshold=40) -> np.ndarray:
    return np.abs(a.astype(int) - b.astype(int)).max(axis=-1) > threshold


# -- the face -------------------------------------------------------------------------------------

MOUTH_BOX = (-0.4, 0.4, 0.15, 0.75)
LEFT_EYE_BOX = (fd.EYE_X - 0.17, fd.EYE_X + 0.17, fd.EYE_Y - 0.12, fd.EYE_Y + 0.1)  # the character's left
RIGHT_EYE_BOX = (-fd.EYE_X - 0.17, -fd.EYE_X + 0.17, fd.EYE_Y - 0.12, fd.EYE_Y + 0.1)


def test_draw_face_returns_an_rgb_image():
    img = fd.draw_face(pose(), 128)
    assert img.shape == (128, 128, 3) and img.dtype == np.uint8
    with pytest.raises(ValueError):
        fd.draw_face(np.zeros(51))
    with pytest.raises(ValueError):
        fd.draw_face(pose(jawOpen=float("nan")))


def test_mouth_opening_grows_with_jaw_open(painter):
    areas = [count(region(painter.draw(pose(jawOpen=j)), *MOUTH_BOX), fd.CAVITY) for j in np.linspace(0, 1, 6)]
    assert areas[0] == 0, "a closed mouth shows no inside"
    assert all(b > a for a, b in zip(areas, areas[1:])), areas
    assert areas[-1] > 0.005 * SIZE * SIZE


def test_jaw_open_drops_the_chin(painter):
    def chin_row(img):
        column = img[:, SIZE // 2]
        skin = np.flatnonzero(np.all(np.abs(column.astype(int) - fd.SKIN) <= 6, axis=-1))
        return skin.max()

    assert chin_row(painter.draw(pose(jawOpen=1))) > chin_row(painter.draw(pose())) + 0.05 * SIZE


def test_mouth_close_holds_the_lips_together_while_the_jaw_is_open(painter):
    open_ = count(region(painter.draw(pose(jawOpen=0.6)), *MOUTH_BOX), fd.CAVITY)
    closed = count(region(painter.draw(pose(jawOpen=0.6, mouthClose=0.6)), *MOUTH_BOX), fd.CAVITY)
    assert open_ > 100 and closed == 0


def test_blink_left_hides_the_left_iris_only(painter):
    rest, blink = painter.draw(pose()), painter.draw(pose(eyeBlinkLeft=1))
    assert count(region(rest, *LEFT_EYE_BOX), fd.IRIS) > 50
    assert count(region(blink, *LEFT_EYE_BOX), fd.IRIS) <= 2
    assert count(region(blink, *RIGHT_EYE_BOX), fd.IRIS) == count(region(rest, *RIGHT_EYE_BOX), fd.IRIS)


def test_half_blink_covers_part_of_the_iris(painter):
    irises = [count(region(painter.draw(pose(eyeBlinkRight=b)), *RIGHT_EYE_BOX), fd.IRIS) for b in (0, 0.5, 0.9)]
    assert irises[0] > irises[1] > irises[2]


def test_left_curves_are_drawn_on_the_viewers_right(painter):
    rest = painter.draw(pose())
    for name in ("mouthSmileLeft", "eyeBlinkLeft", "browOuterUpLeft", "noseSneerLeft", "cheekSquintLeft"):
        moved = changed(rest, painter.draw(pose(**{name: 1})))
        viewer_right, viewer_left = moved[:, SIZE // 2 :].sum(), moved[:, : SIZE // 2].sum()
        assert viewer_right > 3 * viewer_left, name


@pytest.mark.parametrize(
    "left, right, extra",
    [
        ("mouthSmileLeft", "mouthSmileRight", {}),
        ("eyeBlinkLeft", "eyeBlinkRight", {}),
        ("browOuterUpLeft", "browOuterUpRight", {}),
        ("browDownLeft", "browDownRight", {}),
        ("noseSneerLeft", "noseSneerRight", {}),
        ("mouthLeft", "mouthRight", {}),
        ("jawLeft", "jawRight", {"jawOpen": 0.5}),
        ("eyeLookOutLeft", "eyeLookOutRight", {}),
        ("mouthUpperUpLeft", "mouthUpperUpRight", {}),
        ("mouthStretchLeft", "mouthStretchRight", {"jawOpen": 0.3}),
    ],
)
def test_mirrored_curves_give_mirrored_faces(painter, left, right, extra):
    rest = painter.draw(pose(**extra))
    a = changed(rest, painter.draw(pose(**{left: 1.0}, **extra)))  # where each one moves the face
    b = changed(rest, painter.draw(pose(**{right: 1.0}, **extra)))
    assert a.sum() > 20 and not np.array_equal(a, b)
    flipped = a[:, ::-1]
    overlap = (flipped & b).sum() / (flipped | b).sum()
    assert overlap > 0.8, f"{left} seen in a mirror is {overlap:.0%} like {right}"


def test_the_face_at_rest_is_symmetric(painter):
    rest = painter.draw(pose()).astype(int)
    assert np.abs(rest[:, ::-1] - rest).mean() < 0.5


def test_brow_inner_up_raises_the_brows(painter):
    def brow_height(img):
        ys, _ = np.nonzero(np.all(np.abs(region(img, -0.45, 0.45, -0.5, -0.1).astype(int) - fd.BROW) <= 6, axis=-1))
        return ys.mean()

    rest, up, down = (painter.draw(p) for p in (pose(), pose(browInnerUp=1), pose(browDownLeft=1, browDownRight=1)))
    assert brow_height(up) < brow_height(rest) - 3  # rows grow downward
    assert brow_height(down) > brow_height(rest) + 2


def test_tongue_out_shows_the_tongue(painter):
    assert count(painter.draw(pose()), fd.TONGUE) == 0
    assert count(painter.draw(pose(tongueOut=1)), fd.TONGUE) > 150
    assert count(painter.draw(pose(tongueOut=1, jawOpen=0.5)), fd.TONGUE) > 150


def test_gaze_moves_the_iris(painter):
    def iris_x(img):
        _, xs = np.nonzero(np.all(np.abs(region(img, *LEFT_EYE_BOX).astype(int) - fd.IRIS) <= 14, axis=-1))
        return xs.mean()

    rest = iris_x(painter.draw(pose()))
    assert iris_x(painter.draw(pose(eyeLookOutLeft=1))) > rest + 2  # out = toward the ear = viewer's right
    assert iris_x(painter.draw(pose(eyeLookInLeft=1))) < rest - 2


# Where each curve must show: (x0, x1, y0, y1) in face units.
EYES = (-0.5, 0.5, -0.22, 0.08)
BROWS = (-0.5, 0.5, -0.56, -0.12)
MOUTH = (-0.55, 0.55, 0.15, 0.95)
CHEEKS = (-0.75, 0.75, -0.1, 0.6)
NOSE = (-0.3, 0.3, -0.1, 0.45)
EXPECTED_REGION = {
    "eyes": EYES,
    "brows": BROWS,
    "jaw": MOUTH,
    "mouth": MOUTH,
    "tongue": MOUTH,
    "cheeks": CHEEKS,
    "nose": NOSE,
}
# mouthClose means "lips together although the jaw is open": it is seen with jawOpen.
BASE_FOR = {"mouthClose": {"jawOpen": 0.6}}


@pytest.mark.parametrize("name", ARKIT.curves)
def test_every_arkit_curve_moves_its_part(painter, name):
    base = pose(**BASE_FOR.get(name, {}))
    moved = base.copy()
    moved[ARKIT.index(name)] = 1.0
    diff = changed(painter.draw(base), painter.draw(moved), threshold=25)
    assert diff.sum() >= 25, f"{name} barely shows ({diff.sum()} pixels)"
    inside = region(diff, *EXPECTED_REGION[ARKIT.regions[ARKIT.index(name)]]).sum()
    assert inside >= 0.8 * diff.sum(), f"{name} moves pixels outside its region"


# -- takes, emotion, audio ------------------------------------------------------------------------


def arkit_take(jaw, fps=30.0, **meta) -> Take:
    frames = np.zeros((len(jaw), len(ARKIT)), np.float32)
    frames[:, ARKIT.index("jawOpen")] = jaw
    return Take(ARKIT, fps, frames, meta=dict(meta))


def test_emotion_track_from_meta_and_files(tmp_path):
    labels, intensity = emotion_track({"emotion": "Happiness", "intensity": 0.5}, 3)
    assert labels == ["happy"] * 3 and intensity.tolist() == [0.5] * 3
    with pytest.raises(InputError, match="2 labels for 3 frames"):
        emotion_track({"emotion": ["sad", "sad"]}, 3)
    with pytest.raises(InputError, match="unknown emotion"):
        emotion_track({"emotion": "grumpy"}, 3)
    with pytest.raises(InputError, match="not finite"):
        emotion_track({"intensity": [0, float("nan"), 0]}, 3)

    take = arkit_take(np.zeros(4))
    path = tmp_path / "take.json"
    write_take(take, path)
    doc = json.loads(path.read_text())
    doc["emotion"], doc["intensity"] = ["neutral", "neutral", "angry", "angry"], [0, 0, 0.8, 0.9]
    path.write_text(json.dumps(doc))
    loaded = load_take(path)
    assert loaded.meta["emotion"][2] == "angry" and loaded.meta["intensity"][3] == pytest.approx(0.9)

    npz = tmp_path / "take.npz"
    np.savez(
        npz,
        frames=take.frames,
        curves=np.array(ARKIT.curves),
        fps=np.array(30.0),
        emotion=np.array(["sad"] * 4),
        intensity=np.full(4, 0.3),
    )
    assert load_take(npz).meta["emotion"] == ["sad"] * 4


def test_the_panel_shows_the_emotion_label_when_the_take_carries_one():
    happy = arkit_take(np.zeros(3), emotion=["happy"] * 3, intensity=[0.2, 0.5, 1.0])
    colour = EMOTION_COLOURS["happy"]
    panel = PreviewRenderer(happy).frame(1)[:, 360:]
    assert count(panel, colour, tol=10) > 30
    plain = PreviewRenderer(arkit_take(np.zeros(3))).frame(1)[:, 360:]
    assert count(plain, colour, tol=10) == 0


def test_the_strip_scrolls_across_tiles_and_forgets_what_has_passed():
    take = arkit_take(np.linspace(0, 1, 30 * 40) % 1, fps=30.0)  # 40 s: many tiles
    renderer = PreviewRenderer(take)
    strip = renderer.strip
    for i in range(0, len(take), 7):
        assert strip.window(i).shape == (strip.height, strip.width, 3)
        assert len(strip._tiles) <= 2
    before_start = strip.window(0)[strip.height // 2, : strip.width // 2 - 2]
    assert count(before_start[None], LANE_OUTSIDE, tol=0) > 0.9 * len(before_start)  # the take starts at the playhead


def test_curve_names_come_from_the_take_first_then_arkit():
    mh = get_space("metahuman")
    jaw = np.linspace(0, 1, 5)
    take = Take(mh, 30.0, retarget_frames(arkit_take(jaw).frames, ARKIT, mh))
    calls = []

    def arkit():
        calls.append(1)
        return arkit_take(jaw).frames

    own, forced, smile = resolve_curves(take, ["jawOpen", "arkit:jawOpen", "mouthSmileLeft+mouthSmileRight"], arkit)
    assert own[0].name == "CTRL_expressions_jawOpen" and forced[0].name == "arkit:jawOpen"
    assert [s.name for s in smile] == ["arkit:mouthSmileLeft", "arkit:mouthSmileRight"]  # not a MetaHuman name
    np.testing.assert_allclose(forced[0].values, jaw, atol=1e-6)
    assert len(calls) == 1  # the ARKit frames are made once, and only when asked for
    with pytest.raises(InputError, match="'smile' is not a curve of metahuman or ARKit"):
        resolve_curves(take, ["smile"], arkit)


def test_audio_is_cut_or_padded_to_the_take():
    samples = np.ones((100, 2), np.float32)
    assert fit_audio(samples, 100, 0.5).shape == (50, 2)
    padded = fit_audio(samples, 100, 1.5)
    assert padded.shape == (150, 2) and padded[100:].max() == 0


def test_audio_in_an_mp4_is_read_through_pyav(tmp_path):
    path = tmp_path / "voice.m4a"
    rate = 44100
    tone = (0.3 * np.sin(2 * np.pi * 220 * np.arange(rate // 2) / rate)).astype(np.float32)
    with av.open(str(path), "w", format="mp4") as c:
        s = c.add_stream("aac", rate=rate)
        s.layout = "mono"
        frame = av.AudioFrame.from_ndarray(tone[None], format="fltp", layout="mono")
        frame.sample_rate = rate
        for p in [*s.encode(frame), *s.encode(None)]:
            c.mux(p)
    samples, got_rate = read_audio(path)
    assert got_rate == rate and samples.shape[1] == 1
    assert abs(len(samples) / rate - 0.5) < 0.06


# -- the video ------------------------------------------------------------------------------------


def decode(path):
    with av.open(str(path)) as c:
        video = c.streams.video[0]
        info = {
            "fps": float(video.average_rate),
            "duration": float(video.duration * video.time_base) if video.duration else c.duration / av.time_base,
            "size": (video.codec_context.width, video.codec_context.height),
            "audio": [
                (a.codec_context.name, float(a.duration * a.time_base) if a.duration else None) for a in c.streams.audio
            ],
        }
        frames = [(f.pts * f.time_base, f.to_ndarray(format="rgb24")) for f in c.decode(video=0)]
    return info, frames


def face_cavity(frame, size=360):
    face = frame[:size, :size]
    return count(region(face, *MOUTH_BOX), fd.CAVITY, tol=30)


def test_video_with_audio_decodes_back(tmp_path):
    fps, n = 30.0, 30
    jaw = np.r_[np.zeros(15), np.ones(15)]
    wav = tmp_path / "voice.wav"
    rate = 22050
    soundfile.write(wav, 0.2 * np.sin(np.arange(int(1.3 * rate)) / rate * 2 * np.pi * 300), rate)  # longer: cut
    out = tmp_path / "preview.mp4"
    result = write_preview(arkit_take(jaw, fps), out, audio_path=wav, progress=False)
    assert result.frames == n and result.audio_seconds == pytest.approx(1.3, abs=1e-3)
    info, frames = decode(out)
    assert len(frames) == n and info["size"] == (640, 360) and info["fps"] == pytest.approx(fps)
    assert abs(info["duration"] - n / fps) <= 1 / fps
    assert [float(t) for t, _ in frames] == pytest.approx([i / fps for i in range(n)])
    assert len(info["audio"]) == 1 and info["audio"][0][0] == "aac"
    assert abs(info["audio"][0][1] - n / fps) < 0.1
    assert face_cavity(frames[25][1]) > face_cavity(frames[5][1]) + 200  # the jaw opened at frame 15
    assert sorted(p.name for p in tmp_path.iterdir()) == ["preview.mp4", "voice.wav"]  # no temporary left


def test_video_without_audio_has_no_audio_stream(tmp_path):
    out = tmp_path / "preview.mkv"
    write_preview(arkit_take(np.zeros(6), 24.0), out, size=(320, 180), progress=False)
    info, frames = decode(out)
    assert info["audio"] == [] and len(frames) == 6 and info["size"] == (320, 180)


def test_a_failed_render_leaves_nothing_behind(tmp_path, monkeypatch):
    out = tmp_path / "preview.mp4"
    out.write_bytes(b"the previous preview")

    def broken(self, i):
        if i == 3:
            raise RuntimeError("boom")
        return np.zeros((self.height, self.width, 3), np.uint8)

    monkeypatch.setattr(PreviewRenderer, "frame", broken)
    with pytest.raises(RuntimeError):
        write_preview(arkit_take(np.zeros(10)), out, progress=False)
    assert out.read_bytes() == b"the previous preview"
    assert [p.name for p in tmp_path.iterdir()] == ["preview.mp4"]


def test_metahuman_take_is_retargeted_to_arkit_first(tmp_path):
    jaw = np.r_[np.zeros(10), np.full(10, 0.8)]
    mh = get_space("metahuman")
    frames = retarget_frames(arkit_take(jaw).frames, ARKIT, mh)
    path = tmp_path / "mh.npz"
    write_take(Take(mh, 30.0, frames), path)
    out = tmp_path / "mh.mp4"
    result = run_emorig("preview", path, "-o", out, "--curves", "CTRL_expressions_jawOpen", "mouthSmileLeft")
    assert result.returncode == 0, result.stderr
    assert "20 frames at 30 fps" in result.stdout and "no audio" in result.stdout
    info, decoded = decode(out)
    assert len(decoded) == 20 and info["audio"] == []
    assert face_cavity(decoded[15][1]) > face_cavity(decoded[3][1]) + 200


# -- bad input through the command line -----------------------------------------------------------


@pytest.fixture
def inputs(tmp_path):
    (tmp_path / "ok.csv").write_text("Timecode,jawOpen\n00:00:00:00.000,0.1\n00:00:00:01.000,0.4\n")
    (tmp_path / "unknown.csv").write_text("Timecode,jawOpen,jawOpn\n00:00:00:00.000,0,0\n")
    (tmp_path / "nan.csv").write_text("Timecode,jawOpen\n00:00:00:00.000,0.2\n00:00:00:01.000,nan\n")
    (tmp_path / "empty.csv").write_text("Timecode,jawOpen\n")
    np.savez(tmp_path / "empty.npz", frames=np.zeros((0, 52)), curves=np.array(ARKIT.curves), fps=np.array(30.0))
    (tmp_path / "corrupt.wav").write_bytes(b"RIFF....WAVEfmt nonsense")
    return tmp_path


@pytest.mark.parametrize(
    "args, message",
    [
        (["unknown.csv"], "unknown curve name 'jawOpn'"),
        (["nan.csv"], "nan.csv, row 3, column 'jawOpen': value is not finite"),
        (["empty.csv"], "no frames"),
        (["empty.npz"], "the take has no frames"),
        (["ok.csv", "--fps", "30", "--audio", "missing.wav"], "missing.wav: audio file not found"),
        (["ok.csv", "--fps", "30", "--audio", "corrupt.wav"], "corrupt.wav: not a readable audio file"),
        (["ok.csv", "--fps", "30", "--curves", "jawOpn"], "--curves: 'jawOpn' is not a curve"),
        (["ok.csv", "--fps", "30", "--size", "641x360"], "--size 641x360"),
        (["missing.csv"], "missing.csv: file not found"),
    ],
)
def test_bad_input_is_one_line_and_no_output(inputs, args, message):
    out = inputs / "out.mp4"
    result = run_emorig("preview", *args, "-o", out, cwd=inputs)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("emorig: error: ") and message in lines[0], result.stderr
    assert not out.exists()
    assert not [p for p in inputs.iterdir() if p.name.startswith(".")], "a temporary file was left behind"


@pytest.mark.parametrize(
    "out, message", [("nowhere/out.mp4", "output folder does not exist"), ("out.avi", "unknown video format")]
)
def test_bad_output_is_refused_before_any_work(inputs, out, message):
    result = run_emorig("preview", "ok.csv", "--fps", "30", "-o", out, cwd=inputs)
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr


# -- the plot -------------------------------------------------------------------------------------


def test_plot_with_audio_and_phones(tmp_path):
    take = load_take(EXAMPLE)
    take.meta["emotion"] = ["neutral"] * 60 + ["happy"] * 180
    wav = tmp_path / "voice.flac"
    soundfile.write(wav, 0.1 * np.sin(np.arange(16000 * 3) / 16000 * 2 * np.pi * 200), 16000)  # shorter: padded
    phones = tmp_path / "phones.tsv"
    phones.write_text("# aligned by hand\nstart\tend\tphone\n0.30\t0.40\tM\n0.40\t0.55\tAA\n0.55\t0.70\tsil\n")
    out = tmp_path / "curves.png"
    write_plot(take, out, audio_path=wav, curves=["jawOpen", "mouthSmileLeft+mouthSmileRight"], phones_path=phones)
    with Image.open(out) as img:
        assert img.format == "PNG" and img.width >= 1000 and img.height > 300


def test_plot_command_line(tmp_path):
    out = tmp_path / "curves.png"
    result = run_emorig("plot", EXAMPLE, "-o", out)
    assert result.returncode == 0, result.stderr
    assert out.exists() and "240 frames" in result.stdout
    bad = run_emorig("plot", EXAMPLE, "--curves", "smile", "-o", tmp_path / "bad.png")
    assert bad.returncode == 2 and "--curves: 'smile'" in bad.stderr and not (tmp_path / "bad.png").exists()


def test_phones_formats(tmp_path):
    expected = [(0.1, 0.2, "M"), (0.2, 0.45, "AA")]

    def check(name, text):
        path = tmp_path / name
        path.write_text(text)
        assert [(round(p.start, 6), round(p.end, 6), p.label) for p in read_phones(path)] == expected, name

    check("a.tsv", "0.1\t0.2\tM\n0.2\t0.45\tAA\n")
    check("b.txt", "# start end phone\n0.1 0.2 M\n\n0.2 0.45 AA\n")
    check("c.lab", "1000000 2000000 M\n2000000 4500000 AA\n")  # HTK: 100 ns units
    check("d.json", json.dumps([{"start": 0.1, "end": 0.2, "phone": "M"}, [0.2, 0.45, "AA"]]))
    check("e.csv", "Begin,End,Label,Type,Speaker\n0.1,0.2,M,phones,s1\n0.0,0.45,MA,words,s1\n0.2,0.45,AA,phones,s1\n")
    (tmp_path / "bad.tsv").write_text("0.1\t0.2\tM\n0.5\t0.3\tAA\n")
    with pytest.raises(InputError, match=r"bad.tsv, row 2: phone 'AA' ends"):
        read_phones(tmp_path / "bad.tsv")
    with pytest.raises(InputError, match="not found"):
        read_phones(tmp_path / "none.tsv")
