"""Join parts of one object that a geometric 2D segmenter cut apart at a concave joint
(a chair's seat and back, a lamp's shade and base): adjacent in 3D, alike in appearance,
neither a structural surface. Vectorised over all instances: one neighbour lookup per offset."""

from __future__ import annotations

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from ..lift import voxels as vx


def _offsets(reach: int) -> np.ndarray:
    r = range(-reach, reach + 1)
    return np.array([(dx, dy, dz) for dx in r for dy in r for dz in r if (dx, dy, dz) != (0, 0, 0)], dtype=np.int64)


def contact_counts(key_sets: list[np.ndarray], reach: int = 1) -> np.ndarray:
    """contact[i, j]: voxels of set i with a voxel of set j within `reach` voxels (Chebyshev;
    1 = the 26 neighbours), i != j."""
    n = len(key_sets)
    if n < 2:
        return np.zeros((n, n), dtype=np.int64)
    keys = np.concatenate(key_sets)
    owner = np.concatenate([np.full(len(k), i) for i, k in enumerate(key_sets)])
    order = np.argsort(keys, kind="stable")
    skeys, sowner = keys[order], owner[order]
    off = _offsets(reach)
    deltas = (off[:, 0] << (2 * vx.BITS)) + (off[:, 1] << vx.BITS) + off[:, 2]
    voxel_idx, other = [], []
    for d in deltas:  # (2 reach + 1)^3 - 1 vectorised lookups
        found, idx = vx.lookup(skeys, keys + d)
        hit = found & (sowner[idx] != owner)
        voxel_idx.append(np.nonzero(hit)[0])
        other.append(sowner[idx[hit]])
    v = np.concatenate(voxel_idx)
    j = np.concatenate(other)
    # a voxel touching set j through several offsets counts once
    pair = np.unique(v * n + j)
    i_of, j_of = owner[pair // n], pair % n
    return np.bincount(i_of * n + j_of, minlength=n * n).reshape(n, n)


def merge_parts(key_sets: list[np.ndarray], similarity: np.ndarray, min_feature: float,
                min_contact: int = 8, max_fraction: float = 0.25, reach: int = 1) -> np.ndarray:
    """Component label per instance after joining parts; equal labels = one object.
    similarity: n x n feature similarity of the instances."""
    n = len(key_sets)
    if n < 2:
        return np.arange(n)
    sizes = np.array([len(k) for k in key_sets])
    structural = sizes > max_fraction * sizes.sum()  # floors, walls: never a part
    contact = contact_counts(key_sets, reach)
    contact = np.minimum(contact, contact.T)
    ok = (contact >= min_contact) & (similarity >= min_feature)
    ok &= ~structural[:, None] & ~structural[None, :]
    np.fill_diagonal(ok, False)
    r, c = np.nonzero(np.triu(ok))
    graph = coo_matrix((np.ones(len(r)), (r, c)), shape=(n, n))
    return connected_components(graph, directed=False)[1]
