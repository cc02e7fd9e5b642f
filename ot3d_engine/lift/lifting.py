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


def label_image(masks: list[Mask2D], stride: int = 1) -> np.ndarray:
    """Overlapping masks resolved: larger masks painted first, so smaller ones stay on top.
    Built directly at the sampling stride (painting full-resolution masks is the slow part)."""
    small = [m.mask[::stride, ::stride] for m in masks]
    lab = np.zeros(small[0].shape, dtype=np.int32)
    areas = [np.count_nonzero(m) for m in small]
    for i in sorted(range(len(masks)), key=lambda i: -areas[i]):  # per mask, not per pixel
        lab[small[i]] = i + 1
    return lab


class Lifter:
    def __init__(self, config: LiftConfig):
        self.cfg = config

    def lift(self, frame: Frame, masks: list[Mask2D], features: np.ndarray | None
             ) -> tuple[list[Observation], FrameCloud]:
        cfg = self.cfg
        s = max(1, int(cfg.pixel_stride))
        d = np.asarray(frame.depth[::s, ::s], dtype=np.float32)
        valid = d > 0  # NaN compares False: invalid either way
        d = np.where(valid, d, np.float32(0))
        labels = label_image(masks, s) if masks else np.zeros(d.shape, np.int32)
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
        # only interior pixels are ever used: back-project just those (float32 throughout)
        flat = np.flatnonzero(interior)
        rows, cols = np.divmod(flat, d.shape[1])
        K = frame.intrinsics.astype(np.float32)
        z = d.ravel()[flat]
        pc = np.empty((len(flat), 3), np.float32)
        pc[:, 0] = (cols * np.float32(s) - K[0, 2]) * (z / K[0, 0])
        pc[:, 1] = (rows * np.float32(s) - K[1, 2]) * (z / K[1, 1])
        pc[:, 2] = z
        pw = to_world(pc, frame.pose)
        coords = np.floor(pw * np.float32(1.0 / cfg.voxel_size)).astype(np.int64)
        colors = frame.color[::s, ::s].reshape(-1, 3)[flat].astype(np.float32)
        m = max(1, int(cfg.map_stride) // s)  # the fused map needs fewer samples than the masks
        on_map = ((rows % m) == 0) & ((cols % m) == 0) if m > 1 else slice(None)
        cloud = self._frame_cloud(coords[on_map], colors[on_map])
        obs = []
        if masks:
            pix_lab = labels.ravel()[flat]
            sel = (pix_lab > 0) & lab_interior.ravel()[flat]
            if cfg.outlier_filter == "components":
                sel &= _main_components(np.where(lab_interior, labels, 0), len(masks)).ravel()[flat]
            boxes = [None if sl is None else (sl[1].start * s, sl[0].start * s, sl[1].stop * s, sl[0].stop * s)
                     for sl in ndimage.find_objects(labels, max_label=len(masks))]
            obs = self._observations(frame, masks, features, coords[sel], pix_lab[sel] - 1, pix_counts[1:], boxes)
        return obs, cloud

    @staticmethod
    def _frame_cloud(coords: np.ndarray, colors: np.ndarray) -> FrameCloud:
        keys = vx.pack(coords)
        uniq, inv, counts = vx.unique_inverse_counts(keys)
        return FrameCloud(uniq, group_sum(inv, colors, len(uniq)) / counts[:, None], counts)

    def _observations(self, frame, masks, features, coords, mask_idx, pix_counts, boxes):
        cfg = self.cfg
        if len(coords) == 0:
            return []
        base = coords.min(0) - 1
        local = coords - base
        if local.max() >= vx.LOCAL_MASK - 1:  # frame spans > 16k voxels: fall back to global keys
            raise ValueError("frame extent too large for local voxel keys; increase lift.voxel_size")
        m = mask_idx.astype(np.int64)
        key = (m << (3 * vx.LOCAL_BITS)) | (local[:, 0] << (2 * vx.LOCAL_BITS)) | (local[:, 1] << vx.LOCAL_BITS) | local[:, 2]
        uniq = np.unique(key)  # plain sort: no inverse needed
        g = uniq >> (3 * vx.LOCAL_BITS)
        lc = np.stack([(uniq >> (2 * vx.LOCAL_BITS)) & vx.LOCAL_MASK,
                       (uniq >> vx.LOCAL_BITS) & vx.LOCAL_MASK, uniq & vx.LOCAL_MASK], axis=1)
        gkeys = vx.pack(lc + base)
        # uniq is sorted by (mask, local coords): each mask's voxels are one contiguous run
        starts = np.searchsorted(g, np.arange(len(masks) + 1))
        out = []
        for i in range(len(masks)):  # per mask, slices only
            a, b = starts[i], starts[i + 1]
            if b - a < cfg.min_points:
                continue
            feat = features[i] if features is not None and len(features) else np.zeros(1, np.float32)
            mask = masks[i]
            out.append(Observation(
                frame_index=frame.index, mask_index=i,
                voxels=gkeys[a:b],  # local order == global order within one mask: already sorted
                feature=np.asarray(feat, dtype=np.float32),
                pixel_count=int(pix_counts[i]) * self.cfg.pixel_stride ** 2,
                score=float(mask.score), label=mask.label,
                box=tuple(int(v) for v in mask.box) if mask.box is not None else boxes[i],
            ))
        return out


def _main_components(labels: np.ndarray, n_masks: int, min_fraction: float = 0.2) -> np.ndarray:
    """Pixels of each mask's main connected pieces. Interiors exclude depth edges and never
    touch another mask's interior, so a piece cut off by a depth jump (bleed onto the
    background, a stray fragment) is its own 2D component: one ndimage.label for all masks."""
    comp, n = ndimage.label(labels > 0)
    if n == 0:
        return comp > 0
    sizes = np.bincount(comp.ravel(), minlength=n + 1)
    owner = np.zeros(n + 1, dtype=np.int64)
    owner[comp.ravel()] = labels.ravel()  # every pixel of a component has the same mask label
    largest = np.zeros(n_masks + 1, dtype=np.int64)
    np.maximum.at(largest, owner[1:], sizes[1:])
    keep = sizes >= min_fraction * largest[owner]
    keep[0] = False
    return keep[comp]


def group_sum(inverse: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """Row sums of `values` grouped by `inverse` (bincount per column: far faster than np.add.at)."""
    return np.stack([np.bincount(inverse, weights=values[:, j], minlength=n)
                     for j in range(values.shape[1])], axis=1).astype(np.float32)
