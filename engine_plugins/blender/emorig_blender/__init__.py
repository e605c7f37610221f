"""emorig for Blender: speech -> shape-key animation, baked from a take or a sound file, or live.

Blender loads this package as an add-on (bl_info, for 3.x/4.x) or as an extension
(blender_manifest.toml, 4.2+). The bpy-free parts (csv_take, live, osc, msgpack_read,
resample, matching, takes_io, runner) are tested by pytest without Blender; the rest by
tests/test_blender_addon.py inside a headless Blender.
"""

try:
    import bpy
except ImportError:  # imported outside Blender (pytest of the bpy-free cores): no UI parts then
    bpy = None

if bpy is not None:
    from . import live_session, operators, prefs, ui

bl_info = {
    "name": "emorig",
    "author": "emorig contributors",
    "version": (0, 1, 0),
    "blender": (3, 4, 0),
    "location": "File > Import > emorig take; 3D View > Sidebar > emorig",
    "description": "Speech to emotional facial animation on shape keys: import takes, animate audio, live from emorig stream",
    "category": "Animation",
}

_CLASSES = (prefs.CLASSES + operators.CLASSES + ui.CLASSES) if bpy is not None else ()


def register():
    for cls in _CLASSES:
        bpy.utils.register_class(cls)
    bpy.types.Scene.emorig = bpy.props.PointerProperty(type=prefs.EmorigSettings)
    bpy.types.TOPBAR_MT_file_import.append(ui.menu_import)
    prefs.apply_package_path()


def unregister():
    live_session.stop(bake_recording=False)  # closes the socket so the port is free again
    bpy.types.TOPBAR_MT_file_import.remove(ui.menu_import)
    del bpy.types.Scene.emorig
    for cls in reversed(_CLASSES):
        bpy.utils.unregister_class(cls)
