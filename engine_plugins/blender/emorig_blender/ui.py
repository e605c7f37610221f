"""The 3D view's sidebar panel and the File > Import entry."""

from __future__ import annotations

import bpy

from . import live_session
from .operators import EMORIG_OT_import_take


class VIEW3D_PT_emorig(bpy.types.Panel):
    bl_label = "emorig"
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "emorig"

    def draw(self, context):
        settings = context.scene.emorig
        layout = self.layout
        layout.prop(settings, "target")
        layout.prop(settings, "start_frame")

        box = layout.box()
        box.label(text="Baked", icon="ACTION")
        op = box.operator("emorig.import_take", text="Import take…", icon="IMPORT")
        op.start_frame = settings.start_frame
        row = box.row(align=True)
        row.prop(settings, "emotion", text="")
        row.prop(settings, "intensity")
        op = box.operator("emorig.animate_audio", text="Animate from audio…", icon="SPEAKER")
        op.emotion, op.intensity, op.start_frame = settings.emotion, settings.intensity, settings.start_frame

        box = layout.box()
        box.label(text="Live", icon="REC")
        s = live_session.current()
        if s is None:
            row = box.row(align=True)
            row.prop(settings, "transport", text="")
            row.prop(settings, "port")
            box.prop(settings, "record")
            op = box.operator("emorig.live_start", icon="PLAY")
            op.port, op.transport, op.record = settings.port, settings.transport, settings.record
        else:
            st = s.status()
            box.label(text=st["address"])
            box.label(text=f"Frames {st['frames']}  dropped {st['dropped']}  recorded {st['recorded']}")
            if st["space"]:
                box.label(text=f"{st['space']}: {st['matched']} shape keys driven")
            for reason, n in sorted(st["drops"].items()):
                box.label(text=f"  {reason}: {n}")
            if st["errors"]:
                box.label(text=f"Errors {st['errors']}: {st['last_error']}", icon="ERROR")
            box.operator("emorig.live_stop", icon="PAUSE")
        if settings.last_report:
            layout.label(text=settings.last_report)


def menu_import(self, context):
    self.layout.operator(EMORIG_OT_import_take.bl_idname, text="emorig take (.csv, .json, .npz)")


CLASSES = (VIEW3D_PT_emorig,)
