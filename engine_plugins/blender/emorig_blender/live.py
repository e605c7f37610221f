"""Receiving `emorig stream` without Blender: decode OSC compact / ZeroMQ frames, count drops.

No bpy here, so the same code is tested by pytest against emorig's golden vectors and
driven inside Blender by a timer (live_session.py). Every datagram is validated;
anything malformed is counted by reason and dropped, never raised.
"""

from __future__ import annotations

import math
import socket
import struct
from collections import Counter
from dataclasses import dataclass

from .msgpack_read import MsgpackError, unpackb
from .osc import OscError, parse_packet

SCHEMA_VERSION = 1  # of emorig's OSC compact and ZeroMQ formats (docs/protocol.md)
MAX_DATAGRAM = 65535
MAX_PACKETS_PER_POLL = 4096  # a flood cannot keep one timer tick busy for ever
EMOTION_COUNT = 8


@dataclass(frozen=True)
class Layout:
    """What a subject's values mean, from its latest names (OSC) or static (ZeroMQ) message."""

    space: str
    fps: float
    curves: tuple[str, ...]


@dataclass(frozen=True)
class LiveFrame:
    subject: str
    number: int
    time: float
    layout: Layout
    values: tuple[float, ...]


class Dropped(Exception):
    """Internal: a datagram to count under `reason` and drop."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def _subject(address: str, leaf: str) -> str | None:
    parts = address.split("/")
    if len(parts) == 4 and parts[0] == "" and parts[1] == "emorig" and parts[3] == leaf and parts[2]:
        return parts[2]
    return None


def _finite(values) -> bool:
    return all(math.isfinite(v) for v in values)


class FrameDecoder:
    """Keeps the latest layout per subject; turns frames into LiveFrames; counts what it drops."""

    def __init__(self) -> None:
        self.layouts: dict[str, Layout] = {}
        self.frames = 0
        self.drops: Counter = Counter()

    @property
    def dropped(self) -> int:
        return sum(self.drops.values())

    def _accept(self, decode, *args) -> LiveFrame | None:
        try:
            frame = decode(*args)
        except Dropped as d:
            self.drops[d.reason] += 1
            return None
        if frame is not None:
            self.frames += 1
        return frame

    def _frame(self, subject: str, number, time, space, values) -> LiveFrame:
        layout = self.layouts.get(subject)
        if layout is None:
            raise Dropped("no_names_yet")  # a receiver started late waits at most a second
        if space != layout.space:
            raise Dropped("space_changed")
        if len(values) != len(layout.curves):
            raise Dropped("wrong_value_count")
        if not (_finite(values) and math.isfinite(time)):
            raise Dropped("non_finite_value")
        return LiveFrame(subject, int(number), float(time), layout, tuple(values))

    def _layout(self, subject: str, schema, space, fps, curves) -> None:
        if schema != SCHEMA_VERSION:
            raise Dropped("unsupported_schema")
        if not (isinstance(fps, (int, float)) and math.isfinite(fps) and fps > 0):
            raise Dropped("bad_fps")
        if not isinstance(space, str) or not all(isinstance(c, str) for c in curves):
            raise Dropped("bad_names")
        self.layouts[subject] = Layout(space, float(fps), tuple(curves))

    # -- OSC compact ------------------------------------------------------------------------------
    def feed_osc(self, datagram: bytes) -> LiveFrame | None:
        return self._accept(self._osc, datagram)

    def _osc(self, datagram: bytes) -> LiveFrame | None:
        if len(datagram) > MAX_DATAGRAM:
            raise Dropped("oversized")
        try:
            _, messages = parse_packet(datagram)
        except (OscError, struct.error):
            raise Dropped("bad_osc") from None
        found = {}
        for address, tags, args in messages:
            for leaf in ("names", "frame", "values"):
                subject = _subject(address, leaf)
                if subject is not None:
                    found[leaf] = (subject, tags, args)
        if "names" in found:
            subject, tags, args = found["names"]
            if tags[:1] == "i" and args[0] != SCHEMA_VERSION:
                raise Dropped("unsupported_schema")
            if not tags.startswith("isf") or set(tags[3:]) - {"s"}:
                raise Dropped("bad_arguments")
            self._layout(subject, *args[:3], args[3:])
            return None
        if "frame" not in found or "values" not in found:
            raise Dropped("unknown_address")
        (subject, frame_tags, frame_args), (values_subject, value_tags, values) = found["frame"], found["values"]
        if values_subject != subject:
            raise Dropped("mixed_subjects")
        if not frame_tags.startswith("ids") or set(value_tags) - {"f"}:
            raise Dropped("bad_arguments")
        number, time, space = frame_args[:3]
        return self._frame(subject, number, time, space, values)

    # -- ZeroMQ -----------------------------------------------------------------------------------
    def feed_zmq(self, topic: bytes, payload: bytes) -> LiveFrame | None:
        return self._accept(self._zmq, topic, payload)

    def _zmq(self, topic: bytes, payload: bytes) -> LiveFrame | None:
        try:
            doc = unpackb(payload)
        except (MsgpackError, struct.error):
            raise Dropped("not_msgpack") from None
        if not isinstance(doc, dict):
            raise Dropped("not_a_map")
        kind, subject = doc.get("type"), doc.get("subject")
        if not isinstance(kind, str) or "schema" not in doc:
            raise Dropped("missing_field")
        if doc["schema"] != SCHEMA_VERSION:
            raise Dropped("unsupported_schema")
        if kind not in ("static", "frame"):
            return None  # a message type of a newer sender (it may carry no subject): ignored, not an error
        if not isinstance(subject, str):
            raise Dropped("missing_field")
        if kind == "static":
            curves = doc.get("curves")
            if not isinstance(curves, list):
                raise Dropped("missing_field")
            self._layout(subject, doc["schema"], doc.get("space"), doc.get("fps"), curves)
            return None
        raw, number, time = doc.get("values"), doc.get("number"), doc.get("time")
        if not isinstance(raw, bytes) or not isinstance(number, int) or not isinstance(time, (int, float)):
            raise Dropped("bad_field")
        if len(raw) % 4:
            raise Dropped("bad_values_length")
        values = struct.unpack(f"<{len(raw) // 4}f", raw)
        return self._frame(subject, number, time, doc.get("space"), values)


class UdpReceiver:
    """A non-blocking UDP socket for `emorig stream --sink osc://HOST:PORT`."""

    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        if not 1 <= port <= 65535:
            raise ValueError(f"port {port} is not 1..65535")
        self.decoder = FrameDecoder()
        self.sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
        # A larger buffer rides out a UI hitch of a few hundred ms without kernel drops.
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        try:
            self.sock.bind((host, port))
        except OSError as e:
            self.sock.close()
            raise ValueError(f"cannot listen on {host}:{port} ({e.strerror or e})") from None
        self.sock.setblocking(False)
        self.address = f"osc://{host}:{port}"

    def poll(self) -> list[LiveFrame]:
        frames = []
        for _ in range(MAX_PACKETS_PER_POLL):
            try:
                data = self.sock.recv(MAX_DATAGRAM + 1)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                self.decoder.drops["socket_error"] += 1  # e.g. ICMP errors surfacing on Windows
                continue
            frame = self.decoder.feed_osc(data)
            if frame is not None:
                frames.append(frame)
        return frames

    def close(self) -> None:
        self.sock.close()


class ZmqReceiver:
    """A SUB socket connected to `emorig stream --sink zmq://HOST:PORT` (needs pyzmq)."""

    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        try:
            import zmq
        except ImportError:
            raise ValueError("ZeroMQ needs pyzmq in Blender's Python; use OSC instead") from None
        if not 1 <= port <= 65535:
            raise ValueError(f"port {port} is not 1..65535")
        self._zmq = zmq
        self.decoder = FrameDecoder()
        self.context = zmq.Context.instance()
        self.sock = self.context.socket(zmq.SUB)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.setsockopt(zmq.MAXMSGSIZE, 1 << 20)
        self.sock.setsockopt(zmq.SUBSCRIBE, b"")
        self.sock.connect(f"tcp://{host}:{port}")
        self.address = f"zmq://{host}:{port}"

    def poll(self) -> list[LiveFrame]:
        frames = []
        for _ in range(MAX_PACKETS_PER_POLL):
            try:
                parts = self.sock.recv_multipart(self._zmq.NOBLOCK)
            except self._zmq.Again:
                break
            if len(parts) != 2:
                self.decoder.drops["bad_framing"] += 1
                continue
            frame = self.decoder.feed_zmq(*parts)
            if frame is not None:
                frames.append(frame)
        return frames

    def close(self) -> None:
        self.sock.close()


def open_receiver(transport: str, port: int, host: str = "127.0.0.1"):
    if transport == "OSC":
        return UdpReceiver(port, host)
    if transport == "ZMQ":
        return ZmqReceiver(port, host)
    raise ValueError(f"unknown transport {transport!r}; use OSC or ZMQ")
