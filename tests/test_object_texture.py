"""The add-on's texture sidecar (render.object_texture): a textured quad written the way the
add-on writes it (object.ply with obj.data's vertices + one UV per triangle corner, with a
UV seam through the middle) renders its texture back, on the ray-cast path (open3d) and on
the splat path of Blender's own Python (no open3d); a bad sidecar is a one-line error."""

from __future__ import annotations

import numpy as np
import pytest

from ot3d_engine import jobs
from ot3d_engine.errors import ScanError
from ot3d_engine.io.ply import write_ply
from ot3d_engine.render import object_input
from ot3d_engine.render.object_texture import ObjectTexture, read_object_texture, write_object_texture

STRIPES = np.array([[200, 30, 30], [30, 200, 30], [30, 30, 200], [220, 200, 20]], np.uint8)  # along u
TOP_DARKER = 0.5  # rows of the image's top half (v > 0.5) are this much darker


def stripe_image(width: int = 64, height: int = 32) -> np.ndarray:
    """Four vertical stripes; the top half (v > 0.5, row 0 is the top) darker."""
    image = np.repeat(STRIPES, width // 4, axis=0)[None].repeat(height, axis=0)
    image[: height // 2] = (image[: height // 2] * TOP_DARKER).astype(np.uint8)
    return image


def seamed_quad():
    """Two squares side by side (x -0.5..0 and 0..0.5, y -0.25..0.25, z 0), sharing the
    middle edge's two vertices. The left square maps to u 0..0.5; the right one to u 1..0.5,
    mirrored, so the shared vertices have u 0.5 on the left and u 1 on the right: a seam."""
    points = np.array([[-0.5, -0.25, 0], [0, -0.25, 0], [0.5, -0.25, 0],
                       [-0.5, 0.25, 0], [0, 0.25, 0], [0.5, 0.25, 0]], np.float32)
    faces = np.array([[0, 1, 4], [0, 4, 3], [1, 2, 5], [1, 5, 4]], np.int32)
    x, y = points[faces][..., 0], points[faces][..., 1]
    right = (x.max(axis=1) > 0)[:, None]
    u = np.where(right, 1.0 - x, x + 0.5)
    v = 2.0 * (y + 0.25)
    return points, faces, np.stack([u, v], axis=-1)


def expected_colour(world: np.ndarray) -> np.ndarray:
    x, y = world[:, 0], world[:, 1]
    u = np.where(x > 0, 1.0 - x, x + 0.5)
    colour = STRIPES[np.clip(np.floor(u * 4), 0, 3).astype(int)].astype(np.float64)
    return np.where((y > 0)[:, None], (colour * TOP_DARKER).astype(np.uint8), colour).astype(np.uint8)


def near_a_border(world: np.ndarray, margin: float) -> np.ndarray:
    x, y = world[:, 0], world[:, 1]
    borders = np.array([-0.25, 0.0, 0.25])
    return (np.abs(x[:, None] - borders).min(axis=1) < margin) | (np.abs(y) < margin)


def write_blender_style(tmp_path):
    points, faces, corner_uv = seamed_quad()
    ply = tmp_path / "object.ply"
    write_ply(ply, {"x": points[:, 0], "y": points[:, 1], "z": points[:, 2]}, faces)
    sidecar = tmp_path / "object_texture.npz"
    write_object_texture(sidecar, ObjectTexture(corner_uv=corner_uv, image=stripe_image(), name="Stripes"))
    return ply, sidecar


def rendered_against_texture(scan, margin: float) -> tuple[float, int]:
    """Share of the surface pixels (away from stripe borders) whose colour is the texture's there."""
    good = total = 0
    for i in range(len(scan)):
        frame = scan.frame(i)
        rows, cols = np.nonzero(frame.depth > 0)
        d = frame.depth[rows, cols]
        k = frame.intrinsics
        cam = np.stack([(cols - k[0, 2]) / k[0, 0] * d, (rows - k[1, 2]) / k[1, 1] * d, d], axis=1)
        world = cam @ frame.pose[:3, :3].T + frame.pose[:3, 3]
        on_quad = (np.abs(world[:, 0]) < 0.5 - margin) & (np.abs(world[:, 1]) < 0.25 - margin)
        inside = on_quad & ~near_a_border(world, margin)
        got = frame.color[rows[inside], cols[inside]]
        good += int(np.all(got == expected_colour(world[inside]), axis=1).sum())
        total += int(inside.sum())
    return good / max(total, 1), total


def test_textured_quad_ray_cast_gives_its_texture_back(tmp_path):
    ply, sidecar = write_blender_style(tmp_path)
    scan = object_input.object_scan(ply, texture=sidecar, views=6, resolution=(96, 72))
    assert scan.layout == "mesh"
    share, total = rendered_against_texture(scan, margin=0.01)
    assert total > 2000 and share > 0.99, (share, total)
    kept = scan.meta["geometry"]  # labels go onto the unsplit mesh: the object's own 6 vertices
    assert kept.is_mesh and len(kept.points) == 6 and kept.texture is None
    assert scan.meta["virtual"]["points"] == 6
    assert any("image texture 'Stripes' (64x32)" in note for note in scan.meta["virtual"]["notes"])


def test_textured_quad_splatted_without_open3d_gives_its_texture_back(tmp_path, monkeypatch):
    ply, sidecar = write_blender_style(tmp_path)
    monkeypatch.setattr(object_input, "can_raycast", lambda: False)
    scan = object_input.object_scan(ply, texture=sidecar, views=6, resolution=(96, 72))
    assert scan.layout == "pointcloud" and scan.meta["virtual"]["geometry"] == "mesh (splatted)"
    share, total = rendered_against_texture(scan, margin=0.03)
    assert total > 1000 and share > 0.95, (share, total)
    assert len(scan.meta["geometry"].points) == 6


def test_the_segment_job_passes_the_texture_on(tmp_path):
    ply, sidecar = write_blender_style(tmp_path)
    scan = jobs._load_scan({"geometry": str(ply), "texture": str(sidecar), "views": 3, "resolution": [64, 48]})
    assert scan.meta["virtual"]["notes"] and rendered_against_texture(scan, 0.01)[0] > 0.99
    without = jobs._load_scan({"geometry": str(ply), "views": 3, "resolution": [64, 48]})
    colours = np.concatenate([f.color[f.depth > 0] for f in (without.frame(i) for i in range(3))])
    assert len(np.unique(colours, axis=0)) <= 3  # no texture: grey shading only


def _sidecar(path, **arrays):
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)
    return path


def test_bad_sidecar_is_a_one_line_error_naming_the_file(tmp_path):
    _, faces, uv = seamed_quad()
    image = stripe_image()
    nan_uv = uv.copy()
    nan_uv[2, 1, 0] = np.nan
    cases = {
        "missing.npz": (None, "object texture file not found"),
        "text.npz": ("not a zip", "not a texture .npz"),
        "nouv.npz": ({"image": image}, "lacks corner_uv"),
        "short.npz": ({"corner_uv": uv[:3], "image": image}, r"corner_uv must be float 4x3x2"),
        "nan.npz": ({"corner_uv": nan_uv, "image": image}, "1 corner UVs are NaN/inf"),
        "rgba.npz": ({"corner_uv": uv, "image": np.zeros((4, 4, 4), np.uint8)}, "image must be HxWx3 uint8"),
        "float.npz": ({"corner_uv": uv, "image": image / 255.0}, "image must be HxWx3 uint8"),
        "empty.npz": ({"corner_uv": uv, "image": np.zeros((0, 4, 3), np.uint8)}, "image must be HxWx3 uint8"),
    }
    for name, (content, message) in cases.items():
        path = tmp_path / name
        if isinstance(content, str):
            path.write_text(content)
        elif content is not None:
            _sidecar(path, **content)
        with pytest.raises(ScanError, match=message) as err:
            read_object_texture(path, len(faces))
        assert str(err.value).startswith(str(path)) and "\n" not in str(err.value), name
    with pytest.raises(ScanError, match="a texture for an object without faces"):
        read_object_texture(_sidecar(tmp_path / "ok.npz", corner_uv=uv, image=image), 0)
