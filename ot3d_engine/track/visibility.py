"""Which 3D points a frame actually sees: projected inside the image and not occluded."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class DepthView:
    depth: np.ndarray  # hxw float32 metres (possibly subsampled), 0 = invalid
    K: np.ndarray  # 3x3 for that resolution
    pose: np.ndarray  # 4x4 camera-to-world

    @classmethod
    def from_frame(cls, frame, stride: int = 1) -> "DepthView":
        depth = np.asarray(frame.depth[::stride, ::stride], dtype=np.float32)
        depth = np.where(depth > 0, depth, np.float32(0))  # NaN and <= 0 become 0
        K = frame.intrinsics.copy()
        K[:2] /= stride
        K[:2, 2] = frame.intrinsics[:2, 2] / stride
        return cls(depth, K, frame.pose)

    def visible(self, points: np.ndarray, tolerance: float) -> np.ndarray:
        """True where a point projects onto valid depth within `tolerance` (+2% of range)."""
        return self.project(points, tolerance)[0]

    def project(self, points: np.ndarray, tolerance: float, relative: float = 0.02
                ) -> tuple[np.ndarray, np.ndarray]:
        """(visible N bool, uv N x 2 int pixel): in front, inside the image, and within
        tolerance + relative * z of the measured depth (farther = occluded)."""
        R, t = self.pose[:3, :3], self.pose[:3, 3]
        pc = (np.asarray(points, np.float64) - t) @ R
        z = pc[:, 2]
        h, w = self.depth.shape
        zs = np.where(z > 1e-3, z, 1.0)
        u = np.round(self.K[0, 0] * pc[:, 0] / zs + self.K[0, 2]).astype(np.int64)
        v = np.round(self.K[1, 1] * pc[:, 1] / zs + self.K[1, 2]).astype(np.int64)
        inside = (z > 1e-3) & (u >= 0) & (u < w) & (v >= 0) & (v < h)
        out = np.zeros(len(points), dtype=bool)
        idx = np.nonzero(inside)[0]
        d = self.depth[v[idx], u[idx]]
        out[idx] = (d > 0) & (np.abs(d - z[idx]) <= tolerance + relative * z[idx])
        uv = np.zeros((len(points), 2), dtype=np.int64)
        uv[idx, 0], uv[idx, 1] = u[idx], v[idx]
        return out, uv
