"""The live receiver inside Blender: a bpy timer polls a non-blocking socket, puts the newest
frame on the shape keys, and (optionally) records every frame for baking when it stops.

The UI never waits: each tick reads what has arrived (at most live.MAX_PACKETS_PER_POLL
datagrams) and returns. Nothing a sender does can raise out of the tick: bad datagrams are
counted by the decoder; an error while driving the mesh is counted too and shown in the panel.
"""

from __future__ import annotations

import bpy

from . import bake, live, matching

TICK_S = 1 / 120  # twice a 60 fps stream: a frame waits at most half a frame
RECORD_LIMIT = 60 * 60 * 60  # an hour at 60 fps; past it recording stops, driving goes on


class Session:
    def __init__(self, receiver, object_name: str, record: bool, subject: str, start_frame: int):
        self.receiver = receiver
        self.object_name = object_name
        self.record = record
        self.subject = subject  # "" = the first subject heard
        self.start_frame = start_frame
        self.layout: live.Layout | None = None
        self.fit: matching.Match | None = None
        self.applied = 0
        self.errors = 0
        self.last_error = ""
        self.times: list[float] = []
        self.rows: list[list[float]] = []
        self.time_offset = 0.0  # a restarted stream's clock begins at 0 again: keep the recording monotonic

    @property
    def decoder(self) -> live.FrameDecoder:
        return self.receiver.decoder

    def status(self) -> dict:
        d = self.decoder
        return {
            "address": self.receiver.address,
            "frames": d.frames,
            "applied": self.applied,
            "dropped": d.dropped,
            "drops": dict(d.drops),
            "recorded": len(self.rows),
            "matched": self.fit.count if self.fit else 0,
            "space": self.layout.space if self.layout else "",
            "errors": self.errors,
            "last_error": self.last_error,
        }

    def _keep(self, frame: live.LiveFrame) -> None:
        if self.subject == "":
            self.subject = frame.subject
        if frame.layout != self.layout:
            if self.rows and self.layout is not None and frame.layout.curves != self.layout.curves:
                # One recording holds one set of curves; a new layout starts from its frames.
                self.times, self.rows = [], []
            self.layout = frame.layout
            self.fit = None
        t = frame.time + self.time_offset
        if self.times and t <= self.times[-1]:
            self.time_offset += self.times[-1] - t + 1.0 / self.layout.fps
            t = self.times[-1] + 1.0 / self.layout.fps
        if self.record and len(self.rows) < RECORD_LIMIT:
            self.times.append(t)
            self.rows.append(list(frame.values))

    def poll(self) -> None:
        newest = None
        for frame in self.receiver.poll():
            if self.subject and frame.subject != self.subject:
                continue
            self._keep(frame)
            newest = frame
        if newest is None:
            return
        obj = bpy.data.objects.get(self.object_name)
        if obj is None or obj.type != "MESH" or obj.data.shape_keys is None:
            raise RuntimeError(f"object {self.object_name!r} is gone or has no shape keys")
        if self.fit is None:
            self.fit = matching.match(self.layout.curves, bake.shape_key_names(obj))
        blocks = obj.data.shape_keys.key_blocks
        for shape, col in self.fit.pairs.items():
            kb = blocks.get(shape)
            if kb is not None:
                kb.value = newest.values[col]
        self.applied += 1


_session: Session | None = None


def current() -> Session | None:
    return _session


def tick() -> float | None:
    """The timer callback (bpy.app.timers); returns the next interval, None once stopped."""
    s = _session
    if s is None:
        return None
    try:
        s.poll()
    except Exception as e:  # a tick must never take Blender's timer down; count and show it
        s.errors += 1
        s.last_error = f"{type(e).__name__}: {e}"
    _redraw()
    return TICK_S


def _redraw() -> None:
    wm = getattr(bpy.context, "window_manager", None)
    for window in wm.windows if wm else ():
        for area in window.screen.areas:
            if area.type == "VIEW_3D":
                area.tag_redraw()


def start(object_name: str, transport: str, host: str, port: int, record: bool, subject: str = "") -> Session:
    global _session
    if _session is not None:
        raise ValueError(f"already listening on {_session.receiver.address}; stop it first")
    receiver = live.open_receiver(transport, port, host)
    _session = Session(receiver, object_name, record, subject, bpy.context.scene.frame_current)
    if not bpy.app.timers.is_registered(tick):
        bpy.app.timers.register(tick, first_interval=0.0, persistent=True)
    return _session


def stop(bake_recording: bool = True) -> tuple[Session | None, dict | None]:
    """Close the socket; bake what was recorded onto the mesh. Returns the session and bake info."""
    global _session
    s, _session = _session, None
    if bpy.app.timers.is_registered(tick):
        bpy.app.timers.unregister(tick)
    if s is None:
        return None, None
    s.receiver.close()
    info = None
    obj = bpy.data.objects.get(s.object_name)
    if bake_recording and s.record and s.rows and obj is not None and s.layout is not None:
        fit = matching.match(s.layout.curves, bake.shape_key_names(obj))
        fps = bake.scene_fps(bpy.context.scene)
        info = bake.bake_recording(
            obj, s.layout.curves, s.times, s.rows, s.start_frame, fps, fit, f"emorig live {s.subject or 'take'}"
        )
    return s, info
