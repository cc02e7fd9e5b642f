"""RGB-D views of a point cloud: a vectorised z-buffer splat with hole filling.

Each point covers a square footprint whose half-size in pixels is its surface spacing
projected at its depth (f * spacing / z, capped), so a sparse cloud still renders as closed
surfaces and a dense one costs one pixel per point. The nearest footprint wins a pixel
(np.minimum.at on the depth buffer, then the points whose depth equals the winner give the
colour). Holes left between footprints are filled from the nearest valid pixel within a
few pixels (a distance transform); larger gaps stay empty, as a real depth camera leaves them.
`surface_noise` measures how thick the cloud's surfaces are (a cloud fused from many frames
is a slab); the scale fit (ot3d_engine/scale.py) keeps voxels and depth cuts above it.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree

from ..io.geometry_files import Geometry
from .camera_paths import Intrinsics

MAX_HALF = 4  # footprint half-size cap in pixels (9x9)
FILL_PX = 2  # holes up to this many pixels from a valid pixel are filled
GREY = np.array([160, 160, 160], dtype=np.uint8)


def point_spacing(points: np.ndarray, samples: int = 20000, k: int = 4, seed: int = 0) -> float:
    """Median distance to the k-th neighbour: the radius a splat needs to close the surface."""
    rng = np.random.default_rng(seed)
    n = len(points)
    if n < k + 1:
        return 0.01
    sub = points[rng.choice(n, size=min(samples, n), replace=False)]
    tree = cKDTree(points[rng.choice(n, size=min(n, 2_000_000), replace=False)] if n > 2_000_000 else points)
    d, _ = tree.query(sub, k=k + 1)
    spacing = float(np.median(d[:, -1]))
    if n > 2_000_000:  # the tree held a subsample: scale to the full density
        spacing *= np.sqrt(min(n, 2_000_000) / n)
    return max(spacing, 1e-6)


def local_spacing(points: np.ndarray, global_spacing: float, cell_factor: float = 8.0) -> np.ndarray:
    """Per-point spacing from the point count of its coarse voxel (a surface patch of about
    L^2 holding n points has spacing L / sqrt(n)): far, sparse parts of a scan get larger
    splats than near, dense ones. Never below the global (k-NN) spacing."""
    cell = cell_factor * global_spacing
    keys = np.floor(points / cell).astype(np.int64)
    keys -= keys.min(axis=0)
    dims = keys.max(axis=0) + 1
    flat = (keys[:, 0] * dims[1] + keys[:, 1]) * dims[2] + keys[:, 2]
    _, inverse, counts = np.unique(flat, return_inverse=True, return_counts=True)
    spacing = 1.1 * cell / np.sqrt(counts[inverse.reshape(-1)])
    return np.clip(spacing, global_spacing, 4 * global_spacing).astype(np.float32)


def surface_noise(points: np.ndarray, spacing: float, tree_points: int = 500_000, queries: int = 2000,
                  seed: int = 0) -> float:
    """How thick the cloud's surfaces are: the median, over sample points, of the standard
    deviation along the normal of the points within a ball of 1/100 of the scene's extent
    (never under 4 spacings of the points searched). A cloud fused from many frames is a
    slab, not a sheet: each view's z-buffer shows the slab's near side, so two views of one
    surface disagree by about this much, whatever the point spacing (the 7-Scenes kitchen
    fused at 5 mm / 1 cm / 2 cm: 1.5 / 1.7 / 2.2 cm; a sampled mesh: 0; a single Kinect
    frame of a table top: 1 mm). Balls with fewer than 10 points do not count."""
    rng = np.random.default_rng(seed)
    p = np.asarray(points, dtype=np.float64)
    searched_spacing = spacing * np.sqrt(max(1.0, len(p) / tree_points))
    if len(p) > tree_points:  # a subsample: the balls still hold hundreds of points
        p = p[rng.choice(len(p), size=tree_points, replace=False)]
    if len(p) < 10:
        return 0.0
    lo, hi = np.percentile(p, [2, 98], axis=0)
    radius = max(4.0 * searched_spacing, float(np.linalg.norm(hi - lo)) / 100.0)
    centres = p[rng.choice(len(p), size=min(queries, len(p)), replace=False)]
    balls = cKDTree(p).query_ball_point(centres, radius, return_sorted=False)
    counts = np.fromiter((len(b) for b in balls), dtype=np.int64, count=len(balls))
    owner = np.repeat(np.arange(len(centres)), counts)
    q = p[np.concatenate(balls).astype(np.int64)] - centres[owner]
    m = len(centres)
    n = np.maximum(counts, 1).astype(np.float64)
    mean = np.stack([np.bincount(owner, q[:, k], m) for k in range(3)], 1) / n[:, None]
    cov = np.empty((m, 3, 3))
    for i in range(3):
        for j in range(i, 3):
            cov[:, i, j] = cov[:, j, i] = np.bincount(owner, q[:, i] * q[:, j], m) / n - mean[:, i] * mean[:, j]
    sd = np.sqrt(np.maximum(np.linalg.eigvalsh(cov)[:, 0], 0.0))
    counted = counts >= 10
    return float(np.median(sd[counted])) if counted.any() else 0.0


class SplatRenderer:
    def __init__(self, geo: Geometry, intrinsics: Intrinsics, spacing: float | None = None):
        self.points = geo.points.astype(np.float32)
        self.colors = geo.colors if geo.colors is not None else np.broadcast_to(GREY, (len(geo.points), 3))
        self.intrinsics = intrinsics
        self.K = intrinsics.K
        self.spacing = point_spacing(geo.points) if spacing is None else spacing
        self.point_spacing = local_spacing(geo.points, self.spacing)
        self._noise = None

    @property
    def noise(self) -> float:
        """Surface thickness (surface_noise), measured when first asked."""
        if self._noise is None:
            self._noise = surface_noise(self.points, self.spacing)
        return self._noise

    def depth(self, pose: np.ndarray) -> np.ndarray:
        return self.render(pose, with_color=False)[1]

    def render(self, pose: np.ndarray, with_color: bool = True) -> tuple[np.ndarray | None, np.ndarray]:
        w, h = self.intrinsics.width, self.intrinsics.height
        k = self.K
        r = pose[:3, :3].astype(np.float32)
        t = pose[:3, 3].astype(np.float32)
        cam = (self.points - t) @ r
        z = cam[:, 2]
        front = np.flatnonzero(z > 1e-3)
        cam, z = cam[front], z[front]
        radius = self.point_spacing[front]
        u = k[0, 0] * cam[:, 0] / z + k[0, 2]
        v = k[1, 1] * cam[:, 1] / z + k[1, 2]
        half = np.minimum(np.floor(k[0, 0] * radius / z), MAX_HALF).astype(np.int64)
        ui, vi = np.rint(u).astype(np.int64), np.rint(v).astype(np.int64)
        near = (ui + half >= 0) & (ui - half < w) & (vi + half >= 0) & (vi - half < h)
        sel = np.flatnonzero(near)
        pix, zs, src = _footprints(ui[sel], vi[sel], z[sel], half[sel], w, h)
        depth = np.full(w * h, np.inf, dtype=np.float32)
        np.minimum.at(depth, pix, zs)
        color = None
        if with_color:
            winner = zs == depth[pix]
            color = np.zeros((w * h, 3), dtype=np.uint8)
            color[pix[winner]] = self.colors[front[sel[src[winner]]]]
        valid = np.isfinite(depth)
        depth[~valid] = 0.0
        depth = depth.reshape(h, w)
        if color is not None:
            color = color.reshape(h, w, 3)
        return fill_holes(color, depth, valid.reshape(h, w))


def _footprints(ui, vi, z, half, w, h):
    """Flat pixel ids, depths and source indices of every pixel every footprint covers."""
    pix, zs, src = [], [], []
    for r in np.unique(half):
        idx = np.flatnonzero(half == r)
        dy, dx = np.mgrid[-r:r + 1, -r:r + 1]
        dx, dy = dx.reshape(-1), dy.reshape(-1)
        uu = (ui[idx, None] + dx).reshape(-1)
        vv = (vi[idx, None] + dy).reshape(-1)
        s = np.repeat(idx, len(dx))
        ok = (uu >= 0) & (uu < w) & (vv >= 0) & (vv < h)
        pix.append((vv * w + uu)[ok])
        zs.append(z[s[ok]])
        src.append(s[ok])
    if not pix:
        return np.zeros(0, np.int64), np.zeros(0, np.float32), np.zeros(0, np.int64)
    return np.concatenate(pix), np.concatenate(zs).astype(np.float32), np.concatenate(src)


def fill_holes(color, depth, valid):
    """Empty pixels inside a surface (within FILL_PX of a valid pixel, and mostly surrounded
    by valid ones) take the nearest valid pixel's depth and colour; silhouettes do not grow."""
    if valid.all() or not valid.any():
        return color, depth
    dist, (rows, cols) = ndimage.distance_transform_edt(~valid, return_indices=True)
    around = ndimage.uniform_filter(valid.astype(np.float32), size=2 * FILL_PX + 1, mode="constant")
    fill = (~valid) & (dist <= FILL_PX) & (around >= 0.5)
    depth = depth.copy()
    depth[fill] = depth[rows[fill], cols[fill]]
    if color is not None:
        color = color.copy()
        color[fill] = color[rows[fill], cols[fill]]
    return color, depth
