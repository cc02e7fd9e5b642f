"""One entry point for every scan layout: detect it, read it, subsample it.

Layouts are rows of a table (name, detector, reader), tried in order; adding a layout is
adding a row. Frame.index keeps the dataset's own frame number (the number in the file
name, or the position in the trajectory), so it survives `stride`/`max_frames`;
`scan.meta["frame_numbers"]` maps positions in the returned Scan to those numbers.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

from ..errors import ScanError
from ..types import Scan
from .geometry_files import is_cloud_file, is_mesh_file, is_plain_pcd, read_geometry_scan
from .mosd import is_pcd, read_mosd
from .posefile import is_posefile, is_slambook, read_posefile, read_slambook
from .redwood import is_redwood, read_redwood
from .replica import is_replica, read_replica
from .scannet import is_scannet, read_scannet


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
              depth_min: float = 0.1, depth_max: float = 6.0, **reader_options) -> Scan:
    """Read a scan of any known layout (auto-detected unless `layout` names one)."""
    path = Path(path)
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
    scan = reader(path, depth_min=depth_min, depth_max=depth_max, **reader_options)
    return subsample(scan, stride, max_frames)


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
