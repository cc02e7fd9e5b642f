"""Stable, well-separated instance colours (golden-ratio hue walk)."""

from __future__ import annotations

import colorsys

import numpy as np


def instance_colors(ids: np.ndarray) -> np.ndarray:
    """RGB uint8 per id; id 0 (unassigned) is grey. Same id -> same colour everywhere."""
    ids = np.asarray(ids, dtype=np.int64)
    uniq, inverse = np.unique(ids, return_inverse=True)
    table = np.empty((len(uniq), 3), dtype=np.uint8)
    for k, i in enumerate(uniq):  # per instance, not per point
        if i <= 0:
            table[k] = (128, 128, 128)
            continue
        h = (i * 0.618033988749895) % 1.0
        s = 0.55 + 0.35 * ((i * 7) % 3) / 2
        v = 0.95 - 0.2 * ((i * 5) % 2)
        table[k] = np.round(np.array(colorsys.hsv_to_rgb(h, s, v)) * 255)
    return table[inverse.reshape(ids.shape)]
