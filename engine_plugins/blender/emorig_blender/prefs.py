"""Add-on preferences (how to run emorig, where its package is) and the per-scene settings."""

from __future__ import annotations

import os
import sys

import bpy

from .runner import EMOTIONS

ADDON = __package__  # "emorig_blender", or "bl_ext.<repo>.emorig_blender" as a 4.2+ extension
DEFAULT_PORT = 11120
_added_paths: list[str] = []


def get() -> bpy.types.AddonPreferences | None:
    addon = bpy.context.preferences.addons.get(ADDON)
    return addon.preferences if addon else None


def apply_package_path(self=None, context=None) -> None:
    """Put the preferences' emorig folder on sys.path, so its readers and retargeting import."""
    p = get()
    wanted = bpy.path.abspath(p.package_path) if p and p.package_path else ""
    for old in _added_paths:
        if old in sys.path and old != wanted:
            sys.path.remove(old)
    _added_paths[:] = []
    if wanted and os.path.isdir(wanted):
        if wanted not in sys.path:
            sys.path.insert(0, wanted)
        _added_paths.append(wanted)


class EmorigPreferences(bpy.types.AddonPreferences):
    bl_idname = ADDON

    runner: bpy.props.EnumProperty(
        name="Run emorig",
        items=[
            ("COMMAND", "Command", "Run the emorig command line (installed on PATH, or the command set below)"),
            ("MODULE", "Blender's Python", "Import the emorig package inside Blender's Python (needs torch there)"),
        ],
        default="COMMAND",
    )
    command: bpy.props.StringProperty(
        name="emorig command",
        description="Command line that runs emorig, e.g. emorig, or /path/to/venv/bin/emorig",
        default="emorig",
    )
    package_path: bpy.props.StringProperty(
        name="emorig package folder",
        description="A folder holding emorig's retarget/ package (a checkout or site-packages); "
        "lets the add-on read JSON/NPZ takes and retarget to MetaHuman or VRChat shape keys",
        subtype="DIR_PATH",
        default="",
        update=apply_package_path,
    )
    bind_host: bpy.props.StringProperty(
        name="Listen on",
        description="Address the live receiver binds; 127.0.0.1 accepts only this computer. "
        "0.0.0.0 accepts the network (open it only on a network you trust)",
        default="127.0.0.1",
    )

    def draw(self, context):
        col = self.layout.column()
        col.prop(self, "runner")
        if self.runner == "COMMAND":
            col.prop(self, "command")
        col.prop(self, "package_path")
        col.prop(self, "bind_host")


class EmorigSettings(bpy.types.PropertyGroup):
    target: bpy.props.PointerProperty(
        name="Face", type=bpy.types.Object, poll=lambda self, obj: obj.type == "MESH", description="Mesh to animate"
    )
    start_frame: bpy.props.IntProperty(name="Start frame", default=1)
    emotion: bpy.props.EnumProperty(name="Emotion", items=[(e, e.title(), "") for e in EMOTIONS], default="neutral")
    intensity: bpy.props.FloatProperty(name="Intensity", default=0.6, min=0.0, max=2.0)
    transport: bpy.props.EnumProperty(
        name="Transport",
        items=[("OSC", "OSC", "osc://HOST:PORT (UDP)"), ("ZMQ", "ZeroMQ", "zmq://HOST:PORT (needs pyzmq)")],
    )
    port: bpy.props.IntProperty(name="Port", default=DEFAULT_PORT, min=1, max=65535)
    record: bpy.props.BoolProperty(name="Record", description="Bake what arrives into keyframes on stop", default=True)
    last_report: bpy.props.StringProperty(name="Last result", default="")


CLASSES = (EmorigPreferences, EmorigSettings)
