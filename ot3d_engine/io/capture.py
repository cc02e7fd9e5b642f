"""Frame assembly shared by the capture-format readers (7-Scenes, TUM, phones, nerfstudio).

A reader lists per frame where its colour, depth and confidence come from (files, zip
members, video frames: any zero-argument callable), the pose already converted by
io.conventions, and the intrinsics with the image size they belong to. Everything a
format must not get wrong on its own lives here, once: raw depth units and invalid codes,
dropping low-confidence depth, scaling K to the depth grid, resampling colour to it, the
`--intrinsics`/`--depth-scale` overrides and the depth range.
"""

from __future__ import annotations

import io as _io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

from ..errors import ScanError
from ..types import Frame, Scan
from .conventions import check_intrinsics, depth_intrinsics
from .frames import check_poses, clean_depth
from .images import _PIL_ERRORS, read_color, read_uint16_image, resize_color, resize_labels

Loader = Callable[[], np.ndarray]
ColorLoader = Callable[[tuple[int, int]], np.ndarray]  # given the depth grid; may decode at a size near it


@dataclass
class CaptureFrame:
    number: int  # the format's own frame number (file number, video frame, position)
    name: str
    color: ColorLoader  # (h, w) of the depth grid -> HxWx3 uint8, at least that size or exactly the image's
    depth: Loader  # -> HxW raw depth, any numeric dtype; divided by the depth scale
    depth_source: str  # file (or member) named in errors about this frame's depth
    confidence: Loader | None = None  # -> HxW integer confidence, same field of view as depth
    K: np.ndarray | None = None  # per-frame intrinsics, else the capture's
    K_size: tuple[int, int] | None = None  # (h, w) the per-frame K belongs to


@dataclass
class CaptureCamera:
    K: np.ndarray | None  # intrinsics shared by all frames (None: every frame has its own)
    size: tuple[int, int] | None  # (h, w) they belong to; None = the depth image's
    source: str


IntrinsicsOverride = tuple[np.ndarray, "tuple[int, int] | None"]


def capture_scan(path: Path, layout: str, frames: list[CaptureFrame], poses: np.ndarray,
                 camera: CaptureCamera, *, depth_scale: float, depth_min: float, depth_max: float,
                 invalid_raw: tuple[int, ...] = (), min_confidence: float | None = None,
                 intrinsics: IntrinsicsOverride | None = None, depth_scale_override: float | None = None,
                 pose_source: Path | str | None = None, postprocess=None, meta: dict | None = None) -> Scan:
    """A lazily decoded Scan; poses must already be engine camera-to-world (OpenCV axes)."""
    poses = np.asarray(poses, dtype=np.float64).reshape(-1, 4, 4)
    if len(poses) != len(frames):
        raise ScanError(pose_source or path, f"{len(poses)} poses for {len(frames)} frames")
    if not frames:
        raise ScanError(path, "the scan has no frames")
    check_poses(poses, Path(pose_source or path), "pose")
    scale = float(depth_scale_override if depth_scale_override is not None else depth_scale)
    if not scale > 0:
        raise ScanError(path, f"depth scale must be positive, got {scale}")
    if intrinsics is None and camera.K is not None:
        check_intrinsics(camera.K, camera.source)
    invalid = np.asarray(invalid_raw)

    def load(i: int) -> Frame:
        f = frames[i]
        raw = np.asarray(f.depth())
        if raw.ndim != 2:
            raise ScanError(f.depth_source, f"depth has shape {raw.shape}, a single-channel image is expected")
        with np.errstate(invalid="ignore"):
            depth = raw.astype(np.float32) / np.float32(scale)
        if invalid.size:
            depth[np.isin(raw, invalid)] = 0
        shape = depth.shape
        if f.confidence is not None and min_confidence is not None:
            conf = np.asarray(f.confidence())
            if conf.ndim == 3:
                conf = conf[..., 0]
            depth[resize_labels(conf, shape) < min_confidence] = 0
        if intrinsics is not None:
            K = depth_intrinsics(intrinsics[0], intrinsics[1], shape, "--intrinsics")
        elif f.K is not None:
            K = depth_intrinsics(f.K, f.K_size, shape, f.depth_source)
        else:
            K = depth_intrinsics(camera.K, camera.size, shape, camera.source)
        color = resize_color(f.color(shape), shape)
        if postprocess is not None:
            depth, color = postprocess(i, depth, color, K)
        return Frame(index=f.number, color=color, depth=clean_depth(depth, depth_min, depth_max),
                     intrinsics=K, pose=poses[i].copy(), name=f.name)

    info = {"depth_scale": scale, "intrinsics_source": "--intrinsics" if intrinsics is not None else camera.source,
            "frame_numbers": [f.number for f in frames], "min_confidence": min_confidence}
    info.update(meta or {})
    return Scan(path=Path(path), layout=layout, frame_count=len(frames), _loader=load, meta=info)


# ---------------------------------------------------------------- loaders

def color_file(path: Path) -> ColorLoader:
    """A colour image file; JPEGs far larger than the depth grid are decoded at a reduced
    scale (PIL draft: the decoder skips detail the resampling would average away anyway)."""
    if path.suffix.lower() not in (".jpg", ".jpeg"):
        return lambda size: read_color(path)

    def load(size):
        if not path.is_file() or path.stat().st_size == 0:
            return read_color(path)  # its one-line error for a missing or empty file
        return _decode_jpeg(lambda: Image.open(path), str(path), size)

    return load


def _decode_jpeg(open_image, source: str, size: tuple[int, int] | None) -> np.ndarray:
    try:
        with open_image() as im:
            if size is not None and im.format == "JPEG":
                im.draft("RGB", (size[1], size[0]))  # never below the requested size
            im.load()
            return np.ascontiguousarray(np.asarray(im.convert("RGB"), dtype=np.uint8))
    except _PIL_ERRORS as exc:
        raise ScanError(source, f"cannot decode colour image: {exc}") from None


def depth_png(path: Path) -> Loader:
    return lambda: read_uint16_image(path, "depth")


def depth_npy(path: Path) -> Loader:
    """A depth array saved with numpy (nerfstudio and Stray Scanner allow .npy besides PNG)."""
    def load():
        try:
            return np.load(path, allow_pickle=False)
        except (ValueError, OSError) as exc:
            raise ScanError(path, f"cannot read depth array: {exc}") from None
    return load


def depth_file(path: Path) -> Loader:
    return depth_npy(path) if path.suffix.lower() == ".npy" else depth_png(path)


def confidence_png(path: Path) -> Loader | None:
    if not path.is_file():
        return None
    return lambda: read_8bit_image(path, "confidence")


def read_8bit_image(path: Path, kind: str) -> np.ndarray:
    if not path.is_file():
        raise ScanError(path, f"{kind} image not found")
    try:
        with Image.open(path) as im:
            im.load()
            arr = np.asarray(im)
    except _PIL_ERRORS as exc:
        raise ScanError(path, f"cannot decode {kind} image: {exc}") from None
    return arr


def decode_color_bytes(data: bytes, source: str, size: tuple[int, int] | None = None) -> np.ndarray:
    """Colour from encoded bytes (a zip member) -> HxWx3 uint8, errors naming `source`."""
    if not data:
        raise ScanError(source, "colour image is empty (0 bytes)")
    return _decode_jpeg(lambda: Image.open(_io.BytesIO(data)), source, size)


_NUMBER = re.compile(r"(\d+)")


def number_in(name: str) -> int | None:
    """The last run of digits in a file name (frame_00012.jpg -> 12)."""
    found = _NUMBER.findall(Path(name).stem)
    return int(found[-1]) if found else None
