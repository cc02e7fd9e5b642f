"""TUM RGB-D benchmark sequences (and the many data sets and SLAM tools that write its files).

    rgb.txt, depth.txt     `timestamp filename` per line ('#' comments)
    groundtruth.txt        `timestamp tx ty tz qx qy qz qw`: the colour camera's optical
                           centre and orientation, camera-to-world, OpenCV camera axes
    depth/*.png            uint16, 5000 units per metre, 0 = no depth; registered to colour

The three streams run on their own clocks, so frames are found by timestamp: each depth
image is paired with the closest colour image (each used once, within `max_difference`
seconds, as TUM's associate.py) and with the closest ground-truth pose. Intrinsics: the
published colour calibration of freiburg1/2/3 when the folder name says which
(`rgbd_dataset_freiburg1_desk`, `fr2_xyz`), else `--intrinsics`.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ..errors import ScanError
from ..types import Scan
from .capture import CaptureCamera, CaptureFrame, capture_scan, color_file, depth_png
from .conventions import engine_poses, intrinsics_matrix, quaternion_pose_rows
from .frames import pose_problems, read_number_table
from .timestamps import associate, nearest

DEPTH_SCALE = 5000.0
SIZE = (480, 640)
PRESETS = {  # colour camera calibration published with the data set (depth is registered to it)
    "freiburg1": intrinsics_matrix(517.3, 516.5, 318.6, 255.3),
    "freiburg2": intrinsics_matrix(520.9, 521.0, 325.1, 249.7),
    "freiburg3": intrinsics_matrix(535.4, 539.2, 320.1, 247.6),
}
_PRESET_NAME = re.compile(r"(?:freiburg|fr)([123])(?![0-9])", re.IGNORECASE)


def is_tum(path: Path) -> bool:
    return path.is_dir() and (path / "rgb.txt").is_file() and (path / "depth.txt").is_file()


def read_tum(path: str | Path, *, depth_min: float = 0.1, depth_max: float = 6.0, depth_scale: float | None = None,
             intrinsics=None, max_difference: float = 0.02, pose_file: str = "groundtruth.txt") -> Scan:
    path = Path(path)
    rgb_t, rgb_f = _file_list(path / "rgb.txt")
    depth_t, depth_f = _file_list(path / "depth.txt")
    gt_path = path / pose_file
    table = read_number_table(gt_path, 8, "poses (timestamp tx ty tz qx qy qz qw per line)")
    pairs = associate(depth_t, rgb_t, max_difference)
    if not pairs:
        raise ScanError(path / "depth.txt", f"no depth timestamp is within {max_difference} s of a colour "
                                            f"timestamp in rgb.txt (different clocks? raise max_difference)")
    d_idx = np.array([i for i, _ in pairs])
    pose_idx = nearest(depth_t[d_idx], table[:, 0], max_difference)
    keep = pose_idx >= 0
    if not keep.any():
        raise ScanError(gt_path, f"no pose timestamp is within {max_difference} s of a depth image's")
    pairs = [p for p, k in zip(pairs, keep) if k]
    pose_idx = pose_idx[keep]
    raw = quaternion_pose_rows(table[pose_idx, 1:], "tx ty tz qx qy qz qw")
    for row, problem in zip(pose_idx, pose_problems(raw)):
        if problem is not None:
            raise ScanError(gt_path, f"pose at t={table[row, 0]:.6f}: {problem}")
    frames = []
    for k, (di, ri) in enumerate(pairs):
        d, c = path / depth_f[di], path / rgb_f[ri]
        for p in (d, c):
            if not p.is_file():
                raise ScanError(p, "image listed in depth.txt/rgb.txt not found")
        frames.append(CaptureFrame(k, f"{depth_t[di]:.6f}", color_file(c), depth_png(d), str(d)))
    camera = _camera(path, intrinsics)
    return capture_scan(path, "tum", frames, engine_poses(raw, axes="opencv"), camera, depth_scale=DEPTH_SCALE,
                        depth_min=depth_min, depth_max=depth_max, intrinsics=intrinsics,
                        depth_scale_override=depth_scale, pose_source=gt_path,
                        meta={"timestamps": [float(depth_t[di]) for di, _ in pairs],
                              "unmatched_depth_frames": int(len(depth_t) - len(pairs))})


def _camera(path: Path, intrinsics) -> CaptureCamera:
    match = _PRESET_NAME.search(path.resolve().name)
    if match:
        name = f"freiburg{match.group(1)}"
        return CaptureCamera(PRESETS[name], SIZE, f"TUM {name} calibration (from the folder name)")
    if intrinsics is None:
        raise ScanError(path, "TUM intrinsics unknown: the folder name does not say freiburg1/2/3 (fr1/fr2/fr3); "
                              "give --intrinsics fx,fy,cx,cy")
    return CaptureCamera(None, None, "--intrinsics")


def _file_list(p: Path) -> tuple[np.ndarray, list[str]]:
    if not p.is_file():
        raise ScanError(p, "file list not found")
    stamps, names = [], []
    for lineno, line in enumerate(p.read_text(errors="replace").splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        try:
            stamps.append(float(parts[0]))
        except ValueError:
            raise ScanError(p, f"line {lineno}: {parts[0]!r} is not a timestamp") from None
        if len(parts) != 2:
            raise ScanError(p, f"line {lineno}: expected 'timestamp filename', got {len(parts)} values")
        names.append(parts[1])
    if not names:
        raise ScanError(p, "file list is empty")
    return np.array(stamps), names
