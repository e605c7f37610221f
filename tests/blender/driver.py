"""Runs inside headless Blender for tests/test_blender_addon.py (and docs/images' screenshot).

    blender -b --factory-startup --python tests/blender/driver.py -- CONFIG.json

CONFIG names the add-on zip, a scenario and its inputs; the scenario writes what it saw to
CONFIG["out"] as JSON, and pytest checks it against the take files read independently.
Any exception exits Blender with status 1 (--python-exit-code), so a failure cannot pass.
"""

import json
import math
import os
import socket
import subprocess
import sys
import time

import bpy

CONFIG = json.load(open(sys.argv[sys.argv.index("--") + 1]))
RESULT: dict = {}


def enable_addon():
    bpy.ops.preferences.addon_install(filepath=CONFIG["zip"])
    bpy.ops.preferences.addon_enable(module="emorig_blender")
    addon = bpy.context.preferences.addons.get("emorig_blender")
    assert addon is not None, "the add-on did not enable"
    prefs = addon.preferences
    prefs.command = CONFIG.get("command", "emorig")
    prefs.package_path = CONFIG.get("package", "")
    import emorig_blender

    RESULT["installed_at"] = os.path.dirname(emorig_blender.__file__)
    RESULT["operators"] = sorted(n for n in dir(bpy.ops.emorig) if not n.startswith("_"))
    RESULT["import_menu"] = any(
        getattr(f, "__module__", "").startswith("emorig_blender")
        for f in bpy.types.TOPBAR_MT_file_import.draw._draw_funcs
    )
    RESULT["panel"] = hasattr(bpy.types, "VIEW3D_PT_emorig")
    return emorig_blender


def make_face(name, shapes, bones=()):
    """A sphere 'head' with one shape key per name; the jaw key drops the lower half."""
    for obj in list(bpy.data.objects):
        bpy.data.objects.remove(obj)
    bpy.ops.mesh.primitive_uv_sphere_add(radius=1.0, segments=32, ring_count=16)
    obj = bpy.context.active_object
    obj.name = name
    obj.shape_key_add(name="Basis", from_mix=False)
    for shape in shapes:
        kb = obj.shape_key_add(name=shape, from_mix=False)
        if "jaw" in shape.lower() or shape.lower() in ("aa",):
            for v in kb.data:
                if v.co.z < -0.2 and v.co.y < 0:
                    v.co.z -= 0.4 * (-v.co.z)
    if bones:
        bpy.ops.object.armature_add(location=(0, 0, 0))
        arm = bpy.context.active_object
        arm.name = name + "_rig"
        bpy.ops.object.mode_set(mode="EDIT")
        first = arm.data.edit_bones[0]
        first.name = bones[0]
        for b in bones[1:]:
            eb = arm.data.edit_bones.new(b)
            eb.head, eb.tail = (0.3, -0.8, 0.3), (0.3, -1.0, 0.3)
        bpy.ops.object.mode_set(mode="OBJECT")
        obj.parent = arm
        mod = obj.modifiers.new("Armature", "ARMATURE")
        mod.object = arm
    bpy.context.view_layer.objects.active = obj
    return obj


def curves_at(obj, frames):
    """shape key -> {frame: value} from the f-curves the add-on wrote."""
    action = obj.data.shape_keys.animation_data.action
    out = {}
    for fc in action.fcurves:
        name = fc.data_path.split('"')[1]
        out[name] = {str(f): fc.evaluate(f) for f in frames}
        out[name]["keys"] = len(fc.keyframe_points)
    return out


def run_op(op, **kw):
    """Calls an operator; an ERROR report becomes RuntimeError in background mode: keep its text."""
    try:
        return {"result": sorted(op(**kw))}
    except RuntimeError as e:
        return {"error": str(e).strip()}


def scenario_import():
    addon = enable_addon()
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = CONFIG["fps"], 1.0
    obj = make_face("Face", CONFIG["shapes"], CONFIG.get("bones", ()))
    RESULT["imports"] = []
    for item in CONFIG["takes"]:
        got = run_op(
            bpy.ops.emorig.import_take,
            filepath=item["path"],
            object_name="Face",
            start_frame=CONFIG["start_frame"],
            use_emorig=item.get("use_emorig", True),
        )
        if "error" not in got:
            got.update(dict(addon.operators.LAST), curves=curves_at(obj, CONFIG["frames"]))
            arm = obj.parent
            if arm is not None and arm.animation_data and arm.animation_data.action:
                got["bones"] = {
                    f"{fc.data_path.split(chr(34))[1]}[{fc.array_index}]": {
                        str(f): fc.evaluate(f) for f in CONFIG["frames"]
                    }
                    for fc in arm.animation_data.action.fcurves
                }
        RESULT["imports"].append(got)


def scenario_animate():
    addon = enable_addon()
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = CONFIG["fps"], 1.0
    obj = make_face("Face", CONFIG["shapes"])
    got = run_op(
        bpy.ops.emorig.animate_audio,
        filepath=CONFIG["audio"],
        object_name="Face",
        emotion="happy",
        intensity=0.7,
        start_frame=CONFIG["start_frame"],
        take_path=CONFIG.get("take_path", ""),
    )
    RESULT.update(got)
    if "error" in got:
        return
    RESULT.update(dict(addon.operators.LAST))
    fc = obj.data.shape_keys.animation_data.action.fcurves.find('key_blocks["jawOpen"].value')
    RESULT["jaw"] = [[kp.co[0], kp.co[1]] for kp in fc.keyframe_points]
    strips = [s for s in scene.sequence_editor.sequences_all if s.type == "SOUND"]
    RESULT["strips"] = [[s.name, bpy.path.abspath(s.sound.filepath), s.frame_start] for s in strips]
    RESULT["sync_mode"] = scene.sync_mode
    bad = run_op(bpy.ops.emorig.animate_audio, filepath=CONFIG["audio"] + ".missing.wav", object_name="Face")
    RESULT["missing_audio"] = bad.get("error", "")


def _send_all(port, datagrams):
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for d in datagrams:
        tx.sendto(d, ("127.0.0.1", port))
    tx.close()


def scenario_live():
    addon = enable_addon()
    live = addon.live_session
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = CONFIG["fps"], 1.0
    scene.frame_current = CONFIG["start_frame"]
    obj = make_face("Face", CONFIG["shapes"])
    port = CONFIG["port"]
    RESULT["start"] = run_op(bpy.ops.emorig.live_start, port=port, object_name="Face", record=True)
    # Background Blender runs no event loop, so timers never fire: prove the timer is the
    # registered path, then call that same callback at the UI's pace.
    RESULT["timer_registered"] = bpy.app.timers.is_registered(live.tick)
    RESULT["second_start"] = run_op(bpy.ops.emorig.live_start, port=port, object_name="Face")
    stream = subprocess.Popen(CONFIG["stream"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    follow, intervals = [], set()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        running = stream.poll() is None
        before = live.current().applied
        intervals.add(live.tick())
        s = live.current()
        if s.applied > before and s.rows:
            # The newest frame received is on the shape keys now.
            jaw_col = s.layout.curves.index("JawOpen")
            follow.append([obj.data.shape_keys.key_blocks["jawOpen"].value, s.rows[-1][jaw_col]])
        if not running:
            break
        time.sleep(1 / 120)
    for _ in range(5):
        time.sleep(0.02)
        live.tick()
    out, err = stream.communicate(timeout=30)
    RESULT["stream_rc"], RESULT["stream_err"] = stream.returncode, err[-2000:]
    RESULT["follow"] = follow
    RESULT["after_stream"] = live.current().status()

    # A flood of malformed datagrams, in batches the socket buffer holds, each batch one tick.
    flood = CONFIG["flood"]
    sent = 0
    for i in range(0, len(flood), 400):
        batch = [bytes.fromhex(h) for h in flood[i : i + 400]]
        _send_all(port, batch)
        sent += len(batch)
        time.sleep(0.05)
        intervals.add(live.tick())
    time.sleep(0.05)
    intervals.add(live.tick())
    RESULT["flood_sent"] = sent
    RESULT["after_flood"] = live.current().status()
    # The receiver still works afterwards: a valid names message and frame are taken.
    _send_all(port, [bytes.fromhex(h) for h in CONFIG["valid_after"]])
    time.sleep(0.05)
    live.tick()
    RESULT["after_valid"] = live.current().status()
    RESULT["intervals"] = sorted(x for x in intervals if x is not None) + [None] * (None in intervals)
    RESULT["recorded_t0"] = live.current().times[0] if live.current().times else None
    RESULT["stop"] = run_op(bpy.ops.emorig.live_stop)
    RESULT["stop_info"] = dict(addon.operators.LAST)
    RESULT["timer_after_stop"] = bpy.app.timers.is_registered(live.tick)
    RESULT["curves"] = curves_at(obj, CONFIG["frames"])
    RESULT["stop_again"] = run_op(bpy.ops.emorig.live_stop)


def scenario_screenshot():
    """A still for docs/blender.md: a take imported onto a simple face, rendered by Workbench."""
    enable_addon()
    scene = bpy.context.scene
    scene.render.fps = 30
    for obj in list(bpy.data.objects):
        bpy.data.objects.remove(obj)
    bpy.ops.mesh.primitive_uv_sphere_add(radius=1.0, segments=48, ring_count=24)
    head = bpy.context.active_object
    head.scale = (0.85, 0.9, 1.1)
    bpy.ops.object.shade_smooth()
    for x in (-0.3, 0.3):  # eyes
        bpy.ops.mesh.primitive_uv_sphere_add(radius=0.12, location=(x, -0.78, 0.3))
        bpy.ops.object.shade_smooth()
    # The mouth carries the shape keys: jawOpen opens it, the smiles lift its corners.
    bpy.ops.mesh.primitive_uv_sphere_add(radius=0.22, location=(0, -0.85, -0.45))
    mouth = bpy.context.active_object
    mouth.name = "Face"
    mouth.scale = (1.0, 0.3, 0.12)
    bpy.ops.object.shade_smooth()
    mouth.shape_key_add(name="Basis", from_mix=False)
    for name, move in [
        ("jawOpen", lambda co: (co.x, co.y, co.z * 4.0 - 0.1 if co.z < 0 else co.z * 1.5)),
        ("mouthSmileLeft", lambda co: (co.x, co.y, co.z + max(0.0, co.x) ** 2 * 3)),
        ("mouthSmileRight", lambda co: (co.x, co.y, co.z + max(0.0, -co.x) ** 2 * 3)),
    ]:
        kb = mouth.shape_key_add(name=name, from_mix=False)
        for v in kb.data:
            v.co = move(v.co)
    mat = bpy.data.materials.new("mouth")
    mat.diffuse_color = (0.15, 0.02, 0.03, 1)
    mouth.data.materials.append(mat)
    bpy.ops.emorig.import_take(filepath=CONFIG["take"], object_name="Face", start_frame=1)
    scene.frame_set(CONFIG["frame"])
    bpy.ops.object.camera_add(location=(0, -5.0, 0.1), rotation=(math.radians(90), 0, 0))
    scene.camera = bpy.context.active_object
    scene.render.engine = "BLENDER_WORKBENCH"
    scene.display.shading.light = "STUDIO"
    scene.display.shading.color_type = "MATERIAL"
    scene.render.resolution_x, scene.render.resolution_y = 640, 480
    scene.render.filepath = CONFIG["image"]
    bpy.ops.render.render(write_still=True)
    RESULT["jaw"] = mouth.data.shape_keys.key_blocks["jawOpen"].value


globals()["scenario_" + CONFIG["scenario"]]()
with open(CONFIG["out"], "w") as f:
    json.dump(RESULT, f)
