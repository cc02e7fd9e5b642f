"""A folder of images plus one `pose.txt` (tx ty tz qx qy qz qw per line, camera-to-world).

Such folders carry no intrinsics or naming scheme, so those come from a manifest,
`ot3d_scan.json` in the folder (or given by path with `manifest=`), from keyword options,
or from a named preset; later sources override earlier ones: preset < manifest < options.

Manifest keys (flat JSON object; the same names work as keyword options):
    fx, fy, cx, cy          depth-image intrinsics (required)
    width, height           depth image size (optional; checked when given)
    depth_scale             raw depth units per metre (default 1000)
    color, depth            file patterns relative to the folder, formatted with the frame
                            number: "color/{}.png", "depth/{:05d}.png" (required)
    first_index             number of the first frame (default 0)
    pose_file               default "pose.txt"

Built-in preset "slambook" (the RGB-D data of the book "14 Lectures on Visual SLAM"):
fx=518.0, fy=519.0, cx=325.5, cy=253.5, depth_scale=1000, color/N.png, depth/N.pgm,
N from 1. It is auto-detected for a folder holding pose.txt, color/*.png and depth/*.pgm
and no manifest.
"""

from __future__ import annotations

import functools
import json
import math
from pathlib import Path

import numpy as np

from ..errors import ScanError
from ..types import Scan
from .frames import Camera, FrameFiles, check_poses, quaternion_poses, read_number_table, rgbd_scan

MANIFEST_NAME = "ot3d_scan.json"
PRESETS: dict[str, dict] = {
    "slambook": {"fx": 518.0, "fy": 519.0, "cx": 325.5, "cy": 253.5, "depth_scale": 1000.0,
                 "color": "color/{}.png", "depth": "depth/{}.pgm", "first_index": 1},
}
_KEYS = ("fx", "fy", "cx", "cy", "width", "height", "depth_scale", "color", "depth", "first_index", "pose_file")
_DEFAULTS = {"depth_scale": 1000.0, "first_index": 0, "pose_file": "pose.txt"}
_NUMBERS = {"fx": float, "fy": float, "cx": float, "cy": float, "depth_scale": float,
            "width": int, "height": int, "first_index": int}


def is_posefile(path: Path) -> bool:
    return path.is_dir() and (path / MANIFEST_NAME).is_file()


def is_slambook(path: Path) -> bool:
    return (path.is_dir() and (path / "pose.txt").is_file() and not (path / MANIFEST_NAME).exists()
            and any((path / "color").glob("*.png")) and any((path / "depth").glob("*.pgm")))


def read_posefile(path: str | Path, *, depth_min: float = 0.1, depth_max: float = 6.0,
                  manifest: str | Path | None = None, preset: str | None = None,
                  fx: float | None = None, fy: float | None = None, cx: float | None = None,
                  cy: float | None = None, width: int | None = None, height: int | None = None,
                  depth_scale: float | None = None, color: str | None = None, depth: str | None = None,
                  first_index: int | None = None, pose_file: str | None = None) -> Scan:
    path = Path(path)
    options = {k: v for k, v in dict(fx=fx, fy=fy, cx=cx, cy=cy, width=width, height=height,
                                     depth_scale=depth_scale, color=color, depth=depth,
                                     first_index=first_index, pose_file=pose_file).items() if v is not None}
    settings, source = _settings(path, manifest, preset, options)

    pose_path = path / settings["pose_file"]
    table = read_number_table(pose_path, 7, "poses (tx ty tz qx qy qz qw per line)")
    zero = np.nonzero(np.linalg.norm(table[:, 3:], axis=1) < 1e-9)[0]
    if len(zero):
        raise ScanError(pose_path, f"pose {zero[0] + 1}: the quaternion is zero (not a rotation)")
    poses = quaternion_poses(table)
    check_poses(poses, pose_path, "pose")

    files = _frame_files(path, settings, source)
    if len(poses) != len(files):
        raise ScanError(pose_path, f"{len(poses)} poses but {len(files)} frames "
                                   f"({settings['depth']} from {settings['first_index']})")
    K = np.array([[settings["fx"], 0, settings["cx"]], [0, settings["fy"], settings["cy"]], [0, 0, 1]], dtype=np.float64)
    size = (int(settings["height"]), int(settings["width"])) if "width" in settings and "height" in settings else None
    return rgbd_scan(path, "posefile" if preset is None else preset, files, poses, Camera(K, size, source),
                     depth_scale=float(settings["depth_scale"]), depth_min=depth_min, depth_max=depth_max,
                     meta={"settings": settings})


# read_posefile with the "slambook" preset (options still override it).
read_slambook = functools.partial(read_posefile, preset="slambook")


def _settings(path: Path, manifest: str | Path | None, preset: str | None, options: dict) -> tuple[dict, str]:
    settings = dict(_DEFAULTS)
    sources = []
    if preset is not None:
        if preset not in PRESETS:
            raise ScanError(path, f"unknown preset {preset!r} (known: {', '.join(PRESETS)})")
        settings.update(PRESETS[preset])
        sources.append(f"preset {preset!r}")
    manifest_path = Path(manifest) if manifest is not None else path / MANIFEST_NAME
    if manifest is not None or manifest_path.is_file():
        settings.update(_read_manifest(manifest_path))
        sources.append(manifest_path.name)
    if options:
        settings.update(options)
        sources.append("reader options")
    missing = [k for k in ("fx", "fy", "cx", "cy") if k not in settings]
    if missing:
        raise ScanError(manifest_path, f"missing intrinsics {', '.join(missing)}: give a {MANIFEST_NAME} "
                                       f"manifest, manifest=..., keyword options or a preset ({', '.join(PRESETS)})")
    missing = [k for k in ("color", "depth") if k not in settings]
    if missing:
        raise ScanError(manifest_path, f"missing file pattern(s) {', '.join(missing)} (e.g. \"color/{{}}.png\")")
    try:
        for key, kind in _NUMBERS.items():
            if key in settings:
                settings[key] = kind(settings[key])
    except (TypeError, ValueError, OverflowError):
        raise ScanError(manifest_path, f"{key} must be a number, got {settings[key]!r} ({' + '.join(sources)})") from None
    bad = [k for k in ("fx", "fy", "cx", "cy", "depth_scale") if not math.isfinite(settings[k])]
    if bad:
        raise ScanError(manifest_path, f"{bad[0]} must be a finite number, got {settings[bad[0]]} ({' + '.join(sources)})")
    if not all(settings[k] > 0 for k in ("fx", "fy", "depth_scale")):
        raise ScanError(manifest_path, "fx, fy and depth_scale must be positive")
    for key in ("width", "height"):
        if key in settings and settings[key] <= 0:
            raise ScanError(manifest_path, f"{key} must be positive, got {settings[key]}")
    for key in ("color", "depth", "pose_file"):
        if not isinstance(settings.get(key, ""), str):
            raise ScanError(manifest_path, f"{key} must be a string, got {settings[key]!r}")
    return settings, " + ".join(sources)


def _read_manifest(p: Path) -> dict:
    if not p.is_file():
        raise ScanError(p, "scan manifest not found")
    try:
        data = json.loads(p.read_text())
    except ValueError as exc:
        raise ScanError(p, f"manifest is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ScanError(p, "manifest must be a JSON object")
    unknown = sorted(set(data) - set(_KEYS))
    if unknown:
        raise ScanError(p, f"unknown manifest key(s) {', '.join(unknown)} (known: {', '.join(_KEYS)})")
    return data


def _frame_files(path: Path, settings: dict, source: str) -> list[FrameFiles]:
    try:
        first = int(settings["first_index"])
        name = lambda key, n: settings[key].format(n)  # noqa: E731
        name("color", first), name("depth", first)
    except (ValueError, IndexError, KeyError, TypeError) as exc:
        raise ScanError(path / MANIFEST_NAME, f"bad file pattern or first_index ({source}): {exc!r}") from None
    files = []
    n = first
    while (path / name("depth", n)).is_file():
        c = path / name("color", n)
        if not c.is_file():
            raise ScanError(c, "colour image for this depth frame is missing")
        files.append(FrameFiles(n, c, path / name("depth", n)))
        n += 1
    if not files:
        raise ScanError(path / name("depth", first), f"first depth image not found (pattern from {source})")
    return files
