"""Stray Scanner (iOS) exports.

    rgb.mp4              colour video (HEVC, 1920x1440), one video frame per odometry row
    depth/000000.png     uint16 millimetres at LiDAR resolution (256x192); older: .npy
    confidence/000000.png  uint8 0 (low), 1, 2 (high)
    camera_matrix.csv    3x3 K of the colour video (row per line, comma-separated)
    odometry.csv         header + `timestamp, frame, x, y, z, qx, qy, qz, qw[, fx, fy, cx, cy, ...]`:
                         camera-to-world, OpenCV camera axes (the app converts ARKit's); newer
                         versions add the per-frame K of the video, preferred when present

Low-confidence depth (below `min_confidence`, default 1) is dropped.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from ..errors import ScanError
from ..types import Scan
from .capture import CaptureCamera, CaptureFrame, capture_scan, confidence_png, depth_npy, depth_png
from .conventions import engine_poses, intrinsics_from_values, quaternion_pose_rows
from .frames import pose_problems
from .video import VideoFrames

POSE_COLUMNS = ("x", "y", "z", "qx", "qy", "qz", "qw")


def is_strayscanner(path: Path) -> bool:
    return path.is_dir() and (path / "odometry.csv").is_file() and (path / "depth").is_dir()


def read_strayscanner(path: str | Path, *, depth_min: float = 0.1, depth_max: float = 6.0,
                      depth_scale: float | None = None, intrinsics=None, min_confidence: int | None = 1) -> Scan:
    path = Path(path)
    odo = path / "odometry.csv"
    rows, frame_numbers, per_frame_K = _odometry(odo)
    raw = quaternion_pose_rows(rows, "tx ty tz qx qy qz qw")
    for n, problem in zip(frame_numbers, pose_problems(raw)):
        if problem is not None:
            raise ScanError(odo, f"row of frame {n}: {problem}")
    km = path / "camera_matrix.csv"
    K = intrinsics_from_values(_csv_numbers(km, 3), column_major=False, source=km)
    video_path = path / "rgb.mp4"
    if not video_path.is_file():
        raise ScanError(video_path, "colour video not found")
    video = VideoFrames(video_path)
    if video.count < int(max(frame_numbers)) + 1:
        raise ScanError(video_path, f"the video has {video.count} frames but odometry.csv has rows up to frame "
                                    f"{max(frame_numbers)} ({len(frame_numbers)} rows)")
    frames = []
    for k, n in enumerate(frame_numbers):
        d = path / "depth" / f"{n:06d}.png"
        if d.is_file():
            depth = depth_png(d)
        elif d.with_suffix(".npy").is_file():
            d = d.with_suffix(".npy")
            depth = depth_npy(d)
        else:
            raise ScanError(d, "depth image for this odometry row is missing")
        frames.append(CaptureFrame(n, f"{n:06d}", lambda size, n=n: video.frame(n, size), depth, str(d),
                                   confidence=confidence_png(path / "confidence" / f"{n:06d}.png"),
                                   K=None if per_frame_K is None else per_frame_K[k],
                                   K_size=None if per_frame_K is None else video.size))
    return capture_scan(path, "strayscanner", frames, engine_poses(raw, axes="opencv"),
                        CaptureCamera(K, video.size, str(km)), depth_scale=1000.0, depth_min=depth_min,
                        depth_max=depth_max, min_confidence=min_confidence, intrinsics=intrinsics,
                        depth_scale_override=depth_scale, pose_source=odo)


def _odometry(odo: Path) -> tuple[np.ndarray, list[int], np.ndarray | None]:
    if not odo.is_file():
        raise ScanError(odo, "odometry not found")
    with odo.open(newline="", errors="replace") as fh:
        table = [[c.strip() for c in row] for row in csv.reader(fh) if any(c.strip() for c in row)]
    if len(table) < 2:
        raise ScanError(odo, "odometry has no rows after the header")
    header = [h.lower() for h in table[0]]
    missing = [c for c in POSE_COLUMNS if c not in header]
    if missing:
        raise ScanError(odo, f"header lacks column(s) {', '.join(missing)} (has: {', '.join(table[0])})")
    cols = [header.index(c) for c in POSE_COLUMNS]
    k_cols = [header.index(c) for c in ("fx", "fy", "cx", "cy")] if all(
        c in header for c in ("fx", "fy", "cx", "cy")) else None
    frame_col = header.index("frame") if "frame" in header else None
    values, numbers, ks = [], [], []
    for lineno, row in enumerate(table[1:], 2):
        try:
            values.append([float(row[c]) for c in cols])
            numbers.append(int(float(row[frame_col])) if frame_col is not None else lineno - 2)
            if k_cols is not None:
                ks.append([float(row[c]) for c in k_cols])
        except (ValueError, IndexError):
            raise ScanError(odo, f"line {lineno}: missing or non-numeric pose or intrinsics value") from None
    per_frame = None
    if k_cols is not None:
        fx, fy, cx, cy = np.array(ks).T
        if not (np.isfinite(ks).all() and (fx > 0).all() and (fy > 0).all()):
            raise ScanError(odo, "per-frame intrinsics (fx, fy, cx, cy) must be finite with positive focal lengths")
        per_frame = np.tile(np.eye(3), (len(ks), 1, 1))
        per_frame[:, 0, 0], per_frame[:, 1, 1], per_frame[:, 0, 2], per_frame[:, 1, 2] = fx, fy, cx, cy
    return np.array(values), numbers, per_frame


def _csv_numbers(p: Path, columns: int) -> np.ndarray:
    if not p.is_file():
        raise ScanError(p, "camera matrix not found")
    rows = [line.replace(",", " ").split() for line in p.read_text(errors="replace").splitlines() if line.strip()]
    if len(rows) != 3 or any(len(r) != columns for r in rows):
        raise ScanError(p, "expected a 3x3 matrix, one row per line, comma-separated")
    try:
        return np.array(rows, dtype=np.float64)
    except ValueError:
        raise ScanError(p, "camera matrix contains a non-numeric value") from None

