"""Scene meshes (PLY/OBJ/GLB/glTF) for superpoint refinement, checked on load.

Problems are repaired when the vertex indexing can stay as in the file (per-vertex outputs
follow the ScanNet convention of one label per file vertex): NaN vertices and degenerate
faces are left out of the face list, non-manifold edges are counted and kept. What cannot
be repaired (missing file, corrupt indices, no vertices) is a ScanError naming the file.

PLY goes through io.ply, which keeps custom per-vertex attributes (instance_id...). OBJ is
parsed here by position index: open3d's loader (ASSIMP) reorders vertices and splits them
along texture seams, which would cut the vertex graph apart.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import ScanError
from .ply import read_ply, write_ply

_COLOR_NAMES = (("red", "green", "blue"), ("r", "g", "b"),
                ("diffuse_red", "diffuse_green", "diffuse_blue"))


@dataclass
class Mesh:
    vertices: np.ndarray  # Vx3 float64, as in the file (rows may be non-finite: see valid)
    faces: np.ndarray  # Fx3 int64, only non-degenerate faces over valid vertices
    valid: np.ndarray  # V bool: finite coordinates
    colors: np.ndarray | None = None  # Vx3 uint8
    attributes: dict[str, np.ndarray] = field(default_factory=dict)  # other vertex properties
    path: Path | None = None
    notes: list[str] = field(default_factory=list)  # what was repaired, for the log
    non_manifold_edges: int = 0  # edges shared by more than two faces (kept)

    @property
    def is_point_cloud(self) -> bool:
        return len(self.faces) == 0


_last_loaded: tuple[tuple, Mesh] | None = None  # (file identity, mesh): see load_mesh


def load_mesh(path: str | Path, require_faces: bool = False) -> Mesh:
    """Read and check a PLY, OBJ or GLB/glTF mesh. A file without faces loads as a point
    cloud, or is an error when `require_faces` (superpoints need triangles).

    The last mesh read is kept while its file is unchanged (same inode, size and times): the CLI
    parses the mesh before the first frame so a broken file fails early, and the pipeline's
    refinement asks for it again at the end."""
    global _last_loaded
    path = Path(path)
    if not path.is_file():
        raise ScanError(path, "mesh file not found")
    stat = path.stat()
    identity = (str(path.resolve()), stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns)
    if _last_loaded is not None and _last_loaded[0] == identity:
        mesh = _last_loaded[1]
    else:
        mesh = _parse_mesh(path)
        _last_loaded = (identity, mesh)
    if require_faces and mesh.is_point_cloud:
        why = "; ".join(mesh.notes) if mesh.notes else "the file has no faces"
        raise ScanError(path, f"no usable faces (a point cloud: {why}); "
                              "superpoints need a triangle mesh")
    return mesh


def _parse_mesh(path: Path) -> Mesh:
    suffix = path.suffix.lower()
    if suffix == ".ply":
        props, faces = read_ply(path)
        missing = [c for c in "xyz" if c not in props]
        if missing:
            raise ScanError(path, f"PLY vertices have no {'/'.join(missing)} coordinates")
        vertices = np.stack([props.pop(c).astype(np.float64) for c in "xyz"], axis=1)
        colors = None
        for names in _COLOR_NAMES:
            if all(n in props for n in names):
                colors = np.stack([props.pop(n) for n in names], axis=1)
                colors = _to_uint8(colors)
                break
        attributes = props
    elif suffix == ".obj":
        vertices, colors, faces = _read_obj(path)
        attributes = {}
    elif suffix in (".glb", ".gltf"):  # through trimesh, as the renderer reads it: same vertices
        from .geometry_files import read_geometry

        geo = read_geometry(path)
        vertices, colors, faces, attributes = geo.points, geo.colors, geo.faces, {}
    else:
        raise ScanError(path, f"unsupported mesh format {path.suffix!r} (use .ply, .obj, .glb or .gltf)")
    return check_mesh(vertices, faces, path=path, colors=colors, attributes=attributes)


def check_mesh(vertices: np.ndarray, faces: np.ndarray | None, path: str | Path | None = None,
               colors: np.ndarray | None = None, attributes: dict | None = None) -> Mesh:
    """Validate arrays as a mesh; repairs are listed in Mesh.notes."""
    path = None if path is None else Path(path)
    v = np.asarray(vertices, dtype=np.float64)
    if v.ndim != 2 or v.shape[1] != 3:
        raise ScanError(path, f"vertex positions must be Vx3, got shape {v.shape}")
    if len(v) == 0:
        raise ScanError(path, "mesh has no vertices")
    valid = np.isfinite(v).all(axis=1)
    if not valid.any():
        raise ScanError(path, f"all {len(v)} vertices have NaN/inf coordinates")
    notes = []
    if not valid.all():
        notes.append(f"{int((~valid).sum())} vertices with NaN/inf coordinates left out")
    f = np.zeros((0, 3), dtype=np.int64) if faces is None else np.asarray(faces)
    if f.size and (f.ndim != 2 or f.shape[1] != 3):
        raise ScanError(path, f"faces must be Fx3 vertex indices, got shape {f.shape}")
    f = f.reshape(-1, 3).astype(np.int64)
    outside = ((f < 0) | (f >= len(v))).any(axis=1)
    if outside.any():
        raise ScanError(path, f"{int(outside.sum())} faces reference vertices outside "
                              f"0..{len(v) - 1} (corrupt file?)")
    on_valid = valid[f].all(axis=1)
    if not on_valid.all():
        notes.append(f"{int((~on_valid).sum())} faces on NaN vertices dropped")
        f = f[on_valid]
    degenerate = _degenerate(v, f)
    if degenerate.any():
        notes.append(f"{int(degenerate.sum())} degenerate faces (repeated vertex or zero "
                     "area) dropped")
        f = f[~degenerate]
    mesh = Mesh(vertices=v, faces=f, valid=valid, path=path, notes=notes,
                colors=None if colors is None else np.asarray(colors, dtype=np.uint8),
                attributes=dict(attributes or {}))
    if len(f):
        mesh.non_manifold_edges = count_non_manifold_edges(f, len(v))
        if mesh.non_manifold_edges:
            notes.append(f"{mesh.non_manifold_edges} non-manifold edges (more than two "
                         "faces) kept")
    for name, arr in mesh.attributes.items():
        if len(arr) != len(v):
            raise ScanError(path, f"vertex attribute {name!r} has {len(arr)} values for "
                                  f"{len(v)} vertices")
    return mesh


def count_non_manifold_edges(faces: np.ndarray, num_vertices: int) -> int:
    """Undirected edges used by more than two faces."""
    f = np.asarray(faces, dtype=np.int64)
    a = f[:, [0, 1, 2]].ravel()
    b = f[:, [1, 2, 0]].ravel()
    key = np.minimum(a, b) * np.int64(num_vertices) + np.maximum(a, b)
    key.sort()
    if len(key) < 3:
        return 0
    # a key repeated 3+ times has key[i] == key[i+2] somewhere; count distinct such keys
    triple = key[2:] == key[:-2]
    return int(len(np.unique(key[2:][triple])))


def write_mesh(path: str | Path, mesh: Mesh, **vertex_attributes: np.ndarray) -> None:
    """Write the mesh as PLY (atomically) with its attributes plus the given ones, e.g.
    instance_id=per-vertex labels in the ScanNet convention."""
    vertex = {"x": mesh.vertices[:, 0].astype(np.float32),
              "y": mesh.vertices[:, 1].astype(np.float32),
              "z": mesh.vertices[:, 2].astype(np.float32)}
    if mesh.colors is not None:
        for i, name in enumerate(("red", "green", "blue")):
            vertex[name] = mesh.colors[:, i].astype(np.uint8)
    vertex.update(mesh.attributes)
    vertex.update(vertex_attributes)
    write_ply(path, vertex, mesh.faces)


def _degenerate(v: np.ndarray, f: np.ndarray) -> np.ndarray:
    repeated = (f[:, 0] == f[:, 1]) | (f[:, 1] == f[:, 2]) | (f[:, 0] == f[:, 2])
    e1 = v[f[:, 1]] - v[f[:, 0]]
    e2 = v[f[:, 2]] - v[f[:, 0]]
    area2 = np.linalg.norm(np.cross(e1, e2), axis=1)
    scale = np.linalg.norm(e1, axis=1) * np.linalg.norm(e2, axis=1)
    return repeated | (area2 <= 1e-12 * scale) | (scale == 0)


def _to_uint8(colors: np.ndarray) -> np.ndarray:
    c = np.asarray(colors)
    if np.issubdtype(c.dtype, np.floating):
        c = np.clip(np.nan_to_num(c) * (255.0 if c.max(initial=0) <= 1.0 else 1.0), 0, 255)
    return np.clip(c, 0, 255).astype(np.uint8)


_SLASH_TAIL = re.compile(rb"/\S*")


def _read_obj(path: Path):
    """Positions (+ optional per-vertex colours) and faces of an OBJ, fan-triangulated."""
    lines = path.read_bytes().splitlines()
    kind = np.array([ln[:2] for ln in lines], dtype="S2")
    is_v = kind == b"v "
    is_f = kind == b"f "
    if not is_v.any():
        raise ScanError(path, "not an OBJ mesh (no 'v' vertex lines)")
    v_lines = [lines[i][2:] for i in np.flatnonzero(is_v)]
    try:
        width = {len(ln.split()) for ln in v_lines}
        if len(width) == 1 and width <= {3, 4, 6, 7}:
            block = np.array(b" ".join(v_lines).split(), dtype=np.float64).reshape(len(v_lines), -1)
        else:
            block = np.array([[float(t) for t in ln.split()[:3]] for ln in v_lines])
    except ValueError as exc:
        raise ScanError(path, f"malformed OBJ vertex line ({exc})") from None
    vertices = block[:, :3]
    colors = _to_uint8(block[:, 3:6]) if block.shape[1] in (6, 7) else None
    face_rows = np.flatnonzero(is_f)
    if not len(face_rows):
        return vertices, colors, None
    # vertices defined before each face line (negative indices count back from there)
    defined = np.cumsum(is_v)[face_rows]
    f_lines = [_SLASH_TAIL.sub(b"", lines[i][2:]) for i in face_rows]
    try:
        counts = np.array([len(ln.split()) for ln in f_lines])
        flat = np.array(b" ".join(f_lines).split(), dtype=np.int64)
    except ValueError as exc:
        raise ScanError(path, f"malformed OBJ face line ({exc})") from None
    if (counts < 3).any():
        raise ScanError(path, f"{int((counts < 3).sum())} OBJ faces have fewer than 3 vertices")
    base = np.repeat(defined, counts)
    flat = np.where(flat < 0, base + flat, flat - 1)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    # fan triangulation: polygon (p0..pk) -> (p0, pi, pi+1)
    tri_per = counts - 2
    poly = np.repeat(np.arange(len(counts)), tri_per)
    within = np.arange(tri_per.sum()) - np.repeat(np.cumsum(tri_per) - tri_per, tri_per)
    first = starts[poly]
    faces = np.stack([flat[first], flat[first + within + 1], flat[first + within + 2]], axis=1)
    return vertices, colors, faces
