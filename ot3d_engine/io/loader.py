"""One entry point for every scan layout: detect it, read it, subsample it.

Layouts are rows of a table (name, detector, reader), tried in order; adding a layout is
adding a row. Frame.index keeps the dataset's own frame number (the number in the file
name, or the position in the trajectory), so it survives `stride`/`max_frames`;
`scan.meta["frame_numbers"]` maps positions in the returned Scan to those numbers.

`intrinsics` ("fx,fy,cx,cy[,width,height]") and `depth_scale` (raw depth units per metre)
override whatever the layout says: readers that take them apply them before the depth
range is enforced; for the others the frames are corrected after reading (`_override`).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import ConfigError, ScanError
from ..types import Scan
from .conventions import depth_intrinsics, parse_intrinsics_option
from .frames import clean_depth
from .geometry_files import is_cloud_file, is_mesh_file, is_plain_pcd, read_geometry_scan
from .mosd import is_pcd, read_mosd
from .posefile import is_posefile, is_slambook, read_posefile, read_slambook
from .redwood import is_redwood, read_redwood
from .replica import is_replica, read_replica
from .scannet import is_scannet, read_scannet
from .arkitscenes import is_arkitscenes, read_arkitscenes
from .nerfstudio import is_nerfstudio, read_nerfstudio
from .polycam import is_polycam, read_polycam
from .record3d import is_record3d, read_record3d
from .scannerapp import is_scannerapp, read_scannerapp
from .sevenscenes import is_sevenscenes, read_sevenscenes
from .strayscanner import is_strayscanner, read_strayscanner
from .tum import is_tum, read_tum


@dataclass(frozen=True)
class Layout:
    name: str
    detect: Callable[[Path], bool]
    read: Callable[..., Scan]
    description: str


LAYOUTS: tuple[Layout, ...] = (
    Layout("scannet", is_scannet, read_scannet, "ScanNet export: color/ depth/ pose/ intrinsic/"),
    Layout("replica", is_replica, read_replica, "Replica (NICE-SLAM): results/ + traj.txt"),
    Layout("redwood", is_redwood, read_redwood, "Redwood/Open3D: trajectory.log + color/ depth/"),
    Layout("posefile", is_posefile, read_posefile, "pose.txt + ot3d_scan.json manifest"),
    Layout("slambook", is_slambook, read_slambook, "pose.txt + color/*.png + depth/*.pgm (slambook preset)"),
    Layout("mosd", lambda p: is_pcd(p) and not is_plain_pcd(p), read_mosd, "a labelled .pcd file (mOSD)"),
    Layout("7scenes", is_sevenscenes, read_sevenscenes, "7-Scenes/12-Scenes: frame-*.color.jpg, .depth.png, .pose.txt"),
    Layout("tum", is_tum, read_tum, "TUM RGB-D: rgb.txt, depth.txt, groundtruth.txt"),
    Layout("nerfstudio", is_nerfstudio, read_nerfstudio, "nerfstudio transforms.json with depth_file_path"),
    Layout("record3d", is_record3d, read_record3d, "Record3D: a .r3d file or its folder (metadata, rgbd/)"),
    Layout("strayscanner", is_strayscanner, read_strayscanner, "Stray Scanner: rgb.mp4, depth/, odometry.csv"),
    Layout("polycam", is_polycam, read_polycam, "Polycam raw export: keyframes/ cameras, images, depth"),
    Layout("3dscannerapp", is_scannerapp, read_scannerapp, "3D Scanner App All Data: frame_N.jpg|json, depth_N.png"),
    Layout("arkitscenes", is_arkitscenes, read_arkitscenes, "ARKitScenes: lowres_wide/, lowres_depth/, lowres_wide.traj"),
    Layout("mesh", is_mesh_file, read_geometry_scan, "a mesh file (PLY with faces, OBJ, GLB/glTF): rendered views"),
    Layout("pointcloud", is_cloud_file, read_geometry_scan,
           "a point-cloud file (PLY without faces, PCD, XYZ/PTS, LAS/LAZ, E57): rendered views"),
)
_BY_NAME = {layout.name: layout for layout in LAYOUTS}


def detect_layout(path: str | Path) -> str:
    path = Path(path)
    if not path.exists():
        raise ScanError(path, "scan path does not exist")
    for layout in LAYOUTS:
        if layout.detect(path):
            return layout.name
    looked = "; ".join(f"{lay.name} ({lay.description})" for lay in LAYOUTS)
    raise ScanError(path, f"unknown scan layout; looked for: {looked}")


def load_scan(path: str | Path, *, layout: str | None = None, stride: int = 1, max_frames: int | None = None,
              depth_min: float = 0.1, depth_max: float = 6.0, intrinsics=None, depth_scale: float | None = None,
              **reader_options) -> Scan:
    """Read a scan of any known layout (auto-detected unless `layout` names one)."""
    path = Path(path)
    intrinsics = _intrinsics_option(intrinsics)
    if depth_scale is not None and not (np.isfinite(depth_scale) and depth_scale > 0):
        raise ConfigError(f"--depth-scale must be a positive number of raw depth units per metre, got {depth_scale}")
    if stride < 1:
        raise ScanError(path, f"stride must be >= 1, got {stride}")
    if max_frames is not None and max_frames < 1:
        raise ScanError(path, f"max_frames must be >= 1, got {max_frames}")
    if not depth_max > depth_min >= 0:
        raise ScanError(path, f"need 0 <= depth_min < depth_max, got {depth_min}, {depth_max}")
    name = layout or detect_layout(path)
    if name not in _BY_NAME:
        raise ScanError(path, f"unknown layout {name!r}; known: {', '.join(_BY_NAME)}")
    if not path.exists():
        raise ScanError(path, "scan path does not exist")
    reader = _BY_NAME[name].read
    accepted = set(inspect.signature(reader).parameters)
    unknown = sorted(set(reader_options) - accepted)
    if unknown:
        options = sorted(accepted - {"path", "depth_min", "depth_max"})
        raise ScanError(path, f"layout {name!r} does not take option(s) {', '.join(unknown)}; "
                              f"it takes: {', '.join(options) or 'none'}")
    overrides = {k: v for k, v in (("intrinsics", intrinsics), ("depth_scale", depth_scale)) if v is not None}
    native = {k: v for k, v in overrides.items() if k in accepted}
    later = {k: v for k, v in overrides.items() if k not in accepted}
    if later.get("depth_scale") is not None:  # read unclipped; the range applies after rescaling
        scan = reader(path, depth_min=0.0, depth_max=np.inf, **reader_options, **native)
    else:
        scan = reader(path, depth_min=depth_min, depth_max=depth_max, **reader_options, **native)
    if later:
        scan = _override(scan, depth_min, depth_max, **later)
    return subsample(scan, stride, max_frames)


def _intrinsics_option(value):
    """None, "fx,fy,cx,cy[,w,h]", a 3x3 K or (K, (h, w)) -> None or (K, size)."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            return parse_intrinsics_option(value)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
    if isinstance(value, tuple) and len(value) == 2:
        return np.asarray(value[0], dtype=np.float64).reshape(3, 3), value[1]
    return np.asarray(value, dtype=np.float64).reshape(3, 3), None


def _override(scan: Scan, depth_min: float, depth_max: float, intrinsics=None, depth_scale=None) -> Scan:
    """Frames of a reader that does not take the overrides itself, corrected after reading."""
    base = scan._loader
    native = float(scan.meta.get("depth_scale", 1.0))

    def load(i: int):
        frame = base(i)
        if depth_scale is not None:
            frame.depth = clean_depth(frame.depth * np.float32(native / depth_scale), depth_min, depth_max)
        if intrinsics is not None:
            frame.intrinsics = depth_intrinsics(intrinsics[0], intrinsics[1], frame.depth.shape, "--intrinsics")
        return frame

    meta = dict(scan.meta)
    if depth_scale is not None:
        meta["depth_scale"] = depth_scale
    if intrinsics is not None:
        meta["intrinsics_source"] = "--intrinsics"
    return replace(scan, _loader=load, meta=meta)


def subsample(scan: Scan, stride: int = 1, max_frames: int | None = None) -> Scan:
    """Every `stride`-th frame, at most `max_frames` of them; frames keep their Frame.index."""
    keep = list(range(0, scan.frame_count, stride))[:max_frames]
    if len(keep) == scan.frame_count:
        return scan
    base = scan._loader
    meta = dict(scan.meta)
    numbers = meta.get("frame_numbers") or list(range(scan.frame_count))
    meta.update(frame_numbers=[numbers[i] for i in keep], stride=stride, max_frames=max_frames,
                source_frame_count=scan.frame_count)
    return replace(scan, frame_count=len(keep), _loader=lambda i: base(keep[i]), meta=meta)
