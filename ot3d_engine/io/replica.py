"""Replica as distributed with NICE-SLAM (and reused by many 3D segmentation papers).

    results/frame000000.jpg  results/depth000000.png  traj.txt (a row-major 4x4 per line)
    cam_params.json (in the scene folder or its parent):
        {"camera": {"w", "h", "fx", "fy", "cx", "cy", "scale"}}

The depth scale of NICE-SLAM's Replica is 6553.5 (65535 = 10 m). Every intrinsic value
and the scale can be given as options instead of (or overriding) cam_params.json.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import ScanError
from ..types import Scan
from .frames import Camera, FrameFiles, check_poses, numbered_files, read_number_table, rgbd_scan

DEFAULT_DEPTH_SCALE = 6553.5


def is_replica(path: Path) -> bool:
    return path.is_dir() and (path / "traj.txt").is_file() and (path / "results").is_dir()


def read_replica(path: str | Path, *, depth_min: float = 0.1, depth_max: float = 6.0,
                 depth_scale: float | None = None, fx: float | None = None, fy: float | None = None,
                 cx: float | None = None, cy: float | None = None, width: int | None = None,
                 height: int | None = None, cam_params: str | Path | None = None) -> Scan:
    path = Path(path)
    results = path / "results"
    depths = numbered_files(results, (".png",), prefix="depth")
    colors = numbered_files(results, (".jpg", ".jpeg", ".png"), prefix="frame")
    if not depths:
        raise ScanError(results, "no depth images (depth%06d.png) found")
    files = []
    for n in sorted(depths):
        if n not in colors:
            raise ScanError(results / f"frame{n:06d}.jpg", "colour image for this depth frame is missing")
        files.append(FrameFiles(n, colors[n], depths[n]))

    traj = path / "traj.txt"
    poses = read_number_table(traj, 16, "trajectory (16 values per line: a row-major 4x4)").reshape(-1, 4, 4)
    if len(poses) != len(files):
        raise ScanError(traj, f"{len(poses)} poses but {len(files)} frames in {results.name}/")
    check_poses(poses, traj, "pose")

    params, source = _cam_params(path, cam_params)
    given = {"fx": fx, "fy": fy, "cx": cx, "cy": cy, "w": width, "h": height, "scale": depth_scale}
    params.update({k: v for k, v in given.items() if v is not None})
    if any(k not in params for k in ("fx", "fy", "cx", "cy")):
        raise ScanError(source or path / "cam_params.json",
                        "missing intrinsics: no cam_params.json with fx, fy, cx, cy and none given as options")
    if source is None:
        source = "reader options"
    elif any(v is not None for v in (fx, fy, cx, cy, width, height)):
        source = f"{source} + reader options"
    try:
        K = [[float(params["fx"]), 0, float(params["cx"])], [0, float(params["fy"]), float(params["cy"])], [0, 0, 1]]
        size = (int(params["h"]), int(params["w"])) if "h" in params and "w" in params else None
        scale = float(params.get("scale", DEFAULT_DEPTH_SCALE))
    except (TypeError, ValueError) as exc:
        raise ScanError(source or path, f"camera parameters must be numbers: {exc}") from None
    return rgbd_scan(path, "replica", files, poses, Camera(K, size, source), depth_scale=scale,
                     depth_min=depth_min, depth_max=depth_max)


def _cam_params(path: Path, explicit: str | Path | None) -> tuple[dict, Path | None]:
    candidates = [Path(explicit)] if explicit is not None else [path / "cam_params.json", path.parent / "cam_params.json"]
    for p in candidates:
        if not p.is_file():
            if explicit is not None:
                raise ScanError(p, "camera parameter file not found")
            continue
        try:
            cam = json.loads(p.read_text())["camera"]
            return {k: cam[k] for k in ("w", "h", "fx", "fy", "cx", "cy", "scale") if k in cam}, p
        except (ValueError, KeyError, TypeError) as exc:
            raise ScanError(p, f"malformed camera parameters (expected {{'camera': {{...}}}}): {exc!r}") from None
    return {}, None
