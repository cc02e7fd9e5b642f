"""Meshes and point clouds as plain arrays (`Geometry`), read through PyPI format packages.

Meshes (PLY, OBJ, GLB/glTF) go through trimesh; point clouds through trimesh (PLY without
faces), open3d (PCD, XYZ, PTS), laspy + lazrs (LAS/LAZ) and pye57 (E57). The add-on can
hand geometry over the same way: build a `Geometry` from arrays, or write a PLY.

Vertices keep the file's order (trimesh with process=False), so per-vertex labels follow
the ScanNet convention of one label per file vertex. Coordinates stay as in the file; the
file's up axis (glTF: +y, everything else: +z) travels along as `Geometry.up` for camera
placement. Bad geometry (no points, no faces where a mesh was asked for, NaN mesh vertices,
a missing texture) is a ScanError naming the file, raised before any rendering.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import ScanError

MESH_SUFFIXES = (".ply", ".obj", ".glb", ".gltf")
CLOUD_SUFFIXES = (".ply", ".pcd", ".xyz", ".xyzrgb", ".pts", ".las", ".laz", ".e57")


@dataclass
class Geometry:
    """A triangle mesh (faces set) or a point cloud (faces None), in file coordinates."""

    points: np.ndarray  # Vx3 float64: mesh vertices or cloud points
    faces: np.ndarray | None = None  # Fx3 int64 into points
    colors: np.ndarray | None = None  # Vx3 uint8 per vertex / point
    face_colors: np.ndarray | None = None  # Fx3 uint8 (meshes coloured per face)
    uv: np.ndarray | None = None  # Vx2 float texture coordinates (meshes with a texture)
    texture: np.ndarray | None = None  # HxWx3 uint8 base colour image
    up: np.ndarray = field(default_factory=lambda: np.array([0.0, 0.0, 1.0]))
    path: Path | None = None
    notes: list[str] = field(default_factory=list)
    kept: np.ndarray | None = None  # per file point: kept (False: NaN point left out), clouds only
    file_vertices: np.ndarray | None = None  # OBJ 'v' lines, when UV seams made trimesh split them

    @property
    def is_mesh(self) -> bool:
        return self.faces is not None and len(self.faces) > 0

    @property
    def kind(self) -> str:
        return "mesh" if self.is_mesh else "point cloud"


def check_geometry(geo: Geometry) -> Geometry:
    """Validate arrays (from a file or from the add-on) before any rendering starts."""
    path = geo.path
    p = np.asarray(geo.points, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != 3:
        raise ScanError(path, f"positions must be Nx3, got shape {p.shape}")
    if len(p) == 0:
        raise ScanError(path, "no points and no faces: the file holds no geometry")
    finite = np.isfinite(p).all(axis=1)
    geo.points = p
    if geo.faces is not None:
        f = np.asarray(geo.faces, dtype=np.int64).reshape(-1, 3)
        if len(f) and ((f < 0) | (f >= len(p))).any():
            raise ScanError(path, f"faces reference vertices outside 0..{len(p) - 1} (corrupt file?)")
        geo.faces = f
    if geo.is_mesh:
        if not finite.all():
            raise ScanError(path, f"{int((~finite).sum())} of {len(p)} mesh vertices have NaN/inf coordinates")
    elif not finite.all():
        if not finite.any():
            raise ScanError(path, f"all {len(p)} points have NaN/inf coordinates")
        geo.notes.append(f"{int((~finite).sum())} points with NaN/inf coordinates left out")
        geo.points = p[finite]
        geo.kept = finite
        if geo.colors is not None:
            geo.colors = geo.colors[finite]
    for name in ("colors", "uv"):
        arr = getattr(geo, name)
        if arr is not None and len(arr) != len(geo.points):
            raise ScanError(path, f"{name} has {len(arr)} rows for {len(geo.points)} vertices")
    if geo.texture is not None and geo.uv is None:
        raise ScanError(path, "a texture image but no texture coordinates")
    return geo


def is_mesh_file(path: Path) -> bool:
    """A mesh file: OBJ/GLB/glTF always, PLY when it declares faces."""
    if not path.is_file():
        return False
    suffix = path.suffix.lower()
    if suffix in (".obj", ".glb", ".gltf"):
        return True
    return suffix == ".ply" and _ply_face_count(path) > 0


def is_cloud_file(path: Path) -> bool:
    """A point-cloud file: PLY without faces, PCD without a grid or label, XYZ/PTS/LAS/LAZ/E57."""
    if not path.is_file():
        return False
    suffix = path.suffix.lower()
    if suffix == ".ply":
        return _ply_face_count(path) == 0
    if suffix == ".pcd":
        return is_plain_pcd(path)
    return suffix in CLOUD_SUFFIXES


def is_plain_pcd(path: Path) -> bool:
    """A .pcd without a `label` field and without an organized grid (HEIGHT 1): a plain
    point cloud. Labelled or organized .pcd files are single RGB-D views (the mOSD reader)."""
    header = _text_header(path, b"DATA")
    fields = re.search(rb"^FIELDS\s+(.+)$", header, re.M)
    height = re.search(rb"^HEIGHT\s+(\d+)", header, re.M)
    if fields is None:
        return False
    return b"label" not in fields.group(1).split() and (height is None or int(height.group(1)) == 1)


def read_geometry(path: str | Path) -> Geometry:
    """Any supported mesh or point-cloud file as a checked Geometry."""
    path = Path(path)
    if not path.is_file():
        raise ScanError(path, "geometry file not found")
    suffix = path.suffix.lower()
    if suffix in (".obj", ".glb", ".gltf", ".ply"):  # a PLY without faces comes back as a cloud
        geo = _read_trimesh(path)
        if suffix == ".obj":
            from .mesh import load_mesh

            file_vertices = load_mesh(path).vertices
            if len(file_vertices) != len(geo.points):
                geo.file_vertices = file_vertices
    elif suffix in (".pcd", ".xyz", ".xyzrgb", ".pts"):
        geo = _read_open3d_cloud(path)
    elif suffix in (".las", ".laz"):
        geo = _read_las(path)
    elif suffix == ".e57":
        geo = _read_e57(path)
    else:
        raise ScanError(path, f"unsupported geometry format {path.suffix!r}; meshes: "
                              f"{', '.join(MESH_SUFFIXES)}; point clouds: {', '.join(CLOUD_SUFFIXES)}")
    geo.path = path
    return check_geometry(geo)


def read_geometry_scan(path: str | Path, *, depth_min: float = 0.1, depth_max: float = 6.0,
                       views: int | None = None, resolution: tuple[int, int] | None = None,
                       fov: float | None = None, up: str | None = None):
    """The loader's entry: the file as a Scan of rendered views (render.virtual_scan; imported
    here lazily, so reading scan folders never loads the renderer)."""
    from ..render.virtual_scan import geometry_scan

    return geometry_scan(read_geometry(path), depth_min=depth_min, depth_max=depth_max, views=views,
                         resolution=resolution, fov=fov, up=up)


# --- meshes ---------------------------------------------------------------------------------

def _read_trimesh(path: Path) -> Geometry:
    import trimesh

    _check_referenced_files(path)
    try:
        loaded = trimesh.load(str(path), process=False)  # OBJ: vertices split at UV seams
    except Exception as exc:  # trimesh raises many types for broken files
        raise ScanError(path, f"cannot read: {type(exc).__name__}: {exc}") from None
    if isinstance(loaded, trimesh.Scene):
        meshes = [g for g in loaded.dump() if isinstance(g, trimesh.Trimesh)]
        if not meshes:
            clouds = [g for g in loaded.dump() if isinstance(g, trimesh.PointCloud)]
            if clouds:
                return _from_trimesh_cloud(clouds[0])
            raise ScanError(path, "no points and no faces: the file holds no geometry")
        loaded = meshes[0] if len(meshes) == 1 else trimesh.util.concatenate(meshes)
    if isinstance(loaded, trimesh.PointCloud):
        return _from_trimesh_cloud(loaded)
    up = np.array([0.0, 1.0, 0.0]) if path.suffix.lower() in (".glb", ".gltf") else np.array([0.0, 0.0, 1.0])
    geo = Geometry(points=np.asarray(loaded.vertices, dtype=np.float64),
                   faces=np.asarray(loaded.faces, dtype=np.int64) if len(loaded.faces) else None, up=up)
    _take_visual(geo, loaded, path)
    if geo.faces is None:
        geo.notes.append("no faces: read as a point cloud")
    return geo


def _from_trimesh_cloud(cloud) -> Geometry:
    colors = None
    if getattr(cloud, "colors", None) is not None and len(cloud.colors) == len(cloud.vertices):
        colors = np.asarray(cloud.colors)[:, :3].astype(np.uint8)
    return Geometry(points=np.asarray(cloud.vertices, dtype=np.float64), colors=colors)


def _take_visual(geo: Geometry, mesh, path: Path) -> None:
    visual = mesh.visual
    kind = getattr(visual, "kind", None)
    if kind == "texture":
        material = visual.material
        image = getattr(material, "image", None) or getattr(material, "baseColorTexture", None)
        uv = getattr(visual, "uv", None)
        if image is not None and uv is not None and len(uv) == len(geo.points):
            geo.texture = np.asarray(image.convert("RGB"), dtype=np.uint8)
            geo.uv = np.asarray(uv, dtype=np.float64)
            return
        base = getattr(material, "main_color", None)
        if base is not None:
            geo.colors = np.tile(np.asarray(base)[:3].astype(np.uint8), (len(geo.points), 1))
            geo.notes.append("texture material without an image: its base colour used")
    elif kind == "vertex":
        geo.colors = np.asarray(visual.vertex_colors)[:, :3].astype(np.uint8)
    elif kind == "face":
        geo.face_colors = np.asarray(visual.face_colors)[:, :3].astype(np.uint8)


def _check_referenced_files(path: Path) -> None:
    """Textures and buffers a mesh file names must exist: trimesh would skip them quietly."""
    suffix = path.suffix.lower()
    if suffix == ".obj":
        text = path.read_bytes()
        for lib in re.findall(rb"^mtllib\s+(.+?)\s*$", text, re.M):
            mtl = path.parent / lib.decode("utf-8", "replace")
            if not mtl.is_file():
                raise ScanError(path, f"material file {mtl.name} named by mtllib is missing ({mtl})")
            for tex in re.findall(rb"^\s*map_Kd\s+(?:-\S+\s+\S+\s+)*(.+?)\s*$", mtl.read_bytes(), re.M):
                image = mtl.parent / tex.decode("utf-8", "replace")
                if not image.is_file():
                    raise ScanError(path, f"texture file {image.name} named in {mtl.name} is missing ({image})")
    elif suffix == ".gltf":
        try:
            doc = json.loads(path.read_text())
        except (ValueError, UnicodeDecodeError) as exc:
            raise ScanError(path, f"not a glTF JSON file ({exc})") from None
        for what in ("images", "buffers"):
            for item in doc.get(what, []):
                uri = item.get("uri", "")
                if uri and not uri.startswith("data:") and not (path.parent / uri).is_file():
                    kind = "texture" if what == "images" else "buffer"
                    raise ScanError(path, f"{kind} file {uri} named by the glTF is missing ({path.parent / uri})")


# --- point clouds ---------------------------------------------------------------------------

def _read_open3d_cloud(path: Path) -> Geometry:
    import open3d as o3d

    try:
        pcd = o3d.io.read_point_cloud(str(path), remove_nan_points=False, remove_infinite_points=False)
    except Exception as exc:
        raise ScanError(path, f"cannot read: {exc}") from None
    pts = np.asarray(pcd.points, dtype=np.float64)
    colors = None
    if pcd.has_colors():
        colors = np.clip(np.round(np.asarray(pcd.colors) * 255.0), 0, 255).astype(np.uint8)
    return Geometry(points=pts.reshape(-1, 3), colors=colors)


def _read_las(path: Path) -> Geometry:
    import laspy

    try:
        las = laspy.read(str(path))
    except Exception as exc:  # laspy.LaspyException, lazrs errors, OSError
        raise ScanError(path, f"cannot read LAS/LAZ: {exc}") from None
    pts = np.stack([np.asarray(las.x), np.asarray(las.y), np.asarray(las.z)], axis=1).astype(np.float64)
    colors = None
    names = set(las.point_format.dimension_names)
    if {"red", "green", "blue"} <= names:
        rgb = np.stack([np.asarray(las.red), np.asarray(las.green), np.asarray(las.blue)], axis=1)
        if rgb.max(initial=0) > 255:  # LAS stores 16-bit colour
            rgb = rgb >> 8
        colors = rgb.astype(np.uint8) if rgb.any() else None
    return Geometry(points=pts, colors=colors)


def _read_e57(path: Path) -> Geometry:
    import pye57

    try:
        e57 = pye57.E57(str(path))
        pts, cols = [], []
        for i in range(e57.scan_count):
            data = e57.read_scan(i, ignore_missing_fields=True, colors=True, transform=True)
            xyz = np.stack([data["cartesianX"], data["cartesianY"], data["cartesianZ"]], axis=1)
            pts.append(xyz.astype(np.float64))
            if "colorRed" in data:
                cols.append(np.stack([data["colorRed"], data["colorGreen"], data["colorBlue"]], 1).astype(np.uint8))
    except Exception as exc:  # libE57 raises its own exception types
        raise ScanError(path, f"cannot read E57: {exc}") from None
    if not pts:
        raise ScanError(path, "no points and no faces: the E57 file holds no scans")
    colors = np.concatenate(cols) if len(cols) == len(pts) else None
    return Geometry(points=np.concatenate(pts), colors=colors)


# --- small header probes (format detection only) --------------------------------------------

def _text_header(path: Path, last_keyword: bytes, limit: int = 4096) -> bytes:
    with open(path, "rb") as fh:
        head = fh.read(limit)
    end = head.find(last_keyword)
    return head if end < 0 else head[:head.find(b"\n", end) + 1 or None]


def _ply_face_count(path: Path) -> int:
    header = _text_header(path, b"end_header")
    m = re.search(rb"^element\s+face\s+(\d+)", header, re.M)
    return int(m.group(1)) if m else 0
