"""Baseline (a): no tracker. Each lifted mask joins the existing instance of highest 3D IoU
(coarse voxels) if above a threshold, else starts one: no features, no assignment, no
visibility reasoning, no merging. What the tracker is measured against."""

from __future__ import annotations

import numpy as np

from ..config import TrackConfig
from ..lift import voxels as vx
from ..registry import register
from ..types import Observation
from .similarity import SimilarityCalibration
from .track import Track
from .tracker import COARSE_FACTOR


@register("tracker", "greedy_iou")
class GreedyIoUMerger:
    def __init__(self, config: TrackConfig, voxel_size: float = 0.03, iou_threshold: float = 0.25):
        self.cfg = config
        self.iou_threshold = iou_threshold
        self.tracks: dict[int, Track] = {}
        self.similarity = SimilarityCalibration(config.feature_null_percentile)  # for refinement only
        self._next_id = 1

    def step(self, observations: list[Observation], view=None) -> None:
        if observations:
            self.similarity.observe(np.stack([o.feature for o in observations]))
        for obs in observations:
            coarse = vx.coarsen(obs.voxels, COARSE_FACTOR)
            best, best_iou = None, self.iou_threshold
            for t in self.tracks.values():
                inter = vx.count_in(t.coarse, coarse)
                if inter:
                    iou = inter / (len(t.coarse) + len(coarse) - inter)
                    if iou >= best_iou:
                        best, best_iou = t, iou
            if best is None:
                t = Track.start(self._next_id, obs, coarse, self.cfg.best_views)
                self.tracks[t.id] = t
                self._next_id += 1
            else:
                best.add(obs, coarse)

    def finish(self) -> list[Track]:
        return list(self.tracks.values())
