"""The weights-free RGB-D segmenter: objects are the regions bounded by depth jumps and
concave creases (LCCP-style convexity), optionally strong colour edges.

Planes alone would give floors and table tops; the concavity test is what separates an
object from the surface it rests on while keeping convex objects (boxes, cups) whole.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ..lift.geometry import backproject, normals_from_points
from ..registry import register
from ..types import Frame, Mask2D


@register("segmenter", "geometric")
class GeometricSegmenter:
    def __init__(self, scale: float = 0.5, depth_jump: float = 0.04, concave_angle: float = 45.0,
                 color_edge: float = 0.0, min_area: float = 0.0005, smooth: int = 2,
                 max_masks: int = 64, crease_span: int = 2):
        self.scale = scale  # process at this fraction of the resolution (speed)
        self.depth_jump = depth_jump  # relative depth difference that cuts
        self.cos_concave = float(np.cos(np.radians(concave_angle)))
        self.color_edge = color_edge  # 0 = off; else RGB distance (0..1) that cuts
        self.min_area = min_area  # fraction of image area
        self.smooth = smooth
        self.max_masks = max_masks
        self.crease_span = crease_span  # compare normals this many pixels either side of a cut

    def segment(self, frame: Frame) -> list[Mask2D]:
        h, w = frame.depth.shape
        step = max(1, int(round(1 / self.scale)))
        depth = np.where(frame.valid_depth(), frame.depth, 0).astype(np.float32)[::step, ::step]
        K = frame.intrinsics.copy()
        K[:2] /= step
        valid = depth > 0
        if self.smooth:
            # normalised box filter over valid pixels: noise-robust normals without bleeding in holes
            size = 2 * self.smooth + 1
            num = ndimage.uniform_filter(depth, size)
            den = ndimage.uniform_filter(valid.astype(np.float32), size)
            sm = np.where(valid & (den > 0), num / np.maximum(den, 1e-6), 0)
            # keep true depth where the filter mixed across a jump
            sm = np.where(np.abs(sm - depth) > self.depth_jump * depth, depth, sm)
        else:
            sm = depth
        P = backproject(sm, K)
        N = normals_from_points(P)
        cut_right = self._cuts(depth, P, N, valid, axis=1)
        cut_down = self._cuts(depth, P, N, valid, axis=0)
        if self.color_edge > 0:
            col = frame.color[::step, ::step].astype(np.float32) / 255
            cut_right[:, :-1] |= np.linalg.norm(col[:, 1:] - col[:, :-1], axis=-1) > self.color_edge
            cut_down[:-1] |= np.linalg.norm(col[1:] - col[:-1], axis=-1) > self.color_edge
        boundary = ~valid.copy()
        boundary[:, :-1] |= cut_right[:, :-1]
        boundary[:, 1:] |= cut_right[:, :-1]
        boundary[:-1] |= cut_down[:-1]
        boundary[1:] |= cut_down[:-1]
        labels, n = ndimage.label(~boundary)
        if n == 0:
            return []
        areas = np.bincount(labels.ravel())
        areas[0] = 0
        min_px = self.min_area * labels.size
        keep = np.nonzero(areas >= min_px)[0]
        keep = keep[np.argsort(-areas[keep])][: self.max_masks]
        # grow regions back over the thin boundary band they lost (nearest label), then upsample
        grown = _grow_labels(labels, keep, valid)
        full = np.repeat(np.repeat(grown, step, axis=0), step, axis=1)[:h, :w]
        if full.shape != (h, w):
            full = np.pad(full, ((0, h - full.shape[0]), (0, w - full.shape[1])), mode="edge")
        full[~frame.valid_depth()] = 0
        masks = []
        for lab in keep:  # per mask, not per pixel
            m = full == lab
            if m.any():
                masks.append(Mask2D(mask=m, score=1.0))
        return masks

    def _cuts(self, depth, P, N, valid, axis: int) -> np.ndarray:
        """Cut between each pixel and its right (axis=1) / lower (axis=0) neighbour.

        Creases are judged from normals `crease_span` pixels away on either side: smoothing
        spreads a real crease over a few pixels, so adjacent normals alone miss it."""
        h, w = depth.shape
        r = self.crease_span
        n_len = (w if axis == 1 else h) - 1
        idx = np.arange(n_len)
        ia = np.clip(idx - r, 0, n_len)  # pixel before the cut, r further back
        ib = np.clip(idx + 1 + r, 0, n_len)  # pixel after the cut, r further on
        take = (lambda a, i: a[:, i]) if axis == 1 else (lambda a, i: a[i])
        da, db = take(depth, idx), take(depth, idx + 1)
        jump = np.abs(da - db) > self.depth_jump * np.minimum(da, db)
        na, nb = take(N, ia), take(N, ib)
        pa, pb = take(P, ia), take(P, ib)
        va, vb = take(valid, ia), take(valid, ib)
        cosang = _dot3(na, nb)
        # convex if (n_a - n_b) . (p_a - p_b) > 0; concave creases cut, convex ones do not
        concave = _dot3(na - nb, pa - pb) < 0
        crease = (cosang < self.cos_concave) & concave & va & vb
        cut = np.zeros(depth.shape, dtype=bool)
        sl_a = (slice(None), slice(None, -1)) if axis == 1 else (slice(None, -1), slice(None))
        cut[sl_a] = jump | crease | ~take(valid, idx + 1) | ~take(valid, idx)
        return cut


def _dot3(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise dot product of ...x3 arrays: the same sums, in the same order, as
    np.sum(a * b, axis=-1), without numpy's slow reduction over a length-3 axis."""
    return a[..., 0] * b[..., 0] + a[..., 1] * b[..., 1] + a[..., 2] * b[..., 2]


def _grow_labels(labels: np.ndarray, keep: np.ndarray, valid: np.ndarray, band: int = 2) -> np.ndarray:
    lut = np.zeros(labels.max() + 1, dtype=labels.dtype)
    lut[keep] = keep
    kept = lut[labels]
    if band <= 0:
        return kept
    dist, (iy, ix) = ndimage.distance_transform_edt(kept == 0, return_indices=True)
    grown = kept[iy, ix]
    grown[(dist > band) | ~valid] = 0
    return grown
