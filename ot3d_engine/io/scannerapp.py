"""3D Scanner App (Laan Labs, iOS) "All Data" exports.

    frame_00012.jpg    colour (1920x1440); the app keeps colour for only some frames
    frame_00012.json   "cameraPoseARFrame": 16 numbers, row-major 4x4 camera-to-world in
                       ARKit axes (camera +y up, looking down -z); "intrinsics": 9 numbers,
                       row-major 3x3 K of the colour image
    depth_00012.png    uint16 millimetres, 256x192
    conf_00012.png     uint8 0 (low), 1, 2 (high)

A frame is used when it has all of colour, JSON and depth; the others are counted in meta.
Low-confidence depth (below `min_confidence`, default 1) is dropped.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..errors import ScanError
from ..types import Scan
from .capture import CaptureCamera, CaptureFrame, capture_scan, color_file, confidence_png, depth_png
from .conventions import engine_poses, intrinsics_from_values
from .frames import pose_problems
from .images import image_size


def _numbered(path: Path, prefix: str, suffix: str) -> dict[int, Path]:
    out = {}
    for p in path.glob(f"{prefix}*{suffix}"):
        digits = p.name[len(prefix):-len(suffix)]
        if digits.isdigit():
            out[int(digits)] = p
    return out


def is_scannerapp(path: Path) -> bool:
    return path.is_dir() and any(path.glob("frame_*.json")) and any(path.glob("depth_*.png"))


def read_scannerapp(path: str | Path, *, depth_min: float = 0.1, depth_max: float = 6.0,
                    depth_scale: float | None = None, intrinsics=None, min_confidence: int | None = 1) -> Scan:
    path = Path(path)
    jsons, jpgs, depths = (_numbered(path, "frame_", ".json"), _numbered(path, "frame_", ".jpg"),
                           _numbered(path, "depth_", ".png"))
    numbers = sorted(set(jsons) & set(jpgs) & set(depths))
    if not numbers:
        raise ScanError(path, f"no frame has all of frame_N.jpg, frame_N.json and depth_N.png "
                              f"({len(jpgs)} colour, {len(jsons)} JSON, {len(depths)} depth files)")
    frames, poses = [], []
    size = image_size(jpgs[numbers[0]])  # every colour image of a capture has the same size
    for n in numbers:
        meta = _frame_json(jsons[n])
        poses.append(meta["pose"])
        K = intrinsics_from_values(meta["intrinsics"], column_major=False, source=jsons[n])
        frames.append(CaptureFrame(n, f"frame_{n:05d}", color_file(jpgs[n]), depth_png(depths[n]), str(depths[n]),
                                   confidence=confidence_png(path / f"conf_{n:05d}.png"), K=K, K_size=size))
    poses = engine_poses(np.array(poses), axes="opengl")
    for n, problem in zip(numbers, pose_problems(poses)):
        if problem is not None:
            raise ScanError(jsons[n], f"cameraPoseARFrame: {problem}")
    return capture_scan(path, "3dscannerapp", frames, poses, CaptureCamera(None, None, "frame_N.json"),
                        depth_scale=1000.0, depth_min=depth_min, depth_max=depth_max, min_confidence=min_confidence,
                        intrinsics=intrinsics, depth_scale_override=depth_scale, pose_source=path,
                        meta={"frames_without_colour_or_depth": len(set(jsons) | set(depths)) - len(numbers)})


def _frame_json(p: Path) -> dict:
    try:
        data = json.loads(p.read_text())
        pose = np.asarray(data["cameraPoseARFrame"], dtype=np.float64)
        K = data["intrinsics"]
    except (ValueError, OSError) as exc:
        raise ScanError(p, f"not valid JSON: {exc}") from None
    except KeyError as exc:
        raise ScanError(p, f"frame metadata lacks {exc} (needs cameraPoseARFrame and intrinsics)") from None
    except TypeError:
        raise ScanError(p, "cameraPoseARFrame must be 16 numbers") from None
    if pose.size != 16:
        raise ScanError(p, f"cameraPoseARFrame has {pose.size} numbers, 16 expected (a row-major 4x4)")
    return {"pose": pose.reshape(4, 4), "intrinsics": K}
