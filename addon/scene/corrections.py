"""Corrections a user makes to a segmentation, each kept consistent in three places:
the scene object's `instance_id` attribute (the truth), the instance objects' points,
and their custom properties. Whole-array numpy edits, no per-vertex loops.
"""

from __future__ import annotations

import json

import bpy
import numpy as np

from . import segmentation as seg


class CorrectionError(ValueError):
    pass


def _scene_arrays(scene):
    obj = seg.scene_object(scene)
    if obj is None:
        raise CorrectionError("No segmentation in this scene")
    return obj, seg.get_int_attr(obj.data, seg.SCENE_ATTR), seg.get_points(obj.data)


def _instances(objects) -> list[bpy.types.Object]:
    out = [o for o in objects if o is not None and o.get(seg.ROLE) == "instance"]
    if not out:
        raise CorrectionError("Select one or more instance objects")
    return out


def _rebuild(scene, ids: np.ndarray, points: np.ndarray, inst_ids) -> None:
    objects = seg.instance_objects(scene)
    for inst_id in inst_ids:
        obj = objects.get(int(inst_id))
        if obj is not None:
            seg.set_instance_points(obj, np.flatnonzero(ids == inst_id), points)


def relabel(objects, label: str) -> None:
    label = label.strip()
    if not label:
        raise CorrectionError("The new label is empty")
    for obj in _instances(objects):
        seg.relabel_object(obj, label)


def merge(scene, objects, target: bpy.types.Object | None = None) -> bpy.types.Object:
    """Merge instances into `target` (default: the one with the lowest id)."""
    objs = _instances(objects)
    if len(objs) < 2:
        raise CorrectionError("Select at least two instances to merge")
    if target is None or target not in objs:
        target = min(objs, key=lambda o: int(o["instance_id"]))
    scene_obj, ids, points = _scene_arrays(scene)
    others = [o for o in objs if o is not target]
    ids[np.isin(ids, [int(o["instance_id"]) for o in others])] = int(target["instance_id"])
    seg.set_int_attr(scene_obj.data, seg.SCENE_ATTR, ids)
    target["score"] = max(float(o.get("score", 0.0)) for o in objs)
    seg.remove_objects(others)
    _rebuild(scene, ids, points, [int(target["instance_id"])])
    return target


def split(scene, obj: bpy.types.Object) -> bpy.types.Object:
    """The vertices selected (edit mode) in an instance become a new instance."""
    obj = _instances([obj])[0]
    local = seg.selected_vertices(obj)
    if obj.mode == "EDIT":
        bpy.ops.object.mode_set(mode="OBJECT")
    if len(local) == 0:
        raise CorrectionError(f"{obj.name}: select the points to split off (edit mode) first")
    if len(local) == len(obj.data.vertices):
        raise CorrectionError(f"{obj.name}: all points are selected; nothing would remain")
    scene_obj, ids, points = _scene_arrays(scene)
    moved = seg.get_int_attr(obj.data, seg.INDEX_ATTR)[local]
    new_id = int(max(ids.max(initial=0), max(seg.instance_objects(scene), default=0))) + 1
    ids[moved] = new_id
    seg.set_int_attr(scene_obj.data, seg.SCENE_ATTR, ids)
    new = seg.new_instance_object(scene, new_id, str(obj.get("label") or seg.UNLABELLED), float(obj.get("score", 0.0)),
                                  float(obj.get("label_score", 0.0)),
                                  best_views=json.loads(obj.get(seg.VIEWS_KEY, "[]")))
    _rebuild(scene, ids, points, [int(obj["instance_id"]), new_id])
    return new


def delete(scene, objects) -> int:
    """Remove instances; their points become unassigned (0)."""
    objs = _instances(objects)
    scene_obj, ids, _ = _scene_arrays(scene)
    ids[np.isin(ids, [int(o["instance_id"]) for o in objs])] = 0
    seg.set_int_attr(scene_obj.data, seg.SCENE_ATTR, ids)
    seg.remove_objects(objs)
    return len(objs)


def move_points(scene, sources, target_id: int) -> int:
    """Points selected (edit mode) in `sources` (instances and/or the scene object) go to target_id."""
    scene_obj, ids, points = _scene_arrays(scene)
    known = seg.instance_objects(scene)
    if target_id != 0 and target_id not in known:
        raise CorrectionError(f"There is no instance {target_id}")
    moved = []
    for obj in sources:
        if obj is None or obj.get(seg.ROLE) not in ("instance", "scene"):
            continue
        local = seg.selected_vertices(obj)
        if obj.get(seg.ROLE) == "scene":
            moved.append(local)
        else:
            moved.append(seg.get_int_attr(obj.data, seg.INDEX_ATTR)[local])
    if bpy.context.object is not None and bpy.context.object.mode == "EDIT":
        bpy.ops.object.mode_set(mode="OBJECT")
    idx = np.unique(np.concatenate(moved)) if moved else np.zeros(0, np.int64)
    if len(idx) == 0:
        raise CorrectionError("Select the points to move (edit mode) in an instance or the scene object")
    touched = set(np.unique(ids[idx]).tolist()) | {int(target_id)}
    ids[idx] = target_id
    seg.set_int_attr(scene_obj.data, seg.SCENE_ATTR, ids)
    _rebuild(scene, ids, points, [t for t in touched if t != 0])
    return len(idx)
