"""Feature similarity on one scale whatever the feature backend.

Raw cosines are not comparable across backends: colour histograms of two different objects
score near 0, CNN/DINO features of any two objects 0.4 or more. The tracker's thresholds
(merge, part joining) and its fused score need "how much more alike than two different
objects usually are". Different masks of one frame are (nearly always) different objects, so
their cosines, gathered online, are the null distribution; the upper quartile of it (by
default, track.feature_null_percentile) is the zero point, and cosines map affinely onto
[0, 1] from there:

    calibrated = clip((cos - zero) / (1 - zero), 0, 1)

A histogram keeps the null: constant memory and a constant cost per frame.
"""

from __future__ import annotations

import numpy as np

_BINS = 2000  # over cosines in [-1, 1]: 0.001 resolution


class SimilarityCalibration:
    def __init__(self, percentile: float | None = 75.0, min_pairs: int = 30):
        self.percentile = percentile
        self.min_pairs = min_pairs
        self._hist = np.zeros(_BINS, dtype=np.int64)
        self._zero: float | None = None

    def observe(self, features: np.ndarray) -> None:
        """Add the pairwise cosines of one frame's mask features (L2-normalised rows)."""
        if self.percentile is None or len(features) < 2 or features.shape[1] == 0:
            return
        f = np.asarray(features, dtype=np.float64)
        sims = (f @ f.T)[np.triu_indices(len(f), 1)]
        bins = np.clip(((sims + 1.0) * (_BINS / 2)).astype(np.int64), 0, _BINS - 1)
        self._hist += np.bincount(bins, minlength=_BINS)
        self._zero = None

    @property
    def pairs(self) -> int:
        return int(self._hist.sum())

    @property
    def zero(self) -> float:
        """The null percentile; 0 (raw cosines, clipped at 0) until enough pairs were seen."""
        if self.percentile is None or self.pairs < self.min_pairs:
            return 0.0
        if self._zero is None:
            cdf = np.cumsum(self._hist)
            b = int(np.searchsorted(cdf, self.percentile / 100.0 * cdf[-1]))
            self._zero = float(np.clip((b + 1) * 2.0 / _BINS - 1.0, 0.0, 0.99))
        return self._zero

    def __call__(self, sims: np.ndarray) -> np.ndarray:
        z = self.zero
        return np.clip((np.asarray(sims, dtype=np.float64) - z) / (1.0 - z), 0.0, 1.0)
