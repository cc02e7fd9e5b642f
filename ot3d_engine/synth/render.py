"""Ray-cast the scene mesh into depth, instance, class and colour images (open3d, CPU).

Rays go through pixel indices u, v with direction K^-1 [u, v, 1] (unnormalised), so the
hit distance open3d returns is already z-depth along the optical axis, the quantity a
depth camera stores, and back-projection x = (u - cx) z / fx recovers the hit exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import open3d as o3d

from .scene_mesh import SceneMesh


@dataclass
class RenderedView:
    depth: np.ndarray  # HxW float32 z-depth in metres, 0 = no hit
    instance: np.ndarray  # HxW int32, 0 = no hit
    semantic: np.ndarray  # HxW int32
    color: np.ndarray  # HxWx3 uint8 (noise-free shading)
    points: np.ndarray  # Mx3 float32 world hit points of the valid pixels
    point_pixels: np.ndarray  # M int64 flat pixel index of each point


class Renderer:
    def __init__(self, mesh: SceneMesh, intrinsics: np.ndarray, width: int, height: int):
        self.mesh = mesh
        self.width, self.height = width, height
        self.scene = o3d.t.geometry.RaycastingScene()
        self.scene.add_triangles(o3d.core.Tensor(mesh.vertices.astype(np.float32)),
                                 o3d.core.Tensor(mesh.triangles.astype(np.uint32)))
        u, v = np.meshgrid(np.arange(width, dtype=np.float64), np.arange(height, dtype=np.float64))
        k = intrinsics
        self.dirs_cam = np.stack([(u - k[0, 2]) / k[0, 0], (v - k[1, 2]) / k[1, 1], np.ones_like(u)], -1)

    def render(self, pose: np.ndarray) -> RenderedView:
        h, w = self.height, self.width
        dirs = self.dirs_cam @ pose[:3, :3].T
        rays = np.concatenate([np.broadcast_to(pose[:3, 3], dirs.shape), dirs], -1).astype(np.float32)
        hit = self.scene.cast_rays(o3d.core.Tensor(rays))
        t = hit["t_hit"].numpy()
        prim = hit["primitive_ids"].numpy()
        valid = np.isfinite(t)
        tri = np.where(valid, prim, 0).astype(np.int64)
        depth = np.where(valid, t, 0.0).astype(np.float32)
        instance = np.where(valid, self.mesh.tri_instance[tri], 0).astype(np.int32)
        semantic = np.where(valid, self.mesh.tri_class[tri], 0).astype(np.int32)
        color = np.where(valid[..., None], self.mesh.tri_colour[tri], 0).astype(np.uint8)
        flat = np.flatnonzero(valid)
        pts = (pose[:3, 3] + dirs.reshape(-1, 3)[flat] * t.reshape(-1)[flat, None]).astype(np.float32)
        return RenderedView(depth, instance, semantic, color, pts, flat)
