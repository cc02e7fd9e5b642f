"""Correction operators (undoable): relabel, merge, split, delete, move points."""

from __future__ import annotations

from contextlib import nullcontext

import bpy
from bpy.props import IntProperty, StringProperty

from ..scene import corrections, object_labels, segmentation as seg


def _has_segmentation(context) -> bool:
    return context.scene is not None and seg.scene_object(context.scene) is not None


class _Correction:
    """Every correction runs in Object Mode: mesh data (attributes, vertex selection) is only
    current there. From Edit Mode the edit meshes are written back first (mode_set does that),
    the correction runs, and the objects that still exist go back into Edit Mode once the
    operator's undo step has been pushed (a timer): ending the operator in Edit Mode would make
    that step an edit-mesh step, which does not hold the other objects, and Ctrl+Z would then
    not undo the correction."""

    bl_options = {"REGISTER", "UNDO"}
    _sources = ()

    @classmethod
    def poll(cls, context):
        return _has_segmentation(context)

    def execute(self, context):
        editing = [o for o in (context.objects_in_mode or []) if o.mode == "EDIT"]
        self._sources = list(editing)
        if editing:
            bpy.ops.object.mode_set(mode="OBJECT")
        try:
            message = self.apply(context)
            object_labels.sync(context.scene)  # a segmented object's own ids follow
        except corrections.CorrectionError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        finally:
            if editing:
                back_to_edit_mode_later(_names_of_survivors(editing))
        self.report({"INFO"}, message)
        return {"FINISHED"}


def _names_of_survivors(objects) -> list[str]:
    """Current names (a relabel renames) of the objects a merge or delete did not remove."""
    names = []
    for obj in objects:
        try:
            names.append(obj.name)
        except ReferenceError:  # removed
            continue
    return names


_EDIT_AGAIN: list[str] = []  # objects to put back into Edit Mode after the undo push


def back_to_edit_mode_later(names) -> None:
    _EDIT_AGAIN[:] = list(names)
    if not bpy.app.timers.is_registered(back_to_edit_mode):
        bpy.app.timers.register(back_to_edit_mode, first_interval=0.0)


def back_to_edit_mode() -> None:
    """Edit Mode again for the objects (found by name: undo or a file load may have replaced them).
    Runs from a timer in the UI; background scripts without an event loop may call it."""
    names, _EDIT_AGAIN[:] = list(_EDIT_AGAIN), []
    if bpy.app.timers.is_registered(back_to_edit_mode):
        bpy.app.timers.unregister(back_to_edit_mode)
    view_layer = bpy.context.view_layer
    alive = [view_layer.objects[n] for n in names if n in view_layer.objects]
    alive = [o for o in alive if o.type == "MESH"]
    if not alive or bpy.context.mode != "OBJECT":
        return None
    if view_layer.objects.active not in alive:
        view_layer.objects.active = alive[0]
    for obj in alive:
        obj.select_set(True)
    window = next(iter(getattr(bpy.context.window_manager, "windows", [])), None)
    with bpy.context.temp_override(window=window) if window is not None else nullcontext():
        bpy.ops.object.mode_set(mode="EDIT")
    return None


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
        sources = set(self._sources) | set(context.selected_objects)
        if context.active_object is not None:
            sources.add(context.active_object)
        n = corrections.move_points(context.scene, list(sources), target)
        return f"Moved {n} points to instance {target}"


classes = (OT3D_OT_relabel, OT3D_OT_merge, OT3D_OT_split, OT3D_OT_delete, OT3D_OT_move_points)
