"""PLY with arbitrary per-vertex attributes (instance ids, class ids) and optional faces.

open3d's legacy writer drops custom attributes, so the engine writes PLY itself:
binary little-endian, one structured numpy array per element, no per-vertex loops.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import ScanError
from .atomic import atomic_path
from .text_rows import parse_rows

_PLY_TO_NP = {
    "char": "i1", "int8": "i1", "uchar": "u1", "uint8": "u1",
    "short": "i2", "int16": "i2", "ushort": "u2", "uint16": "u2",
    "int": "i4", "int32": "i4", "uint": "u4", "uint32": "u4",
    "float": "f4", "float32": "f4", "double": "f8", "float64": "f8",
}
_NP_TO_PLY = {"i1": "char", "u1": "uchar", "i2": "short", "u2": "ushort",
              "i4": "int", "u4": "uint", "f4": "float", "f8": "double"}


def write_ply(path: str | Path, vertex: dict[str, np.ndarray], faces: np.ndarray | None = None) -> None:
    """vertex: name -> 1-D array (all the same length); faces: Fx3 int vertex indices."""
    names = list(vertex)
    n = len(next(iter(vertex.values()))) if names else 0
    dtype = []
    for name in names:
        arr = np.asarray(vertex[name])
        if arr.ndim != 1 or len(arr) != n:
            raise ValueError(f"PLY attribute {name!r} must be 1-D of length {n}")
        code = arr.dtype.str.lstrip("<>|=")
        if code == "i8":
            code = "i4"
        elif code == "u8":
            code = "u4"
        elif code not in _NP_TO_PLY:
            raise ValueError(f"PLY attribute {name!r}: unsupported dtype {arr.dtype}")
        dtype.append((name, "<" + code))
    data = np.empty(n, dtype=dtype)
    for name in names:
        data[name] = vertex[name]
    header = ["ply", "format binary_little_endian 1.0", f"element vertex {n}"]
    header += [f"property {_NP_TO_PLY[d[1][1:]]} {d[0]}" for d in dtype]
    face_data = None
    if faces is not None:
        faces = np.asarray(faces, dtype="<i4").reshape(-1, 3)
        face_data = np.empty(len(faces), dtype=[("n", "u1"), ("v", "<i4", (3,))])
        face_data["n"] = 3
        face_data["v"] = faces
        header += [f"element face {len(faces)}", "property list uchar int vertex_indices"]
    header.append("end_header")
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(("\n".join(header) + "\n").encode("ascii"))
            fh.write(data.tobytes())
            if face_data is not None:
                fh.write(face_data.tobytes())


def read_ply(path: str | Path) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
    """Read vertex attributes and triangle faces (ascii or binary little/big endian)."""
    path = Path(path)
    if not path.is_file():
        raise ScanError(path, "PLY file not found")
    raw = path.read_bytes()
    end = raw.find(b"end_header")
    if not raw.startswith(b"ply") or end < 0:
        raise ScanError(path, "not a PLY file (missing 'ply' magic or 'end_header')")
    nl = raw.find(b"\n", end)
    body_start = len(raw) if nl < 0 else nl + 1
    fmt, elements = _parse_header(path, raw[:end].decode("ascii", errors="replace").splitlines())
    try:
        if fmt == "ascii":
            return _read_ascii(path, raw[body_start:], elements, raw[:body_start].count(b"\n") + 1)
        return _read_binary(path, memoryview(raw)[body_start:], elements, "<" if fmt == "binary_little_endian" else ">")
    except (ValueError, IndexError, OverflowError) as exc:  # malformed list counts/indices
        raise ScanError(path, f"PLY data is truncated or malformed ({exc})") from None


def _parse_header(path: Path, lines: list[str]) -> tuple[str, list[tuple[str, int, list]]]:
    fmt = None
    elements: list[tuple[str, int, list]] = []
    for number, line in enumerate(lines[1:], 2):
        parts = line.split()
        if not parts or parts[0] in ("comment", "obj_info"):
            continue
        try:
            if parts[0] == "format":
                fmt = parts[1]
            elif parts[0] == "element":
                count = int(parts[2])
                if count < 0:
                    raise ValueError(f"negative count {count}")
                elements.append((parts[1], count, []))
            elif parts[0] == "property":
                if not elements:
                    raise ScanError(path, f"header line {number}: PLY property before any element")
                if parts[1] == "list":
                    if parts[2] not in _PLY_TO_NP or parts[3] not in _PLY_TO_NP:
                        raise ScanError(path, f"header line {number}: unknown PLY list type in {line.strip()!r}")
                    elements[-1][2].append((parts[4], ("list", parts[2], parts[3])))
                else:
                    if parts[1] not in _PLY_TO_NP:
                        raise ScanError(path, f"header line {number}: unknown PLY property type {parts[1]!r}")
                    elements[-1][2].append((parts[2], _PLY_TO_NP[parts[1]]))
        except (ValueError, IndexError) as exc:
            raise ScanError(path, f"header line {number}: malformed {line.strip()[:60]!r} ({exc})") from None
    if fmt not in ("ascii", "binary_little_endian", "binary_big_endian"):
        raise ScanError(path, f"unsupported PLY format {fmt!r}")
    return fmt, elements


def _read_ascii(path: Path, body: bytes, elements, first_line: int):
    """One element row per line; a row with a value too many or too few is an error naming its line."""
    vertex: dict[str, np.ndarray] = {}
    faces = None
    offset, line = 0, first_line
    for name, count, props in elements:
        rest = body[offset:]
        if any(isinstance(p[1], tuple) for p in props):
            rows, consumed = [], 0
            lines = rest.split(b"\n")
            for text in lines:
                consumed += len(text) + 1
                line += 1
                if len(rows) == count:
                    consumed -= len(text) + 1
                    line -= 1
                    break
                tokens = text.split()
                if not tokens:
                    continue
                row, pos = [], 0
                for _pname, ptype in props:
                    if isinstance(ptype, tuple):
                        k = int(tokens[pos]); pos += 1
                        if k < 0 or pos + k > len(tokens):
                            raise ScanError(path, f"line {line - 1}: list of {k} values, {len(tokens) - pos} given")
                        row.append([int(t) for t in tokens[pos:pos + k]]); pos += k
                    else:
                        row.append(float(tokens[pos])); pos += 1
                if pos != len(tokens):
                    raise ScanError(path, f"line {line - 1}: {len(tokens)} values, {pos} expected (PLY element {name!r})")
                rows.append(row)
            if len(rows) < count:
                raise ScanError(path, f"PLY element {name!r}: {len(rows)} rows, {count} expected (file truncated?)")
            offset += min(consumed, len(rest))
            if name == "face":
                idx = [i for i, p in enumerate(props) if isinstance(p[1], tuple)][0]
                faces = _triangulate([r[idx] for r in rows])
            continue
        last = name == elements[-1][0]
        table, stop = parse_rows(path, rest, len(props), count, line, f"PLY element {name!r}", exact_end=last)
        line += rest[:stop].count(b"\n")
        offset += stop
        if name == "vertex":
            with np.errstate(invalid="ignore", over="ignore"):
                for j, (pname, ptype) in enumerate(props):
                    vertex[pname] = table[:, j].astype(ptype)
    return vertex, faces


def _read_binary(path: Path, buf: memoryview, elements, order: str):
    vertex: dict[str, np.ndarray] = {}
    faces = None
    offset = 0
    for name, count, props in elements:
        lists = [p for p in props if isinstance(p[1], tuple)]
        if not lists:
            dt = np.dtype([(p[0], order + p[1]) for p in props])
            need = dt.itemsize * count
            if offset + need > len(buf):
                raise ScanError(path, f"PLY element {name!r} is truncated ({count} expected)")
            arr = np.frombuffer(buf[offset:offset + need], dtype=dt)
            offset += need
            if name == "vertex":
                vertex = {p[0]: arr[p[0]].astype(p[1]) for p in props}
            continue
        # faces: fast path for the common all-triangles "uchar count + int indices" layout
        if len(props) == 1:
            _, (_, ctype, itype) = props[0]
            cdt, idt = np.dtype(order + _PLY_TO_NP[ctype]), np.dtype(order + _PLY_TO_NP[itype])
            tri = np.dtype([("n", cdt), ("v", idt, (3,))])
            need = tri.itemsize * count
            if offset + need <= len(buf):
                arr = np.frombuffer(buf[offset:offset + need], dtype=tri)
                if np.all(arr["n"] == 3):
                    if name == "face":
                        faces = arr["v"].astype(np.int64)
                    offset += need
                    continue
            polys = []
            for _ in range(count):
                if offset + cdt.itemsize > len(buf):
                    raise ScanError(path, f"PLY element {name!r} is truncated ({count} expected)")
                k = int(np.frombuffer(buf[offset:offset + cdt.itemsize], dtype=cdt)[0])
                offset += cdt.itemsize
                if k < 0 or offset + k * idt.itemsize > len(buf):
                    raise ScanError(path, f"PLY element {name!r} is truncated or has a bad list size {k}")
                polys.append(np.frombuffer(buf[offset:offset + k * idt.itemsize], dtype=idt).tolist())
                offset += k * idt.itemsize
            if name == "face":
                faces = _triangulate(polys)
        else:
            raise ScanError(path, f"PLY element {name!r} mixes list and scalar properties (unsupported)")
    return vertex, faces


def _triangulate(polys) -> np.ndarray:
    tris = [(p[0], p[i], p[i + 1]) for p in polys for i in range(1, len(p) - 1)]
    return np.asarray(tris, dtype=np.int64).reshape(-1, 3)
