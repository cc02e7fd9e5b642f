"""Mask pooling of a dense feature map: the step every neural feature backend shares."""

from __future__ import annotations

import numpy as np

from ..types import Mask2D
from .base import l2_normalise


def pool_masks(feature_map, masks: list[Mask2D], grid: tuple[int, int]) -> np.ndarray:
    """Upsample a C x h x w map to `grid`, average it under each mask (area-weighted), L2-normalise.

    Masks are area-downsampled to the same grid, so thin masks keep a fractional weight instead
    of vanishing; an empty mask gets the image's mean feature.
    """
    import torch
    import torch.nn.functional as F

    fmap = feature_map.float()
    c = fmap.shape[0]
    up = F.interpolate(fmap[None], size=grid, mode="bilinear", align_corners=False)[0].reshape(c, -1)
    m = torch.from_numpy(np.stack([np.asarray(mk.mask, dtype=bool) for mk in masks])).to(up.device)
    w = F.interpolate(m[:, None].float(), size=grid, mode="area")[:, 0].reshape(len(masks), -1)
    total = w.sum(1, keepdim=True)
    w = torch.where(total > 0, w / total.clamp_min(1e-12), torch.full_like(w, 1.0 / w.shape[1]))
    return l2_normalise((w @ up.T).cpu().numpy())


def pooling_grid(height: int, width: int, stride: int) -> tuple[int, int]:
    return max(1, -(-height // stride)), max(1, -(-width // stride))
