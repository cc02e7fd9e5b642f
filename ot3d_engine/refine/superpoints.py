"""Mesh superpoints: Felzenszwalb-Huttenlocher segmentation on vertex normals.

Same graph, weights and parameters as ScanNet's Segmentator (kThresh, segMinVerts; convex
creases count less than concave ones), so superpoints match what ScanNet-trained methods
expect. The algorithm is sequential over sorted edges; here it runs as vectorised rounds
that give exactly the sequential result (see `segment_graph`), seconds for 1M vertices.
"""

from __future__ import annotations

import numpy as np

_EDGE_PAIRS = np.array([[0, 1], [0, 2], [2, 1]])  # the segmentator's three edges per face
_NONE = np.iinfo(np.int64).max


def vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Mean of the unit normals of the faces around each vertex, not renormalised.

    That is the segmentator's normal: shorter on creases, which makes crease edges heavier.
    Zero-area faces have no normal and are skipped; a vertex without faces gets (0, 0, 0).
    """
    corners = _corners(vertices, faces)
    return np.stack(_normals(len(vertices), faces, corners), axis=1)


def mesh_graph(vertices: np.ndarray, faces: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Edges (a, b, weight) of the mesh, sorted by weight, ties by face order.

    weight = 1 - n_a.n_b, squared where the edge is convex (n_b points away from a), as in
    the segmentator. Every face gives its three edges, so shared edges appear twice: the
    heavier copy can never change the result (its components are already joined, or one of
    them can no longer grow), and dropping duplicates would cost more than it saves.
    """
    f = np.asarray(faces, dtype=np.int64).reshape(-1, 3)
    corners = _corners(vertices, f)  # [corner][axis] -> per-face coordinate
    normals = _normals(len(vertices), f, corners)
    ncorner = [[axis[f[:, c]] for axis in normals] for c in range(3)]
    weights, ends = [], []
    for i, j in _EDGE_PAIRS:  # vectorised over faces; three edges per face
        ni, nj, pi, pj = ncorner[i], ncorner[j], corners[i], corners[j]
        dot = ni[0] * nj[0] + ni[1] * nj[1] + ni[2] * nj[2]
        toward = sum(nj[x] * (pj[x] - pi[x]) for x in range(3))
        w = np.maximum(1.0 - dot, 0.0)
        weights.append(np.where(toward > 0, w * w, w))
        ends.append((f[:, i], f[:, j]))
    a = np.concatenate([e[0] for e in ends])
    b = np.concatenate([e[1] for e in ends])
    w = np.concatenate(weights).astype(np.float32)
    keep = a != b
    if not keep.all():
        a, b, w = a[keep], b[keep], w[keep]
    order = _argsort_nonnegative(w)
    return a[order], b[order], w[order]


def _corners(vertices, faces):
    v = np.asarray(vertices, dtype=np.float64)
    f = np.asarray(faces, dtype=np.int64).reshape(-1, 3)
    axes = [np.ascontiguousarray(v[:, x]) for x in range(3)]
    return [[axis[f[:, c]] for axis in axes] for c in range(3)]


def _normals(n, faces, corners):
    """Per-vertex normals as three axis arrays (see vertex_normals)."""
    f = np.asarray(faces, dtype=np.int64).reshape(-1, 3)
    p0, p1, p2 = corners
    e1 = [p1[x] - p0[x] for x in range(3)]
    e2 = [p2[x] - p0[x] for x in range(3)]
    cross = [e1[1] * e2[2] - e1[2] * e2[1], e1[2] * e2[0] - e1[0] * e2[2],
             e1[0] * e2[1] - e1[1] * e2[0]]
    length = np.sqrt(cross[0] ** 2 + cross[1] ** 2 + cross[2] ** 2)
    ok = length > 0
    inv = np.divide(1.0, length, out=np.zeros_like(length), where=ok)
    corner = f.T.ravel()
    count = np.bincount(corner, weights=np.tile(ok.astype(np.float64), 3), minlength=n)
    count = np.maximum(count, 1.0)
    return [np.bincount(corner, weights=np.tile(c * inv, 3), minlength=n) / count
            for c in cross]


def _argsort_nonnegative(w: np.ndarray) -> np.ndarray:
    """Stable argsort of float32 weights >= 0 with one uint64 sort (their bit patterns order
    like their values), several times faster than argsort(kind="stable")."""
    if len(w) >= 1 << 32:
        return np.argsort(w, kind="stable")
    packed = (w.view(np.uint32).astype(np.uint64) << np.uint64(32)) \
        | np.arange(len(w), dtype=np.uint64)
    packed.sort()
    return (packed & np.uint64(0xFFFFFFFF)).astype(np.int64)


def segment_graph(num_vertices: int, a: np.ndarray, b: np.ndarray, w: np.ndarray,
                  k: float = 0.01, min_size: int = 20, window: int = 1 << 17) -> np.ndarray:
    """Felzenszwalb-Huttenlocher over edges sorted by weight, then small-segment merging.

    Returns a root vertex id per vertex. Exact: equal to the segmentator's sequential loop.
    Each round decides, for all components at once, the edges whose outcome no earlier edge
    can change: an edge that is the earliest remaining edge of both its components (those
    pairs are disjoint, so they merge in one vectorised step), and every edge of a component
    whose earliest edge already fails its threshold (thresholds only change on a merge, and
    weights only grow, so such a component never merges again).
    """
    n = int(num_vertices)
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    w = np.asarray(w, dtype=np.float64)
    parent = np.arange(n, dtype=np.int64)
    size = np.ones(n, dtype=np.int64)
    tau = np.full(n, float(k))
    first = np.full(n, _NONE, dtype=np.int64)  # scratch: earliest remaining edge per component
    for act, ra, rb in _rounds(parent, len(w), a, b, window):
        idx = np.arange(len(act))
        np.minimum.at(first, ra, idx)
        np.minimum.at(first, rb, idx)
        fa, fb = first[ra], first[rb]
        first[ra] = _NONE
        first[rb] = _NONE
        dead = (w[act[fa]] > tau[ra]) | (w[act[fb]] > tau[rb])
        ready = (fa == idx) & (fb == idx) & ~dead
        ja, jb = ra[ready], rb[ready]
        keep, gone = _link(parent, size, ja, jb)
        tau[keep] = w[act[ready]] + k / size[keep]
        yield_mask = ~(ready | dead)
        act.keep(yield_mask)
    if min_size > 1:
        _merge_small(parent, size, a, b, int(min_size), first, window)
    return _flatten(parent)


def compute_superpoints(vertices: np.ndarray, faces: np.ndarray, k_thresh: float = 0.01,
                        min_verts: int = 20) -> np.ndarray:
    """Per-vertex superpoint id 0..S-1, numbered by each segment's lowest vertex index."""
    a, b, w = mesh_graph(vertices, faces)
    roots = segment_graph(len(vertices), a, b, w, k_thresh, min_verts)
    return compact_labels(roots)


def compact_labels(roots: np.ndarray) -> np.ndarray:
    """Renumber arbitrary labels to 0..S-1 in order of first appearance (deterministic)."""
    _, first_at, inverse = np.unique(roots, return_index=True, return_inverse=True)
    rank = np.empty(len(first_at), dtype=np.int64)
    rank[np.argsort(first_at, kind="stable")] = np.arange(len(first_at))
    return rank[inverse.reshape(-1)]


# --- union-find helpers --------------------------------------------------------------


def _find(parent: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Roots of x, compressing the paths of x (roots are always linked root to root)."""
    r = parent[x]
    while True:
        up = parent[r]
        if np.array_equal(up, r):
            break
        r = up
    parent[x] = r
    return r


def _flatten(parent: np.ndarray) -> np.ndarray:
    while True:
        up = parent[parent]
        if np.array_equal(up, parent):
            return parent
        parent[:] = up


def _link(parent, size, ja, jb):
    """Join disjoint root pairs, the larger keeps its id (ties: the first one)."""
    a_big = size[ja] >= size[jb]
    keep = np.where(a_big, ja, jb)
    gone = np.where(a_big, jb, ja)
    parent[gone] = keep
    size[keep] += size[gone]
    return keep, gone


class _Active:
    """Sorted indices of the undecided edges of a growing prefix of the edge list."""

    def __init__(self):
        self.idx = np.empty(0, dtype=np.int64)

    def __len__(self):
        return len(self.idx)

    def __getitem__(self, sel):
        return self.idx[sel]

    def keep(self, mask):
        self.idx = self.idx[mask]


def _rounds(parent, m, a, b, window):
    """Yield (active, root_a, root_b) each round with self-loops removed, topping the
    active set up from the sorted edge list whenever it runs low."""
    act = _Active()
    pos = 0
    while True:
        if len(act) < window // 2 and pos < m:
            end = min(m, pos + window)
            act.idx = np.concatenate([act.idx, np.arange(pos, end, dtype=np.int64)])
            pos = end
        if not len(act):
            return
        ra = _find(parent, a[act.idx])
        rb = _find(parent, b[act.idx])
        cross = ra != rb
        if not cross.all():
            act.keep(cross)
            ra, rb = ra[cross], rb[cross]
        if len(act):
            yield act, ra, rb


def _merge_small(parent, size, a, b, min_size, first, window):
    """Second pass of the segmentator: along the sorted edges, join any two components when
    either is smaller than min_size. Exact rounds: a small component whose earliest edge leads
    to a large one joins it at once (the large side stays large whatever happens before);
    two small components join when the edge is the earliest of both."""
    for act, ra, rb in _rounds(parent, len(a), a, b, window):
        small_a = size[ra] < min_size
        small_b = size[rb] < min_size
        useful = small_a | small_b
        if not useful.all():
            act.keep(useful)
            ra, rb, small_a, small_b = ra[useful], rb[useful], small_a[useful], small_b[useful]
            if not len(act):
                continue
        idx = np.arange(len(act))
        np.minimum.at(first, ra, idx)
        np.minimum.at(first, rb, idx)
        fa, fb = first[ra], first[rb]
        first[ra] = _NONE
        first[rb] = _NONE
        # small -> large along the small side's earliest edge
        into_b = small_a & ~small_b & (fa == idx)
        into_a = small_b & ~small_a & (fb == idx)
        movers = np.concatenate([ra[into_b], rb[into_a]])
        hosts = np.concatenate([rb[into_b], ra[into_a]])
        # small + small on an edge that is the earliest of both
        pair = small_a & small_b & (fa == idx) & (fb == idx)
        _link(parent, size, ra[pair], rb[pair])
        if len(movers):
            parent[movers] = hosts
            np.add.at(size, hosts, size[movers])
        act.keep(~(into_b | into_a | pair))
