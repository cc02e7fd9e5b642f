"""Ray-cast RGB-D views of a mesh with open3d's RaycastingScene (CPU).

Each pixel's ray returns the hit distance, the triangle id and barycentrics; colour is the
interpolated vertex colour, the triangle's colour, or a texture lookup at the interpolated
UV. As in synth/render.py, rays are K^-1 [u, v, 1] (unnormalised), so the hit distance
is already the z-depth a depth camera stores.
"""

from __future__ import annotations

import numpy as np
import open3d as o3d

from ..io.geometry_files import Geometry
from .camera_paths import Intrinsics
from .texture import sample_texture

LIGHT = np.array([0.3, 0.5, 1.0]) / np.linalg.norm([0.3, 0.5, 1.0])


class MeshRenderer:
    def __init__(self, geo: Geometry, intrinsics: Intrinsics):
        self.geo = geo
        self.intrinsics = intrinsics
        self.K = intrinsics.K
        self.scene = o3d.t.geometry.RaycastingScene()
        self.scene.add_triangles(o3d.core.Tensor(geo.points.astype(np.float32)),
                                 o3d.core.Tensor(geo.faces.astype(np.uint32)))
        w, h = intrinsics.width, intrinsics.height
        u, v = np.meshgrid(np.arange(w, dtype=np.float64), np.arange(h, dtype=np.float64))
        k = self.K
        self.dirs_cam = np.stack([(u - k[0, 2]) / k[0, 0], (v - k[1, 2]) / k[1, 1], np.ones_like(u)], -1)
        self._face_shade = None
        if geo.colors is None and geo.face_colors is None and geo.texture is None:
            self._face_shade = _normal_shading(geo.points, geo.faces)

    def cast(self, pose: np.ndarray):
        dirs = self.dirs_cam @ pose[:3, :3].T
        rays = np.concatenate([np.broadcast_to(pose[:3, 3], dirs.shape), dirs], -1).astype(np.float32)
        return self.scene.cast_rays(o3d.core.Tensor(rays))

    def depth(self, pose: np.ndarray) -> np.ndarray:
        t = self.cast(pose)["t_hit"].numpy()
        return np.where(np.isfinite(t), t, 0.0).astype(np.float32)

    def render(self, pose: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(colour HxWx3 uint8, depth HxW float32 metres, 0 = no hit)."""
        hit = self.cast(pose)
        t = hit["t_hit"].numpy()
        valid = np.isfinite(t)
        tri = np.where(valid, hit["primitive_ids"].numpy(), 0).astype(np.int64)
        bary = hit["primitive_uvs"].numpy().astype(np.float64)
        weights = np.stack([1.0 - bary[..., 0] - bary[..., 1], bary[..., 0], bary[..., 1]], -1)
        color = self._colour(tri, weights)
        color[~valid] = 0
        return color, np.where(valid, t, 0.0).astype(np.float32)

    def _colour(self, tri: np.ndarray, weights: np.ndarray) -> np.ndarray:
        geo = self.geo
        corners = geo.faces[tri]  # HxWx3 vertex ids
        if geo.texture is not None:
            uv = np.einsum("hwk,hwkc->hwc", weights, geo.uv[corners])
            return sample_texture(geo.texture, uv)
        if geo.colors is not None:
            c = np.einsum("hwk,hwkc->hwc", weights, geo.colors[corners].astype(np.float64))
            return np.clip(np.round(c), 0, 255).astype(np.uint8)
        if geo.face_colors is not None:
            return geo.face_colors[tri].copy()
        return self._face_shade[tri].copy()


def _normal_shading(points: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Grey by face orientation, for meshes without colour: surfaces stay distinguishable."""
    a, b, c = points[faces[:, 0]], points[faces[:, 1]], points[faces[:, 2]]
    n = np.cross(b - a, c - a)
    n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)
    g = 90 + 140 * np.abs(n @ LIGHT)
    return np.repeat(np.clip(g, 0, 255).astype(np.uint8)[:, None], 3, axis=1)
