"""The add-on's image texture for Segment Selected Object: a .npz beside object.ply.

Blender's UVs belong to face corners (loops), so a vertex on a UV seam has several. The
add-on sends them as they are, one UV per triangle corner in object.ply's face order, and
object.ply keeps obj.data's own vertices, so the ids come back onto that very mesh with
no mapping. Only the renderer needs one UV per vertex: `textured_mesh` splits the vertices
per distinct (vertex, UV) pair for it; the labels still go onto the unsplit mesh.

The image is sRGB uint8 with row 0 at the top (the add-on flips Blender's bottom-up
pixels and encodes linear buffers), so `sample_texture` reads it like an OBJ/glTF texture.
A .npz needs only numpy to write and read: the add-on's Python has no Pillow.
"""

from __future__ import annotations

import pickle
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ScanError
from ..io.atomic import atomic_path
from ..io.geometry_files import Geometry, check_geometry

TEXTURE_NPZ = "object_texture.npz"


@dataclass
class ObjectTexture:
    corner_uv: np.ndarray  # Fx3x2 float: the UV of each triangle corner, in the PLY's face order
    image: np.ndarray  # HxWx3 uint8 sRGB, row 0 at the top
    name: str = ""  # the Blender image's name, for messages


def write_object_texture(path: str | Path, texture: ObjectTexture) -> None:
    with atomic_path(path, suffix=".npz") as tmp, open(tmp, "wb") as fh:  # a handle: savez adds no suffix
        np.savez(fh, corner_uv=np.asarray(texture.corner_uv, np.float32),
                 image=np.ascontiguousarray(texture.image, np.uint8), name=np.array(texture.name))


def read_object_texture(path: str | Path, face_count: int) -> ObjectTexture:
    """The sidecar, checked against the mesh it belongs to (ScanError naming the file)."""
    path = Path(path)
    if not path.is_file():
        raise ScanError(path, "object texture file not found")
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, pickle.UnpicklingError) as exc:
        raise ScanError(path, f"not a texture .npz ({type(exc).__name__}: {exc})") from None
    missing = [key for key in ("corner_uv", "image") if key not in arrays]
    if missing:
        raise ScanError(path, f"texture .npz lacks {', '.join(missing)}")
    uv, image = arrays["corner_uv"], arrays["image"]
    if face_count == 0:
        raise ScanError(path, "a texture for an object without faces")
    if uv.shape != (face_count, 3, 2) or uv.dtype.kind != "f":
        raise ScanError(path, f"corner_uv must be float {face_count}x3x2 (one UV per triangle corner), "
                              f"got {uv.dtype} {uv.shape}")
    if not np.isfinite(uv).all():
        raise ScanError(path, f"{int((~np.isfinite(uv).all(axis=2)).sum())} corner UVs are NaN/inf")
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8 or min(image.shape[:2]) < 1:
        raise ScanError(path, f"image must be HxWx3 uint8, got {image.dtype} {image.shape}")
    name = str(arrays["name"]) if "name" in arrays else ""
    return ObjectTexture(corner_uv=uv.astype(np.float64), image=image, name=name)


def textured_mesh(geo: Geometry, texture: ObjectTexture) -> Geometry:
    """The mesh to render: one vertex per distinct (vertex, corner UV) pair, with the texture."""
    corners = geo.faces.reshape(-1)
    keys = np.column_stack([corners.astype(np.float64), texture.corner_uv.reshape(-1, 2)])
    unique, inverse = np.unique(keys, axis=0, return_inverse=True)
    source = unique[:, 0].astype(np.int64)
    size = f"{texture.image.shape[1]}x{texture.image.shape[0]}"
    label = f"image texture '{texture.name}' ({size})" if texture.name else f"image texture ({size})"
    rendered = Geometry(points=geo.points[source], faces=inverse.reshape(-1, 3), uv=unique[:, 1:],
                        texture=texture.image, up=geo.up, path=geo.path,
                        notes=[*geo.notes, f"coloured from its {label}"])
    return check_geometry(rendered)
