"""Export: the File > Export operator; the files themselves are written by scene/export.py."""

from __future__ import annotations

import bpy
from bpy.props import StringProperty
from bpy_extras.io_utils import ExportHelper

from ..scene import segmentation as seg
from ..scene.export import write_export


class OT3D_OT_export(bpy.types.Operator, ExportHelper):
    """Export the segmentation: ScanNet text files, instances.json and a PLY with instance attributes"""

    bl_idname = "ot3d.export"
    bl_label = "Export Segmentation"
    filename_ext = ""
    use_filter_folder = True
    directory: StringProperty(subtype="DIR_PATH")
    scene_name: StringProperty(name="Scene name", default="scene",
                               description="Prefix of the ScanNet files (usually the ScanNet scene id)")

    def invoke(self, context, event):
        if self.directory or bpy.app.background:
            return self.execute(context)
        context.window_manager.fileselect_add(self)
        return {"RUNNING_MODAL"}

    def execute(self, context):
        target = bpy.path.abspath(self.directory or self.filepath)
        if not target:
            self.report({"ERROR"}, "No export folder given")
            return {"CANCELLED"}
        try:
            data = seg.snapshot(context.scene)
            files = write_export(data, target, self.scene_name or "scene")
        except (LookupError, OSError, ValueError) as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        self.report({"INFO"}, f"Exported {len(data.instances)} instances to {files['instances'].parent}")
        return {"FINISHED"}


classes = (OT3D_OT_export,)
