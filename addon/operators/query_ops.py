"""Ask the engine's MLLM query ranker which instances match a sentence; select, list and frame them."""

from __future__ import annotations

from pathlib import Path

import bpy
from bpy.props import IntProperty

from ..scene import segmentation as seg
from ..scene.export import write_scene_folder
from .job_operator import EngineJobOperator, ResultRefused

NEEDS_LABELS = ("Query needs labels or an image-text model: no instance has a label (choose a Labeller and "
                "Segment again, or Relabel instances), and {why}")


def has_labels(scene) -> bool:
    return any(seg.is_labelled(o.get("label")) for o in seg.instance_objects(scene).values())


def apply_matches(context, matches: list[dict]) -> list[bpy.types.Object]:
    """Fill the match list, select the matched instances (best one active)."""
    settings = context.scene.ot3d
    objects = seg.instance_objects(context.scene)
    settings.query_matches.clear()
    for m in matches:
        item = settings.query_matches.add()
        item.instance_id = int(m["id"])
        obj = objects.get(int(m["id"]))
        item.label = str(m.get("label") or (obj.get("label", "") if obj is not None else ""))
        item.score = float(m.get("score", 0.0))
        item.reason = str(m.get("reason", ""))
    settings.query_index = 0
    hits = [objects[int(m["id"])] for m in matches if int(m["id"]) in objects]
    for obj in context.scene.objects:
        obj.select_set(False)
    for obj in hits:
        obj.select_set(True)
    if hits:
        context.view_layer.objects.active = hits[0]
    return hits


class OT3D_OT_query(EngineJobOperator, bpy.types.Operator):
    """Find the instances that match the query text (ranked by the engine's multimodal model)"""

    bl_idname = "ot3d.query"
    bl_label = "Ask"
    bl_options = {"REGISTER", "UNDO"}
    job_name = "query"

    @classmethod
    def poll(cls, context):
        return seg.scene_object(context.scene) is not None

    def job_params(self, context, job_dir: Path) -> dict:
        settings = context.scene.ot3d
        text = settings.query_text.strip()
        if not text:
            raise ValueError("Type a query first")
        if not settings.query_verify and not has_labels(context.scene):
            raise ValueError(NEEDS_LABELS.format(why="'Verify with image-text model' is off"))
        # the engine ranks the scene as it is now, corrections included
        data = seg.snapshot(context.scene)
        scene_dir = job_dir / "scene_in"
        write_scene_folder(data, scene_dir)
        return {"scene_dir": str(scene_dir), "text": text, "top_k": int(settings.query_top_k),
                "scan": data.meta.get("scan"), "no_verify": not settings.query_verify,
                "small": bool(settings.query_small_model)}

    def apply_result(self, context, outcome) -> str:
        matches = outcome.data.get("matches", [])
        if not outcome.data.get("verified") and not has_labels(context.scene):
            # ranked by label text alone, and every label is the same: the order means nothing
            raise ResultRefused(NEEDS_LABELS.format(why="the engine could not use an image-text model "
                                                        "(Show Log says why)"))
        hits = apply_matches(context, matches)
        if not matches:
            return "No instance matches the query"
        best = matches[0]
        return f"{len(hits)} match(es); best: instance {best['id']} ({float(best.get('score', 0)):.2f})"


class OT3D_OT_frame_instance(bpy.types.Operator):
    """Select this instance and frame it in the viewport"""

    bl_idname = "ot3d.frame_instance"
    bl_label = "Frame Instance"
    instance_id: IntProperty(name="Instance")

    def execute(self, context):
        obj = seg.instance_objects(context.scene).get(self.instance_id)
        if obj is None:
            self.report({"ERROR"}, f"There is no instance {self.instance_id}")
            return {"CANCELLED"}
        for o in context.scene.objects:
            o.select_set(False)
        obj.hide_set(False)
        obj.select_set(True)
        context.view_layer.objects.active = obj
        for area in (context.screen.areas if context.screen else []):
            if area.type == "VIEW_3D":
                region = next((r for r in area.regions if r.type == "WINDOW"), None)
                with context.temp_override(area=area, region=region):
                    bpy.ops.view3d.view_selected()
        return {"FINISHED"}


class OT3D_UL_matches(bpy.types.UIList):
    def draw_item(self, context, layout, data, item, icon, active_data, active_propname, index):
        row = layout.row(align=True)
        row.label(text=f"{item.label}.{item.instance_id}", icon="OBJECT_DATA")
        row.label(text=f"{item.score:.2f}")
        op = row.operator("ot3d.frame_instance", text="", icon="ZOOM_SELECTED")
        op.instance_id = item.instance_id


classes = (OT3D_OT_query, OT3D_OT_frame_instance, OT3D_UL_matches)
