"""Polycam "raw data" exports (developer mode, LiDAR or Room captures).

    keyframes/corrected_images/<t>.jpg    undistorted colour, or images/ when the capture
                                          was not optimised on the device
    keyframes/corrected_cameras/<t>.json  (or cameras/) fx fy cx cy width height of that
                                          image, t_00..t_23: a row-major 3x4 camera-to-world
                                          in ARKit axes (camera +y up, looking down -z)
    keyframes/depth/<t>.png               uint16 millimetres, lower resolution than colour
    keyframes/confidence/<t>.png          uint8 0 = low, 127 = medium, 255 = high

The optimised (corrected) cameras are used when both corrected folders exist, as Polycam
recommends. Low-confidence depth (below `min_confidence`, default 127) is dropped.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..errors import ScanError
from ..types import Scan
from .capture import CaptureCamera, CaptureFrame, capture_scan, color_file, confidence_png, depth_png
from .conventions import engine_poses, intrinsics_matrix
from .frames import pose_problems

_T_KEYS = [f"t_{i}{j}" for i in range(3) for j in range(4)]


def is_polycam(path: Path) -> bool:
    k = path / "keyframes"
    return path.is_dir() and k.is_dir() and (k / "depth").is_dir() and ((k / "cameras").is_dir()
                                                                       or (k / "corrected_cameras").is_dir())


def read_polycam(path: str | Path, *, depth_min: float = 0.1, depth_max: float = 6.0, depth_scale: float | None = None,
                 intrinsics=None, min_confidence: int | None = 127, corrected: bool | None = None) -> Scan:
    path = Path(path)
    k = path / "keyframes"
    has_corrected = (k / "corrected_cameras").is_dir() and (k / "corrected_images").is_dir()
    if corrected is None:
        corrected = has_corrected
    elif corrected and not has_corrected:
        raise ScanError(k / "corrected_cameras", "corrected cameras/images requested but not in the export")
    cams_dir = k / ("corrected_cameras" if corrected else "cameras")
    imgs_dir = k / ("corrected_images" if corrected else "images")
    stamps = sorted(int(p.stem) for p in cams_dir.glob("*.json") if p.stem.isdigit())
    depth_stamps = {int(p.stem) for p in (k / "depth").glob("*.png") if p.stem.isdigit()}
    if not stamps:
        raise ScanError(cams_dir, "no camera files (<timestamp>.json)")
    missing = [t for t in stamps if t not in depth_stamps]
    if missing:
        raise ScanError(k / "depth" / f"{missing[0]}.png", f"depth map missing for {len(missing)} of "
                                                           f"{len(stamps)} cameras in {cams_dir.name}/")
    frames, poses = [], []
    for t in stamps:
        cam_file = cams_dir / f"{t}.json"
        cam = _camera_json(cam_file)
        img = imgs_dir / f"{t}.jpg"
        if not img.is_file():
            raise ScanError(img, "colour image for this camera is missing")
        poses.append(np.array([cam[key] for key in _T_KEYS], dtype=np.float64).reshape(3, 4))
        K = intrinsics_matrix(cam["fx"], cam["fy"], cam["cx"], cam["cy"])
        d = k / "depth" / f"{t}.png"
        frames.append(CaptureFrame(t, str(t), color_file(img), depth_png(d), str(d),
                                   confidence=confidence_png(k / "confidence" / f"{t}.png"),
                                   K=K, K_size=(int(cam["height"]), int(cam["width"]))))
    poses = engine_poses(np.array(poses), axes="opengl")
    for t, problem in zip(stamps, pose_problems(poses)):
        if problem is not None:
            raise ScanError(cams_dir / f"{t}.json", problem)
    return capture_scan(path, "polycam", frames, poses, CaptureCamera(None, None, str(cams_dir)),
                        depth_scale=1000.0, depth_min=depth_min, depth_max=depth_max, min_confidence=min_confidence,
                        intrinsics=intrinsics, depth_scale_override=depth_scale, pose_source=cams_dir,
                        meta={"corrected": corrected})


def _camera_json(p: Path) -> dict:
    try:
        cam = json.loads(p.read_text())
    except (ValueError, OSError) as exc:
        raise ScanError(p, f"camera file is not valid JSON: {exc}") from None
    need = ["fx", "fy", "cx", "cy", "width", "height", *_T_KEYS]
    lacking = [key for key in need if key not in cam]
    if lacking:
        raise ScanError(p, f"camera file lacks {', '.join(lacking[:4])}{'...' if len(lacking) > 4 else ''}")
    try:
        return {key: float(cam[key]) for key in need}
    except (TypeError, ValueError):
        raise ScanError(p, "camera values must be numbers") from None
