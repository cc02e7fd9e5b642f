"""Is a prediction from the same scene as the ground truth? AP 0 from comparing two
different rooms looks like a bad model; a warning says what it more likely is."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from scipy.spatial import cKDTree

MIN_COVERED = 0.2  # share of GT points with a predicted point within the radius, below: warn
MIN_COVERED_OTHER_NAME = 0.5  # ... when the prediction names a scan other than the GT's folder
SAMPLE = 20000


def covered_share(gt_points: np.ndarray, pred_points: np.ndarray, radius: float) -> float:
    """Share of (a sample of) GT points that have a predicted point within `radius`."""
    gt = np.asarray(gt_points, dtype=np.float64).reshape(-1, 3)
    pred = np.asarray(pred_points, dtype=np.float64).reshape(-1, 3)
    if not len(gt) or not len(pred):
        return 0.0
    if len(gt) > SAMPLE:
        gt = gt[np.random.default_rng(0).choice(len(gt), SAMPLE, replace=False)]
    dist, _ = cKDTree(pred).query(gt, k=1, distance_upper_bound=radius)
    return float(np.mean(np.isfinite(dist)))


def scene_mismatch(gt_points, pred_points, radius: float, pred_dir: str | Path, gt_dir: str | Path) -> str | None:
    """A warning when the prediction does not cover the GT scene, else None."""
    share = covered_share(gt_points, pred_points, radius)
    if share >= MIN_COVERED_OTHER_NAME:
        return None
    scan = None
    try:
        scan = json.loads((Path(pred_dir) / "instances.json").read_text()).get("scan")
    except (OSError, ValueError, AttributeError):
        pass
    other = bool(scan) and Path(scan).name != Path(gt_dir).name
    if share >= MIN_COVERED and not other:
        return None
    names = f"; the prediction was made from {scan}, the ground truth is {gt_dir}" if other else ""
    return (f"{pred_dir}: only {100 * share:.0f}% of the ground truth's points have a predicted point "
            f"within {radius:g} m: prediction and ground truth look like different scenes{names}")
