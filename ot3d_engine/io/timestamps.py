"""Pairing streams recorded at different instants (TUM RGB-D, ARKitScenes), as TUM's
associate.py does: every pair closer than `max_difference` seconds is a candidate, the
closest pairs are taken first, and each sample is used at most once."""

from __future__ import annotations

import numpy as np


def associate(first: np.ndarray, second: np.ndarray, max_difference: float = 0.02,
              offset: float = 0.0) -> list[tuple[int, int]]:
    """Indices (i, j) with |first[i] - (second[j] + offset)| < max_difference, sorted by i."""
    a = np.asarray(first, dtype=np.float64)
    b = np.asarray(second, dtype=np.float64) + offset
    if not len(a) or not len(b):
        return []
    order = np.argsort(b, kind="stable")
    bs = b[order]
    lo = np.searchsorted(bs, a - max_difference, side="left")
    hi = np.searchsorted(bs, a + max_difference, side="right")
    counts = hi - lo
    ii = np.repeat(np.arange(len(a)), counts)
    jj = order[np.concatenate([np.arange(s, e) for s, e in zip(lo, hi)])] if counts.sum() else np.zeros(0, int)
    diff = np.abs(a[ii] - b[jj])
    keep = diff < max_difference
    ii, jj, diff = ii[keep], jj[keep], diff[keep]
    used_a = np.zeros(len(a), bool)
    used_b = np.zeros(len(b), bool)
    pairs = []
    for k in np.argsort(diff, kind="stable"):  # one pass over candidate pairs, not over pixels
        i, j = ii[k], jj[k]
        if not used_a[i] and not used_b[j]:
            used_a[i] = used_b[j] = True
            pairs.append((int(i), int(j)))
    return sorted(pairs)


def nearest(first: np.ndarray, second: np.ndarray, max_difference: float) -> np.ndarray:
    """For each of `first`, the index of the closest of `second` (-1 if none within the limit).

    For a pose stream sampled faster than the images (a trajectory), where one pose may
    serve two images; `associate` is for image streams, used once each."""
    a = np.asarray(first, dtype=np.float64)
    b = np.asarray(second, dtype=np.float64)
    out = np.full(len(a), -1, dtype=np.int64)
    if not len(b):
        return out
    order = np.argsort(b, kind="stable")
    bs = b[order]
    pos = np.clip(np.searchsorted(bs, a), 1, len(bs) - 1) if len(bs) > 1 else np.zeros(len(a), int)
    left = pos - 1 if len(bs) > 1 else pos
    pick = np.where(np.abs(bs[left] - a) <= np.abs(bs[pos] - a), left, pos)
    ok = np.abs(bs[pick] - a) < max_difference
    out[ok] = order[pick[ok]]
    return out
