"""Lift a frame's masks to 3D: back-project, drop boundary bleed, voxelise, keep main clusters.

One vectorised pass per frame for all masks together (a label image, one np.unique over
(mask, voxel) keys, one connected-components call): the cost barely grows with mask count.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from ..config import LiftConfig
from ..types import Frame, Mask2D, Observation
from . import voxels as vx
from .geometry import depth_edges, to_world


@dataclass
class FrameCloud:
    """Every valid (subsampled) pixel of a frame as world voxels: feeds the fused scene map."""

    keys: np.ndarray  # int64 voxel keys, unique
    colors: np.ndarray  # Nx3 float32 mean colour per voxel
    counts: np.ndarray  # pixels per voxel


def label_image(masks: list[Mask2D], shape: tuple[int, int]) -> np.ndarray:
    """Overlapping masks resolved: larger masks painted first, so smaller ones stay on top."""
    lab = np.zeros(shape, dtype=np.int32)
    order = sorted(range(len(masks)), key=lambda i: -int(masks[i].mask.sum()))
    for i in order:  # per mask, not per pixel
        lab[masks[i].mask] = i + 1
    return lab


class Lifter:
    def __init__(self, config: LiftConfig):
        self.cfg = config

    def lift(self, frame: Frame, masks: list[Mask2D], features: np.ndarray | None
             ) -> tuple[list[Observation], FrameCloud]:
        cfg = self.cfg
        s = max(1, int(cfg.pixel_stride))
        depth = np.where(frame.valid_depth(), frame.depth, 0).astype(np.float32)
        d = depth[::s, ::s]
        valid = d > 0
        labels = label_image(masks, depth.shape)[::s, ::s] if masks else np.zeros(d.shape, np.int32)
        pix_counts = np.bincount(labels[valid].ravel(), minlength=len(masks) + 1)
        # interior: drop pixels near a mask boundary or a depth edge (mixed-depth bleed)
        interior = valid & ~depth_edges(d, cfg.depth_edge_threshold)
        if cfg.edge_erosion > 0 and masks:
            r = max(1, int(round(cfg.edge_erosion / s)))
            size = 2 * r + 1
            same = ndimage.minimum_filter(labels, size) == ndimage.maximum_filter(labels, size)
            lab_interior = interior & same
        else:
            lab_interior = interior
        rows, cols = np.nonzero(valid)
        K = frame.intrinsics
        z = d[rows, cols]
        u = cols * s
        v = rows * s
        pc = np.stack([(u - K[0, 2]) / K[0, 0] * z, (v - K[1, 2]) / K[1, 1] * z, z], axis=1).astype(np.float32)
        pw = to_world(pc, frame.pose)
        coords = vx.voxel_coords(pw, cfg.voxel_size)
        colors = frame.color[v, u].astype(np.float32)
        cloud = self._frame_cloud(coords[interior[rows, cols]], colors[interior[rows, cols]])
        obs = []
        if masks:
            pix_lab = labels[rows, cols]
            sel = (pix_lab > 0) & lab_interior[rows, cols]
            obs = self._observations(frame, masks, features, coords[sel], pw[sel], colors[sel],
                                     pix_lab[sel] - 1, pix_counts[1:])
        return obs, cloud

    @staticmethod
    def _frame_cloud(coords: np.ndarray, colors: np.ndarray) -> FrameCloud:
        keys = vx.pack(coords)
        uniq, inv, counts = np.unique(keys, return_inverse=True, return_counts=True)
        return FrameCloud(uniq, group_sum(inv, colors, len(uniq)) / counts[:, None], counts)

    def _observations(self, frame, masks, features, coords, points, colors, mask_idx, pix_counts):
        cfg = self.cfg
        if len(coords) == 0:
            return []
        base = coords.min(0) - 1
        local = coords - base
        if local.max() >= vx.LOCAL_MASK - 1:  # frame spans > 16k voxels: fall back to global keys
            raise ValueError("frame extent too large for local voxel keys; increase lift.voxel_size")
        m = mask_idx.astype(np.int64)
        key = (m << (3 * vx.LOCAL_BITS)) | (local[:, 0] << (2 * vx.LOCAL_BITS)) | (local[:, 1] << vx.LOCAL_BITS) | local[:, 2]
        uniq, inv, cnt = np.unique(key, return_inverse=True, return_counts=True)
        g = uniq >> (3 * vx.LOCAL_BITS)
        lc = np.stack([(uniq >> (2 * vx.LOCAL_BITS)) & vx.LOCAL_MASK,
                       (uniq >> vx.LOCAL_BITS) & vx.LOCAL_MASK, uniq & vx.LOCAL_MASK], axis=1)
        psum = group_sum(inv, points, len(uniq))
        csum = group_sum(inv, colors, len(uniq))
        keep = np.ones(len(uniq), dtype=bool)
        if cfg.outlier_filter == "dbscan" and len(uniq):
            comp = vx.grouped_components(lc, g)
            keep = vx.keep_main_components(comp, g, 0.2)
        gkeys = vx.pack(lc + base)
        # uniq is sorted by (mask, local coords): each mask's voxels are one contiguous run
        starts = np.searchsorted(g, np.arange(len(masks) + 1))
        out = []
        for i in range(len(masks)):  # per mask, slices only
            a, b = starts[i], starts[i + 1]
            k = keep[a:b]
            if k.sum() < cfg.min_points:
                continue
            sl = np.arange(a, b)[k]
            feat = features[i] if features is not None and len(features) else np.zeros(1, np.float32)
            mask = masks[i]
            out.append(Observation(
                frame_index=frame.index, mask_index=i,
                points=(psum[sl] / cnt[sl, None]).astype(np.float32),
                voxels=gkeys[sl],  # local order == global order within one mask: already sorted
                feature=np.asarray(feat, dtype=np.float32),
                pixel_count=int(pix_counts[i]) * self.cfg.pixel_stride ** 2,
                score=float(mask.score), label=mask.label,
                colors=(csum[sl] / cnt[sl, None]).astype(np.uint8),
                box=_mask_box(mask),
            ))
        return out


def group_sum(inverse: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """Row sums of `values` grouped by `inverse` (bincount per column: far faster than np.add.at)."""
    return np.stack([np.bincount(inverse, weights=values[:, j], minlength=n)
                     for j in range(values.shape[1])], axis=1).astype(np.float32)


def _mask_box(mask: Mask2D):
    if mask.box is not None:
        return tuple(int(v) for v in mask.box)
    ys = np.flatnonzero(mask.mask.any(axis=1))
    xs = np.flatnonzero(mask.mask.any(axis=0))
    if len(ys) == 0:
        return None
    return (int(xs[0]), int(ys[0]), int(xs[-1]) + 1, int(ys[-1]) + 1)
