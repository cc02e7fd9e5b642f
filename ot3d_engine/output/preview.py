"""Preview PNG of the coloured instances, rendered from a camera of the scan.

A z-buffered point splat in numpy: no GUI, no OpenGL, works headless everywhere. Without a
scan camera it looks at the cloud from above at an angle.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from ..io.atomic import atomic_path
from .palette import instance_colors


def look_at_camera(points: np.ndarray, width: int = 640, height: int = 480):
    """A camera above and in front of the cloud, looking at its centre (OpenCV axes)."""
    lo, hi = np.percentile(points, 2, axis=0), np.percentile(points, 98, axis=0)
    centre = (lo + hi) / 2
    up_axis = int(np.argmin(hi - lo))  # rooms are flatter than they are wide
    up = np.zeros(3)
    up[up_axis] = 1.0
    radius = float(np.linalg.norm(hi - lo)) * 0.9 + 1e-3
    horiz = np.array([1.0, 1.0, 1.0])
    horiz[up_axis] = 0
    horiz /= np.linalg.norm(horiz)
    eye = centre + radius * (0.6 * horiz + 0.8 * up)
    fwd = centre - eye
    fwd /= np.linalg.norm(fwd)
    right = np.cross(fwd, up)
    right /= np.linalg.norm(right)
    down = np.cross(fwd, right)
    pose = np.eye(4)
    pose[:3, :3] = np.stack([right, down, fwd], axis=1)
    pose[:3, 3] = eye
    f = 0.9 * width
    K = np.array([[f, 0, width / 2], [0, f, height / 2], [0, 0, 1]])
    return K, pose, width, height


def render_points(points, colors, K, pose, width, height, voxel: float = 0.03, background=255) -> np.ndarray:
    """Splat each point as a square about one voxel wide on screen, nearest point wins."""
    R, t = pose[:3, :3], pose[:3, 3]
    pc = (np.asarray(points, np.float64) - t) @ R  # world -> camera
    z = pc[:, 2]
    front = z > 1e-3
    pc, z, col = pc[front], z[front], np.asarray(colors)[front]
    u = np.round(K[0, 0] * pc[:, 0] / z + K[0, 2]).astype(np.int64)
    v = np.round(K[1, 1] * pc[:, 1] / z + K[1, 2]).astype(np.int64)
    radius = np.clip(np.ceil(K[0, 0] * voxel / (2 * z)).astype(np.int64), 1, 8)
    img = np.full((height, width, 3), background, np.uint8)
    zbuf = np.full((height, width), np.inf)
    for dy in range(-8, 9):  # splat offsets, each one vectorised write
        for dx in range(-8, 9):
            sel = np.nonzero(radius >= max(abs(dx), abs(dy)))[0]
            if len(sel) == 0:
                continue
            uu, vv = u[sel] + dx, v[sel] + dy
            ok = (uu >= 0) & (uu < width) & (vv >= 0) & (vv < height)
            uu, vv, zz, cc = uu[ok], vv[ok], z[sel][ok], col[sel][ok]
            np.minimum.at(zbuf, (vv, uu), zz)
            win = zz <= zbuf[vv, uu]
            img[vv[win], uu[win]] = cc[win]
    return img


def preview_image(points, ids, scene_colors=None, camera=None, width=640, height=480) -> np.ndarray:
    ids = np.asarray(ids)
    cols = instance_colors(ids).astype(np.float32)
    if scene_colors is not None:  # unassigned points keep a faded version of their real colour
        faded = 0.35 * np.asarray(scene_colors, np.float32) + 0.65 * 200
        cols = np.where((ids > 0)[:, None], cols, faded)
    if camera is None:
        K, pose, width, height = look_at_camera(np.asarray(points), width, height)
    else:
        K, pose = np.asarray(camera["K"]), np.asarray(camera["pose"])
        width, height = int(camera["width"]), int(camera["height"])
    return render_points(points, cols.astype(np.uint8), K, pose, width, height)


def write_preview(points, ids, path: str | Path, scene_colors=None, camera=None) -> Path:
    img = preview_image(points, ids, scene_colors, camera)
    with atomic_path(path, suffix=".png") as tmp:
        Image.fromarray(img).save(tmp, format="PNG")
    return Path(path)
