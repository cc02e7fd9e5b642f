"""Top-K view selection for the classifier, checked against per-pixel ground truth on a
synthetic room: the views chosen for an instance are ones where its object is visible."""

import numpy as np
import pytest
from scipy.spatial import cKDTree

from ot3d_engine.classify.views import FrameCache, select_views
from ot3d_engine.config import BackendConfig, PipelineConfig
from ot3d_engine.io import load_scan
from ot3d_engine.lift import voxels as vx
from ot3d_engine.lift.geometry import backproject, to_world
from ot3d_engine.pipeline import run_pipeline
from ot3d_engine.synth import generate_scene


@pytest.fixture(scope="module")
def segmented_room(tmp_path_factory):
    d = tmp_path_factory.mktemp("views") / "scan"
    generate_scene(d, seed=4, frames=12)
    scan = load_scan(d)
    return scan, run_pipeline(scan, PipelineConfig(segmenter=BackendConfig("oracle")))


def gt_object_of(instance, gt, tree) -> int:
    _, idx = tree.query(instance.points, k=1)
    ids = gt.instance[idx]
    return int(np.bincount(ids[ids > 0]).argmax()) if np.any(ids > 0) else 0


def coverage(frame, n_ids: int) -> np.ndarray:
    """Per GT object: distinct 3 cm voxels of its surface this frame shows (from GT pixels
    and depth, independent of the selector's projection), so close-ups do not win by size."""
    ok = (frame.gt_instance > 0) & (frame.depth > 0)
    pts = to_world(backproject(frame.depth, frame.intrinsics)[ok], frame.pose)
    keys = vx.pack(vx.voxel_coords(pts, 0.03))
    ids = frame.gt_instance[ok].astype(np.int64)
    pairs = np.unique(np.stack([ids, keys], 1), axis=0)
    return np.bincount(pairs[:, 0], minlength=n_ids)


def test_chosen_views_see_the_object(segmented_room):
    scan, result = segmented_room
    gt = scan.ground_truth
    tree = cKDTree(gt.points)
    frames = FrameCache(scan)
    positions = list(range(len(scan)))
    n_ids = int(gt.instance.max()) + 1
    gt_pixels = np.array([coverage(frames(p), n_ids) for p in positions])  # frames x GT objects
    checked = 0
    for inst in result.instances:
        g = gt_object_of(inst, gt, tree)
        if g == 0 or gt_pixels[:, g].max() < 50:
            continue
        views = select_views(inst, scan, k=3, frames=frames, candidates=positions)
        assert views, f"no view chosen for instance {inst.id}"
        for v in views:
            assert gt_pixels[v.position, g] > 0, f"instance {inst.id}: frame {v.position} does not show object {g}"
        # the best chosen view shows a good share of what the best frame shows
        assert gt_pixels[views[0].position, g] >= 0.5 * gt_pixels[:, g].max()
        if np.any(gt_pixels[:, g] == 0):  # some frames miss the object: never pick those
            assert all(gt_pixels[v.position, g] > 0 for v in views)
        checked += 1
    assert checked >= 5
