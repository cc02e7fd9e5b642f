"""Baseline (b): 3D-only clustering of the fused cloud, no 2D masks at all.

Fuse every frame into the voxel map, peel off large planes with RANSAC (floor, walls, table
tops become instances of their own), then DBSCAN the rest. This is what a mask-free
geometric method gets; the tracker must beat it. (Baseline (a), greedy IoU merging without a
tracker, is the "greedy_iou" tracker backend: see track/greedy.py.)
"""

from __future__ import annotations

import time

import numpy as np
import open3d as o3d

from .config import PipelineConfig
from .lift import voxels as vx
from .lift.lifting import Lifter
from .scale import fit_to_scan
from .track.scene_map import SceneMap
from .types import Instance, Scan, SceneResult


def fuse_scan(scan: Scan, config: PipelineConfig) -> SceneMap:
    lifter = Lifter(config.lift)
    scene = SceneMap()
    for i in range(len(scan)):
        _, cloud = lifter.lift(scan.frame(i), [], None)
        scene.add(cloud)
    scene.compact()
    return scene


def ransac_plane(points: np.ndarray, threshold: float, rng: np.random.Generator, iterations: int = 1000,
                 score_sample: int = 20000) -> np.ndarray:
    """Indices of the best plane's inliers. Seeded and single-threaded, so a baseline run is
    repeatable (open3d's segment_plane is not, even seeded); hypotheses scored on a subsample."""
    pts = np.asarray(points, np.float32)
    n = len(pts)
    tri = pts[rng.integers(0, n, (iterations, 3))]
    normals = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    length = np.linalg.norm(normals, axis=1)
    ok = length > 1e-9
    normals, tri = normals[ok] / length[ok, None], tri[ok]
    offsets = -np.sum(normals * tri[:, 0], axis=1)
    sub = pts[rng.choice(n, min(n, score_sample), replace=False)]
    counts = np.concatenate([(np.abs(sub @ normals[i:i + 128].T + offsets[i:i + 128]) < threshold).sum(0)
                             for i in range(0, len(normals), 128)])
    best = int(np.argmax(counts))
    inliers = np.flatnonzero(np.abs(pts @ normals[best] + offsets[best]) < threshold)
    if len(inliers) >= 3:  # least-squares refit on the inliers
        c = pts[inliers].mean(0)
        normal = np.linalg.svd(pts[inliers] - c, full_matrices=False)[2][-1]
        inliers = np.flatnonzero(np.abs((pts - c) @ normal) < threshold)
    return inliers


def cluster_baseline(scan: Scan, config: PipelineConfig | None = None, *, max_planes: int = 8,
                     plane_fraction: float = 0.04, eps_voxels: float = 2.0, min_points: int = 50
                     ) -> SceneResult:
    config = config or PipelineConfig()
    t0 = time.perf_counter()
    scan, config, _ = fit_to_scan(scan, config)
    scene = fuse_scan(scan, config)
    pts = vx.centers(scene.keys, config.lift.voxel_size)
    ids = np.zeros(len(pts), dtype=np.int32)
    remaining = np.arange(len(pts))
    next_id = 1
    v = config.lift.voxel_size
    rng = np.random.default_rng(0)
    for _ in range(max_planes):
        if len(remaining) < min_points:
            break
        inl = ransac_plane(pts[remaining], 1.5 * v, rng)
        if len(inl) < plane_fraction * len(pts):
            break
        ids[remaining[inl]] = next_id
        next_id += 1
        remaining = np.delete(remaining, inl)
    if len(remaining):
        pcd = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(pts[remaining].astype(np.float64)))
        lab = np.asarray(pcd.cluster_dbscan(eps=eps_voxels * v, min_points=4))
        ok = lab >= 0
        ids[remaining[ok]] = lab[ok] + next_id
    # relabel densely, drop small clusters
    uniq, inv, counts = np.unique(ids, return_inverse=True, return_counts=True)
    keep = (uniq > 0) & (counts >= min_points)
    new = np.zeros(len(uniq), dtype=np.int32)
    new[keep] = np.arange(1, keep.sum() + 1)
    ids = new[inv]
    colors = scene.colors()
    instances = []
    for k in range(1, int(ids.max(initial=0)) + 1):
        sel = np.nonzero(ids == k)[0]
        # bigger clusters first: the only confidence a purely geometric method has
        instances.append(Instance(id=k, points=pts[sel], colors=colors[sel],
                                  score=float(1 - np.exp(-len(sel) / 500)), observations=len(scan)))
    return SceneResult(points=pts, colors=colors, instance_ids=ids, instances=instances,
                       timings={"total": time.perf_counter() - t0}, meta={"method": "cluster_baseline"})
