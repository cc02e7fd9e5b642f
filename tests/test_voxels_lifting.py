"""Voxel keys and the lifting stage on frames whose geometry is known analytically."""

import numpy as np
import pytest

from ot3d_engine.config import LiftConfig
from ot3d_engine.lift import voxels as vx
from ot3d_engine.lift.lifting import Lifter
from ot3d_engine.types import Frame, Mask2D

K = np.array([[525.0, 0, 319.5], [0, 525.0, 239.5], [0, 0, 1]])


def test_pack_unpack_roundtrip_with_negative_coords():
    rng = np.random.default_rng(0)
    c = rng.integers(-5000, 5000, size=(1000, 3))
    assert np.array_equal(vx.unpack(vx.pack(c)), c)
    # packing preserves lexicographic order, which sorted-set operations rely on
    order = np.lexsort((c[:, 2], c[:, 1], c[:, 0]))
    assert np.all(np.diff(vx.pack(c)[order]) >= 0)


def box_in_front_of_wall(pose=np.eye(4)):
    """Wall at 3 m, a 1 m-wide box face at 2 m in the middle of the image."""
    h, w = 480, 640
    depth = np.full((h, w), 3.0, np.float32)
    box = np.zeros((h, w), bool)
    box[140:340, 190:450] = True
    depth[box] = 2.0
    color = np.zeros((h, w, 3), np.uint8)
    color[box] = (200, 30, 30)
    color[~box] = (40, 40, 200)
    return Frame(0, color, depth, K, pose), box


def test_lift_removes_mask_bleed_onto_background():
    frame, box = box_in_front_of_wall()
    bleed = np.zeros_like(box)
    bleed[136:344, 186:454] = True  # the mask spills 4 px onto the wall
    lifter = Lifter(LiftConfig(voxel_size=0.02, min_points=15, pixel_stride=1))
    obs, cloud = lifter.lift(frame, [Mask2D(bleed)], np.ones((1, 4), np.float32))
    assert len(obs) == 1
    z = obs[0].voxel_centers(0.02)[:, 2]
    assert z.max() < 2.1, "wall points at 3 m leaked into the box"
    assert len(cloud.keys) > len(obs[0].voxels)  # the frame cloud also holds the wall


def test_lift_puts_points_where_the_pose_says():
    pose = np.eye(4)
    pose[:3, :3] = np.array([[0, 0, 1], [-1, 0, 0], [0, -1, 0]])  # camera looks along world +x
    pose[:3, 3] = [1.0, 2.0, 1.5]
    frame, box = box_in_front_of_wall(pose)
    obs, _ = Lifter(LiftConfig(voxel_size=0.02, min_points=15)).lift(frame, [Mask2D(box)], np.ones((1, 4), np.float32))
    p = obs[0].voxel_centers(0.02)
    # camera +z (forward) is world +x: the box face is 2 m ahead of the camera
    assert np.allclose(np.median(p[:, 0]), 1.0 + 2.0, atol=0.02)
    # image centre maps to the camera position in world y,z
    assert abs(np.median(p[:, 1]) - 2.0) < 0.1 and abs(np.median(p[:, 2]) - 1.5) < 0.1
    assert np.all(np.diff(obs[0].voxels) > 0), "observation voxels must be sorted and unique"


def test_lift_drops_masks_without_enough_depth():
    frame, box = box_in_front_of_wall()
    frame.depth[box] = np.nan  # NaN depth is invalid, never a point
    obs, _ = Lifter(LiftConfig(voxel_size=0.03, min_points=15)).lift(frame, [Mask2D(box)], np.ones((1, 4), np.float32))
    assert obs == []


@pytest.mark.parametrize("stride", [1, 2, 4])
def test_pixel_count_is_independent_of_stride(stride):
    frame, box = box_in_front_of_wall()
    obs, _ = Lifter(LiftConfig(voxel_size=0.03, min_points=15, pixel_stride=stride)).lift(frame, [Mask2D(box)], np.ones((1, 4), np.float32))
    assert abs(obs[0].pixel_count - box.sum()) / box.sum() < 0.05


def test_fast_unique_matches_numpy():
    rng = np.random.default_rng(1)
    keys = rng.integers(-50, 50, 5000) * (1 << 40) + rng.integers(0, 30, 5000)
    for got, want in zip(vx.unique_inverse_counts(keys), np.unique(keys, return_inverse=True, return_counts=True)):
        assert np.array_equal(got, want)
    assert all(len(a) == 0 for a in vx.unique_inverse_counts(np.zeros(0, np.int64)))
