"""Bad input of every capture format: a one-line ScanError naming the file, before long work.

Small synthetic frames (no ../shared needed, so these run in CI everywhere), written by
the same spec writers as the real-data tests and then broken one way each.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from ot3d_engine.errors import ConfigError, ScanError
from ot3d_engine.io import load_scan

import format_writers as fw


def synthetic(n: int = 3, h: int = 48, w: int = 64):
    rng = np.random.default_rng(0)
    frames = []
    for i in range(n):
        pose = np.eye(4)
        pose[:3, 3] = [0.05 * i, 0, 0]
        depth = np.full((h, w), 1500 + 10 * i, np.uint16)
        depth[:4] = 0
        frames.append(fw.SourceFrame(i, rng.integers(0, 255, (h, w, 3), dtype=np.uint8), depth, pose))
    return frames, np.array([[50.0, 0, 31.5], [0, 50.0, 23.5], [0, 0, 1]])


def one_line_naming(name: str, fn, *args, **kwargs) -> ScanError:
    with pytest.raises(ScanError) as info:
        fn(*args, **kwargs)
    msg = str(info.value)
    assert name in msg, f"{name!r} not in message: {msg}"
    assert "\n" not in msg
    return info.value


@pytest.fixture
def frames():
    return synthetic()


# ---------------------------------------------------------------- Record3D

def test_record3d_missing_metadata(tmp_path, frames):
    folder = fw.write_record3d(tmp_path / "r3d", *frames, zipped=False)
    (folder / "metadata").unlink()
    one_line_naming("metadata", load_scan, folder, layout="record3d")
    z = fw.write_record3d(tmp_path / "zipped", *frames)
    with zipfile.ZipFile(z) as src:
        members = {n: src.read(n) for n in src.namelist() if n != "metadata"}
    with zipfile.ZipFile(z, "w") as dst:
        for n, data in members.items():
            dst.writestr(n, data)
    one_line_naming("zipped.r3d:metadata", load_scan, z)


def test_record3d_metadata_not_json_or_incomplete(tmp_path, frames):
    folder = fw.write_record3d(tmp_path / "r3d", *frames, zipped=False)
    meta = json.loads((folder / "metadata").read_text())
    (folder / "metadata").write_text("{not json")
    one_line_naming("metadata: metadata is not valid JSON", load_scan, folder)
    del meta["dw"]
    (folder / "metadata").write_text(json.dumps(meta))
    one_line_naming("metadata: metadata lacks 'dw'", load_scan, folder)


def test_record3d_pose_count_mismatch(tmp_path, frames):
    folder = fw.write_record3d(tmp_path / "r3d", *frames, zipped=False)
    meta = json.loads((folder / "metadata").read_text())
    meta["poses"] = meta["poses"][:-1]
    (folder / "metadata").write_text(json.dumps(meta))
    err = one_line_naming("metadata", load_scan, folder)
    assert "2 poses" in str(err) and "3 depth frames" in str(err)


def test_record3d_truncated_lzfse(tmp_path, frames):
    folder = fw.write_record3d(tmp_path / "r3d", *frames, zipped=False)
    depth = folder / "rgbd" / "1.depth"
    depth.write_bytes(depth.read_bytes()[: len(depth.read_bytes()) // 2])
    scan = load_scan(folder)
    scan.frame(0)
    err = one_line_naming(str(Path("rgbd") / "1.depth"), scan.frame, 1)
    assert "LZFSE" in str(err)


def test_record3d_wrong_depth_size_and_not_a_zip(tmp_path, frames):
    folder = fw.write_record3d(tmp_path / "r3d", *frames, zipped=False)
    meta = json.loads((folder / "metadata").read_text())
    meta["dw"], meta["dh"] = 32, 24
    (folder / "metadata").write_text(json.dumps(meta))
    one_line_naming("0.depth: decompressed to", load_scan(folder).frame, 0)
    bad = tmp_path / "broken.r3d"
    bad.write_bytes(b"this is not a zip")
    one_line_naming("broken.r3d", load_scan, bad)


# ---------------------------------------------------------------- Stray Scanner

def test_strayscanner_video_shorter_than_odometry(tmp_path, frames):
    fw.write_strayscanner(tmp_path / "stray", *frames, video_frames=2)
    err = one_line_naming("rgb.mp4", load_scan, tmp_path / "stray")
    assert "2 frames" in str(err) and "odometry.csv" in str(err)


def test_strayscanner_bad_odometry_and_camera_matrix(tmp_path, frames):
    fw.write_strayscanner(tmp_path / "stray", *frames)
    odo = tmp_path / "stray" / "odometry.csv"
    good = odo.read_text()
    odo.write_text(good.replace(", qw", ", q_w"))
    one_line_naming("odometry.csv: header lacks column(s) qw", load_scan, tmp_path / "stray")
    rows = good.splitlines()
    rows[2] = ", ".join(v if k != 3 else "abc" for k, v in enumerate(rows[2].split(", ")))
    odo.write_text("\n".join(rows) + "\n")
    one_line_naming("odometry.csv: line 3", load_scan, tmp_path / "stray")
    odo.write_text(good)
    (tmp_path / "stray" / "camera_matrix.csv").write_text("1,0,2\n0,1,3\n")
    one_line_naming("camera_matrix.csv", load_scan, tmp_path / "stray")
    (tmp_path / "stray" / "camera_matrix.csv").unlink()
    one_line_naming("camera_matrix.csv: camera matrix not found", load_scan, tmp_path / "stray")


def test_strayscanner_missing_depth_and_video(tmp_path, frames):
    fw.write_strayscanner(tmp_path / "stray", *frames)
    (tmp_path / "stray" / "depth" / "000001.png").unlink()
    one_line_naming("000001.png: depth image for this odometry row is missing", load_scan, tmp_path / "stray")
    fw.write_strayscanner(tmp_path / "s2", *frames)
    (tmp_path / "s2" / "rgb.mp4").write_bytes(b"\x00" * 100)
    one_line_naming("rgb.mp4: cannot", load_scan, tmp_path / "s2")


# ---------------------------------------------------------------- Polycam

def test_polycam_missing_depth_and_bad_camera(tmp_path, frames):
    fw.write_polycam(tmp_path / "poly", *frames)
    k = tmp_path / "poly" / "keyframes"
    cams = sorted((k / "corrected_cameras").glob("*.json"))
    depth = k / "depth" / f"{cams[1].stem}.png"
    depth.unlink()
    err = one_line_naming(depth.name, load_scan, tmp_path / "poly")
    assert "1 of 3" in str(err)
    fw.write_polycam(tmp_path / "p2", *frames)
    cam = sorted((tmp_path / "p2" / "keyframes" / "corrected_cameras").glob("*.json"))[0]
    data = json.loads(cam.read_text())
    del data["t_23"]
    cam.write_text(json.dumps(data))
    one_line_naming(f"{cam.name}: camera file lacks t_23", load_scan, tmp_path / "p2")
    cam.write_text("{")
    one_line_naming(f"{cam.name}: camera file is not valid JSON", load_scan, tmp_path / "p2")


def test_polycam_uncorrected_fallback(tmp_path, frames):
    fw.write_polycam(tmp_path / "raw", *frames, corrected=False)
    scan = load_scan(tmp_path / "raw")
    assert scan.layout == "polycam" and not scan.meta["corrected"] and len(scan) == 3
    one_line_naming("corrected_cameras", load_scan, tmp_path / "raw", corrected=True)


# ---------------------------------------------------------------- nerfstudio

def test_nerfstudio_bad_frames(tmp_path, frames):
    fw.write_nerfstudio(tmp_path / "ns", *frames)
    tf = tmp_path / "ns" / "transforms.json"
    data = json.loads(tf.read_text())
    broken = json.loads(json.dumps(data))
    del broken["frames"][1]["transform_matrix"]
    tf.write_text(json.dumps(broken))
    one_line_naming("transforms.json: frame 2: needs file_path and transform_matrix", load_scan, tmp_path / "ns")
    broken = json.loads(json.dumps(data))
    broken["frames"][2]["depth_file_path"] = "depth/nope.png"
    tf.write_text(json.dumps(broken))
    one_line_naming("nope.png", load_scan, tmp_path / "ns")
    broken = json.loads(json.dumps(data))
    del broken["fl_x"]
    tf.write_text(json.dumps(broken))
    one_line_naming("transforms.json: frame 1: intrinsics lack fl_x", load_scan, tmp_path / "ns")
    assert len(load_scan(tmp_path / "ns", intrinsics="50,50,31.5,23.5")) == 3  # --intrinsics fills them
    broken = json.loads(json.dumps(data))
    for fr in broken["frames"]:
        del fr["depth_file_path"]
    tf.write_text(json.dumps(broken))
    one_line_naming("transforms.json: no frame has a depth_file_path", load_scan, tmp_path / "ns", layout="nerfstudio")


def test_nerfstudio_per_frame_intrinsics(tmp_path, frames):
    fw.write_nerfstudio(tmp_path / "ns", *frames, per_frame=True)
    assert np.allclose(load_scan(tmp_path / "ns").frame(2).intrinsics, frames[1])


# ---------------------------------------------------------------- TUM, ARKitScenes, 7-Scenes

def test_tum_bad_streams(tmp_path, frames):
    fw.write_tum(tmp_path / "fr1_desk", frames[0])
    gt = tmp_path / "fr1_desk" / "groundtruth.txt"
    lines = gt.read_text().splitlines()
    gt.write_text("\n".join(lines[:2] + [" ".join(lines[2].split()[:7])] + lines[3:]) + "\n")
    one_line_naming("groundtruth.txt: line 3: 7 values, 8 expected", load_scan, tmp_path / "fr1_desk")
    fw.write_tum(tmp_path / "fr2_a", frames[0])
    d = tmp_path / "fr2_a" / "depth.txt"
    d.write_text("\n".join(f"{float(ln.split()[0]) + 100:.6f} {ln.split()[1]}" if not ln.startswith("#") else ln
                           for ln in d.read_text().splitlines()))
    one_line_naming("depth.txt: no depth timestamp is within 0.02 s", load_scan, tmp_path / "fr2_a")
    fw.write_tum(tmp_path / "fr3_b", frames[0])
    next((tmp_path / "fr3_b" / "depth").glob("*.png")).unlink()
    with pytest.raises(ScanError, match=r"\.png: image listed in depth.txt/rgb.txt not found"):
        load_scan(tmp_path / "fr3_b")


def test_arkitscenes_bad_trajectory_and_intrinsics(tmp_path, frames):
    root = fw.write_arkitscenes(tmp_path / "ark", *frames)
    traj = root / "lowres_wide.traj"
    traj.write_text("\n".join(f"{float(ln.split()[0]) + 50} " + " ".join(ln.split()[1:])
                              for ln in traj.read_text().splitlines()))
    one_line_naming("lowres_wide.traj: no pose within", load_scan, tmp_path / "ark")
    root = fw.write_arkitscenes(tmp_path / "ark2", *frames)
    pincam = sorted((root / "lowres_wide_intrinsics").glob("*.pincam"))[1]
    pincam.write_text("64 48 50\n")
    one_line_naming(f"{pincam.name}: line 1: 3 values, 6 expected", load_scan, tmp_path / "ark2")


def test_sevenscenes_missing_and_bad_pose(tmp_path, frames):
    fw.write_sevenscenes(tmp_path / "s", *frames)
    (tmp_path / "s" / "frame-000001.pose.txt").unlink()
    one_line_naming("frame-000001.pose.txt: pose file for this depth frame is missing", load_scan, tmp_path / "s",
                    layout="7scenes")
    fw.write_sevenscenes(tmp_path / "t", *frames)
    np.savetxt(tmp_path / "t" / "frame-000002.pose.txt", np.diag([2.0, 1, 1, 1]))
    one_line_naming("frame-000002.pose.txt: pose rotation is not rigid", load_scan, tmp_path / "t")


def test_intrinsics_for_another_aspect_ratio_and_bad_options(tmp_path, frames):
    fw.write_sevenscenes(tmp_path / "s", *frames)
    one_line_naming("--intrinsics: intrinsics are for a 100x100 image but the depth image is 64x48",
                    load_scan(tmp_path / "s", intrinsics="50,50,50,50,100,100").frame, 0)
    for bad in ("50,50,31.5", "a,b,c,d", "50,-1,31.5,23.5", "50,50,31.5,23.5,64.5,48"):
        with pytest.raises(ConfigError, match="--intrinsics"):
            load_scan(tmp_path / "s", intrinsics=bad)
    with pytest.raises(ConfigError, match="--depth-scale"):
        load_scan(tmp_path / "s", depth_scale=0)


def test_scannerapp_bad_frame_json_and_no_complete_frames(tmp_path, frames):
    fw.write_scannerapp(tmp_path / "app", *frames)
    scan = load_scan(tmp_path / "app")
    assert scan.layout == "3dscannerapp" and len(scan) == 3 and scan.meta["frames_without_colour_or_depth"] == 1
    j = tmp_path / "app" / "frame_00001.json"
    data = json.loads(j.read_text())
    j.write_text(json.dumps({k: v for k, v in data.items() if k != "cameraPoseARFrame"}))
    one_line_naming("frame_00001.json: frame metadata lacks 'cameraPoseARFrame'", load_scan, tmp_path / "app")
    j.write_text(json.dumps({**data, "cameraPoseARFrame": data["cameraPoseARFrame"][:12]}))
    one_line_naming("frame_00001.json: cameraPoseARFrame has 12 numbers", load_scan, tmp_path / "app")
    for p in (tmp_path / "app").glob("frame_*.jpg"):
        p.unlink()
    one_line_naming("app: no frame has all of frame_N.jpg", load_scan, tmp_path / "app", layout="3dscannerapp")


def test_twelvescenes_info_txt_gives_the_depth_intrinsics(tmp_path, frames):
    fw.write_sevenscenes(tmp_path / "s", *frames)
    (tmp_path / "s" / "camera-intrinsics.txt").unlink()
    (tmp_path / "s" / "info.txt").write_text(
        "m_versionNumber = 4\nm_colorWidth = 1296\nm_colorHeight = 968\nm_depthWidth = 64\nm_depthHeight = 48\n"
        "m_calibrationColorIntrinsic = 1170 0 647 0 0 1170 483 0 0 0 1 0 0 0 0 1\n"
        "m_calibrationDepthIntrinsic = 51 0 31 0 0 52 23 0 0 0 1 0 0 0 0 1\n")
    assert np.allclose(load_scan(tmp_path / "s").frame(0).intrinsics, [[51, 0, 31], [0, 52, 23], [0, 0, 1]])
    (tmp_path / "s" / "info.txt").write_text("m_depthWidth = 64\n")
    one_line_naming("info.txt: needs m_calibrationDepthIntrinsic", load_scan, tmp_path / "s")


def test_strayscanner_per_frame_intrinsics_are_preferred(tmp_path, frames):
    fw.write_strayscanner(tmp_path / "stray", *frames, per_frame_K=True)
    (tmp_path / "stray" / "camera_matrix.csv").write_text("999,0,1\n0,999,1\n0,0,1\n")  # stale: not used
    assert np.allclose(load_scan(tmp_path / "stray").frame(1).intrinsics, frames[1])
    odo = tmp_path / "stray" / "odometry.csv"
    rows = odo.read_text().splitlines()
    rows[2] = ", ".join(v if k != 9 else "-5" for k, v in enumerate(rows[2].split(", ")))  # fx
    odo.write_text("\n".join(rows) + "\n")
    one_line_naming("odometry.csv: per-frame intrinsics", load_scan, tmp_path / "stray")
