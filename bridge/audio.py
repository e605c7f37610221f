"""Audio in: files, raw PCM on stdin, and the streaming interface every source shares.

Everything leaves here as 16 kHz mono float32, the rate the models and the VAD
work at. A source yields `AudioBlock`s that carry their position on the audio
clock (the index, at 16 kHz, of the block's first sample), so the engine times
its frames from the audio itself and never from the wall clock.

Decoding: wav/flac/ogg/aiff go through soundfile (libsndfile); everything else
(mp3, m4a, mov, mp4, ...) through PyAV (FFmpeg). Resampling is polyphase
(`scipy.signal.resample_poly`) with the reduced up/down ratio; live sources use
`StreamResampler`, the same filter computed block by block.

Damaged samples: a *file* with NaN or infinite samples is rejected (it is broken
and any output made from it would be too). A *live* source (stdin, microphone)
replaces them with silence and logs a warning, because one bad block must not
end a live session.

The microphone source lives in bridge/devices.py, with everything PortAudio.
"""

from __future__ import annotations

import logging
import math
import os
import struct
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from retarget.errors import InputError

log = logging.getLogger("emorig.audio")

SAMPLE_RATE = 16000  # what every source delivers
DEFAULT_BLOCK_SIZE = 160  # 10 ms, one VAD frame
# Outside this range a "sample rate" is a damaged header or a mistake, not audio we can use:
# below 4 kHz there is no intelligible speech, above 768 kHz no real converter exists.
MIN_RATE, MAX_RATE = 4000, 768_000
# An exact ratio with large reduced terms (16000/44099) would need a filter of millions of taps.
# Such odd rates (no real device uses one) are approximated by the nearest ratio with terms up
# to this: the duration then differs by at most 1e-4 (0.36 s an hour), the pitch likewise.
MAX_RATIO_TERM = 5000

SOUNDFILE_EXTENSIONS = {".wav", ".wave", ".flac", ".ogg", ".oga", ".opus", ".aif", ".aiff", ".aifc", ".w64", ".rf64"}
PCM_FORMATS = {"s16le": "<i2", "s32le": "<i4", "f32le": "<f4"}


# ---------------------------------------------------------------------------
# sample rates and resampling


def check_rate(rate, *, path=None, what="sample rate") -> int:
    """The rate as an int, or InputError if no audio could have it."""
    try:
        value = float(rate)
    except (TypeError, ValueError):
        raise InputError(f"{what} {rate!r} is not a number", path=path) from None
    if not math.isfinite(value) or value != int(value) or not MIN_RATE <= value <= MAX_RATE:
        raise InputError(
            f"{what} {rate!r} Hz is not usable (expected a whole number from {MIN_RATE} to {MAX_RATE})", path=path
        )
    return int(value)


def resample_ratio(rate_in: int, rate_out: int = SAMPLE_RATE) -> tuple[int, int]:
    """(up, down) with rate_out / rate_in = up / down, reduced; approximated when the terms are huge."""
    ratio = Fraction(rate_out, rate_in)
    if max(ratio.numerator, ratio.denominator) > MAX_RATIO_TERM:
        approx = ratio.limit_denominator(MAX_RATIO_TERM)
        log.info(
            "resampling %d Hz -> %d Hz approximated as %d/%d", rate_in, rate_out, approx.numerator, approx.denominator
        )
        ratio = approx
    return ratio.numerator, ratio.denominator


def resample(x: np.ndarray, rate_in: int, rate_out: int = SAMPLE_RATE) -> np.ndarray:
    """A whole mono signal, polyphase resampled; float32."""
    x = np.asarray(x, dtype=np.float32)
    if rate_in == rate_out or len(x) == 0:
        return x.copy()
    # scipy.signal takes ~0.5 s to import; a file already at 16 kHz never needs it.
    from scipy.signal import resample_poly

    up, down = resample_ratio(rate_in, rate_out)
    return resample_poly(x, up, down).astype(np.float32, copy=False)


def to_mono(x: np.ndarray) -> np.ndarray:
    """[n] or [n, channels] -> [n] float32, the plain mean of the channels.

    The mean keeps a tone present in every channel at its level; a channel
    recorded in opposite phase would cancel, as it does on any mono speaker.
    """
    x = np.asarray(x, dtype=np.float32)
    if x.ndim == 1:
        return x
    if x.shape[1] == 1:
        return x[:, 0]
    return x.mean(axis=1, dtype=np.float64).astype(np.float32)


class StreamResampler:
    """The resample_poly filter, one block at a time, with its state kept here.

    Output sample m is sum_j x[j] * h[m*down + half_len - j*up], exactly as
    resample_poly computes it (zero padding at both ends), so a stream fed in
    any block sizes and then flushed gives the same samples as the whole
    signal at once. Output m is produced as soon as its last input sample has
    arrived: the latency is half the filter, under 1 ms for the usual rates.
    """

    def __init__(self, rate_in: int, rate_out: int = SAMPLE_RATE):
        self.rate_in, self.rate_out = rate_in, rate_out
        self.up, self.down = resample_ratio(rate_in, rate_out)
        self.passthrough = self.up == self.down == 1
        if not self.passthrough:
            from scipy.signal import firwin

            max_rate = max(self.up, self.down)
            self.half_len = 10 * max_rate
            h = firwin(2 * self.half_len + 1, 1.0 / max_rate, window=("kaiser", 5.0)) * self.up
            self.taps = -(-len(h) // self.up)
            h = np.concatenate([h, np.zeros(self.taps * self.up - len(h))])
            # phases[p, t] = h[p + t*up]: the taps that meet input n0 - t for output phase p
            self.phases = h.reshape(self.taps, self.up).T.copy()
        self.reset()

    def reset(self) -> None:
        """Forget the past: the next sample fed is input sample 0 again."""
        self.n_in = 0  # input samples received
        self.n_out = 0  # output samples produced
        if not self.passthrough:
            # history starts with taps-1 zeros standing for the samples before index 0
            self.buffer = np.zeros(self.taps - 1)
            self.buffer_start = -(self.taps - 1)  # input index of buffer[0]

    def process(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        if self.passthrough:
            self.n_in += len(x)
            self.n_out += len(x)
            return x.copy()
        self.buffer = np.concatenate([self.buffer, x.astype(np.float64)])
        self.n_in += len(x)
        # output m is ready once input (m*down + half_len) // up has arrived, i.e. m*down + half_len < n_in*up
        ready = (self.n_in * self.up - self.half_len - 1) // self.down + 1
        return self._emit(max(ready, self.n_out))

    def flush(self) -> np.ndarray:
        """The outputs that wait on samples after the end, computed with zeros there."""
        if self.passthrough:
            return np.zeros(0, np.float32)
        total = -(-self.n_in * self.up // self.down)  # ceil, as resample_poly
        pad = self.taps + (total * self.down + self.half_len) // self.up - self.n_in
        self.buffer = np.concatenate([self.buffer, np.zeros(max(pad, 0))])
        return self._emit(total)

    def _emit(self, stop: int) -> np.ndarray:
        m = np.arange(self.n_out, stop)
        if len(m) == 0:
            return np.zeros(0, np.float32)
        c = m * self.down + self.half_len
        n0, phase = c // self.up, c % self.up
        index = n0[:, None] - np.arange(self.taps)[None, :] - self.buffer_start
        y = np.einsum("mt,mt->m", self.buffer[index], self.phases[phase])
        self.n_out = stop
        # keep only the history the next output can still reach
        next_n0 = (stop * self.down + self.half_len) // self.up
        drop = next_n0 - (self.taps - 1) - self.buffer_start
        if drop > 0:
            self.buffer = self.buffer[drop:]
            self.buffer_start += drop
        return y.astype(np.float32)


# ---------------------------------------------------------------------------
# files


def load_audio(path) -> np.ndarray:
    """An audio file (or the audio track of a video) as 16 kHz mono float32.

    Raises InputError, naming the file, for: a missing or unreadable file, a
    format neither soundfile nor FFmpeg can decode, a file without an audio
    stream, no samples, NaN/infinite samples, and an unusable sample rate.
    """
    path = Path(path)
    if not path.exists():
        raise InputError("no such file", path=path)
    if path.is_dir():
        raise InputError("is a directory, not an audio file", path=path)
    if not os.access(path, os.R_OK):
        raise InputError("cannot read the file (permission denied)", path=path)
    if path.stat().st_size == 0:
        raise InputError("the file is empty (0 bytes)", path=path)

    ext = path.suffix.lower()
    if ext in SOUNDFILE_EXTENSIONS:
        data, rate = _read_soundfile(path)
    elif ext in (".mp3", ".m4a", ".mp4", ".mov", ".aac", ".mkv", ".webm", ".avi", ".wma", ".m4v", *RAW_AV_FORMATS):
        data, rate = _read_av(path)
    else:  # unknown extension: let libsndfile sniff it, then FFmpeg
        try:
            data, rate = _read_soundfile(path)
        except InputError:
            data, rate = _read_av(path)

    rate = check_rate(rate, path=path)
    if data.shape[0] == 0:
        raise InputError("contains no audio (0 samples)", path=path)
    bad = int(np.count_nonzero(~np.isfinite(data)))
    if bad:
        raise InputError(
            f"{bad} of {data.size} samples are NaN or infinite; the file is damaged (re-export it)", path=path
        )
    channels = data.shape[1] if data.ndim == 2 else 1
    log.debug("%s: %d samples at %d Hz, %d channel(s)", path, data.shape[0], rate, channels)
    return resample(to_mono(data), rate)


def _read_soundfile(path: Path) -> tuple[np.ndarray, int]:
    import soundfile

    try:
        data, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError, ValueError) as e:
        # libsndfile's message repeats the path; keep only what it says about the content
        reason = str(e).rsplit(": ", 1)[-1].strip().rstrip(".")
        raise InputError(f"cannot decode as audio ({reason or 'unknown format'})", path=path) from None
    _warn_if_truncated_wav(path)
    return data, rate


def _warn_if_truncated_wav(path: Path) -> None:
    """libsndfile reads a cut-off WAV up to where it ends; say so, since the user may not know."""
    try:
        with open(path, "rb") as f:
            head = f.read(12)
            if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
                return
            size = path.stat().st_size
            while True:
                chunk = f.read(8)
                if len(chunk) < 8:
                    return
                name, length = chunk[:4], struct.unpack("<I", chunk[4:])[0]
                if name == b"data":
                    missing = f.tell() + length - size
                    if missing > 0 and length != 0xFFFFFFFF:  # 0xFFFFFFFF: a streamed WAV of unknown length
                        log.warning(
                            "%s: the file is truncated (%d bytes of audio missing); using what is there", path, missing
                        )
                    return
                f.seek(length + (length & 1), os.SEEK_CUR)
    except OSError:
        return


# Headerless telephone formats FFmpeg cannot sniff: the extension names the format (Asterisk's prompts).
RAW_AV_FORMATS = {".gsm": "gsm"}


def _read_av(path: Path) -> tuple[np.ndarray, int]:
    import av

    try:
        container = av.open(str(path), format=RAW_AV_FORMATS.get(path.suffix.lower()))
    except av.FFmpegError as e:
        raise InputError(f"cannot decode as audio or video ({_av_reason(e)})", path=path) from None
    with container:
        stream = next(iter(container.streams.audio), None)
        if stream is None:
            kinds = " and ".join(sorted({s.type for s in container.streams}))
            raise InputError(f"has no audio stream{f' (only {kinds})' if kinds else ''}", path=path)
        # convert only the sample format; the rate change is ours (polyphase, same as for every file)
        converter = av.AudioResampler(format="fltp")
        chunks, rate = [], stream.codec_context.sample_rate
        try:
            for frame in container.decode(stream):
                rate = frame.sample_rate or rate
                chunks.extend(f.to_ndarray() for f in converter.resample(frame))
            chunks.extend(f.to_ndarray() for f in converter.resample(None))
        except (av.FFmpegError, ValueError) as e:
            if not chunks:
                raise InputError(f"cannot decode the audio ({_av_reason(e)})", path=path) from None
            done = sum(c.shape[1] for c in chunks) / rate
            log.warning("%s: decoding stopped after %.2f s (%s); using what was decoded", path, done, _av_reason(e))
        if not chunks:
            return np.zeros((0, 1), np.float32), rate or SAMPLE_RATE
        data = np.concatenate(chunks, axis=1).T
        return _trim_codec_padding(data, rate, stream, container.format.name), rate


def _trim_codec_padding(data: np.ndarray, rate: int, stream, format_name: str) -> np.ndarray:
    """AAC in MP4/MOV decodes to whole 1024-sample frames; the container's exact duration says where the audio ends.

    Only the mov/mp4 demuxer's duration is exact (it comes from the sample
    tables); elsewhere it may be an estimate, so nothing is cut there.
    """
    if "mp4" not in format_name or stream.duration is None or stream.time_base is None:
        return data
    length = int(round(float(stream.duration * stream.time_base) * rate))
    excess = data.shape[0] - length
    if 0 < excess <= 2 * 2048:  # at most codec padding; more would mean the duration is wrong
        return data[:length]
    return data


def _av_reason(e: Exception) -> str:
    text = getattr(e, "strerror", None) or str(e)
    return str(text).split(": '")[0]


# ---------------------------------------------------------------------------
# the streaming interface


@dataclass(frozen=True)
class AudioBlock:
    samples: np.ndarray  # float32 [n], 16 kHz mono
    start_sample: int  # audio clock: index of samples[0] since the source started

    @property
    def end_sample(self) -> int:
        return self.start_sample + len(self.samples)

    @property
    def start_time(self) -> float:
        return self.start_sample / SAMPLE_RATE

    def __len__(self) -> int:
        return len(self.samples)


class AudioSource:
    """Blocks of 16 kHz mono float32 with their position on the audio clock.

    A source is read once: `blocks()` continues where the last call stopped.
    Blocks have `block_size` samples except possibly the last. Consecutive
    blocks are contiguous (next.start_sample == previous.end_sample) unless the
    source lost audio (a microphone that was unplugged); then the clock jumps
    by what was lost, so positions keep matching real time.
    """

    sample_rate = SAMPLE_RATE
    name = "audio"

    def blocks(self, block_size: int = DEFAULT_BLOCK_SIZE) -> Iterator[AudioBlock]:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __iter__(self) -> Iterator[AudioBlock]:
        return self.blocks()


def _check_block_size(block_size) -> int:
    if not isinstance(block_size, (int, np.integer)) or block_size <= 0:
        raise ValueError(f"block_size must be a positive number of samples, not {block_size!r}")
    return int(block_size)


class ArraySource(AudioSource):
    """A 16 kHz mono signal already in memory, as blocks.

    realtime=True paces the blocks to the audio clock, like a microphone would
    deliver them: block k is handed out when its last sample would have been
    captured, at start + end_sample / 16000 on `clock`. Each wait is computed
    from that fixed start, so sleep overshoot never accumulates; a consumer
    that falls behind gets the next blocks at once until it catches up.
    """

    def __init__(
        self,
        samples: np.ndarray,
        realtime: bool = False,
        *,
        name: str = "array",
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.samples = np.asarray(samples, dtype=np.float32)
        if self.samples.ndim != 1:
            raise ValueError("ArraySource takes 16 kHz mono samples, a 1-D array")
        self.realtime, self.name = realtime, name
        self.clock, self.sleep = clock, sleep
        self.position = 0  # next sample to hand out
        self._t0: float | None = None
        self._closed = False

    @property
    def duration(self) -> float:
        return len(self.samples) / SAMPLE_RATE

    def blocks(self, block_size: int = DEFAULT_BLOCK_SIZE) -> Iterator[AudioBlock]:
        block_size = _check_block_size(block_size)
        while not self._closed and self.position < len(self.samples):
            start = self.position
            end = min(start + block_size, len(self.samples))
            if self.realtime:
                if self._t0 is None:
                    self._t0 = self.clock() - start / SAMPLE_RATE
                wait = self._t0 + end / SAMPLE_RATE - self.clock()
                if wait > 0:
                    self.sleep(wait)
            self.position = end
            yield AudioBlock(self.samples[start:end], start)

    def close(self) -> None:
        self._closed = True


class FileSource(ArraySource):
    """An audio or video file, decoded whole at open (16 kHz mono float32 is 230 MB an hour)."""

    def __init__(self, path, realtime: bool = False, **pacing):
        self.path = Path(path)
        super().__init__(load_audio(self.path), realtime, name=str(path), **pacing)


class _Rechunker:
    """Cuts a stream of arbitrary pieces into blocks of one size, numbering them on the audio clock."""

    def __init__(self, block_size: int, start: int = 0):
        self.block_size = block_size
        self.pending = np.zeros(0, np.float32)
        self.next_start = start  # audio-clock index of pending[0]

    def push(self, x: np.ndarray) -> Iterator[AudioBlock]:
        self.pending = np.concatenate([self.pending, x]) if len(self.pending) else np.asarray(x, np.float32)
        n_full = len(self.pending) // self.block_size * self.block_size
        for i in range(0, n_full, self.block_size):
            yield AudioBlock(self.pending[i : i + self.block_size].copy(), self.next_start + i)
        self.next_start += n_full
        self.pending = self.pending[n_full:]

    def flush(self) -> Iterator[AudioBlock]:
        if len(self.pending):
            yield AudioBlock(self.pending, self.next_start)
            self.next_start += len(self.pending)
            self.pending = np.zeros(0, np.float32)

    def skip(self, gap: int) -> Iterator[AudioBlock]:
        """Audio was lost: hand out what is pending (a short block), then leave `gap` samples unnumbered."""
        yield from self.flush()
        self.next_start += max(0, gap)


class NonFiniteGuard:
    """Replaces NaN/inf in live audio with silence, warning once and counting the rest."""

    def __init__(self, name: str):
        self.name = name
        self.count = 0

    def __call__(self, x: np.ndarray) -> np.ndarray:
        bad = ~np.isfinite(x)
        n = int(np.count_nonzero(bad))
        if n:
            if self.count == 0:
                log.warning(
                    "%s: NaN or infinite samples replaced with silence (counted in nonfinite_samples)", self.name
                )
            self.count += n
            x = np.where(bad, np.float32(0), x)
        return x


class StdinSource(AudioSource):
    """Raw interleaved PCM from a pipe: `ffmpeg ... -f s16le -ar 16000 -ac 1 - | emorig stream --input -`.

    fmt is s16le (default), s32le or f32le; any rate and channel count is mixed
    to mono and resampled. End of input ends the stream; a trailing partial
    sample (a pipe cut mid-sample) is dropped.
    """

    def __init__(self, stream=None, fmt: str = "s16le", rate: int = SAMPLE_RATE, channels: int = 1):
        if fmt not in PCM_FORMATS:
            raise InputError(f"raw PCM format {fmt!r} is not supported (use one of {', '.join(PCM_FORMATS)})")
        if not isinstance(channels, (int, np.integer)) or not 1 <= channels <= 64:
            raise InputError(f"channel count {channels!r} is not usable (expected 1 to 64)")
        self.rate = check_rate(rate, what="input sample rate")
        if stream is None:
            if sys.stdin is None:
                raise InputError("--input - reads raw PCM from standard input, but there is none")
            if sys.stdin.isatty():
                raise InputError(
                    "--input - reads raw PCM from standard input, but it is a terminal; pipe audio in, "
                    "e.g. ffmpeg -i talk.mp3 -f s16le -ar 16000 -ac 1 - | emorig stream --input -"
                )
            stream = sys.stdin
        self.stream = getattr(stream, "buffer", stream)  # a text stream's bytes underneath
        self.fmt, self.channels, self.name = fmt, int(channels), "stdin"
        self.dtype = np.dtype(PCM_FORMATS[fmt])
        self.frame_bytes = self.dtype.itemsize * self.channels
        self.resampler = StreamResampler(self.rate)
        self.guard = NonFiniteGuard(self.name)
        self._leftover = b""
        self._chunker: _Rechunker | None = None
        self._closed = False

    @property
    def nonfinite_samples(self) -> int:
        return self.guard.count

    def _decode(self, raw: bytes) -> np.ndarray:
        x = np.frombuffer(raw, dtype=self.dtype).reshape(-1, self.channels)
        if self.fmt == "s16le":
            x = x.astype(np.float32) / 32768.0
        elif self.fmt == "s32le":
            x = (x.astype(np.float64) / 2147483648.0).astype(np.float32)
        else:
            x = x.astype(np.float32)
        return self.guard(to_mono(x))

    def blocks(self, block_size: int = DEFAULT_BLOCK_SIZE) -> Iterator[AudioBlock]:
        block_size = _check_block_size(block_size)
        if self._chunker is None:
            self._chunker = _Rechunker(block_size)
        chunker = self._chunker
        chunker.block_size = block_size
        # read about one output block of input at a time, so a live pipe is not held back
        read_size = max(1, math.ceil(block_size * self.rate / SAMPLE_RATE)) * self.frame_bytes
        while not self._closed:
            raw = self.stream.read(read_size)
            if not raw:
                break
            raw = self._leftover + raw
            usable = len(raw) - len(raw) % self.frame_bytes
            self._leftover = raw[usable:]
            if usable:
                yield from chunker.push(self.resampler.process(self._decode(raw[:usable])))
        if self._leftover:
            log.warning("%s: the input ended mid-sample; %d trailing byte(s) ignored", self.name, len(self._leftover))
            self._leftover = b""
        if not self._closed:
            yield from chunker.push(self.resampler.flush())
            yield from chunker.flush()

    def close(self) -> None:
        self._closed = True


def open_input(
    spec=None,
    *,
    realtime: bool = False,
    fmt: str = "s16le",
    rate: int = SAMPLE_RATE,
    channels: int = 1,
    block_ms: float = 10.0,
) -> AudioSource:
    """The source a command line names: a path, "-" for raw PCM on stdin, or "mic" / "mic:DEVICE" (None = default mic)."""
    if spec is None or spec == "mic" or (isinstance(spec, str) and spec.startswith("mic:")):
        from bridge.devices import MicSource

        device = spec[4:] if isinstance(spec, str) and spec.startswith("mic:") else None
        return MicSource(device, block_ms=block_ms)
    if spec == "-":
        return StdinSource(None, fmt=fmt, rate=rate, channels=channels)
    return FileSource(spec, realtime=realtime)
