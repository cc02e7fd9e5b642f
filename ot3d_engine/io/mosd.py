"""mOSD (modified Object Segmentation Database): one labelled organized PCD = one single-view scan.

Ground-truth ids (documented convention of this reader):
- PCD label 0 = invalid, 1..9 = parts of the supporting table, 10k..10k+9 = parts of object k.
- frame.gt_instance: table -> 1, object k -> k + 1 (so no object can collide with the
  table), 0 = invalid. The parts of one object are merged, as the dataset README advises.
- frame.gt_class / ground_truth.semantic: TABLE_CLASS (1) for the table, OBJECT_CLASS (2)
  for objects, 0 = invalid. The table class is in ground_truth.ignore_classes, so
  class-agnostic AP measures the objects only.

Some files (test43, test56, test58) are not organized (HEIGHT 1, valid points only); their
points are projected back onto the 640x480 grid with the dataset intrinsics, where they
land on whole pixels. A point is valid when its label is > 0 and no coordinate is NaN
(test49 stores many invalid points as x = y = 0, z = NaN).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import ScanError
from ..types import Frame, GroundTruth, Scan
from .frames import clean_depth
from .pcd import read_pcd, unpack_rgb

FX = FY = 525.0
CX, CY = 319.5, 239.5
WIDTH, HEIGHT = 640, 480
TABLE_CLASS, OBJECT_CLASS = 1, 2
CLASS_NAMES = {TABLE_CLASS: "table", OBJECT_CLASS: "object"}
INTRINSICS = np.array([[FX, 0, CX], [0, FY, CY], [0, 0, 1]], dtype=np.float64)


def is_pcd(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() == ".pcd"


def read_mosd(path: str | Path, *, depth_min: float = 0.1, depth_max: float = 6.0) -> Scan:
    """The single frame is decoded at load (one file) and served from memory."""
    path = Path(path)
    frame, gt = _decode(path, depth_min, depth_max)
    return Scan(path=path, layout="mosd", frame_count=1, _loader=lambda i: _copy(frame),
                meta={"depth_scale": 1.0, "intrinsics_source": "mOSD constants", "frame_numbers": [0]},
                ground_truth=gt)


def load_mosd_dir(path: str | Path, **options) -> list[Scan]:
    """Every *.pcd in a folder (sorted by name), one Scan each."""
    path = Path(path)
    files = sorted(path.glob("*.pcd"))
    if not files:
        raise ScanError(path, "no .pcd files in this folder")
    return [read_mosd(p, **options) for p in files]


def instance_ids(labels: np.ndarray) -> np.ndarray:
    """mOSD labels -> instance ids (table 1, object k -> k + 1, invalid 0)."""
    labels = labels.astype(np.int64)
    return np.where(labels >= 10, labels // 10 + 1, np.where(labels > 0, 1, 0)).astype(np.int32)


def class_ids(labels: np.ndarray) -> np.ndarray:
    return np.where(labels >= 10, OBJECT_CLASS, np.where(labels > 0, TABLE_CLASS, 0)).astype(np.int32)


def _decode(path: Path, depth_min: float, depth_max: float) -> tuple[Frame, GroundTruth]:
    cloud = read_pcd(path)
    missing = [k for k in ("x", "y", "z", "label") if k not in cloud.fields]
    if missing:
        raise ScanError(path, f"mOSD cloud lacks field(s) {', '.join(missing)}")
    color_field = next((k for k in ("rgb", "rgba") if k in cloud.fields), None)
    xyz = cloud.xyz()
    labels = cloud.fields["label"].astype(np.int64).reshape(-1)
    rgb = unpack_rgb(cloud.fields[color_field]) if color_field else np.zeros((cloud.count, 3), np.uint8)
    valid = (labels > 0) & np.isfinite(xyz).all(axis=1)

    if cloud.organized:
        if (cloud.height, cloud.width) != (HEIGHT, WIDTH):
            raise ScanError(path, f"organized cloud is {cloud.width}x{cloud.height}, mOSD is {WIDTH}x{HEIGHT}")
        pix = np.nonzero(valid)[0]
    else:
        pix, keep = _project(path, xyz, valid)
        valid = keep
    z = np.zeros(HEIGHT * WIDTH, np.float32)
    lab = np.zeros(HEIGHT * WIDTH, np.int64)
    col = np.zeros((HEIGHT * WIDTH, 3), np.uint8)
    z[pix] = xyz[valid, 2]
    lab[pix] = labels[valid]
    col[pix] = rgb[valid]
    shape = (HEIGHT, WIDTH)
    frame = Frame(index=0, color=col.reshape(HEIGHT, WIDTH, 3), depth=clean_depth(z.reshape(shape), depth_min, depth_max),
                  intrinsics=INTRINSICS.copy(), pose=np.eye(4), name=path.stem,
                  gt_instance=instance_ids(lab).reshape(shape), gt_class=class_ids(lab).reshape(shape))
    points = xyz[valid]
    gt = GroundTruth(points=points, instance=instance_ids(labels[valid]), semantic=class_ids(labels[valid]),
                     class_names=dict(CLASS_NAMES), ignore_classes=(TABLE_CLASS,))
    return frame, gt


def _project(path: Path, xyz: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unorganized cloud -> flat pixel index per kept point; the nearest point wins a pixel."""
    idx = np.nonzero(valid & (xyz[:, 2] > 0))[0]
    x, y, zz = xyz[idx, 0], xyz[idx, 1], xyz[idx, 2]
    u = FX * x / zz + CX
    v = FY * y / zz + CY
    ui, vi = np.rint(u).astype(np.int64), np.rint(v).astype(np.int64)
    inside = (ui >= 0) & (ui < WIDTH) & (vi >= 0) & (vi < HEIGHT)
    if inside.sum() < 0.99 * len(idx):
        raise ScanError(path, f"{len(idx) - inside.sum()} of {len(idx)} points project outside the "
                              f"{WIDTH}x{HEIGHT} grid: not an mOSD view with the standard intrinsics")
    idx, flat, depth = idx[inside], (vi * WIDTH + ui)[inside], zz[inside]
    order = np.lexsort((depth, flat))  # per pixel, nearest first
    first = np.ones(len(order), bool)
    first[1:] = flat[order][1:] != flat[order][:-1]
    chosen = order[first]
    keep = np.zeros(len(valid), bool)
    keep[idx[chosen]] = True
    # pixel index of each kept point, in the order np.nonzero(keep) yields them
    pix_by_point = np.empty(len(valid), np.int64)
    pix_by_point[idx[chosen]] = flat[chosen]
    return pix_by_point[keep], keep


def _copy(frame: Frame) -> Frame:
    return Frame(index=frame.index, color=frame.color.copy(), depth=frame.depth.copy(),
                 intrinsics=frame.intrinsics.copy(), pose=frame.pose.copy(), name=frame.name,
                 gt_instance=frame.gt_instance.copy(), gt_class=frame.gt_class.copy())
