"""Fallback-tier features with no download: EfficientNet-Lite0 (ImageNet) feature maps from a
PyPI wheel, pooled under each mask. Registered as features backend "embedded"."""

from __future__ import annotations

import numpy as np

from ..models.device import resolve_device
from ..models.embedded import FALLBACK_TIER, efficientnet_input, load_efficientnet_lite0
from ..registry import register
from ..types import Frame, Mask2D
from .pooling import pool_masks, pooling_grid


@register("features", "embedded")
class EmbeddedFeatures:
    tier = FALLBACK_TIER
    dim = 1280

    def __init__(self, short_side: int = 320, pool_stride: int = 8, device: str = "auto"):
        self.device = resolve_device(device)
        self.net = load_efficientnet_lite0(self.device)
        self.short_side = int(short_side)
        self.pool_stride = int(pool_stride)

    def feature_map(self, image: np.ndarray):
        import torch
        import torch.nn.functional as F

        s = self.short_side / min(image.shape[:2])
        size = (max(32, round(image.shape[0] * s / 32) * 32), max(32, round(image.shape[1] * s / 32) * 32))
        x = efficientnet_input(image[None], self.device)
        x = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)
        with torch.inference_mode():
            return self.net.extract_features(x)[0]

    def extract(self, frame: Frame, masks: list[Mask2D]) -> np.ndarray:
        if not masks:
            return np.zeros((0, self.dim), np.float32)
        return pool_masks(self.feature_map(frame.color), masks,
                          pooling_grid(frame.height, frame.width, self.pool_stride))
