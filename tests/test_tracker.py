"""The visual-spatial tracker on observations whose right answer is known."""

import numpy as np

from ot3d_engine.config import LiftConfig, TrackConfig
from ot3d_engine.lift import voxels as vx
from ot3d_engine.lift.lifting import Lifter
from ot3d_engine.track.greedy import GreedyIoUMerger
from ot3d_engine.track.tracker import Tracker
from ot3d_engine.track.visibility import DepthView
from ot3d_engine.types import Frame, Mask2D, Observation

VOXEL = 0.03


def box_obs(lo, hi, feature, frame=0, mask=0):
    """All voxels of an axis-aligned box, as one lifted mask."""
    g = [np.arange(np.floor(a / VOXEL), np.floor(b / VOXEL)) for a, b in zip(lo, hi)]
    c = np.stack(np.meshgrid(*g, indexing="ij"), -1).reshape(-1, 3).astype(np.int64)
    keys = np.unique(vx.pack(c))
    f = np.asarray(feature, np.float32)
    return Observation(frame, mask, keys, f / np.linalg.norm(f), pixel_count=len(keys))


def test_two_objects_stay_two_tracks_over_frames():
    t = Tracker(TrackConfig(), VOXEL)
    for k in range(4):
        jitter = 0.01 * k  # small pose noise between frames
        t.step([box_obs((0 + jitter, 0, 0), (0.4, 0.4, 0.4), [1, 0, 0], k, 0),
                box_obs((1.0, 0, jitter), (1.5, 0.3, 0.3), [0, 1, 0], k, 1)])
    tracks = t.finish()
    assert len(tracks) == 2
    assert sorted(tr.observations for tr in tracks) == [4, 4]


def test_features_decide_between_overlapping_tracks():
    cfg = TrackConfig(feature_weight=0.5, spatial_weight=0.5, merge_every=0)
    t = Tracker(cfg, VOXEL)
    # two objects side by side whose boxes touch: a mask overlapping both half-half
    t.step([box_obs((0, 0, 0), (0.3, 0.3, 0.3), [1, 0, 0], 0, 0),
            box_obs((0.3, 0, 0), (0.6, 0.3, 0.3), [0, 1, 0], 0, 1)])
    t.step([box_obs((0.15, 0, 0), (0.45, 0.3, 0.3), [0, 1, 0], 1, 0)])
    by_id = {tr.id: tr for tr in t.finish()}
    assert by_id[2].observations == 2 and by_id[1].observations == 1


def test_undersegmented_mask_does_not_glue_two_tracks():
    cfg = TrackConfig(merge_every=0)
    t = Tracker(cfg, VOXEL)
    a = ((0, 0, 0), (0.3, 0.3, 0.3))
    b = ((0.33, 0, 0), (0.63, 0.3, 0.3))
    for k in range(2):
        t.step([box_obs(*a, [1, 0, 0], k, 0), box_obs(*b, [0, 1, 0], k, 1)])
    t.step([box_obs((0, 0, 0), (0.63, 0.3, 0.3), [1, 1, 0], 2, 0)])  # one mask over both
    tracks = t.finish()
    assert len(tracks) == 2
    for tr in tracks:
        c = vx.unpack(tr.coarse)[:, 0] * 2 * VOXEL
        assert np.ptp(c) < 0.45, "a track swallowed its neighbour"


def test_merge_pass_joins_tracks_that_became_one():
    cfg = TrackConfig(merge_every=0, match_threshold=0.99, absorb_overlap=1.01)  # never match online
    t = Tracker(cfg, VOXEL)
    t.step([box_obs((0, 0, 0), (0.5, 0.3, 0.3), [1, 0, 0], 0)])
    t.step([box_obs((0.05, 0, 0), (0.5, 0.3, 0.3), [0, 1, 0], 1)])  # looks different: no online match
    assert len(t.tracks) == 2
    assert t.merge() == 1 and len(t.tracks) == 1


def wall_frame(cam_x, index):
    """A wall at z = 3 m seen by a camera translated along x (the view slides)."""
    K = np.array([[525.0, 0, 319.5], [0, 525.0, 239.5], [0, 0, 1]])
    pose = np.eye(4)
    pose[0, 3] = cam_x
    depth = np.full((480, 640), 3.0, np.float32)
    color = np.full((480, 640, 3), 128, np.uint8)
    return Frame(index, color, depth, K, pose)


def test_visible_part_overlap_keeps_a_surface_one_track_as_the_view_slides():
    # each frame moves 2 m: over half of every wall mask is new area, so |O∩T|/|O| < 0.5
    cfg = TrackConfig(feature_weight=0.0, spatial_weight=1.0, match_threshold=0.5, merge_every=0,
                      absorb_overlap=1.01)
    lifter = Lifter(LiftConfig(voxel_size=VOXEL, min_points=15))
    runs = {}
    for use_view in (False, True):
        t = Tracker(cfg, VOXEL)
        for k in range(4):
            f = wall_frame(2.0 * k, k)
            obs, _ = lifter.lift(f, [Mask2D(np.ones((480, 640), bool))], np.ones((1, 3), np.float32))
            t.step(obs, DepthView.from_frame(f, 2) if use_view else None)
        runs[use_view] = len(t.finish())
    assert runs[True] == 1, "with visibility the wall is one track"
    assert runs[False] > 1, "without visibility the sliding view fragments it (the test would not test anything)"


def test_greedy_baseline_merges_by_iou_only():
    g = GreedyIoUMerger(TrackConfig(), VOXEL)
    g.step([box_obs((0, 0, 0), (0.4, 0.4, 0.4), [1, 0, 0], 0)])
    g.step([box_obs((0.02, 0, 0), (0.42, 0.4, 0.4), [0, 1, 0], 1)])  # features ignored
    g.step([box_obs((2, 0, 0), (2.4, 0.4, 0.4), [1, 0, 0], 2)])
    assert sorted(t.observations for t in g.finish()) == [1, 2]
