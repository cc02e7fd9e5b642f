"""Scan readers on the real shared data and on tiny folders written here."""

from __future__ import annotations

import json
import struct
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy.spatial import cKDTree
from scipy.spatial.transform import Rotation

from ot3d_engine.io import (detect_layout, load_mosd_dir, load_scan, read_color, read_depth, read_pcd,
                            resize_color, scale_intrinsics)
from ot3d_engine.io.lzf import decompress
from ot3d_engine.io.mosd import TABLE_CLASS
from ot3d_engine.io.pcd import unpack_rgb
from ot3d_engine.io.ply import write_ply

MOSD_NAMES = [f"test{i}" for i in range(43, 59)]
UNORGANIZED = {"test43", "test56", "test58"}


# ---------------------------------------------------------------- helpers

def lzf_literals(data: bytes) -> bytes:
    """Valid LZF made of literal runs only (the format allows it; no compressor needed)."""
    return b"".join(bytes([len(data[i:i + 32]) - 1]) + data[i:i + 32] for i in range(0, len(data), 32))


def write_pcd(path: Path, fields: dict[str, np.ndarray], kind: str, width: int, height: int = 1) -> None:
    names = list(fields)
    arrays = [np.asarray(fields[k]) for k in names]
    types = {"f": "F", "u": "U", "i": "I"}
    header = ["# .PCD v0.7", "VERSION 0.7", "FIELDS " + " ".join(names),
              "SIZE " + " ".join(str(a.dtype.itemsize) for a in arrays),
              "TYPE " + " ".join(types[a.dtype.kind] for a in arrays),
              "COUNT " + " ".join("1" for _ in arrays), f"WIDTH {width}", f"HEIGHT {height}",
              "VIEWPOINT 0 0 0 1 0 0 0", f"POINTS {width * height}", f"DATA {kind}"]
    head = ("\n".join(header) + "\n").encode()
    if kind == "ascii":
        cols = [a.astype(np.float64) if a.dtype.kind == "f" else a.astype(np.int64) for a in arrays]
        body = "\n".join(" ".join(repr(float(c[i])) if c.dtype.kind == "f" else str(int(c[i])) for c in cols)
                         for i in range(width * height)).encode() + b"\n"
    elif kind == "binary":
        rec = np.empty(width * height, dtype=[(k, "<" + a.dtype.str[1:]) for k, a in zip(names, arrays)])
        for k, a in zip(names, arrays):
            rec[k] = a
        body = rec.tobytes()
    else:
        plain = b"".join(a.astype("<" + a.dtype.str[1:]).tobytes() for a in arrays)
        comp = lzf_literals(plain)
        body = struct.pack("<II", len(comp), len(plain)) + comp
    path.write_bytes(head + body)


def back_project(frame, pose=None, step=4) -> np.ndarray:
    """Valid depth pixels of a frame -> world points (OpenCV pinhole, camera-to-world pose)."""
    pose = frame.pose if pose is None else pose
    d = frame.depth[::step, ::step]
    v, u = np.mgrid[0:frame.height:step, 0:frame.width:step]
    m = d > 0
    z = d[m].astype(np.float64)
    K = frame.intrinsics
    cam = np.stack([(u[m] - K[0, 2]) * z / K[0, 0], (v[m] - K[1, 2]) * z / K[1, 1], z, np.ones_like(z)])
    return (pose @ cam)[:3].T


def overlap_distance(fa, fb, transform=lambda p: p) -> float:
    """Median distance from frame b's world points to frame a's (small when poses agree)."""
    a = back_project(fa, transform(fa.pose))
    b = back_project(fb, transform(fb.pose))
    return float(np.median(cKDTree(a).query(b)[0]))


def write_png16(path: Path, arr: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(arr, dtype=np.uint16)).save(path)


def write_rgb(path: Path, arr: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(arr, dtype=np.uint8)).save(path)


def look_at_pose(eye, target) -> np.ndarray:
    """OpenCV camera-to-world looking from eye at target (+y down, world z up)."""
    eye, target = np.asarray(eye, float), np.asarray(target, float)
    z = target - eye
    z /= np.linalg.norm(z)
    x = np.cross(z, [0, 0, 1.0])
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    T = np.eye(4)
    T[:3, :3] = np.stack([x, y, z], axis=1)
    T[:3, 3] = eye
    return T


def make_scannet(root: Path, numbers=(2, 10, 9), h=24, w=32, color_scale=2, with_gt=True) -> dict:
    """Tiny ScanNet export: depth h x w, colour color_scale times larger, numbers out of order."""
    rng = np.random.default_rng(0)
    K = np.array([[30.0, 0, (w - 1) / 2], [0, 30.0, (h - 1) / 2], [0, 0, 1]])
    # colour intrinsics: focal scaled, principal point still the image centre
    Kc = np.array([[30.0 * color_scale, 0, (w * color_scale - 1) / 2],
                   [0, 30.0 * color_scale, (h * color_scale - 1) / 2], [0, 0, 1]])
    truth = {}
    for k, n in enumerate(numbers):
        depth_mm = rng.integers(500, 3000, size=(h, w)).astype(np.uint16)
        depth_mm[0, 0] = 0
        depth_mm[0, 1] = 9000  # beyond depth_max = 6 m
        write_png16(root / "depth" / f"{n}.png", depth_mm)
        color = np.zeros((h * color_scale, w * color_scale, 3), np.uint8)
        color[..., 0] = 40 * k + 10
        color[..., 1] = np.arange(w * color_scale)[None, :] * 3
        write_rgb(root / "color" / f"{n}.jpg" if k % 2 else root / "color" / f"{n}.png", color)
        pose = look_at_pose([np.cos(k), np.sin(k), 1.5], [0, 0, 0.5])
        (root / "pose").mkdir(exist_ok=True)
        np.savetxt(root / "pose" / f"{n}.txt", pose)
        inst = np.zeros((h, w), np.uint16)
        inst[5:10, 5:12] = 3 + k
        sem = (inst > 0).astype(np.uint16) * 7
        write_png16(root / "instance" / f"{n}.png", inst)
        write_png16(root / "semantic" / f"{n}.png", sem)
        truth[n] = dict(depth=depth_mm / 1000.0, pose=pose, inst=inst, red=40 * k + 10)
    (root / "intrinsic").mkdir(exist_ok=True)
    K4 = np.eye(4)
    K4[:3, :3] = K
    np.savetxt(root / "intrinsic" / "intrinsic_depth.txt", K4)
    Kc4 = np.eye(4)
    Kc4[:3, :3] = Kc
    np.savetxt(root / "intrinsic" / "intrinsic_color.txt", Kc4)
    if with_gt:
        pts = rng.normal(size=(50, 3)).astype(np.float32)
        np.savez(root / "gt_points.npz", points=pts, instance=np.arange(50, dtype=np.int32) % 4,
                 semantic=np.full(50, 7, np.int32))
        (root / "gt_classes.json").write_text(json.dumps({"classes": {"1": "wall", "7": "chair"}, "ignore": [1]}))
        write_ply(root / "scene_mesh.ply", {"x": pts[:, 0], "y": pts[:, 1], "z": pts[:, 2]})
    return {"K": K, "truth": truth}


# ---------------------------------------------------------------- images

def test_read_depth_pgm_is_big_endian_millimetres(shared_data):
    path = shared_data / "slambook-room" / "depth" / "1.pgm"
    raw = path.read_bytes()
    magic, w, h, maxval = raw[:raw.index(b"\n")].split()  # this file: "P5 640 480 65535\n"
    assert (magic, int(maxval)) == (b"P5", 65535)
    expected = np.frombuffer(raw[-int(w) * int(h) * 2:], ">u2").reshape(int(h), int(w)) / 1000.0
    depth = read_depth(path, 1000.0)
    assert depth.dtype == np.float32 and depth.shape == (480, 640)
    np.testing.assert_allclose(depth, expected, rtol=1e-6)
    valid = depth[depth > 0]
    assert 0.5 < np.median(valid) < 5.0, "a Kinect room scan has a median depth of metres"
    assert valid.max() < 12.0


def test_read_depth_png16_roundtrip_and_color_conversion(tmp_path):
    raw = np.array([[0, 1000, 65535], [250, 4500, 12]], np.uint16)
    write_png16(tmp_path / "d.png", raw)
    np.testing.assert_allclose(read_depth(tmp_path / "d.png", 1000.0), raw / 1000.0, rtol=1e-6)
    grey = np.array([[0, 128], [255, 7]], np.uint8)
    Image.fromarray(grey).save(tmp_path / "g.png")
    rgb = read_color(tmp_path / "g.png")
    assert rgb.shape == (2, 2, 3) and rgb.dtype == np.uint8 and (rgb == grey[..., None]).all()
    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[..., 0], rgba[..., 3] = 200, 255
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    assert read_color(tmp_path / "a.png")[..., 0].tolist() == [[200, 200], [200, 200]]
    assert read_color(tmp_path / "a.png").shape == (2, 2, 3)


def test_scale_intrinsics_keeps_pixel_centres_consistent():
    K = np.array([[500.0, 0, 319.5], [0, 500.0, 239.5], [0, 0, 1]])
    half = scale_intrinsics(K, (480, 640), (240, 320))
    # The image centre stays the centre: (319.5 + 0.5) * 0.5 - 0.5 = 159.5, focal halves.
    np.testing.assert_allclose(half, [[250, 0, 159.5], [0, 250, 119.5], [0, 0, 1]])
    point = np.array([0.3, -0.2, 2.0])
    full_uv = (K @ point)[:2] / point[2]
    half_uv = (half @ point)[:2] / point[2]
    np.testing.assert_allclose((half_uv + 0.5) * 2 - 0.5, full_uv)
    colour = np.zeros((8, 8, 3), np.uint8)
    colour[:, 4:] = 200
    small = resize_color(colour, (4, 4))
    assert small.shape == (4, 4, 3) and small[:, :2].max() < 60 and small[:, 3].min() > 150


# ---------------------------------------------------------------- PCD / LZF

def test_lzf_back_references_including_overlapping_runs():
    # literal "abcd"; back-ref length 4 at distance 4 (ctrl (4-2)<<5 = 0x40, offset byte 3)
    stream = bytes([3]) + b"abcd" + bytes([0x40, 3])
    assert decompress(stream, 8) == b"abcdabcd"
    # literal "a"; back-ref of length 11-1=10 at distance 1: length code 7 -> extra byte 10-2-7=1
    stream = bytes([0]) + b"a" + bytes([0xE0, 1, 0])
    assert decompress(stream, 11) == b"a" * 11
    # overlapping with a 2-byte pattern: "xy" then 5 more bytes at distance 2 -> "xyxyxyx"
    stream = bytes([1]) + b"xy" + bytes([(5 - 2) << 5, 1])
    assert decompress(stream, 7) == b"xyxyxyx"


@pytest.mark.parametrize("kind", ["ascii", "binary", "binary_compressed"])
def test_pcd_encodings_read_the_same_fields(tmp_path, kind):
    rng = np.random.default_rng(1)
    n = 12
    packed = (np.arange(n, dtype=np.uint32) * 20 << 16) | (7 << 8) | 200
    fields = {"x": rng.normal(size=n).astype(np.float32), "y": rng.normal(size=n).astype(np.float32),
              "z": np.linspace(0.5, 2, n).astype(np.float32),
              "rgb": packed.view(np.float32), "label": np.arange(n, dtype=np.uint32) * 3,
              "intensity": rng.integers(-5, 5, n).astype(np.int16)}
    fields["x"][0] = np.nan  # invalid points are NaN in PCL clouds
    write_pcd(tmp_path / "c.pcd", fields, kind, width=4, height=3)
    cloud = read_pcd(tmp_path / "c.pcd")
    assert (cloud.width, cloud.height, cloud.organized) == (4, 3, True)
    for k in ("x", "y", "z", "label", "intensity"):
        np.testing.assert_array_equal(cloud.fields[k], fields[k])
    rgb = unpack_rgb(cloud.fields["rgb"])
    assert rgb[:, 0].tolist() == [(i * 20) % 256 for i in range(n)]
    assert (rgb[:, 1] == 7).all() and (rgb[:, 2] == 200).all()


def test_mosd_pcd_matches_open3d_and_loads_fast(shared_data):
    import open3d as o3d

    path = shared_data / "mosd" / "test44.pcd"
    best = min(_timed(read_pcd, path) for _ in range(2))
    assert best < 1.0, f"binary_compressed 640x480 PCD took {best:.2f}s"
    cloud = read_pcd(path)
    ref = o3d.io.read_point_cloud(str(path), remove_nan_points=False, remove_infinite_points=False)
    xyz = cloud.xyz()
    np.testing.assert_array_equal(np.isnan(xyz), np.isnan(np.asarray(ref.points)))
    np.testing.assert_allclose(np.nan_to_num(xyz), np.nan_to_num(np.asarray(ref.points)), atol=0)
    np.testing.assert_allclose(unpack_rgb(cloud.fields["rgba"]) / 255.0, np.asarray(ref.colors), atol=1e-6)


def _timed(fn, *args) -> float:
    t = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t


# ---------------------------------------------------------------- mOSD

@pytest.fixture(scope="module")
def mosd_scans(shared_data):
    return {s.path.stem: s for s in load_mosd_dir(shared_data / "mosd")}


def test_all_mosd_files_load(mosd_scans, shared_data):
    assert sorted(mosd_scans) == MOSD_NAMES
    for name, scan in mosd_scans.items():
        assert scan.layout == "mosd" and scan.frame_count == 1
        f = scan.frame(0)
        assert f.depth.shape == (480, 640) and f.color.shape == (480, 640, 3)
        np.testing.assert_array_equal(f.pose, np.eye(4))
        np.testing.assert_array_equal(f.intrinsics, [[525, 0, 319.5], [0, 525, 239.5], [0, 0, 1]])
        valid = f.depth > 0
        np.testing.assert_array_equal(valid, f.gt_instance > 0, err_msg=name)
        np.testing.assert_array_equal(f.gt_class > 0, valid, err_msg=name)
        assert 0.5 < f.depth[valid].min() and f.depth[valid].max() < 1.7, name
        objects = np.unique(f.gt_instance[f.gt_instance > 1])
        assert 3 <= len(objects) <= 20, f"{name}: {len(objects)} objects"
        assert (f.gt_instance == 1).sum() > 10000, f"{name}: the table should be large"
        assert (f.gt_class[f.gt_instance == 1] == TABLE_CLASS).all()
        gt = scan.ground_truth
        assert len(gt.points) == valid.sum(), name
        assert TABLE_CLASS in gt.ignore_classes
        assert sorted(np.unique(gt.instance).tolist()) == sorted(np.unique(f.gt_instance[valid]).tolist())
        assert f.color[valid].mean() > 40, f"{name}: colour should come from the rgba field"


def test_mosd_valid_mask_is_label_gt_zero_in_the_raw_cloud(shared_data, mosd_scans):
    for name in MOSD_NAMES:
        cloud = read_pcd(shared_data / "mosd" / f"{name}.pcd")
        label = cloud.fields["label"]
        finite = np.isfinite(cloud.xyz()).all(axis=1)
        np.testing.assert_array_equal(label > 0, finite, err_msg=name)
        assert cloud.organized == (name not in UNORGANIZED)
        f = mosd_scans[name].frame(0)
        if cloud.organized:
            grid = (label > 0).reshape(480, 640)
            np.testing.assert_array_equal(f.depth > 0, grid, err_msg=name)
            z = cloud.fields["z"].reshape(480, 640)
            np.testing.assert_allclose(f.depth[grid], z[grid])
            inst = f.gt_instance[grid]
            raw = label.reshape(480, 640)[grid].astype(np.int64)
            np.testing.assert_array_equal(inst, np.where(raw >= 10, raw // 10 + 1, 1))
        else:
            # every valid point lands on its own whole pixel of the 640x480 grid
            assert (f.depth > 0).sum() == (label > 0).sum(), name


def test_mosd_back_projection_reproduces_the_cloud(mosd_scans):
    for name in ("test44", "test43"):  # organized and unorganized
        scan = mosd_scans[name]
        pts = back_project(scan.frame(0), step=1)
        d = cKDTree(scan.ground_truth.points).query(pts)[0]
        assert np.median(d) < 1e-3 and np.percentile(d, 99) < 5e-3, name


# ---------------------------------------------------------------- Redwood / open3d-rgbd

def test_redwood_reader_on_open3d_rgbd(shared_data):
    root = shared_data / "open3d-rgbd"
    assert detect_layout(root) == "redwood"
    scan = load_scan(root)
    assert scan.layout == "redwood" and scan.frame_count == 5
    f = scan.frame(3)
    assert f.index == 3 and f.name == "00003"
    np.testing.assert_array_equal(f.intrinsics, [[525, 0, 319.5], [0, 525, 239.5], [0, 0, 1]])
    rows = [ln.split() for ln in (root / "trajectory.log").read_text().splitlines() if ln.strip()]
    expected = np.array(rows[3 * 5 + 1:3 * 5 + 5], float)
    np.testing.assert_allclose(f.pose, expected)
    raw = np.asarray(Image.open(root / "depth" / "00003.png")).astype(np.float64) / 1000.0
    raw[(raw < 0.1) | (raw > 6.0)] = 0
    np.testing.assert_allclose(f.depth, raw, rtol=1e-6)
    np.testing.assert_array_equal(f.color, np.asarray(Image.open(root / "color" / "00003.jpg").convert("RGB")))


def test_redwood_poses_make_consecutive_frames_overlap(shared_data):
    scan = load_scan(shared_data / "open3d-rgbd")
    frames = [scan.frame(i) for i in range(5)]
    good = overlap_distance(frames[0], frames[1])
    assert good < 0.015
    far = overlap_distance(frames[0], frames[4])
    assert far < 0.02
    assert overlap_distance(frames[0], frames[4], np.linalg.inv) > 3 * far
    flip = np.diag([1.0, -1, -1, 1])  # OpenGL camera axes
    assert overlap_distance(frames[0], frames[4], lambda p: p @ flip) > 3 * far


# ---------------------------------------------------------------- slambook / pose.txt

def test_slambook_preset_is_detected_and_reads_poses(shared_data):
    root = shared_data / "slambook-room"
    assert detect_layout(root) == "slambook"
    scan = load_scan(root)
    assert scan.frame_count == 5
    f = scan.frame(1)
    assert f.index == 2 and f.name == "2"
    np.testing.assert_array_equal(f.intrinsics, [[518.0, 0, 325.5], [0, 519.0, 253.5], [0, 0, 1]])
    line = np.array((root / "pose.txt").read_text().splitlines()[1].split(), float)
    np.testing.assert_allclose(f.pose[:3, 3], line[:3])
    np.testing.assert_allclose(f.pose[:3, :3], Rotation.from_quat(line[3:]).as_matrix(), atol=1e-6)
    np.testing.assert_array_equal(f.color, np.asarray(Image.open(root / "color" / "2.png").convert("RGB")))
    d = f.depth[f.depth > 0]
    assert d.min() >= 0.1 and d.max() <= 6.0 and 1.0 < np.median(d) < 4.0


def test_slambook_poses_make_consecutive_frames_overlap(shared_data):
    scan = load_scan(shared_data / "slambook-room")
    frames = [scan.frame(i) for i in range(5)]
    for a, b in ((1, 2), (3, 4)):  # frames 2->3 and 4->5 (frame 1 sees a different part of the room)
        good = overlap_distance(frames[a], frames[b])
        assert good < 0.04, (a, b, good)
        assert overlap_distance(frames[a], frames[b], np.linalg.inv) > 4 * good
        assert overlap_distance(frames[a], frames[b], lambda p: p @ np.diag([1.0, -1, -1, 1])) > 4 * good


def test_posefile_manifest_by_file_by_path_and_by_options(tmp_path):
    root = tmp_path / "scan"
    poses = np.array([[0, 0, 0, 0, 0, 0, 1], [0.5, 0, 0, 0, np.sin(0.25), 0, np.cos(0.25)]])
    for i in range(2):
        write_rgb(root / "rgb" / f"{i + 5:03d}.png", np.full((6, 8, 3), 30 * i, np.uint8))
        write_png16(root / "d" / f"{i + 5:03d}.png", np.full((6, 8), 2000 + i, np.uint16))
    np.savetxt(root / "poses.txt", poses)
    manifest = {"fx": 10.0, "fy": 11.0, "cx": 3.5, "cy": 2.5, "width": 8, "height": 6, "depth_scale": 500,
                "color": "rgb/{:03d}.png", "depth": "d/{:03d}.png", "first_index": 5, "pose_file": "poses.txt"}
    elsewhere = tmp_path / "m.json"
    elsewhere.write_text(json.dumps(manifest))
    by_path = load_scan(root, layout="posefile", manifest=elsewhere)
    by_options = load_scan(root, layout="posefile", **manifest)
    (root / "ot3d_scan.json").write_text(json.dumps(manifest))
    assert detect_layout(root) == "posefile"
    by_file = load_scan(root)
    for scan in (by_path, by_options, by_file):
        assert scan.frame_count == 2
        f = scan.frame(1)
        assert f.index == 6
        assert np.allclose(f.depth, 2001 / 500)
        np.testing.assert_allclose(f.pose[:3, :3], Rotation.from_rotvec([0, 0.5, 0]).as_matrix(), atol=1e-12)
        np.testing.assert_allclose(f.pose[:3, 3], [0.5, 0, 0])
        assert f.intrinsics[1, 1] == 11.0
    assert load_scan(root, fx=20.0).frame(0).intrinsics[0, 0] == 20.0  # options override the manifest


# ---------------------------------------------------------------- ScanNet

def test_scannet_tiny_export(tmp_path):
    info = make_scannet(tmp_path)
    assert detect_layout(tmp_path) == "scannet"
    scan = load_scan(tmp_path)
    assert scan.frame_count == 3 and scan.meta["frame_numbers"] == [2, 9, 10]
    for i, n in enumerate([2, 9, 10]):
        f = scan.frame(i)
        t = info["truth"][n]
        assert f.index == n and f.color.shape == (24, 32, 3) and f.depth.shape == (24, 32)
        expected = t["depth"].astype(np.float32)
        expected[(expected < 0.1) | (expected > 6.0)] = 0
        np.testing.assert_allclose(f.depth, expected, rtol=1e-6)
        assert f.depth[0, 0] == 0 and f.depth[0, 1] == 0
        np.testing.assert_allclose(f.pose, t["pose"])
        np.testing.assert_allclose(f.intrinsics, info["K"])
        assert abs(int(f.color[..., 0].mean()) - t["red"]) <= 3  # colour resampled, jpg or png
        np.testing.assert_array_equal(f.gt_instance, t["inst"])
        assert f.gt_instance.dtype == np.int32
        np.testing.assert_array_equal(f.gt_class, (t["inst"] > 0) * 7)
    gt = scan.ground_truth
    assert gt.points.shape == (50, 3) and gt.class_names == {1: "wall", 7: "chair"} and gt.ignore_classes == (1,)
    assert scan.mesh_path == tmp_path / "scene_mesh.ply"


def test_scannet_colour_intrinsics_fallback_is_scaled_to_depth(tmp_path):
    info = make_scannet(tmp_path, with_gt=False)
    (tmp_path / "intrinsic" / "intrinsic_depth.txt").unlink()
    scan = load_scan(tmp_path)
    np.testing.assert_allclose(scan.frame(0).intrinsics, info["K"], atol=1e-9)
    assert scan.ground_truth is None and scan.mesh_path is None


def test_scannet_skip_bad_poses(tmp_path):
    make_scannet(tmp_path, with_gt=False)
    bad = np.full((4, 4), -np.inf)
    np.savetxt(tmp_path / "pose" / "9.txt", bad)
    with pytest.warns(UserWarning, match="9.txt"):
        scan = load_scan(tmp_path, skip_bad_poses=True)
    assert [scan.frame(i).index for i in range(scan.frame_count)] == [2, 10]


def test_scannet_poses_agree_with_rendered_depth(tmp_path):
    """Depth rendered from a known plane through our poses must back-project onto the plane."""
    h, w, f = 48, 64, 50.0
    K = np.array([[f, 0, (w - 1) / 2], [0, f, (h - 1) / 2], [0, 0, 1]])
    v, u = np.mgrid[0:h, 0:w]
    rays = np.stack([(u - K[0, 2]) / f, (v - K[1, 2]) / f, np.ones((h, w))], -1)
    for n, eye in enumerate([[2.0, 0.3, 1.2], [1.5, -1.0, 1.6]]):
        pose = look_at_pose(eye, [0, 0, 0])
        world_dirs = rays @ pose[:3, :3].T
        t = -pose[2, 3] / world_dirs[..., 2]  # hit the floor z = 0; z-depth = t (ray z component 1)
        write_png16(tmp_path / "depth" / f"{n}.png", np.rint(t * 1000))
        write_rgb(tmp_path / "color" / f"{n}.png", np.zeros((h, w, 3)))
        (tmp_path / "pose").mkdir(exist_ok=True)
        np.savetxt(tmp_path / "pose" / f"{n}.txt", pose)
    (tmp_path / "intrinsic").mkdir()
    np.savetxt(tmp_path / "intrinsic" / "intrinsic_depth.txt", K)
    scan = load_scan(tmp_path)
    for i in range(2):
        pts = back_project(scan.frame(i), step=1)
        assert len(pts) > 1000 and np.abs(pts[:, 2]).max() < 0.01


# ---------------------------------------------------------------- Replica

def test_replica_tiny_folder(tmp_path):
    (tmp_path / "results").mkdir()
    poses = [look_at_pose([1, k, 1], [0, 0, 0]) for k in range(3)]
    for k in range(3):
        write_rgb(tmp_path / "results" / f"frame{k:06d}.jpg", np.full((12, 16, 3), 90, np.uint8))
        write_png16(tmp_path / "results" / f"depth{k:06d}.png", np.full((12, 16), 13107 + k, np.uint16))
    (tmp_path / "traj.txt").write_text("\n".join(" ".join(repr(x) for x in p.ravel()) for p in poses) + "\n")
    (tmp_path / "cam_params.json").write_text(json.dumps(
        {"camera": {"w": 16, "h": 12, "fx": 8.0, "fy": 8.0, "cx": 7.5, "cy": 5.5, "scale": 6553.5}}))
    assert detect_layout(tmp_path) == "replica"
    scan = load_scan(tmp_path)
    assert scan.frame_count == 3
    f = scan.frame(2)
    assert f.index == 2 and np.allclose(f.depth, (13107 + 2) / 6553.5)
    np.testing.assert_allclose(f.pose, poses[2])
    np.testing.assert_allclose(f.intrinsics, [[8, 0, 7.5], [0, 8, 5.5], [0, 0, 1]])
    (tmp_path / "cam_params.json").unlink()
    opt = load_scan(tmp_path, fx=8.0, fy=8.0, cx=7.5, cy=5.5, depth_scale=1000.0)
    assert (opt.frame(0).depth == 0).all()  # 13.1 m is beyond depth_max
    assert np.allclose(load_scan(tmp_path, fx=8.0, fy=8.0, cx=7.5, cy=5.5, depth_scale=6553.5,
                                 depth_max=10).frame(0).depth, 2.0)


# ---------------------------------------------------------------- loader

def test_stride_and_max_frames_keep_original_frame_numbers(shared_data):
    scan = load_scan(shared_data / "slambook-room", stride=2, max_frames=2)
    assert scan.frame_count == len(scan) == 2
    assert [f.index for f in scan.frames()] == [1, 3]
    assert scan.meta["frame_numbers"] == [1, 3]
    with pytest.raises(IndexError):
        scan.frame(2)
    forced = load_scan(shared_data / "slambook-room", layout="slambook", max_frames=1)
    assert forced.frame_count == 1


def test_depth_range_option(shared_data):
    near = load_scan(shared_data / "open3d-rgbd", depth_min=1.0, depth_max=2.0).frame(0).depth
    valid = near[near > 0]
    assert valid.min() >= 1.0 and valid.max() <= 2.0
    assert (near > 0).sum() < (load_scan(shared_data / "open3d-rgbd").frame(0).depth > 0).sum()
