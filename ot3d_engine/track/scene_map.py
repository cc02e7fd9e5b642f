"""The fused point cloud of every valid pixel, as voxels with mean colour and a
per-voxel count of the frames that saw it (the denominator of multi-view consistency)."""

from __future__ import annotations

import numpy as np

from ..lift import voxels as vx
from ..lift.lifting import FrameCloud


class SceneMap:
    def __init__(self, compact_every: int = 50):
        self._parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
        self._compact_every = compact_every
        self.keys = np.zeros(0, np.int64)
        self.color_sum = np.zeros((0, 3), np.float64)
        self.pixel_count = np.zeros(0, np.int64)
        self.seen = np.zeros(0, np.int64)

    def add(self, cloud: FrameCloud) -> None:
        self._parts.append((cloud.keys, cloud.colors.astype(np.float64) * cloud.counts[:, None],
                            cloud.counts.astype(np.int64), np.ones(len(cloud.keys), np.int64)))
        if len(self._parts) >= self._compact_every:
            self.compact()

    def compact(self) -> None:
        if not self._parts:
            return
        keys = np.concatenate([self.keys] + [p[0] for p in self._parts])
        col = np.concatenate([self.color_sum] + [p[1] for p in self._parts])
        cnt = np.concatenate([self.pixel_count] + [p[2] for p in self._parts])
        seen = np.concatenate([self.seen] + [p[3] for p in self._parts])
        self._parts = []
        uniq, inv, _ = vx.unique_inverse_counts(keys)
        n = len(uniq)
        self.keys = uniq
        self.color_sum = np.stack([np.bincount(inv, col[:, j], n) for j in range(3)], axis=1)
        self.pixel_count = np.bincount(inv, cnt, n).astype(np.int64)
        self.seen = np.bincount(inv, seen, n).astype(np.int64)

    def colors(self) -> np.ndarray:
        self.compact()
        return np.clip(self.color_sum / np.maximum(self.pixel_count, 1)[:, None], 0, 255).astype(np.uint8)

    def seen_count(self, keys: np.ndarray) -> np.ndarray:
        self.compact()
        found, idx = vx.lookup(self.keys, keys)
        return np.where(found, self.seen[idx] if len(self.keys) else 0, 0)
