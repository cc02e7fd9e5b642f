"""The online visual-spatial tracker (OpenTrack3D, section 3.3).

Per frame, each lifted mask is scored against each live track by a fused score
    w_s * spatial + w_f * visual
where spatial is the larger of two containments of voxel sets: how much of the mask the track
already explains, and how much of the track's part that *should be visible in this frame*
(projected, depth-tested) the mask covers — the second keeps big surfaces (floors, tables)
one track while the camera reveals new parts of them — and visual is the cosine similarity of
mask-pooled features, calibrated so that thresholds mean the same for every feature backend
(track.similarity). Hungarian assignment under a
threshold gives one-to-one matches; masks left over either join a track that explains them
almost entirely (the same object split into two masks) or start new tracks. Every few frames,
tracks that grew into one object are merged.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy.optimize import linear_sum_assignment

from ..config import TrackConfig
from ..lift import voxels as vx
from ..registry import register
from ..types import Observation
from .similarity import SimilarityCalibration
from .track import Track
from .visibility import DepthView

COARSE_FACTOR = 2  # matching runs on voxels twice the output size: tolerant to depth noise
VISIBILITY_SAMPLE = 2000  # voxels of a track projected per frame, at most


@register("tracker", "visual_spatial")
class Tracker:
    def __init__(self, config: TrackConfig, voxel_size: float = 0.03):
        self.cfg = config
        self.coarse_size = voxel_size * COARSE_FACTOR
        self.tracks: dict[int, Track] = {}
        self.similarity = SimilarityCalibration(config.feature_null_percentile)
        self._next_id = 1
        self._frames = 0

    # -- per frame -------------------------------------------------------------------------
    def step(self, observations: list[Observation], view: DepthView | None = None) -> None:
        cfg = self.cfg
        self._frames += 1
        if observations:
            self.similarity.observe(np.stack([o.feature for o in observations]))
            coarse = [vx.coarsen(o.voxels, COARSE_FACTOR) for o in observations]
            tracks = list(self.tracks.values())
            spatial, contains_track = self._spatial(coarse, tracks, view)
            visual = self.similarity(self._visual(observations, tracks))
            fused = cfg.spatial_weight * spatial + cfg.feature_weight * visual
            fused[spatial < cfg.min_overlap] = 0
            matched = np.full(len(observations), -1)
            if tracks:
                rows, cols = linear_sum_assignment(-fused)
                ok = fused[rows, cols] >= cfg.match_threshold
                matched[rows[ok]] = cols[ok]
            for i, obs in enumerate(observations):
                j = matched[i]
                if j < 0 and tracks and spatial[i].max() >= cfg.absorb_overlap:
                    j = int(np.argmax(spatial[i]))  # a second mask of an already matched object
                if j >= 0:
                    c = self._exclusive(coarse[i], i, j, tracks, contains_track)
                    if len(c) < len(coarse[i]):  # keep only the fine voxels inside what is left
                        if len(c) == 0:
                            continue
                        parent = vx.pack(np.floor_divide(vx.unpack(obs.voxels), COARSE_FACTOR))
                        keep = vx.member(c, parent)
                        obs = dataclasses.replace(obs, voxels=obs.voxels[keep])
                    tracks[j].add(obs, c)
                else:
                    self._start(obs, coarse[i])
        if cfg.merge_every and self._frames % cfg.merge_every == 0:
            self.merge()

    def _start(self, obs: Observation, coarse: np.ndarray) -> None:
        t = Track.start(self._next_id, obs, coarse, self.cfg.best_views)
        self.tracks[t.id] = t
        self._next_id += 1

    def _spatial(self, coarse: list[np.ndarray], tracks: list[Track], view: DepthView | None):
        """spatial[i, j] = max(|O∩T| / |O|, |O∩T| / |T visible|); contains[i, j] = |O∩T| / |T|."""
        n, m = len(coarse), len(tracks)
        spatial = np.zeros((n, m))
        contains = np.zeros((n, m))
        if m == 0:
            return spatial, contains
        cells = [vx.unpack(c) for c in coarse]
        olo = np.array([c.min(0) for c in cells])
        ohi = np.array([c.max(0) for c in cells])
        tlo = np.array([t.lo for t in tracks])
        thi = np.array([t.hi for t in tracks])
        cand = np.all((olo[:, None] <= thi[None] + 1) & (ohi[:, None] + 1 >= tlo[None]), axis=2)
        visible: dict[int, np.ndarray] = {}
        for i, j in zip(*np.nonzero(cand)):  # candidate pairs only (bbox-overlapping)
            t = tracks[j]
            inter = vx.count_in(t.coarse, coarse[i])
            score = inter / len(coarse[i])
            if view is not None:
                if j not in visible:
                    # big tracks (floors, walls): a fixed stride sample estimates the same ratio
                    sample = t.coarse[::max(1, len(t.coarse) // VISIBILITY_SAMPLE)]
                    vis_sample = sample[view.visible(vx.centers(sample, self.coarse_size), self.coarse_size)]
                    visible[j] = (vis_sample, len(t.coarse) / len(sample))
                vis, scale = visible[j]
                # only when the track's visible part is a fair share of the mask: a big
                # under-segmented mask covering a small track must not count as a match
                if len(vis) * scale >= max(self.cfg.min_visible, self.cfg.visible_min_fraction * len(coarse[i])):
                    score = max(score, vx.count_in(coarse[i], vis) / len(vis))
            spatial[i, j] = score
            contains[i, j] = inter / len(t.coarse)
        return spatial, contains

    @staticmethod
    def _visual(observations: list[Observation], tracks: list[Track]) -> np.ndarray:
        if not tracks:
            return np.zeros((len(observations), 0))
        a = np.stack([o.feature for o in observations]).astype(np.float64)
        b = np.stack([t.feature for t in tracks])
        if a.shape[1] != b.shape[1]:
            return np.zeros((len(a), len(b)))
        return a @ b.T

    def _exclusive(self, coarse_i, i, j, tracks, contains) -> np.ndarray:
        """Voxels to add to track j: drop those of other tracks this mask swallowed whole
        (a 2D under-segmentation must not glue two objects together in 3D)."""
        others = np.nonzero((contains[i] >= 0.5) & (np.arange(len(tracks)) != j))[0]
        for k in others:
            coarse_i = coarse_i[~vx.member(tracks[k].coarse, coarse_i)]
        return coarse_i if len(coarse_i) else tracks[j].coarse[:0]

    # -- merging ---------------------------------------------------------------------------
    def merge(self) -> int:
        """Merge tracks whose voxel sets became one object. Returns how many merged."""
        cfg = self.cfg
        merged = 0
        changed = True
        while changed:
            changed = False
            tracks = sorted(self.tracks.values(), key=lambda t: -len(t.coarse))
            if len(tracks) < 2:
                break
            lo = np.array([t.lo for t in tracks])
            hi = np.array([t.hi for t in tracks])
            cand = np.all((lo[:, None] <= hi[None]) & (hi[:, None] >= lo[None]), axis=2)
            cand = np.triu(cand, 1)
            feats = np.stack([t.feature for t in tracks])
            gone: set[int] = set()
            for a, b in zip(*np.nonzero(cand)):  # a is the larger track
                ta, tb = tracks[a], tracks[b]
                if ta.id in gone or tb.id in gone:
                    continue
                inter = vx.count_in(ta.coarse, tb.coarse)
                overlap = inter / max(1, min(len(ta.coarse), len(tb.coarse)))
                sim = float(self.similarity(feats[a] @ feats[b])) if feats.shape[1] else 0.0
                if overlap >= cfg.merge_overlap_strict or (overlap >= cfg.merge_overlap and sim >= cfg.merge_feature):
                    ta.absorb(tb)
                    del self.tracks[tb.id]
                    gone.add(tb.id)
                    merged += 1
                    changed = True
        return merged

    def finish(self) -> list[Track]:
        self.merge()
        return list(self.tracks.values())
