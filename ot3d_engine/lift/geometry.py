"""Per-pixel camera geometry shared by the segmenter and the lifting stage."""

from __future__ import annotations

import numpy as np


def backproject(depth: np.ndarray, K: np.ndarray, rows: np.ndarray | None = None,
                cols: np.ndarray | None = None) -> np.ndarray:
    """Camera-frame points (OpenCV axes). Full image -> HxWx3, else pixels (rows, cols) -> Nx3."""
    fx, fy, cx, cy = K[0, 0], K[1, 1], K[0, 2], K[1, 2]
    if rows is None:
        h, w = depth.shape
        v, u = np.mgrid[0:h, 0:w]
        z = depth
    else:
        v, u, z = rows, cols, depth[rows, cols]
    x = (u - cx) / fx * z
    y = (v - cy) / fy * z
    return np.stack([x, y, z], axis=-1).astype(np.float32)


def to_world(points_cam: np.ndarray, pose: np.ndarray) -> np.ndarray:
    R = pose[:3, :3].astype(np.float32)
    t = pose[:3, 3].astype(np.float32)
    return points_cam @ R.T + t


def depth_edges(depth: np.ndarray, rel_threshold: float) -> np.ndarray:
    """Pixels next to a depth jump larger than rel_threshold * depth (or next to invalid depth)."""
    d = np.where(np.isfinite(depth) & (depth > 0), depth, 0.0).astype(np.float32)
    invalid = d <= 0
    pad = np.pad(d, 1, mode="edge")
    edge = np.zeros_like(invalid)
    for dy, dx in ((0, 1), (1, 0), (0, -1), (-1, 0)):
        nb = pad[1 + dy:1 + dy + d.shape[0], 1 + dx:1 + dx + d.shape[1]]
        edge |= (np.abs(nb - d) > rel_threshold * np.maximum(d, 1e-3)) | (nb <= 0)
    return edge & ~invalid


def normals_from_points(P: np.ndarray) -> np.ndarray:
    """Normals from central differences of an organized HxWx3 cloud, oriented to the camera."""
    dx = np.zeros_like(P)
    dy = np.zeros_like(P)
    dx[:, 1:-1] = P[:, 2:] - P[:, :-2]
    dy[1:-1] = P[2:] - P[:-2]
    n = np.cross(dx, dy)
    norm = np.linalg.norm(n, axis=-1, keepdims=True)
    n = n / np.maximum(norm, 1e-12)
    flip = np.sum(n * P, axis=-1) > 0  # camera at origin: normals should point back at it
    n[flip] *= -1
    return n
