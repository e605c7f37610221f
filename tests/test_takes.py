"""Take files: Live Link Face CSV, generic CSV, JSON, NPZ — and every way they arrive broken."""

import json
import os
from pathlib import Path

import numpy as np
import pytest

from retarget.errors import InputError
from retarget.spaces import get_space
from retarget.takes import Take, format_timecode, livelinkface_csv_columns, parse_timecode, read_take, write_take

LLF = get_space("livelinkface")


def random_take(space="livelinkface", n=90, fps=60.0, seed=0, start=10 * 3600 + 0.25):
    sp = get_space(space)
    rng = np.random.default_rng(seed)
    return Take(sp, fps, rng.uniform(0, 1, (n, len(sp))), start=start)


@pytest.mark.parametrize("ext", [".csv", ".json", ".npz"])
@pytest.mark.parametrize("space", ["livelinkface", "arkit", "metahuman", "vrcft", "flame100"])
def test_round_trip(tmp_path, ext, space):
    take = random_take(space)
    path = tmp_path / ("take" + ext)
    write_take(take, path)
    back = read_take(path)
    assert back.space.name == space  # inferred from the curve names
    assert back.fps == 60
    assert back.start == pytest.approx(take.start, abs=1e-3)
    np.testing.assert_allclose(back.frames, take.frames, atol=1e-6)


def test_livelinkface_csv_layout(tmp_path):
    path = tmp_path / "take.csv"
    write_take(random_take(n=3), path)
    header, first = path.read_text().splitlines()[:2]
    cells = header.split(",")
    assert cells[:2] == ["Timecode", "BlendShapeCount"]
    assert cells[2:] == livelinkface_csv_columns()
    # The app's column order: JawRight before JawLeft, MouthRight before MouthLeft.
    assert cells.index("JawRight") < cells.index("JawLeft")
    assert cells.index("MouthRight") < cells.index("MouthLeft")
    row = first.split(",")
    assert row[0] == "10:00:00:15.000" and row[1] == "61"
    assert len(row[2].split(".")[1]) == 10  # ten decimals


def _llf_csv(rows, count_column="BlendShapeCount", shuffle=False):
    names = livelinkface_csv_columns()
    order = list(range(61))
    if shuffle:
        order = list(np.random.default_rng(0).permutation(61))
    lines = [",".join(["Timecode", count_column] + [names[i] for i in order])]
    for tc, values in rows:
        lines.append(",".join([tc, "61"] + [f"{values[i]:.10f}" for i in order]))
    return "\n".join(lines) + "\n"


def test_reads_columns_by_name_whatever_their_order_and_either_count_spelling(tmp_path):
    rng = np.random.default_rng(4)
    values = rng.uniform(0, 1, (3, 61))
    tcs = ["14:18:52:10.000", "14:18:52:11.000", "14:18:52:12.000"]
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    a.write_text(_llf_csv(zip(tcs, values)))
    b.write_text(_llf_csv(zip(tcs, values), count_column="BlendshapeCount", shuffle=True))
    ta, tb = read_take(a), read_take(b)
    np.testing.assert_allclose(ta.frames, tb.frames)
    names = livelinkface_csv_columns()
    assert ta.frames[1, LLF.index("JawLeft")] == pytest.approx(values[1, names.index("JawLeft")])


def test_sixty_fps_take_with_thirty_fps_timecode_and_subframes(tmp_path):
    """Live Link Face can count 30 fps timecode and mark the in-between 60 fps samples as x.500."""
    rows, values = [], np.zeros(61)
    for i in range(130):
        frame, half = divmod(i, 2)
        s, f = divmod(frame, 30)
        rows.append((f"09:00:{s:02d}:{f:02d}.{500 * half:03d}", values))
    path = tmp_path / "t.csv"
    path.write_text(_llf_csv(rows))
    take = read_take(path)
    assert take.fps == 60
    assert take.start == pytest.approx(9 * 3600)


def test_a_take_under_a_second_keeps_its_rate_when_told_and_assumes_60_otherwise(tmp_path):
    path = tmp_path / "short.csv"
    write_take(random_take("arkit", n=20, fps=30.0), path)
    assert read_take(path, fps=30).fps == 30
    assert read_take(path, fps=30).start == pytest.approx(10 * 3600 + 0.25, abs=1e-3)
    assert read_take(path).fps == 60  # the file cannot say; Live Link Face's default


def test_timecode_parse_and_format():
    assert parse_timecode("01:02:03:04.500") == (3723, 4.5)
    assert format_timecode(3723 + 4.5 / 30, 30) == "01:02:03:04.500"
    with pytest.raises(ValueError):
        parse_timecode("1:2:3")


def test_generic_csv_with_unity_names_and_prefixes(tmp_path):
    path = tmp_path / "unity.csv"
    path.write_text(
        "Timecode,blendShape1.jawOpen,blendShape1.eyeBlink_L,blendShape1.mouthSmile_R\n"
        "00:00:00:00.000,0.5,1.0,0.25\n00:00:00:01.000,0.6,0.0,0.0\n"
    )
    take = read_take(path, fps=30)
    assert take.space.name == "arkit"
    assert take.curve("jawOpen").tolist() == pytest.approx([0.5, 0.6])
    assert take.curve("eyeBlinkLeft")[0] == 1.0
    assert take.curve("mouthSmileRight")[0] == 0.25
    assert take.curve("browInnerUp").tolist() == [0, 0]  # absent curves are neutral


def test_csv_with_seconds_column(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text("time,jawOpen\n0.0,0.1\n0.04,0.2\n0.08,0.3\n")
    take = read_take(path)
    assert take.fps == 25


def csv_text(body):
    return "Timecode,jawOpen,eyeBlinkLeft\n" + body


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty file"),
        ("Timecode,jawOpen,eyeBlinkLeft\n", "no frames"),
        ("jawOpen,eyeBlinkLeft\n0.1,0.2\n", "missing column 'Timecode'"),
        (csv_text("00:00:00:00.000,0.1,0.2\n00:00:00:01.000,0.1\n"), "row 3: expected 3 cells, found 2"),
        (csv_text("00:00:00:00.000,0.1,abc\n"), "row 2, column 'eyeBlinkLeft': not a number"),
        (csv_text("00:00:00:00.000,nan,0.2\n"), "row 2, column 'jawOpen': value is not finite"),
        (csv_text("00:00:00:00.000,0.1,inf\n"), "not finite"),
        (csv_text("yesterday,0.1,0.2\n"), "row 2, column 'Timecode': timecode 'yesterday'"),
        ("Timecode,jawOpen,jawOpn\n00:00:00:00.000,0.1,0.2\n", "closest known: jawOpen"),
        ("Timecode,jawOpen,JawOpen\n00:00:00:00.000,0.1,0.2\n", "same curve"),
    ],
)
def test_bad_csv_gets_one_line_naming_file_row_and_column(tmp_path, text, message):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(InputError) as e:
        read_take(path)
    assert message in str(e.value)
    assert str(path) in str(e.value) and "\n" not in str(e.value)


def test_livelinkface_take_missing_columns(tmp_path):
    text = _llf_csv([("00:00:00:00.000", np.zeros(61))])
    header, row = text.splitlines()
    cut = lambda line: ",".join(c for i, c in enumerate(line.split(",")) if i != 5)  # noqa: E731
    path = tmp_path / "cut.csv"
    path.write_text(cut(header) + "\n" + cut(row) + "\n")
    with pytest.raises(InputError, match="row 1: Live Link Face take lacks 1 columns: EyeLookOutLeft"):
        read_take(path)


def test_binary_garbage_and_missing_files(tmp_path):
    junk = tmp_path / "junk.csv"
    junk.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(InputError, match="junk.csv"):
        read_take(junk)
    with pytest.raises(InputError, match="file not found"):
        read_take(tmp_path / "nope.csv")
    with pytest.raises(InputError, match="unknown take format"):
        read_take(tmp_path / "take.fbx")


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"format": "nope"}, "not an emorig take"),
        (
            {"format": "emorig-take", "curves": ["jawOpen"], "frames": [[0.1]], "fps": 0},
            "'fps' must be a positive number",
        ),
        (
            {"format": "emorig-take", "curves": ["jawOpen"], "frames": [[0.1, 0.2]], "fps": 30},
            "frame 0 must hold 1 numbers",
        ),
        ({"format": "emorig-take", "curves": ["jawOpen"], "frames": [["x"]], "fps": 30}, "not a finite number"),
        ({"format": "emorig-take", "curves": ["jawOpen"], "frames": [], "fps": 30}, "no frames"),
    ],
)
def test_bad_json(tmp_path, doc, message):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(InputError, match=message):
        read_take(path)


def test_npz_with_pickled_objects_is_refused(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, frames=np.zeros((2, 1)), curves=np.array([object()], dtype=object), fps=30)
    with pytest.raises(InputError, match="unpickling"):
        read_take(path)


def test_npz_nan_and_corrupt(tmp_path):
    path = tmp_path / "nan.npz"
    np.savez(path, frames=np.array([[0.1], [np.nan]]), curves=np.array(["jawOpen"]), fps=30)
    with pytest.raises(InputError, match="frame 1: value for 'jawOpen' is not finite"):
        read_take(path)
    bad = tmp_path / "cut.npz"
    good = tmp_path / "good.npz"
    write_take(random_take("arkit"), good)
    bad.write_bytes(good.read_bytes()[:100])
    with pytest.raises(InputError, match="not a readable NPZ"):
        read_take(bad)


def test_failed_write_leaves_nothing_behind_and_keeps_the_old_file(tmp_path):
    path = tmp_path / "out.json"
    path.write_text("old")
    take = random_take("arkit", n=5)
    take.frames = np.array([[object()] * 52] * 5, dtype=object)  # json cannot serialise this
    with pytest.raises(TypeError):
        write_take(take, path)
    assert path.read_text() == "old"
    assert os.listdir(tmp_path) == ["out.json"]


def test_written_files_get_normal_permissions(tmp_path):
    path = tmp_path / "take.csv"
    write_take(random_take(n=2), path)
    assert path.stat().st_mode & 0o044 == 0o044  # readable by others, like any file the user makes


def _csv_cell_by_cell(take: Take) -> str:
    """The CSV the writer has always written, built cell by cell: one format_timecode per row and
    f"{value:.10f}" per value (the writer now formats a whole take at once; the bytes must not move)."""
    llf = take.space.name == "livelinkface"
    order = [take.space.index(n) for n in livelinkface_csv_columns()] if llf else list(range(len(take.space)))
    head = ["Timecode"] + (["BlendShapeCount"] if llf else []) + [take.space.curves[i] for i in order]
    rows = [",".join(head)]
    for t, values in zip(take.times, take.frames[:, order]):
        cells = [format_timecode(t, int(round(take.fps)))] + (["61"] if llf else [])
        rows.append(",".join(cells + [f"{float(v):.10f}" for v in values]))
    return "\n".join(rows) + "\n"


@pytest.mark.parametrize(
    "take",
    [
        read_take(Path(__file__).parents[1] / "examples" / "take.csv"),  # a real take, as a bake writes them
        random_take(n=400, fps=60.0, start=23 * 3600 + 59 * 60 + 55.1),  # across midnight
        random_take("arkit", n=250, fps=30.0, start=0.0),
        random_take("metahuman", n=120, fps=24.0, start=3.7),
        random_take(n=97, fps=59.94, start=12345.678),
    ],
    ids=["example-take", "midnight", "arkit-30", "metahuman-24", "ntsc"],
)
def test_csv_bytes_are_those_of_the_cell_by_cell_writer(tmp_path, take):
    path = tmp_path / "take.csv"
    write_take(take, path)
    assert path.read_text() == _csv_cell_by_cell(take)
