"""Apple ARKitScenes (3DOD / raw) sequences: the `<video_id>_frames/` folder, or its parent.

    lowres_wide/<id>_<t>.png                    colour, 256x192
    lowres_depth/<id>_<t>.png                   uint16 millimetres, same grid
    confidence/<id>_<t>.png                     uint8 0..2 (raw data set only; optional)
    lowres_wide_intrinsics/<id>_<t>.pincam      `width height fx fy cx cy`
    lowres_wide.traj                            `t rx ry rz tx ty tz`: axis-angle rotation and
                                                translation of the WORLD-TO-CAMERA transform,
                                                OpenCV camera axes

The trajectory and the images have their own timestamps; each image takes the pose
closest in time (within `max_difference` s).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import ScanError
from ..types import Scan
from .capture import CaptureCamera, CaptureFrame, capture_scan, color_file, confidence_png, depth_png
from .conventions import axis_angle_poses, engine_poses, intrinsics_matrix
from .frames import pose_problems, read_number_table
from .timestamps import nearest


def _frames_dir(path: Path) -> Path | None:
    if not path.is_dir():
        return None
    if (path / "lowres_wide.traj").is_file() and (path / "lowres_depth").is_dir():
        return path
    inner = [p for p in path.glob("*_frames") if (p / "lowres_wide.traj").is_file()]
    return inner[0] if len(inner) == 1 else None


def is_arkitscenes(path: Path) -> bool:
    return _frames_dir(path) is not None


def _stamp(p: Path) -> float | None:
    try:
        return float(p.stem.rsplit("_", 1)[1])
    except (IndexError, ValueError):
        return None


def read_arkitscenes(path: str | Path, *, depth_min: float = 0.1, depth_max: float = 6.0,
                     depth_scale: float | None = None, intrinsics=None, min_confidence: int | None = 1,
                     max_difference: float = 0.02) -> Scan:
    path = Path(path)
    root = _frames_dir(path)
    if root is None:
        raise ScanError(path / "lowres_wide.traj", "ARKitScenes trajectory not found (nor a single *_frames/ folder)")
    depth_files = sorted((p for p in (root / "lowres_depth").glob("*.png") if _stamp(p) is not None), key=_stamp)
    if not depth_files:
        raise ScanError(root / "lowres_depth", "no depth images (<video_id>_<timestamp>.png)")
    traj_path = root / "lowres_wide.traj"
    traj = read_number_table(traj_path, 7, "trajectory (t rx ry rz tx ty tz per line)")
    stamps = np.array([_stamp(p) for p in depth_files])
    pick = nearest(stamps, traj[:, 0], max_difference)
    if not (pick >= 0).any():
        raise ScanError(traj_path, f"no pose within {max_difference} s of any depth image's timestamp")
    depth_files = [p for p, k in zip(depth_files, pick) if k >= 0]
    raw = axis_angle_poses(traj[pick[pick >= 0], 1:])
    for row, problem in zip(pick[pick >= 0], pose_problems(raw)):
        if problem is not None:
            raise ScanError(traj_path, f"pose at t={traj[row, 0]:.3f}: {problem}")
    frames = []
    for k, d in enumerate(depth_files):
        c = root / "lowres_wide" / d.name
        pincam = root / "lowres_wide_intrinsics" / d.with_suffix(".pincam").name
        if not c.is_file():
            raise ScanError(c, "colour image for this depth image is missing")
        K, size = _pincam(pincam)
        frames.append(CaptureFrame(k, d.stem, color_file(c), depth_png(d), str(d),
                                   confidence=confidence_png(root / "confidence" / d.name), K=K, K_size=size))
    return capture_scan(path, "arkitscenes", frames, engine_poses(raw, axes="opencv", direction="world_to_camera"),
                        CaptureCamera(None, None, str(root / "lowres_wide_intrinsics")), depth_scale=1000.0,
                        depth_min=depth_min, depth_max=depth_max, min_confidence=min_confidence,
                        intrinsics=intrinsics, depth_scale_override=depth_scale, pose_source=traj_path,
                        meta={"unmatched_depth_frames": int((pick < 0).sum())})


def _pincam(p: Path) -> tuple[np.ndarray, tuple[int, int]]:
    w, h, fx, fy, cx, cy = read_number_table(p, 6, "intrinsics (width height fx fy cx cy)")[0]
    return intrinsics_matrix(fx, fy, cx, cy), (int(h), int(w))
