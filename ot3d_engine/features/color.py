"""The embedded appearance feature that needs no weights: a mask-pooled colour histogram.

Hue/saturation/value histogram with square-rooted counts (Hellinger kernel), so that
cosine similarity behaves like a histogram overlap. Weak next to DINO, but free.
"""

from __future__ import annotations

import numpy as np

from ..registry import register
from ..types import Frame, Mask2D
from .base import l2_normalise


@register("features", "color")
class ColorHistogramFeatures:
    def __init__(self, hue_bins: int = 12, sat_bins: int = 4, val_bins: int = 4, stride: int = 2):
        self.bins = (hue_bins, sat_bins, val_bins)
        self.dim = hue_bins * sat_bins * val_bins
        self.stride = stride

    def extract(self, frame: Frame, masks: list[Mask2D]) -> np.ndarray:
        if not masks:
            return np.zeros((0, self.dim), np.float32)
        s = self.stride
        rgb = frame.color[::s, ::s].reshape(-1, 3).astype(np.float32) / 255
        bins = _hsv_bins(rgb, self.bins)
        out = np.zeros((len(masks), self.dim), np.float32)
        for i, m in enumerate(masks):  # per mask; pixels handled by bincount
            sel = m.mask[::s, ::s].ravel()
            if sel.any():
                out[i] = np.sqrt(np.bincount(bins[sel], minlength=self.dim))
        return l2_normalise(out)


def _hsv_bins(rgb: np.ndarray, bins: tuple[int, int, int]) -> np.ndarray:
    mx = rgb.max(1)
    mn = rgb.min(1)
    delta = mx - mn
    safe = np.where(delta > 0, delta, 1)
    r, g, b = rgb.T
    h = np.where(mx == r, (g - b) / safe % 6, np.where(mx == g, (b - r) / safe + 2, (r - g) / safe + 4)) / 6
    h = np.where(delta > 0, h, 0)
    sat = np.where(mx > 0, delta / np.maximum(mx, 1e-6), 0)
    hb = np.minimum((h * bins[0]).astype(np.int64), bins[0] - 1)
    sb = np.minimum((sat * bins[1]).astype(np.int64), bins[1] - 1)
    vb = np.minimum((mx * bins[2]).astype(np.int64), bins[2] - 1)
    return (hb * bins[1] + sb) * bins[2] + vb
