"""Import: an RGB-D scan (through the engine, so every layout it reads works), a mesh as
the superpoint source, and a finished segmentation (scene folder or PLY with instance ids)."""

from __future__ import annotations

from pathlib import Path

import bpy
import numpy as np
from bpy.props import BoolProperty, StringProperty
from bpy_extras.io_utils import ImportHelper

from ..scene import display, segmentation as seg
from ..scene.materialize import load_ply, load_scene_folder, materialize
from .job_operator import EngineJobOperator

SCAN_COLLECTION = "Scan"


def frustum_mesh(name: str, intrinsics: np.ndarray, poses: np.ndarray, sizes: np.ndarray,
                 depth: float = 0.3) -> bpy.types.Mesh:
    """One mesh with a wire pyramid per camera (apex at the camera, base at `depth`)."""
    n = len(poses)
    w, h = sizes[:, 0].astype(np.float64), sizes[:, 1].astype(np.float64)
    fx, fy, cx, cy = intrinsics[:, 0, 0], intrinsics[:, 1, 1], intrinsics[:, 0, 2], intrinsics[:, 1, 2]
    us = np.stack([np.zeros(n), w, w, np.zeros(n)], axis=1)
    vs = np.stack([np.zeros(n), np.zeros(n), h, h], axis=1)
    corners = np.stack([(us - cx[:, None]) / fx[:, None] * depth,
                        (vs - cy[:, None]) / fy[:, None] * depth, np.full((n, 4), depth)], axis=2)
    local = np.concatenate([np.zeros((n, 1, 3)), corners], axis=1)  # n x 5 x 3, OpenCV camera frame
    world = np.einsum("nij,nkj->nki", poses[:, :3, :3], local) + poses[:, None, :3, 3]
    base = np.array([[0, 1], [0, 2], [0, 3], [0, 4], [1, 2], [2, 3], [3, 4], [4, 1]])
    edges = (base[None] + 5 * np.arange(n)[:, None, None]).reshape(-1, 2)
    mesh = bpy.data.meshes.new(name)
    mesh.vertices.add(5 * n)
    mesh.vertices.foreach_set("co", world.astype(np.float32).ravel())
    mesh.edges.add(len(edges))
    mesh.edges.foreach_set("vertices", edges.astype(np.int32).ravel())
    mesh.update()
    return mesh


class OT3D_OT_import_scan(EngineJobOperator, bpy.types.Operator, ImportHelper):
    """Import an RGB-D scan as a coloured point cloud (the engine reads every scan layout it knows)"""

    bl_idname = "ot3d.import_scan"
    bl_label = "Import RGB-D Scan"
    bl_options = {"REGISTER", "UNDO"}
    job_name = "scan_cloud"

    filename_ext = ""
    use_filter_folder = True
    directory: StringProperty(subtype="DIR_PATH")
    frustums: BoolProperty(name="Camera frustums", default=False)
    from_browser: BoolProperty(default=False, options={"HIDDEN", "SKIP_SAVE"})

    def invoke(self, context, event):
        if self.filepath or self.directory or bpy.app.background:
            return EngineJobOperator.invoke(self, context, event)
        self.from_browser = True  # the file browser calls execute: run modal from there
        context.window_manager.fileselect_add(self)
        return {"RUNNING_MODAL"}

    def _scan(self) -> str:
        return bpy.path.abspath(self.filepath or self.directory)

    def execute(self, context):
        if not (self.filepath or self.directory):
            self.report({"ERROR"}, "No scan folder given")
            return {"CANCELLED"}
        if self.from_browser and not bpy.app.background and context.window is not None:
            return self.run_modal(context)
        return EngineJobOperator.execute(self, context)

    def job_params(self, context, job_dir: Path) -> dict:
        s = context.scene.ot3d
        return {"scan": self._scan(), "layout": None if s.layout == "AUTO" else s.layout,
                "stride": int(s.frame_stride), "max_frames": int(s.max_frames) or None,
                "voxel": float(s.import_voxel)}

    def apply_result(self, context, outcome) -> str:
        with np.load(outcome.files["cloud"]) as z:
            pts, cols = z["points"], z["colors"]
            Ks, poses, sizes = z["intrinsics"], z["poses"], z["sizes"]
        scan_path = Path(self._scan().rstrip("/\\"))
        name = scan_path.name or "scan"
        coll = seg.collection(context.scene, SCAN_COLLECTION)
        mesh = bpy.data.meshes.new(name)
        seg.set_points(mesh, pts)
        seg.set_colors(mesh, cols)
        obj = bpy.data.objects.new(name, mesh)
        coll.objects.link(obj)
        obj[seg.ROLE] = "scan"
        obj["scan"] = str(scan_path)
        obj["layout"] = outcome.data.get("layout", "")
        obj["frames"] = int(outcome.data.get("frames", 0))
        display.show_as_points(obj, display.scan_material(), context.scene.ot3d.point_radius)
        if self.frustums or context.scene.ot3d.import_frustums:
            cams = bpy.data.objects.new(f"{name} cameras", frustum_mesh(f"{name} cameras", Ks, poses, sizes))
            cams[seg.ROLE] = "cameras"
            coll.objects.link(cams)
        settings = context.scene.ot3d
        settings.scan_path = str(scan_path)
        if outcome.data.get("mesh") and not settings.mesh_path:
            settings.mesh_path = outcome.data["mesh"]
        return f"Imported {len(pts)} points from {len(poses)} frames ({outcome.data.get('layout', '?')})"


class OT3D_OT_import_mesh(bpy.types.Operator, ImportHelper):
    """Import a scan mesh (PLY/OBJ); it becomes the superpoint source for segmentation"""

    bl_idname = "ot3d.import_mesh"
    bl_label = "Import Scan Mesh"
    bl_options = {"REGISTER", "UNDO"}
    filename_ext = ".ply"
    filter_glob: StringProperty(default="*.ply;*.obj", options={"HIDDEN"})

    def execute(self, context):
        path = Path(bpy.path.abspath(self.filepath))
        if not path.is_file():
            self.report({"ERROR"}, f"{path}: file not found")
            return {"CANCELLED"}
        importers = {".ply": bpy.ops.wm.ply_import, ".obj": bpy.ops.wm.obj_import}
        importer = importers.get(path.suffix.lower())
        if importer is None:
            self.report({"ERROR"}, f"{path}: only .ply and .obj meshes are supported")
            return {"CANCELLED"}
        before = set(bpy.data.objects)
        try:
            importer(filepath=str(path))
        except RuntimeError as exc:
            self.report({"ERROR"}, f"{path}: cannot import mesh: {exc}")
            return {"CANCELLED"}
        new = [o for o in bpy.data.objects if o not in before]
        if not new:
            self.report({"ERROR"}, f"{path}: the file holds no mesh")
            return {"CANCELLED"}
        coll = seg.collection(context.scene, SCAN_COLLECTION)
        for obj in new:
            obj[seg.ROLE] = "mesh"
            obj["source"] = str(path)
            for c in list(obj.users_collection):
                c.objects.unlink(obj)
            coll.objects.link(obj)
        context.scene.ot3d.mesh_path = str(path)
        self.report({"INFO"}, f"Imported {path.name} as the superpoint mesh")
        return {"FINISHED"}


class OT3D_OT_import_result(bpy.types.Operator, ImportHelper):
    """Import a segmentation: an OpenTrack3D scene folder (instances.json + points.npz) or a PLY with instance_id"""

    bl_idname = "ot3d.import_result"
    bl_label = "Import Segmentation"
    bl_options = {"REGISTER", "UNDO"}
    filename_ext = ""
    filter_glob: StringProperty(default="*.json;*.ply;*.npz", options={"HIDDEN"})

    def execute(self, context):
        path = Path(bpy.path.abspath(self.filepath))
        try:
            if path.suffix.lower() == ".ply":
                data = load_ply(path)
            else:
                data = load_scene_folder(path if path.is_dir() else path.parent)
            _, objects = materialize(context.scene, data)
        except Exception as exc:  # ScanError and friends name the file and the problem
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        self.report({"INFO"}, f"Imported {len(objects)} instances from {path}")
        return {"FINISHED"}


classes = (OT3D_OT_import_scan, OT3D_OT_import_mesh, OT3D_OT_import_result)
