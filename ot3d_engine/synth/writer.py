"""Write a rendered scene in the ScanNet export layout (what `ScanNet/SensReader` produces),
plus the 3D ground truth files the evaluator reads.

Everything goes into a hidden sibling folder that is renamed into place at the end, with
scene.json written last: a crash never leaves a folder that looks like a complete scan.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import ScanError
from ..io.ply import write_ply
from .scene_mesh import SceneMesh

MARKER = "scene.json"
FORMAT = "ot3d-synth"
DEPTH_SCALE = 1000.0  # depth PNG units per metre (millimetres, as ScanNet)
SUBDIRS = ("color", "depth", "pose", "intrinsic", "instance", "semantic")


def _matrix_text(m: np.ndarray) -> str:
    return "\n".join(" ".join(f"{v:.9g}" for v in row) for row in m) + "\n"


class SceneWriter:
    """Frame-by-frame writer into a temp folder; `commit` moves it to the final path."""

    def __init__(self, out_dir: str | Path):
        self.out = Path(out_dir).absolute()
        _check_replaceable(self.out)
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = self.out.parent / f".{self.out.name}.tmp-{os.getpid()}"
        if self.tmp.exists():
            shutil.rmtree(self.tmp)
        for sub in SUBDIRS:
            (self.tmp / sub).mkdir(parents=True)

    def intrinsics(self, k: np.ndarray) -> None:
        k4 = np.eye(4)
        k4[:3, :3] = k
        for name in ("intrinsic_depth.txt", "intrinsic_color.txt"):
            (self.tmp / "intrinsic" / name).write_text(_matrix_text(k4))
        for name in ("extrinsic_depth.txt", "extrinsic_color.txt"):
            (self.tmp / "intrinsic" / name).write_text(_matrix_text(np.eye(4)))

    def frame(self, i: int, color: np.ndarray, depth_mm: np.ndarray, pose: np.ndarray,
              instance: np.ndarray, semantic: np.ndarray) -> None:
        Image.fromarray(color).save(self.tmp / "color" / f"{i}.jpg", quality=95)
        for sub, img in (("depth", depth_mm), ("instance", instance), ("semantic", semantic)):
            Image.fromarray(img.astype(np.uint16)).save(self.tmp / sub / f"{i}.png", compress_level=1)
        (self.tmp / "pose" / f"{i}.txt").write_text(_matrix_text(pose))

    def ground_truth(self, points: np.ndarray, instance: np.ndarray, semantic: np.ndarray,
                     classes: dict[int, str], ignore: tuple[int, ...], instance_class: dict[int, int]) -> None:
        np.savez(self.tmp / "gt_points.npz", points=points.astype(np.float32),
                 instance=instance.astype(np.int32), semantic=semantic.astype(np.int32))
        doc = {"classes": {str(k): v for k, v in sorted(classes.items())}, "ignore": sorted(ignore),
               "instances": {str(k): v for k, v in sorted(instance_class.items())}}
        (self.tmp / "gt_classes.json").write_text(json.dumps(doc, indent=1))

    def mesh(self, mesh: SceneMesh) -> None:
        v, c = mesh.vertices.astype(np.float32), mesh.vertex_colour
        write_ply(self.tmp / "scene_mesh.ply", {
            "x": v[:, 0], "y": v[:, 1], "z": v[:, 2],
            "red": c[:, 0], "green": c[:, 1], "blue": c[:, 2],
            "instance_id": mesh.vertex_instance.astype(np.int32), "class_id": mesh.vertex_class.astype(np.int32),
        }, mesh.triangles)

    def commit(self, meta: dict) -> Path:
        (self.tmp / MARKER).write_text(json.dumps({"format": FORMAT, "version": 1, **meta}, indent=1))
        trash = None
        if self.out.exists():
            trash = self.out.parent / f".{self.out.name}.old-{os.getpid()}"
            os.replace(self.out, trash)
        os.replace(self.tmp, self.out)
        if trash is not None:
            shutil.rmtree(trash, ignore_errors=True)
        return self.out

    def abort(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)


def _check_replaceable(out: Path) -> None:
    """Only an empty folder or an earlier synthetic scene may be overwritten."""
    if not out.exists():
        return
    if not out.is_dir():
        raise ScanError(out, "output path exists and is not a folder")
    if not any(out.iterdir()):
        return
    marker = out / MARKER
    try:
        ours = json.loads(marker.read_text()).get("format") == FORMAT
    except (OSError, ValueError, AttributeError):
        ours = False
    if not ours:
        raise ScanError(out, "output folder exists and is not a synthetic scene (no scene.json); "
                             "refusing to overwrite it")
