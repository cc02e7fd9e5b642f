"""generate_scene: layout -> mesh -> camera path -> rendered frames -> ScanNet-layout folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import ConfigError
from ..lift import voxels as vx
from .camera import intrinsics, orbit_path
from .classes import CLASSES, IGNORED_IDS
from .layout import make_layout
from .render import Renderer, RenderedView
from .scene_mesh import build_scene_mesh
from .writer import DEPTH_SCALE, SceneWriter


def generate_scene(out_dir: str | Path, seed: int, frames: int = 30, width: int = 640, height: int = 480,
                   depth_noise: float = 0.0, color_noise: float = 2.0, gt_voxel: float = 0.02) -> Path:
    """Render a procedural room with exact per-pixel and per-point instance ground truth.

    depth_noise: std (m) of Gaussian depth noise at 1 m, growing with z**2 like a
    structured-light sensor (0 = exact depth, quantised to mm). color_noise: per-pixel
    std in 8-bit levels. The scene (room, objects, camera path) depends only on `seed`;
    `frames` only changes how densely the same path is sampled.
    """
    if seed < 0:
        raise ConfigError(f"synthetic scene: seed must be >= 0 (got {seed})")
    if frames < 1 or width < 16 or height < 16 or depth_noise < 0 or color_noise < 0 or gt_voxel <= 0:
        raise ConfigError(f"synthetic scene: need frames >= 1 (got {frames}), an image of at least 16x16 "
                          f"(got {width}x{height}), non-negative noise and a positive gt_voxel")
    rng = np.random.default_rng(seed)
    layout = make_layout(rng)
    mesh = build_scene_mesh(layout, rng)
    poses = orbit_path(layout.room, frames, rng)
    k = intrinsics(width, height)
    renderer = Renderer(mesh, k, width, height)

    writer = SceneWriter(out_dir)
    try:
        writer.intrinsics(k)
        gt = _VoxelUnion(gt_voxel)
        for i, pose in enumerate(poses):
            view = renderer.render(pose)
            noise_rng = np.random.default_rng([seed, 1, i])
            writer.frame(i, _noisy_color(view, color_noise, noise_rng), _depth_mm(view, depth_noise, noise_rng),
                         pose, view.instance, view.semantic)
            flat = view.point_pixels
            gt.add(view.points, view.instance.reshape(-1)[flat], view.semantic.reshape(-1)[flat])
        points, inst, sem = gt.result()
        writer.ground_truth(points, inst, sem, CLASSES, IGNORED_IDS, mesh.instance_class)
        writer.mesh(mesh)
        return writer.commit({
            "seed": int(seed), "frames": int(frames), "width": int(width), "height": int(height),
            "intrinsics": k.tolist(), "depth_scale": DEPTH_SCALE, "depth_noise": float(depth_noise),
            "gt_voxel": float(gt_voxel),
            "room": {"width": layout.room.width, "depth": layout.room.depth, "height": layout.room.height},
            "classes": {str(c): n for c, n in CLASSES.items()}, "ignore": list(IGNORED_IDS),
            "instances": [{"id": i, "class_id": c, "class": CLASSES[c]} for i, c in sorted(mesh.instance_class.items())],
        })
    except BaseException:
        writer.abort()
        raise


def _noisy_color(view: RenderedView, sigma: float, rng: np.random.Generator) -> np.ndarray:
    exposure = 1.0 + rng.normal(0.0, 0.02)  # auto-exposure flicker between frames
    img = view.color.astype(np.float32) * exposure
    if sigma > 0:
        img += rng.normal(0.0, sigma, img.shape).astype(np.float32)
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


def _depth_mm(view: RenderedView, sigma_1m: float, rng: np.random.Generator) -> np.ndarray:
    z = view.depth.astype(np.float64)
    if sigma_1m > 0:
        z = np.where(z > 0, z + rng.normal(0.0, 1.0, z.shape) * sigma_1m * z * z, 0.0)
    return np.clip(np.round(z * DEPTH_SCALE), 0, 65535).astype(np.uint16)


class _VoxelUnion:
    """Union of all frames' surface points, one point (the first seen) per voxel."""

    def __init__(self, voxel: float):
        self.voxel = voxel
        self.keys, self.points, self.inst, self.sem = [], [], [], []

    def add(self, pts: np.ndarray, inst: np.ndarray, sem: np.ndarray) -> None:
        keys, first = np.unique(vx.pack(np.floor(pts / self.voxel).astype(np.int64)), return_index=True)
        self.keys.append(keys)
        self.points.append(pts[first])
        self.inst.append(inst[first])
        self.sem.append(sem[first])

    def result(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if not self.keys:
            return np.zeros((0, 3), np.float32), np.zeros(0, np.int32), np.zeros(0, np.int32)
        keys = np.concatenate(self.keys)
        _, first = np.unique(keys, return_index=True)
        return (np.concatenate(self.points)[first], np.concatenate(self.inst)[first].astype(np.int32),
                np.concatenate(self.sem)[first].astype(np.int32))
