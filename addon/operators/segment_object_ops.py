"""Segment Selected Object: the active mesh (an import or a model) goes to the engine as a
PLY in the job folder, with its image texture (if any) as a sidecar .npz beside it
(scene/object_texture.py), and comes back as an `instance_id` point attribute on that very
object, plus the usual per-instance objects (the Segment job, its corrections, export).

Modifiers: the engine renders the mesh they make (a second PLY, from the depsgraph), but the
ids land on obj.data's own vertices, each taking the id of the nearest rendered vertex (the
engine maps them, it has scipy's k-d tree; Blender's Python has numpy only)."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import bpy
import numpy as np

from ..engine_link.source import engine_module
from ..scene import object_labels, object_texture, segmentation as seg
from ..scene.materialize import load_scene_folder, materialize
from .job_operator import EngineJobOperator, ResultRefused
from .segment_ops import backend_params, stage_weights, unavailable_backends

OBJECT_PLY = "object.ply"
EVALUATED_PLY = "object_evaluated.ply"
TEXTURE_NPZ = "object_texture.npz"


def object_arrays(obj: bpy.types.Object, mesh: bpy.types.Mesh | None = None) -> dict[str, np.ndarray]:
    """World-space vertices, triangles and vertex colours (RGB uint8) of obj.data (the ids
    map 1:1 back onto its vertices) or of `mesh` (the evaluated one). The faces are the loop
    triangles, in the order the texture's corner UVs follow."""
    mesh = obj.data if mesh is None else mesh
    n = len(mesh.vertices)
    co = np.empty(n * 3, np.float32)
    mesh.vertices.foreach_get("co", co)
    mw = np.array(obj.matrix_world, dtype=np.float64)
    points = co.reshape(-1, 3).astype(np.float64) @ mw[:3, :3].T + mw[:3, 3]
    mesh.calc_loop_triangles()
    tris = np.empty(len(mesh.loop_triangles) * 3, np.int32)
    mesh.loop_triangles.foreach_get("vertices", tris)
    out = {"points": points.astype(np.float32), "faces": tris.reshape(-1, 3)}
    colors = vertex_colors(mesh)
    if colors is not None:
        out["colors"] = colors
    return out


def has_modifiers(obj: bpy.types.Object) -> bool:
    """Whether what the viewport shows is not obj.data as it is (modifiers, shape keys)."""
    return any(m.show_viewport for m in obj.modifiers) or obj.data.shape_keys is not None


@contextmanager
def evaluated_mesh(context, obj: bpy.types.Object):
    """The mesh the viewport shows (None when that is obj.data itself); freed afterwards."""
    if not has_modifiers(obj):
        yield None
        return
    evaluated = obj.evaluated_get(context.evaluated_depsgraph_get())
    try:
        yield evaluated.to_mesh()
    finally:
        evaluated.to_mesh_clear()


def vertex_colors(mesh: bpy.types.Mesh) -> np.ndarray | None:
    """The active colour attribute per vertex (corner colours averaged), sRGB uint8."""
    attr = mesh.color_attributes.active_color
    if attr is None or attr.domain not in ("POINT", "CORNER"):
        return None
    values = np.empty(len(attr.data) * 4, np.float32)
    attr.data.foreach_get("color_srgb", values)
    rgb = values.reshape(-1, 4)[:, :3]
    if attr.domain == "CORNER":
        vidx = np.empty(len(mesh.loops), np.int32)
        mesh.loops.foreach_get("vertex_index", vidx)
        n = len(mesh.vertices)
        count = np.maximum(np.bincount(vidx, minlength=n), 1)[:, None]
        rgb = np.stack([np.bincount(vidx, weights=rgb[:, c], minlength=n) for c in range(3)], 1) / count
    return np.clip(np.rint(rgb * 255), 0, 255).astype(np.uint8)


def write_object_ply(path: Path, arrays: dict[str, np.ndarray]) -> None:
    p = arrays["points"]
    vertex = {"x": p[:, 0], "y": p[:, 1], "z": p[:, 2]}
    if "colors" in arrays:
        c = arrays["colors"]
        vertex.update(red=c[:, 0], green=c[:, 1], blue=c[:, 2])
    engine_module("io.ply").write_ply(path, vertex, arrays["faces"] if len(arrays["faces"]) else None)


class OT3D_OT_segment_object(EngineJobOperator, bpy.types.Operator):
    """Segment the active mesh object into instances; the ids land on the object as an
    'instance_id' point attribute"""

    bl_idname = "ot3d.segment_object"
    bl_label = "Segment Selected Object"
    bl_options = {"REGISTER", "UNDO"}
    job_name = "segment"  # the Segment job, fed a geometry file instead of a scan folder
    keeps_job_folder = True

    views: bpy.props.IntProperty(name="Views", description="Rendered views (0: the engine's default)",
                                 default=0, min=0, max=2000)
    resolution: bpy.props.IntVectorProperty(name="Resolution", description="View size in pixels (0: default)",
                                            size=2, default=(0, 0), min=0, max=4096)

    @classmethod
    def poll(cls, context):
        obj = context.active_object
        return obj is not None and obj.type == "MESH" and len(obj.data.vertices) > 0

    def job_params(self, context, job_dir: Path) -> dict:
        obj = context.active_object
        if obj is None or obj.type != "MESH":
            raise ValueError("Select a mesh or point-cloud object first (Segment Selected Object)")
        if obj.get(seg.ROLE) in ("scene", "instance"):
            raise ValueError(f"'{obj.name}' is a segmentation result; select the original object")
        blocked = unavailable_backends(context)
        if blocked:
            raise ValueError(next(iter(blocked.values())))
        arrays = object_arrays(obj)
        with evaluated_mesh(context, obj) as shown:
            evaluated = object_arrays(obj, shown) if shown is not None else None
            if evaluated is not None and not len(evaluated["points"]):
                raise ValueError(f"'{obj.name}': its modifiers leave no geometry to segment")
            # a missing image fails here, before any work; its UVs follow the rendered mesh's faces
            image, warning = object_texture.object_image(obj, obj.data if shown is None else shown)
        job_dir.mkdir(parents=True, exist_ok=True)
        if warning:
            self.report({"WARNING"}, warning)
        write_object_ply(job_dir / OBJECT_PLY, arrays)
        if evaluated is not None:
            write_object_ply(job_dir / EVALUATED_PLY, evaluated)
        self._target = (obj.name, len(arrays["points"]))
        params = {**backend_params(context.scene.ot3d), "superpoints": False}  # superpoints need a scan mesh file
        params["geometry"] = str(job_dir / OBJECT_PLY)
        if evaluated is not None:
            params["evaluated_geometry"] = str(job_dir / EVALUATED_PLY)
        if image is not None:
            sidecar = engine_module("render.object_texture")
            sidecar.write_object_texture(job_dir / TEXTURE_NPZ, sidecar.ObjectTexture(
                corner_uv=image.corner_uv, image=image.image, name=image.name))
            params["texture"] = str(job_dir / TEXTURE_NPZ)
        if self.views:
            params["views"] = int(self.views)
        if min(self.resolution) > 0:
            params["resolution"] = [int(self.resolution[0]), int(self.resolution[1])]
        return params

    def stage_weights(self, params: dict) -> dict[str, float]:
        return stage_weights(params)

    def apply_result(self, context, outcome) -> str:
        name, n = getattr(self, "_target", ("", 0))
        obj = bpy.data.objects.get(name)
        if obj is None or obj.type != "MESH" or len(obj.data.vertices) != n:
            raise ResultRefused(f"'{name}' changed while it was being segmented; nothing was applied")
        if "input_labels" not in outcome.files:
            raise ResultRefused("the engine returned no labels for the object's vertices")
        vertex, _ = engine_module("io.ply").read_ply(outcome.files["input_labels"])
        ids = np.asarray(vertex["instance_id"], np.int32)
        index = np.asarray(vertex.get("point_index", np.full(len(ids), -1)), np.int32)
        if len(ids) != n:
            raise ValueError(f"{len(ids)} labels for {n} vertices")
        data = load_scene_folder(Path(outcome.files["instances"]).parent)
        scene_obj, objects = materialize(context.scene, data)
        object_labels.attach(scene_obj, obj, ids, index)
        return f"Segmented '{name}' ({n} vertices) into {len(objects)} instances"


classes = (OT3D_OT_segment_object,)
