"""Correction operators (undoable): relabel, merge, split, delete, move points."""

from __future__ import annotations

import bpy
from bpy.props import IntProperty, StringProperty

from . import corrections, segmentation as seg


def _has_segmentation(context) -> bool:
    return context.scene is not None and seg.scene_object(context.scene) is not None


class _Correction:
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context):
        return _has_segmentation(context)

    def execute(self, context):
        try:
            message = self.apply(context)
        except corrections.CorrectionError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        self.report({"INFO"}, message)
        return {"FINISHED"}


class OT3D_OT_relabel(_Correction, bpy.types.Operator):
    """Give the selected instances a new label"""

    bl_idname = "ot3d.relabel"
    bl_label = "Relabel"
    label: StringProperty(name="Label", default="")

    def invoke(self, context, event):
        if not self.label:
            self.label = context.scene.ot3d.new_label
        return self.execute(context)

    def apply(self, context):
        label = self.label or context.scene.ot3d.new_label
        corrections.relabel(context.selected_objects, label)
        return f"Relabelled as {label!r}"


class OT3D_OT_merge(_Correction, bpy.types.Operator):
    """Merge the selected instances into the active one"""

    bl_idname = "ot3d.merge"
    bl_label = "Merge"

    def apply(self, context):
        target = corrections.merge(context.scene, context.selected_objects, context.active_object)
        return f"Merged into {target.name}"


class OT3D_OT_split(_Correction, bpy.types.Operator):
    """Make the points selected in edit mode a new instance"""

    bl_idname = "ot3d.split"
    bl_label = "Split Selection"

    def apply(self, context):
        new = corrections.split(context.scene, context.active_object)
        return f"Split off {new.name} ({new['point_count']} points)"


class OT3D_OT_delete(_Correction, bpy.types.Operator):
    """Delete the selected instances (their points become unassigned)"""

    bl_idname = "ot3d.delete"
    bl_label = "Delete Instances"

    def apply(self, context):
        n = corrections.delete(context.scene, context.selected_objects)
        return f"Deleted {n} instance(s)"


class OT3D_OT_move_points(_Correction, bpy.types.Operator):
    """Move the points selected in edit mode to another instance"""

    bl_idname = "ot3d.move_points"
    bl_label = "Move Points"
    target: IntProperty(name="Target instance", default=-1, min=-1,
                        description="-1 = the instance set in the sidebar")

    def apply(self, context):
        target = self.target if self.target >= 0 else context.scene.ot3d.move_target
        sources = set(context.objects_in_mode or []) | set(context.selected_objects)
        if context.active_object is not None:
            sources.add(context.active_object)
        n = corrections.move_points(context.scene, list(sources), target)
        return f"Moved {n} points to instance {target}"


classes = (OT3D_OT_relabel, OT3D_OT_merge, OT3D_OT_split, OT3D_OT_delete, OT3D_OT_move_points)
