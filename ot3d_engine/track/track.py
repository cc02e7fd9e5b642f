"""A track: one object hypothesis accumulated over frames."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..lift import voxels as vx
from ..types import Observation, View


@dataclass
class Track:
    id: int
    coarse: np.ndarray  # sorted unique coarse voxel keys: what matching compares
    lo: np.ndarray  # coarse bbox (int coords), inclusive
    hi: np.ndarray
    feature_sum: np.ndarray
    observations: int = 0
    score_sum: float = 0.0
    first_frame: int = 0
    last_frame: int = 0
    fine_parts: list[np.ndarray] = field(default_factory=list)  # each observation's fine voxels
    views: list[View] = field(default_factory=list)
    label_votes: dict[str, float] = field(default_factory=dict)
    max_views: int = 5  # best views kept (by visible pixel count)

    @property
    def feature(self) -> np.ndarray:
        n = np.linalg.norm(self.feature_sum)
        return self.feature_sum / n if n > 0 else self.feature_sum

    @classmethod
    def start(cls, track_id: int, obs: Observation, coarse: np.ndarray, max_views: int) -> "Track":
        c = vx.unpack(coarse)
        t = cls(id=track_id, coarse=coarse, lo=c.min(0), hi=c.max(0),
                feature_sum=obs.feature.astype(np.float64).copy(), first_frame=obs.frame_index,
                max_views=max_views)
        t._note(obs)
        return t

    def add(self, obs: Observation, coarse: np.ndarray) -> None:
        self.coarse = np.union1d(self.coarse, coarse)
        c = vx.unpack(coarse)
        self.lo = np.minimum(self.lo, c.min(0))
        self.hi = np.maximum(self.hi, c.max(0))
        self.feature_sum = self.feature_sum + obs.feature
        self._note(obs)

    def _note(self, obs: Observation) -> None:
        self.observations += 1
        self.score_sum += obs.score
        self.last_frame = obs.frame_index
        self.fine_parts.append(obs.voxels)
        if obs.label:
            self.label_votes[obs.label] = self.label_votes.get(obs.label, 0.0) + obs.score
        self.views.append(View(obs.frame_index, obs.pixel_count, obs.box))
        if len(self.views) > self.max_views:
            self.views.sort(key=lambda v: -v.pixel_count)
            del self.views[self.max_views:]

    def absorb(self, other: "Track") -> None:
        """Merge another track into this one (they were the same object)."""
        self.coarse = np.union1d(self.coarse, other.coarse)
        self.lo = np.minimum(self.lo, other.lo)
        self.hi = np.maximum(self.hi, other.hi)
        self.feature_sum = self.feature_sum + other.feature_sum
        self.observations += other.observations
        self.score_sum += other.score_sum
        self.first_frame = min(self.first_frame, other.first_frame)
        self.last_frame = max(self.last_frame, other.last_frame)
        self.fine_parts.extend(other.fine_parts)
        for k, v in other.label_votes.items():
            self.label_votes[k] = self.label_votes.get(k, 0.0) + v
        self.views = sorted(self.views + other.views, key=lambda v: -v.pixel_count)[:self.max_views]
