"""A segmentation as Blender data, and the array-level reads/writes everything else uses.

- The full-scene object (custom property ot3d_role = "scene") holds every point, the
  scan colour ("Col") and the integer point attribute `instance_id` (0 = unassigned):
  it is the source of truth that corrections edit and export writes.
- Each instance is an object `label.id` (`instance.id` while it has no label) in the
  "Instances" collection, holding its own
  points plus a `point_index` attribute (its points' indices in the full scene), with
  custom properties instance_id, label, score, label_score, point_count and its colour
  as the object colour.
All geometry moves through foreach_get/foreach_set on whole arrays, never per vertex.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import bpy
import numpy as np

from . import display
from ..engine_link.source import engine_module

ROLE = "ot3d_role"
SCENE_ATTR = "instance_id"
INDEX_ATTR = "point_index"
INSTANCES_COLLECTION = "Instances"
SEGMENTATION_COLLECTION = "Segmentation"
SCENE_OBJECT_NAME = "OT3D Scene"
VIEWS_KEY = "ot3d_best_views"  # JSON: the engine's best views of the instance (for queries)
# The engine's class-agnostic label (no labelling backend ran, or it saw nothing): kept as
# the label, so exports and evaluation stay class-agnostic, but not shown as a name.
UNLABELLED = "object"
UNLABELLED_NAME = "instance"


@dataclass
class SceneData:
    """Everything needed to materialize a segmentation, independent of where it came from."""

    points: np.ndarray  # Nx3 float32
    colors: np.ndarray  # Nx3 uint8
    instance_ids: np.ndarray  # N int32
    instances: list[dict]  # id, label, score, label_score (+ anything else kept as metadata)
    source: str = ""
    meta: dict = field(default_factory=dict)


# -- array access ---------------------------------------------------------------------------

def srgb_to_linear(colors_u8: np.ndarray) -> np.ndarray:
    c = np.arange(256, dtype=np.float64) / 255.0
    lut = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4).astype(np.float32)
    return lut[np.asarray(colors_u8, dtype=np.uint8)]


def linear_to_srgb_u8(linear: np.ndarray) -> np.ndarray:
    c = np.clip(np.asarray(linear, dtype=np.float64), 0.0, 1.0)
    s = np.where(c <= 0.0031308, c * 12.92, 1.055 * c ** (1 / 2.4) - 0.055)
    return np.round(s * 255.0).astype(np.uint8)


def set_points(mesh: bpy.types.Mesh, points: np.ndarray) -> None:
    """Replace a mesh's geometry with loose vertices at `points`."""
    mesh.clear_geometry()
    n = len(points)
    mesh.vertices.add(n)
    if n:
        mesh.attributes["position"].data.foreach_set("vector", np.ascontiguousarray(points, np.float32).ravel())
    mesh.update()


def get_points(mesh: bpy.types.Mesh) -> np.ndarray:
    out = np.empty(len(mesh.vertices) * 3, dtype=np.float32)
    mesh.attributes["position"].data.foreach_get("vector", out)
    return out.reshape(-1, 3)


def set_int_attr(mesh: bpy.types.Mesh, name: str, values: np.ndarray) -> None:
    attr = mesh.attributes.get(name)
    if attr is not None and (attr.data_type != "INT" or attr.domain != "POINT"):
        mesh.attributes.remove(attr)
        attr = None
    if attr is None:
        attr = mesh.attributes.new(name, "INT", "POINT")
    attr.data.foreach_set("value", np.ascontiguousarray(values, dtype=np.int32))
    mesh.update()


def get_int_attr(mesh: bpy.types.Mesh, name: str) -> np.ndarray:
    attr = mesh.attributes.get(name)
    if attr is None:
        raise KeyError(f"{mesh.name} has no '{name}' attribute")
    out = np.empty(len(attr.data), dtype=np.int32)
    attr.data.foreach_get("value", out)
    return out


def set_colors(mesh: bpy.types.Mesh, colors_u8: np.ndarray) -> None:
    rgba = np.ones((len(colors_u8), 4), dtype=np.float32)
    rgba[:, :3] = srgb_to_linear(colors_u8)
    set_linear_rgba(mesh, rgba)


def set_linear_rgba(mesh: bpy.types.Mesh, rgba: np.ndarray) -> None:
    """Nx4 float32 linear RGBA, as the point colour attribute stores it."""
    attr = mesh.color_attributes.get(display.COLOR_ATTR) or mesh.color_attributes.new(
        display.COLOR_ATTR, "FLOAT_COLOR", "POINT")
    attr.data.foreach_set("color", np.ascontiguousarray(rgba, dtype=np.float32).ravel())
    mesh.color_attributes.active_color = attr


def get_colors(mesh: bpy.types.Mesh) -> np.ndarray:
    attr = mesh.color_attributes.get(display.COLOR_ATTR)
    if attr is None:
        return np.full((len(mesh.vertices), 3), 128, dtype=np.uint8)
    rgba = np.empty(len(attr.data) * 4, dtype=np.float32)
    attr.data.foreach_get("color", rgba)
    return linear_to_srgb_u8(rgba.reshape(-1, 4)[:, :3])


def selected_vertices(obj: bpy.types.Object) -> np.ndarray:
    """Indices of the vertices selected in edit mode (edit-mode changes flushed first)."""
    if obj.mode == "EDIT":
        obj.update_from_editmode()
    mesh = obj.data
    sel = np.zeros(len(mesh.vertices), dtype=bool)
    mesh.vertices.foreach_get("select", sel)
    return np.flatnonzero(sel)


# -- objects --------------------------------------------------------------------------------

def collection(scene: bpy.types.Scene, name: str) -> bpy.types.Collection:
    coll = scene.collection.children.get(name)
    if coll is None:
        coll = bpy.data.collections.get(name)
        if coll is None or coll.library is not None:
            coll = bpy.data.collections.new(name)
        scene.collection.children.link(coll)
    return coll


def scene_object(scene: bpy.types.Scene) -> bpy.types.Object | None:
    obj = scene.ot3d.scene_object
    if obj is not None and obj.get(ROLE) == "scene" and obj.name in scene.objects:
        return obj
    return next((o for o in scene.objects if o.get(ROLE) == "scene"), None)


def instance_objects(scene: bpy.types.Scene) -> dict[int, bpy.types.Object]:
    return {int(o["instance_id"]): o for o in scene.objects if o.get(ROLE) == "instance"}


def is_labelled(label) -> bool:
    return bool(label) and str(label) != UNLABELLED


def instance_name(label: str, inst_id: int) -> str:
    return f"{label if is_labelled(label) else UNLABELLED_NAME}.{inst_id}"


def instance_color(inst_id: int) -> tuple[float, float, float, float]:
    rgb = engine_module("output.palette").instance_colors(np.array([inst_id]))[0]
    lin = srgb_to_linear(rgb)
    return float(lin[0]), float(lin[1]), float(lin[2]), 1.0


def set_instance_points(obj: bpy.types.Object, indices: np.ndarray, all_points: np.ndarray) -> None:
    indices = np.asarray(indices, dtype=np.int64)
    set_points(obj.data, all_points[indices])
    set_int_attr(obj.data, INDEX_ATTR, indices)
    obj["point_count"] = int(len(indices))


def new_instance_object(scene: bpy.types.Scene, inst_id: int, label: str, score: float,
                        label_score: float = 0.0, radius: float | None = None, best_views=(),
                        observations: int = 0) -> bpy.types.Object:
    mesh = bpy.data.meshes.new(instance_name(label, inst_id))
    obj = bpy.data.objects.new(instance_name(label, inst_id), mesh)
    collection(scene, INSTANCES_COLLECTION).objects.link(obj)
    obj[ROLE] = "instance"
    obj["instance_id"] = int(inst_id)
    obj["label"] = str(label)
    obj["score"] = float(score)
    obj["label_score"] = float(label_score)
    obj["point_count"] = 0
    obj["observations"] = int(observations)
    obj[VIEWS_KEY] = json.dumps(list(best_views))
    obj.color = instance_color(inst_id)
    display.show_as_points(obj, display.instance_material(), scene.ot3d.point_radius if radius is None else radius)
    return obj


def relabel_object(obj: bpy.types.Object, label: str) -> None:
    obj["label"] = str(label)
    obj.name = instance_name(label, int(obj["instance_id"]))
    obj.data.name = obj.name


def remove_objects(objects) -> None:
    """Delete objects together with their meshes (one batch call, fast for hundreds)."""
    objects = list(objects)
    meshes = [o.data for o in objects if o.data is not None and o.data.users <= 1]
    bpy.data.batch_remove(objects)
    bpy.data.batch_remove([m for m in meshes if m.users == 0])


def clear_segmentation(scene: bpy.types.Scene) -> None:
    objs = [o for o in scene.objects if o.get(ROLE) in ("scene", "instance")]
    remove_objects(objs)
    scene.ot3d.scene_object = None


def snapshot(scene: bpy.types.Scene) -> SceneData:
    """The current segmentation (with every correction) as arrays and records."""
    obj = scene_object(scene)
    if obj is None:
        raise LookupError("no segmentation in this scene (run Segment or import a result first)")
    ids = get_int_attr(obj.data, SCENE_ATTR)
    records = []
    for inst_id, inst in sorted(instance_objects(scene).items()):
        records.append({"id": inst_id, "label": str(inst.get("label") or UNLABELLED),
                        "score": float(inst.get("score", 0.0)), "label_score": float(inst.get("label_score", 0.0)),
                        "observations": int(inst.get("observations", 0)),
                        "best_views": json.loads(inst.get(VIEWS_KEY, "[]"))})
    return SceneData(points=get_points(obj.data), colors=get_colors(obj.data), instance_ids=ids,
                     instances=records, source=str(obj.get("source", "")), meta={"scan": obj.get("scan")})
