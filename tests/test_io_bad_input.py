"""Every kind of bad scan input raises ScanError, and the message names the offending file."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ot3d_engine.errors import ScanError
from ot3d_engine.io import load_scan, read_color, read_depth, read_pcd

from test_io_readers import look_at_pose, make_scannet, write_pcd, write_png16, write_rgb


def raises_naming(name: str, fn, *args, **kwargs) -> ScanError:
    with pytest.raises(ScanError) as info:
        fn(*args, **kwargs)
    assert name in str(info.value), f"{name!r} not in message: {info.value}"
    return info.value


def make_replica(root: Path, frames=2, h=12, w=16, cam=True) -> None:
    (root / "results").mkdir(parents=True)
    for k in range(frames):
        write_rgb(root / "results" / f"frame{k:06d}.jpg", np.full((h, w, 3), 90, np.uint8))
        write_png16(root / "results" / f"depth{k:06d}.png", np.full((h, w), 13107, np.uint16))
    poses = [look_at_pose([1, k, 1], [0, 0, 0]) for k in range(frames)]
    (root / "traj.txt").write_text("\n".join(" ".join(repr(x) for x in p.ravel()) for p in poses) + "\n")
    if cam:
        (root / "cam_params.json").write_text(json.dumps(
            {"camera": {"w": w, "h": h, "fx": 8.0, "fy": 8.0, "cx": 7.5, "cy": 5.5, "scale": 6553.5}}))


def make_redwood(root: Path, frames=2, h=12, w=16) -> None:
    for k in range(frames):
        write_rgb(root / "color" / f"{k:05d}.jpg", np.full((h, w, 3), 90, np.uint8))
        write_png16(root / "depth" / f"{k:05d}.png", np.full((h, w), 1500, np.uint16))
    lines = []
    for k in range(frames):
        lines.append(f"{k} {k} {k + 1}")
        lines += [" ".join(repr(x) for x in row) for row in look_at_pose([1, k, 1], [0, 0, 0])]
    (root / "trajectory.log").write_text("\n".join(lines) + "\n")
    (root / "camera_test.json").write_text(json.dumps(
        {"width": w, "height": h, "intrinsic_matrix": [8.0, 0, 0, 0, 8.0, 0, 7.5, 5.5, 1]}))


def make_posefile(root: Path, frames=3, poses=3) -> None:
    for k in range(1, frames + 1):
        write_rgb(root / "color" / f"{k}.png", np.full((12, 16, 3), 90, np.uint8))
        (root / "depth").mkdir(exist_ok=True)
        raw = np.full((12, 16), 1500, ">u2")
        (root / "depth" / f"{k}.pgm").write_bytes(b"P5 16 12 65535\n" + raw.tobytes())
    (root / "pose.txt").write_text("\n".join("0 0 0 0 0 0 1" for _ in range(poses)) + "\n")


# ---------------------------------------------------------------- poses

def test_missing_pose_file(tmp_path):
    make_scannet(tmp_path, with_gt=False)
    (tmp_path / "pose" / "9.txt").unlink()
    raises_naming("9.txt", load_scan, tmp_path)


def test_missing_pose_txt_with_forced_layout(tmp_path):
    make_posefile(tmp_path)
    (tmp_path / "pose.txt").unlink()
    raises_naming("pose.txt", load_scan, tmp_path, layout="slambook")


def test_pose_count_differs_from_frame_count(tmp_path):
    make_posefile(tmp_path / "a", frames=3, poses=2)
    raises_naming("pose.txt", load_scan, tmp_path / "a")
    make_replica(tmp_path / "b", frames=2)
    with open(tmp_path / "b" / "traj.txt", "a") as fh:
        fh.write(" ".join(["1", "0", "0", "0", "0", "1", "0", "0", "0", "0", "1", "0", "0", "0", "0", "1"]) + "\n")
    raises_naming("traj.txt", load_scan, tmp_path / "b")
    make_redwood(tmp_path / "c", frames=2)
    (tmp_path / "c" / "depth" / "00001.png").unlink()
    (tmp_path / "c" / "color" / "00001.jpg").unlink()
    raises_naming("trajectory.log", load_scan, tmp_path / "c")


def test_non_finite_pose(tmp_path):
    make_scannet(tmp_path / "s", with_gt=False)
    np.savetxt(tmp_path / "s" / "pose" / "10.txt", np.full((4, 4), -np.inf))
    err = raises_naming("10.txt", load_scan, tmp_path / "s")
    assert "skip_bad_poses" in str(err)
    make_replica(tmp_path / "r")
    text = (tmp_path / "r" / "traj.txt").read_text().replace("1.0", "nan", 1)
    (tmp_path / "r" / "traj.txt").write_text(text)
    raises_naming("traj.txt", load_scan, tmp_path / "r")


def test_non_rigid_rotation(tmp_path):
    make_redwood(tmp_path)
    lines = (tmp_path / "trajectory.log").read_text().splitlines()
    row = [float(x) * 2 for x in lines[1].split()[:3]] + [float(lines[1].split()[3])]
    lines[1] = " ".join(map(str, row))  # scale the first rotation row by 2
    (tmp_path / "trajectory.log").write_text("\n".join(lines) + "\n")
    err = raises_naming("trajectory.log", load_scan, tmp_path)
    assert "rigid" in str(err)
    make_posefile(tmp_path / "q", frames=1, poses=1)
    (tmp_path / "q" / "pose.txt").write_text("0 0 0 0 0 0 0\n")  # zero quaternion
    err = raises_naming("pose.txt", load_scan, tmp_path / "q")
    assert "quaternion" in str(err)


def test_malformed_pose_files(tmp_path):
    make_scannet(tmp_path / "s", with_gt=False)
    (tmp_path / "s" / "pose" / "2.txt").write_text("1 0 0\n0 1 0\n")
    raises_naming("2.txt", load_scan, tmp_path / "s")
    make_redwood(tmp_path / "r")
    text = (tmp_path / "r" / "trajectory.log").read_text().splitlines()
    (tmp_path / "r" / "trajectory.log").write_text("\n".join(text[:-1]) + "\n")
    raises_naming("trajectory.log", load_scan, tmp_path / "r")


# ---------------------------------------------------------------- intrinsics and sizes

def test_depth_of_wrong_size_for_the_intrinsics(tmp_path):
    make_redwood(tmp_path / "r")
    write_png16(tmp_path / "r" / "depth" / "00001.png", np.full((24, 32), 1500, np.uint16))
    scan = load_scan(tmp_path / "r")
    scan.frame(0)
    raises_naming("00001.png", scan.frame, 1)
    # ScanNet intrinsics carry no size: a depth image twice as large puts the principal point off-centre
    make_scannet(tmp_path / "s", with_gt=False)
    write_png16(tmp_path / "s" / "depth" / "10.png", np.full((96, 128), 1500, np.uint16))
    raises_naming("10.png", load_scan(tmp_path / "s").frame, 2)


def test_missing_intrinsics(tmp_path):
    make_scannet(tmp_path / "s", with_gt=False)
    for name in ("intrinsic_depth.txt", "intrinsic_color.txt"):
        (tmp_path / "s" / "intrinsic" / name).unlink()
    raises_naming("intrinsic_depth.txt", load_scan, tmp_path / "s")
    make_replica(tmp_path / "r", cam=False)
    raises_naming("cam_params.json", load_scan, tmp_path / "r")
    make_redwood(tmp_path / "w")
    (tmp_path / "w" / "camera_test.json").unlink()
    raises_naming("camera_intrinsic.json", load_scan, tmp_path / "w")
    make_posefile(tmp_path / "p")
    raises_naming("ot3d_scan.json", load_scan, tmp_path / "p", layout="posefile")


def test_malformed_intrinsics_and_manifest(tmp_path):
    make_redwood(tmp_path / "w")
    (tmp_path / "w" / "camera_test.json").write_text('{"width": 16, "height": 12, "intrinsic_matrix": [1, 2]}')
    raises_naming("camera_test.json", load_scan, tmp_path / "w")
    make_posefile(tmp_path / "p")
    (tmp_path / "p" / "ot3d_scan.json").write_text("{not json")
    raises_naming("ot3d_scan.json", load_scan, tmp_path / "p")
    (tmp_path / "p" / "ot3d_scan.json").write_text(json.dumps({"fx": 1, "fy": 1, "cx": 1, "cy": 1, "colour": "x"}))
    raises_naming("ot3d_scan.json", load_scan, tmp_path / "p")
    (tmp_path / "p" / "ot3d_scan.json").write_text(json.dumps(
        {"fx": "wide", "fy": 1, "cx": 1, "cy": 1, "color": "color/{}.png", "depth": "depth/{}.pgm"}))
    err = raises_naming("ot3d_scan.json", load_scan, tmp_path / "p")
    assert "fx" in str(err)


# ---------------------------------------------------------------- images

def test_empty_corrupt_and_8bit_images(tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    raises_naming("empty.png", read_color, tmp_path / "empty.png")
    raises_naming("empty.png", read_depth, tmp_path / "empty.png", 1000.0)
    (tmp_path / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(200)))
    raises_naming("corrupt.png", read_color, tmp_path / "corrupt.png")
    raises_naming("corrupt.png", read_depth, tmp_path / "corrupt.png", 1000.0)
    Image.fromarray(np.full((4, 4), 100, np.uint8)).save(tmp_path / "eight.png")
    err = raises_naming("eight.png", read_depth, tmp_path / "eight.png", 1000.0)
    assert "16-bit" in str(err)
    (tmp_path / "eight.pgm").write_bytes(b"P5 4 4 255\n" + bytes(16))
    raises_naming("eight.pgm", read_depth, tmp_path / "eight.pgm", 1000.0)
    (tmp_path / "short.pgm").write_bytes(b"P5 4 4 65535\n" + bytes(10))
    raises_naming("short.pgm", read_depth, tmp_path / "short.pgm", 1000.0)
    raises_naming("nothere.png", read_color, tmp_path / "nothere.png")


def test_bad_frame_images_inside_a_scan(tmp_path):
    make_scannet(tmp_path, with_gt=False)
    (tmp_path / "depth" / "9.png").write_bytes(b"")
    scan = load_scan(tmp_path)
    raises_naming("9.png", scan.frame, 1)
    Image.fromarray(np.full((24, 32), 100, np.uint8)).save(tmp_path / "depth" / "10.png")
    raises_naming("10.png", scan.frame, 2)
    (tmp_path / "color" / "2.png").write_bytes(b"garbage")
    raises_naming("2.png", scan.frame, 0)


def test_missing_colour_image(tmp_path):
    make_scannet(tmp_path, with_gt=False)
    for p in (tmp_path / "color").glob("9.*"):
        p.unlink()
    raises_naming("9.jpg", load_scan, tmp_path)


# ---------------------------------------------------------------- PCD

def test_empty_truncated_and_corrupt_pcd(tmp_path, shared_data):
    (tmp_path / "empty.pcd").write_bytes(b"")
    raises_naming("empty.pcd", read_pcd, tmp_path / "empty.pcd")
    raises_naming("empty.pcd", load_scan, tmp_path / "empty.pcd")
    (tmp_path / "text.pcd").write_text("hello\nworld\n")
    raises_naming("text.pcd", read_pcd, tmp_path / "text.pcd")
    fields = {"x": np.zeros(6, np.float32), "y": np.zeros(6, np.float32), "z": np.ones(6, np.float32),
              "label": np.ones(6, np.uint32)}
    for kind in ("ascii", "binary", "binary_compressed"):
        path = tmp_path / f"cut_{kind}.pcd"
        write_pcd(path, fields, kind, width=6)
        data = path.read_bytes()
        path.write_bytes(data[:-9])
        raises_naming(path.name, read_pcd, path)
    real = (shared_data / "mosd" / "test44.pcd").read_bytes()
    head = real.index(b"DATA binary_compressed\n") + len(b"DATA binary_compressed\n")
    (tmp_path / "truncated.pcd").write_bytes(real[:head + 8 + 1000])
    raises_naming("truncated.pcd", read_pcd, tmp_path / "truncated.pcd")
    csize, usize = struct.unpack("<II", real[head:head + 8])
    rng = np.random.default_rng(0)
    garbage = rng.integers(0, 256, csize, dtype=np.uint8).tobytes()
    (tmp_path / "corrupt.pcd").write_bytes(real[:head + 8] + garbage)
    err = raises_naming("corrupt.pcd", read_pcd, tmp_path / "corrupt.pcd")
    assert "LZF" in str(err)


def test_pcd_without_labels_is_not_an_mosd_scan(tmp_path):
    from ot3d_engine.io import detect_layout

    write_pcd(tmp_path / "plain.pcd", {"x": np.zeros(4, np.float32), "y": np.zeros(4, np.float32),
                                       "z": np.ones(4, np.float32)}, "binary", width=4)
    assert detect_layout(tmp_path / "plain.pcd") == "pointcloud"  # a plain cloud: rendered views (issue 13)
    assert "label" in str(raises_naming("plain.pcd", load_scan, tmp_path / "plain.pcd", layout="mosd"))


# ---------------------------------------------------------------- layouts and options

def test_unknown_layout_names_the_folder_and_the_layouts(tmp_path):
    folder = tmp_path / "mystery_scan"
    folder.mkdir()
    (folder / "readme.txt").write_text("nothing here")
    err = raises_naming("mystery_scan", load_scan, folder)
    for name in ("scannet", "replica", "redwood", "posefile", "slambook", "mosd"):
        assert name in str(err)
    raises_naming("mystery_scan", load_scan, folder, layout="kinectfusion")
    raises_naming("not_there", load_scan, tmp_path / "not_there")


def test_unknown_reader_option(tmp_path):
    make_replica(tmp_path / "replica_scan")
    err = raises_naming("replica_scan", load_scan, tmp_path / "replica_scan", skip_bad_poses=True)
    assert "skip_bad_poses" in str(err)
