"""Redwood / Open3D RGB-D layout.

    trajectory.log   per frame: a line "i j n", then 4 rows of a 4x4 camera-to-world
                     (odometry.log, the world-to-camera inverse, is ignored)
    camera_*.json    open3d PinholeCameraIntrinsic: width, height, column-major intrinsic_matrix
    color/ (or image/) and depth/ (uint16 mm), paired by rgbd.match when present
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..errors import ScanError
from ..types import Scan
from .frames import Camera, FrameFiles, check_poses, rgbd_scan

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


def is_redwood(path: Path) -> bool:
    return (path.is_dir() and (path / "trajectory.log").is_file() and (path / "depth").is_dir()
            and ((path / "color").is_dir() or (path / "image").is_dir() or (path / "rgbd.match").is_file()))


def read_redwood(path: str | Path, *, depth_min: float = 0.1, depth_max: float = 6.0,
                 depth_scale: float = 1000.0, camera: str | Path | None = None,
                 fx: float | None = None, fy: float | None = None, cx: float | None = None,
                 cy: float | None = None, width: int | None = None, height: int | None = None) -> Scan:
    path = Path(path)
    files = _pair_files(path)
    traj = path / "trajectory.log"
    poses = read_trajectory_log(traj)
    if len(poses) != len(files):
        raise ScanError(traj, f"{len(poses)} poses but {len(files)} RGB-D frames")
    check_poses(poses, traj, "trajectory entry")
    options = {"fx": fx, "fy": fy, "cx": cx, "cy": cy}
    if all(v is not None for v in options.values()):
        K = [[fx, 0, cx], [0, fy, cy], [0, 0, 1]]
        size = (int(height), int(width)) if width and height else None
        cam = Camera(np.array(K, dtype=np.float64), size, "reader options")
    else:
        cam = _read_camera_json(_find_camera_json(path, camera))
    return rgbd_scan(path, "redwood", files, poses, cam, depth_scale=depth_scale,
                     depth_min=depth_min, depth_max=depth_max)


def read_trajectory_log(traj: Path) -> np.ndarray:
    """-> Nx4x4 camera-to-world matrices."""
    if not traj.is_file():
        raise ScanError(traj, "trajectory file not found")
    lines = [(no, ln.split()) for no, ln in enumerate(traj.read_text(errors="replace").splitlines(), 1) if ln.strip()]
    if not lines:
        raise ScanError(traj, "trajectory is empty")
    if len(lines) % 5:
        raise ScanError(traj, f"{len(lines)} non-empty lines: not a multiple of 5 (a 'i j n' line + 4 matrix rows per frame)")
    rows = []
    for k in range(0, len(lines), 5):
        no, head = lines[k]
        if len(head) != 3:
            raise ScanError(traj, f"line {no}: expected the 3-number frame header 'i j n', got {len(head)} values")
        for no, row in lines[k + 1:k + 5]:
            if len(row) != 4:
                raise ScanError(traj, f"line {no}: a matrix row needs 4 values, got {len(row)}")
            rows.append(row)
    try:
        return np.array(rows, dtype=np.float64).reshape(-1, 4, 4)
    except ValueError:
        raise ScanError(traj, "trajectory contains a non-numeric value") from None


def _pair_files(path: Path) -> list[FrameFiles]:
    match = path / "rgbd.match"
    if match.is_file():
        pairs = []
        for no, line in enumerate(match.read_text(errors="replace").splitlines(), 1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) != 2:
                raise ScanError(match, f"line {no}: expected 'depth_file color_file'")
            depth, color = sorted(parts, key=lambda s: "depth" not in Path(s).parent.name.lower())
            pairs.append((path / depth, path / color))
    else:
        color_dir = path / "color" if (path / "color").is_dir() else path / "image"
        for folder in (color_dir, path / "depth"):
            if not folder.is_dir():
                raise ScanError(folder, "image folder missing (and no rgbd.match pairs the files)")
        colors = sorted(p for p in color_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        depths = sorted(p for p in (path / "depth").iterdir() if p.suffix.lower() == ".png")
        if len(colors) != len(depths):
            raise ScanError(path, f"{len(colors)} colour images in {color_dir.name}/ but {len(depths)} depth images in depth/")
        pairs = list(zip(depths, colors))
    if not pairs:
        raise ScanError(path / "depth", "no RGB-D frames found")
    return [FrameFiles(int(d.stem) if d.stem.isascii() and d.stem.isdigit() else i, c, d) for i, (d, c) in enumerate(pairs)]


def _find_camera_json(path: Path, camera: str | Path | None) -> Path:
    if camera is not None:
        return Path(camera)
    found = sorted(path.glob("camera*.json"))
    if len(found) > 1:
        raise ScanError(path, f"several camera files ({', '.join(p.name for p in found)}): pick one with camera=...")
    if not found:
        raise ScanError(path / "camera_intrinsic.json",
                        "missing intrinsics: no camera*.json (open3d PinholeCameraIntrinsic) and no fx, fy, cx, cy options")
    return found[0]


def _read_camera_json(p: Path) -> Camera:
    if not p.is_file():
        raise ScanError(p, "camera intrinsics file not found")
    try:
        data = json.loads(p.read_text())
        m = np.array(data["intrinsic_matrix"], dtype=np.float64)
        size = (int(data["height"]), int(data["width"]))
    except (ValueError, KeyError, TypeError) as exc:
        raise ScanError(p, f"malformed open3d camera intrinsics: {exc!r}") from None
    if m.size != 9 or not np.isfinite(m).all():
        raise ScanError(p, "intrinsic_matrix must hold 9 finite numbers (column-major 3x3)")
    K = m.reshape(3, 3).T  # open3d stores the matrix column-major
    if K[0, 0] <= 0 or K[1, 1] <= 0:
        raise ScanError(p, "intrinsics have a non-positive focal length")
    return Camera(K, size, p.name)
