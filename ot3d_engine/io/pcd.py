"""PCL `.pcd` reader: ascii, binary and binary_compressed (LZF), any fields.

Own reader rather than open3d's because open3d drops non-geometric fields (the mOSD
`label` field is the ground truth) and cannot report organized width/height.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import ScanError
from .lzf import LZFError, decompress
from .text_rows import parse_rows

_TYPES = {("F", 4): "<f4", ("F", 8): "<f8",
          ("U", 1): "<u1", ("U", 2): "<u2", ("U", 4): "<u4", ("U", 8): "<u8",
          ("I", 1): "<i1", ("I", 2): "<i2", ("I", 4): "<i4", ("I", 8): "<i8"}


@dataclass
class PointCloudData:
    """Fields as arrays of length width*height (shape (N,) or (N, count))."""

    fields: dict[str, np.ndarray]
    width: int
    height: int
    viewpoint: tuple[float, ...] = (0, 0, 0, 1, 0, 0, 0)
    path: Path | None = field(default=None, repr=False)

    @property
    def organized(self) -> bool:
        return self.height > 1

    @property
    def count(self) -> int:
        return self.width * self.height

    def xyz(self) -> np.ndarray:
        return np.stack([self.fields[k] for k in ("x", "y", "z")], axis=-1).astype(np.float32)


def unpack_rgb(values: np.ndarray) -> np.ndarray:
    """PCL packed rgb/rgba (float32 or uint32 bit pattern 0xAARRGGBB) -> Nx3 uint8."""
    v = np.ascontiguousarray(values)
    if v.dtype.kind == "f":
        v = v.astype(np.float32).view(np.uint32)
    v = v.astype(np.uint32)
    return np.stack([(v >> 16) & 255, (v >> 8) & 255, v & 255], axis=-1).astype(np.uint8)


def read_pcd(path: str | Path) -> PointCloudData:
    path = Path(path)
    if not path.is_file():
        raise ScanError(path, "PCD file not found")
    raw = path.read_bytes()
    if not raw:
        raise ScanError(path, "PCD file is empty")
    header, body_start = _parse_header(path, raw)
    names, dtypes, counts = header["fields"], header["dtypes"], header["counts"]
    n = header["width"] * header["height"]
    if header["points"] != n:
        raise ScanError(path, f"POINTS {header['points']} != WIDTH*HEIGHT {n}")
    data = header["data"]
    body = memoryview(raw)[body_start:]
    if data == "ascii":
        fields = _read_ascii(path, body, names, dtypes, counts, n, raw[:body_start].count(b"\n") + 1)
    elif data == "binary":
        rec = np.dtype([(f"f{i}", dt, (c,)) for i, (dt, c) in enumerate(zip(dtypes, counts))])
        need = rec.itemsize * n
        if len(body) < need:
            raise ScanError(path, f"binary PCD data truncated: {len(body)} bytes, {need} expected for {n} points")
        arr = np.frombuffer(body[:need], dtype=rec)
        fields = {name: _squeeze(arr[f"f{i}"]) for i, name in enumerate(names)}
    elif data == "binary_compressed":
        fields = _read_compressed(path, body, names, dtypes, counts, n)
    else:
        raise ScanError(path, f"unsupported PCD DATA type {data!r} (ascii, binary, binary_compressed)")
    fields = {k: v for k, v in fields.items() if k != "_"}  # PCL padding fields
    return PointCloudData(fields, header["width"], header["height"], header["viewpoint"], path)


def _parse_header(path: Path, raw: bytes) -> tuple[dict, int]:
    keys: dict[str, list[str]] = {}
    pos = 0
    while True:
        nl = raw.find(b"\n", pos)
        if nl < 0:
            raise ScanError(path, "PCD header has no DATA line (not a PCD file or truncated)")
        line = raw[pos:nl].decode("ascii", errors="replace").strip()
        pos = nl + 1
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        keys[parts[0].upper()] = parts[1:]
        if parts[0].upper() == "DATA":
            break
        if len(keys) > 20 or pos > 4096:
            raise ScanError(path, "not a PCD file (no DATA line in the header)")
    try:
        names = keys["FIELDS"]
        sizes = [int(s) for s in keys["SIZE"]]
        types = [t.upper() for t in keys["TYPE"]]
        counts = [int(c) for c in keys.get("COUNT", ["1"] * len(names))]
        width = int(keys["WIDTH"][0])
        height = int(keys.get("HEIGHT", ["1"])[0])
        points = int(keys.get("POINTS", [str(width * height)])[0])
        viewpoint = tuple(float(v) for v in keys.get("VIEWPOINT", ["0", "0", "0", "1", "0", "0", "0"]))
        data = keys["DATA"][0].lower()
    except (KeyError, ValueError, IndexError) as exc:
        raise ScanError(path, f"malformed PCD header ({exc!r})") from None
    if not (len(names) == len(sizes) == len(types) == len(counts)) or not names:
        raise ScanError(path, "PCD header FIELDS/SIZE/TYPE/COUNT lengths differ")
    try:
        dtypes = [_TYPES[(t, s)] for t, s in zip(types, sizes)]
    except KeyError as exc:
        raise ScanError(path, f"unsupported PCD field TYPE/SIZE {exc.args[0]}") from None
    if width < 0 or height < 1 or points < 0 or any(c < 1 for c in counts):
        raise ScanError(path, f"bad PCD WIDTH/HEIGHT {width}x{height}")
    return dict(fields=names, dtypes=dtypes, counts=counts, width=width, height=height,
                points=points, viewpoint=viewpoint, data=data), pos


def _squeeze(a: np.ndarray) -> np.ndarray:
    return a[:, 0].copy() if a.ndim == 2 and a.shape[1] == 1 else a.copy()


def _read_ascii(path, body, names, dtypes, counts, n, first_line) -> dict[str, np.ndarray]:
    """One point per line, exactly sum(COUNT) values on each (a stray value is an error
    naming its line, not a shift of every later point)."""
    width = sum(counts)
    table, _ = parse_rows(path, bytes(body), width, n, first_line, "ascii PCD data")
    out, col = {}, 0
    with np.errstate(invalid="ignore", over="ignore"):
        for name, dt, c in zip(names, dtypes, counts):
            block = table[:, col:col + c]
            col += c
            out[name] = _squeeze(block.astype(dt))
    return out


def _read_compressed(path, body, names, dtypes, counts, n) -> dict[str, np.ndarray]:
    if len(body) < 8:
        raise ScanError(path, "binary_compressed PCD data truncated (no size header)")
    csize, usize = struct.unpack("<II", body[:8])
    sizes = [np.dtype(dt).itemsize * c * n for dt, c in zip(dtypes, counts)]
    if usize != sum(sizes):
        raise ScanError(path, f"compressed PCD declares {usize} bytes, fields need {sum(sizes)}")
    if len(body) - 8 < csize:
        raise ScanError(path, f"compressed PCD data truncated: {len(body) - 8} of {csize} bytes")
    try:
        plain = decompress(body[8:8 + csize], usize) if usize else b""
    except LZFError as exc:
        raise ScanError(path, f"corrupt LZF data: {exc}") from None
    if len(plain) != usize:
        raise ScanError(path, f"corrupt LZF data: {len(plain)} bytes decoded, {usize} declared")
    out, off = {}, 0
    for name, dt, c, size in zip(names, dtypes, counts, sizes):  # field-major (struct of arrays)
        arr = np.frombuffer(plain, dtype=dt, count=n * c, offset=off).reshape(n, c)
        out[name] = _squeeze(arr)
        off += size
    return out
