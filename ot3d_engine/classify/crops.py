"""Crops shown to an image model: the instance with surrounding context and its outline drawn."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ..types import Frame, Instance, Scan
from .views import FrameCache, ViewChoice, select_views

OUTLINE_RGB = (255, 0, 0)


def crop_window(box, width: int, height: int, context: float) -> tuple[int, int, int, int]:
    """Square-ish window around box grown by `context` x its larger side, inside the image."""
    x0, y0, x1, y1 = box
    side = max(x1 - x0, y1 - y0) * (1 + 2 * context)
    side = max(side, 32)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    wx0, wy0 = int(max(0, np.floor(cx - side / 2))), int(max(0, np.floor(cy - side / 2)))
    wx1, wy1 = int(min(width, np.ceil(cx + side / 2))), int(min(height, np.ceil(cy + side / 2)))
    return wx0, wy0, max(wx1, wx0 + 1), max(wy1, wy0 + 1)


def instance_mask(view: ViewChoice, window, fill_radius: int) -> np.ndarray:
    """The visible points rasterised into the window and closed into a solid silhouette."""
    x0, y0, x1, y1 = window
    mask = np.zeros((y1 - y0, x1 - x0), dtype=bool)
    u, v = view.pixels[:, 0] - x0, view.pixels[:, 1] - y0
    ok = (u >= 0) & (u < mask.shape[1]) & (v >= 0) & (v < mask.shape[0])
    mask[v[ok], u[ok]] = True
    if fill_radius > 0:
        st = ndimage.generate_binary_structure(2, 1)
        mask = ndimage.binary_closing(ndimage.binary_dilation(mask, st, 1), st, fill_radius, border_value=0)
    return mask


def make_crop(frame: Frame, view: ViewChoice, context: float = 0.25, size: int = 384, outline: bool = True,
              line_width: int = 2, fill_radius: int | None = None):
    """PIL image of the view: instance plus context, its silhouette outlined in red."""
    from PIL import Image

    window = crop_window(view.box, frame.width, frame.height, context)
    x0, y0, x1, y1 = window
    crop = np.array(frame.color[y0:y1, x0:x1], dtype=np.uint8, copy=True)
    if outline and len(view.pixels):
        if fill_radius is None:  # sparse points (voxel-downsampled) need a wider closing
            bw, bh = view.box[2] - view.box[0], view.box[3] - view.box[1]
            fill_radius = int(np.clip(np.sqrt(bw * bh / max(len(view.pixels), 1)), 1, 12))
        mask = instance_mask(view, window, fill_radius)
        edge = mask & ~ndimage.binary_erosion(mask, iterations=1, border_value=0)
        if line_width > 1:
            edge = ndimage.binary_dilation(edge, iterations=line_width - 1)
        crop[edge] = OUTLINE_RGB
    img = Image.fromarray(crop)
    scale = size / max(img.size)
    if scale != 1:
        img = img.resize((max(1, round(img.size[0] * scale)), max(1, round(img.size[1] * scale))),
                         Image.Resampling.BICUBIC)
    return img


def instance_views(instances: list[Instance], scan: Scan, k: int, context: float, size: int,
                   outline: bool = True):
    """Per instance: (frame indices, PIL crops) of its top-k views; shared frame cache."""
    frames = FrameCache(scan)
    out = []
    for inst in instances:
        views = select_views(inst, scan, k=k, frames=frames)
        out.append(([v.frame_index for v in views],
                    [make_crop(frames(v.position), v, context=context, size=size, outline=outline) for v in views]))
    return out
