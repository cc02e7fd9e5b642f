"""Labels from the fused cloud back onto the input: per vertex and face, or per point.

The pipeline labels voxel centres of the cloud it fused from the virtual views; each input
vertex/point takes the id of the nearest labelled centre within a couple of voxels (farther
means no view saw it: 0). A face takes the id most of its corners carry (its centroid's
nearest when all three differ). When superpoint refinement ran on the input mesh itself,
its per-vertex ids are used as they are.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.spatial import cKDTree

from ..io.atomic import atomic_path, write_text_atomic
from ..io.geometry_files import Geometry
from ..io.ply import write_ply
from ..types import SceneResult


def nearest_ids(result: SceneResult, positions: np.ndarray, radius: float) -> np.ndarray:
    index = nearest_point_index(result, positions, radius)
    return np.where(index >= 0, result.instance_ids[np.maximum(index, 0)], 0).astype(np.int32)


def nearest_point_index(result: SceneResult, positions: np.ndarray, radius: float) -> np.ndarray:
    """Per position, the nearest labelled scene point within `radius` (-1: none). Kept in
    input_instances.ply so that the add-on can carry corrections of the scene's ids over
    to the input (ids = scene ids[point_index])."""
    labelled = np.flatnonzero(result.instance_ids > 0)
    out = np.full(len(positions), -1, dtype=np.int64)
    if not len(labelled) or not len(positions):
        return out.astype(np.int32)
    d, j = cKDTree(result.points[labelled]).query(positions, k=1, distance_upper_bound=radius)
    hit = np.isfinite(d)
    out[hit] = labelled[j[hit]]
    return out.astype(np.int32)


def face_ids(faces: np.ndarray, vertex_ids: np.ndarray, centroid_ids: np.ndarray) -> np.ndarray:
    c = vertex_ids[faces]
    majority = np.where(c[:, 0] == c[:, 1], c[:, 0], np.where(c[:, 2] == c[:, 1], c[:, 1],
                                                               np.where(c[:, 0] == c[:, 2], c[:, 0], -1)))
    return np.where(majority >= 0, majority, centroid_ids).astype(np.int32)


def transfer(geo: Geometry, result: SceneResult, voxel_size: float) -> dict[str, np.ndarray]:
    """{"vertex": ids per input vertex/point, "face": ids per face (meshes)}."""
    radius = 2.0 * voxel_size
    if (geo.is_mesh and result.mesh_instance_ids is not None
            and len(result.mesh_instance_ids) == len(geo.points)):
        vertex = result.mesh_instance_ids.astype(np.int32)
    else:
        vertex = nearest_ids(result, geo.points, radius)
    if geo.file_vertices is not None:  # per-vertex ids follow the file's vertex list (OBJ seams)
        out = {"vertex": nearest_ids(result, geo.file_vertices, radius), "kept_vertex": vertex}
    elif geo.kept is not None:  # one id per point of the file: left-out NaN points get 0
        full = np.zeros(len(geo.kept), dtype=np.int32)
        full[geo.kept] = vertex
        out = {"vertex": full, "kept_vertex": vertex}
    else:
        out = {"vertex": vertex, "kept_vertex": vertex}
    if geo.is_mesh:
        centroids = geo.points[geo.faces].mean(axis=1)
        out["face"] = face_ids(geo.faces, vertex, nearest_ids(result, centroids, radius))
    return out


def write_input_labels(out_dir: str | Path, geo: Geometry, result: SceneResult, voxel_size: float) -> list[str]:
    """Write the labels beside the scene files; returns the file names written."""
    out = Path(out_dir)
    labels = transfer(geo, result, voxel_size)
    written = []
    stem = "input_vertex_instance_ids" if geo.is_mesh else "input_instance_ids"
    written += _write_ids(out, stem, labels["vertex"])  # ScanNet per-vertex format: one id a line
    if "face" in labels:
        written += _write_ids(out, "input_face_instance_ids", labels["face"])
    pts = geo.points.astype(np.float32)
    vertex = {"x": pts[:, 0], "y": pts[:, 1], "z": pts[:, 2]}
    if geo.colors is not None:
        vertex.update(red=geo.colors[:, 0], green=geo.colors[:, 1], blue=geo.colors[:, 2])
    vertex["instance_id"] = labels["kept_vertex"]
    vertex["point_index"] = nearest_point_index(result, geo.points, 2.0 * voxel_size)
    write_ply(out / "input_instances.ply", vertex, geo.faces if geo.is_mesh else None)
    written.append("input_instances.ply")
    return written


def _write_ids(out: Path, stem: str, ids: np.ndarray) -> list[str]:
    write_text_atomic(out / f"{stem}.txt", "\n".join(map(str, ids.tolist())) + "\n")
    with atomic_path(out / f"{stem}.npy", suffix=".npy") as tmp:
        np.save(tmp, ids.astype(np.int32))
    return [f"{stem}.txt", f"{stem}.npy"]
