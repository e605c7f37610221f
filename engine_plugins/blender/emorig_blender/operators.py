"""The add-on's operators: import a take, animate a sound file, start and stop the live receiver."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import bpy
from bpy_extras.io_utils import ImportHelper

from . import bake, live_session, prefs, runner, takes_io
from .csv_take import TakeError

LAST: dict = {}  # the latest operator's outcome, for scripts and tests (the panel shows last_report)


def _target_name(self, context) -> str:
    if self.object_name:
        return self.object_name
    settings = context.scene.emorig
    if settings.target is not None:
        return settings.target.name
    return context.active_object.name if context.active_object else ""


def import_file(context, object_name: str, path: str, start_frame: int, use_emorig: bool = True) -> dict:
    """Read, fit and bake one take; BakeError/TakeError carry a one-line reason."""
    obj = bake.find_mesh(object_name, context)
    take = takes_io.read(path, use_emorig)
    fitted, fit = takes_io.fit_to_shape_keys(take, bake.shape_key_names(obj))
    if fit.count == 0:
        raise bake.BakeError(
            f"no shape key of {obj.name!r} matches a curve of {Path(path).name} "
            f"(curves like {', '.join(take.curves[:3])}; keys like {', '.join(fit.unmatched_keys[:3])})"
        )
    info = bake.bake_take(obj, fitted, start_frame, bake.scene_fps(context.scene), fit, f"emorig {Path(path).stem}")
    info.update(
        matched=fit.count,
        unmatched_curves=fit.unmatched_curves,
        unmatched_keys=fit.unmatched_keys,
        space=fitted.space or "",
        reader="emorig" if take.extra.get("emorig") else "csv fallback",
        summary=f"{obj.name}: {fit.summary()}",
    )
    return info


def _finish(self, context, info: dict) -> set:
    LAST.clear()
    LAST.update(info)
    context.scene.emorig.last_report = info["summary"]
    self.report({"INFO"}, info["summary"])
    return {"FINISHED"}


def _fail(self, context, message: str) -> set:
    LAST.clear()
    LAST.update(error=message)
    context.scene.emorig.last_report = message
    self.report({"ERROR"}, message)
    return {"CANCELLED"}


class EMORIG_OT_import_take(bpy.types.Operator, ImportHelper):
    """Import an emorig take (Live Link Face CSV, JSON or NPZ) as shape-key animation"""

    bl_idname = "emorig.import_take"
    bl_label = "Import emorig take"
    bl_options = {"REGISTER", "UNDO"}

    filter_glob: bpy.props.StringProperty(default="*.csv;*.json;*.npz", options={"HIDDEN"})
    object_name: bpy.props.StringProperty(
        name="Object", description="Mesh to animate (default: the panel's face or the active object)"
    )
    start_frame: bpy.props.IntProperty(name="Start frame", default=1)
    use_emorig: bpy.props.BoolProperty(
        name="Use emorig's readers",
        description="Read with emorig when it imports (off: the add-on's CSV reader)",
        default=True,
    )

    def execute(self, context):
        try:
            info = import_file(context, _target_name(self, context), self.filepath, self.start_frame, self.use_emorig)
        except (TakeError, bake.BakeError) as e:
            return _fail(self, context, str(e))
        return _finish(self, context, info)


class EMORIG_OT_animate_audio(bpy.types.Operator, ImportHelper):
    """Animate the face from a speech recording with emorig, and add the sound in sync"""

    bl_idname = "emorig.animate_audio"
    bl_label = "Animate from audio"
    bl_options = {"REGISTER", "UNDO"}

    filter_glob: bpy.props.StringProperty(default="*.wav;*.flac;*.ogg;*.mp3;*.m4a;*.mov;*.mp4", options={"HIDDEN"})
    object_name: bpy.props.StringProperty(name="Object")
    emotion: bpy.props.EnumProperty(
        name="Emotion", items=[(e, e.title(), "") for e in runner.EMOTIONS], default="neutral"
    )
    intensity: bpy.props.FloatProperty(name="Intensity", default=0.6, min=0.0, max=2.0)
    start_frame: bpy.props.IntProperty(name="Start frame", default=1)
    take_path: bpy.props.StringProperty(
        name="Save take as", description="Where to keep the take (default: a temporary file)", subtype="FILE_PATH"
    )
    add_sound: bpy.props.BoolProperty(name="Add sound strip", default=True)

    def execute(self, context):
        audio = bpy.path.abspath(self.filepath)
        if not os.path.isfile(audio):
            return _fail(self, context, f"{audio}: sound file not found")
        out = bpy.path.abspath(self.take_path) if self.take_path else ""
        if not out:
            out = os.path.join(tempfile.mkdtemp(prefix="emorig-"), Path(audio).stem + ".csv")
        p = prefs.get()
        try:
            args = runner.animate_args(
                audio, out, self.emotion, self.intensity, runner.take_rate(bake.scene_fps(context.scene))
            )
            if p is not None and p.runner == "MODULE":
                runner.run_in_process(args)
            else:
                runner.run_command(p.command if p else "emorig", args)
            info = import_file(context, _target_name(self, context), out, self.start_frame)
        except (runner.RunError, TakeError, bake.BakeError) as e:
            return _fail(self, context, str(e))
        if self.add_sound:
            scene = context.scene
            seq = scene.sequence_editor or scene.sequence_editor_create()
            channel = 1 + max((s.channel for s in seq.sequences_all), default=0)
            strip = seq.sequences.new_sound(Path(audio).stem, audio, channel, self.start_frame)
            scene.sync_mode = "AUDIO_SYNC"  # playback drops frames rather than drifting from the voice
            info["sound_strip"] = strip.name
        info["take"] = out
        return _finish(self, context, info)


class EMORIG_OT_live_start(bpy.types.Operator):
    """Listen for `emorig stream` and drive the face live"""

    bl_idname = "emorig.live_start"
    bl_label = "Start live"

    port: bpy.props.IntProperty(name="Port", default=prefs.DEFAULT_PORT, min=1, max=65535)
    host: bpy.props.StringProperty(
        name="Host", description="Address to listen on (default: the preferences', 127.0.0.1)"
    )
    transport: bpy.props.EnumProperty(name="Transport", items=[("OSC", "OSC", ""), ("ZMQ", "ZeroMQ", "")])
    object_name: bpy.props.StringProperty(name="Object")
    record: bpy.props.BoolProperty(name="Record", default=True)
    subject: bpy.props.StringProperty(name="Subject", description="Only this subject (default: the first one heard)")

    def execute(self, context):
        p = prefs.get()
        host = self.host or (p.bind_host if p else "127.0.0.1")
        try:
            obj = bake.find_mesh(_target_name(self, context), context)
            s = live_session.start(obj.name, self.transport, host, self.port, self.record, self.subject)
        except (ValueError, bake.BakeError) as e:
            return _fail(self, context, str(e))
        return _finish(self, context, {"summary": f"listening on {s.receiver.address} for {obj.name}"})


class EMORIG_OT_live_stop(bpy.types.Operator):
    """Stop listening; bake what was recorded into keyframes"""

    bl_idname = "emorig.live_stop"
    bl_label = "Stop live"

    bake: bpy.props.BoolProperty(name="Bake recording", default=True)

    def execute(self, context):
        s, info = live_session.stop(self.bake)
        if s is None:
            return _fail(self, context, "the live receiver is not running")
        status = s.status()
        text = f"stopped: {status['frames']} frames, {status['dropped']} dropped"
        if info:
            text += f", {info['frames']} frames baked into {info['action']}"
        return _finish(self, context, dict(status, bake=info, summary=text))


CLASSES = (EMORIG_OT_import_take, EMORIG_OT_animate_audio, EMORIG_OT_live_start, EMORIG_OT_live_stop)
