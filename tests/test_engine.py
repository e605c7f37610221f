"""The engine: several subjects, streaming equals offline, audio-clock gaps, paced output."""

import numpy as np
from test_stream import speechlike

from bridge.audio import ArraySource, AudioBlock, AudioSource
from bridge.engine import Engine, Subject, SubjectConfig
from bridge.postprocess import PostSettings
from bridge.reference_model import ReferenceModel
from bridge.sinks import SinkRegistry, open_sink
from bridge.vad import make_vad
from retarget.spaces import get_space
from retarget.takes import read_take


def subject(name, sinks=(), rig="livelinkface", seed=0):
    cfg = SubjectConfig(name, get_space(rig), 60.0, PostSettings(seed=seed))
    return Subject(cfg, ReferenceModel(), make_vad("energy"), list(sinks))


def test_two_subjects_stream_what_each_would_render_offline(tmp_path):
    registry = SinkRegistry()
    audio = {"ada": speechlike(2.0, seed=1), "bo": speechlike(1.5, seed=2) * 0.5}
    pairs = []
    for i, (name, samples) in enumerate(audio.items()):
        sink = open_sink(str(tmp_path / f"{name}.npz"), subject=name, registry=registry)
        pairs.append((subject(name, [sink], seed=i), ArraySource(samples)))
    Engine(pairs).run()
    registry.close()
    for i, (name, samples) in enumerate(audio.items()):
        streamed = read_take(tmp_path / f"{name}.npz")
        offline = subject(name, seed=i).render(samples)
        assert len(streamed) == len(offline) == int(len(samples) / 16000 * 60)
        np.testing.assert_allclose(streamed.frames, np.array([f.values for f in offline]), atol=1e-5)
    assert not np.allclose(read_take(tmp_path / "ada.npz").frames[:90], read_take(tmp_path / "bo.npz").frames[:90])


class GappySource(AudioSource):
    """A microphone that lost 0.5 s of audio: the second block starts later on the audio clock."""

    def __init__(self, samples):
        self.samples = samples

    def blocks(self, block_size=160):
        yield AudioBlock(self.samples[:8000], 0)
        yield AudioBlock(self.samples[8000:16000], 16000)


class Collect:
    url = "memory"

    def __init__(self):
        self.frames = []

    def send(self, frame):
        self.frames.append(frame)

    def close(self):
        pass


def test_frame_times_stay_true_to_real_time_across_an_input_gap():
    sink = Collect()
    Engine([(subject("ada", [sink]), GappySource(speechlike(1.0)))]).run()
    times = [f.time for f in sink.frames]
    numbers = [f.number for f in sink.frames]
    assert numbers == list(range(len(numbers)))  # no frame skipped or repeated
    assert times[-1] > 1.45  # 1 s of audio with a 0.5 s hole covers 1.5 s of the clock


def test_paced_output_sends_every_frame_and_records_its_timing():
    sink = Collect()
    s = subject("ada", [sink])
    Engine([(s, ArraySource(speechlike(1.0), realtime=True))], pace=0.06).run()
    assert len(sink.frames) == 60
    assert len(s.jitter) == 60  # every frame went through the pacer
    assert [f.number for f in sink.frames] == list(range(60))
