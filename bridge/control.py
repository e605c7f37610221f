"""Control in: set emotion, intensity, transition and mute per subject, and ask for status.

Two doors, both on 127.0.0.1 unless the user explicitly opens them wider:

OSC (UDP), addresses (a subject-less address applies to every subject):
    /emorig[/<subject>]/emotion     s   neutral|happy|sad|angry|surprised|fear|disgust|contempt|auto
    /emorig[/<subject>]/intensity   f   0..2
    /emorig[/<subject>]/transition  f   seconds, 0..10
    /emorig[/<subject>]/mute        i|T|F
    /emorig/status                      replies to the sender: one /emorig/status message per subject
                                        (s subject, s emotion, f intensity, f transition, i mute, i frames)

ZeroMQ (REP), one JSON object per request, one JSON reply:
    {"set": {"subject": "alice", "emotion": "happy", "intensity": 0.8}}  -> {"ok": true}
    {"status": {}}                                                      -> {"ok": true, "subjects": {...}}
    anything wrong                                                      -> {"ok": false, "error": "..."}

Every inbound message is validated. A malformed or oversized one is dropped and
counted by kind; the first of each kind is logged, the rest only counted. A
control channel never stops the stream.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections import Counter
from urllib.parse import urlsplit

from retarget.errors import InputError

from .controls import ControlState

log = logging.getLogger("emorig.control")

MAX_DATAGRAM = 4096  # a control message is a few dozen bytes; anything this big is not one
MAX_REQUEST = 16384
CONTROLS = ("emotion", "intensity", "transition", "mute")


def parse_bind_url(url: str, allow_remote: bool, schemes=("osc", "zmq")) -> tuple[str, str, int]:
    """`osc://127.0.0.1:9001` -> ("osc", host, port); refuses non-loopback hosts unless allowed."""
    parts = urlsplit(url)
    if parts.scheme not in schemes:
        raise InputError(f"control URL {url!r}: use {' or '.join(s + '://HOST:PORT' for s in schemes)}")
    try:
        host, port = parts.hostname or "127.0.0.1", parts.port
    except ValueError:
        port = None
    if port is None:
        raise InputError(f"control URL {url!r} has no valid port")
    if not allow_remote and host not in ("127.0.0.1", "localhost", "::1"):
        raise InputError(f"control URL {url!r} listens beyond this machine; pass --allow-remote to allow it")
    if host not in ("127.0.0.1", "localhost", "::1"):
        log.warning("control on %s:%d accepts commands from the network", host, port)
    return parts.scheme, host, port


class Drops:
    """Counts dropped inbound messages by kind and logs the first of each kind."""

    def __init__(self):
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def __call__(self, kind: str, detail: str) -> None:
        with self._lock:
            self.counts[kind] += 1
            first = self.counts[kind] == 1
        if first:
            log.warning("dropped a control message (%s): %s; further ones of this kind are only counted", kind, detail)


class ControlRouter:
    """Applies validated commands to the subjects' ControlStates."""

    def __init__(self, subjects: dict[str, ControlState], frames_out=lambda name: 0):
        self.subjects = subjects
        self.frames_out = frames_out
        self.drops = Drops()

    def apply(self, subject: str | None, control: str, value) -> None:
        """Raises ValueError (bad value / unknown subject or control); applies nothing then."""
        if control not in CONTROLS:
            raise ValueError(f"unknown control {control!r}")
        targets = list(self.subjects.values()) if subject is None else [self._subject(subject)]
        for state in targets:
            state.update(**{control: value})

    def _subject(self, name: str) -> ControlState:
        if name not in self.subjects:
            raise ValueError(f"unknown subject {name!r}")
        return self.subjects[name]

    def status(self) -> dict:
        out = {}
        for name, state in self.subjects.items():
            v = state.snapshot()
            out[name] = {
                "emotion": v.emotion,
                "intensity": v.intensity,
                "transition": v.transition,
                "mute": v.mute,
                "frames": int(self.frames_out(name)),
            }
        return out


class OscControlServer:
    """A UDP socket read on its own thread; packets parsed with python-osc's parser."""

    def __init__(self, router: ControlRouter, host: str, port: int):
        self.router = router
        self.sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
        try:
            self.sock.bind((host, port))
        except OSError as e:
            raise InputError(f"cannot listen for OSC control on {host}:{port}: {e.strerror}") from None
        self.sock.settimeout(0.2)
        self.address = self.sock.getsockname()[:2]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="osc-control", daemon=True)

    def start(self) -> OscControlServer:
        self._thread.start()
        return self

    def _serve(self) -> None:
        from pythonosc.osc_packet import OscPacket

        while not self._stop.is_set():
            try:
                data, sender = self.sock.recvfrom(65536)
            except TimeoutError:
                continue
            except OSError:
                if self._stop.is_set():
                    return
                continue
            if len(data) > MAX_DATAGRAM:
                self.router.drops("oversized", f"{len(data)} bytes from {sender[0]}")
                continue
            try:
                messages = [m.message for m in OscPacket(data).messages]
            except Exception as e:  # python-osc raises more than its ParseError on garbage
                self.router.drops("malformed", f"{type(e).__name__}: {e}")
                continue
            for message in messages:
                self._handle(message.address, list(message.params), sender)

    def _handle(self, address: str, params: list, sender) -> None:
        parts = address.strip("/").split("/")
        if parts[:1] != ["emorig"] or len(parts) not in (2, 3):
            self.router.drops("unknown address", address)
            return
        if parts[1:] == ["status"]:
            self._reply_status(sender)
            return
        subject, control = (None, parts[1]) if len(parts) == 2 else (parts[1], parts[2])
        if len(params) != 1:
            self.router.drops("wrong arguments", f"{address} takes one argument, got {len(params)}")
            return
        try:
            self.router.apply(subject, control, params[0])
        except ValueError as e:
            self.router.drops("invalid value", f"{address}: {e}")

    def _reply_status(self, sender) -> None:
        from pythonosc.osc_message_builder import OscMessageBuilder

        for name, s in self.router.status().items():
            b = OscMessageBuilder("/emorig/status")
            for arg in (name, s["emotion"], float(s["intensity"]), float(s["transition"]), int(s["mute"]), s["frames"]):
                b.add_arg(arg)
            try:
                self.sock.sendto(b.build().dgram, sender)
            except OSError:
                pass

    def close(self) -> None:
        self._stop.set()
        self.sock.close()
        if self._thread.is_alive():
            self._thread.join(timeout=1)


class ZmqControlServer:
    """A REP socket served on its own thread with JSON requests."""

    def __init__(self, router: ControlRouter, host: str, port: int):
        import zmq

        self.router = router
        self.ctx = zmq.Context.instance()
        self.sock = self.ctx.socket(zmq.REP)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.setsockopt(zmq.MAXMSGSIZE, MAX_REQUEST)  # zmq drops larger messages before we see them
        try:
            self.sock.bind(f"tcp://{host}:{port}")
        except zmq.ZMQError as e:
            self.sock.close()
            raise InputError(f"cannot listen for ZeroMQ control on {host}:{port}: {e}") from None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="zmq-control", daemon=True)

    def start(self) -> ZmqControlServer:
        self._thread.start()
        return self

    def _serve(self) -> None:
        import zmq

        poller = zmq.Poller()
        poller.register(self.sock, zmq.POLLIN)
        while not self._stop.is_set():
            try:
                if not poller.poll(200):
                    continue
                raw = self.sock.recv(zmq.NOBLOCK)
            except zmq.ZMQError:
                if self._stop.is_set():
                    return
                continue
            reply = self.handle(raw)
            try:
                self.sock.send(json.dumps(reply).encode(), zmq.NOBLOCK)
            except zmq.ZMQError:
                pass

    def handle(self, raw: bytes) -> dict:
        try:
            request = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            self.router.drops("malformed", str(e))
            return {"ok": False, "error": "request is not JSON"}
        if not isinstance(request, dict) or len(request) != 1:
            self.router.drops("malformed", "request must be an object with one command")
            return {"ok": False, "error": 'send {"set": {...}} or {"status": {}}'}
        ((command, body),) = request.items()
        if command == "status":
            return {"ok": True, "subjects": self.router.status(), "dropped": dict(self.router.drops.counts)}
        if command != "set" or not isinstance(body, dict):
            self.router.drops("unknown command", str(command)[:40])
            return {"ok": False, "error": f"unknown command {str(command)[:40]!r}"}
        subject = body.get("subject")
        changes = {k: v for k, v in body.items() if k != "subject"}
        if subject is not None and not isinstance(subject, str):
            return {"ok": False, "error": "subject must be a string"}
        try:
            # ControlState.update validates everything before it applies anything.
            targets = list(self.router.subjects.values()) if subject is None else [self.router._subject(subject)]
            for state in targets:
                state.update(**changes)
        except ValueError as e:
            self.router.drops("invalid value", str(e))
            return {"ok": False, "error": str(e)}
        return {"ok": True}

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=1)
        self.sock.close()


def open_control(url: str, router: ControlRouter, allow_remote: bool = False):
    scheme, host, port = parse_bind_url(url, allow_remote)
    server = OscControlServer(router, host, port) if scheme == "osc" else ZmqControlServer(router, host, port)
    return server.start()
