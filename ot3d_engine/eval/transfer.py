"""Carry predicted instance ids over to the ground-truth points.

The benchmark scores masks over GT vertices; a prediction made on another cloud (our
fused voxels) is transferred by nearest neighbour, and GT points farther than `radius`
from every predicted point get no prediction (they were not reconstructed).
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree


def transfer_instance_ids(gt_points: np.ndarray, pred_points: np.ndarray, pred_ids: np.ndarray,
                          radius: float = 0.05) -> np.ndarray:
    """-> int64 id per GT point (0 = no prediction); identity when both clouds are the same."""
    gt_points = np.asarray(gt_points, dtype=np.float64).reshape(-1, 3)
    pred_points = np.asarray(pred_points).reshape(-1, 3)
    pred_ids = np.asarray(pred_ids).reshape(-1).astype(np.int64)
    if len(pred_ids) != len(pred_points):
        raise ValueError(f"{len(pred_points)} prediction points but {len(pred_ids)} instance ids")
    if pred_points.shape == gt_points.shape and np.array_equal(pred_points.astype(np.float64), gt_points):
        return pred_ids.copy()
    out = np.zeros(len(gt_points), dtype=np.int64)
    if len(pred_points) == 0 or len(gt_points) == 0 or radius <= 0:
        return out
    dist, idx = cKDTree(pred_points.astype(np.float64)).query(gt_points, k=1, distance_upper_bound=radius)
    hit = np.isfinite(dist)
    out[hit] = pred_ids[idx[hit]]
    return out
