"""Refinement: parts join across the thin gap a crease leaves, and instance confidence
measures support against the scan's own typical track (issue 13: a part cut off cleanly
must not outrank the objects; the ranking must not depend on how many frames a scan has)."""

from __future__ import annotations

import numpy as np
import pytest

from ot3d_engine.config import RefineConfig
from ot3d_engine.lift import voxels as vx
from ot3d_engine.refine.instances import refine_tracks
from ot3d_engine.refine.parts import contact_counts, merge_parts
from ot3d_engine.track.scene_map import SceneMap
from ot3d_engine.track.track import Track


def box(x0, x1, y0, y1, z0, z1) -> np.ndarray:
    g = np.stack(np.meshgrid(np.arange(x0, x1), np.arange(y0, y1), np.arange(z0, z1), indexing="ij"), -1)
    return np.sort(vx.pack(g.reshape(-1, 3)))


def track(tid: int, keys: np.ndarray, observations: int, feature) -> Track:
    c = vx.unpack(keys)
    return Track(id=tid, coarse=keys, lo=c.min(0), hi=c.max(0), feature_sum=np.asarray(feature, float) * observations,
                 observations=observations, score_sum=float(observations), fine_parts=[keys] * observations)


def scene_of(*seen: tuple[np.ndarray, int]) -> SceneMap:
    """A fused map: each (keys, n) pair's voxels were seen in n frames."""
    keys = np.concatenate([k for k, _ in seen])
    counts = np.concatenate([np.full(len(k), n) for k, n in seen])
    order = np.argsort(keys)
    s = SceneMap()
    s.keys, s.seen = keys[order], counts[order]
    s.color_sum = np.zeros((len(keys), 3))
    s.pixel_count = np.ones(len(keys), np.int64)
    return s


def cfg(**kw) -> RefineConfig:
    c = RefineConfig(min_points=30)
    for k, v in kw.items():
        setattr(c, k, v)
    return c


# -- contact across a gap --------------------------------------------------------------

def test_a_one_voxel_gap_touches_at_reach_two_not_one():
    a, b = box(0, 10, 0, 10, 0, 2), box(0, 10, 0, 10, 3, 5)  # z = 2 left empty between them
    assert contact_counts([a, b], reach=1)[0, 1] == 0
    c = contact_counts([a, b], reach=2)
    assert c[0, 1] == c[1, 0] == 100  # every voxel of each facing layer, counted once
    c3 = contact_counts([a, b], reach=3)
    assert c3[0, 1] == 200  # both layers of a are within 3 of b


def test_merge_parts_joins_across_the_gap_only_when_alike():
    floor = box(-50, 50, -50, 50, -3, -2)  # structural: never a part
    a, b = box(0, 10, 0, 10, 0, 2), box(0, 10, 0, 10, 3, 5)
    alike = np.ones((3, 3))
    assert len(np.unique(merge_parts([floor, a, b], alike, 0.8, reach=1))) == 3
    groups = merge_parts([floor, a, b], alike, 0.8, reach=2)
    assert groups[1] == groups[2] != groups[0]
    unlike = np.eye(3)
    assert len(np.unique(merge_parts([floor, a, b], unlike, 0.8, reach=2))) == 3


def test_refine_joins_a_shelf_panel_cut_off_along_a_crease():
    """Two tracks of one colour, 1 voxel apart (the crease between them lost its voxels):
    one instance by default, two with the old 26-neighbour contact."""
    floor, a, b = box(-40, 40, -40, 40, -3, -2), box(0, 10, 0, 10, 0, 2), box(0, 10, 0, 10, 3, 5)
    grey, other = [1.0, 0, 0], [0, 1.0, 0]
    tracks = lambda: [track(1, floor, 20, other), track(2, a, 20, grey), track(3, b, 20, grey)]
    scene = scene_of((floor, 20), (a, 20), (b, 20))
    owner, kept = refine_tracks(tracks(), scene, cfg())
    assert len(kept) == 2
    joined = np.unique(owner[vx.member(np.concatenate([a, b]), scene.keys)])
    assert len(joined) == 1 and joined[0] > 0
    _, kept = refine_tracks(tracks(), scene, cfg(part_contact_reach=1))
    assert len(kept) == 3


# -- confidence ------------------------------------------------------------------------

def scored(scale: int = 1, **kw) -> dict[int, float]:
    """An object seen in 24 of the 30 frames that saw it (ratio 0.8) and a fragment seen in
    each of the 12 frames that saw it (ratio 1.0), far apart, unalike; `scale` multiplies
    every count (a scan `scale` times as long)."""
    floor, obj, frag = box(-40, 40, -40, 40, -3, -2), box(0, 10, 0, 10, 0, 10), box(30, 40, 30, 40, 0, 2)
    tracks = [track(1, floor, 30 * scale, [1.0, 0, 0]), track(2, obj, 24 * scale, [0, 1.0, 0]),
              track(3, frag, 12 * scale, [0, 0, 1.0])]
    scene = scene_of((floor, 30 * scale), (obj, 30 * scale), (frag, 12 * scale))
    _, kept = refine_tracks(tracks, scene, cfg(**kw))
    return {t.id: conf for t, conf in kept}


def test_a_cleanly_seen_fragment_ranks_below_an_object_seen_in_more_frames():
    s = scored()
    assert s[2] > s[3]
    # the fixed 3-observation support this replaces ranked the fragment first (ratio 1.0 vs 0.8)
    ratio_obj, ratio_frag = 0.8, 1.0
    assert ratio_frag * (1 - np.exp(-12 / 3)) > ratio_obj * (1 - np.exp(-24 / 3))


def test_confidence_does_not_depend_on_the_scan_length():
    short, long = scored(1), scored(10)
    assert short.keys() == long.keys()
    for k in short:
        assert long[k] == pytest.approx(short[k])


def test_support_scale_sets_how_much_observations_count():
    flat = scored(support_scale=0.01)  # support saturates for everything: consistency alone
    assert flat[3] > flat[2]
    assert flat[3] == pytest.approx(1.0) and flat[2] == pytest.approx(0.8)


def test_single_view_scan_ranks_by_consistency():
    floor, a, b = box(-40, 40, -40, 40, -3, -2), box(0, 10, 0, 10, 0, 10), box(30, 40, 30, 40, 0, 2)
    tracks = [track(1, floor, 1, [1.0, 0, 0]), track(2, a, 1, [0, 1.0, 0]), track(3, b, 1, [0, 0, 1.0])]
    scene = scene_of((floor, 1), (a, 2), (b, 1))  # a: covered in 1 of 2 "frames" that saw it
    _, kept = refine_tracks(tracks, scene, cfg())
    s = {t.id: conf for t, conf in kept}
    assert s[3] > s[2] > 0
