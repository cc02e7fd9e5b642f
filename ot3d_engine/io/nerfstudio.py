"""nerfstudio `transforms.json` with depth: what Polycam, Record3D, KIRI Engine and
nerfstudio's own ns-process-data export.

    transforms.json   intrinsics fl_x fl_y cx cy w h (top level, or per frame overriding
                      them), camera_model with k1 k2 k3 k4 p1 p2, depth_unit_scale_factor
                      (metres per raw depth unit, default 1e-3), and "frames": per frame
                      file_path, depth_file_path, transform_matrix (4x4 camera-to-world,
                      OpenGL camera axes: +y up, looking down -z), paths relative to the file
    depth images      16-bit PNG (or .npy) at any resolution; K is for the colour image

Frames without depth_file_path cannot be lifted and are skipped (counted in meta).
Distortion: OPENCV and OPENCV_FISHEYE coefficients are undistorted on read
(`undistort=False` keeps the images as they are, with a warning).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from ..errors import ScanError
from ..types import Scan
from .capture import CaptureCamera, CaptureFrame, capture_scan, color_file, depth_file
from .conventions import engine_poses, intrinsics_matrix
from .frames import pose_problems
from .undistort import MODELS, undistort as undistort_images

log = logging.getLogger(__name__)
_INTRINSICS = ("fl_x", "fl_y", "cx", "cy", "w", "h")
_DISTORTION = ("k1", "k2", "k3", "k4", "p1", "p2")


def is_nerfstudio(path: Path) -> bool:
    if path.is_file():
        return path.name.endswith(".json") and _has_depth(path)
    return path.is_dir() and (path / "transforms.json").is_file() and _has_depth(path / "transforms.json")


def _has_depth(p: Path) -> bool:
    try:
        return '"depth_file_path"' in p.read_text(errors="replace")
    except OSError:
        return False


def read_nerfstudio(path: str | Path, *, depth_min: float = 0.1, depth_max: float = 6.0,
                    depth_scale: float | None = None, intrinsics=None, undistort: bool = True) -> Scan:
    path = Path(path)
    tf = path if path.is_file() else path / "transforms.json"
    root = tf.parent
    data = _load(tf)
    frames_json = data.get("frames")
    if not isinstance(frames_json, list) or not frames_json:
        raise ScanError(tf, "no \"frames\" list")
    factor = data.get("depth_unit_scale_factor", 1e-3)
    try:
        factor = float(factor)
        assert factor > 0
    except (TypeError, ValueError, AssertionError):
        raise ScanError(tf, f"depth_unit_scale_factor must be a positive number, got {factor!r}") from None
    frames, poses, distortion, skipped, models = [], [], [], 0, set()
    for i, fj in enumerate(frames_json):
        if not isinstance(fj, dict) or "file_path" not in fj or "transform_matrix" not in fj:
            raise ScanError(tf, f"frame {i + 1}: needs file_path and transform_matrix")
        if not fj.get("depth_file_path"):
            skipped += 1
            continue
        cam = {**{k: data[k] for k in (*_INTRINSICS, *_DISTORTION, "camera_model") if k in data},
               **{k: fj[k] for k in (*_INTRINSICS, *_DISTORTION, "camera_model") if k in fj}}
        lacking = [k for k in _INTRINSICS if k not in cam]
        if lacking and intrinsics is None:
            raise ScanError(tf, f"frame {i + 1}: intrinsics lack {', '.join(lacking)} (top level or per frame)")
        try:
            pose = np.asarray(fj["transform_matrix"], dtype=np.float64).reshape(-1, 4)
            K = None if lacking else intrinsics_matrix(float(cam["fl_x"]), float(cam["fl_y"]),
                                                       float(cam["cx"]), float(cam["cy"]))
            size = None if lacking else (int(cam["h"]), int(cam["w"]))
            coeffs = {k: float(cam.get(k, 0.0)) for k in _DISTORTION}
        except (TypeError, ValueError):
            raise ScanError(tf, f"frame {i + 1}: transform_matrix and intrinsics must be numbers") from None
        if pose.shape not in ((3, 4), (4, 4)):
            raise ScanError(tf, f"frame {i + 1}: transform_matrix must be 4x4, got {pose.shape}")
        poses.append(pose[:3])
        model = str(cam.get("camera_model", "OPENCV")).upper()
        if any(coeffs.values()):
            models.add(model)
        color = root / fj["file_path"]
        depth = root / fj["depth_file_path"]
        for p, what in ((color, "image"), (depth, "depth image")):
            if not p.is_file():
                raise ScanError(p, f"{what} listed in {tf.name} (frame {i + 1}) not found")
        frames.append(CaptureFrame(i, color.stem, color_file(color), depth_file(depth), str(depth),
                                   K=K, K_size=size))
        distortion.append((model, coeffs))
    if not frames:
        raise ScanError(tf, "no frame has a depth_file_path: this transforms.json has no depth to lift")
    poses = engine_poses(np.array(poses), axes="opengl")
    for i, problem in enumerate(pose_problems(poses)):
        if problem is not None:
            raise ScanError(tf, f"frame {frames[i].number + 1}: {problem}")
    post = _undistorter(distortion, models, undistort, tf)
    return capture_scan(path, "nerfstudio", frames, poses, CaptureCamera(None, None, str(tf)),
                        depth_scale=1.0 / factor, depth_min=depth_min, depth_max=depth_max,
                        intrinsics=intrinsics, depth_scale_override=depth_scale, pose_source=tf, postprocess=post,
                        meta={"frames_without_depth": skipped, "distortion_models": sorted(models),
                              "undistorted": bool(post)})


def _undistorter(distortion: list, models: set, undistort: bool, tf: Path):
    """Per-frame (depth, colour) undistortion, or None (with a warning when it cannot be done)."""
    if not models:
        return None
    unknown = models - set(MODELS)
    if unknown or not undistort:
        why = f"camera model {', '.join(sorted(unknown))} is not supported" if unknown else "undistort=False"
        log.warning("%s: images have distortion coefficients but are used as they are (%s)", tf, why)
        return None

    def post(i, depth, color, K):
        model, coeffs = distortion[i]
        if not any(coeffs.values()):
            return depth, color
        return undistort_images(depth, color, K, model, coeffs)

    return post



def _load(tf: Path) -> dict:
    if not tf.is_file():
        raise ScanError(tf, "transforms.json not found")
    try:
        data = json.loads(tf.read_text())
    except (ValueError, OSError) as exc:
        raise ScanError(tf, f"not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ScanError(tf, "must be a JSON object")
    return data
