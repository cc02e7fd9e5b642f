"""Stage 5: from tracks to final instances over the fused map.

1. multi-view consistency: a voxel stays in a track only if the track's masks covered it in
   at least `min_view_ratio` of the frames that saw that voxel at all (mask bleed onto the
   wall behind an object is seen often but rarely inside the object's masks);
2. duplicates: tracks mostly contained in a larger one are merged into it (3D NMS);
3. exclusive assignment: a voxel claimed by several tracks goes to the one that covered it
   most consistently;
4. minimum size and a confidence per instance: its mean mask score x how consistently its
   masks covered it (mean voxel ratio) x its support, observations measured against the
   scan's typical track (`support_scale` x the median observations of all tracks). A scan of
   40 views sees every real object often; a part the segmenter cuts off (a pillow on a bed,
   the back panel of a shelf) is seen cleanly but in fewer views, and must not outrank the
   objects. A fixed count would saturate at any scan length the suite was not tuned on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..config import RefineConfig
from ..lift import voxels as vx
from ..track.scene_map import SceneMap
from ..track.track import Track
from .parts import merge_parts


@dataclass
class Candidate:
    track: Track
    keys: np.ndarray  # sorted fine voxel keys
    ratio: np.ndarray  # per voxel: hits / frames that saw it


def refine_tracks(tracks: list[Track], scene: SceneMap, cfg: RefineConfig, views: list | None = None,
                  voxel_size: float = 0.03, similarity=None) -> tuple[np.ndarray, list[tuple[Track, float]]]:
    """Returns per-map-voxel instance index (0 = none, k = k-th returned track) and the
    kept tracks with their confidence.

    A fragment is a track observed in few of the frames in which it was visible (a piece of
    an object tracked elsewhere): observations / visible frames below `min_track_ratio` drops
    it. An object that only one frame saw (occluded or out of view elsewhere) stays.
    `similarity` maps feature cosines to the tracker's calibrated scale (None: raw cosines)."""
    cands = []
    rng = np.random.default_rng(0)
    for t in tracks:
        if t.observations < cfg.min_observations:
            continue
        keys, hits = np.unique(np.concatenate(t.fine_parts), return_counts=True)
        if views:
            sample = keys if len(keys) <= 256 else rng.choice(keys, 256, replace=False)
            pts = vx.centers(sample, voxel_size)
            visible = sum(v.visible(pts, 2 * voxel_size).mean() > 0.5 for v in views)
            if t.observations < cfg.min_track_ratio * visible:
                continue
        seen = np.maximum(scene.seen_count(keys), hits)
        ratio = hits / seen
        keep = ratio >= cfg.min_view_ratio
        if keep.sum() >= cfg.min_points:
            cands.append(Candidate(t, keys[keep], ratio[keep]))
    cands = _merge_duplicates(cands, cfg.nms_overlap)
    if cfg.part_merge_feature is not None and len(cands) > 1:
        cands = _join_parts(cands, cfg, similarity)
    owner = _exclusive_owner(cands, scene.keys)
    sizes = np.bincount(owner, minlength=len(cands) + 1)
    typical = typical_observations(tracks, cfg.support_scale)
    kept, remap = [], np.zeros(len(cands) + 1, dtype=np.int32)
    for k, c in enumerate(cands, start=1):
        if sizes[k] >= cfg.min_points:
            kept.append((c.track, _confidence(c, typical)))
            remap[k] = len(kept)
    return remap[owner], kept


def typical_observations(tracks: list[Track], scale: float) -> float:
    """The observation count at which support reaches 1 - 1/e: `scale` x the scan's median."""
    if not tracks:
        return scale
    return scale * max(1.0, float(np.median([t.observations for t in tracks])))


def _confidence(c: Candidate, typical: float) -> float:
    """Objects seen often and consistently rank first; one-off fragments last."""
    t = c.track
    mean_score = t.score_sum / max(t.observations, 1)
    support = 1 - np.exp(-t.observations / typical)
    return float(mean_score * support * np.mean(c.ratio))


def _merge_duplicates(cands: list[Candidate], threshold: float) -> list[Candidate]:
    cands = sorted(cands, key=lambda c: -len(c.keys))
    alive = [True] * len(cands)
    for b in range(len(cands)):  # smaller ones, against every larger survivor
        for a in range(b):
            if not alive[a]:
                continue
            ca, cb = cands[a], cands[b]
            inter = vx.count_in(ca.keys, cb.keys)
            if inter / len(cb.keys) >= threshold:
                cands[a] = _union(ca, cb)
                alive[b] = False
                break
    return [c for c, ok in zip(cands, alive) if ok]


def _join_parts(cands: list[Candidate], cfg: RefineConfig, similarity=None) -> list[Candidate]:
    feats = np.stack([c.track.feature for c in cands]).astype(np.float64)
    sim = feats @ feats.T
    if similarity is not None:
        sim = similarity(sim)
    groups = merge_parts([c.keys for c in cands], sim, cfg.part_merge_feature, cfg.part_min_contact,
                         reach=cfg.part_contact_reach)
    out = []
    for g in np.unique(groups):
        members = [cands[k] for k in np.nonzero(groups == g)[0]]
        head = max(members, key=lambda c: len(c.keys))
        for other in members:
            if other is not head:
                head = _union(head, other)
        out.append(head)
    return out


def _union(a: Candidate, b: Candidate) -> Candidate:
    keys = np.union1d(a.keys, b.keys)
    ratio = np.zeros(len(keys))
    ratio[np.searchsorted(keys, a.keys)] = a.ratio
    rb = np.zeros(len(keys))
    rb[np.searchsorted(keys, b.keys)] = b.ratio
    a.track.absorb(b.track)
    return Candidate(a.track, keys, np.maximum(ratio, rb))


def _exclusive_owner(cands: list[Candidate], map_keys: np.ndarray) -> np.ndarray:
    owner = np.zeros(len(map_keys), dtype=np.int64)
    if not cands:
        return owner
    keys = np.concatenate([c.keys for c in cands])
    ratio = np.concatenate([c.ratio for c in cands])
    size = np.concatenate([np.full(len(c.keys), len(c.keys)) for c in cands])
    idx = np.concatenate([np.full(len(c.keys), k + 1) for k, c in enumerate(cands)])
    order = np.lexsort((-size, -ratio, keys))  # by key, then best ratio, then larger track
    keys, idx = keys[order], idx[order]
    first = np.ones(len(keys), dtype=bool)
    first[1:] = keys[1:] != keys[:-1]
    keys, idx = keys[first], idx[first]
    pos = np.searchsorted(map_keys, keys)
    pos = np.clip(pos, 0, len(map_keys) - 1)
    ok = map_keys[pos] == keys
    owner[pos[ok]] = idx[ok]
    return owner
