"""What every RGB-D layout reader shares: pose checks and lazy Frame assembly.

A layout reader only discovers files, poses and intrinsics (cheap, at load time, where
pose-level errors surface); images are decoded per frame when `Scan.frame(i)` asks.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ScanError
from ..types import Frame, GroundTruth, Scan
from .images import read_color, read_depth, read_label_image, resize_color, resize_labels

RIGID_TOLERANCE = 1e-2  # max |R^T R - I| entry; poses are stored as text with ~6 digits


@dataclass
class FrameFiles:
    number: int  # the dataset's own frame number, becomes Frame.index
    color: Path
    depth: Path
    instance: Path | None = None
    semantic: Path | None = None


@dataclass
class Camera:
    K: np.ndarray  # 3x3 intrinsics of the depth image
    size: tuple[int, int] | None  # (height, width) they belong to, when the source says
    source: Path | str  # where they came from, for error messages

    def __post_init__(self):
        try:
            self.K = np.asarray(self.K, dtype=np.float64).reshape(3, 3)
        except (TypeError, ValueError):
            raise ScanError(self.source, "intrinsics are not a 3x3 matrix of numbers") from None
        if not np.isfinite(self.K).all():
            raise ScanError(self.source, f"intrinsics contain inf/NaN: fx={self.K[0, 0]}, fy={self.K[1, 1]}, "
                                         f"cx={self.K[0, 2]}, cy={self.K[1, 2]}")
        if not (self.K[0, 0] > 0 and self.K[1, 1] > 0):
            raise ScanError(self.source, f"focal lengths must be positive, got fx={self.K[0, 0]}, fy={self.K[1, 1]}")
        if self.size is not None and not all(isinstance(v, (int, np.integer)) and v > 0 for v in self.size):
            raise ScanError(self.source, f"image size must be positive integers, got {self.size}")


def pose_problems(poses: np.ndarray) -> list[str | None]:
    """Per 4x4 pose: None if it is a finite rigid transform, else what is wrong with it."""
    poses = np.asarray(poses, dtype=np.float64).reshape(-1, 4, 4)
    finite = np.isfinite(poses).all(axis=(1, 2))
    safe = np.where(finite[:, None, None], poses, np.eye(4))
    R = safe[:, :3, :3]
    ortho = np.abs(np.einsum("nji,njk->nik", R, R) - np.eye(3)).max(axis=(1, 2))
    det = np.linalg.det(R)
    bottom = np.abs(safe[:, 3] - [0, 0, 0, 1]).max(axis=1)
    out: list[str | None] = []
    for i in range(len(poses)):
        if not finite[i]:
            out.append("pose contains inf/NaN (tracking lost for this frame)")
        elif ortho[i] > RIGID_TOLERANCE or det[i] < 0:
            out.append(f"pose rotation is not rigid (|R^T R - I| = {ortho[i]:.3g}, det = {det[i]:.3g})")
        elif bottom[i] > 1e-6:
            out.append(f"pose bottom row is {safe[i, 3].tolist()}, expected [0, 0, 0, 1]")
        else:
            out.append(None)
    return out


def check_poses(poses: np.ndarray, source: Path, entry_name: str = "entry") -> None:
    """Raise ScanError naming `source` and the first bad pose entry (counted from 1)."""
    for i, problem in enumerate(pose_problems(poses)):
        if problem is not None:
            raise ScanError(source, f"{entry_name} {i + 1}: {problem}")


def quaternion_poses(values: np.ndarray) -> np.ndarray:
    """Rows of `tx ty tz qx qy qz qw` -> Nx4x4 (quaternions normalised; zero ones stay invalid)."""
    values = np.asarray(values, dtype=np.float64).reshape(-1, 7)
    t, q = values[:, :3], values[:, 3:]
    norm = np.linalg.norm(q, axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        q = q / np.where(norm > 1e-9, norm, np.nan)
    x, y, z, w = q.T
    T = np.zeros((len(values), 4, 4))
    T[:, 0, 0] = 1 - 2 * (y * y + z * z)
    T[:, 0, 1] = 2 * (x * y - z * w)
    T[:, 0, 2] = 2 * (x * z + y * w)
    T[:, 1, 0] = 2 * (x * y + z * w)
    T[:, 1, 1] = 1 - 2 * (x * x + z * z)
    T[:, 1, 2] = 2 * (y * z - x * w)
    T[:, 2, 0] = 2 * (x * z - y * w)
    T[:, 2, 1] = 2 * (y * z + x * w)
    T[:, 2, 2] = 1 - 2 * (x * x + y * y)
    T[:, :3, 3] = t
    T[:, 3, 3] = 1
    return T


def read_number_table(path: Path, columns: int, what: str) -> np.ndarray:
    """Whitespace-separated numbers, `columns` per non-empty line ('#' comments skipped)."""
    if not path.is_file():
        raise ScanError(path, f"{what} not found")
    rows = []
    for lineno, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) != columns:
            raise ScanError(path, f"line {lineno}: {len(parts)} values, {columns} expected ({what})")
        rows.append(parts)
    if not rows:
        raise ScanError(path, f"{what} is empty")
    try:
        return np.array(rows, dtype=np.float64)
    except ValueError:
        raise ScanError(path, f"{what} contains a non-numeric value") from None


def clean_depth(depth: np.ndarray, depth_min: float, depth_max: float) -> np.ndarray:
    """Every invalid depth (NaN, inf, <= 0, out of range) becomes exactly 0."""
    with np.errstate(invalid="ignore"):
        keep = np.isfinite(depth) & (depth >= depth_min) & (depth <= depth_max) & (depth > 0)
    return np.where(keep, depth, 0).astype(np.float32)


def check_depth_size(depth_path: Path, shape: tuple[int, int], camera: Camera) -> None:
    h, w = shape
    if camera.size is not None:
        if (h, w) != tuple(camera.size):
            raise ScanError(depth_path, f"depth image is {w}x{h} but the intrinsics ({camera.source}) "
                                        f"are for {camera.size[1]}x{camera.size[0]}")
        return
    # Intrinsics without a size (ScanNet txt): the principal point must lie near the centre.
    cx, cy = camera.K[0, 2], camera.K[1, 2]
    if not (0.25 * w < cx < 0.75 * w and 0.25 * h < cy < 0.75 * h):
        raise ScanError(depth_path, f"depth image is {w}x{h} but the principal point of the intrinsics "
                                    f"({camera.source}) is ({cx:.1f}, {cy:.1f}): wrong image size for them")


def rgbd_scan(path: Path, layout: str, files: list[FrameFiles], poses: np.ndarray, camera: Camera, *,
              depth_scale: float, depth_min: float, depth_max: float, meta: dict | None = None,
              ground_truth: GroundTruth | None = None, mesh_path: Path | None = None) -> Scan:
    """A Scan whose frames are decoded on demand from `files`."""
    poses = np.asarray(poses, dtype=np.float64).reshape(-1, 4, 4)
    if len(poses) != len(files):
        raise ScanError(path, f"{len(poses)} poses for {len(files)} frames")
    K = camera.K

    def load(i: int) -> Frame:
        f = files[i]
        depth = read_depth(f.depth, depth_scale)
        check_depth_size(f.depth, depth.shape, camera)
        size = depth.shape
        color = resize_color(read_color(f.color), size)
        inst = sem = None
        if f.instance is not None:
            inst = resize_labels(read_label_image(f.instance, "instance"), size)
        if f.semantic is not None:
            sem = resize_labels(read_label_image(f.semantic, "semantic"), size)
        return Frame(index=f.number, color=color, depth=clean_depth(depth, depth_min, depth_max),
                     intrinsics=K.copy(), pose=poses[i].copy(), name=f.color.stem,
                     gt_instance=inst, gt_class=sem)

    info = {"depth_scale": depth_scale, "intrinsics_source": str(camera.source),
            "frame_numbers": [f.number for f in files]}
    info.update(meta or {})
    return Scan(path=Path(path), layout=layout, frame_count=len(files), _loader=load, meta=info,
                ground_truth=ground_truth, mesh_path=mesh_path)


def numbered_files(folder: Path, suffixes: tuple[str, ...], prefix: str = "") -> dict[int, Path]:
    """{frame number: file} for files named <prefix><digits><suffix> in `folder`."""
    out: dict[int, Path] = {}
    if not folder.is_dir():
        return out
    for p in folder.iterdir():
        name = p.name
        if not name.startswith(prefix) or p.suffix.lower() not in suffixes:
            continue
        digits = name[len(prefix):len(name) - len(p.suffix)]
        if digits.isascii() and digits.isdigit():  # "²" is a digit to str.isdigit, not to int()
            out[int(digits)] = p
    return out
