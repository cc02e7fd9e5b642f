"""The add-on's object PLY as a Scan (render.object_input): read with io.ply, ray-cast when
open3d is there, splatted from surface samples when it is not (Blender's own Python)."""

from __future__ import annotations

import numpy as np
import pytest

from ot3d_engine.errors import ScanError
from ot3d_engine.io.geometry_files import check_geometry
from ot3d_engine.io.ply import write_ply
from ot3d_engine.render import object_input

from test_render_geometry import two_boxes_on_a_floor


def _write(path, geo):
    p = geo.points.astype(np.float32)
    write_ply(path, {"x": p[:, 0], "y": p[:, 1], "z": p[:, 2], "red": geo.colors[:, 0], "green": geo.colors[:, 1],
                     "blue": geo.colors[:, 2]}, geo.faces)
    return path


def test_mesh_is_ray_cast_when_open3d_is_there(tmp_path):
    path = _write(tmp_path / "object.ply", two_boxes_on_a_floor())
    scan = object_input.object_scan(path, views=4, resolution=(64, 48))
    assert scan.layout == "mesh" and len(scan) == 4
    assert scan.meta["geometry"].is_mesh and (scan.frame(0).depth > 0).any()


def test_mesh_is_splatted_without_open3d_and_labels_stay_on_the_mesh(tmp_path, monkeypatch):
    geo = two_boxes_on_a_floor()
    path = _write(tmp_path / "object.ply", geo)
    monkeypatch.setattr(object_input, "can_raycast", lambda: False)
    scan = object_input.object_scan(path, views=4, resolution=(64, 48))
    assert scan.layout == "pointcloud" and scan.meta["virtual"]["geometry"] == "mesh (splatted)"
    kept = scan.meta["geometry"]
    assert kept.is_mesh and len(kept.points) == len(geo.points)
    frame = scan.frame(0)
    assert (frame.depth > 0).mean() > 0.2 and frame.color[frame.depth > 0].std() > 0  # coloured surface


def test_surface_cloud_starts_with_the_vertices():
    geo = check_geometry(two_boxes_on_a_floor())
    cloud = object_input.surface_cloud(geo)
    assert not cloud.is_mesh and len(cloud.points) >= len(geo.points) + object_input.MIN_SAMPLES
    np.testing.assert_array_equal(cloud.points[:len(geo.points)], geo.points)
    np.testing.assert_array_equal(cloud.colors[:len(geo.points)], geo.colors)


def test_missing_or_broken_object_file_is_one_line_error(tmp_path):
    with pytest.raises(ScanError, match="object geometry file not found"):
        object_input.read_object_ply(tmp_path / "none.ply")
    bad = tmp_path / "bad.ply"
    write_ply(bad, {"a": np.zeros(3, np.float32)})
    with pytest.raises(ScanError, match="no 'x' vertex property"):
        object_input.read_object_ply(bad)
