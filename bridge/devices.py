"""Sound devices through PortAudio (sounddevice): listing, choosing, the microphone, playback.

sounddevice is imported inside the functions that need it: importing it loads
the PortAudio library, which a server or CI machine may not have, and every
other command must work there. Without PortAudio the user gets one line
saying what to install, never a traceback.

The microphone is read in PortAudio's callback thread, which must never wait:
the callback only copies the block into a bounded deque (when the consumer is
slow the oldest block falls out; the gap is counted from the blocks' positions)
and wakes the consumer. Everything else (mixing, resampling, reconnecting)
happens in the consumer's thread, in `MicSource.blocks()`.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from bridge.audio import (
    SAMPLE_RATE,
    AudioBlock,
    AudioSource,
    NonFiniteGuard,
    StreamResampler,
    _check_block_size,
    _Rechunker,
    resample,
    to_mono,
)
from retarget.errors import InputError

log = logging.getLogger("emorig.audio")

INSTALL_PORTAUDIO = "apt install libportaudio2, or brew install portaudio"


def import_sounddevice(purpose: str = "input"):
    """The sounddevice module, or InputError saying in one line what is missing."""
    try:
        import sounddevice
    except OSError:  # the package is there but its PortAudio library is not
        raise InputError(f"no audio {purpose}: PortAudio is not installed ({INSTALL_PORTAUDIO})") from None
    except ImportError:
        raise InputError(
            f"no audio {purpose}: the sounddevice package is not installed (pip install sounddevice)"
        ) from None
    return sounddevice


@dataclass(frozen=True)
class AudioDevice:
    index: int  # PortAudio's device index, what --device N means
    name: str
    channels: int  # input channels for an input device, output channels for an output device
    default_samplerate: float
    hostapi: str  # ALSA, PulseAudio, Core Audio, WASAPI, ...
    is_default: bool


def _list_devices(sd, kind: str) -> list[AudioDevice]:
    key = "max_input_channels" if kind == "input" else "max_output_channels"
    try:
        infos = list(sd.query_devices())
        try:
            default = sd.query_devices(kind=kind)["index"]
        except (sd.PortAudioError, ValueError, KeyError, TypeError):
            default = None  # PortAudio knows no default for this kind
        apis = {}
        devices = []
        for i, info in enumerate(infos):
            if info.get(key, 0) <= 0:
                continue
            api = info.get("hostapi", 0)
            if api not in apis:
                apis[api] = sd.query_hostapis(api)["name"]
            index = info.get("index", i)
            devices.append(
                AudioDevice(
                    index, info["name"], int(info[key]), float(info["default_samplerate"]), apis[api], index == default
                )
            )
    except sd.PortAudioError as e:
        raise InputError(f"no audio {kind}: PortAudio cannot list the devices ({e})") from None
    return devices


def list_input_devices() -> list[AudioDevice]:
    """The devices that can record, for `emorig devices`."""
    return _list_devices(import_sounddevice("input"), "input")


def list_output_devices() -> list[AudioDevice]:
    return _list_devices(import_sounddevice("output"), "output")


def format_devices(devices: list[AudioDevice] | None = None, kind: str = "input") -> str:
    """A text table of the devices, the default marked with *."""
    if devices is None:
        devices = list_input_devices() if kind == "input" else list_output_devices()
    if not devices:
        return f"no audio {kind} devices found"
    width = max(4, *(len(d.name) for d in devices))
    lines = [f"    {'#':>3}  {'name':<{width}}  {'channels':>8}  {'rate':>6}  host API"]
    for d in devices:
        mark = "*" if d.is_default else " "
        lines.append(
            f"  {mark} {d.index:>3}  {d.name:<{width}}  {d.channels:>8}  {d.default_samplerate:>6.0f}  {d.hostapi}"
        )
    how = "--input mic:INDEX or mic:PART-OF-NAME" if kind == "input" else "--output-device INDEX or PART-OF-NAME"
    lines.append(f"(* = default {kind}; choose another with {how})")
    return "\n".join(lines)


def select_device(spec=None, kind: str = "input", devices: list[AudioDevice] | None = None) -> AudioDevice:
    """A device by index, by name or part of a name (case-insensitive), or the default (spec None).

    An exact name wins over partial matches; a part that fits several devices
    is an error that lists them, so the user can pick one by index.
    """
    if devices is None:
        devices = _list_devices(import_sounddevice(kind), kind)
    if not devices:
        raise InputError(f"no audio {kind}: no {kind} device found (see emorig devices)")
    if spec is None or (isinstance(spec, str) and not spec.strip()):
        default = next((d for d in devices if d.is_default), None)
        if default is None:
            default = devices[0]
            log.info("no default audio %s device; using %d %r", kind, default.index, default.name)
        return default
    if isinstance(spec, (int, np.integer)) or (isinstance(spec, str) and spec.strip().isdigit()):
        index = int(spec)
        for d in devices:
            if d.index == index:
                return d
        raise InputError(f"no audio {kind} device has index {index} (see emorig devices)")
    text = str(spec).strip().lower()
    exact = [d for d in devices if d.name.lower() == text]
    matches = exact or [d for d in devices if text in d.name.lower()]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise InputError(f"no audio {kind} device matches {spec!r} (see emorig devices)")
    listed = "; ".join(f"{d.index} {d.name!r}" for d in matches)
    raise InputError(f"{spec!r} matches {len(matches)} audio {kind} devices: {listed}; choose one by index")


def _reinitialize_portaudio(sd) -> None:
    """PortAudio lists devices as they were at start-up; a replugged device shows up only after this.

    It stops every PortAudio stream of the process, which is why it runs only
    while the microphone is lost.
    """
    terminate, initialize = getattr(sd, "_terminate", None), getattr(sd, "_initialize", None)
    if terminate and initialize:
        try:
            terminate()
            initialize()
        except Exception as e:  # best effort: reopening the old device may still work
            log.debug("re-initializing PortAudio failed: %s", e)


class _Capture:
    """What one open stream's PortAudio callback shares with the consumer.

    Each (re)opened stream gets a fresh one, so a late callback from a stream
    being torn down can never leak stale audio or a stale "finished" into the
    new stream.
    """

    def __init__(self, maxlen: int, wake: threading.Event):
        # items: (device-rate index of the first sample, [frames, channels] float32)
        self.queue: collections.deque = collections.deque(maxlen=maxlen)
        self.wake = wake
        self.captured = 0  # device-rate samples seen
        self.finished = False
        self.overflows = 0

    def callback(self, indata, frames, time_info, status) -> None:
        # PortAudio's thread: copy (PortAudio reuses indata), queue, wake. A full deque drops
        # its oldest item by itself; no locks, no logging, nothing that can wait.
        if status:
            self.overflows += 1
        self.queue.append((self.captured, indata.copy()))
        self.captured += frames
        self.wake.set()

    def finished_callback(self) -> None:
        self.finished = True
        self.wake.set()


class MicSource(AudioSource):
    """A microphone (or any input device) as 16 kHz mono blocks.

    device: None for the default, an index, or part of a name. The device is
    opened at 16 kHz when it allows that, else at its own rate and resampled.
    If it disappears (unplugged, driver error, or no audio for stall_timeout s)
    that is logged and it is reopened, by name, with backoff (backoff[0]
    doubling up to backoff[1] s) until it is back or the source is closed; the
    audio clock then jumps by the time without audio (lost_samples). Blocks
    the consumer was too slow to take are dropped oldest first; the clock
    skips them too (dropped_samples).
    """

    def __init__(
        self,
        device=None,
        block_ms: float = 10.0,
        *,
        queue_ms: float = 2000.0,
        stall_timeout: float = 2.0,
        backoff: tuple[float, float] = (0.5, 8.0),
        poll_s: float = 0.05,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] | None = None,
    ):
        if not (isinstance(block_ms, (int, float)) and 0 < block_ms <= 1000):
            raise InputError(f"block length {block_ms!r} ms is not usable (expected more than 0, at most 1000)")
        self._sd = import_sounddevice("input")
        self.spec, self.block_ms = device, float(block_ms)
        self.stall_timeout, self.backoff, self.poll_s = stall_timeout, backoff, poll_s
        self._closing = threading.Event()
        # waiting on _closing makes the backoff end at once when close() is called from another thread
        self.clock, self.sleep = clock, sleep or self._closing.wait
        self._queue_len = max(2, int(queue_ms / self.block_ms))
        self._wake = threading.Event()
        self._stream = None
        self._started = False
        self._chunker: _Rechunker | None = None
        self.device = select_device(device, "input", _list_devices(self._sd, "input"))
        self.name = self.device.name
        self.guard = NonFiniteGuard(self.name)
        self.dropped_samples = 0  # at 16 kHz: audio the consumer was too slow for
        self.lost_samples = 0  # at 16 kHz: audio missed while the device was gone
        self.reconnects = 0
        self._overflows_before = 0  # from streams already closed
        self._open(self.device)

    # -- the PortAudio side ------------------------------------------------------

    def _settings(self, device: AudioDevice) -> tuple[int, int]:
        """(rate, channels) the device accepts, preferring 16 kHz mono (no resampling, no mixing)."""
        sd = self._sd
        tries = [(SAMPLE_RATE, 1), (int(device.default_samplerate), 1)]
        tries += [(SAMPLE_RATE, device.channels), (int(device.default_samplerate), device.channels)]
        error = None
        for rate, channels in tries:
            try:
                sd.check_input_settings(device=device.index, channels=channels, dtype="float32", samplerate=rate)
                return rate, channels
            except (sd.PortAudioError, ValueError) as e:
                error = e
        raise InputError(f"audio input {device.index} {device.name!r} cannot be opened ({error})")

    def _open(self, device: AudioDevice) -> None:
        sd = self._sd
        rate, channels = self._settings(device)
        capture = _Capture(self._queue_len, self._wake)
        try:
            stream = sd.InputStream(
                device=device.index,
                channels=channels,
                samplerate=rate,
                dtype="float32",
                blocksize=max(1, int(round(rate * self.block_ms / 1000))),
                callback=capture.callback,
                finished_callback=capture.finished_callback,
            )
        except (sd.PortAudioError, ValueError) as e:
            raise InputError(f"audio input {device.index} {device.name!r} cannot be opened ({e})") from None
        self.device, self.rate, self.channels = device, rate, channels
        self._stream, self._capture = stream, capture
        self._resampler = StreamResampler(rate)
        self._in_origin = 0  # device-rate index where the resampler's input began
        self._last_data = self.clock()
        log.info("audio input: %d %r at %d Hz, %d channel(s)", device.index, device.name, rate, channels)

    def _lost(self) -> str | None:
        """Why the stream is gone, or None while it is healthy."""
        stream = self._stream
        if stream is None:
            return "the stream was closed"
        if self._capture.finished:
            return "the stream stopped"
        try:
            if not stream.active:
                return "the stream stopped"
        except self._sd.PortAudioError as e:
            return str(e)
        silent = self.clock() - self._last_data
        if silent > self.stall_timeout:
            return f"no audio for {silent:.1f} s"
        return None

    def _close_stream(self) -> None:
        stream, self._stream = self._stream, None
        if stream is None:
            return
        self._overflows_before += self._capture.overflows
        for step in ("stop", "close"):
            try:
                getattr(stream, step)()
            except Exception:  # a stream whose device is gone fails to stop; it is being dropped anyway
                pass

    def _reconnect(self, reason: str) -> int | None:
        """Reopen after a loss, with backoff: the samples (16 kHz) missed, or None if closed meanwhile."""
        log.warning("audio input %r lost (%s); reopening", self.name, reason)
        lost_at = self._last_data
        self._close_stream()
        delay, attempt = self.backoff[0], 0
        while not self._closing.is_set():
            self.sleep(delay)
            if self._closing.is_set():
                break
            attempt += 1
            _reinitialize_portaudio(self._sd)
            try:
                devices = _list_devices(self._sd, "input")
                # by name first: after a replug the device may come back under another index
                named = [d for d in devices if d.name == self.name]
                self._open(named[0] if named else select_device(self.spec, "input", devices))
                self._stream.start()
            except (InputError, self._sd.PortAudioError) as e:
                log.info("audio input %r: reopening attempt %d failed (%s)", self.name, attempt, e)
                self._close_stream()
                delay = min(delay * 2, self.backoff[1])
                continue
            missed = max(0, int(round((self.clock() - lost_at) * SAMPLE_RATE)))
            self.lost_samples += missed
            self.reconnects += 1
            self.name = self.device.name
            log.warning(
                "audio input %r reopened (attempt %d); %.2f s of audio missed", self.name, attempt, missed / SAMPLE_RATE
            )
            return missed
        return None

    # -- the consumer side -------------------------------------------------------

    def blocks(self, block_size: int | None = None) -> Iterator[AudioBlock]:
        """Blocks of block_size samples (default: block_ms of audio), until close()."""
        if block_size is None:
            block_size = max(1, int(round(SAMPLE_RATE * self.block_ms / 1000)))
        block_size = _check_block_size(block_size)
        if self._chunker is None:
            self._chunker = _Rechunker(block_size)
        chunker = self._chunker
        chunker.block_size = block_size
        if not self._started:
            self._start()
        reported_overflows = self.overflows
        while not self._closing.is_set():
            try:
                start, data = self._capture.queue.popleft()
            except IndexError:
                reason = self._lost()
                if reason is None or self._closing.is_set():
                    self._wake.wait(self.poll_s)
                    self._wake.clear()
                    continue
                # what the resampler still holds belongs before the gap
                yield from chunker.push(self._resampler.flush())
                missed = self._reconnect(reason)
                if missed is None:
                    break
                yield from chunker.skip(missed)
                continue
            self._last_data = self.clock()
            if self.overflows != reported_overflows:
                log.debug("audio input %r: PortAudio reported input overflow", self.name)
                reported_overflows = self.overflows
            if start > self._in_origin + self._resampler.n_in:
                yield from self._skip(chunker, start)
            yield from chunker.push(self._resampler.process(self.guard(to_mono(data))))
        self._close_stream()  # closed meanwhile: a reconnect may have opened a stream after close()

    def _skip(self, chunker: _Rechunker, start: int) -> Iterator[AudioBlock]:
        """Blocks fell out of the full queue: close the resampled segment and move the clock past the hole."""
        missing = start - (self._in_origin + self._resampler.n_in)
        if self.dropped_samples == 0:
            log.warning(
                "audio input %r: the consumer is too slow; oldest audio dropped (see dropped_samples)", self.name
            )
        yield from chunker.push(self._resampler.flush())
        skipped = int(round(missing * SAMPLE_RATE / self.rate))
        self.dropped_samples += skipped
        self._resampler.reset()
        self._in_origin = start
        yield from chunker.skip(skipped)

    def _start(self) -> None:
        try:
            self._stream.start()
        except self._sd.PortAudioError as e:
            raise InputError(f"audio input {self.device.index} {self.name!r} cannot be started ({e})") from None
        self._started = True
        self._last_data = self.clock()

    @property
    def overflows(self) -> int:
        """Times PortAudio reported input overflow (audio lost before our callback ran)."""
        return self._overflows_before + (self._capture.overflows if self._stream is not None else 0)

    @property
    def nonfinite_samples(self) -> int:
        return self.guard.count

    def close(self) -> None:
        self._closing.set()
        self._wake.set()
        self._close_stream()


class Player:
    """Plays 16 kHz mono float32 through a sound device and tells how far it has got.

    `position` is the sample (on the 16 kHz audio clock) leaving the speaker
    now: the samples handed to PortAudio, minus its output latency, advanced
    smoothly between callbacks with the monotonic clock. The engine shows the
    frame for that time, so the face stays in sync with what is heard.
    A device that is lost mid-playback ends playback with a log line.
    """

    def __init__(self, samples: np.ndarray, *, device=None, clock: Callable[[], float] = time.monotonic):
        self._sd = sd = import_sounddevice("output")
        self.clock = clock
        self.samples = np.asarray(samples, dtype=np.float32).reshape(-1)
        self.device = select_device(device, "output", _list_devices(sd, "output"))
        try:
            sd.check_output_settings(device=self.device.index, channels=1, dtype="float32", samplerate=SAMPLE_RATE)
            self.rate = SAMPLE_RATE
        except (sd.PortAudioError, ValueError):
            self.rate = int(self.device.default_samplerate)
        self._out = self.samples if self.rate == SAMPLE_RATE else resample(self.samples, SAMPLE_RATE, self.rate)
        self._written = 0  # device-rate samples handed to PortAudio
        self._callback_at: tuple[int, float, float] | None = None  # (written before, clock, latency s)
        self._floor = 0
        self._done = threading.Event()
        self._stream = None
        self._stopping = False

    def start(self) -> Player:
        sd = self._sd
        try:
            self._stream = sd.OutputStream(
                device=self.device.index,
                channels=1,
                samplerate=self.rate,
                dtype="float32",
                callback=self._callback,
                finished_callback=self._on_finished,
            )
            self._stream.start()
        except (sd.PortAudioError, ValueError) as e:
            raise InputError(f"audio output {self.device.index} {self.device.name!r} cannot be opened ({e})") from None
        log.info("playing on %d %r at %d Hz", self.device.index, self.device.name, self.rate)
        return self

    def _callback(self, outdata, frames, time_info, status) -> None:
        chunk = self._out[self._written : self._written + frames]
        outdata[: len(chunk), 0] = chunk
        outdata[len(chunk) :] = 0
        latency = getattr(time_info, "outputBufferDacTime", 0.0) - getattr(time_info, "currentTime", 0.0)
        if not 0 < latency < 1:  # some host APIs report no times; use the stream's own estimate
            latency = float(getattr(self._stream, "latency", 0.0) or 0.0)
        self._callback_at = (self._written, self.clock(), latency)
        self._written += len(chunk)
        if len(chunk) < frames:
            raise self._sd.CallbackStop

    def _on_finished(self) -> None:
        if self._written < len(self._out) and not self._stopping:
            log.warning("audio output %r stopped before the end of playback", self.device.name)
        self._done.set()

    @property
    def position(self) -> int:
        """Sample index (16 kHz) being heard now; never goes backwards."""
        if self._done.is_set() and self._written >= len(self._out):
            return len(self.samples)
        if self._callback_at is None:
            return self._floor
        written_before, at, latency = self._callback_at
        played = written_before + (self.clock() - at - latency) * self.rate
        played = min(max(played, 0.0), self._written)
        pos = min(int(round(played * SAMPLE_RATE / self.rate)), len(self.samples))
        self._floor = max(self._floor, pos)
        return self._floor

    @property
    def time(self) -> float:
        return self.position / SAMPLE_RATE

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        return self._done.wait(timeout)

    def close(self) -> None:
        self._stopping = True
        stream, self._stream = self._stream, None
        if stream is not None:
            for step in ("stop", "close"):
                try:
                    getattr(stream, step)()
                except Exception:  # the device may already be gone
                    pass
        self._done.set()

    stop = close

    def __enter__(self) -> Player:
        return self.start() if self._stream is None else self

    def __exit__(self, *exc) -> None:
        self.close()
