"""Sinks: where the engine's frames go — Unreal, VRChat, OSC tools, ZeroMQ clients, or a take file.

    sink = open_sink("livelinkface://192.168.1.20:11111?subject=Ada", subject="ada", registry=registry)
    sink.send(frame)  # never blocks, never raises for network trouble
    sink.stats        # SinkStats(sent, dropped, errors, skipped, last_error)
    sink.close()      # idempotent; a file sink writes its take here

URLs (docs/protocol.md specifies every byte):

    livelinkface://HOST:PORT[?subject=NAME][&device=ID][&rotations=unit|rad|deg]
    osc://HOST:PORT[?mode=compact|curves|vrchat][&subject=NAME][&timetag=immediate|wall]
        with mode=vrchat also [&deadband=0.01][&max_hz=30][&refresh=1][&prefix=FT/]
    zmq://HOST:PORT[?hwm=64]            (binds; 127.0.0.1/localhost/::1 unless allow_remote)
    PATH.csv | PATH.json | PATH.npz | file://PATH

Network sinks send whatever the engine gives them without waiting: UDP sockets are
non-blocking and a failed send (refused, no buffer space) is counted, never raised;
ZeroMQ sends with NOBLOCK against a small high-water mark and counts what it drops.
The only exception `send` raises is InputError, when a frame's rig space cannot be
converted to the one a sink needs (FLAME to Live Link Face without a mapping): that is
a setup mistake the user must see, not a network hiccup.
"""

from __future__ import annotations

import dataclasses
import errno
import math
import socket
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlsplit

import numpy as np

from retarget.errors import InputError
from retarget.mappings import retarget_frames
from retarget.spaces import RigSpace, get_space
from retarget.takes import WRITERS, Take, write_take

from . import protocol
from .frames import Frame

if TYPE_CHECKING:  # pyzmq is imported by the ZeroMQ sink only: a take written to a file never loads it
    import zmq

ANNOUNCE_PERIOD = 1.0  # seconds of audio clock between repeats of OSC names / ZeroMQ static
BIND_RETRIES = 20  # x 50 ms
DEFAULT_ZMQ_HWM = 64  # messages queued per subscriber: about a second at 60 fps, then drop
LOOPBACK_HOSTS = {"127.0.0.1": "127.0.0.1", "localhost": "127.0.0.1", "::1": "::1"}
_DROPPED, _ERROR = "dropped", "error"
# Errors that mean "no room right now": the frame is dropped, the next one may pass.
_BACKPRESSURE = {errno.EAGAIN, errno.EWOULDBLOCK, errno.ENOBUFS}


@dataclasses.dataclass
class SinkStats:
    sent: int = 0  # frames handed to the OS / ZeroMQ, or collected for the file
    dropped: int = 0  # frames lost to back-pressure (full buffer, high-water mark) or sent after close
    errors: int = 0  # frames that failed: refused, unreachable, not encodable, file not written
    skipped: int = 0  # frames left out on purpose (VRChat rate limit)
    last_error: str = ""


class Sink:
    """Base of every sink: `send(frame)`, `close()`, `stats`. Subclasses implement _send/_close."""

    def __init__(self, url: str, subject: str):
        self.url = url
        self.subject = subject
        self._stats = SinkStats()
        self._closed = False

    @property
    def stats(self) -> SinkStats:
        return dataclasses.replace(self._stats)  # a snapshot: safe to read from another thread

    @property
    def closed(self) -> bool:
        return self._closed

    def send(self, frame: Frame) -> None:
        if self._closed:
            # The engine may race a shutdown; a late frame is lost, not an error worth raising.
            self._stats.dropped += 1
            return
        self._send(frame)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r}, subject={self.subject!r})"

    def _send(self, frame: Frame) -> None:
        raise NotImplementedError

    def _close(self) -> None:
        pass

    def _count(self, outcome: tuple[str, str] | None) -> None:
        """Count one frame: None = sent, else (dropped|error, why)."""
        if outcome is None:
            self._stats.sent += 1
            return
        kind, why = outcome
        if kind == _DROPPED:
            self._stats.dropped += 1
        else:
            self._stats.errors += 1
        self._stats.last_error = why


def _worst(outcomes) -> tuple[str, str] | None:
    outcomes = [o for o in outcomes if o is not None]
    errors = [o for o in outcomes if o[0] == _ERROR]
    return (errors or outcomes or [None])[0]


class _Retargeter:
    """Frames of any space -> values of `target`. The conversion is set up once per source space
    (and fails there, with InputError, if no mapping leads to `target`)."""

    def __init__(self, target: RigSpace, mappings=()):
        self.target = target
        self._mappings = tuple(mappings)
        self._by_source: dict[str, object] = {}

    def __call__(self, frame: Frame) -> np.ndarray:
        convert = self._by_source.get(frame.space.name)
        if convert is None:
            convert = self._by_source[frame.space.name] = self._build(frame.space)
        return convert(frame.values)

    def _build(self, source: RigSpace):
        target, mappings = self.target, self._mappings
        if source.name == target.name:
            return lambda v: v
        retarget_frames(source.neutral_frames(1), source, target, mappings)  # raises InputError early

        def convert(v: np.ndarray) -> np.ndarray:
            return retarget_frames(v[None, :], source, target, mappings)[0].astype(np.float32)

        return convert


class _Announcer:
    """When to (re)send what a stream's values mean: at start, on change, and every
    ANNOUNCE_PERIOD seconds of audio clock (so a receiver that joins late catches up)."""

    def __init__(self):
        self._key = None
        self._time = -math.inf

    def due(self, key, t: float) -> bool:
        return key != self._key or t - self._time >= ANNOUNCE_PERIOD or t < self._time

    def done(self, key, t: float) -> None:
        self._key, self._time = key, t


# -- UDP ------------------------------------------------------------------------------------------


class _Udp:
    """A connected, non-blocking UDP socket. Connected so the host is resolved once and the
    kernel reports ICMP errors (ECONNREFUSED from a closed port) to us, where we count them."""

    def __init__(self, url: str, host: str, port: int):
        try:
            family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0]
        except (socket.gaierror, UnicodeError) as e:
            raise _bad(url, f"cannot resolve host {host!r} ({e})") from None
        self.sock = socket.socket(family, kind, proto)
        try:
            self.sock.setblocking(False)
            self.sock.connect(address)
        except OSError as e:
            self.sock.close()
            raise _bad(url, f"cannot send to {host}:{port} ({e.strerror or e})") from None

    def send(self, datagram: bytes) -> tuple[str, str] | None:
        try:
            self.sock.send(datagram)
        except OSError as e:
            kind = _DROPPED if isinstance(e, BlockingIOError) or e.errno in _BACKPRESSURE else _ERROR
            return kind, f"{errno.errorcode.get(e.errno, 'error')}: {e.strerror or e}"
        return None

    def send_all(self, datagrams) -> list[tuple[str, str] | None]:
        return [self.send(d) for d in datagrams]

    def close(self) -> None:
        self.sock.close()


class LiveLinkFaceSink(Sink):
    """Unreal's Live Link Face UDP protocol: one version-6 packet per frame."""

    def __init__(self, url, subject, host, port, *, device_id: str, rotations: str, mappings=()):
        super().__init__(url, subject)
        self.device_id, self.rotations = device_id, rotations
        self._to_llf = _Retargeter(get_space("livelinkface"), mappings)
        self._udp = _Udp(url, host, port)

    def _send(self, frame: Frame) -> None:
        values = self._to_llf(frame)
        try:
            rate = protocol.frame_rate_fraction(frame.fps)
            number, sub = protocol.frame_time(frame.time, rate)
            packet = protocol.encode_livelinkface(
                device_id=self.device_id,
                subject=self.subject,
                frame_number=number,
                sub_frame=sub,
                rate=rate,
                values=protocol.livelinkface_wire_values(values, self.rotations),
            )
        except ValueError as e:
            self._count((_ERROR, f"frame {frame.number} not encodable: {e}"))
            return
        self._count(self._udp.send(packet))

    def _close(self) -> None:
        self._udp.close()


class _VrchatThrottle:
    """Which VRChat parameters to send on a frame. Every OSC message costs VRChat work and each
    synced parameter competes for a small network budget, so: at most `max_hz` updates a second;
    in each, only parameters that moved more than `deadband` since they were last sent; plus a
    rolling refresh of those not sent for `refresh` seconds, oldest first and a few per update,
    so an avatar reloaded mid-stream (or a lost datagram) catches up without one big burst."""

    def __init__(self, n: int, deadband: float, max_hz: float, refresh: float):
        self.deadband, self.interval, self.refresh = deadband, 1.0 / max_hz, refresh
        self.budget = max(1, math.ceil(n / (max_hz * refresh)))  # stale ones per update
        self._value = np.full(n, np.nan, dtype=np.float32)
        self._sent_at = np.full(n, -np.inf)
        self._update_at = -np.inf

    def pick(self, t: float, values: np.ndarray) -> np.ndarray | None:
        """Indices to send now, or None if this frame is within the rate limit."""
        if t < self._update_at:  # the stream restarted or seeked: start over
            self._value[:] = np.nan
            self._sent_at[:] = -np.inf
        elif t - self._update_at < self.interval - 1e-9:
            return None
        self._update_at = t
        changed = ~(np.abs(values - self._value) <= self.deadband)  # NaN (never sent) counts as changed
        stale = np.flatnonzero(~changed & (t - self._sent_at >= self.refresh))
        stale = stale[np.argsort(self._sent_at[stale], kind="stable")][: self.budget]
        return np.union1d(np.flatnonzero(changed), stale)

    def mark(self, index: int, t: float, value: float) -> None:
        self._value[index] = value
        self._sent_at[index] = t


class OscSink(Sink):
    """OSC over UDP in one of three modes: compact (one bundle per frame, for plugins), curves
    (one message per curve, for TouchDesigner / Max), vrchat (Unified Expressions parameters)."""

    def __init__(self, url, subject, host, port, *, mode: str, timetag: str, vrchat=None, mappings=()):
        super().__init__(url, subject)
        self.mode, self.timetag = mode, timetag
        self._names = _Announcer()
        if mode == "vrchat":
            self._vrcft = get_space("vrcft")
            self._to_vrcft = _Retargeter(self._vrcft, mappings)
            self._prefix = vrchat["prefix"]
            self._throttle = _VrchatThrottle(len(self._vrcft), vrchat["deadband"], vrchat["max_hz"], vrchat["refresh"])
        self._udp = _Udp(url, host, port)

    def _tag(self) -> int:
        # "immediate" by default: a receiver that honours time tags (liblo, python-osc) would hold
        # a bundle stamped by a sender whose clock runs ahead of its own.
        return protocol.OSC_IMMEDIATELY if self.timetag == "immediate" else protocol.ntp_timetag(time.time())

    def _send(self, frame: Frame) -> None:
        if self.mode == "vrchat":
            self._send_vrchat(frame)
            return
        try:
            if self.mode == "compact":
                key = (frame.space.name, frame.space.curves, float(frame.fps))
                if self._names.due(key, frame.time):
                    names = protocol.osc_compact_names(self.subject, frame.space.name, frame.fps, frame.space.curves)
                    if self._udp.send(names) is None:
                        self._names.done(key, frame.time)
                datagrams = [
                    protocol.osc_compact_frame(
                        self.subject,
                        frame.number,
                        frame.time,
                        frame.space.name,
                        frame.values,
                        frame.emotion,
                        frame.emotion_probs,
                        frame.intensity,
                        timetag=self._tag(),
                    )
                ]
            else:
                datagrams = protocol.osc_curves_frame(
                    self.subject,
                    frame.number,
                    frame.time,
                    frame.space.curves,
                    frame.values,
                    frame.emotion,
                    frame.emotion_probs,
                    frame.intensity,
                    timetag=self._tag(),
                )
        except ValueError as e:
            self._count((_ERROR, f"frame {frame.number} not encodable: {e}"))
            return
        self._count(_worst(self._udp.send_all(datagrams)))

    def _send_vrchat(self, frame: Frame) -> None:
        values = self._to_vrcft(frame)
        if not np.isfinite(values).all():
            self._count((_ERROR, f"frame {frame.number} has non-finite values"))
            return
        picks = self._throttle.pick(frame.time, values)
        if picks is None:
            self._stats.skipped += 1
            return
        outcomes = []
        for i in picks:
            name, value = self._vrcft.curves[i], float(values[i])
            outcome = self._udp.send(protocol.osc_vrchat_parameter(name, value, self._prefix))
            if outcome is None:
                self._throttle.mark(i, frame.time, value)  # unsent ones stay "changed" and go again
            outcomes.append(outcome)
        self._count(_worst(outcomes))

    def _close(self) -> None:
        self._udp.close()


# -- ZeroMQ ---------------------------------------------------------------------------------------


class _SharedPub:
    """One bound PUB socket that the sinks of several subjects publish on. ZeroMQ sockets are not
    thread-safe, hence the lock."""

    def __init__(self, context: zmq.Context, endpoint: str, hwm: int, ipv6: bool):
        import zmq

        self._zmq = zmq  # for send(), once per frame: no import statement on the hot path
        self.endpoint, self.hwm, self.users = endpoint, hwm, 0
        self._lock = threading.Lock()
        self.sock = context.socket(zmq.PUB)
        self.sock.setsockopt(zmq.SNDHWM, hwm)
        self.sock.setsockopt(zmq.LINGER, 0)  # closing never waits for a slow subscriber
        # Without NODROP a PUB socket discards silently at the high-water mark; with it, a NOBLOCK
        # send says EAGAIN instead, so the drop can be counted. It never blocks either way.
        self.sock.setsockopt(zmq.XPUB_NODROP, 1)
        if ipv6:
            self.sock.setsockopt(zmq.IPV6, 1)
        # ZeroMQ closes sockets in its I/O thread, so a port this process just released may still
        # be held for a moment: retry briefly before calling the address taken.
        for attempt in range(BIND_RETRIES + 1):
            try:
                self.sock.bind(endpoint)
                break
            except zmq.ZMQError as e:
                if e.errno != errno.EADDRINUSE or attempt == BIND_RETRIES:
                    self.sock.close(linger=0)
                    raise
                time.sleep(0.05)

    def send(self, topic: bytes, payload: bytes) -> tuple[str, str] | None:
        zmq = self._zmq
        with self._lock:
            try:
                # Two frames, topic then payload; a multipart message is queued whole or not at all.
                self.sock.send_multipart([topic, payload], flags=zmq.NOBLOCK)
            except zmq.Again:
                return _DROPPED, "a subscriber's queue is at the high-water mark"
            except zmq.ZMQError as e:
                return _ERROR, f"zmq: {e}"
        return None

    def close(self) -> None:
        with self._lock:
            self.sock.close(linger=0)


class SinkRegistry:
    """What sinks share: one ZeroMQ context and one PUB socket per bound address, counted by
    users, so several subjects can stream on one zmq:// URL. The engine owns one registry and
    closes it after its sinks."""

    def __init__(self):
        self._lock = threading.Lock()
        self._context: zmq.Context | None = None
        self._pubs: dict[str, _SharedPub] = {}

    def acquire_pub(self, url: str, host: str, port: int, hwm: int) -> _SharedPub:
        import zmq

        ipv6 = ":" in host
        endpoint = f"tcp://[{host}]:{port}" if ipv6 else f"tcp://{host}:{port}"
        with self._lock:
            pub = self._pubs.get(endpoint)
            if pub is None:
                if self._context is None:
                    self._context = zmq.Context()
                try:
                    pub = _SharedPub(self._context, endpoint, hwm, ipv6)
                except zmq.ZMQError as e:
                    raise _bad(url, f"cannot bind {endpoint} ({e})") from None
                self._pubs[endpoint] = pub
            elif pub.hwm != hwm:
                raise _bad(url, f"{endpoint} is already open with hwm={pub.hwm}")
            pub.users += 1
            return pub

    def release_pub(self, pub: _SharedPub) -> None:
        with self._lock:
            pub.users -= 1
            if pub.users <= 0 and self._pubs.get(pub.endpoint) is pub:
                del self._pubs[pub.endpoint]
                pub.close()

    def close(self) -> None:
        """Close every socket still open and the context. Sinks closed later do no harm."""
        with self._lock:
            for pub in self._pubs.values():
                pub.close()
            self._pubs.clear()
            if self._context is not None:
                self._context.term()
                self._context = None

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class ZmqSink(Sink):
    """One subject on a shared ZeroMQ PUB socket: topic = subject, payload = msgpack."""

    def __init__(self, url, subject, registry: SinkRegistry, host, port, *, hwm: int, own_registry: bool = False):
        super().__init__(url, subject)
        self._registry, self._own_registry = registry, own_registry
        self._pub = registry.acquire_pub(url, host, port, hwm)
        self._topic = subject.encode("utf-8")
        self._static = _Announcer()

    def _send(self, frame: Frame) -> None:
        key = (frame.space.name, frame.space.curves, float(frame.fps))
        try:
            if self._static.due(key, frame.time):
                static = protocol.zmq_static(self.subject, frame.space.name, frame.fps, frame.space.curves)
                if self._pub.send(self._topic, static) is None:
                    self._static.done(key, frame.time)
            payload = protocol.zmq_frame(
                self.subject,
                frame.number,
                frame.time,
                frame.space.name,
                frame.values,
                frame.emotion,
                frame.emotion_probs,
                frame.intensity,
            )
        except ValueError as e:
            self._count((_ERROR, f"frame {frame.number} not encodable: {e}"))
            return
        self._count(self._pub.send(self._topic, payload))

    def _close(self) -> None:
        self._registry.release_pub(self._pub)
        if self._own_registry:
            self._registry.close()


# -- files ----------------------------------------------------------------------------------------


class FileSink(Sink):
    """Collects frames and writes one take at close, atomically (retarget.takes.write_take): the
    file appears complete or not at all. A .csv of ARKit frames becomes a Live Link Face take
    (the same 52 shapes, renamed; rotations zero); other spaces write a generic CSV."""

    def __init__(self, url, subject, path: Path, mappings=()):
        super().__init__(url, subject)
        self.path = path
        self._mappings = tuple(mappings)
        self._to: _Retargeter | None = None
        self._rows: list[np.ndarray] = []
        self._emotions: list[str] = []
        self._intensities: list[float] = []
        self._fps = self._start = None

    def _send(self, frame: Frame) -> None:
        if self._to is None:
            space = frame.space
            if self.path.suffix.lower() == ".csv" and space.name == "arkit":
                space = get_space("livelinkface")
            self._to = _Retargeter(space, self._mappings)
            self._fps, self._start = frame.fps, frame.time
        row = np.array(self._to(frame), dtype=np.float32)
        bad = ~np.isfinite(row)
        if bad.any():
            # Keep the frame (a take's times come from its row count) but make it readable.
            row[bad] = self._to.target.neutral[bad]
            self._count((_ERROR, f"frame {frame.number}: non-finite values written as neutral"))
        else:
            self._stats.sent += 1
        self._rows.append(row)
        self._emotions.append(frame.emotion)
        self._intensities.append(frame.intensity)

    def _close(self) -> None:
        if not self._rows:
            return  # no frames, no file: an empty take would not read back
        take = Take(
            self._to.target,
            self._fps,
            np.stack(self._rows),
            start=self._start,
            meta={"emotion": self._emotions, "intensity": self._intensities},
        )
        self._rows, self._emotions, self._intensities = [], [], []
        try:
            write_take(take, self.path)
        except Exception as e:
            self._stats.errors += 1
            self._stats.last_error = str(e)
            raise


# -- URLs -----------------------------------------------------------------------------------------

_OPTIONS = {
    "livelinkface": {"subject", "device", "rotations"},
    "osc": {"mode", "subject", "timetag", "deadband", "max_hz", "refresh", "prefix"},
    "zmq": {"hwm"},
}
_VRCHAT_OPTIONS = {"deadband": (0.01, 0.0, 1.0), "max_hz": (30.0, 1.0, 1000.0), "refresh": (1.0, 0.05, 3600.0)}


def _bad(url: str, message: str) -> InputError:
    return InputError(f"sink {url}: {message}")


def _query(url: str, query: str, allowed: set[str]) -> dict[str, str]:
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError:
        raise _bad(url, f"cannot read the query {query!r} (use ?key=value&key=value)") from None
    options: dict[str, str] = {}
    for key, value in pairs:
        if key not in allowed:
            raise _bad(url, f"unknown option {key!r}; known: {', '.join(sorted(allowed))}")
        if key in options:
            raise _bad(url, f"option {key!r} given twice")
        options[key] = value
    return options


def _number(url: str, options: dict, key: str, default: float, lo: float, hi: float) -> float:
    if key not in options:
        return default
    try:
        value = float(options[key])
    except ValueError:
        value = math.nan
    if not lo <= value <= hi:
        raise _bad(url, f"{key}={options[key]!r} must be a number from {lo:g} to {hi:g}")
    return value


def _choice(url: str, options: dict, key: str, choices, default: str) -> str:
    value = options.get(key, default)
    if value not in choices:
        raise _bad(url, f"{key}={value!r}; use one of {', '.join(choices)}")
    return value


def _name(url: str, value: str, what: str) -> str:
    size = len(value.encode("utf-8"))
    if not value.strip() or size > protocol.LLF_MAX_NAME_BYTES:
        raise _bad(url, f"{what} must be 1 to {protocol.LLF_MAX_NAME_BYTES} bytes of text, got {value!r}")
    return value


def _open_file(url: str, subject: str, mappings) -> FileSink:
    path = Path(url[len("file://") :] if url.lower().startswith("file://") else url)
    if path.suffix.lower() not in WRITERS:
        raise _bad(url, f"unknown file type {path.suffix or '(none)'!r}; use .csv, .json or .npz")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise _bad(url, f"folder {folder} does not exist")
    return FileSink(url, subject, path, mappings)


def open_sink(
    url: str, *, subject: str, registry: SinkRegistry | None = None, allow_remote: bool = False, mappings=()
) -> Sink:
    """A sink for `url` streaming the frames of `subject`. InputError (one line naming the URL)
    for anything wrong with the URL. `registry` shares ZeroMQ sockets between subjects (a
    private one is made if None); `allow_remote` lets zmq:// bind to a non-loopback address;
    `mappings` are the user's retarget mappings for sinks that convert rig spaces."""
    url = url.strip()
    _name(url, subject, "subject")
    if "://" not in url or url.lower().startswith("file://"):
        return _open_file(url, subject, mappings)
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in _OPTIONS:
        raise _bad(url, f"unknown scheme {scheme!r}; use livelinkface://, osc://, zmq:// or a .csv/.json/.npz file")
    if parts.path not in ("", "/") or parts.fragment:
        raise _bad(url, "a sink URL has no path or fragment; options go in ?key=value")
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        raise _bad(url, "the port must be a number from 1 to 65535") from None
    if not host:
        raise _bad(url, f"missing host (e.g. {scheme}://127.0.0.1:PORT)")
    if port is None or port == 0:
        usual = {"livelinkface": 11111, "osc": 9000, "zmq": 5555}[scheme]
        raise _bad(url, f"missing port (e.g. {scheme}://{host}:{usual})")
    options = _query(url, parts.query, _OPTIONS[scheme])

    if scheme == "livelinkface":
        name = _name(url, options.get("subject", subject), "subject")
        device = _name(url, options["device"], "device") if "device" in options else protocol.default_device_id(name)
        rotations = _choice(url, options, "rotations", tuple(protocol.ROTATION_UNITS), protocol.DEFAULT_ROTATION_UNIT)
        return LiveLinkFaceSink(url, name, host, port, device_id=device, rotations=rotations, mappings=mappings)

    if scheme == "osc":
        mode = _choice(url, options, "mode", ("compact", "curves", "vrchat"), "compact")
        timetag = _choice(url, options, "timetag", ("immediate", "wall"), "immediate")
        name = options.get("subject", subject)
        if mode != "vrchat" and not protocol.osc_name_ok(name):
            raise _bad(
                url, f"subject {name!r} cannot be part of an OSC address; pass &subject= with letters, digits, _ . -"
            )
        vrchat = None
        if mode == "vrchat":
            vrchat = {k: _number(url, options, k, *spec) for k, spec in _VRCHAT_OPTIONS.items()}
            prefix = options.get("prefix", "")
            prefix = prefix if not prefix or prefix.endswith("/") else prefix + "/"
            if prefix and not all(protocol.osc_name_ok(p) for p in prefix.split("/")[:-1]):
                raise _bad(url, f"prefix {options['prefix']!r} must be names separated by / (e.g. FT/)")
            vrchat["prefix"] = prefix
        elif any(k in options for k in (*_VRCHAT_OPTIONS, "prefix")):
            raise _bad(url, "deadband, max_hz, refresh and prefix apply only to mode=vrchat")
        return OscSink(url, name, host, port, mode=mode, timetag=timetag, vrchat=vrchat, mappings=mappings)

    # zmq
    bind_host = LOOPBACK_HOSTS.get(host.lower())
    if bind_host is None:
        if not allow_remote:
            raise _bad(
                url, f"refusing to publish on {host}: only 127.0.0.1, localhost or ::1 unless remote access is allowed"
            )
        bind_host = "*" if host in ("*", "0.0.0.0") else host
    hwm = _number(url, options, "hwm", DEFAULT_ZMQ_HWM, 1, 1_000_000)
    if not float(hwm).is_integer():
        raise _bad(url, f"hwm={options['hwm']!r} must be a whole number of messages")
    own = registry is None
    registry = registry if registry is not None else SinkRegistry()
    try:
        return ZmqSink(url, subject, registry, bind_host, port, hwm=int(hwm), own_registry=own)
    except InputError:
        if own:
            registry.close()
        raise
