"""Writing rows of curve values as f-curves: shape keys on the mesh, rotations on its bones."""

from __future__ import annotations

import bpy

from . import matching
from .resample import resample, resample_times


class BakeError(ValueError):
    """The object cannot take the animation; the message is one line."""


def scene_fps(scene) -> float:
    return scene.render.fps / scene.render.fps_base


def find_mesh(name: str, context):
    obj = bpy.data.objects.get(name) if name else context.active_object
    if obj is None:
        raise BakeError(f"no object named {name!r}" if name else "no active object: select the face mesh")
    if obj.type != "MESH":
        raise BakeError(f"object {obj.name!r} is a {obj.type.lower()}, not a mesh with shape keys")
    if obj.data.shape_keys is None or len(obj.data.shape_keys.key_blocks) < 2:
        raise BakeError(f"mesh {obj.name!r} has no shape keys besides the basis")
    return obj


def shape_key_names(obj) -> list[str]:
    keys = obj.data.shape_keys
    return [kb.name for kb in keys.key_blocks if kb != keys.reference_key]


def armature_of(obj):
    arm = obj.find_armature()
    if arm is None and obj.parent is not None and obj.parent.type == "ARMATURE":
        arm = obj.parent
    return arm


def _action(id_block, name: str):
    ad = id_block.animation_data or id_block.animation_data_create()
    ad.action = bpy.data.actions.new(name)
    return ad.action


def _fcurve(action, path: str, index: int, frames: list[float], values: list[float]):
    fc = action.fcurves.find(path, index=index) or action.fcurves.new(path, index=index)
    fc.keyframe_points.clear()
    fc.keyframe_points.add(len(frames))
    co = [0.0] * (2 * len(frames))
    co[0::2], co[1::2] = frames, values
    fc.keyframe_points.foreach_set("co", co)
    # Keys sit on every frame: linear keeps the curve through them, with no Bezier overshoot.
    for kp in fc.keyframe_points:
        kp.interpolation = "LINEAR"
    fc.update()
    return fc


def bake_rows(obj, curves, rows, start_frame: int, fit: matching.Match, name: str) -> dict:
    """`rows` already at the scene's rate; frame k goes to `start_frame + k`."""
    frames = [float(start_frame + k) for k in range(len(rows))]
    key_blocks = obj.data.shape_keys.key_blocks
    action = _action(obj.data.shape_keys, f"{name} (shape keys)")
    for shape, col in fit.pairs.items():
        values = [r[col] for r in rows]
        kb = key_blocks[shape]
        # A slider clamps its value: widen it where the take goes past 0..1 (MetaHuman curves do).
        kb.slider_min = min(kb.slider_min, min(values))
        kb.slider_max = max(kb.slider_max, max(values))
        _fcurve(action, f'key_blocks["{bpy.utils.escape_identifier(shape)}"].value', 0, frames, values)
    bones = {}
    arm = armature_of(obj)
    if arm is not None:
        bones = matching.match_bones(curves, [b.name for b in arm.pose.bones])
        if bones:
            arm_action = _action(arm, f"{name} (bones)")
            for bone, axes in bones.items():
                arm.pose.bones[bone].rotation_mode = "XYZ"
                path = f'pose.bones["{bpy.utils.escape_identifier(bone)}"].rotation_euler'
                for col, axis in axes:
                    _fcurve(arm_action, path, axis, frames, [r[col] for r in rows])
    scene = bpy.context.scene
    if rows and scene.frame_end < frames[-1]:
        scene.frame_end = int(frames[-1])
    return {"action": action.name, "frames": len(rows), "bones": sorted(bones)}


def bake_take(obj, take, start_frame: int, fps: float, fit: matching.Match, name: str) -> dict:
    """A take at its own rate -> f-curves at `fps` (interpolated, so no frame is dropped)."""
    rows = resample(take.rows, take.fps, fps)
    return bake_rows(obj, take.curves, rows, start_frame, fit, name)


def bake_recording(obj, curves, times, rows, start_frame: int, fps: float, fit: matching.Match, name: str) -> dict:
    """Frames received live at `times` (audio clock, seconds) -> f-curves at `fps`."""
    return bake_rows(obj, curves, resample_times(times, rows, fps), start_frame, fit, name)
