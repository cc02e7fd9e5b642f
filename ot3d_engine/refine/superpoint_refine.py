"""Snap predicted instances to mesh superpoints (the optional mesh refinement).

Mesh-free instances are voxel clouds whose borders bleed onto neighbours and leave holes.
With a scene mesh, each superpoint (a patch of one surface) is all or nothing: it goes to
the instance that covers enough of it, or stays unlabelled. An instance whose superpoints
fall apart on the mesh (one prediction over two separate objects) becomes several.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from ..errors import ScanError
from ..io.mesh import Mesh
from ..types import Instance, SceneResult
from .superpoints import compute_superpoints


@dataclass
class RefinedInstance:
    id: int
    source_id: int  # the predicted instance it came from (a split gives several)
    score: float
    vertex_count: int
    superpoint_count: int
    point_count: int  # input cloud points carrying this id after refinement


@dataclass
class SuperpointRefinement:
    vertex_ids: np.ndarray  # V int32 instance id per mesh vertex, 0 = none (ScanNet format)
    point_ids: np.ndarray  # N int32 instance id per input point, 0 = none
    instances: list[RefinedInstance]
    superpoint_ids: np.ndarray  # S int32 per superpoint: instance id, 0 = none, -1 = unseen

    @property
    def scores(self) -> dict[int, float]:
        return {i.id: i.score for i in self.instances}


def refine_with_superpoints(vertices: np.ndarray, faces: np.ndarray, superpoints: np.ndarray,
                            points: np.ndarray, instance_ids: np.ndarray,
                            scores: Mapping[int, float] | None = None, *, radius: float = 0.05,
                            coverage: float = 0.4, min_observed: float = 0.25,
                            split_gap: float = 0.05) -> SuperpointRefinement:
    """Assign whole superpoints to predicted instances.

    Each mesh vertex takes the id of the nearest predicted point within `radius` (0 counts:
    a background vote) or is unseen. A superpoint seen on at least `min_observed` of its
    vertices is decided: when instances hold at least `coverage` of its seen vertices it
    goes to the one with most votes (so an object predicted as several fragments still
    claims its surfaces), else to nothing. One seen less is left undecided: unlabelled on
    the mesh, while input points there keep their id (the mesh cannot tell). Each
    connected group of an instance's
    superpoints becomes an instance (superpoints closer than `split_gap` count as connected;
    0 = mesh edges only): the one with most votes keeps the id and score, the others get new
    ids and the score scaled by their votes relative to it.
    """
    v = np.asarray(vertices, dtype=np.float64).reshape(-1, 3)
    f = np.asarray(faces, dtype=np.int64).reshape(-1, 3)
    sp = np.asarray(superpoints, dtype=np.int64).reshape(-1)
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    ids = np.asarray(instance_ids, dtype=np.int64).reshape(-1)
    if len(sp) != len(v):
        raise ValueError(f"{len(sp)} superpoint ids for {len(v)} mesh vertices")
    if len(ids) != len(pts):
        raise ValueError(f"{len(pts)} points but {len(ids)} instance ids")
    if (ids < 0).any():
        raise ValueError("instance ids must be >= 0 (0 = none)")
    n_sp = int(sp.max()) + 1 if len(sp) else 0
    valid = np.isfinite(v).all(axis=1)
    source_ids = np.unique(ids[ids > 0])
    scores = {int(i): 1.0 for i in source_ids} if scores is None else \
        {int(k): float(s) for k, s in scores.items()}

    # 1. votes: nearest predicted point per vertex
    vote = np.full(len(v), -1, dtype=np.int64)  # -1 = unseen
    usable = np.flatnonzero(np.isfinite(pts).all(axis=1))
    if len(usable) and valid.any():
        dist, near = cKDTree(pts[usable]).query(v[valid], k=1, distance_upper_bound=radius)
        seen = np.isfinite(dist)
        vote[np.flatnonzero(valid)[seen]] = ids[usable[near[seen]]]
    sp_size = np.bincount(sp, minlength=n_sp)
    sp_seen = np.bincount(sp[vote >= 0], minlength=n_sp)
    best, best_votes = _majority(sp[vote > 0], vote[vote > 0], n_sp)

    # 2. decisions per superpoint
    decided = (sp_seen > 0) & (sp_seen >= min_observed * sp_size)
    foreground = np.bincount(sp[vote > 0], minlength=n_sp)
    take = decided & (foreground >= coverage * sp_seen) & (best > 0)
    sp_label = np.where(take, best, 0)

    # 3. split instances into connected groups of superpoints on the mesh
    part, n_parts = _parts(v, f, sp, sp_label, n_sp, split_gap)
    part_label = np.zeros(n_parts, dtype=np.int64)
    part_label[part[take]] = sp_label[take]
    part_votes = np.bincount(part[take], weights=best_votes[take], minlength=n_parts)
    part_first = np.full(n_parts, len(v), dtype=np.int64)  # lowest vertex: a stable tie-break
    on = take[sp]
    np.minimum.at(part_first, part[sp[on]], np.flatnonzero(on))
    part_id, part_score = _number_parts(part_label, part_votes, part_first, scores, source_ids)

    sp_id = np.where(decided, 0, -1)
    sp_id[take] = part_id[part[take]]
    vertex_ids = np.maximum(sp_id[sp], 0)
    vertex_ids[~valid] = 0

    # 4. back to the input cloud: nearest mesh vertex decides, unless it is undecided
    point_ids = ids.copy()
    if len(usable) and valid.any():
        vidx = np.flatnonzero(valid)
        dist, near = cKDTree(v[vidx]).query(pts[usable], k=1, distance_upper_bound=radius)
        hit = np.isfinite(dist)
        decision = sp_id[sp[vidx[near[hit]]]]
        known = decision >= 0
        point_ids[usable[hit][known]] = decision[known]

    instances = _describe(vertex_ids, point_ids, sp, sp_id, part_id, part_label, part_score,
                          scores)
    return SuperpointRefinement(vertex_ids=vertex_ids.astype(np.int32),
                                point_ids=point_ids.astype(np.int32), instances=instances,
                                superpoint_ids=sp_id.astype(np.int32))


def refine_scene_result(result: SceneResult, mesh: Mesh, superpoints: np.ndarray | None = None,
                        *, k_thresh: float = 0.01, min_verts: int = 20, **options
                        ) -> tuple[SceneResult, SuperpointRefinement]:
    """The pipeline's result with its instances snapped to the mesh's superpoints.

    Split parts inherit label, feature and views of their source instance; instances left
    with no points are dropped. `options` go to refine_with_superpoints. The per-vertex ids
    (ScanNet format) are in the returned SuperpointRefinement.
    """
    if mesh.is_point_cloud:
        raise ScanError(mesh.path, "mesh has no faces; superpoints need a triangle mesh")
    t0 = time.perf_counter()
    if superpoints is None:
        superpoints = compute_superpoints(mesh.vertices, mesh.faces, k_thresh, min_verts)
    t1 = time.perf_counter()
    ref = refine_with_superpoints(mesh.vertices, mesh.faces, superpoints, result.points,
                                  result.instance_ids,
                                  {i.id: i.score for i in result.instances}, **options)
    t2 = time.perf_counter()
    by_id = {i.id: i for i in result.instances}
    order = np.argsort(ref.point_ids, kind="stable")
    bounds = np.searchsorted(ref.point_ids[order], [r.id for r in ref.instances], side="left")
    instances = []
    for r, lo in zip(ref.instances, bounds):
        if r.point_count == 0:
            continue
        sel = order[lo:lo + r.point_count]
        src = by_id.get(r.source_id)
        if src is None:  # cannot happen for ids from the prediction; kept total anyway
            src = Instance(id=r.id, points=result.points[:0], score=r.score)
        instances.append(dataclasses.replace(
            src, id=r.id, points=result.points[sel], score=r.score, best_views=list(src.best_views),
            colors=None if result.colors is None else result.colors[sel]))
    timings = dict(result.timings)
    timings["superpoints"] = timings.get("superpoints", 0.0) + t1 - t0
    timings["superpoint_refine"] = timings.get("superpoint_refine", 0.0) + t2 - t1
    meta = dict(result.meta)
    meta["superpoints"] = {"count": int(superpoints.max()) + 1 if len(superpoints) else 0,
                           "mesh": None if mesh.path is None else str(mesh.path),
                           "mesh_vertices": int(len(mesh.vertices)),
                           "instances_before": len(result.instances),
                           "instances_after": len(instances)}
    refined = SceneResult(points=result.points, colors=result.colors,
                          instance_ids=ref.point_ids.astype(np.int32), instances=instances,
                          timings=timings, meta=meta)
    return refined, ref


def _majority(sp: np.ndarray, label: np.ndarray, n_sp: int) -> tuple[np.ndarray, np.ndarray]:
    """Most voted label per superpoint (ties: lowest id) and its vote count."""
    best = np.zeros(n_sp, dtype=np.int64)
    count = np.zeros(n_sp, dtype=np.int64)
    if not len(sp):
        return best, count
    width = int(label.max()) + 1
    pairs, votes = np.unique(sp * width + label, return_counts=True)
    s, lab = pairs // width, pairs % width
    order = np.lexsort((lab, -votes, s))
    s, lab, votes = s[order], lab[order], votes[order]
    head = np.ones(len(s), dtype=bool)
    head[1:] = s[1:] != s[:-1]
    best[s[head]] = lab[head]
    count[s[head]] = votes[head]
    return best, count


def _parts(vertices, faces, sp, sp_label, n_sp, gap):
    """Connected components of labelled superpoints, -1 for unlabelled ones. Two superpoints
    of one instance connect when a mesh edge joins them or, with gap > 0, when they have
    vertices in the same or touching cells of a `gap` grid (pieces of one object are often
    separate meshes: legs under a table top)."""
    part = np.full(n_sp, -1, dtype=np.int64)
    labelled = np.flatnonzero(sp_label > 0)
    if not len(labelled):
        return part, 0
    a = sp[faces[:, [0, 1, 2]].ravel()]
    b = sp[faces[:, [1, 2, 0]].ravel()]
    join = (a != b) & (sp_label[a] > 0) & (sp_label[a] == sp_label[b])
    src, dst = [a[join]], [b[join]]
    if gap > 0:
        s2, d2 = _near_pairs(vertices, sp, sp_label, gap)
        src.append(s2)
        dst.append(d2)
    src, dst = np.concatenate(src), np.concatenate(dst)
    graph = coo_matrix((np.ones(len(src), dtype=np.int8), (src, dst)), shape=(n_sp, n_sp)).tocsr()
    _, comp = connected_components(graph, directed=False)
    # renumber the components of labelled superpoints 0..P-1 in superpoint order
    _, part[labelled] = np.unique(comp[labelled], return_inverse=True)
    return part, int(part.max()) + 1


_HALF_NEIGHBOURS = np.array([(dx, dy, dz) for dx in (-1, 0, 1) for dy in (-1, 0, 1)
                             for dz in (-1, 0, 1) if (dx, dy, dz) > (0, 0, 0)])


def _near_pairs(vertices, sp, sp_label, gap):
    """Superpoint pairs of the same instance with vertices in the same or adjacent grid
    cells: one row per (instance, cell, superpoint), chained within a cell and linked to
    the first row of each of the 13 forward neighbour cells."""
    on = (sp_label[sp] > 0) & np.isfinite(vertices).all(axis=1)
    cell = np.floor(vertices[on] / gap).astype(np.int64)
    cell -= cell.min(axis=0) - 1  # >= 1, so a -1 neighbour stays in range
    _, label = np.unique(sp_label[sp[on]], return_inverse=True)
    radix = cell.max(axis=0) + 2
    if float(label.max() + 1) * float(np.prod(radix.astype(np.float64))) >= 2.0 ** 62:
        raise ValueError(f"scene too large for a {gap} m grid")
    step = np.array([radix[1] * radix[2], radix[2], 1], dtype=np.int64)
    key = label.reshape(-1) * (radix[0] * step[0]) + cell @ step
    row_sp = sp[on]
    order = np.lexsort((row_sp, key))
    key, rsp = key[order], row_sp[order]
    fresh = np.ones(len(key), dtype=bool)
    fresh[1:] = (key[1:] != key[:-1]) | (rsp[1:] != rsp[:-1])
    key, rsp = key[fresh], rsp[fresh]
    same = np.flatnonzero(key[1:] == key[:-1])
    src, dst = [rsp[same]], [rsp[same + 1]]
    for d in _HALF_NEIGHBOURS:
        q = key + int(d @ step)
        at = np.searchsorted(key, q)
        hit = at < len(key)
        hit[hit] = key[at[hit]] == q[hit]
        src.append(rsp[hit])
        dst.append(rsp[at[hit]])
    return np.concatenate(src), np.concatenate(dst)


def _number_parts(part_label, part_votes, part_first, scores, source_ids):
    """Ids and scores per part: an instance's most voted part keeps its id, further parts
    get fresh ids after every source id, in a deterministic order."""
    n = len(part_label)
    order = np.lexsort((part_first, -part_votes, part_label))
    main = np.ones(n, dtype=bool)
    main[1:] = part_label[order][1:] != part_label[order][:-1]
    part_id = np.zeros(n, dtype=np.int64)
    part_id[order[main]] = part_label[order[main]]
    extra = order[~main]
    next_id = int(max(source_ids.max(initial=0), max(scores, default=0))) + 1
    part_id[extra] = np.arange(next_id, next_id + len(extra))
    is_main = np.zeros(n, dtype=bool)
    is_main[order[main]] = True
    main_votes = np.zeros(int(part_label.max(initial=0)) + 1)
    main_votes[part_label[is_main]] = part_votes[is_main]
    base = np.array([scores.get(int(i), 1.0) for i in part_label], dtype=np.float64)
    share = part_votes / np.maximum(main_votes[part_label], 1e-12)
    return part_id, np.where(is_main, base, base * share)


def _describe(vertex_ids, point_ids, sp, sp_id, part_id, part_label, part_score, scores):
    source = dict(zip(part_id.tolist(), part_label.tolist()))
    score = dict(zip(part_id.tolist(), part_score.tolist()))
    ids = np.union1d(np.unique(vertex_ids[vertex_ids > 0]), np.unique(point_ids[point_ids > 0]))
    width = int(ids.max(initial=0)) + 1
    v_count = np.bincount(vertex_ids, minlength=width)
    p_count = np.bincount(point_ids, minlength=width)
    s_count = np.bincount(sp_id[sp_id > 0], minlength=width)
    out = []
    for i in ids.tolist():
        out.append(RefinedInstance(id=i, source_id=int(source.get(i, i)),
                                   score=float(score.get(i, scores.get(i, 1.0))),
                                   vertex_count=int(v_count[i]), superpoint_count=int(s_count[i]),
                                   point_count=int(p_count[i])))
    return out
