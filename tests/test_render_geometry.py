"""Mesh and point-cloud input (issue 13): exact rendered depth, texture lookup, splatting,
labels back onto the input, readers through the format packages, one-line errors."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import trimesh
from PIL import Image

from ot3d_engine.errors import ScanError
from ot3d_engine.io import load_scan
from ot3d_engine.io.geometry_files import Geometry, read_geometry
from ot3d_engine.io.ply import read_ply, write_ply
from ot3d_engine.render.camera_paths import Intrinsics, look_at
from ot3d_engine.render.label_transfer import transfer
from ot3d_engine.render.mesh_views import MeshRenderer
from ot3d_engine.render.splat import SplatRenderer
from ot3d_engine.types import SceneResult

UP = np.array([0.0, 0.0, 1.0])


def box_geometry(centre=(0, 0, 0), size=(1, 1, 1), colour=(200, 40, 40)) -> Geometry:
    box = trimesh.creation.box(extents=size)
    v = np.asarray(box.vertices) + np.asarray(centre, float)
    return Geometry(points=v, faces=np.asarray(box.faces), colors=np.tile(np.array(colour, np.uint8), (len(v), 1)))


def write_mesh_ply(path, geo: Geometry) -> None:
    p = geo.points.astype(np.float32)
    c = geo.colors
    write_ply(path, {"x": p[:, 0], "y": p[:, 1], "z": p[:, 2], "red": c[:, 0], "green": c[:, 1],
                     "blue": c[:, 2]}, geo.faces)


def test_rendered_box_depth_is_exact():
    geo = box_geometry(size=(1.0, 1.0, 1.0))
    intr = Intrinsics(64, 48, 60.0)
    pose = look_at(np.array([3.0, 0.0, 0.0]), np.zeros(3), UP)  # looks at the +x face from 2.5 m
    color, depth = MeshRenderer(geo, intr).render(pose)
    K = intr.K
    # pixels whose rays hit the face x = 0.5 (|y|, |z| < 0.5 at z-depth 2.5)
    u, v = np.meshgrid(np.arange(64), np.arange(48))
    y_world = -(u - K[0, 2]) / K[0, 0] * 2.5  # camera +x is world -y here
    z_world = -(v - K[1, 2]) / K[1, 1] * 2.5
    on_face = (np.abs(y_world) < 0.48) & (np.abs(z_world) < 0.48)
    off = (np.abs(y_world) > 0.6) | (np.abs(z_world) > 0.6)
    assert on_face.sum() > 200
    np.testing.assert_allclose(depth[on_face], 2.5, atol=1e-5)
    assert (depth[off] == 0).all()
    assert (color[on_face] == (200, 40, 40)).all()


def test_textured_quad_gives_its_texture_back(tmp_path):
    tex = np.zeros((4, 4, 3), np.uint8)
    tex[..., 0] = np.arange(4)[None, :] * 60 + 10  # red grows along u (columns)
    tex[..., 1] = np.arange(4)[:, None] * 60 + 10  # green grows down the image rows
    tex[..., 2] = 77
    Image.fromarray(tex).save(tmp_path / "checker.png")
    (tmp_path / "quad.mtl").write_text("newmtl m\nKd 1 1 1\nmap_Kd checker.png\n")
    # a 2 x 2 m quad in the plane z = 0, u along +x, v along +y
    (tmp_path / "quad.obj").write_text(
        "mtllib quad.mtl\nv -1 -1 0\nv 1 -1 0\nv 1 1 0\nv -1 1 0\n"
        "vt 0 0\nvt 1 0\nvt 1 1\nvt 0 1\nusemtl m\nf 1/1 2/2 3/3\nf 1/1 3/3 4/4\n")
    geo = read_geometry(tmp_path / "quad.obj")
    assert geo.texture is not None and geo.uv is not None
    intr = Intrinsics(80, 80, 60.0)
    pose = look_at(np.array([0.0, 0.0, 3.0]), np.zeros(3), np.array([0.0, 1.0, 0.0]))  # image up = +y
    color, depth = MeshRenderer(geo, intr).render(pose)
    K = intr.K
    for row in range(4):
        for col in range(4):
            # texel (row, col) centre: u = (col + .5) / 4, v = 1 - (row + .5) / 4 -> world x, y
            x, y = -1 + 2 * (col + 0.5) / 4, -1 + 2 * (1 - (row + 0.5) / 4)
            cam = np.linalg.inv(pose) @ np.array([x, y, 0.0, 1.0])
            pu = int(round(K[0, 0] * cam[0] / cam[2] + K[0, 2]))
            pv = int(round(K[1, 1] * cam[1] / cam[2] + K[1, 2]))
            assert tuple(color[pv, pu]) == tuple(tex[row, col]), (row, col)


def test_splat_closes_a_sampled_plane_and_keeps_occlusion():
    rng = np.random.default_rng(0)
    back = np.column_stack([rng.uniform(-2, 2, 40000), rng.uniform(-2, 2, 40000), np.zeros(40000)])
    front = np.column_stack([rng.uniform(-0.3, 0.3, 4000), rng.uniform(-0.3, 0.3, 4000), np.full(4000, 1.0)])
    colors = np.vstack([np.tile([0, 0, 255], (40000, 1)), np.tile([255, 0, 0], (4000, 1))]).astype(np.uint8)
    geo = Geometry(points=np.vstack([back, front]), colors=colors)
    intr = Intrinsics(64, 64, 60.0)
    pose = look_at(np.array([0.0, 0.0, 3.0]), np.zeros(3), np.array([0.0, 1.0, 0.0]))
    color, depth = SplatRenderer(geo, intr).render(pose)
    assert (depth > 0).mean() == 1.0  # the back plane fills the view: no holes left
    centre = depth[28:36, 28:36]
    np.testing.assert_allclose(centre, 2.0, atol=1e-4)  # the front square occludes the plane
    assert (color[28:36, 28:36] == (255, 0, 0)).all()
    corner = depth[:8, :8]
    np.testing.assert_allclose(corner, 3.0, atol=1e-4)


def test_labels_land_on_the_right_vertices_faces_and_points():
    a, b = box_geometry((0, 0, 0)), box_geometry((3, 0, 0))
    mesh = Geometry(points=np.vstack([a.points, b.points]), faces=np.vstack([a.faces, b.faces + len(a.points)]))
    rng = np.random.default_rng(1)
    pts = np.vstack([rng.uniform(-0.5, 0.5, (500, 3)), rng.uniform(-0.5, 0.5, (500, 3)) + [3, 0, 0]])
    result = SceneResult(points=pts.astype(np.float32), colors=np.zeros((1000, 3), np.uint8),
                         instance_ids=np.repeat([7, 3], 500).astype(np.int32), instances=[])
    labels = transfer(mesh, result, voxel_size=0.3)
    assert (labels["vertex"][:8] == 7).all() and (labels["vertex"][8:] == 3).all()
    assert (labels["face"][:12] == 7).all() and (labels["face"][12:] == 3).all()
    cloud = Geometry(points=np.array([[0.1, 0, 0], [3.1, 0, 0], [10, 10, 10]]))
    assert transfer(cloud, result, voxel_size=0.3)["vertex"].tolist() == [7, 3, 0]


def two_boxes_on_a_floor() -> Geometry:
    floor = trimesh.creation.box(extents=(2.4, 1.6, 0.02))
    floor.apply_translation((0, 0, -0.01))
    parts = [(floor, (150, 150, 150)),
             (trimesh.creation.box(extents=(0.3, 0.3, 0.3)).apply_translation((-0.5, 0, 0.15)), (200, 30, 30)),
             (trimesh.creation.box(extents=(0.3, 0.3, 0.3)).apply_translation((0.5, 0, 0.15)), (30, 30, 200))]
    pts, faces, cols, off = [], [], [], 0
    for m in [p for p, _ in parts]:
        m = m.subdivide().subdivide()
        pts.append(np.asarray(m.vertices))
        faces.append(np.asarray(m.faces) + off)
        off += len(m.vertices)
    for (m, c), p in zip(parts, pts):
        cols.append(np.tile(np.array(c, np.uint8), (len(p), 1)))
    return Geometry(points=np.vstack(pts), faces=np.vstack(faces), colors=np.vstack(cols))


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "ot3d_engine", *map(str, args)], capture_output=True, text=True,
                          timeout=600)


@pytest.mark.slow
@pytest.mark.parametrize("suffix", [".ply", ".glb"])
def test_segment_mesh_file_end_to_end_labels_each_box_with_superpoints(tmp_path, suffix):
    geo = two_boxes_on_a_floor()
    path = tmp_path / f"boxes{suffix}"
    if suffix == ".ply":
        write_mesh_ply(path, geo)
    else:  # glTF is +Y up: the same boxes stood on the y axis (a rotation, vertex order kept)
        upright = geo.points[:, [0, 2, 1]] * np.array([1.0, 1.0, -1.0])
        colours = np.column_stack([geo.colors, np.full(len(geo.colors), 255, np.uint8)])
        trimesh.Trimesh(upright, geo.faces, vertex_colors=colours, process=False).export(path)
    out = tmp_path / "seg"
    r = run_cli("segment", path, "--out", out, "--voxel-size", "0.02", "--views", "12",
                "--superpoints")  # superpoints run on the input mesh itself
    assert r.returncode == 0, r.stderr
    assert "rendered views" in r.stdout and "surface seen by >= 1 view" in r.stdout
    ids = np.loadtxt(out / "input_vertex_instance_ids.txt", dtype=np.int64)
    assert len(ids) == len(geo.points)
    red = (geo.colors == (200, 30, 30)).all(1)
    blue = (geo.colors == (30, 30, 200)).all(1)
    top_red = red & (geo.points[:, 2] > 0.29)  # the top faces are seen from every ring
    top_blue = blue & (geo.points[:, 2] > 0.29)
    id_red = np.bincount(ids[top_red]).argmax()
    id_blue = np.bincount(ids[top_blue]).argmax()
    assert id_red > 0 and id_blue > 0 and id_red != id_blue
    assert (ids[top_red] == id_red).mean() > 0.9 and (ids[top_blue] == id_blue).mean() > 0.9
    assert np.array_equal(np.loadtxt(out / "mesh_instance_ids.txt", dtype=np.int64), ids)
    faces = np.load(out / "input_face_instance_ids.npy")
    assert len(faces) == len(geo.faces)
    props, f = read_ply(out / "input_instances.ply")
    assert np.array_equal(props["instance_id"], ids) and len(f) == len(geo.faces)
    import json
    meta = json.loads((out / "instances.json").read_text())["meta"]["virtual_views"]
    assert meta["path"] == "orbit" and meta["views"] == 12 and 0.5 < meta["coverage_1"] <= 1.0


@pytest.mark.slow
def test_segment_point_cloud_file_end_to_end_labels_each_box(tmp_path):
    geo = two_boxes_on_a_floor()
    tm = trimesh.Trimesh(geo.points, geo.faces, vertex_colors=geo.colors, process=False)
    pts, face_idx = trimesh.sample.sample_surface_even(tm, 60000, seed=0)
    cols = geo.colors[geo.faces[face_idx, 0]]
    p = np.asarray(pts, np.float32)
    write_ply(tmp_path / "boxes_cloud.ply", {"x": p[:, 0], "y": p[:, 1], "z": p[:, 2], "red": cols[:, 0],
                                             "green": cols[:, 1], "blue": cols[:, 2]})
    out = tmp_path / "seg"
    r = run_cli("segment", tmp_path / "boxes_cloud.ply", "--out", out, "--voxel-size", "0.02", "--views", "12")
    assert r.returncode == 0, r.stderr
    ids = np.load(out / "input_instance_ids.npy")
    assert len(ids) == len(p)
    for colour in ((200, 30, 30), (30, 30, 200)):
        top = (cols == colour).all(1) & (p[:, 2] > 0.29)
        best = np.bincount(ids[top]).argmax()
        assert best > 0 and (ids[top] == best).mean() > 0.9
    red_id = np.bincount(ids[(cols == (200, 30, 30)).all(1) & (p[:, 2] > 0.29)]).argmax()
    blue_id = np.bincount(ids[(cols == (30, 30, 200)).all(1) & (p[:, 2] > 0.29)]).argmax()
    assert red_id != blue_id


# ---------------------------------------------------------------- readers


def test_las_laz_e57_xyz_pcd_and_glb_read_through_their_packages(tmp_path):
    import laspy
    import open3d as o3d
    import pye57

    rng = np.random.default_rng(2)
    pts = rng.uniform(-1, 1, (500, 3))
    cols = rng.integers(0, 256, (500, 3)).astype(np.uint8)
    for suffix in (".las", ".laz"):
        las = laspy.create(point_format=2, file_version="1.2")
        las.header.scales = [1e-4] * 3
        las.x, las.y, las.z = pts.T
        las.red, las.green, las.blue = (cols.astype(np.uint16) * 256).T
        las.write(tmp_path / f"c{suffix}")
        geo = read_geometry(tmp_path / f"c{suffix}")
        np.testing.assert_allclose(geo.points, pts, atol=1e-4)
        assert np.array_equal(geo.colors, cols) and not geo.is_mesh
    e57 = pye57.E57(str(tmp_path / "c.e57"), mode="w")
    e57.write_scan_raw({"cartesianX": pts[:, 0], "cartesianY": pts[:, 1], "cartesianZ": pts[:, 2],
                        "colorRed": cols[:, 0], "colorGreen": cols[:, 1], "colorBlue": cols[:, 2]})
    e57.close()
    geo = read_geometry(tmp_path / "c.e57")
    np.testing.assert_allclose(geo.points, pts, atol=1e-6)
    assert np.array_equal(geo.colors, cols)
    np.savetxt(tmp_path / "c.xyz", pts)
    np.testing.assert_allclose(read_geometry(tmp_path / "c.xyz").points, pts, atol=1e-6)
    pc = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(pts))
    pc.colors = o3d.utility.Vector3dVector(cols / 255.0)
    o3d.io.write_point_cloud(str(tmp_path / "c.pcd"), pc)
    geo = read_geometry(tmp_path / "c.pcd")
    np.testing.assert_allclose(geo.points, pts, atol=1e-6)
    assert np.array_equal(geo.colors, cols)
    box = box_geometry()
    trimesh.Trimesh(box.points, box.faces, vertex_colors=box.colors, process=False).export(tmp_path / "b.glb")
    geo = read_geometry(tmp_path / "b.glb")
    assert geo.is_mesh and len(geo.faces) == 12 and geo.up.tolist() == [0, 1, 0]
    assert np.array_equal(geo.colors[0], (200, 40, 40))


def test_plain_pcd_is_a_point_cloud_and_labelled_pcd_stays_mosd(tmp_path):
    import open3d as o3d

    from ot3d_engine.io import detect_layout

    pc = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(np.random.default_rng(0).uniform(0, 1, (50, 3))))
    o3d.io.write_point_cloud(str(tmp_path / "plain.pcd"), pc)
    assert detect_layout(tmp_path / "plain.pcd") == "pointcloud"
    (tmp_path / "lab.pcd").write_text("VERSION .7\nFIELDS x y z label\nSIZE 4 4 4 4\nTYPE F F F U\n"
                                      "COUNT 1 1 1 1\nWIDTH 1\nHEIGHT 1\nVIEWPOINT 0 0 0 1 0 0 0\n"
                                      "POINTS 1\nDATA ascii\n0 0 1 10\n")
    assert detect_layout(tmp_path / "lab.pcd") == "mosd"


# ---------------------------------------------------------------- errors


def raises_naming(name, fn, *args, **kwargs) -> str:
    with pytest.raises(ScanError) as info:
        fn(*args, **kwargs)
    msg = str(info.value)
    assert name in msg and "\n" not in msg, msg
    return msg


def test_no_points_nan_vertices_and_missing_texture_are_one_line_errors(tmp_path):
    write_ply(tmp_path / "empty.ply", {"x": np.zeros(0, np.float32), "y": np.zeros(0, np.float32),
                                       "z": np.zeros(0, np.float32)}, np.zeros((0, 3), np.int64))
    assert "no points" in raises_naming("empty.ply", load_scan, tmp_path / "empty.ply", layout="pointcloud")
    geo = box_geometry()
    geo.points[3] = np.nan
    write_mesh_ply(tmp_path / "nan.ply", geo)
    assert "NaN" in raises_naming("nan.ply", load_scan, tmp_path / "nan.ply")
    (tmp_path / "q.mtl").write_text("newmtl m\nmap_Kd missing_texture.png\n")
    (tmp_path / "q.obj").write_text("mtllib q.mtl\nv 0 0 0\nv 1 0 0\nv 1 1 0\nvt 0 0\nvt 1 0\nvt 1 1\n"
                                    "usemtl m\nf 1/1 2/2 3/3\n")
    msg = raises_naming("q.obj", load_scan, tmp_path / "q.obj")
    assert "missing_texture.png" in msg
    r = run_cli("segment", tmp_path / "q.obj", "--out", tmp_path / "o")
    assert r.returncode == 2 and r.stderr.strip().count("\n") == 0 and "missing_texture.png" in r.stderr


def test_room_views_stand_in_free_space_and_cover_most_of_the_surface():
    from ot3d_engine.render.camera_paths import Intrinsics as Intr
    from ot3d_engine.render.virtual_scan import plan_views

    room = trimesh.creation.box(extents=(5.0, 4.0, 2.6))
    room.invert()  # faces point inwards, as a room's walls do
    room.apply_translation((2.5, 2.0, 1.3))
    block = trimesh.creation.box(extents=(1.0, 1.0, 0.8)).apply_translation((2.5, 2.0, 0.4))
    mesh = trimesh.util.concatenate([room.subdivide().subdivide(), block.subdivide()])
    geo = Geometry(points=np.asarray(mesh.vertices), faces=np.asarray(mesh.faces))
    intr = Intr(64, 48, 62.0)
    from ot3d_engine.render.mesh_views import MeshRenderer as MR

    plan = plan_views(geo, "room", UP, intr, 20, 6.0, MR(geo, intr))
    assert plan.kind == "room" and 1 <= len(plan.poses) <= 20
    eyes = plan.poses[:, :3, 3]
    assert (eyes[:, 0] > 0.3).all() and (eyes[:, 0] < 4.7).all() and (eyes[:, 1] > 0.3).all() and (eyes[:, 1] < 3.7).all()
    inside_block = (np.abs(eyes[:, 0] - 2.5) < 0.5) & (np.abs(eyes[:, 1] - 2.0) < 0.5) & (eyes[:, 2] < 0.8)
    assert not inside_block.any()
    # views look level or down (the ceiling, a quarter of this room, stays mostly unseen)
    assert plan.coverage_1 > 0.55 and plan.coverage_2 <= plan.coverage_1


def test_obj_uv_seams_keep_both_uvs_and_labels_follow_the_files_vertex_list(tmp_path):
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / "t.png")
    (tmp_path / "t.mtl").write_text("newmtl m\nmap_Kd t.png\n")
    # vertex 1 is used with two different texture coordinates (a seam)
    (tmp_path / "s.obj").write_text("mtllib t.mtl\nv 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\nvt 0 0\nvt 1 0\nvt 1 1\n"
                                    "vt 0 1\nvt 0.5 0.5\nusemtl m\nf 1/1 2/2 3/3\nf 1/5 3/3 4/4\n")
    geo = read_geometry(tmp_path / "s.obj")
    assert len(geo.points) == 5 and geo.file_vertices is not None and len(geo.file_vertices) == 4
    corner_uvs = {tuple(uv) for p, uv in zip(geo.points, geo.uv) if np.allclose(p, 0)}
    assert corner_uvs == {(0.0, 0.0), (0.5, 0.5)}
    result = SceneResult(points=np.array([[0, 0, 0], [1, 1, 0]], np.float32), colors=np.zeros((2, 3), np.uint8),
                         instance_ids=np.array([4, 9], np.int32), instances=[])
    labels = transfer(geo, result, voxel_size=0.3)
    assert labels["vertex"].tolist() == [4, 0, 9, 0] and len(labels["face"]) == 2


def test_view_options_are_checked_before_rendering(tmp_path):
    from ot3d_engine.errors import ConfigError

    write_mesh_ply(tmp_path / "box.ply", box_geometry())
    for options, word in (({"views": 0}, "--views"), ({"resolution": (8, 8)}, "--resolution"),
                          ({"fov": 200}, "--fov"), ({"up": "w"}, "--up")):
        with pytest.raises(ConfigError, match=word):
            load_scan(tmp_path / "box.ply", **options)
    scan = load_scan(tmp_path / "box.ply", views=6, resolution=(80, 60), fov=40, up="y")
    assert len(scan) == 6 and scan.frame(0).depth.shape == (60, 80)
    assert scan.meta["virtual"]["up"] == [0, 1, 0] and scan.meta["virtual"]["fov_deg"] == 40


@pytest.mark.slow
def test_engine_job_segments_a_mesh_file_handed_over_like_the_add_on_will(tmp_path):
    """The add-on's route: a segment job on a PLY of the object's geometry (real worker process)."""
    from addon.engine_link import engine_job

    geo = two_boxes_on_a_floor()
    write_mesh_ply(tmp_path / "object.ply", geo)
    job = engine_job.EngineJob(sys.executable, "segment",
                               {"scan": str(tmp_path / "object.ply"), "config": {"lift": {"voxel_size": 0.02}}},
                               tmp_path / "jobs").start()
    outcome = job.wait(timeout=600)
    assert outcome.ok, outcome.report_text()
    props, faces = read_ply(outcome.files["input_labels"])
    assert len(props["instance_id"]) == len(geo.points) and len(faces) == len(geo.faces)
    assert len(np.unique(props["instance_id"][props["instance_id"] > 0])) >= 2
