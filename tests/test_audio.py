"""Audio in: files of every kind and every way they arrive broken, stdin PCM, sources, devices.

All fixtures are made here, in tmp_path: tones written with soundfile and
encoded with PyAV. PortAudio is never needed: its absence is simulated, and the
microphone and speaker are a fake sounddevice module.
"""

import io
import logging
import os
import sys
import threading
import types

import numpy as np
import pytest
import soundfile as sf
from scipy.signal import resample_poly

from bridge import audio, devices
from bridge.audio import (
    SAMPLE_RATE,
    ArraySource,
    FileSource,
    StdinSource,
    StreamResampler,
    load_audio,
    resample_ratio,
)
from retarget.errors import InputError

FRAME = 160  # one 10 ms frame at 16 kHz: the duration tolerance


def tone(rate, seconds=1.0, freq=440.0, amp=0.5, channels=1):
    t = np.arange(int(round(rate * seconds))) / rate
    x = (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    return x if channels == 1 else np.tile(x[:, None], (1, channels))


def peak_hz(x, rate=SAMPLE_RATE):
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return np.fft.rfftfreq(len(x), 1 / rate)[np.argmax(spectrum)]


def amplitude_at(x, freq, rate=SAMPLE_RATE):
    """Amplitude of a sinusoid at freq (window-corrected FFT peak near it)."""
    w = np.hanning(len(x))
    spectrum = np.abs(np.fft.rfft(x * w)) * 2 / w.sum()
    f = np.fft.rfftfreq(len(x), 1 / rate)
    near = np.abs(f - freq) < 5
    return spectrum[near].max()


def assert_tone(x, seconds=1.0, freq=440.0, amp=0.5):
    assert x.dtype == np.float32 and x.ndim == 1
    assert abs(len(x) - seconds * SAMPLE_RATE) <= FRAME
    assert abs(peak_hz(x) - freq) <= 2
    # the middle, away from resampling edges and codec ramps
    mid = x[len(x) // 4 : 3 * len(x) // 4]
    assert np.sqrt(np.mean(mid**2)) == pytest.approx(amp / np.sqrt(2), rel=0.05)


# ---------------------------------------------------------------------------
# files through soundfile


@pytest.mark.parametrize(
    "name, subtype, rate, channels",
    [
        ("u8.wav", "PCM_U8", 22050, 1),
        ("s16.wav", "PCM_16", 44100, 2),
        ("s24.flac", "PCM_24", 48000, 1),
        ("f32.wav", "FLOAT", 96000, 2),
        ("s16_8k.wav", "PCM_16", 8000, 1),
        ("six.wav", "PCM_16", 48000, 6),
        ("s32.wav", "PCM_32", 16000, 1),
        ("vorbis.ogg", "VORBIS", 44100, 2),
    ],
)
def test_soundfile_formats_come_out_16k_mono(tmp_path, name, subtype, rate, channels):
    path = tmp_path / name
    sf.write(path, tone(rate, channels=channels), rate, subtype=subtype)
    assert_tone(load_audio(path))


def test_channels_are_averaged(tmp_path):
    data = np.zeros((48000, 6), np.float32)
    data[:, 0] = tone(48000, freq=440, amp=0.6)
    data[:, 3] = tone(48000, freq=1000, amp=0.3)
    path = tmp_path / "surround.wav"
    sf.write(path, data, 48000, subtype="FLOAT")
    x = load_audio(path)
    assert amplitude_at(x, 440) == pytest.approx(0.6 / 6, rel=0.03)
    assert amplitude_at(x, 1000) == pytest.approx(0.3 / 6, rel=0.03)


def test_resampling_keeps_content_below_8k_and_removes_above(tmp_path):
    x = tone(44100, freq=3000, amp=0.4) + tone(44100, freq=12000, amp=0.4)
    path = tmp_path / "mix.wav"
    sf.write(path, x, 44100, subtype="FLOAT")
    y = load_audio(path)
    assert amplitude_at(y, 3000) == pytest.approx(0.4, rel=0.02)
    # 12 kHz is above the new Nyquist: it must not fold back to 4 kHz
    assert amplitude_at(y, 4000) < 1e-3


# ---------------------------------------------------------------------------
# files through PyAV


def encode(path, codec, rate=44100, seconds=1.0, video=False, audio_track=True):
    """A 440 Hz stereo tone (and/or black video) in any container PyAV writes."""
    import av

    with av.open(str(path), "w") as container:
        # every stream is added before the first packet: the header is written then
        if video:
            vstream = container.add_stream("mpeg4", rate=25)
            vstream.width, vstream.height, vstream.pix_fmt = 64, 48, "yuv420p"
        if audio_track:
            astream = container.add_stream(codec, rate=rate)
            astream.layout = "stereo"
        if video:
            black = np.zeros((48, 64, 3), np.uint8)
            for _ in range(int(25 * seconds)):
                for packet in vstream.encode(av.VideoFrame.from_ndarray(black, format="rgb24")):
                    container.mux(packet)
            for packet in vstream.encode():
                container.mux(packet)
        if audio_track:
            x = np.ascontiguousarray(tone(rate, seconds, channels=2).T)
            for i in range(0, x.shape[1], 1024):
                frame = av.AudioFrame.from_ndarray(
                    np.ascontiguousarray(x[:, i : i + 1024]), format="fltp", layout="stereo"
                )
                frame.sample_rate, frame.pts = rate, i
                for packet in astream.encode(frame):
                    container.mux(packet)
            for packet in astream.encode():
                container.mux(packet)


@pytest.mark.parametrize(
    "name, codec, video",
    [("talk.mp3", "mp3", False), ("talk.m4a", "aac", False), ("clip.mp4", "aac", True), ("clip.mov", "aac", True)],
)
def test_compressed_audio_and_video_tracks(tmp_path, name, codec, video):
    path = tmp_path / name
    encode(path, codec, video=video)
    assert_tone(load_audio(path))


def test_video_without_audio_is_a_clear_error(tmp_path):
    path = tmp_path / "silent.mp4"
    encode(path, None, video=True, audio_track=False)
    with pytest.raises(InputError, match="has no audio stream .only video"):
        load_audio(path)


# ---------------------------------------------------------------------------
# broken input


def write_bytes(path, data):
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("name", ["noise.wav", "noise.mp3", "noise.m4a", "noise.flac", "noise.xyz"])
def test_random_bytes(tmp_path, name):
    rng = np.random.default_rng(1)
    path = write_bytes(tmp_path / name, rng.integers(0, 256, 20000, dtype=np.uint8).tobytes())
    with pytest.raises(InputError, match="cannot decode") as e:
        load_audio(path)
    assert str(path) in str(e.value) and "\n" not in str(e.value)


def test_truncated_wav_uses_what_is_there_and_warns(tmp_path, caplog):
    full = tmp_path / "full.wav"
    sf.write(full, tone(16000), 16000, subtype="PCM_16")
    cut = write_bytes(tmp_path / "cut.wav", full.read_bytes()[: 44 + 16000])  # header + 0.5 s
    with caplog.at_level(logging.WARNING, logger="emorig.audio"):
        x = load_audio(cut)
    assert len(x) == 8000
    assert "truncated" in caplog.text


def test_truncated_header_and_cut_mid_sample(tmp_path):
    full = tmp_path / "full.wav"
    sf.write(full, tone(16000), 16000, subtype="PCM_16")
    with pytest.raises(InputError, match="cannot decode"):
        load_audio(write_bytes(tmp_path / "head.wav", full.read_bytes()[:30]))
    with pytest.raises(InputError, match="no audio"):  # header and half a sample
        load_audio(write_bytes(tmp_path / "half.wav", full.read_bytes()[:45]))


def test_truncated_mp4_is_an_error(tmp_path):
    path = tmp_path / "clip.m4a"
    encode(path, "aac")
    with pytest.raises(InputError, match="cannot decode"):
        load_audio(write_bytes(tmp_path / "cut.m4a", path.read_bytes()[:3000]))


def test_empty_and_missing_files(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        load_audio(tmp_path / "nope.wav")
    with pytest.raises(InputError, match="directory"):
        load_audio(tmp_path)
    with pytest.raises(InputError, match="empty"):
        load_audio(write_bytes(tmp_path / "zero.mp3", b""))
    sf.write(tmp_path / "nothing.wav", np.zeros(0, np.float32), 16000)
    with pytest.raises(InputError, match="no audio .0 samples"):
        load_audio(tmp_path / "nothing.wav")


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nonfinite_samples_in_a_file_are_rejected(tmp_path, bad):
    x = tone(16000)
    x[[100, 5000]] = bad
    path = tmp_path / "nan.wav"
    sf.write(path, x, 16000, subtype="FLOAT")
    with pytest.raises(InputError, match="2 of 16000 samples are NaN or infinite"):
        load_audio(path)


@pytest.mark.parametrize("rate", [100, 1000, 2_000_000])
def test_absurd_sample_rates(tmp_path, rate):
    path = tmp_path / "rate.wav"
    sf.write(path, np.zeros(400, np.float32), rate)
    with pytest.raises(InputError, match=f"sample rate {rate} Hz is not usable"):
        load_audio(path)


# ---------------------------------------------------------------------------
# resampling


@pytest.mark.parametrize("rate", [8000, 11025, 22050, 44100, 48000, 96000, 16000])
def test_stream_resampler_equals_resample_poly(rate):
    rng = np.random.default_rng(rate)
    x = rng.standard_normal(rate // 4 + 13).astype(np.float32)
    up, down = resample_ratio(rate)
    expected = resample_poly(x.astype(np.float64), up, down)
    r = StreamResampler(rate)
    out, i = [], 0
    while i < len(x):
        n = int(rng.integers(1, 900))
        out.append(r.process(x[i : i + n]))
        i += n
    out.append(r.flush())
    got = np.concatenate(out)
    assert len(got) == len(expected) == -(-len(x) * SAMPLE_RATE // rate)
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_resample_ratio_is_reduced_and_bounded():
    assert resample_ratio(44100) == (160, 441)
    assert resample_ratio(48000) == (1, 3)
    assert resample_ratio(8000) == (2, 1)
    up, down = resample_ratio(44099)  # exactly 16000/44099: a filter of ~900k taps
    assert max(up, down) <= audio.MAX_RATIO_TERM and abs(up / down * 44099 / 16000 - 1) < 1e-4


def test_odd_sample_rate_file(tmp_path):
    path = tmp_path / "odd.wav"
    sf.write(path, tone(44099, seconds=2.0), 44099)
    assert_tone(load_audio(path), seconds=2.0)


# ---------------------------------------------------------------------------
# sources


def test_file_source_covers_the_file_once_contiguously(tmp_path):
    path = tmp_path / "t.wav"
    sf.write(path, tone(44100, seconds=0.73), 44100)
    expected = load_audio(path)
    with FileSource(path) as source:
        blocks = list(source.blocks(300))
        assert list(source.blocks(300)) == []  # read once
    assert [b.start_sample for b in blocks] == list(range(0, len(expected), 300))
    assert all(len(b) == 300 for b in blocks[:-1]) and 0 < len(blocks[-1]) <= 300
    np.testing.assert_array_equal(np.concatenate([b.samples for b in blocks]), expected)
    assert blocks[-1].end_sample == len(expected)


def test_file_source_reports_bad_files_at_open(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        FileSource(tmp_path / "missing.flac")


class FakeClock:
    """Time that moves only when someone sleeps or the test says so."""

    def __init__(self, start=100.0):
        self.now = start
        self.sleeps = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


def test_realtime_pacing_follows_the_audio_clock_without_drift():
    clock = FakeClock()
    source = ArraySource(np.zeros(1600, np.float32), realtime=True, clock=clock, sleep=clock.sleep)
    handed = []
    for block in source.blocks(160):
        handed.append((block.start_sample, block.end_sample, clock.now))
        if block.start_sample == 320:
            clock.now += 0.035  # the consumer stalls for 3.5 blocks
    assert [start for start, _, _ in handed] == list(range(0, 1600, 160))
    for start, end, at in handed:
        # a block is handed out when its last sample "was captured" (t0 + end / 16000), or late if the consumer was
        scheduled = 100.0 + end / SAMPLE_RATE
        late = 480 <= start < 960
        assert at > scheduled + 1e-9 if late else at == pytest.approx(scheduled)
    # no sleep while catching up, then back on the original schedule: nothing accumulates
    assert clock.sleeps == pytest.approx([0.01] * 3 + [0.005] + [0.01] * 3)


def test_not_realtime_never_sleeps():
    clock = FakeClock()
    source = ArraySource(np.zeros(1000, np.float32), clock=clock, sleep=clock.sleep)
    assert sum(len(b) for b in source.blocks(160)) == 1000 and clock.sleeps == []


# ---------------------------------------------------------------------------
# raw PCM on stdin


def collect(source, block_size=160):
    blocks = list(source.blocks(block_size))
    starts = [b.start_sample for b in blocks]
    assert starts == list(range(0, sum(len(b) for b in blocks), block_size))
    return np.concatenate([b.samples for b in blocks]) if blocks else np.zeros(0, np.float32)


def test_stdin_s16le_mono():
    x = tone(16000, seconds=0.5)
    pcm = np.round(x * 32767).astype("<i2")
    got = collect(StdinSource(io.BytesIO(pcm.tobytes())))
    np.testing.assert_allclose(got, pcm / 32768.0, atol=1e-7)


def test_stdin_f32le_stereo_48k_and_odd_trailing_byte(caplog):
    x = tone(48000, seconds=0.5, channels=2)
    x[:, 1] *= 0.5  # the mix is the mean: amplitude 0.375
    data = x.astype("<f4").tobytes() + b"\x01"  # a pipe cut one byte into the next sample
    with caplog.at_level(logging.WARNING, logger="emorig.audio"):
        got = collect(StdinSource(io.BytesIO(data), fmt="f32le", rate=48000, channels=2))
    assert len(got) == 8000
    assert abs(peak_hz(got) - 440) <= 2
    assert amplitude_at(got, 440) == pytest.approx(0.375, rel=0.02)
    assert "1 trailing byte(s) ignored" in caplog.text


def test_stdin_from_a_real_pipe_in_small_writes():
    x = np.round(tone(16000, seconds=0.3) * 32767).astype("<i2").tobytes()
    read_fd, write_fd = os.pipe()

    def writer():
        with os.fdopen(write_fd, "wb", buffering=0) as w:
            for i in range(0, len(x), 333):  # odd sizes: samples split across writes
                w.write(x[i : i + 333])

    thread = threading.Thread(target=writer)
    thread.start()
    with os.fdopen(read_fd, "rb") as r:
        got = collect(StdinSource(r), block_size=320)
    thread.join()
    assert len(got) == 4800
    np.testing.assert_allclose(got, np.frombuffer(x, "<i2") / 32768.0)


def test_stdin_empty_input_ends_cleanly():
    assert list(StdinSource(io.BytesIO(b"")).blocks()) == []


def test_stdin_nan_is_replaced_and_counted(caplog):
    x = tone(16000, seconds=0.1)
    x[[5, 50, 500]] = [np.nan, np.inf, -np.inf]
    source = StdinSource(io.BytesIO(x.astype("<f4").tobytes()), fmt="f32le")
    with caplog.at_level(logging.WARNING, logger="emorig.audio"):
        got = collect(source)
    assert np.isfinite(got).all() and got[[5, 50, 500]].tolist() == [0, 0, 0]
    assert source.nonfinite_samples == 3
    assert caplog.text.count("NaN") == 1  # warned once, not per sample


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"fmt": "mp3"}, "raw PCM format 'mp3'"),
        ({"channels": 0}, "channel count 0"),
        ({"rate": 44}, "input sample rate 44 Hz"),
        ({"rate": "fast"}, "is not a number"),
    ],
)
def test_stdin_bad_options(kwargs, message):
    with pytest.raises(InputError, match=message):
        StdinSource(io.BytesIO(b""), **kwargs)


def test_stdin_terminal_is_refused_instead_of_hanging(monkeypatch):
    class Terminal(io.BytesIO):
        def isatty(self):
            return True

    monkeypatch.setattr(sys, "stdin", Terminal())
    with pytest.raises(InputError, match="is a terminal; pipe audio in"):
        StdinSource()


def test_open_input_picks_the_source(tmp_path, monkeypatch):
    path = tmp_path / "t.wav"
    sf.write(path, tone(16000, 0.1), 16000)
    assert isinstance(audio.open_input(str(path)), FileSource)
    monkeypatch.setattr(sys, "stdin", io.BytesIO(b""))
    assert isinstance(audio.open_input("-"), StdinSource)


# ---------------------------------------------------------------------------
# PortAudio missing


class _RaisingFinder:
    """Makes `import sounddevice` fail the way it does on a machine without the PortAudio library."""

    def __init__(self, error):
        self.error = error

    def find_spec(self, name, path=None, target=None):
        if name == "sounddevice":
            raise self.error
        return None


@pytest.fixture
def no_portaudio(monkeypatch):
    monkeypatch.delitem(sys.modules, "sounddevice", raising=False)
    monkeypatch.setattr(sys, "meta_path", [_RaisingFinder(OSError("PortAudio library not found")), *sys.meta_path])


def test_no_portaudio_is_one_clear_line(no_portaudio):
    for call in (
        devices.list_input_devices,
        devices.format_devices,
        devices.MicSource,
        lambda: audio.open_input("mic"),
    ):
        with pytest.raises(InputError) as e:
            call()
        assert (
            str(e.value)
            == "no audio input: PortAudio is not installed (apt install libportaudio2, or brew install portaudio)"
        )
    with pytest.raises(InputError, match="no audio output: PortAudio is not installed"):
        devices.Player(np.zeros(10, np.float32))


def test_no_sounddevice_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "sounddevice", None)  # what `import` sees when a package is absent
    with pytest.raises(InputError, match="sounddevice package is not installed"):
        devices.list_input_devices()


# ---------------------------------------------------------------------------
# a fake sounddevice: devices, a microphone that gets unplugged, a speaker


class PortAudioError(Exception):
    pass


class CallbackStop(Exception):
    pass


DEVICES = [
    {
        "index": 0,
        "name": "Built-in Microphone",
        "hostapi": 0,
        "max_input_channels": 2,
        "max_output_channels": 0,
        "default_samplerate": 48000.0,
    },
    {
        "index": 1,
        "name": "USB Audio Device",
        "hostapi": 1,
        "max_input_channels": 1,
        "max_output_channels": 2,
        "default_samplerate": 44100.0,
    },
    {
        "index": 2,
        "name": "USB Headset Mic",
        "hostapi": 1,
        "max_input_channels": 1,
        "max_output_channels": 0,
        "default_samplerate": 16000.0,
    },
    {
        "index": 3,
        "name": "HDMI Output",
        "hostapi": 0,
        "max_input_channels": 0,
        "max_output_channels": 8,
        "default_samplerate": 48000.0,
    },
]


class FakeInputStream:
    """Delivers `chunks` callbacks of a continuous tone when started, then behaves per `after`.

    after = "lost": polling `active` raises PortAudioError (device unplugged);
    after = "ok": stays active (no more audio).
    """

    def __init__(self, sd, device, channels, samplerate, dtype, blocksize, callback, finished_callback):
        plan = sd.plans.pop(0) if sd.plans else ("ok", 0)
        if plan == "fail":
            raise sd.PortAudioError("Device unavailable [PaErrorCode -9985]")
        self.sd, self.after, self.chunks = sd, plan[0], plan[1]
        self.channels, self.rate, self.blocksize = channels, samplerate, blocksize
        self.callback, self.finished_callback = callback, finished_callback
        self.state = "open"
        sd.opened.append(self)

    def start(self):
        self.state = "started"
        for _ in range(self.chunks):
            n = self.blocksize
            t = (self.sd.phase + np.arange(n)) / self.rate
            self.sd.phase += n
            block = np.tile((0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[:, None], (1, self.channels))
            self.callback(block, n, None, 0)

    @property
    def active(self):
        if self.after == "lost":
            raise self.sd.PortAudioError("Stream is not active: device disconnected")
        return self.state == "started"

    def stop(self):
        if self.after == "lost":
            raise self.sd.PortAudioError("Stream stop failed: device disconnected")
        self.state = "stopped"

    def close(self):
        self.state = "closed"


class FakeOutputStream:
    def __init__(self, sd, device, channels, samplerate, dtype, callback, finished_callback):
        self.sd, self.rate, self.callback, self.finished_callback = sd, samplerate, callback, finished_callback
        self.latency = 0.05
        self.played = []
        sd.opened.append(self)

    def start(self):
        pass

    def pump(self, frames, now):
        """One PortAudio callback at time `now` (the stream's clock)."""
        out = np.full((frames, 1), 9.0, np.float32)
        info = types.SimpleNamespace(currentTime=now, outputBufferDacTime=now + 0.02)
        try:
            self.callback(out, frames, info, 0)
        except self.sd.CallbackStop:
            self.played.append(out[:, 0].copy())
            self.finished_callback()
            return False
        self.played.append(out[:, 0].copy())
        return True

    def stop(self):
        pass

    def close(self):
        pass


def make_fake_sounddevice(supported_rates=(16000, 44100, 48000)):
    sd = types.ModuleType("sounddevice")
    sd.PortAudioError, sd.CallbackStop = PortAudioError, CallbackStop
    sd.plans, sd.opened, sd.phase, sd.reinitialized = [], [], 0, 0

    def query_devices(device=None, kind=None):
        if kind == "input":
            return DEVICES[0]
        if kind == "output":
            return DEVICES[1]
        return [dict(d) for d in DEVICES]

    def check_settings(device=None, channels=None, dtype=None, samplerate=None):
        if samplerate not in supported_rates:
            raise PortAudioError("Invalid sample rate [PaErrorCode -9997]")

    def reinit():
        sd.reinitialized += 1

    sd.query_devices = query_devices
    sd.query_hostapis = lambda i: {"name": ["ALSA", "PulseAudio"][i]}
    sd.check_input_settings = sd.check_output_settings = check_settings
    sd.InputStream = lambda **kw: FakeInputStream(sd, **kw)
    sd.OutputStream = lambda **kw: FakeOutputStream(sd, **kw)
    sd._terminate, sd._initialize = lambda: None, reinit
    return sd


@pytest.fixture
def fake_sd(monkeypatch):
    sd = make_fake_sounddevice()
    monkeypatch.setitem(sys.modules, "sounddevice", sd)
    return sd


def test_list_and_format_devices(fake_sd):
    inputs = devices.list_input_devices()
    assert [(d.index, d.name, d.channels, d.default_samplerate, d.is_default) for d in inputs] == [
        (0, "Built-in Microphone", 2, 48000.0, True),
        (1, "USB Audio Device", 1, 44100.0, False),
        (2, "USB Headset Mic", 1, 16000.0, False),
    ]
    assert inputs[1].hostapi == "PulseAudio"
    table = devices.format_devices().splitlines()
    assert table[1].lstrip().startswith("* ") and "Built-in Microphone" in table[1] and "48000" in table[1]
    assert "HDMI" not in "\n".join(table)
    assert [d.name for d in devices.list_output_devices()] == ["USB Audio Device", "HDMI Output"]
    assert devices.format_devices([]) == "no audio input devices found"


def test_select_device(fake_sd):
    assert devices.select_device(None).index == 0
    assert devices.select_device(2).name == "USB Headset Mic"
    assert devices.select_device("2").name == "USB Headset Mic"
    assert devices.select_device("headset").index == 2
    assert devices.select_device("usb audio device").index == 1  # exact name wins
    with pytest.raises(
        InputError, match=r"'usb' matches 2 audio input devices: 1 'USB Audio Device'; 2 'USB Headset Mic'"
    ):
        devices.select_device("usb")
    with pytest.raises(InputError, match="no audio input device matches 'webcam'"):
        devices.select_device("webcam")
    with pytest.raises(InputError, match="no audio input device has index 3"):
        devices.select_device(3)  # HDMI cannot record
    with pytest.raises(InputError, match="no input device found"):
        devices.select_device(None, devices=[])


def take_blocks(source, n, block_size=160):
    out = []
    for block in source.blocks(block_size):
        out.append(block)
        if len(out) == n:
            break
    return out


def test_mic_reads_16k_blocks_from_the_callback(fake_sd):
    fake_sd.plans = [("ok", 5)]
    mic = devices.MicSource("headset", block_ms=10)
    blocks = take_blocks(mic, 5)
    mic.close()
    stream = fake_sd.opened[0]
    assert (stream.rate, stream.channels, stream.blocksize) == (16000, 1, 160)
    assert [b.start_sample for b in blocks] == [0, 160, 320, 480, 640]
    x = np.concatenate([b.samples for b in blocks])
    np.testing.assert_allclose(x, 0.5 * np.sin(2 * np.pi * 440 * np.arange(800) / 16000), atol=1e-6)
    assert stream.state == "closed"


def test_mic_at_48k_only_is_resampled(monkeypatch):
    sd = make_fake_sounddevice(supported_rates=(48000,))
    monkeypatch.setitem(sys.modules, "sounddevice", sd)
    sd.plans = [("ok", 60)]
    mic = devices.MicSource(None, block_ms=10)
    blocks = take_blocks(mic, 25, block_size=160)  # 60 x 10 ms in, ~0.6 ms held back by the filter
    mic.close()
    assert sd.opened[0].rate == 48000
    x = np.concatenate([b.samples for b in blocks])
    assert len(x) == 4000 and abs(peak_hz(x) - 440) <= 4


def test_mic_device_lost_mid_stream_is_reported_and_reopened(fake_sd, caplog):
    clock = FakeClock()
    # stream 1: 3 blocks then the device vanishes; reopening fails once; stream 3 delivers again
    fake_sd.plans = [("lost", 3), "fail", ("ok", 3)]
    mic = devices.MicSource("Built-in", block_ms=10, clock=clock, sleep=clock.sleep)
    with caplog.at_level(logging.INFO, logger="emorig.audio"):
        blocks = take_blocks(mic, 6)
    mic.close()
    assert (
        "audio input 'Built-in Microphone' lost (Stream is not active: device disconnected); reopening" in caplog.text
    )
    assert "attempt 1 failed (audio input 0 'Built-in Microphone' cannot be opened (Device unavailable" in caplog.text
    assert "reopened (attempt 2); 1.50 s of audio missed" in caplog.text
    assert clock.sleeps == [0.5, 1.0]  # backoff doubles
    assert mic.reconnects == 1 and fake_sd.reinitialized == 2  # PortAudio re-listed devices before each try
    # the clock jumps by the outage, so block times keep matching real time
    assert [b.start_sample for b in blocks] == [0, 160, 320, 480 + 24000, 640 + 24000, 800 + 24000]
    assert mic.lost_samples == 24000


def mic_tone(start, n):
    """What the fake microphone played from sample `start` on (a continuous 440 Hz tone at 16 kHz)."""
    return 0.5 * np.sin(2 * np.pi * 440 * np.arange(start, start + n) / 16000)


def test_mic_slow_consumer_drops_oldest_and_counts(fake_sd, caplog):
    fake_sd.plans = [("ok", 12)]  # all 12 arrive before the consumer reads; the queue holds 5
    mic = devices.MicSource(None, block_ms=10, queue_ms=50)
    with caplog.at_level(logging.WARNING, logger="emorig.audio"):
        blocks = take_blocks(mic, 8, block_size=100)
    mic.close()
    assert mic.dropped_samples == 7 * 160
    assert "too slow" in caplog.text
    # the clock skips what was dropped: every block sits where its audio was captured
    assert [b.start_sample for b in blocks] == list(range(1120, 1920, 100))
    for b in blocks:
        np.testing.assert_allclose(b.samples, mic_tone(b.start_sample, len(b)), atol=1e-6)


def test_mic_drop_in_the_middle_of_a_block(fake_sd):
    fake_sd.plans = [("ok", 3)]
    mic = devices.MicSource(None, block_ms=10, queue_ms=50)
    it = mic.blocks(100)
    first = [next(it) for _ in range(4)]  # 400 of the 480 samples; 80 wait for the next block
    capture = mic._capture
    for _ in range(8):  # 8 more arrive while the consumer is away; 3 fall out of the queue
        fake_sd.opened[0].chunks = 1
        fake_sd.opened[0].start()
    rest = [next(it) for _ in range(4)]
    mic.close()
    assert capture.captured == 11 * 160 and mic.dropped_samples == 3 * 160
    # the 80 pending samples come out as a short block, then the clock jumps over the hole
    assert [(b.start_sample, len(b)) for b in first + rest][3:6] == [(300, 100), (400, 80), (960, 100)]
    for b in first + rest:
        np.testing.assert_allclose(b.samples, mic_tone(b.start_sample, len(b)), atol=1e-6)


def test_mic_callback_never_waits(fake_sd):
    # with the consumer absent the callback keeps returning; the deque just stays at its bound
    mic = devices.MicSource(None, block_ms=10, queue_ms=30)
    capture = mic._capture
    for _ in range(1000):
        capture.callback(np.zeros((160, 1), np.float32), 160, None, 0)
    assert len(capture.queue) == 3 and capture.captured == 160000
    mic.close()


def test_mic_bad_block_length(fake_sd):
    with pytest.raises(InputError, match="block length 0 ms"):
        devices.MicSource(None, block_ms=0)


def test_player_plays_and_reports_position(fake_sd):
    clock = FakeClock(start=0.0)
    x = tone(16000, seconds=0.05)  # 800 samples
    player = devices.Player(x, device="usb audio", clock=clock).start()
    stream = fake_sd.opened[0]
    assert stream.rate == 16000 and player.position == 0
    assert stream.pump(320, now=0.0)
    # 20 ms of output latency: at t=0.03 the speaker is 10 ms (160 samples) in
    clock.now = 0.03
    assert player.position == 160
    clock.now = 1.0
    assert player.position == 320  # never ahead of what was handed to PortAudio
    assert stream.pump(320, now=1.0) and not stream.pump(320, now=1.02)
    assert player.done and player.position == 800
    played = np.concatenate(stream.played)
    np.testing.assert_array_equal(played[:800], x)
    assert not played[800:].any()  # padded with silence, not garbage
    player.close()
