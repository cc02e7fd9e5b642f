"""PLY with arbitrary per-vertex attributes (instance ids, class ids) and optional faces.

open3d's legacy writer drops custom attributes, so the engine writes PLY itself:
binary little-endian, one structured numpy array per element, no per-vertex loops.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import ScanError
from .atomic import atomic_path

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
    body_start = raw.index(b"\n", end) + 1
    lines = raw[:end].decode("ascii", errors="replace").splitlines()
    fmt = None
    elements: list[tuple[str, int, list]] = []
    for line in lines[1:]:
        parts = line.split()
        if not parts or parts[0] in ("comment", "obj_info"):
            continue
        if parts[0] == "format":
            fmt = parts[1]
        elif parts[0] == "element":
            elements.append((parts[1], int(parts[2]), []))
        elif parts[0] == "property":
            if not elements:
                raise ScanError(path, "PLY property before any element")
            if parts[1] == "list":
                elements[-1][2].append((parts[4], ("list", parts[2], parts[3])))
            else:
                if parts[1] not in _PLY_TO_NP:
                    raise ScanError(path, f"unknown PLY property type {parts[1]!r}")
                elements[-1][2].append((parts[2], _PLY_TO_NP[parts[1]]))
    if fmt not in ("ascii", "binary_little_endian", "binary_big_endian"):
        raise ScanError(path, f"unsupported PLY format {fmt!r}")
    vertex: dict[str, np.ndarray] = {}
    faces = None
    if fmt == "ascii":
        tokens = raw[body_start:].split()
        pos = 0
        for name, count, props in elements:
            if any(isinstance(p[1], tuple) for p in props):
                rows = []
                for _ in range(count):
                    row = []
                    for pname, ptype in props:
                        if isinstance(ptype, tuple):
                            k = int(tokens[pos]); pos += 1
                            row.append([int(t) for t in tokens[pos:pos + k]]); pos += k
                        else:
                            row.append(float(tokens[pos])); pos += 1
                    rows.append(row)
                if name == "face":
                    idx = [i for i, p in enumerate(props) if isinstance(p[1], tuple)][0]
                    faces = _triangulate([r[idx] for r in rows])
                continue
            width = len(props)
            try:
                block = np.array(tokens[pos:pos + count * width], dtype=np.float64).reshape(count, width)
            except ValueError:
                raise ScanError(path, f"PLY element {name!r} is truncated or malformed") from None
            pos += count * width
            if name == "vertex":
                for j, (pname, ptype) in enumerate(props):
                    vertex[pname] = block[:, j].astype(ptype)
        return vertex, faces
    order = "<" if fmt == "binary_little_endian" else ">"
    buf = memoryview(raw)[body_start:]
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
                k = int(np.frombuffer(buf[offset:offset + cdt.itemsize], dtype=cdt)[0])
                offset += cdt.itemsize
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
