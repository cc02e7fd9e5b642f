"""Engine output (a scene folder, or a PLY with instance ids) -> Blender objects.

Everything is read and checked before the first object is created, so a broken file
leaves the Blender scene exactly as it was.
"""

from __future__ import annotations

import json
from pathlib import Path

import bpy
import numpy as np

from . import display, segmentation as seg
from ..engine_link.source import engine_module
from .segmentation import SceneData


def load_scene_folder(scene_dir: str | Path) -> SceneData:
    """Read an ot3d-scene folder (engine job output or an export) through the engine's own reader."""
    scene_dir = Path(scene_dir)
    result = engine_module("output.scene_io").read_scene(scene_dir)
    doc = json.loads((scene_dir / "instances.json").read_text())
    records = {int(r["id"]): r for r in doc.get("instances", [])}
    instances = []
    for inst in result.instances:
        rec = dict(records.get(inst.id, {}))
        rec.update(id=int(inst.id), label=inst.label, score=float(inst.score), label_score=float(inst.label_score))
        instances.append(rec)
    return SceneData(points=np.asarray(result.points, np.float32), colors=np.asarray(result.colors, np.uint8),
                     instance_ids=np.asarray(result.instance_ids, np.int32), instances=instances,
                     source=str(scene_dir), meta={"scan": doc.get("scan")})


def load_ply(path: str | Path) -> SceneData:
    """A PLY with an `instance_id` vertex attribute (ours or any tool's); labels from a
    `label_map.tsv` + `label_id` attribute beside it when present."""
    path = Path(path)
    ply = engine_module("io.ply")
    vertex, _ = ply.read_ply(path)
    errors = engine_module("errors")
    for key in ("x", "y", "z", "instance_id"):
        if key not in vertex:
            raise errors.ScanError(path, f"PLY has no '{key}' vertex property")
    points = np.stack([vertex["x"], vertex["y"], vertex["z"]], axis=1).astype(np.float32)
    if all(k in vertex for k in ("red", "green", "blue")):
        colors = np.stack([vertex["red"], vertex["green"], vertex["blue"]], axis=1).astype(np.uint8)
    else:
        colors = np.full((len(points), 3), 160, np.uint8)
    ids = vertex["instance_id"].astype(np.int32)
    names = _label_map(path.parent / "label_map.tsv")
    label_ids = vertex.get("label_id")
    instances = []
    for inst_id in np.unique(ids[ids > 0]):
        label = seg.UNLABELLED
        if label_ids is not None and names:
            lid = int(np.bincount(label_ids[ids == inst_id].astype(np.int64)).argmax())
            label = names.get(lid, label)
        instances.append({"id": int(inst_id), "label": label, "score": 1.0, "label_score": 0.0})
    return SceneData(points=points, colors=colors, instance_ids=ids, instances=instances, source=str(path))


def _label_map(path: Path) -> dict[int, str]:
    if not path.is_file():
        return {}
    out = {}
    for line in path.read_text().splitlines()[1:]:
        parts = line.split("\t")
        if len(parts) >= 2 and parts[0].strip().isdigit():
            out[int(parts[0])] = parts[1]
    return out


def materialize(scene: bpy.types.Scene, data: SceneData, name: str = seg.SCENE_OBJECT_NAME):
    """Replace the scene's segmentation with `data`. Returns (scene object, {id: instance object})."""
    n = len(data.points)
    if not (len(data.colors) == n and len(data.instance_ids) == n):
        raise ValueError("points, colours and instance ids differ in length")
    radius = scene.ot3d.point_radius
    seg.clear_segmentation(scene)

    mesh = bpy.data.meshes.new(name)
    seg.set_points(mesh, data.points)
    seg.set_int_attr(mesh, seg.SCENE_ATTR, data.instance_ids)
    seg.set_colors(mesh, data.colors)
    scene_obj = bpy.data.objects.new(name, mesh)
    seg.collection(scene, seg.SEGMENTATION_COLLECTION).objects.link(scene_obj)
    scene_obj[seg.ROLE] = "scene"
    scene_obj["source"] = data.source
    if data.meta.get("scan"):
        scene_obj["scan"] = str(data.meta["scan"])
    display.show_as_points(scene_obj, display.scan_material(), radius, unassigned_only=True)
    scene_obj.hide_render = True  # the instances are what a render should show
    scene.ot3d.scene_object = scene_obj

    ids = data.instance_ids.astype(np.int64)
    order = np.argsort(ids, kind="stable")
    sorted_ids = ids[order]
    objects = {}
    for rec in data.instances:
        inst_id = int(rec["id"])
        lo, hi = np.searchsorted(sorted_ids, [inst_id, inst_id + 1])
        obj = seg.new_instance_object(scene, inst_id, rec.get("label") or seg.UNLABELLED, float(rec.get("score", 0.0)),
                                      float(rec.get("label_score", 0.0)), radius=radius,
                                      best_views=rec.get("best_views", []), observations=rec.get("observations", 0))
        seg.set_instance_points(obj, order[lo:hi], data.points)
        objects[inst_id] = obj
    _show_object_colours()
    show_one_cloud(scene)
    return scene_obj, objects


def show_one_cloud(scene: bpy.types.Scene) -> list[bpy.types.Object]:
    """Hide the imported scan clouds (kept, not deleted: the panel's "Show imported scan"
    brings them back), so that the segmentation is the one cloud in view."""
    scans = [o for o in scene.objects if o.get(seg.ROLE) == "scan"]
    for obj in scans:
        obj.hide_set(True)
    return scans


def _show_object_colours() -> None:
    """Solid viewports colour by object so that instances are told apart at a glance."""
    wm = bpy.context.window_manager
    for window in getattr(wm, "windows", []):
        for area in window.screen.areas:
            if area.type == "VIEW_3D":
                for space in area.spaces:
                    if space.type == "VIEW_3D":
                        space.shading.color_type = "OBJECT"
