"""An object with modifiers (render.object_input): the views show the mesh its modifiers make,
the labels go onto the object's own vertices, each snapped onto the nearest rendered vertex
(a Subdivision Surface pulls the surface far inside its cage's corners)."""

from __future__ import annotations

import numpy as np
import pytest

from ot3d_engine.errors import ScanError
from ot3d_engine.io.ply import write_ply
from ot3d_engine.render import object_input
from ot3d_engine.render.object_texture import ObjectTexture, write_object_texture

CAGE = np.array([[x, y, z] for x in (-0.2, 0.2) for y in (-0.2, 0.2) for z in (0.0, 0.4)], np.float32)
CAGE_FACES = np.array([[0, 1, 3], [0, 3, 2], [4, 6, 7], [4, 7, 5], [0, 4, 5], [0, 5, 1],
                       [2, 3, 7], [2, 7, 6], [0, 2, 6], [0, 6, 4], [1, 5, 7], [1, 7, 3]], np.int32)


def sphere(radius=0.15, centre=(0.0, 0.0, 0.2), rings=12, segments=24):
    """A UV sphere: what a Subdivision Surface makes of the cage, roughly."""
    theta = np.linspace(0, np.pi, rings + 1)[1:-1]
    phi = np.linspace(0, 2 * np.pi, segments, endpoint=False)
    t, p = np.meshgrid(theta, phi, indexing="ij")
    ring = np.stack([np.sin(t) * np.cos(p), np.sin(t) * np.sin(p), np.cos(t)], -1).reshape(-1, 3)
    points = np.concatenate([[[0, 0, 1]], ring, [[0, 0, -1]]]) * radius + centre
    faces = []
    for j in range(segments):
        k = (j + 1) % segments
        faces.append([0, 1 + j, 1 + k])
        last = 1 + (rings - 2) * segments
        faces.append([len(points) - 1, last + k, last + j])
    for i in range(rings - 2):
        for j in range(segments):
            a, b = 1 + i * segments + j, 1 + i * segments + (j + 1) % segments
            faces += [[a, a + segments, b], [b, a + segments, b + segments]]
    return points.astype(np.float32), np.array(faces, np.int32)


def _ply(path, points, faces):
    write_ply(path, {"x": points[:, 0], "y": points[:, 1], "z": points[:, 2]}, faces)
    return path


def test_views_show_the_evaluated_mesh_and_labels_go_onto_the_own_vertices(tmp_path):
    own = _ply(tmp_path / "object.ply", CAGE, CAGE_FACES)
    points, faces = sphere()
    shown = _ply(tmp_path / "object_evaluated.ply", points, faces)
    scan = object_input.object_scan(own, evaluated=shown, views=4, resolution=(64, 48))
    frame = scan.frame(0)
    rows, cols = np.nonzero(frame.depth > 0)
    d, k = frame.depth[rows, cols], frame.intrinsics
    cam = np.stack([(cols - k[0, 2]) / k[0, 0] * d, (rows - k[1, 2]) / k[1, 1] * d, d], axis=1)
    world = cam @ frame.pose[:3, :3].T + frame.pose[:3, 3]
    radius = np.linalg.norm(world - [0, 0, 0.2], axis=1)
    assert len(world) > 200 and np.abs(radius - 0.15).max() < 0.01  # the sphere, not the cage

    labelled = scan.meta["geometry"]
    assert len(labelled.points) == 8 and len(labelled.faces) == 12 and scan.meta["virtual"]["points"] == 8
    nearest = np.argmin(np.linalg.norm(CAGE[:, None] - points[None], axis=2), axis=1)
    np.testing.assert_allclose(labelled.points, points[nearest], atol=1e-6)
    assert any("labels onto the object's own 8" in n for n in scan.meta["virtual"]["notes"])


def test_the_texture_follows_the_evaluated_faces(tmp_path):
    own = _ply(tmp_path / "object.ply", CAGE, CAGE_FACES)
    points, faces = sphere()
    shown = _ply(tmp_path / "object_evaluated.ply", points, faces)
    sidecar = tmp_path / "object_texture.npz"
    image = np.full((4, 4, 3), (200, 40, 40), np.uint8)
    write_object_texture(sidecar, ObjectTexture(corner_uv=np.full((len(faces), 3, 2), 0.5), image=image))
    scan = object_input.object_scan(own, evaluated=shown, texture=sidecar, views=2, resolution=(64, 48))
    frame = scan.frame(0)
    assert (frame.color[frame.depth > 0] == (200, 40, 40)).all()
    write_object_texture(sidecar, ObjectTexture(corner_uv=np.full((len(CAGE_FACES), 3, 2), 0.5), image=image))
    with pytest.raises(ScanError, match=rf"corner_uv must be float {len(faces)}x3x2"):
        object_input.object_scan(own, evaluated=shown, texture=sidecar, views=2, resolution=(64, 48))
