"""Training data in: capture readers, dataset naming, the manifest, speaker splits, the feature
cache and `emorig data import`. Every fixture is written here, in tmp_path."""

import json

import numpy as np
import pytest
import soundfile as sf
from conftest import run_emorig

from retarget.errors import InputError
from retarget.spaces import get_space
from retarget.takes import Take, write_take
from training.features import FeatureCache, FeatureParams, compute_features, log_mel, mel_band_centers, yin
from training.manifest import ManifestEntry, read_manifest, speaker_splits, split_by_speaker, write_manifest
from training.readers import ImportOptions, import_sources, labels_from_path, read_motion

SR = 16000
ARKIT = get_space("arkit")


# -- fixtures -------------------------------------------------------------------------------------


def tone(seconds=1.0, freq=220.0, rate=SR, harmonics=1):
    t = np.arange(int(rate * seconds)) / rate
    return (0.3 * sum(np.sin(2 * np.pi * k * freq * t) / k for k in range(1, harmonics + 1))).astype(np.float32)


def write_wav(path, seconds=1.0, freq=220.0, rate=SR):
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, tone(seconds, freq, rate), rate)
    return path


def write_video(path, seconds=1.0, rate=44100, audio_track=True):
    """A small video with (or without) an AAC sound track, as the Live Link Face app records."""
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        video = container.add_stream("mpeg4", rate=25)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        if audio_track:
            audio = container.add_stream("aac", rate=rate)
            audio.layout = "mono"
        black = np.zeros((48, 64, 3), np.uint8)
        for _ in range(int(25 * seconds)):
            for packet in video.encode(av.VideoFrame.from_ndarray(black, format="rgb24")):
                container.mux(packet)
        for packet in video.encode():
            container.mux(packet)
        if audio_track:
            x = tone(seconds, rate=rate)[None, :]
            for i in range(0, x.shape[1], 1024):
                frame = av.AudioFrame.from_ndarray(
                    np.ascontiguousarray(x[:, i : i + 1024]), format="fltp", layout="mono"
                )
                frame.sample_rate, frame.pts = rate, i
                for packet in audio.encode(frame):
                    container.mux(packet)
            for packet in audio.encode():
                container.mux(packet)
    return path


def random_take(space="arkit", seconds=1.0, fps=60.0, seed=0):
    sp = get_space(space)
    rng = np.random.default_rng(seed)
    return Take(sp, fps, rng.uniform(0, 1, (int(seconds * fps), len(sp))), start=10 * 3600.0)


def write_curves(path, space="arkit", seconds=1.0, fps=60.0, seed=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    take = random_take(space, seconds, fps, seed)
    write_take(take, path)
    return take


def beat_doc(n_frames=30, names=None, fps=60.0, seed=0):
    names = names or [c for c in ARKIT.curves if c != "tongueOut"]  # BEAT's files carry 51 or 52
    rng = np.random.default_rng(seed)
    frames = [
        {"time": i / fps, "rotation": [], "weights": [round(float(v), 5) for v in rng.uniform(0, 1, len(names))]}
        for i in range(n_frames)
    ]
    return {"names": names, "frames": frames}


def llf_take_folder(folder, slate="Slate", take=1, subject="ana", seconds=1.0, csv_suffix="", video_name=None):
    """A take folder as the Live Link Face app exports it: files named <slate>_<take>_<subject>."""
    name = f"{slate}_{take}_{subject}"
    curves = write_curves(folder / f"{name}{csv_suffix}.csv", "livelinkface", seconds)
    write_video(folder / (video_name or f"{name}.mov"), seconds)
    meta = {
        "frames": len(curves),
        "appVersion": "v1.3.2",
        "slate": slate,
        "calibrated": csv_suffix == "_cal",
        "subject": subject,
        "identifier": f"20240101_{slate}_{take}",
        "date": "2024-01-01T10:00:00Z",
        "version": 1,
        "take": take,
        "deviceModel": "iPhone13,3",
    }
    (folder / "take.json").write_text(json.dumps(meta, indent=2))
    (folder / "thumbnail.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (folder / "frame_log.csv").write_text("kind,index\nV,0\n")
    (folder / "video_metadata.json").write_text('{"FrameRate": 60}')
    return curves


def by_id(result):
    return {e.clip_id: e for e in result.entries}


# -- Live Link Face -------------------------------------------------------------------------------


def test_livelinkface_take_folders(tmp_path):
    root = tmp_path / "takes"
    take = llf_take_folder(root / "20240101_Slate_1", "Slate", 1, subject="ana")
    # A calibrated take: _cal is the animation, _neutral and _raw are not; its video is named a little differently.
    cal = llf_take_folder(root / "Slate_2", "Slate", 2, subject="ben", csv_suffix="_cal", video_name="Slate_2.mp4")
    write_curves(root / "Slate_2" / "Slate_2_ben_raw.csv", "livelinkface", seed=5)
    write_curves(root / "Slate_2" / "Slate_2_ben_neutral.csv", "livelinkface", seconds=1 / 60, seed=6)

    result = import_sources([root])
    assert len(result.entries) == 2
    first, second = sorted(result.entries, key=lambda e: e.clip_id)
    assert first.clip_id == "takes/20240101_Slate_1/Slate_1_ana"
    assert first.audio.name == "Slate_1_ana.mov" and first.motion.name == "Slate_1_ana.csv"
    assert second.audio.name == "Slate_2.mp4" and second.motion.name == "Slate_2_ben_cal.csv"
    assert (first.space, first.fps, first.speaker, first.source) == ("livelinkface", 60.0, "ana", "livelinkface")
    assert second.speaker == "ben"
    assert result.seconds[first.clip_id] == pytest.approx(1.0, abs=0.05)
    assert result.notes == []
    back = read_motion(first.motion, first.space, first.fps)
    np.testing.assert_allclose(back.frames, take.frames, atol=1e-6)
    np.testing.assert_allclose(read_motion(second.motion).frames, cal.frames, atol=1e-6)


def test_livelinkface_take_given_as_its_csv_and_speaker_from_the_command_line(tmp_path):
    folder = tmp_path / "Slate_3"
    llf_take_folder(folder, "Slate", 3)
    result = import_sources([folder / "Slate_3_ana.csv"], ImportOptions(speaker="cleo", language="en-GB"))
    (entry,) = result.entries
    assert entry.audio.name == "Slate_3_ana.mov" and entry.speaker == "cleo" and entry.language == "en-GB"


def test_several_livelinkface_takes_in_one_folder_pair_by_name(tmp_path):
    folder = tmp_path / "ana"
    for n in (1, 2):
        write_curves(folder / f"Lines_{n}_iPhone.csv", "livelinkface", seed=n)
        write_video(folder / f"Lines_{n}_iPhone.mov")
    write_wav(folder / "Lines_2_iPhone.wav", 1.0)  # an extracted sound track beats the video
    entries = sorted(import_sources([tmp_path]).entries, key=lambda e: e.clip_id)
    assert [(e.motion.name, e.audio.name) for e in entries] == [
        ("Lines_1_iPhone.csv", "Lines_1_iPhone.mov"),
        ("Lines_2_iPhone.csv", "Lines_2_iPhone.wav"),
    ]
    assert {e.speaker for e in entries} == {"ana"}  # no take.json: the folder under the one given


def test_livelinkface_take_without_sound_is_an_error(tmp_path):
    folder = tmp_path / "Slate_4"
    write_curves(folder / "Slate_4_ana.csv", "livelinkface")
    with pytest.raises(InputError, match="no audio or video file") as e:
        import_sources([folder])
    assert e.value.path.name == "Slate_4_ana.csv"
    write_video(folder / "Slate_4_ana.mov", audio_track=False)
    with pytest.raises(InputError, match="no sound track"):
        import_sources([folder])


# -- dataset naming conventions -------------------------------------------------------------------


@pytest.mark.parametrize(
    "path, dataset, speaker, emotion, intensity, text",
    [
        ("Actor_12/03-01-06-01-02-01-12.wav", "ravdess", "ravdess-12", "fear", 0.5, "Dogs are sitting by the door"),
        ("03-02-02-02-01-02-01.wav", "ravdess", "ravdess-01", "neutral", 1.0, "Kids are talking by the door"),
        ("1001_DFA_ANG_XX.wav", "crema-d", "crema-d-1001", "angry", None, "Don't forget a jacket"),
        ("AudioWAV/1091_IEO_HAP_HI.wav", "crema-d", "crema-d-1091", "happy", 1.0, "It's eleven o'clock"),
        ("1050_TSI_dis_lo.flac", "crema-d", "crema-d-1050", "disgust", 0.33, "The surface is slick"),
        ("M003/audio/angry/level_2/001.m4a", "mead", "mead-M003", "angry", 0.67, None),
        ("M003/front/angry/level_2/001.wav", "mead", "mead-M003", "angry", 0.67, None),
        ("W009/video/left_30/disgusted/level_3/014.mp4", "mead", "mead-W009", "disgust", 1.0, None),
        ("M003_angry_level_2_001.wav", "mead", "mead-M003", "angry", 0.67, None),
        ("W011_right_60_contempt_level_1_002.npz", "mead", "mead-W011", "contempt", 0.33, None),
        ("2/2_scott_0_1_1.wav", "beat", "beat-scott", None, None, None),
    ],
)
def test_labels_from_dataset_names(path, dataset, speaker, emotion, intensity, text):
    labels = labels_from_path(path)
    assert labels is not None, path
    assert (labels.dataset, labels.speaker, labels.emotion, labels.intensity, labels.text) == (
        dataset,
        speaker,
        emotion,
        intensity,
        text,
    )


@pytest.mark.parametrize(
    "path",
    ["take1.wav", "03-01-09-01-02-01-12.wav", "03-01-06-01-02-01.wav", "1001_XYZ_ANG_HI.wav", "X003_angry_level_2_001"],
)
def test_names_that_follow_no_convention_have_no_labels(path):
    assert labels_from_path(path) is None


def test_ravdess_folder_with_csv_curves_and_audio_only_clips(tmp_path):
    root = tmp_path / "ravdess"
    write_wav(root / "Actor_01" / "03-01-05-02-01-01-01.wav")
    take = write_curves(root / "Actor_01" / "03-01-05-02-01-01-01.csv", "arkit")
    write_wav(root / "Actor_02" / "03-01-03-01-02-02-02.wav")
    write_video(root / "Actor_02" / "02-01-03-01-02-02-02.mp4", audio_track=False)  # RAVDESS video-only

    result = import_sources([root])
    entries = by_id(result)
    angry = entries["ravdess/Actor_01/03-01-05-02-01-01-01"]
    assert (angry.emotion, angry.intensity, angry.speaker, angry.language) == ("angry", 1.0, "ravdess-01", "en")
    assert angry.text == "Kids are talking by the door" and angry.source == "ravdess"
    assert (angry.space, angry.fps) == ("arkit", 60.0)
    np.testing.assert_allclose(read_motion(angry.motion, angry.space, angry.fps).frames, take.frames, atol=1e-6)
    happy = entries["ravdess/Actor_02/03-01-03-01-02-02-02"]
    assert happy.motion is None and (happy.space, happy.fps) == ("arkit", 60.0)
    assert happy.emotion == "happy" and happy.text == "Dogs are sitting by the door"
    assert len(result.entries) == 2 and any("without sound" in n for n in result.notes)


def test_crema_d_names_with_npz_curves(tmp_path):
    root = tmp_path / "crema"
    write_wav(root / "1001_DFA_ANG_XX.wav")
    write_curves(root / "1001_DFA_ANG_XX.npz", "metahuman", fps=30.0)
    write_wav(root / "1002_IEO_HAP_HI.wav")
    entries = by_id(import_sources([root]))
    angry, happy = entries["crema/1001_DFA_ANG_XX"], entries["crema/1002_IEO_HAP_HI"]
    assert (angry.space, angry.fps, angry.emotion, angry.intensity) == ("metahuman", 30.0, "angry", None)
    assert (happy.emotion, happy.intensity, happy.speaker) == ("happy", 1.0, "crema-d-1002")


def test_mead_paths_and_flat_names_with_json_takes(tmp_path):
    root = tmp_path / "mead"
    write_wav(root / "M003" / "front" / "angry" / "level_2" / "001.wav")
    write_curves(root / "M003" / "front" / "angry" / "level_2" / "001.json", "vrcft", fps=25.0)
    write_wav(root / "flat" / "W009_happy_level_3_002.wav")
    (root / "flat" / "W009_happy_level_3_002.json").write_text('{"recorded": "2020"}')  # metadata, not curves
    entries = by_id(import_sources([root]))
    angry = entries["mead/M003/front/angry/level_2/001"]
    assert (angry.speaker, angry.emotion, angry.intensity, angry.space, angry.fps) == (
        "mead-M003",
        "angry",
        0.67,
        "vrcft",
        25.0,
    )
    happy = entries["mead/flat/W009_happy_level_3_002"]
    assert (happy.speaker, happy.emotion, happy.intensity, happy.motion) == ("mead-W009", "happy", 1.0, None)


def test_plain_folder_speakers_emotion_folders_transcripts_and_phones(tmp_path):
    root = tmp_path / "mine"
    write_wav(root / "ana" / "angry" / "line1.wav")
    (root / "ana" / "angry" / "line1.txt").write_text("Where were you\nlast night?\n")
    (root / "ana" / "angry" / "line1.phones.tsv").write_text("start\tend\tphone\n0.0\t0.2\tSIL\n")
    write_wav(root / "ben" / "line2.wav")
    write_curves(root / "ben" / "orphan.csv")
    result = import_sources([root])
    entries = by_id(result)
    line1 = entries["mine/ana/angry/line1"]
    assert (line1.speaker, line1.emotion, line1.text) == ("ana", "angry", "Where were you last night?")
    assert line1.phones.name == "line1.phones.tsv" and line1.source == "folder"
    assert entries["mine/ben/line2"].speaker == "ben" and entries["mine/ben/line2"].emotion is None
    assert any("orphan.csv" in n for n in result.notes)


# -- BEAT -----------------------------------------------------------------------------------------


def test_beat_json_folder(tmp_path):
    root = tmp_path / "beat" / "2"
    write_wav(root / "2_scott_0_1_1.wav", seconds=0.5)
    doc = beat_doc(30)
    (root / "2_scott_0_1_1.json").write_text(json.dumps(doc))
    (root / "2_scott_0_1_1.csv").write_text("semantic,labels\nnot,curves\n")  # BEAT's semantic annotations
    (root / "2_scott_0_1_1.txt").write_text('File type = "ooTextFile"\nObject class = "TextGrid"\n')
    (entry,) = import_sources([tmp_path / "beat"]).entries
    assert (entry.speaker, entry.space, entry.fps, entry.source) == ("beat-scott", "arkit", 60.0, "beat")
    assert entry.motion.suffix == ".json" and entry.text is None
    take = read_motion(entry.motion)
    assert take.frames.shape == (30, 52)
    expected = np.array([f["weights"] for f in doc["frames"]])
    np.testing.assert_allclose(take.frames[:, ARKIT.index("jawOpen")], expected[:, doc["names"].index("jawOpen")])
    assert np.all(take.frames[:, ARKIT.index("tongueOut")] == 0)  # absent from the file: neutral


def test_beat_json_with_a_frame_of_wrong_width_names_file_and_line(tmp_path):
    doc = beat_doc(5)
    doc["frames"][3]["weights"] = doc["frames"][3]["weights"][:50]
    path = tmp_path / "1_wayne_0_1_1.json"
    text = json.dumps(doc, indent=1)
    path.write_text(text)
    with pytest.raises(InputError, match="frame 3: expected 51 weights, found 50") as e:
        read_motion(path)
    assert e.value.path == path
    line = e.value.row
    assert '"weights"' in text.splitlines()[line - 1]
    assert sum('"weights"' in row for row in text.splitlines()[:line]) == 4  # the fourth frame's


def test_beat_json_without_names_needs_a_space(tmp_path):
    doc = beat_doc(4, names=list(ARKIT.curves))
    del doc["names"]
    path = tmp_path / "b.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(InputError, match="--space"):
        read_motion(path)
    assert read_motion(path, "arkit").frames.shape == (4, 52)


# -- .npy -----------------------------------------------------------------------------------------


def test_npy_only_with_an_explicit_space(tmp_path):
    root = tmp_path / "npy"
    write_wav(root / "clip.wav")
    frames = np.random.default_rng(0).uniform(0, 1, (30, 52)).astype(np.float32)
    np.save(root / "clip.npy", frames)
    with pytest.raises(InputError, match="--space") as e:
        import_sources([root])
    assert e.value.path.name == "clip.npy"

    (entry,) = import_sources([root], ImportOptions(space="arkit", fps=30)).entries
    assert (entry.space, entry.fps) == ("arkit", 30.0)
    np.testing.assert_allclose(read_motion(entry.motion, entry.space, entry.fps).frames, frames)

    with pytest.raises(InputError, match="52 columns, but vrcft has 94"):
        import_sources([root], ImportOptions(space="vrcft", fps=30))

    (root / "clip.npy.json").write_text('{"space": "arkit", "fps": 25}')
    (entry,) = import_sources([root]).entries
    assert (entry.space, entry.fps) == ("arkit", 25.0)


# -- malformed curve files ------------------------------------------------------------------------


def test_ragged_csv_names_file_and_row(tmp_path):
    root = tmp_path / "bad"
    write_wav(root / "a.wav")
    write_curves(root / "a.csv", "arkit")
    lines = (root / "a.csv").read_text().splitlines()
    lines[2] = ",".join(lines[2].split(",")[:-3])
    (root / "a.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match="expected 53 cells, found 50") as e:
        import_sources([root])
    assert e.value.path.name == "a.csv" and e.value.row == 3


def test_two_curve_files_for_one_clip_is_an_error(tmp_path):
    root = tmp_path / "two"
    write_wav(root / "a.wav")
    write_curves(root / "a.csv")
    write_curves(root / "a.npz")
    with pytest.raises(InputError, match="2 curve files for one clip"):
        import_sources([root])


# -- manifest -------------------------------------------------------------------------------------


def entry(tmp_path, clip_id="c1", speaker="ana", split="train", **kw):
    audio = tmp_path / "audio" / f"{clip_id}.wav"
    if not audio.exists():
        write_wav(audio, 0.1)
    fields = dict(
        clip_id=clip_id,
        audio=audio,
        motion=None,
        space="arkit",
        fps=60.0,
        speaker=speaker,
        emotion="happy",
        intensity=0.5,
        text="hello",
        language="en",
        split=split,
    )
    fields.update(kw)
    return ManifestEntry(**fields)


def test_manifest_round_trip(tmp_path):
    motion = tmp_path / "audio" / "c2.csv"
    write_curves(motion)
    phones = tmp_path / "audio" / "c2.phones.tsv"
    phones.write_text("start\tend\tphone\n0\t0.1\tSIL\n")
    outside = write_wav(tmp_path.parent / f"{tmp_path.name}_outside.wav", 0.1)
    entries = [
        entry(tmp_path, "c1", emotion=None, intensity=None, text=None, language=None),
        entry(tmp_path, "c2", motion=motion, phones=phones, source="livelinkface", text="héllo wörld"),
        entry(tmp_path, "c3", speaker="ben", split="val", audio=outside),
    ]
    path = tmp_path / "manifest.jsonl"
    write_manifest(entries, path)
    docs = [json.loads(line) for line in path.read_text("utf-8").splitlines()]
    assert docs[1]["audio"] == "audio/c2.wav" and docs[1]["motion"] == "audio/c2.csv"  # relative to the manifest
    assert docs[2]["audio"] == str(outside)  # outside the manifest's folder: absolute
    assert list(docs[0]) == [
        "clip_id",
        "audio",
        "motion",
        "space",
        "fps",
        "speaker",
        "emotion",
        "intensity",
        "text",
        "language",
        "split",
        "phones",
        "source",
    ]
    assert read_manifest(path) == entries
    assert not list(tmp_path.glob(".manifest.jsonl.*"))  # no temporary file left behind


def write_lines(path, docs):
    path.write_text("".join((d if isinstance(d, str) else json.dumps(d)) + "\n" for d in docs))


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda d: "{not json", "not valid JSON"),
        (lambda d: {k: v for k, v in d.items() if k != "speaker"}, "missing key speaker"),
        (lambda d: dict(d, fps="60"), "'fps' must be a positive number"),
        (lambda d: dict(d, emotion="elated"), 'unknown emotion "elated"'),
        (lambda d: dict(d, emotion="anger"), 'unknown emotion "anger"'),  # synonyms are for importers, not manifests
        (lambda d: dict(d, intensity=1.5), "'intensity' must be a number from 0 to 1"),
        (lambda d: dict(d, split="dev"), "'split' must be one of"),
        (lambda d: dict(d, space="blender"), "unknown rig space"),
        (lambda d: dict(d, language="English"), "'language' must be a tag like en"),
        (lambda d: dict(d, audio="audio/missing.wav"), "audio file not found: audio/missing.wav"),
        (lambda d: dict(d, emtion="happy"), "unknown key 'emtion'"),
        (lambda d: dict(d, clip_id="c1"), "duplicate clip_id 'c1'"),
        (lambda d: dict(d, speaker="ana", split="test"), "speaker 'ana' is in 'test' here but in 'train' at row 1"),
        (lambda d: [1, 2], "each line must be one JSON object"),
    ],
)
def test_manifest_errors_name_file_and_line(tmp_path, change, message):
    path = tmp_path / "manifest.jsonl"
    write_manifest([entry(tmp_path, "c1"), entry(tmp_path, "c2", speaker="ben")], path)
    docs = [json.loads(line) for line in path.read_text().splitlines()]
    write_lines(path, [docs[0], "", change(docs[1])])  # a blank line is allowed and counted
    with pytest.raises(InputError) as e:
        read_manifest(path)
    assert message in str(e.value)
    assert e.value.path == path and e.value.row == 3
    assert str(e.value).startswith(f"{path}, row 3: ")


def test_empty_manifest_and_failed_write_leave_nothing(tmp_path):
    path = tmp_path / "empty.jsonl"
    path.write_text("\n")
    with pytest.raises(InputError, match="holds no clips"):
        read_manifest(path)
    out = tmp_path / "out.jsonl"
    with pytest.raises(InputError, match="unknown emotion"):
        write_manifest([entry(tmp_path, "c1"), entry(tmp_path, "c2", emotion="joy")], out)
    assert not out.exists() and not list(tmp_path.glob(".out.jsonl.*"))


# -- speaker splits -------------------------------------------------------------------------------


def test_speaker_split_is_by_speaker_and_deterministic(tmp_path):
    speakers = [f"speaker{i:02d}" for i in range(40)]
    entries = [entry(tmp_path, f"c{i}", speaker=speakers[i % 40]) for i in range(160)]
    split = split_by_speaker(entries, seed=7)
    where = {}
    for e in split:
        assert where.setdefault(e.speaker, e.split) == e.split  # never one speaker in two splits
    assert set(where.values()) == {"train", "val", "test"}
    assert [e.split for e in split_by_speaker(entries, seed=7)] == [e.split for e in split]
    assert speaker_splits(speakers, seed=7) == speaker_splits(list(reversed(speakers)), seed=7)
    assert speaker_splits(speakers, seed=7) != speaker_splits(speakers, seed=8)
    # A speaker keeps its split when others join the corpus (its hash alone decides, barring fix-ups).
    grown = speaker_splits(speakers + [f"new{i}" for i in range(40)], seed=7)
    assert all(grown[s] == where[s] for s in speakers)
    counts = {k: sum(v == k for v in speaker_splits(speakers, val=0.2, test=0.1).values()) for k in ("val", "test")}
    assert 3 <= counts["val"] <= 14 and 1 <= counts["test"] <= 9


def test_small_corpora_still_get_val_and_test_speakers_single_speaker_goes_to_train():
    for seed in range(20):
        three = speaker_splits(["a", "b", "c"], seed=seed)
        assert sorted(three.values()) == ["test", "train", "val"]
        assert set(speaker_splits(["a", "b"], seed=seed).values()) & {"train"}
    assert speaker_splits(["solo"]) == {"solo": "train"} and speaker_splits([]) == {}
    assert set(speaker_splits(["a", "b", "c"], val=0.0, test=0.0).values()) == {"train"}
    with pytest.raises(InputError, match="sum below 1"):
        speaker_splits(["a"], val=0.6, test=0.5)


# -- features -------------------------------------------------------------------------------------


def test_log_mel_of_a_pure_tone_peaks_in_its_band():
    params = FeatureParams()
    centres = mel_band_centers(params)
    for band in (10, 30, 60):
        x = tone(0.5, centres[band])
        mel = log_mel(x, params)
        assert mel.shape == (1 + len(x) // 160, 80)
        assert int(np.argmax(mel[5:-5].mean(axis=0))) == band
    assert np.isfinite(log_mel(np.zeros(1600, np.float32))).all()  # silence hits the floor, not -inf


def test_pitch_and_energy_follow_the_voice():
    x = np.concatenate([tone(0.5, 180.0, harmonics=6), np.zeros(SR // 2, np.float32)])
    f0, periodicity = yin(x)
    features = compute_features(x)
    assert {k: v.shape[0] for k, v in features.items()} == dict.fromkeys(features, 101)
    voiced, silent = slice(5, 45), slice(55, 101)
    assert np.median(f0[voiced]) == pytest.approx(180.0, abs=1.0)
    assert periodicity[voiced].min() > 0.8 and np.all(f0[silent] == 0)
    assert features["energy"][voiced].mean() > features["energy"][silent].mean() + 60


def test_feature_cache_computes_once_and_again_when_the_audio_changes(tmp_path):
    audio = write_wav(tmp_path / "a.wav", 0.5, 220.0)
    cache = FeatureCache(tmp_path / "cache")
    first = cache.get(audio)
    assert (cache.hits, cache.misses) == (0, 1)
    second = cache.get(audio)
    assert (cache.hits, cache.misses) == (1, 1)
    for k in first:
        np.testing.assert_array_equal(first[k], second[k])
    stored = list((tmp_path / "cache").rglob("*.npz"))
    assert len(stored) == 1 and not list((tmp_path / "cache").rglob("*.tmp"))
    # Another process (a fresh cache object) finds it too; a copy of the file under another name as well.
    other = FeatureCache(tmp_path / "cache")
    (tmp_path / "copy.wav").write_bytes(audio.read_bytes())
    other.get(tmp_path / "copy.wav")
    assert (other.hits, other.misses) == (1, 0)
    # Same length, same size, rewritten at once: the content differs, so it is computed again.
    write_wav(audio, 0.5, 440.0)
    changed = cache.get(audio)
    assert (cache.hits, cache.misses) == (1, 2)
    assert not np.array_equal(changed["logmel"], first["logmel"])
    # Other parameters are another cache entry.
    coarse = FeatureCache(tmp_path / "cache", FeatureParams(n_mels=40))
    assert coarse.get(audio)["logmel"].shape[1] == 40 and coarse.misses == 1


def test_damaged_cache_entry_is_recomputed(tmp_path):
    audio = write_wav(tmp_path / "a.wav", 0.2)
    cache = FeatureCache(tmp_path / "cache")
    cache.get(audio)
    cache.path_for(audio).write_bytes(b"PK\x03\x04 truncated")
    assert cache.get(audio)["logmel"].shape == (1 + int(0.2 * SR) // 160, 80)
    assert cache.misses == 2
    assert cache.get(audio) is not None and cache.hits == 1
    with pytest.raises(InputError, match="cannot read the audio file"):
        cache.get(tmp_path / "missing.wav")


# -- the command line -----------------------------------------------------------------------------


def test_cli_import_writes_the_manifest_and_summarises(tmp_path):
    root = tmp_path / "corpus"
    for actor in ("01", "02", "03", "04"):
        for emotion in ("03", "05"):
            name = f"03-01-{emotion}-01-01-01-{actor}"
            write_wav(root / f"Actor_{actor}" / f"{name}.wav", 0.3)
            write_curves(root / f"Actor_{actor}" / f"{name}.csv", seconds=0.3)
    out = tmp_path / "manifest.jsonl"
    result = run_emorig("data", "import", root, "-o", out, "--seed", "3")
    assert result.returncode == 0, result.stderr
    entries = read_manifest(out)
    assert len(entries) == 8 and {e.emotion for e in entries} == {"happy", "angry"}
    assert {e.split for e in entries} == {"train", "val", "test"}
    assert "8 clips (8 with curves, 0 audio only), 4 speakers" in result.stdout
    assert "emotions: " in result.stdout and "angry 4" in result.stdout and "happy 4" in result.stdout
    check = run_emorig("data", "check", out)
    assert check.returncode == 0, check.stderr
    assert "8 clips" in check.stdout and "train:" in check.stdout


def test_cli_single_speaker_corpus_says_so(tmp_path):
    root = tmp_path / "solo"
    write_wav(root / "a.wav", 0.2)
    write_wav(root / "b.wav", 0.2)
    out = tmp_path / "m.jsonl"
    result = run_emorig("data", "import", root, "-o", out, "--speaker", "me")
    assert result.returncode == 0, result.stderr
    assert "one speaker (me): every clip goes to train" in result.stdout
    assert {e.split for e in read_manifest(out)} == {"train"}


@pytest.mark.parametrize("damage", ["ragged", "npy", "missing"])
def test_cli_bad_input_exits_2_with_one_line_and_no_manifest(tmp_path, damage):
    root = tmp_path / "bad"
    write_wav(root / "a.wav", 0.2)
    if damage == "ragged":
        (root / "a.csv").write_text("time,jawOpen,eyeBlinkLeft\n0.0,0.1,0.2\n0.016,0.3\n")
    elif damage == "npy":
        np.save(root / "a.npy", np.zeros((10, 52)))
    source = root if damage != "missing" else tmp_path / "nowhere"
    out = tmp_path / "manifest.jsonl"
    result = run_emorig("data", "import", source, "-o", out)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("emorig: error: "), result.stderr
    assert {"ragged": "a.csv, row 3", "npy": "a.npy", "missing": "no such file or folder"}[damage] in lines[0]
    assert not out.exists() and not list(tmp_path.glob(".manifest.jsonl.*"))


def test_data_command_takes_in_the_corpus_subcommands(monkeypatch):
    """`emorig data synth` and `data align` come from training/cli_corpus.py when it is there."""
    import sys
    import types

    from bridge.cli import build_parser

    corpus = types.ModuleType("training.cli_corpus")
    corpus.add_data_subcommands = lambda actions: actions.add_parser("synth").set_defaults(func=lambda a: 0)
    monkeypatch.setitem(sys.modules, "training.cli_corpus", corpus)
    assert build_parser().parse_args(["data", "synth"]).data_command == "synth"


def test_cli_check_bad_manifest_exits_2(tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_text('{"clip_id": "x"\n')
    result = run_emorig("data", "check", path)
    assert result.returncode == 2 and "m.jsonl, row 1: not valid JSON" in result.stderr
