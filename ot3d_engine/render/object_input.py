"""A Blender object's geometry (the add-on's PLY) as a Scan of rendered views.

The add-on writes the object with the engine's own PLY writer, so it is read back with
io.ply (numpy only) rather than trimesh: the weights-free tier (Blender's Python) has
neither trimesh nor open3d. Without open3d a mesh cannot be ray-cast, so its surface is
sampled into a dense cloud and splatted; the labels still go back onto the mesh's own
vertices and faces (scan.meta["geometry"] stays the mesh).

An object with modifiers comes as two PLYs: its own mesh (obj.data, the labels go there)
and the mesh its modifiers make (rendered). Each own vertex takes the label of the rendered
vertex nearest to it: a Subdivision Surface shrinks the surface away from its cage, farther
than label transfer's reach, so the own vertices are snapped onto the rendered mesh first.

An image texture comes as a sidecar (render.object_texture): the views are rendered from a
copy of the mesh split at its UV seams, coloured from the texture on both paths (ray-cast
texture lookup, or texture-coloured surface samples); the labels go onto the unsplit mesh.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from ..errors import ScanError
from ..io.geometry_files import Geometry, check_geometry
from ..io.ply import read_ply
from ..types import Scan
from .object_texture import read_object_texture, textured_mesh
from .texture import sample_texture

SAMPLES_PER_M2 = 40_000  # surface samples for splatting a mesh (about 5 mm apart)
MIN_SAMPLES, MAX_SAMPLES = 20_000, 400_000


def read_object_ply(path: str | Path) -> Geometry:
    path = Path(path)
    if not path.is_file():
        raise ScanError(path, "object geometry file not found")
    vertex, faces = read_ply(path)
    for key in ("x", "y", "z"):
        if key not in vertex:
            raise ScanError(path, f"PLY has no '{key}' vertex property")
    points = np.stack([vertex["x"], vertex["y"], vertex["z"]], axis=1)
    colors = None
    if all(k in vertex for k in ("red", "green", "blue")):
        colors = np.stack([vertex["red"], vertex["green"], vertex["blue"]], axis=1).astype(np.uint8)
    geo = Geometry(points=points, faces=faces if faces is not None and len(faces) else None, colors=colors, path=path)
    return check_geometry(geo)


def snapped_onto(own: Geometry, shown: Geometry) -> Geometry:
    """The object's own mesh with each vertex moved onto the nearest vertex of the mesh its
    modifiers make, so that it takes that vertex's label (input_instances.ply then holds
    these snapped positions, one per own vertex, as before)."""
    from scipy.spatial import cKDTree

    _, nearest = cKDTree(shown.points).query(own.points)
    return Geometry(points=shown.points[nearest], faces=own.faces, colors=own.colors, up=own.up, path=own.path,
                    notes=[*own.notes, f"modifiers: {len(shown.points)} rendered vertices; labels onto "
                                       f"the object's own {len(own.points)}, each from its nearest"])


def can_raycast() -> bool:
    return importlib.util.find_spec("open3d") is not None


def surface_cloud(geo: Geometry, seed: int = 0) -> Geometry:
    """The mesh's vertices plus area-weighted surface samples (colours interpolated, or
    looked up in the texture at the interpolated UV)."""
    v, f = geo.points, geo.faces
    area = 0.5 * np.linalg.norm(np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]]), axis=1)
    if not area.sum() > 0:
        raise ScanError(geo.path, "the mesh has no surface area (all faces degenerate)")
    count = int(np.clip(area.sum() * SAMPLES_PER_M2, MIN_SAMPLES, MAX_SAMPLES))
    rng = np.random.default_rng(seed)
    tri = rng.choice(len(f), size=count, p=area / area.sum())
    s, r2 = np.sqrt(rng.random(count)), rng.random(count)
    w = np.stack([1 - s, s * (1 - r2), s * r2], 1)
    points = np.concatenate([v, np.einsum("nk,nkc->nc", w, v[f[tri]])])
    colors = None
    if geo.texture is not None:
        uv = np.concatenate([geo.uv, np.einsum("nk,nkc->nc", w, geo.uv[f[tri]])])
        colors = sample_texture(geo.texture, uv)
    elif geo.colors is not None:
        sampled = np.einsum("nk,nkc->nc", w, geo.colors[f[tri]].astype(np.float64))
        colors = np.concatenate([geo.colors, np.clip(np.rint(sampled), 0, 255).astype(np.uint8)])
    cloud = Geometry(points=points, colors=colors, up=geo.up, path=geo.path,
                     notes=[*geo.notes, f"mesh splatted as {count} surface samples (no open3d to ray-cast it)"])
    return check_geometry(cloud)


def object_scan(path: str | Path, *, evaluated: str | Path | None = None, texture: str | Path | None = None,
                views: int | None = None, resolution: tuple[int, int] | None = None, up: str | None = "z",
                depth_min: float = 0.1, depth_max: float = 6.0) -> Scan:
    """`evaluated`: the PLY of the mesh the object's modifiers make, if it has any;
    `texture`: the texture sidecar (its corner UVs follow the rendered mesh's faces).
    Blender's world is Z-up, hence the default `up` (an explicit axis also keeps the cloud
    path off open3d's normal estimation)."""
    from .virtual_scan import geometry_scan

    geo = read_object_ply(path)
    shown = read_object_ply(evaluated) if evaluated is not None else geo
    rendered = shown
    if texture is not None:
        face_count = len(shown.faces) if shown.is_mesh else 0
        rendered = textured_mesh(shown, read_object_texture(texture, face_count))
    if rendered.is_mesh and not can_raycast():
        rendered = surface_cloud(rendered)
    scan = geometry_scan(rendered, depth_min=depth_min, depth_max=depth_max, views=views,
                         resolution=resolution, up=up)
    if shown is not geo:
        geo = snapped_onto(geo, shown)
        scan.meta["virtual"]["notes"].append(geo.notes[-1])
    if rendered is not geo:  # labels onto the object's own mesh, not the samples or the split copy
        scan.meta["geometry"] = geo
        scan.meta["virtual"].update(points=int(len(geo.points)), faces=int(len(geo.faces)) if geo.is_mesh else 0)
        if not rendered.is_mesh:
            scan.meta["virtual"]["geometry"] = "mesh (splatted)"
    return scan
