"""The sidebar (N panel) tab "OpenTrack3D": scan and options, instances and corrections, query."""

from __future__ import annotations

import bpy

from ..engine_link import backends
from ..operators import query_ops, segment_ops
from ..scene import job_status, segmentation as seg

ROLE_TITLES = {"segmenter": "Segmenter", "features": "Features", "classifier": "Labeller", "tracker": "Tracker"}


def backend_reasons(context, role: str) -> dict[str, str]:
    """identifier -> why that backend cannot run now (only those that cannot)."""
    python = None
    out = {}
    for b in backends.CATALOGUE[role]:
        if b.needs:
            python = python or segment_ops.engine_python_or_none(context)
            reason = backends.unavailable_reason(b, python)
            if reason:
                out[backends.identifier(b)] = reason
    return out


def _backend_menu(role: str):
    """A dropdown of the role's backends; those the engine cannot run are greyed, with why."""

    def draw(self, context):
        s = context.scene.ot3d
        reasons = backend_reasons(context, role)
        col = self.layout.column()
        for b in backends.CATALOGUE[role]:
            row = col.row()
            row.enabled = backends.identifier(b) not in reasons
            row.prop_enum(s, role, backends.identifier(b))
        for reason in dict.fromkeys(reasons.values()):
            col.label(text=reason, icon="INFO")

    return type(f"OT3D_MT_backend_{role}", (bpy.types.Menu,),
                {"bl_idname": f"OT3D_MT_backend_{role}", "bl_label": ROLE_TITLES[role], "draw": draw})


BACKEND_MENUS = {role: _backend_menu(role) for role in segment_ops.ROLES}


class _Sidebar:
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "OpenTrack3D"


class OT3D_PT_segment(_Sidebar, bpy.types.Panel):
    bl_label = "Scan & Segment"

    def draw(self, context):
        s = context.scene.ot3d
        layout = self.layout
        col = layout.column(align=True)
        col.prop(s, "scan_path")
        col.prop(s, "layout")
        row = col.row(align=True)
        row.operator("ot3d.import_scan", icon="IMPORT").directory = s.scan_path
        row.prop(s, "import_frustums", text="", icon="CAMERA_DATA")
        col.operator("ot3d.import_mesh", icon="MESH_DATA")
        col.prop(s, "mesh_path")

        box = layout.box()
        box.label(text="Options")
        box.prop(s, "vocabulary")
        blocked = segment_ops.unavailable_backends(context)
        for role in segment_ops.ROLES:
            row = box.row(align=True)
            row.alert = role in blocked
            row.label(text=ROLE_TITLES[role])
            row.menu(BACKEND_MENUS[role].bl_idname, text=backends.find(role, getattr(s, role)).title)
            if role in blocked:
                box.label(text=blocked[role], icon="ERROR")
        row = box.row(align=True)
        row.prop(s, "frame_stride")
        row.prop(s, "max_frames")
        box.prop(s, "superpoints")

        if s.running:
            layout.progress(factor=s.progress, type="BAR", text=s.status or "running")
            readout = job_status.of(context.scene).live_readout
            if readout:
                layout.label(text=readout, icon="POINTCLOUD_DATA")
            layout.operator("ot3d.cancel_job", icon="CANCEL")
            layout.prop(s, "keep_partial")  # read when the cancel arrives: it may be switched on now
        else:
            row = layout.row()
            row.enabled = not blocked
            row.operator("ot3d.segment", icon="PLAY")
            row = layout.row()
            obj = context.active_object
            row.enabled = not blocked and obj is not None and obj.type == "MESH"
            row.operator("ot3d.segment_object", icon="MESH_DATA")
            layout.prop(s, "keep_partial")
            if s.status and s.status != s.last_error:
                layout.label(text=s.status)
        if s.last_error:
            err = layout.box()
            err.alert = True
            err.label(text=s.last_error, icon="ERROR")
        if s.last_error or job_status.of(context.scene).log:
            layout.operator("ot3d.show_log", icon="TEXT")
        if any(o.get(seg.ROLE) == "scan" for o in context.scene.objects):
            layout.prop(s, "show_scan")


class OT3D_PT_instances(_Sidebar, bpy.types.Panel):
    bl_label = "Instances"

    def draw(self, context):
        s = context.scene.ot3d
        layout = self.layout
        instances = seg.instance_objects(context.scene)
        layout.label(text=f"{len(instances)} instances" if seg.scene_object(context.scene) else "No segmentation")
        layout.prop(s, "point_radius")
        obj = context.active_object
        if obj is not None and obj.get(seg.ROLE) == "instance":
            box = layout.box()
            label = obj.get("label")
            box.label(text=f"{label if seg.is_labelled(label) else 'no label'} #{obj.get('instance_id')}",
                      icon="OBJECT_DATA")
            box.label(text=f"score {obj.get('score', 0):.2f}   {obj.get('point_count', 0)} points")
        col = layout.column(align=True)
        row = col.row(align=True)
        row.prop(s, "new_label", text="")
        row.operator("ot3d.relabel")
        col.operator("ot3d.merge", icon="AUTOMERGE_ON")
        col.operator("ot3d.split", icon="MOD_EXPLODE")
        row = col.row(align=True)
        row.prop(s, "move_target", text="To")
        row.operator("ot3d.move_points")
        col.operator("ot3d.delete", icon="TRASH")
        row = layout.row(align=True)
        row.operator("ot3d.export", icon="EXPORT")
        row.operator("ot3d.import_result", icon="IMPORT")


class OT3D_PT_query(_Sidebar, bpy.types.Panel):
    bl_label = "Query"

    def draw(self, context):
        s = context.scene.ot3d
        layout = self.layout
        row = layout.row(align=True)
        row.prop(s, "query_text", text="")
        row.operator("ot3d.query", icon="VIEWZOOM")
        row = layout.row(align=True)
        row.prop(s, "query_top_k")
        row.prop(s, "query_verify", text="", icon="HIDE_OFF")
        row.prop(s, "query_small_model", text="", icon="LIGHT_SIZE")
        if seg.scene_object(context.scene) is not None and not query_ops.has_labels(context.scene):
            layout.label(text="No labels yet: Query needs a labeller (or Relabel) or the image-text model",
                         icon="INFO")
        layout.template_list("OT3D_UL_matches", "", s, "query_matches", s, "query_index", rows=3)
        if 0 <= s.query_index < len(s.query_matches):
            item = s.query_matches[s.query_index]
            if item.reason:
                box = layout.box()
                for i in range(0, min(len(item.reason), 360), 60):
                    box.label(text=item.reason[i:i + 60])


classes = (*BACKEND_MENUS.values(), OT3D_PT_segment, OT3D_PT_instances, OT3D_PT_query)
