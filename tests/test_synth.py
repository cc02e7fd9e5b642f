"""Synthetic scenes: files in the ScanNet export layout whose ground truth agrees with itself.

Files are read back directly with numpy/PIL/open3d, not through the engine's scan reader,
so these tests check the written format itself.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import open3d as o3d
import pytest
from PIL import Image
from scipy.spatial import cKDTree

from ot3d_engine.errors import ScanError
from ot3d_engine.io.ply import read_ply
from ot3d_engine.synth import generate_scene

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def room(tmp_path_factory) -> Path:
    return generate_scene(tmp_path_factory.mktemp("synth") / "seed7", seed=7, frames=8)


def frame_count(d: Path) -> int:
    return len(list((d / "depth").glob("*.png")))


def read_u16(p: Path) -> np.ndarray:
    im = Image.open(p)
    assert im.mode == "I;16", f"{p} is {im.mode}, not 16-bit"
    return np.asarray(im)


def read_frame(d: Path, i: int) -> dict:
    return {
        "color": np.asarray(Image.open(d / "color" / f"{i}.jpg").convert("RGB")),
        "depth": read_u16(d / "depth" / f"{i}.png").astype(np.float64) / 1000.0,
        "instance": read_u16(d / "instance" / f"{i}.png"),
        "semantic": read_u16(d / "semantic" / f"{i}.png"),
        "pose": np.loadtxt(d / "pose" / f"{i}.txt"),
    }


def read_gt(d: Path):
    with np.load(d / "gt_points.npz") as z:
        gt = {k: z[k] for k in ("points", "instance", "semantic")}
    return gt, json.loads((d / "gt_classes.json").read_text())


def intrinsics(d: Path) -> np.ndarray:
    return np.loadtxt(d / "intrinsic" / "intrinsic_depth.txt")[:3, :3]


def back_project(depth: np.ndarray, K: np.ndarray, pose: np.ndarray):
    v, u = np.nonzero(depth > 0)
    z = depth[v, u]
    cam = np.stack([(u - K[0, 2]) * z / K[0, 0], (v - K[1, 2]) * z / K[1, 1], z], 1)
    return cam @ pose[:3, :3].T + pose[:3, 3], v, u


def object_ids(classes: dict) -> set[int]:
    ignore = set(classes["ignore"])
    return {int(i) for i, c in classes["instances"].items() if c not in ignore}


def test_layout_and_formats(room):
    assert frame_count(room) == 8
    for sub in ("color", "depth", "pose", "instance", "semantic"):
        assert len(list((room / sub).iterdir())) == 8, sub
    K4 = np.loadtxt(room / "intrinsic" / "intrinsic_depth.txt")
    assert K4.shape == (4, 4) and np.allclose(K4[3], [0, 0, 0, 1])
    assert np.allclose(np.loadtxt(room / "intrinsic" / "intrinsic_color.txt"), K4)
    assert K4[0, 0] == pytest.approx(525.0) and K4[1, 1] == pytest.approx(525.0)
    f = read_frame(room, 3)
    assert f["color"].shape == (480, 640, 3) and f["depth"].shape == (480, 640)
    assert np.allclose(f["pose"][3], [0, 0, 0, 1]) and np.allclose(f["pose"][:3, :3].T @ f["pose"][:3, :3], np.eye(3), atol=1e-6)
    valid = f["depth"] > 0
    assert valid.mean() > 0.95 and f["depth"][valid].min() > 0.2 and f["depth"].max() < 10
    assert np.array_equal(valid, f["instance"] > 0)  # every depth pixel has an instance
    gt, classes = read_gt(room)
    assert gt["points"].dtype == np.float32 and gt["instance"].dtype == np.int32 and gt["semantic"].dtype == np.int32
    names = {int(k): v for k, v in classes["classes"].items()}
    assert {names[c] for c in classes["ignore"]} >= {"wall", "floor"}
    assert 6 <= len(object_ids(classes)) <= 15
    meta = json.loads((room / "scene.json").read_text())
    assert meta["seed"] == 7 and meta["frames"] == 8 and np.allclose(meta["intrinsics"], K4[:3, :3])


def test_pixels_back_project_onto_gt_points_of_their_instance(room):
    gt, _ = read_gt(room)
    K = intrinsics(room)
    trees = {int(i): cKDTree(gt["points"][gt["instance"] == i]) for i in np.unique(gt["instance"])}
    near = total = 0
    for i in range(frame_count(room)):
        f = read_frame(room, i)
        pts, v, u = back_project(f["depth"], K, f["pose"])
        inst = f["instance"][v, u].astype(int)
        for iid in np.unique(inst):
            sel = inst == iid
            dist, _ = trees[int(iid)].query(pts[sel][::4], distance_upper_bound=0.03)
            near += np.count_nonzero(np.isfinite(dist))
            total += len(dist)
    assert near / total > 0.95


def test_same_class_instances_and_semantics_agree(room):
    gt, classes = read_gt(room)
    inst_class = {int(i): c for i, c in classes["instances"].items()}
    # per-point semantic ids follow the instance table
    assert np.array_equal(gt["semantic"], np.vectorize(inst_class.get)(gt["instance"]))
    seen = [i for i in object_ids(classes) if np.count_nonzero(gt["instance"] == i) >= 100]
    per_class = np.bincount([inst_class[i] for i in seen])
    assert per_class.max() >= 2, "expected several instances of one class (e.g. chairs)"


def test_some_object_is_partly_hidden_by_another(room):
    gt, classes = read_gt(room)
    objects = object_ids(classes)
    K = intrinsics(room)
    found = []
    for i in range(frame_count(room)):
        f = read_frame(room, i)
        for iid in objects:
            if np.count_nonzero(f["instance"] == iid) < 300:
                continue
            p = gt["points"][gt["instance"] == iid].astype(np.float64)
            cam = (p - f["pose"][:3, 3]) @ f["pose"][:3, :3]
            cam = cam[cam[:, 2] > 0.1]
            u = np.round(cam[:, 0] / cam[:, 2] * K[0, 0] + K[0, 2]).astype(int)
            v = np.round(cam[:, 1] / cam[:, 2] * K[1, 1] + K[1, 2]).astype(int)
            inside = (u >= 0) & (u < 640) & (v >= 0) & (v < 480)
            u, v, z = u[inside], v[inside], cam[inside, 2]
            front = f["instance"][v, u].astype(int)
            hidden = (z > f["depth"][v, u] + 0.05) & np.isin(front, list(objects - {iid}))
            if hidden.mean() > 0.1:
                found.append((i, iid))
    assert found, "no object is occluded by another object in any frame"


def test_mesh_is_readable_and_labelled(room):
    vertex, faces = read_ply(room / "scene_mesh.ply")
    for name in ("x", "y", "z", "red", "green", "blue", "instance_id", "class_id"):
        assert name in vertex
    mesh = o3d.io.read_triangle_mesh(str(room / "scene_mesh.ply"))
    assert len(mesh.vertices) == len(vertex["x"]) and len(mesh.triangles) == len(faces)
    assert mesh.has_vertex_colors()
    _, classes = read_gt(room)
    assert set(np.unique(vertex["instance_id"]).tolist()) == {int(i) for i in classes["instances"]}
    v = np.stack([vertex["x"], vertex["y"], vertex["z"]], 1)
    edges = np.linalg.norm(v[faces[:, 0]] - v[faces[:, 1]], axis=1)
    assert np.median(edges) < 0.1  # subdivided: vertices everywhere, not 12-triangle boxes
    on_furniture = np.isin(vertex["instance_id"], list(object_ids(classes)))
    furn = faces[on_furniture[faces[:, 0]]]
    assert np.median(np.linalg.norm(v[furn[:, 0]] - v[furn[:, 1]], axis=1)) < 0.06


def test_same_seed_same_scene_other_seed_differs(tmp_path):
    kw = dict(frames=3, width=160, height=120)
    a = generate_scene(tmp_path / "a", seed=5, **kw)
    b = generate_scene(tmp_path / "b", seed=5, **kw)
    c = generate_scene(tmp_path / "c", seed=6, **kw)
    for i in range(3):
        fa, fb, fc = read_frame(a, i), read_frame(b, i), read_frame(c, i)
        for key in fa:
            assert np.array_equal(fa[key], fb[key]), f"frame {i} {key} differs for the same seed"
        assert not np.array_equal(fa["depth"], fc["depth"])
    ga, gb, gc = read_gt(a)[0], read_gt(b)[0], read_gt(c)[0]
    for key in ga:
        assert np.array_equal(ga[key], gb[key])
    assert len(ga["points"]) != len(gc["points"]) or not np.array_equal(ga["points"], gc["points"])
    assert (a / "scene_mesh.ply").read_bytes() == (b / "scene_mesh.ply").read_bytes()
    # depth noise perturbs depth only, and stays deterministic
    n = generate_scene(tmp_path / "n", seed=5, depth_noise=0.01, **kw)
    fa, fn = read_frame(a, 1), read_frame(n, 1)
    assert np.array_equal(fa["instance"], fn["instance"]) and not np.array_equal(fa["depth"], fn["depth"])
    valid = fa["depth"] > 0
    relative = (fn["depth"] - fa["depth"])[valid] / fa["depth"][valid] ** 2  # sigma grows with z^2
    assert np.std(relative) == pytest.approx(0.01, rel=0.15)


def test_failed_run_leaves_no_scene_and_foreign_folders_are_kept(tmp_path, monkeypatch):
    from ot3d_engine.synth import writer

    def boom(self, mesh):
        raise RuntimeError("disk full")

    monkeypatch.setattr(writer.SceneWriter, "mesh", boom)
    with pytest.raises(RuntimeError):
        generate_scene(tmp_path / "s", seed=1, frames=2, width=64, height=48)
    assert list(tmp_path.iterdir()) == []  # neither the scene nor its temp folder
    monkeypatch.undo()
    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    with pytest.raises(ScanError, match="not a synthetic scene"):
        generate_scene(other, seed=1, frames=2, width=64, height=48)
    assert (other / "notes.txt").read_text() == "keep me"
    # an earlier synthetic scene is replaced
    s = generate_scene(tmp_path / "s", seed=1, frames=2, width=64, height=48)
    generate_scene(s, seed=2, frames=1, width=64, height=48)
    assert json.loads((s / "scene.json").read_text())["seed"] == 2 and frame_count(s) == 1


def _cli(*args) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "ot3d_engine", *args], capture_output=True, text=True,
                          cwd=REPO, env=env, timeout=300)


def test_cli_synth_then_eval_of_a_perfect_prediction(tmp_path):
    scan = tmp_path / "scan"
    done = _cli("synth", "--seed", "3", "--out", str(scan), "--frames", "6")
    assert done.returncode == 0, done.stderr
    assert frame_count(scan) == 6
    gt, classes = read_gt(scan)
    objects = sorted(object_ids(classes))
    ids = np.where(np.isin(gt["instance"], objects), gt["instance"], 0).astype(np.int32)
    pred = tmp_path / "pred"
    pred.mkdir()
    np.savez(pred / "points.npz", points=gt["points"], colors=np.zeros((len(ids), 3), np.uint8), instance_ids=ids)
    names = classes["classes"]
    (pred / "instances.json").write_text(json.dumps({"instances": [
        {"id": i, "label": names[str(classes["instances"][str(i)])], "score": 0.5} for i in objects]}))
    done = _cli("eval", "--pred", str(pred), "--gt", str(scan), "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["ap"] == 1.0 and result["ap50"] == 1.0 and result["ap25"] == 1.0
    assert result["counts"]["gt_instances"] >= 5

    missing = tmp_path / "no_such_scan"
    done = _cli("eval", "--pred", str(pred), "--gt", str(missing), "--json")
    assert done.returncode == 2
    assert str(missing) in done.stderr and done.stderr.startswith("error: ")
    assert "Traceback" not in done.stderr and done.stdout == ""
