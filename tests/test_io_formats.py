"""Capture-format readers against the real 7-Scenes frames written in every format.

The same 15 real Kinect frames (../shared/data/7scenes-kitchen) are written in each
format from its published specification (tests/format_writers.py); every reader must give
back the cloud the 7-Scenes reader gives, and each convention pitfall has its own test
with a control showing that the naive reading would have failed it.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial import cKDTree

from ot3d_engine.errors import ScanError
from ot3d_engine.io import detect_layout, load_scan
from ot3d_engine.io.conventions import intrinsics_from_values
from ot3d_engine.io.tum import PRESETS
from ot3d_engine.lift.geometry import backproject
from ot3d_engine.pipeline import run_pipeline

import format_writers as fw

FRAMES = 15
FORMATS = ["tum", "nerfstudio", "record3d", "strayscanner", "polycam", "3dscannerapp", "arkitscenes"]
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def source(shared_data):
    return fw.read_source(shared_data / "7scenes-kitchen", FRAMES)


@pytest.fixture(scope="module")
def written(source, tmp_path_factory):
    frames, K = source
    out = tmp_path_factory.mktemp("formats")
    return {name: fw.write_format(name, out, frames, K) for name in ["7scenes", *FORMATS]}


@pytest.fixture(scope="module")
def reference(written):
    """The 7-Scenes reader on the same frames: the cloud every other format must give back."""
    return load_scan(written["7scenes"][0])


def fused_cloud(scan, step: int = 2, voxel: float = 0.005) -> np.ndarray:
    """All frames' valid depth in world coordinates, one point per 5 mm voxel."""
    pts = []
    for frame in scan.frames():
        d = np.zeros_like(frame.depth)
        d[::step, ::step] = frame.depth[::step, ::step]
        pts.append(world_points(d, frame.intrinsics, frame.pose))
    p = np.concatenate(pts)
    _, first = np.unique(np.floor(p / voxel).astype(np.int64), axis=0, return_index=True)
    return p[first]


def world_points(depth, K, pose) -> np.ndarray:
    v, u = np.nonzero(depth > 0)
    cam = backproject(depth, K, v, u)
    return cam @ pose[:3, :3].T + pose[:3, 3]


def within(a: np.ndarray, b: np.ndarray, tol: float = 0.01) -> float:
    return float((cKDTree(b).query(a, distance_upper_bound=tol)[0] <= tol).mean())


@pytest.fixture(scope="module")
def reference_cloud(reference):
    return fused_cloud(reference)


@pytest.fixture(scope="module")
def reference_instances(reference):
    return len(run_pipeline(reference).instances)


# ---------------------------------------------------------------- the same scan in every format

@pytest.mark.parametrize("name", FORMATS)
def test_format_is_detected_and_forced(written, name):
    path, opts = written[name]
    assert detect_layout(path) == name
    scan = load_scan(path, layout=name, **opts)
    assert scan.layout == name and len(scan) == FRAMES


@pytest.mark.parametrize("name", FORMATS)
def test_format_fuses_into_the_7scenes_cloud(written, reference_cloud, name):
    path, opts = written[name]
    cloud = fused_cloud(load_scan(path, **opts))
    assert within(cloud, reference_cloud) >= 0.99
    assert within(reference_cloud, cloud) >= 0.99
    assert abs(len(cloud) - len(reference_cloud)) <= 0.01 * len(reference_cloud)


@pytest.mark.parametrize("name", FORMATS)
def test_format_gives_the_same_instance_count_and_colours(written, reference, reference_instances, name):
    path, opts = written[name]
    scan = load_scan(path, **opts)
    for i in (0, FRAMES // 2, FRAMES - 1):  # the right image, the right way up, RGB not BGR
        assert np.abs(scan.frame(i).color.astype(int) - reference.frame(i).color).mean() < 3
    assert len(run_pipeline(scan).instances) == reference_instances


def test_sevenscenes_reader_on_the_real_folder(shared_data, source, reference, reference_cloud):
    frames, K = source
    real = load_scan(shared_data / "7scenes-kitchen", max_frames=FRAMES)
    assert real.layout == "7scenes" and detect_layout(shared_data / "7scenes-kitchen") == "7scenes"
    f = real.frame(3)
    assert f.index == frames[3].number == 515
    assert np.allclose(f.depth, frames[3].depth_mm / 1000.0) and np.array_equal(f.intrinsics, K)
    assert np.allclose(f.pose, frames[3].pose, atol=1e-3)  # the text poses, before exact orthonormalisation
    cloud = fused_cloud(real)
    assert within(cloud, reference_cloud) >= 0.99 and within(reference_cloud, cloud) >= 0.99


def test_sevenscenes_65535_is_no_depth_and_nominal_intrinsics(tmp_path, source):
    frames, _ = source
    d = frames[0].depth_mm.copy()
    d[:10, :10] = 65535
    fw.png16(tmp_path / "frame-000000.depth.png", d)
    fw.image(tmp_path / "frame-000000.color.png", frames[0].color)
    np.savetxt(tmp_path / "frame-000000.pose.txt", frames[0].pose)
    f = load_scan(tmp_path, depth_max=100.0).frame(0)  # a range wide enough to let 65.535 m through
    assert (f.depth[:10, :10] == 0).all() and f.depth[20:, 20:].max() > 0
    assert np.allclose(f.intrinsics, [[585, 0, 320], [0, 585, 240], [0, 0, 1]])


# ---------------------------------------------------------------- one test per convention pitfall

def test_pitfall_column_major_K(written, reference):
    path, _ = written["record3d"]
    import zipfile

    meta = json.loads(zipfile.ZipFile(path).read("metadata"))
    stored = np.array(meta["K"]).reshape(3, 3)
    with pytest.raises(ScanError, match="transposed"):  # read row-major, it is not a pinhole K
        intrinsics_from_values(meta["K"], column_major=False, source="metadata")
    assert stored[2, 0] > 0  # cx sits where a row-major reader expects 0
    assert np.allclose(load_scan(path).frame(0).intrinsics, reference.frame(0).intrinsics)


def test_pitfall_world_to_camera_poses(written, reference):
    path, _ = written["arkitscenes"]
    traj = np.loadtxt(next(Path(path).glob("*_frames")) / "lowres_wide.traj")
    scan = load_scan(path)
    from ot3d_engine.io.conventions import axis_angle_poses

    stored = axis_angle_poses(traj[:, 1:])
    for i in (0, FRAMES - 1):
        truth = reference.frame(i).pose
        assert np.allclose(scan.frame(i).pose, truth, atol=1e-3)
        assert np.linalg.norm(stored[i][:3, 3] - truth[:3, 3]) > 0.1  # as stored it is not the camera's position


@pytest.mark.parametrize("name", ["nerfstudio", "record3d", "polycam", "3dscannerapp"])
def test_pitfall_opengl_camera_axes(written, reference, name):
    path, opts = written[name]
    scan = load_scan(path, **opts)
    f, ref = scan.frame(5), reference.frame(5)
    assert np.allclose(f.pose, ref.pose, atol=1e-3)
    # the stored matrix, used as an OpenCV pose, looks the opposite way: its view axis is -z
    gl = f.pose @ fw.GL
    assert np.allclose(gl[:3, 2], -ref.pose[:3, 2], atol=1e-3)
    pts = world_points(f.depth, f.intrinsics, gl)
    good = world_points(ref.depth, ref.intrinsics, ref.pose)
    assert np.linalg.norm(pts.mean(0) - good.mean(0)) > 0.5


@pytest.mark.parametrize("name", ["nerfstudio", "record3d", "strayscanner", "polycam", "3dscannerapp"])
def test_pitfall_depth_at_lower_resolution_than_colour(written, reference, name):
    path, opts = written[name]
    f, ref = load_scan(path, **opts).frame(2), reference.frame(2)
    assert f.depth.shape == (480, 640) and f.color.shape == (480, 640, 3)  # colour resampled to depth
    assert np.allclose(f.intrinsics, ref.intrinsics, atol=1e-9)  # K of the 1280x960 colour scaled down
    assert np.abs(f.color.astype(int) - ref.color).mean() < 4  # the same picture, resampled twice
    assert not np.allclose(fw.color_K(ref.intrinsics, (480, 640)), ref.intrinsics)


def test_pitfall_millimetres_vs_metres(source, reference, tmp_path):
    frames, K = source
    fw.write_nerfstudio(tmp_path / "tenth_mm", frames[:2], K, depth_unit=1e-4)  # 0.1 mm units
    assert np.allclose(load_scan(tmp_path / "tenth_mm").frame(1).depth, reference.frame(1).depth, atol=1e-4)
    # the same PNGs without depth_unit_scale_factor: read as mm they are 10x too deep ...
    tf = json.loads((tmp_path / "tenth_mm" / "transforms.json").read_text())
    del tf["depth_unit_scale_factor"]
    (tmp_path / "tenth_mm" / "transforms.json").write_text(json.dumps(tf))
    wrong = load_scan(tmp_path / "tenth_mm", depth_max=100).frame(1).depth
    assert np.nanmedian(wrong[wrong > 0]) > 5 * np.median(reference.frame(1).depth[reference.frame(1).depth > 0])
    # ... and --depth-scale (raw units per metre) puts them right
    fixed = load_scan(tmp_path / "tenth_mm", depth_scale=10000).frame(1).depth
    assert np.allclose(fixed, reference.frame(1).depth, atol=1e-4)
    # Record3D stores float metres, Stray Scanner millimetres: both equal the reference
    r3d = fw.write_record3d(tmp_path / "r3d", frames[:2], K)
    assert np.allclose(load_scan(r3d).frame(1).depth, reference.frame(1).depth, atol=1e-6)


def test_pitfall_streams_need_timestamp_association(written, source, reference):
    path, opts = written["tum"]
    lines = [ln for ln in (Path(path) / "rgb.txt").read_text().splitlines() if not ln.startswith("#")]
    assert len(lines) == 2 * FRAMES  # pairing line k with line k would take the wrong images
    scan = load_scan(path, **opts)
    frames, _ = source
    for i in range(FRAMES):
        f = scan.frame(i)
        assert np.array_equal(f.color, frames[i].color)
        assert np.allclose(f.pose, reference.frame(i).pose, atol=1e-3)  # the 3 ms pose, not the +-50 ms ones
        assert np.allclose(f.depth, reference.frame(i).depth, atol=1e-6)


def test_tum_intrinsics_from_the_folder_name(tmp_path, source):
    frames, K = source
    fw.write_tum(tmp_path / "rgbd_dataset_freiburg2_xyz", frames[:2])
    scan = load_scan(tmp_path / "rgbd_dataset_freiburg2_xyz")
    assert np.array_equal(scan.frame(0).intrinsics, PRESETS["freiburg2"])
    fw.write_tum(tmp_path / "my_capture", frames[:2])
    with pytest.raises(ScanError, match=r"my_capture: .*--intrinsics"):
        load_scan(tmp_path / "my_capture")


# ---------------------------------------------------------------- confidence, overrides, distortion

def test_confidence_drops_low_confidence_depth(tmp_path, source):
    import zipfile

    frames, K = source
    path = fw.write_record3d(tmp_path / "conf", frames[:1], K)
    with zipfile.ZipFile(path) as z:
        members = {n: z.read(n) for n in z.namelist()}
    conf = np.full(frames[0].depth_mm.shape, 2, np.uint8)
    conf[:240] = 0  # top half low confidence
    members["rgbd/0.conf"] = fw.lzfse_bytes(conf)
    with zipfile.ZipFile(path, "w") as z:
        for n, data in members.items():
            z.writestr(n, data)
    f = load_scan(path).frame(0)
    assert (f.depth[:240] == 0).all() and (f.depth[240:] > 0).mean() > 0.5
    kept = load_scan(path, min_confidence=None).frame(0)
    assert (kept.depth[:240] > 0).mean() > 0.5
    fw.write_polycam(tmp_path / "poly", frames[:1], K)
    c = next((tmp_path / "poly" / "keyframes" / "confidence").glob("*.png"))
    fw.image(c, np.where(np.arange(480)[:, None] < 240, 127, 0).repeat(640, 1).astype(np.uint8))
    f = load_scan(tmp_path / "poly").frame(0)
    assert (f.depth[240:] == 0).all() and (f.depth[:240] > 0).mean() > 0.5  # 127 = medium is kept


@pytest.mark.parametrize("name", ["7scenes", "record3d", "strayscanner", "replica-like legacy"])
def test_intrinsics_and_depth_scale_override_any_layout(written, shared_data, reference, name, tmp_path):
    if name == "7scenes":
        path, opts = shared_data / "7scenes-kitchen", {"max_frames": 2}
    elif name == "replica-like legacy":  # a reader that takes neither option: corrected after reading
        from test_io_bad_input import make_redwood

        make_redwood(tmp_path / "rw")
        path, opts = tmp_path / "rw", {}
    else:
        path, opts = written[name]
    base = load_scan(path, **opts).frame(1)
    K = "600.5,601.5,300.25,250.75"
    f = load_scan(path, intrinsics=K, depth_scale=2000, **opts).frame(1)
    assert np.allclose(f.intrinsics, [[600.5, 0, 300.25], [0, 601.5, 250.75], [0, 0, 1]])
    assert np.allclose(f.depth[f.depth > 0], base.depth[f.depth > 0] / 2, rtol=1e-5)
    # K given for the colour image (width, height): scaled to the depth grid
    h, w = base.depth.shape
    f2 = load_scan(path, intrinsics=f"1200,1200,600,400,{2 * w},{2 * h}", **opts).frame(1)
    assert np.isclose(f2.intrinsics[0, 0], 600) and np.isclose(f2.intrinsics[0, 2], 299.75)


def test_cli_intrinsics_and_depth_scale(shared_data, tmp_path):
    out = tmp_path / "seg"
    run = subprocess.run([sys.executable, "-m", "ot3d_engine", "segment", str(shared_data / "7scenes-kitchen"),
                          "--out", str(out), "--max-frames", "2", "--intrinsics", "585,585,320,240",
                          "--depth-scale", "1000"], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "(7scenes)" in run.stdout and (out / "instances.json").is_file()
    bad = subprocess.run([sys.executable, "-m", "ot3d_engine", "segment", str(shared_data / "7scenes-kitchen"),
                          "--out", str(out), "--intrinsics", "585,585"], capture_output=True, text=True, cwd=REPO,
                         timeout=300)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "--intrinsics" in bad.stderr


def test_nerfstudio_distortion_is_undistorted_or_warned(tmp_path, source, caplog):
    frames, K = source
    fw.write_nerfstudio(tmp_path / "ns", frames[:1], K)
    plain = load_scan(tmp_path / "ns").frame(0)
    tf_path = tmp_path / "ns" / "transforms.json"
    tf = json.loads(tf_path.read_text())
    tf.update(k1=-0.2, k2=0.05, p1=0.001)
    tf_path.write_text(json.dumps(tf))
    scan = load_scan(tmp_path / "ns")
    f = scan.frame(0)
    assert scan.meta["undistorted"] and not np.allclose(f.depth, plain.depth)
    # the undistorted centre pixel is the recorded centre pixel (no distortion on the axis)
    cy, cx = int(K[1, 2]), int(K[0, 2])
    assert abs(f.depth[cy, cx] - plain.depth[cy, cx]) < 1e-6
    # a pixel halfway out: undistorted value is the recorded one at the distorted position
    from ot3d_engine.io.undistort import distortion_map

    su, sv = distortion_map(f.intrinsics, f.depth.shape, "OPENCV", tf)
    v, u = 100, 120
    assert f.depth[v, u] == plain.depth[int(round(sv[v, u])), int(round(su[v, u]))]
    tf["camera_model"] = "EQUIRECTANGULAR"
    tf_path.write_text(json.dumps(tf))
    with caplog.at_level(logging.WARNING):
        scan = load_scan(tmp_path / "ns")
    assert "used as they are" in caplog.text and not scan.meta["undistorted"]
    assert np.array_equal(scan.frame(0).depth, plain.depth)


def test_headless_manifest_layout_column_takes_the_capture_layouts(source, tmp_path):
    frames, K = source
    fw.write_record3d(tmp_path / "kitchen", frames[:3], K)
    (tmp_path / "batch.csv").write_text("scan,name,layout,max_frames\n"
                                        "kitchen.r3d,forced,record3d,3\nkitchen.r3d,wrong,polycam,3\n")
    run = subprocess.run([sys.executable, "-m", "headless", "--manifest", str(tmp_path / "batch.csv"),
                          "--out", str(tmp_path / "out")], capture_output=True, text=True, cwd=REPO, timeout=600)
    report = {s["name"]: s for s in json.loads((tmp_path / "out" / "batch_report.json").read_text())["scans"]}
    assert report["forced"]["status"] == "ok" and report["forced"]["instances"] > 0, run.stdout + run.stderr
    # the column reaches the engine: forced to Polycam, the Record3D file is read as one and fails
    assert report["wrong"]["status"] == "failed" and "keyframes" in report["wrong"]["message"]
