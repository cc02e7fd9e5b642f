"""The `instance_id` attribute on a segmented Blender object (Segment Selected Object),
kept in step with the segmentation: each vertex remembers its nearest labelled scene point
(the engine's `point_index`), so after a correction its id is the scene's id there."""

from __future__ import annotations

import bpy
import numpy as np

from . import segmentation as seg

POINT_INDEX_ATTR = "ot3d_point_index"
LABELS_OBJECT = "labels_object"  # on the scene object: the name of the object it labels


def attach(scene_obj: bpy.types.Object, obj: bpy.types.Object, ids: np.ndarray, point_index: np.ndarray) -> None:
    seg.set_int_attr(obj.data, seg.SCENE_ATTR, ids)
    seg.set_int_attr(obj.data, POINT_INDEX_ATTR, point_index)
    scene_obj[LABELS_OBJECT] = obj.name


def sync(scene: bpy.types.Scene) -> bpy.types.Object | None:
    """After a correction: the labelled object's ids from the scene object's (no-op without one)."""
    scene_obj = seg.scene_object(scene)
    obj = bpy.data.objects.get(scene_obj.get(LABELS_OBJECT, "")) if scene_obj is not None else None
    if obj is None or obj.type != "MESH" or POINT_INDEX_ATTR not in obj.data.attributes:
        return None
    index = seg.get_int_attr(obj.data, POINT_INDEX_ATTR)
    ids = seg.get_int_attr(scene_obj.data, seg.SCENE_ATTR)
    if len(ids) == 0 or index.max(initial=-1) >= len(ids):
        return None
    seg.set_int_attr(obj.data, seg.SCENE_ATTR, np.where(index >= 0, ids[np.maximum(index, 0)], 0))
    return obj
