"""ScanNet export layout (what ScanNet's SensReader writes, and what our synthetic generator writes).

    color/<i>.jpg|png   depth/<i>.png (uint16 mm)   pose/<i>.txt (4x4 camera-to-world)
    intrinsic/intrinsic_depth.txt (4x4; fallback intrinsic_color.txt scaled to the depth size)
    optional, from the synthetic generator:
    instance/<i>.png, semantic/<i>.png (uint16 ids, 0 = none)
    gt_points.npz (points, instance, semantic) + gt_classes.json, scene_mesh.ply

Real ScanNet poses are -inf where tracking failed: that is an error unless
`skip_bad_poses=True`, which drops those frames with a warning.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np

from ..errors import ScanError
from ..types import GroundTruth, Scan
from .frames import Camera, FrameFiles, numbered_files, pose_problems, read_number_table, rgbd_scan
from .images import image_size, scale_intrinsics

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


def is_scannet(path: Path) -> bool:
    return path.is_dir() and all((path / d).is_dir() for d in ("color", "depth", "pose"))


def read_scannet(path: str | Path, *, depth_min: float = 0.1, depth_max: float = 6.0,
                 depth_scale: float = 1000.0, skip_bad_poses: bool = False) -> Scan:
    path = Path(path)
    depth_files = numbered_files(path / "depth", (".png",))
    if not depth_files:
        raise ScanError(path / "depth", "no depth images (<i>.png) found")
    colors = numbered_files(path / "color", IMAGE_SUFFIXES)
    instances = numbered_files(path / "instance", (".png",))
    semantics = numbered_files(path / "semantic", (".png",))
    files: list[FrameFiles] = []
    for n in sorted(depth_files):
        if n not in colors:
            raise ScanError(path / "color" / f"{n}.jpg", "colour image for this depth frame is missing")
        files.append(FrameFiles(n, colors[n], depth_files[n], instances.get(n), semantics.get(n)))

    poses = np.stack([_read_pose(path / "pose" / f"{f.number}.txt") for f in files])
    problems = pose_problems(poses)
    bad = [i for i, p in enumerate(problems) if p is not None]
    if bad and not skip_bad_poses:
        i = bad[0]
        raise ScanError(path / "pose" / f"{files[i].number}.txt",
                        f"{problems[i]}; {len(bad)} frame(s) affected (skip_bad_poses=True drops them)")
    if bad:
        names = ", ".join(f"{files[i].number}.txt" for i in bad[:10]) + (" ..." if len(bad) > 10 else "")
        warnings.warn(f"{path}: skipping {len(bad)} frame(s) with invalid poses ({names})", stacklevel=2)
        keep = [i for i in range(len(files)) if i not in set(bad)]
        if not keep:
            raise ScanError(path / "pose", "every frame has an invalid pose")
        files = [files[i] for i in keep]
        poses = poses[keep]

    camera = _camera(path, files[0])
    mesh = path / "scene_mesh.ply"
    return rgbd_scan(path, "scannet", files, poses, camera, depth_scale=depth_scale,
                     depth_min=depth_min, depth_max=depth_max,
                     meta={"skipped_bad_poses": len(bad)},
                     ground_truth=_ground_truth(path), mesh_path=mesh if mesh.is_file() else None)


def _read_pose(p: Path) -> np.ndarray:
    if not p.is_file():
        raise ScanError(p, "pose file missing for this frame")
    table = read_number_table(p, 4, "pose (4x4 matrix)")
    if table.shape != (4, 4):
        raise ScanError(p, f"pose has {table.shape[0]} rows, a 4x4 matrix is expected")
    return table


def _read_matrix(p: Path) -> np.ndarray:
    try:
        values = np.array(p.read_text().split(), dtype=np.float64)
    except ValueError:
        raise ScanError(p, "intrinsics contain a non-numeric value") from None
    if values.size not in (9, 16) or not np.isfinite(values).all():
        raise ScanError(p, f"intrinsics must be a finite 3x3 or 4x4 matrix, got {values.size} values")
    side = 3 if values.size == 9 else 4
    K = values.reshape(side, side)[:3, :3].copy()
    if K[0, 0] <= 0 or K[1, 1] <= 0:
        raise ScanError(p, "intrinsics have a non-positive focal length")
    return K


def _camera(path: Path, first: FrameFiles) -> Camera:
    depth_txt = path / "intrinsic" / "intrinsic_depth.txt"
    if depth_txt.is_file():
        return Camera(_read_matrix(depth_txt), None, depth_txt.relative_to(path))
    color_txt = path / "intrinsic" / "intrinsic_color.txt"
    if color_txt.is_file():
        depth_size = image_size(first.depth)
        K = scale_intrinsics(_read_matrix(color_txt), image_size(first.color), depth_size)
        return Camera(K, depth_size, color_txt.relative_to(path))
    raise ScanError(path / "intrinsic" / "intrinsic_depth.txt",
                    "missing intrinsics (neither intrinsic_depth.txt nor intrinsic_color.txt exists)")


def _ground_truth(path: Path) -> GroundTruth | None:
    npz = path / "gt_points.npz"
    if not npz.is_file():
        return None
    try:
        with np.load(npz) as data:
            points = np.asarray(data["points"], dtype=np.float32)
            instance = np.asarray(data["instance"], dtype=np.int32)
            semantic = np.asarray(data["semantic"], dtype=np.int32)
    except KeyError as exc:
        raise ScanError(npz, f"ground truth lacks array {exc.args[0]!r} (points, instance, semantic)") from None
    except (OSError, ValueError) as exc:
        raise ScanError(npz, f"cannot read ground truth: {exc}") from None
    if points.ndim != 2 or points.shape[1] != 3 or not (len(points) == len(instance) == len(semantic)):
        raise ScanError(npz, f"ground truth arrays disagree: points {points.shape}, "
                             f"instance {instance.shape}, semantic {semantic.shape}")
    names: dict[int, str] = {}
    ignore: tuple[int, ...] = ()
    classes_json = path / "gt_classes.json"
    if classes_json.is_file():
        try:
            table = json.loads(classes_json.read_text())
            names = {int(k): str(v) for k, v in table.get("classes", {}).items()}
            ignore = tuple(int(c) for c in table.get("ignore", []))
        except (ValueError, AttributeError, TypeError) as exc:
            raise ScanError(classes_json, f"malformed class table: {exc}") from None
    return GroundTruth(points, instance, semantic, names, ignore)
