"""Record3D exports: a `.r3d` file (a zip) or the folder it unzips to.

    metadata        JSON: "K" 9 numbers, column-major, for the w x h colour image;
                    "w", "h" colour size; "dw", "dh" depth size; "poses": per frame
                    [qx, qy, qz, qw, tx, ty, tz], camera-to-world, ARKit (OpenGL) axes
    rgbd/N.jpg      colour, N = 0, 1, ...
    rgbd/N.depth    LZFSE-compressed float32 metres, dh x dw (LiDAR resolution)
    rgbd/N.conf     LZFSE-compressed uint8 confidence 0 (low), 1, 2 (high); optional

Low-confidence depth (below `min_confidence`, default 1) is dropped.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np

from ..errors import ScanError
from ..types import Scan
from .capture import CaptureCamera, CaptureFrame, capture_scan, decode_color_bytes
from .conventions import engine_poses, intrinsics_from_values, quaternion_pose_rows
from .frames import pose_problems


def is_record3d(path: Path) -> bool:
    if path.is_file():
        return path.suffix.lower() == ".r3d"
    return path.is_dir() and (path / "metadata").is_file() and (path / "rgbd").is_dir()


class _Archive:
    """Members of the .r3d zip or files of the unzipped folder, by relative name."""

    def __init__(self, path: Path):
        self.path = path
        self.zip = None
        if path.is_file():
            try:
                self.zip = zipfile.ZipFile(path)
                self.names = set(self.zip.namelist())
            except (zipfile.BadZipFile, OSError) as exc:
                raise ScanError(path, f"not a Record3D .r3d file (a zip archive): {exc}") from None
        else:
            rgbd = path / "rgbd"
            self.names = {"metadata"} if (path / "metadata").is_file() else set()
            self.names |= {f"rgbd/{p.name}" for p in rgbd.iterdir()} if rgbd.is_dir() else set()

    def where(self, name: str) -> str:
        return f"{self.path}:{name}" if self.zip is not None else str(self.path / name)

    def read(self, name: str) -> bytes:
        if name not in self.names:
            raise ScanError(self.where(name), "missing from the Record3D export")
        try:
            return self.zip.read(name) if self.zip is not None else (self.path / name).read_bytes()
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            raise ScanError(self.where(name), f"cannot read: {exc}") from None


def decompress(data: bytes, source: str, dtype, shape: tuple[int, int]) -> np.ndarray:
    """LZFSE bytes -> array of `shape`; truncated or corrupt data is an error naming `source`."""
    try:
        import lzfse
    except ImportError:
        raise ScanError(source, "Record3D depth is LZFSE-compressed: install the 'lzfse' package "
                                "(pip install lzfse)") from None

    try:
        raw = lzfse.decompress(data)
    except lzfse.error:
        raise ScanError(source, f"corrupt or truncated LZFSE data ({len(data)} bytes)") from None
    need = int(np.prod(shape)) * np.dtype(dtype).itemsize
    if len(raw) != need:
        raise ScanError(source, f"decompressed to {len(raw)} bytes, {need} expected for "
                                f"{shape[1]}x{shape[0]} {np.dtype(dtype).name} (truncated, or dw/dh wrong in metadata)")
    return np.frombuffer(raw, dtype=dtype).reshape(shape)


def read_record3d(path: str | Path, *, depth_min: float = 0.1, depth_max: float = 6.0,
                  depth_scale: float | None = None, intrinsics=None, min_confidence: int | None = 1) -> Scan:
    path = Path(path)
    archive = _Archive(path)
    meta_src = archive.where("metadata")
    if "metadata" not in archive.names:
        raise ScanError(meta_src, "Record3D metadata not found (the export has no 'metadata' JSON)")
    try:
        meta = json.loads(archive.read("metadata"))
        K = intrinsics_from_values(meta["K"], column_major=True, source=meta_src)
        size = (int(meta["h"]), int(meta["w"]))
        depth_shape = (int(meta["dh"]), int(meta["dw"]))
        pose_rows = np.asarray(meta["poses"], dtype=np.float64)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ScanError(meta_src, f"metadata is not valid JSON: {exc}") from None
    except KeyError as exc:
        raise ScanError(meta_src, f"metadata lacks {exc} (needs K, w, h, dw, dh, poses)") from None
    except TypeError as exc:
        raise ScanError(meta_src, f"malformed metadata: {exc}") from None
    if pose_rows.ndim != 2 or pose_rows.shape[1] != 7:
        raise ScanError(meta_src, f"poses must be rows of 7 numbers (qx qy qz qw tx ty tz), got shape {pose_rows.shape}")
    numbers = sorted(int(n[5:-6]) for n in archive.names
                     if n.startswith("rgbd/") and n.endswith(".depth") and n[5:-6].isdigit())
    if not numbers:
        raise ScanError(archive.where("rgbd"), "no depth frames (rgbd/N.depth)")
    if len(pose_rows) != len(numbers):
        raise ScanError(meta_src, f"{len(pose_rows)} poses in metadata but {len(numbers)} depth frames in rgbd/")
    raw = quaternion_pose_rows(pose_rows, "qx qy qz qw tx ty tz")
    for n, problem in zip(numbers, pose_problems(raw)):
        if problem is not None:
            raise ScanError(meta_src, f"pose of frame {n}: {problem}")
    frames = []
    for n in numbers:
        jpg = f"rgbd/{n}.jpg"
        if jpg not in archive.names:
            raise ScanError(archive.where(jpg), "colour image for this depth frame is missing")
        conf = f"rgbd/{n}.conf"
        frames.append(CaptureFrame(
            n, str(n),
            color=lambda size, jpg=jpg: decode_color_bytes(archive.read(jpg), archive.where(jpg), size),
            depth=lambda d=f"rgbd/{n}.depth": decompress(archive.read(d), archive.where(d), np.float32, depth_shape),
            depth_source=archive.where(f"rgbd/{n}.depth"),
            confidence=(lambda c=conf: decompress(archive.read(c), archive.where(c), np.uint8, depth_shape))
            if conf in archive.names else None))
    return capture_scan(path, "record3d", frames, engine_poses(raw, axes="opengl"), CaptureCamera(K, size, meta_src),
                        depth_scale=1.0, depth_min=depth_min, depth_max=depth_max, min_confidence=min_confidence,
                        intrinsics=intrinsics, depth_scale_override=depth_scale, pose_source=meta_src,
                        meta={"fps": meta.get("fps")})
