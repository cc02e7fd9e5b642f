"""Colour, depth and label images, read with clear errors and converted to engine conventions.

Depth is read as raw 16-bit integers and divided by the dataset's scale. 16-bit binary
PGM (P5) is parsed here rather than through PIL, whose conversion of big-endian PGM has
changed between versions; PNG goes through PIL with an explicit 16-bit mode check, so an
8-bit image handed in as depth fails loudly instead of giving depths of a few millimetres.
"""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import ScanError

_PIL_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, struct.error, zlib.error,
               Image.DecompressionBombError)
_SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I")


_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _read_bytes(path: Path, kind: str) -> bytes:
    """The whole file, or a one-line error naming it: missing, unreadable or empty."""
    if not path.is_file():
        raise ScanError(path, f"{kind} image not found")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ScanError(path, f"cannot read {kind} image: {exc.strerror or exc}") from None
    if not raw:
        raise ScanError(path, f"{kind} image is empty (0 bytes)")
    return raw


def _open_checked(path: Path, kind: str) -> Image.Image:
    raw = _read_bytes(path, kind)
    if raw.startswith(_PNG_MAGIC):
        verify_png(path, raw, kind)
    try:
        im = Image.open(io.BytesIO(raw))
        im.load()
    except _PIL_ERRORS as exc:
        raise ScanError(path, f"cannot decode {kind} image: {exc}") from None
    return im


def verify_png(path: Path, raw: bytes, kind: str = "") -> None:
    """Every chunk's CRC and the end marker. PIL checks neither for image data (IDAT), so a
    flipped byte there can decode into a wrong image with no error; crc32 runs at GB/s."""
    what = f"cannot decode {kind} image: PNG" if kind else "PNG"
    pos, end = len(_PNG_MAGIC), len(raw)
    while True:
        if pos + 8 > end:
            raise ScanError(path, f"{what} is truncated (no IEND chunk)")
        length, ctype = struct.unpack(">I4s", raw[pos:pos + 8])
        if pos + 12 + length > end:
            raise ScanError(path, f"{what} is truncated (chunk {ctype!r} at byte {pos} runs past the end)")
        body = raw[pos + 4:pos + 8 + length]
        (crc,) = struct.unpack(">I", raw[pos + 8 + length:pos + 12 + length])
        if zlib.crc32(body) != crc:
            raise ScanError(path, f"{what} is corrupt (CRC mismatch in chunk {ctype!r} at byte {pos})")
        pos += 12 + length
        if ctype == b"IEND":
            return


def read_color(path: str | Path) -> np.ndarray:
    """-> HxWx3 uint8 RGB; grey, palette, RGBA and 16-bit images are converted."""
    path = Path(path)
    im = _open_checked(path, "colour")
    if im.mode in _SIXTEEN_BIT_MODES:
        grey = np.asarray(im).astype(np.float64)
        scale = 255.0 / max(float(grey.max()), 1.0) if grey.max() > 255 else 1.0
        g = np.clip(grey * scale, 0, 255).astype(np.uint8)
        return np.repeat(g[..., None], 3, axis=2)
    if im.mode != "RGB":
        im = im.convert("RGB")
    return np.ascontiguousarray(np.asarray(im, dtype=np.uint8))


def read_uint16_image(path: str | Path, kind: str = "depth") -> np.ndarray:
    """-> HxW uint16 from a 16-bit PNG or binary PGM; ScanError if the file is 8-bit."""
    path = Path(path)
    if path.suffix.lower() in (".pgm", ".pnm"):
        return _read_pgm16(path, kind)
    im = _open_checked(path, kind)
    if im.mode not in _SIXTEEN_BIT_MODES:
        raise ScanError(path, f"{kind} image is {im.mode!r} ({_bits(im.mode)}), a 16-bit single-channel image is expected")
    arr = np.asarray(im)
    if arr.ndim != 2:
        raise ScanError(path, f"{kind} image has shape {arr.shape}, a single channel is expected")
    if arr.dtype != np.uint16:
        if arr.min() < 0 or arr.max() > 65535:
            raise ScanError(path, f"{kind} image values outside the 16-bit range")
        arr = arr.astype(np.uint16)
    return arr


def read_depth(path: str | Path, scale: float) -> np.ndarray:
    """-> HxW float32 metres (raw / scale); 0 stays 0 (= no depth)."""
    if not scale > 0:
        raise ScanError(path, f"depth scale must be positive, got {scale}")
    raw = read_uint16_image(path, "depth")
    return (raw.astype(np.float32) / np.float32(scale)).astype(np.float32)


def read_label_image(path: str | Path, kind: str = "label") -> np.ndarray:
    """-> HxW int32 ids from a 16-bit (or 8-bit) single-channel PNG."""
    path = Path(path)
    im = _open_checked(path, kind)
    if im.mode in ("L", "P"):
        return np.asarray(im, dtype=np.uint8).astype(np.int32)  # palette: the index is the id
    return read_uint16_image(path, kind).astype(np.int32)


def image_size(path: str | Path) -> tuple[int, int]:
    """(height, width) from the header only (cheap: no pixel decoding)."""
    path = Path(path)
    if not path.is_file():
        raise ScanError(path, "image not found")
    try:
        with Image.open(path) as im:
            w, h = im.size
        if w <= 0 or h <= 0:
            raise ValueError(f"image size {w}x{h}")
    except _PIL_ERRORS as exc:
        raise ScanError(path, f"cannot read image header: {exc}") from None
    return h, w


def resize_color(color: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resample colour to (height, width), area-averaging when shrinking."""
    h, w = size
    if color.shape[:2] == (h, w):
        return color
    return np.asarray(Image.fromarray(color).resize((w, h), Image.BILINEAR))


def resize_labels(labels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resampling for id images (never blends two ids)."""
    h, w = size
    if labels.shape[:2] == (h, w):
        return labels
    rows = np.minimum(((np.arange(h) + 0.5) * labels.shape[0] / h).astype(np.int64), labels.shape[0] - 1)
    cols = np.minimum(((np.arange(w) + 0.5) * labels.shape[1] / w).astype(np.int64), labels.shape[1] - 1)
    return labels[rows[:, None], cols[None, :]]


def scale_intrinsics(K: np.ndarray, from_size: tuple[int, int], to_size: tuple[int, int]) -> np.ndarray:
    """K for an image resampled from (h, w) to (h', w'), pixel centres at integer coordinates."""
    sy = to_size[0] / from_size[0]
    sx = to_size[1] / from_size[1]
    out = np.array(K, dtype=np.float64).copy()
    out[0, 0] *= sx
    out[1, 1] *= sy
    out[0, 1] *= sx
    out[0, 2] = (out[0, 2] + 0.5) * sx - 0.5
    out[1, 2] = (out[1, 2] + 0.5) * sy - 0.5
    return out


def _bits(mode: str) -> str:
    return {"1": "1-bit", "L": "8-bit grey", "P": "8-bit palette", "RGB": "8-bit colour",
            "RGBA": "8-bit colour", "LA": "8-bit grey"}.get(mode, mode)


def _read_pgm16(path: Path, kind: str) -> np.ndarray:
    raw = _read_bytes(path, kind)
    if raw[:2] != b"P5":
        raise ScanError(path, f"not a binary PGM (magic {raw[:2]!r}, expected b'P5')")
    tokens, pos = [], 2
    while len(tokens) < 3:  # width, height, maxval; '#' comments allowed between them
        while pos < len(raw) and raw[pos:pos + 1].isspace():
            pos += 1
        if pos < len(raw) and raw[pos:pos + 1] == b"#":
            pos = raw.find(b"\n", pos)
            if pos < 0:
                break
            continue
        start = pos
        while pos < len(raw) and not raw[pos:pos + 1].isspace():
            pos += 1
        if start == pos:
            break
        tokens.append(raw[start:pos])
    try:
        w, h, maxval = (int(t) for t in tokens)
    except ValueError:
        raise ScanError(path, "malformed PGM header (width, height and maxval expected)") from None
    if w <= 0 or h <= 0:
        raise ScanError(path, f"PGM size {w}x{h}: width and height must be positive")
    if not 0 < maxval <= 65535:
        raise ScanError(path, f"PGM maxval {maxval} is outside 1..65535")
    pos += 1  # the single whitespace byte that ends the header
    if maxval < 256:
        raise ScanError(path, f"{kind} PGM is 8-bit (maxval {maxval}), a 16-bit image is expected")
    need = w * h * 2
    if len(raw) - pos < need:
        raise ScanError(path, f"PGM data truncated: {len(raw) - pos} bytes, {need} expected for {w}x{h}")
    return np.frombuffer(raw, dtype=">u2", count=w * h, offset=pos).reshape(h, w).astype(np.uint16)
