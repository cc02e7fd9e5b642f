"""Undistortion of depth and colour for the OpenCV (radial-tangential) and fisheye models.

The maps are the forward models evaluated at every output pixel (no iteration): an output
pixel's ray is distorted to find where the recorded image saw it. Depth is sampled
nearest-neighbour (a blend of two surfaces is a point on neither), colour bilinearly.
"""

from __future__ import annotations

import numpy as np

MODELS = ("OPENCV", "OPENCV_FISHEYE")


def distortion_map(K: np.ndarray, shape: tuple[int, int], model: str, coeffs: dict) -> tuple[np.ndarray, np.ndarray]:
    """(src_u, src_v): where each undistorted pixel of an image of `shape` lies in the recorded one."""
    h, w = shape
    fx, fy, cx, cy = K[0, 0], K[1, 1], K[0, 2], K[1, 2]
    v, u = np.mgrid[0:h, 0:w].astype(np.float64)
    x, y = (u - cx) / fx, (v - cy) / fy
    k1, k2, k3, k4 = (float(coeffs.get(k, 0.0)) for k in ("k1", "k2", "k3", "k4"))
    if model == "OPENCV_FISHEYE":
        r = np.hypot(x, y)
        theta = np.arctan(r)
        t2 = theta * theta
        theta_d = theta * (1 + k1 * t2 + k2 * t2 ** 2 + k3 * t2 ** 3 + k4 * t2 ** 4)
        scale = np.where(r > 1e-12, theta_d / np.maximum(r, 1e-12), 1.0)
        xd, yd = x * scale, y * scale
    else:
        p1, p2 = float(coeffs.get("p1", 0.0)), float(coeffs.get("p2", 0.0))
        r2 = x * x + y * y
        radial = 1 + k1 * r2 + k2 * r2 ** 2 + k3 * r2 ** 3
        xd = x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
        yd = y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
    return xd * fx + cx, yd * fy + cy


def undistort(depth: np.ndarray, color: np.ndarray, K: np.ndarray, model: str, coeffs: dict):
    su, sv = distortion_map(K, depth.shape, model, coeffs)
    h, w = depth.shape
    inside = (su > -0.5) & (su < w - 0.5) & (sv > -0.5) & (sv < h - 0.5)
    ni = np.clip(np.rint(sv).astype(np.int64), 0, h - 1)
    nj = np.clip(np.rint(su).astype(np.int64), 0, w - 1)
    out_depth = np.where(inside, depth[ni, nj], 0).astype(np.float32)
    u0 = np.clip(np.floor(su).astype(np.int64), 0, w - 2)
    v0 = np.clip(np.floor(sv).astype(np.int64), 0, h - 2)
    a = np.clip(su - u0, 0, 1)[..., None]
    b = np.clip(sv - v0, 0, 1)[..., None]
    c = color.astype(np.float32)
    out = ((1 - a) * (1 - b) * c[v0, u0] + a * (1 - b) * c[v0, u0 + 1]
           + (1 - a) * b * c[v0 + 1, u0] + a * b * c[v0 + 1, u0 + 1])
    out_color = np.where(inside[..., None], np.clip(out + 0.5, 0, 255), 0).astype(np.uint8)
    return out_depth, out_color
