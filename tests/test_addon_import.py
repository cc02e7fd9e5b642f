"""Importing scans of every layout the engine reads (through the engine subprocess), the
superpoint mesh (PLY/OBJ) and camera frustums."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from addon_env import bpy, engine_module, engine_side, ext_scene, positions, synth_scan  # noqa: F401

FRAMES = 4  # imported frames per scan: enough to fuse views, few enough to stay fast


def import_scan(ext, path: Path, **props):
    """Run the import operator; returns (new scan object, the engine job that produced it)."""
    jobs = []
    ext.engine_link.engine_job.PROGRESS_LISTENERS.append(lambda job, *a: jobs.append(job))
    bpy.context.scene.ot3d.max_frames = FRAMES
    before = set(bpy.data.objects)
    try:
        assert bpy.ops.ot3d.import_scan(directory=str(path), **props) == {"FINISHED"}
    finally:
        ext.engine_link.engine_job.PROGRESS_LISTENERS.clear()
    new = [o for o in bpy.data.objects if o not in before]
    scan_obj = next(o for o in new if o.get("ot3d_role") == "scan")
    return scan_obj, jobs[-1], new


def engine_cloud(params: dict) -> dict:
    """The scan_cloud job run by the engine's own Python with the same parameters (the add-on
    deleted its job folder once the cloud was in Blender)."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        with np.load(engine_side("scan_cloud", Path(tmp) / "cloud.npz", params=params)) as z:
            return {k: z[k] for k in z.files}


def check_cloud(scan_obj, job) -> dict:
    """The object holds exactly the engine's cloud (points and sRGB colours)."""
    assert job.outcome.ok and job.engine.returncode == 0
    assert not job.job_dir.exists(), "an import job's folder is scratch, removed once applied"
    cloud = engine_cloud(job.params)
    np.testing.assert_allclose(positions(scan_obj), cloud["points"], atol=1e-6)
    col = np.empty(len(scan_obj.data.vertices) * 4, np.float32)
    scan_obj.data.color_attributes["Col"].data.foreach_get("color", col)
    from addon_env import installed_extension

    srgb = installed_extension().scene.segmentation.linear_to_srgb_u8(col.reshape(-1, 4)[:, :3])
    assert np.abs(srgb.astype(int) - cloud["colors"].astype(int)).max() <= 1
    assert len(cloud["points"]) > 1000 and len(np.unique(cloud["colors"], axis=0)) > 20
    return cloud


def _as_posefile(scan: Path, out: Path) -> Path:
    """The synthetic ScanNet-layout frames re-described as a pose.txt + manifest scan."""
    (out / "color").mkdir(parents=True)
    (out / "depth").mkdir()
    poses = []
    for i in range(FRAMES):
        os.symlink(scan / "color" / f"{i}.jpg", out / "color" / f"{i}.jpg")
        os.symlink(scan / "depth" / f"{i}.png", out / "depth" / f"{i}.png")
        poses.append(np.loadtxt(scan / "pose" / f"{i}.txt"))
    poses = np.array(poses)
    np.save(out.parent / "rotations.npy", poses[:, :3, :3])
    quats = np.load(engine_side("quaternions", out.parent / "quats.npy", matrices=str(out.parent / "rotations.npy")))
    np.savetxt(out / "pose.txt", np.hstack([poses[:, :3, 3], quats]), fmt="%.9f")
    K = np.loadtxt(scan / "intrinsic" / "intrinsic_depth.txt")
    (out / "ot3d_scan.json").write_text(json.dumps({
        "fx": K[0, 0], "fy": K[1, 1], "cx": K[0, 2], "cy": K[1, 2], "depth_scale": 1000,
        "color": "color/{}.jpg", "depth": "depth/{}.png", "first_index": 0}))
    return out


def _as_replica(scan: Path, out: Path) -> Path:
    (out / "results").mkdir(parents=True)
    poses = []
    for i in range(FRAMES):
        os.symlink(scan / "color" / f"{i}.jpg", out / "results" / f"frame{i:06d}.jpg")
        os.symlink(scan / "depth" / f"{i}.png", out / "results" / f"depth{i:06d}.png")
        poses.append(np.loadtxt(scan / "pose" / f"{i}.txt").ravel())
    np.savetxt(out / "traj.txt", np.array(poses), fmt="%.9f")
    K = np.loadtxt(scan / "intrinsic" / "intrinsic_depth.txt")
    (out / "cam_params.json").write_text(json.dumps({"camera": {
        "w": 160, "h": 120, "fx": K[0, 0], "fy": K[1, 1], "cx": K[0, 2], "cy": K[1, 2], "scale": 1000}}))
    return out


def test_import_every_layout_of_the_same_frames_gives_the_same_cloud(ext_scene, tmp_path):
    """ScanNet, pose-file and Replica descriptions of identical frames import identically."""
    ext, scene = ext_scene
    scan = synth_scan()
    clouds = {}
    for layout, path in [("scannet", scan), ("posefile", _as_posefile(scan, tmp_path / "pf")),
                         ("replica", _as_replica(scan, tmp_path / "rep"))]:
        obj, job, _ = import_scan(ext, path)
        assert obj["layout"] == layout and obj["frames"] == FRAMES and obj.name == path.name
        clouds[layout] = check_cloud(obj, job)
    for layout in ("posefile", "replica"):
        np.testing.assert_allclose(clouds[layout]["points"], clouds["scannet"]["points"], atol=1e-4)
        np.testing.assert_allclose(clouds[layout]["poses"], clouds["scannet"]["poses"], atol=1e-6)
    assert scene.ot3d.scan_path == str(tmp_path / "rep")  # the last import is what Segment will use
    assert scene.ot3d.mesh_path == str(scan / "scene_mesh.ply")  # the synthetic scan ships its mesh


@pytest.mark.parametrize("name, layout, frames", [("slambook-room", "slambook", FRAMES),
                                                  ("open3d-rgbd", "redwood", FRAMES),
                                                  ("mosd/test45.pcd", "mosd", 1)])
def test_import_real_scans(ext_scene, shared_data, name, layout, frames):
    ext, scene = ext_scene
    obj, job, new = import_scan(ext, shared_data / name, frustums=True)
    assert obj["layout"] == layout and obj["frames"] == frames
    cloud = check_cloud(obj, job)
    cams = next(o for o in new if o.get("ot3d_role") == "cameras")
    verts = positions(cams).reshape(frames, 5, 3)
    np.testing.assert_allclose(verts[:, 0], cloud["poses"][:, :3, 3], atol=1e-5)  # apex at each camera
    assert len(cams.data.edges) == 8 * frames
    # the cloud lies in front of the cameras (+z of the OpenCV camera frame)
    local = np.einsum("fji,fnj->fni", cloud["poses"][:, :3, :3],
                      cloud["points"][None, :2000] - cloud["poses"][:, None, :3, 3])
    assert np.median(local[0, :, 2]) > 0.2


def test_bad_scan_import_is_reported(ext_scene, tmp_path):
    ext, scene = ext_scene
    bad = tmp_path / "empty-scan"
    (bad / "color").mkdir(parents=True)
    (bad / "pose.txt").write_text("1 2 3\n")
    names = [o.name for o in bpy.data.objects]
    with pytest.raises(RuntimeError, match="empty-scan: unknown scan layout"):
        bpy.ops.ot3d.import_scan(directory=str(bad))
    assert [o.name for o in bpy.data.objects] == names


def test_import_mesh_ply_and_obj(ext_scene, tmp_path):
    ext, scene = ext_scene
    mesh_ply = synth_scan() / "scene_mesh.ply"
    assert bpy.ops.ot3d.import_mesh(filepath=str(mesh_ply)) == {"FINISHED"}
    obj = next(o for o in bpy.data.objects if o.get("ot3d_role") == "mesh")
    vertex, faces = engine_module("io.ply").read_ply(mesh_ply)
    assert len(obj.data.vertices) == len(vertex["x"]) and len(obj.data.polygons) == len(faces)
    assert scene.ot3d.mesh_path == str(mesh_ply)
    assert obj.users_collection[0].name == "Scan"

    obj_file = tmp_path / "quad.obj"
    obj_file.write_text("v 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\nf 1 2 3 4\n")
    assert bpy.ops.ot3d.import_mesh(filepath=str(obj_file)) == {"FINISHED"}
    quad = next(o for o in bpy.data.objects if o.get("source") == str(obj_file))
    assert len(quad.data.vertices) == 4 and scene.ot3d.mesh_path == str(obj_file)
    stl = tmp_path / "part.stl"
    stl.write_text("solid part\nendsolid part\n")
    with pytest.raises(RuntimeError, match="part.stl: only .ply and .obj"):
        bpy.ops.ot3d.import_mesh(filepath=str(stl))
    with pytest.raises(RuntimeError, match="missing.ply: file not found"):
        bpy.ops.ot3d.import_mesh(filepath=str(tmp_path / "missing.ply"))
