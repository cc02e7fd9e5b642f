"""Ground-truth 2D masks as a segmenter: isolates tracker quality from segmenter quality."""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError
from ..registry import register
from ..types import Frame, Mask2D


@register("segmenter", "oracle")
class OracleSegmenter:
    def __init__(self, min_area: int = 50):
        self.min_area = min_area

    def segment(self, frame: Frame) -> list[Mask2D]:
        if frame.gt_instance is None:
            raise ConfigError(
                f"the oracle segmenter needs per-pixel ground truth, which frame {frame.index} "
                "of this scan does not have (use a synthetic scan or a labelled layout)")
        gt = frame.gt_instance
        ids, counts = np.unique(gt[gt > 0], return_counts=True)
        return [Mask2D(mask=gt == i, score=1.0) for i, c in zip(ids, counts) if c >= self.min_area]
