"""Top-K views of a 3D instance: project its points into candidate frames and count the ones
that are in the image and agree with that frame's depth (visible and not occluded)."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from ..track.visibility import DepthView
from ..types import Frame, Instance, Scan


@dataclass
class ViewChoice:
    frame_index: int  # Frame.index (what tracker views and outputs name)
    position: int  # where scan.frame() finds it (differs from frame_index in a subsampled scan)
    visible: int  # instance points seen unoccluded in this frame
    fraction: float  # visible / points tested
    box: tuple[int, int, int, int]  # x0,y0,x1,y1 (exclusive) of the visible points' pixels
    pixels: np.ndarray  # V x 2 int (u, v) of the visible points


class FrameCache:
    """Scans read frames lazily; instances share frames, so keep the recent ones."""

    def __init__(self, scan: Scan, size: int = 48):
        self.scan, self.size = scan, size
        self._frames: OrderedDict[int, Frame] = OrderedDict()

    def __call__(self, i: int) -> Frame:
        if i in self._frames:
            self._frames.move_to_end(i)
            return self._frames[i]
        frame = self.scan.frame(i)
        self._frames[i] = frame
        if len(self._frames) > self.size:
            self._frames.popitem(last=False)
        return frame


def visible_points(points: np.ndarray, frame: Frame, tol_abs: float = 0.03,
                   tol_rel: float = 0.02) -> tuple[np.ndarray, np.ndarray]:
    """(visible N bool, uv N x 2 int): in front of the camera, inside the image, and within
    tol_abs + tol_rel*z of the depth measured at that pixel (farther = occluded)."""
    return DepthView.from_frame(frame).project(points, tol_abs, tol_rel)


def scan_position(scan: Scan, frame_index: int) -> int | None:
    """Where scan.frame() finds Frame.index `frame_index` (a subsampled scan keeps original indices)."""
    stride = int(scan.meta.get("stride", 1) or 1)
    if frame_index % stride:
        return None
    pos = frame_index // stride
    return pos if 0 <= pos < len(scan) else None


def candidate_frames(instance: Instance, scan: Scan, max_candidates: int = 24) -> list[int]:
    """Scan positions to test: the tracker's best views when it kept any, else frames spread
    over the scan."""
    picked = [scan_position(scan, v.frame_index) for v in instance.best_views]
    picked = list(dict.fromkeys(p for p in picked if p is not None))
    if picked:
        return picked
    n = len(scan)
    return sorted(set(np.linspace(0, n - 1, min(n, max_candidates)).round().astype(int).tolist()))


def select_views(instance: Instance, scan: Scan, k: int = 3, frames: FrameCache | None = None,
                 candidates: list[int] | None = None, max_points: int = 5000,
                 min_visible: int = 1) -> list[ViewChoice]:
    """The k frames that see the most unoccluded points of the instance, best first.
    `candidates` are scan positions (default: see candidate_frames)."""
    frames = frames or FrameCache(scan)
    pts = np.asarray(instance.points, dtype=np.float64).reshape(-1, 3)
    if len(pts) == 0:
        return []
    if len(pts) > max_points:  # an even subsample is plenty for counting
        pts = pts[np.linspace(0, len(pts) - 1, max_points).astype(np.int64)]
    choices = []
    for pos in candidates if candidates is not None else candidate_frames(instance, scan):
        frame = frames(pos)
        vis, uv = visible_points(pts, frame)
        n = int(vis.sum())
        if n < min_visible:
            continue
        pix = uv[vis]
        box = (int(pix[:, 0].min()), int(pix[:, 1].min()), int(pix[:, 0].max()) + 1, int(pix[:, 1].max()) + 1)
        choices.append(ViewChoice(int(frame.index), pos, n, n / len(pts), box, pix))
    choices.sort(key=lambda c: (-c.visible, c.frame_index))
    return choices[:k]
