"""Feature similarity calibrated against the within-frame null, so that one set of thresholds
works for colour histograms and for CNN/DINO features alike."""

import numpy as np
import pytest

from ot3d_engine.config import TrackConfig
from ot3d_engine.track.similarity import SimilarityCalibration
from ot3d_engine.track.tracker import Tracker
from test_tracker import VOXEL, box_obs

DIM = 16
BASELINE = 0.7  # cosine of any two different objects under a "CNN-like" backend


def cnn_like(rng, n):
    """Unit features sharing one common direction: different objects score ~BASELINE."""
    own = rng.normal(size=(n, DIM - 1))
    own /= np.linalg.norm(own, axis=1, keepdims=True)
    f = np.concatenate([np.full((n, 1), np.sqrt(BASELINE)), np.sqrt(1 - BASELINE) * own], axis=1)
    return f / np.linalg.norm(f, axis=1, keepdims=True)


def test_zero_point_is_the_percentile_of_within_frame_cosines():
    rng = np.random.default_rng(0)
    cal = SimilarityCalibration(percentile=90)
    sims = []
    for _ in range(20):
        f = cnn_like(rng, 8)
        cal.observe(f)
        sims.append((f @ f.T)[np.triu_indices(8, 1)])
    want = np.percentile(np.concatenate(sims), 90)
    assert cal.pairs == 20 * 28
    assert abs(cal.zero - want) <= 0.002 and cal.zero > BASELINE
    out = cal(np.array([-1.0, cal.zero, (1 + cal.zero) / 2, 1.0]))
    np.testing.assert_allclose(out, [0.0, 0.0, 0.5, 1.0], atol=1e-9)


def test_raw_cosines_until_enough_pairs_and_when_disabled():
    rng = np.random.default_rng(1)
    few = SimilarityCalibration(percentile=90, min_pairs=30)
    few.observe(cnn_like(rng, 3))  # 3 pairs
    off = SimilarityCalibration(percentile=None)
    for _ in range(10):
        off.observe(cnn_like(rng, 8))
    for cal in (few, off):
        assert cal.zero == 0.0
        np.testing.assert_allclose(cal(np.array([-0.5, 0.3, 0.9])), [0.0, 0.3, 0.9])


def _merge_after_calibration(percentile, feature_b):
    """Two overlapping tracks (containment 0.6: merges only if their features agree) in a tracker
    that first saw frames of unrelated CNN-like masks far away."""
    rng = np.random.default_rng(2)
    cfg = TrackConfig(merge_every=0, match_threshold=0.99, absorb_overlap=1.01,
                      feature_null_percentile=percentile)
    t = Tracker(cfg, VOXEL)
    for k in range(6):
        feats = cnn_like(rng, 6)
        t.step([box_obs((10 + 2 * m, 10 + 2 * k, 0), (10.3 + 2 * m, 10.3 + 2 * k, 0.3), feats[m], k, m)
                for m in range(6)])
    fa = cnn_like(rng, 1)[0]
    t.step([box_obs((0, 0, 0), (0.5, 0.3, 0.3), fa, 6, 0)])
    t.step([box_obs((0.2, 0, 0), (0.8, 0.3, 0.3), feature_b(rng, fa), 7, 0)])
    before = len(t.tracks)
    return before - len(t.tracks) + t.merge()


def _other_object(rng, fa):
    return cnn_like(rng, 1)[0]


def _same_object(rng, fa):
    fb = fa + 0.1 * rng.normal(size=DIM)
    return fb / np.linalg.norm(fb)


@pytest.mark.parametrize("percentile, feature_b, merged", [
    (90.0, _other_object, 0),   # calibrated: "as alike as any two objects" is not alike
    (None, _other_object, 1),   # raw cosine ~0.7 clears merge_feature 0.6: the wrong merge
    (90.0, _same_object, 1),    # one object seen twice still merges
])
def test_merge_threshold_means_the_same_for_a_high_baseline_backend(percentile, feature_b, merged):
    assert _merge_after_calibration(percentile, feature_b) == merged
