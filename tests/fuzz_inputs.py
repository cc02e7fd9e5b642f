"""The fuzz table: every input kind the engine reads, as (name, make a valid file, read it).

Adding a kind (e.g. a new capture format's reader) is adding one FuzzKind row to KINDS:

    FuzzKind("tum_assoc", make=make_tum_scan, read=read_scan_folder,
             detects=("extra_value",))

- make(folder) builds a valid input under `folder` and returns the one file to corrupt
  (the rest of the folder, e.g. the images of a scan, stays intact);
- read(path) reads it the way the engine does (a scan kind loads the folder and decodes
  every frame); it must return on valid input and raise an OT3DError on bad input;
- detects: mutations a decoder can always notice ("truncate", "flip", "extra_value": a value
  added to a data row); for those, a silent success fails the fuzz test.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

from test_io_readers import write_pcd, write_png16, write_rgb


@dataclass(frozen=True)
class FuzzKind:
    name: str
    make: Callable[[Path], Path]
    read: Callable[[Path], object]
    detects: tuple[str, ...] = ()
    data_lines: Callable[[bytes], list[int]] | None = None  # lines "extra_value" may hit (default: all)


# --- images ------------------------------------------------------------------------------

def _rng():
    return np.random.default_rng(0)


def make_png16(folder: Path) -> Path:
    p = folder / "depth.png"
    write_png16(p, _rng().integers(500, 4000, (24, 32)).astype(np.uint16))
    return p


def make_png_rgb(folder: Path) -> Path:
    p = folder / "color.png"
    write_rgb(p, _rng().integers(0, 255, (24, 32, 3)).astype(np.uint8))
    return p


def make_jpg(folder: Path) -> Path:
    p = folder / "color.jpg"
    Image.fromarray(_rng().integers(0, 255, (24, 32, 3)).astype(np.uint8)).save(p, quality=90)
    return p


def make_pgm16(folder: Path) -> Path:
    p = folder / "depth.pgm"
    arr = _rng().integers(500, 4000, (24, 32)).astype(">u2")
    p.write_bytes(b"P5\n# a comment\n32 24\n65535\n" + arr.tobytes())
    return p


def read_depth_file(path: Path):
    from ot3d_engine.io.images import read_depth

    return read_depth(path, 1000.0)


def read_color_file(path: Path):
    from ot3d_engine.io.images import read_color

    return read_color(path)


# --- point clouds and meshes -------------------------------------------------------------

def _pcd(kind: str):
    def make(folder: Path) -> Path:
        p = folder / f"cloud-{kind}.pcd"
        rng = _rng()
        n = 40
        write_pcd(p, {"x": rng.random(n).astype(np.float32), "y": rng.random(n).astype(np.float32),
                      "z": rng.random(n).astype(np.float32), "label": rng.integers(0, 5, n).astype(np.uint32)},
                  kind, width=n)
        return p
    return make


def read_pcd_file(path: Path):
    from ot3d_engine.io.pcd import read_pcd

    return read_pcd(path)


def _ply(fmt: str):
    def make(folder: Path) -> Path:
        rng = _rng()
        v = rng.random((30, 3)).astype(np.float32)
        f = np.stack([np.arange(28), np.arange(1, 29), np.arange(2, 30)], axis=1)
        p = folder / f"mesh-{fmt}.ply"
        head = ["ply", f"format {fmt} 1.0", "element vertex 30", "property float x", "property float y",
                "property float z", "element face 28", "property list uchar int vertex_indices", "end_header"]
        if fmt == "ascii":
            body = "".join(f"{a:.6f} {b:.6f} {c:.6f}\n" for a, b, c in v) + "".join(f"3 {a} {b} {c}\n" for a, b, c in f)
            p.write_bytes(("\n".join(head) + "\n" + body).encode())
        else:
            faces = np.empty(len(f), dtype=[("n", "u1"), ("v", "<i4", (3,))])
            faces["n"], faces["v"] = 3, f
            p.write_bytes(("\n".join(head) + "\n").encode() + v.astype("<f4").tobytes() + faces.tobytes())
        return p
    return make


def read_mesh_file(path: Path):
    from ot3d_engine.io.mesh import load_mesh

    return load_mesh(path, require_faces=True)


def after_header(marker: bytes):
    """Data lines of a text format: those after the line holding `marker`."""
    def lines(raw: bytes) -> list[int]:
        rows = raw.split(b"\n")
        start = next((i for i, r in enumerate(rows) if marker in r), len(rows)) + 1
        return [i for i in range(start, len(rows)) if rows[i].strip()]
    return lines


# --- scans (pose files, manifests) -------------------------------------------------------

def _posefile_scan(folder: Path) -> Path:
    root = folder / "scan"
    rng = _rng()
    for i in range(2):
        write_rgb(root / "rgb" / f"{i}.png", rng.integers(0, 255, (12, 16, 3)).astype(np.uint8))
        write_png16(root / "d" / f"{i}.png", rng.integers(800, 3000, (12, 16)).astype(np.uint16))
    (root / "pose.txt").write_text("0 0 0 0 0 0 1\n0.1 0 0 0 0.0998 0 0.995\n")
    manifest = {"fx": 12.0, "fy": 12.0, "cx": 7.5, "cy": 5.5, "width": 16, "height": 12, "depth_scale": 1000,
                "color": "rgb/{}.png", "depth": "d/{}.png"}
    (root / "ot3d_scan.json").write_text(json.dumps(manifest))
    return root


def make_pose_file(folder: Path) -> Path:
    return _posefile_scan(folder) / "pose.txt"


def make_manifest(folder: Path) -> Path:
    return _posefile_scan(folder) / "ot3d_scan.json"


def make_scannet_pose(folder: Path) -> Path:
    from ot3d_engine.synth import generate_scene

    root = generate_scene(folder / "scannet", seed=1, frames=2, width=32, height=24)
    return Path(root) / "pose" / "0.txt"


def make_scannet_intrinsics(folder: Path) -> Path:
    from ot3d_engine.synth import generate_scene

    root = generate_scene(folder / "scannet", seed=1, frames=2, width=32, height=24)
    return Path(root) / "intrinsic" / "intrinsic_depth.txt"


def read_scan_of(levels: int):
    """Load the scan folder `levels` above the corrupted file and decode every frame."""
    def read(path: Path):
        from ot3d_engine.io import load_scan

        scan = load_scan(path.parents[levels - 1])
        return [scan.frame(i) for i in range(len(scan))]
    return read


# --- configs and scene folders -----------------------------------------------------------

def make_toml(folder: Path) -> Path:
    p = folder / "cfg.toml"
    p.write_text('segmenter = "geometric"\nfeatures = "color"\n[lift]\nvoxel_size = 0.03\n'
                 '[track]\nfeature_weight = 0.3\nspatial_weight = 0.7\n[refine]\nmin_view_ratio = 0.2\n')
    return p


def make_json_config(folder: Path) -> Path:
    p = folder / "cfg.json"
    p.write_text(json.dumps({"segmenter": {"name": "geometric", "options": {}}, "lift": {"voxel_size": 0.03},
                             "scan": {"stride": 2}}))
    return p


def read_config(path: Path):
    from ot3d_engine.config import PipelineConfig

    return PipelineConfig.load(path)


def _scene_folder(folder: Path) -> Path:
    from ot3d_engine.output.scene_io import write_scene
    from ot3d_engine.types import Instance, SceneResult

    pts = _rng().random((50, 3)).astype(np.float32)
    ids = (np.arange(50) % 3).astype(np.int32)
    res = SceneResult(points=pts, colors=np.zeros((50, 3), np.uint8), instance_ids=ids,
                      instances=[Instance(id=i, points=pts[ids == i], score=0.5) for i in (1, 2)])
    return write_scene(res, folder / "scene", preview=False)


def make_scene_json(folder: Path) -> Path:
    return _scene_folder(folder) / "instances.json"


def make_scene_npz(folder: Path) -> Path:
    return _scene_folder(folder) / "points.npz"


def read_scene_of(path: Path):
    from ot3d_engine.output.scene_io import read_scene

    return read_scene(path.parent)


# --- capture formats (tests/format_writers.py writes each from its published spec) ------

def _capture(fmt: str, corrupt: Callable[[Path], Path]):
    """A 3-frame capture in format `fmt`; the file `corrupt(scan path)` names is the one mutated."""
    def make(folder: Path) -> Path:
        import format_writers as fw

        rng = _rng()
        frames = []
        for i in range(3):
            pose = np.eye(4)
            pose[:3, 3] = [0.05 * i, 0, 0]
            depth = np.full((24, 32), 1500 + 10 * i, np.uint16)
            frames.append(fw.SourceFrame(i, rng.integers(0, 255, (24, 32, 3), dtype=np.uint8), depth, pose))
        K = np.array([[25.0, 0, 15.5], [0, 25.0, 11.5], [0, 0, 1]])
        scan, options = fw.write_format(fmt, folder, frames, K)
        (folder / "options.json").write_text(json.dumps({"scan": str(scan), "layout": fmt, **options}))
        return corrupt(Path(scan))
    return make


def read_capture(path: Path):
    """Load the capture the corrupted file belongs to (its options beside it) and decode every frame."""
    from ot3d_engine.io import load_scan

    folder = next(p for p in path.parents if (p / "options.json").is_file())
    options = json.loads((folder / "options.json").read_text())
    scan = load_scan(options.pop("scan"), **options)
    return [scan.frame(i) for i in range(len(scan))]


CAPTURE_KINDS = [
    FuzzKind("7scenes_pose", _capture("7scenes", lambda s: s / "frame-000001.pose.txt"), read_capture,
             detects=("extra_value",)),
    FuzzKind("tum_groundtruth", _capture("tum", lambda s: s / "groundtruth.txt"), read_capture,
             data_lines=after_header(b"# timestamp")),
    FuzzKind("tum_rgb_list", _capture("tum", lambda s: s / "rgb.txt"), read_capture),
    FuzzKind("nerfstudio_json", _capture("nerfstudio", lambda s: s / "transforms.json"), read_capture,
             detects=("truncate",)),
    FuzzKind("record3d_r3d", _capture("record3d", lambda s: s), read_capture, detects=("truncate",)),
    FuzzKind("strayscanner_odometry", _capture("strayscanner", lambda s: s / "odometry.csv"), read_capture,
             data_lines=after_header(b"timestamp")),
    FuzzKind("strayscanner_video", _capture("strayscanner", lambda s: s / "rgb.mp4"), read_capture),
    FuzzKind("polycam_camera", _capture("polycam", lambda s: next((s / "keyframes").glob("*cameras/*.json"))),
             read_capture, detects=("truncate",)),
    FuzzKind("3dscannerapp_frame", _capture("3dscannerapp", lambda s: s / "frame_00001.json"), read_capture,
             detects=("truncate",)),
    FuzzKind("arkitscenes_traj", _capture("arkitscenes", lambda s: next(s.rglob("*.traj"))), read_capture),
]


KINDS: list[FuzzKind] = [
    FuzzKind("png16", make_png16, read_depth_file, detects=("truncate", "flip")),
    FuzzKind("png_rgb", make_png_rgb, read_color_file, detects=("truncate", "flip")),
    FuzzKind("jpg", make_jpg, read_color_file),
    FuzzKind("pgm16", make_pgm16, read_depth_file, detects=("truncate",)),
    FuzzKind("pcd_ascii", _pcd("ascii"), read_pcd_file, detects=("extra_value",),
             data_lines=after_header(b"DATA")),
    FuzzKind("pcd_binary", _pcd("binary"), read_pcd_file, detects=("truncate",)),
    FuzzKind("pcd_compressed", _pcd("binary_compressed"), read_pcd_file, detects=("truncate",)),
    FuzzKind("ply_ascii", _ply("ascii"), read_mesh_file, detects=("extra_value",),
             data_lines=after_header(b"end_header")),
    FuzzKind("ply_binary", _ply("binary_little_endian"), read_mesh_file, detects=("truncate",)),
    FuzzKind("pose_txt", make_pose_file, read_scan_of(1), detects=("extra_value",)),
    FuzzKind("manifest", make_manifest, read_scan_of(1), detects=("truncate",)),
    FuzzKind("scannet_pose", make_scannet_pose, read_scan_of(2), detects=("extra_value",)),
    FuzzKind("scannet_intrinsics", make_scannet_intrinsics, read_scan_of(2), detects=("extra_value",)),
    FuzzKind("config_toml", make_toml, read_config),
    FuzzKind("config_json", make_json_config, read_config, detects=("truncate",)),
    FuzzKind("scene_json", make_scene_json, read_scene_of, detects=("truncate",)),
    FuzzKind("scene_npz", make_scene_npz, read_scene_of, detects=("truncate",)),
    *CAPTURE_KINDS,
]
BY_NAME = {k.name: k for k in KINDS}
