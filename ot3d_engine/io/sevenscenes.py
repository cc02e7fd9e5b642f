"""Microsoft 7-Scenes and Stanford 12-Scenes sequences (many relocalisation data sets copy it).

    frame-000000.color.jpg|png   colour (7-Scenes: 640x480, from a second camera)
    frame-000000.depth.png       uint16 millimetres; 0 and 65535 mean no depth
    frame-000000.pose.txt        4x4 camera-to-world, metres, OpenCV camera axes
    camera-intrinsics.txt        3x3 K of the depth image (this folder or its parent), or
    info.txt                     12-Scenes: m_calibrationDepthIntrinsic, m_depthWidth/Height

Without either file the data set's nominal fx = fy = 585, cx = 320, cy = 240 (640x480).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import ScanError
from ..types import Scan
from .capture import CaptureCamera, CaptureFrame, capture_scan, color_file, depth_png
from .conventions import engine_poses, intrinsics_from_values, intrinsics_matrix
from .frames import pose_problems, read_number_table

NOMINAL_K = intrinsics_matrix(585.0, 585.0, 320.0, 240.0)
NOMINAL_SIZE = (480, 640)
INVALID_DEPTH = (0, 65535)


def _frames(path: Path) -> dict[int, dict[str, Path]]:
    out: dict[int, dict[str, Path]] = {}
    for p in path.glob("frame-*.*.*"):
        stem, kind, ext = p.name.split(".", 2) if p.name.count(".") == 2 else (None, None, None)
        if stem is None or not stem[6:].isdigit():
            continue
        key = {"color": "color", "depth": "depth", "pose": "pose"}.get(kind)
        if key == "color" and ext.lower() not in ("jpg", "jpeg", "png"):
            continue
        if key:
            out.setdefault(int(stem[6:]), {})[key] = p
    return out


def is_sevenscenes(path: Path) -> bool:
    return path.is_dir() and any(path.glob("frame-*.pose.txt")) and any(path.glob("frame-*.depth.png"))


def read_sevenscenes(path: str | Path, *, depth_min: float = 0.1, depth_max: float = 6.0,
                     depth_scale: float | None = None, intrinsics=None) -> Scan:
    path = Path(path)
    found = _frames(path)
    numbers = sorted(n for n, f in found.items() if "depth" in f)
    if not numbers:
        raise ScanError(path, "no depth images (frame-XXXXXX.depth.png) found")
    files, poses = [], []
    for n in numbers:
        f = found[n]
        if "color" not in f:
            raise ScanError(f["depth"].with_name(f"frame-{n:06d}.color.png"), "colour image for this depth frame is missing")
        if "pose" not in f:
            raise ScanError(f["depth"].with_name(f"frame-{n:06d}.pose.txt"), "pose file for this depth frame is missing")
        pose = read_number_table(f["pose"], 4, "pose (a 4x4 matrix)")
        if pose.shape != (4, 4):
            raise ScanError(f["pose"], f"{len(pose)} rows, a 4x4 matrix is expected")
        poses.append(pose)
        files.append(CaptureFrame(n, f["color"].name.split(".")[0], color_file(f["color"]), depth_png(f["depth"]),
                                  str(f["depth"])))
    camera = _camera(path)
    for n, problem in zip(numbers, pose_problems(np.array(poses))):
        if problem is not None:
            raise ScanError(found[n]["pose"], problem)
    return capture_scan(path, "7scenes", files, engine_poses(np.array(poses), axes="opencv"), camera,
                        depth_scale=1000.0, depth_min=depth_min, depth_max=depth_max, invalid_raw=INVALID_DEPTH,
                        intrinsics=intrinsics, depth_scale_override=depth_scale)


def _camera(path: Path) -> CaptureCamera:
    for folder in (path, path.parent):
        k = folder / "camera-intrinsics.txt"
        if k.is_file():
            K = intrinsics_from_values(read_number_table(k, 3, "intrinsics (a 3x3 matrix)"), column_major=False, source=k)
            return CaptureCamera(K, None, str(k))
        info = folder / "info.txt"
        if info.is_file():
            return _info_txt(info)
    return CaptureCamera(NOMINAL_K, NOMINAL_SIZE, "7-Scenes nominal intrinsics (fx=fy=585, cx=320, cy=240)")


def _info_txt(info: Path) -> CaptureCamera:
    """12-Scenes `info.txt`: `key = values` lines."""
    values = {}
    for line in info.read_text(errors="replace").splitlines():
        if "=" in line:
            key, _, rest = line.partition("=")
            values[key.strip()] = rest.split()
    try:
        K4 = np.array(values["m_calibrationDepthIntrinsic"], dtype=np.float64).reshape(4, 4)
        size = (int(values["m_depthHeight"][0]), int(values["m_depthWidth"][0]))
    except (KeyError, ValueError, IndexError):
        raise ScanError(info, "needs m_calibrationDepthIntrinsic (16 numbers), m_depthWidth and m_depthHeight") from None
    return CaptureCamera(intrinsics_from_values(K4[:3, :3], column_major=False, source=info), size, str(info))
