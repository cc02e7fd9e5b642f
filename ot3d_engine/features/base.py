"""The feature-extractor interface (mask-pooled appearance features)."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from ..types import Frame, Mask2D


@runtime_checkable
class FeatureExtractor(Protocol):
    dim: int

    def extract(self, frame: Frame, masks: list[Mask2D]) -> np.ndarray:
        """Return len(masks) x dim float32, rows L2-normalised."""
        ...


def l2_normalise(x: np.ndarray, eps: float = 1e-8) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    n = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.maximum(n, eps)
