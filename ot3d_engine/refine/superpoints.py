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
    """Edges (a, b, weight) of the mesh, sorted by float32 weight, ties by face order.

    weight = 1 - n_a.n_b, squared where the edge is convex (n_b points away from a), as in
    the segmentator. Every face gives its three edges, so shared edges appear twice: the
    heavier copy can never change the result (its components are already joined, or one of
    them can no longer grow), and dropping duplicates would cost more than it saves.
    Faces touching NaN vertices give no edges (nor normals).
    """
    f = np.asarray(faces, dtype=np.int64).reshape(-1, 3)
    corners = _corners(vertices, f)  # [corner][axis] -> per-face coordinate
    normals = _normals(len(vertices), f, corners)
    finite = np.isfinite(np.asarray(vertices, dtype=np.float64)).all(axis=1)
    if not finite.all():  # faces on NaN vertices give no edges
        usable = finite[f].all(axis=1)
        f, corners = f[usable], [[axis[usable] for axis in c] for c in corners]
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
    """Per corner and axis, the faces' coordinates: float32 around the centroid (the
    segmentator's precision, half the memory traffic), with the centroid in float64."""
    v = np.asarray(vertices, dtype=np.float64)
    f = np.asarray(faces, dtype=np.int64).reshape(-1, 3)
    finite = np.isfinite(v).all(axis=1)
    centre = v[finite].mean(axis=0) if finite.any() else np.zeros(3)
    axes = [np.ascontiguousarray(v[:, x] - centre[x], dtype=np.float32) for x in range(3)]
    columns = [np.ascontiguousarray(f[:, c]) for c in range(3)]
    return [[axis[col] for axis in axes] for col in columns]


def _normals(n, faces, corners):
    """Per-vertex normals as three axis arrays (see vertex_normals)."""
    f = np.asarray(faces, dtype=np.int64).reshape(-1, 3)
    p0, p1, p2 = corners
    e1 = [p1[x] - p0[x] for x in range(3)]
    e2 = [p2[x] - p0[x] for x in range(3)]
    cross = [(e1[1] * e2[2] - e1[2] * e2[1]).astype(np.float64),
             (e1[2] * e2[0] - e1[0] * e2[2]).astype(np.float64),
             (e1[0] * e2[1] - e1[1] * e2[0]).astype(np.float64)]  # unit length in float64:
    # float32 lengths would put ~1e-7 of noise on every weight, splitting large flat areas
    length = np.sqrt(cross[0] ** 2 + cross[1] ** 2 + cross[2] ** 2)
    ok = np.isfinite(length) & (length > 0)  # no normal for zero-area or NaN faces
    inv = np.divide(1.0, length, out=np.zeros_like(length), where=ok)
    corner = f.T.ravel()
    count = np.bincount(corner, weights=np.tile(ok.astype(np.float64), 3), minlength=n)
    count = np.maximum(count, 1.0)
    return [np.bincount(corner, weights=np.tile(np.where(ok, c * inv, 0.0), 3), minlength=n)
            / count for c in cross]


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
                  k: float = 0.01, min_size: int = 20, window: int = 1 << 16) -> np.ndarray:
    """Felzenszwalb-Huttenlocher over edges sorted by weight, then small-segment merging.

    Returns a root vertex id per vertex, the same partition as the segmentator's sequential
    loop over the edges in the given (non-decreasing weight) order. Each vectorised round
    settles, for all components at once, only edges whose outcome no undecided earlier edge
    can change (see `_fh_round`); `window` bounds how many edges a round looks at.
    """
    n = int(num_vertices)
    a = np.asarray(a, dtype=np.int64).reshape(-1)
    b = np.asarray(b, dtype=np.int64).reshape(-1)
    w = np.asarray(w, dtype=np.float64).reshape(-1)
    if not len(a) == len(b) == len(w):
        raise ValueError(f"edge arrays differ in length: {len(a)}, {len(b)}, {len(w)}")
    if len(w) and (np.diff(w) < 0).any() or np.isnan(w).any():
        raise ValueError("edge weights must be sorted, non-decreasing and not NaN")
    parent = np.arange(n, dtype=np.int64)
    size = np.ones(n, dtype=np.int64)
    tau = np.full(n, float(k))  # merge threshold per root: last merge weight + k / size
    first = np.full(n, _NONE, dtype=np.int64)  # scratch, kept at _NONE between rounds
    group = np.full(n, -1, dtype=np.int64)  # scratch, kept at -1 between rounds
    for act, ra, rb in _rounds(parent, len(w), a, b, window):
        _fh_round(act, ra, rb, w, parent, size, tau, first, group, float(k))
    if min_size > 1:
        _merge_small(parent, size, a, b, int(min_size), first, window)
    return _flatten(parent)


def compute_superpoints(vertices: np.ndarray, faces: np.ndarray, k_thresh: float = 0.01,
                        min_verts: int = 20) -> np.ndarray:
    """Per-vertex superpoint id 0..S-1, numbered by each segment's lowest vertex index.

    k_thresh and min_verts are the segmentator's kThresh and segMinVerts (larger k, larger
    segments). A vertex on no face is a superpoint of its own.
    """
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


class _Active:
    """Sorted positions of the undecided edges in a growing prefix of the sorted edge list."""

    def __init__(self):
        self.idx = np.empty(0, dtype=np.int64)

    def __len__(self):
        return len(self.idx)

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


def _earliest(first, ra, rb):
    """Position of each edge's endpoints' earliest remaining edge (edges are in order)."""
    idx = np.arange(len(ra))
    np.minimum.at(first, ra, idx)
    np.minimum.at(first, rb, idx)
    fa, fb = first[ra], first[rb]
    first[ra] = _NONE
    first[rb] = _NONE
    return idx, fa, fb


def _fh_round(act, ra, rb, w_all, parent, size, tau, first, group, k):
    """One round of exact FH decisions.

    A component's threshold changes only when it merges, and edges come in non-decreasing
    weight, so: (1) a component whose earliest remaining edge exceeds its threshold can never
    merge again: all its edges go, repeatedly until every component passes its earliest
    edge; (2) following each component's earliest edge leads, with strictly earlier edges
    at each step, to a "root" edge that is the earliest of both its components: those merge
    now, and share no component; (3) the rest of each tree (components whose earliest edge
    leads into it: nothing can change them before that edge) joins its root in edge order,
    a prefix scan per tree that stops where the root fails its threshold or an edge leads
    out of the tree. So a segment swallowing thousands of neighbours, even through chains,
    costs one round rather than thousands.
    """
    wa = w_all[act.idx]
    while True:
        idx, fa, fb = _earliest(first, ra, rb)
        dead = (wa[fa] > tau[ra]) | (wa[fb] > tau[rb])
        if not dead.any():
            break
        live = ~dead
        act.keep(live)
        ra, rb, wa = ra[live], rb[live], wa[live]
        if not len(act):
            return
    ready = (fa == idx) & (fb == idx)
    roots = np.flatnonzero(ready)  # both sides pass their earliest edge: they merge
    n_groups = len(roots)
    # the forest of earliest edges: node = component, pointer = other end of its first edge
    own_a, own_b = fa == idx, fb == idx
    node = np.concatenate([ra[own_a], rb[own_b]])
    target = np.concatenate([rb[own_a], ra[own_b]])
    npos = np.concatenate([idx[own_a], idx[own_b]])
    local = np.arange(len(node))
    first[node] = local  # borrow the scratch as a component -> node map
    ptr = first[target]
    first[node] = _NONE
    is_root = ready[npos]
    ptr[is_root] = local[is_root]
    while True:  # pointer jumping to each tree's root
        up = ptr[ptr]
        if np.array_equal(up, ptr):
            break
        ptr = up
    edge_group = np.full(len(idx), -1, dtype=np.int64)
    edge_group[roots] = np.arange(n_groups)
    node_group = edge_group[npos[ptr]]
    group[node] = node_group
    is_link = ~is_root
    link = np.zeros(len(idx), dtype=bool)
    link[npos[is_link]] = True
    ga, gb = group[ra], group[rb]
    internal = (ga == gb) & ~ready & ~link
    barrier = ~(ready | link | internal)  # touches a tree, leads elsewhere
    bar = np.full(n_groups, len(idx), dtype=np.int64)
    np.minimum.at(bar, ga[barrier], idx[barrier])
    np.minimum.at(bar, gb[barrier], idx[barrier])
    # prefix scan over each tree's links in edge order: every child passes (1), the root's
    # threshold after each join is that link's weight + k / (size so far)
    lk = np.flatnonzero(is_link)
    lk = lk[npos[lk] < bar[node_group[lk]]]
    lk = lk[np.lexsort((npos[lk], node_group[lk]))]
    lg, lc, lpos = node_group[lk], node[lk], npos[lk]
    lw, ls = wa[lpos], size[lc]
    size0 = size[ra[roots]] + size[rb[roots]]
    tau0 = wa[roots] + k / size0
    n_links = len(lk)
    seq = np.arange(n_links)
    start = np.searchsorted(lg, np.arange(n_groups))
    csum = np.cumsum(ls)
    offset = np.concatenate([[0], csum])[start]
    grown = size0[lg] + csum - offset[lg]  # root size after each link, if all before joined
    prev = np.maximum(seq - 1, 0)
    tau_before = np.where(seq == start[lg], tau0[lg], lw[prev] + k / grown[prev])
    halt = lw > tau_before  # the root fails here, and can never grow again
    first_halt = np.full(n_groups, n_links, dtype=np.int64)
    np.minimum.at(first_halt, lg[halt], seq[halt])
    joined = seq < first_halt[lg]
    stop = bar.copy()
    halted = first_halt < n_links
    stop[halted] = lpos[first_halt[halted]] + 1
    # apply: root pairs, then the components that joined them
    r_a, r_b = ra[roots], rb[roots]
    keep_a = size[r_a] >= size[r_b]
    keeper = np.where(keep_a, r_a, r_b)
    parent[np.where(keep_a, r_b, r_a)] = keeper
    jg, jc = lg[joined], lc[joined]
    parent[jc] = keeper[jg]
    last = np.full(n_groups, -1, dtype=np.int64)
    np.maximum.at(last, jg, seq[joined])
    size[keeper] = size0 + np.bincount(jg, weights=ls[joined], minlength=n_groups).astype(np.int64)
    grew = last >= 0
    tau_new = tau0.copy()
    tau_new[grew] = lw[last[grew]] + k / grown[last[grew]]
    tau[keeper] = tau_new
    # every root, link and internal edge before its tree's stop is now decided
    settled = ~barrier & (idx < stop[ga])
    group[node] = -1
    act.keep(~settled)


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
        idx, fa, fb = _earliest(first, ra, rb)
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
