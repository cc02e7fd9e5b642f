"""Export of a corrected segmentation (ScanNet text files, instances.json, PLY with instance
attributes) checked file by file, and re-imported: the same instances come back."""

from __future__ import annotations

import json

import numpy as np
import pytest

from addon_env import attr, bpy, engine_module, ext_scene, fresh_scene, positions, segmented  # noqa: F401


def read_ply(path):
    return engine_module("io.ply").read_ply(path)


def read_scene(path):
    return engine_module("output.scene_io").read_scene(path)


def instances_of(scene) -> dict[int, dict]:
    full = scene.ot3d.scene_object
    pts = positions(full)
    out = {}
    for o in bpy.data.collections["Instances"].objects:
        idx = attr(o, "point_index")
        out[int(o["instance_id"])] = {"label": o["label"], "score": round(float(o["score"]), 5),
                                      "name": o.name, "points": pts[idx]}
    return out


@pytest.fixture
def corrected(segmented):
    """The engine's segmentation with two corrections, so the export must carry edits."""
    ext, scene, _ = segmented
    objs = sorted(bpy.data.collections["Instances"].objects, key=lambda o: -o["point_count"])
    objs[0].select_set(True)
    bpy.context.view_layer.objects.active = objs[0]
    assert bpy.ops.ot3d.relabel(label="bookshelf") == {"FINISHED"}
    for o in scene.objects:
        o.select_set(False)
    objs[-1].select_set(True)
    assert bpy.ops.ot3d.delete() == {"FINISHED"}
    return ext, scene


def test_export_writes_scannet_json_and_ply(corrected, tmp_path):
    ext, scene = corrected
    ids = attr(scene.ot3d.scene_object, "instance_id")
    pts = positions(scene.ot3d.scene_object)
    want = instances_of(scene)
    out = tmp_path / "export"
    assert bpy.ops.ot3d.export(directory=str(out), scene_name="scene0000_00") == {"FINISHED"}

    # ScanNet: summary lines "pred_mask/<file> <label_id> <score>", one 0/1 line per vertex per mask
    label_map = dict(line.split("\t")[::-1] for line in (out / "label_map.tsv").read_text().splitlines()[1:])
    summary = (out / "scene0000_00.txt").read_text().splitlines()
    assert len(summary) == len(want)
    for line, inst_id in zip(summary, sorted(want)):
        rel, label_id, score = line.split()
        mask = np.loadtxt(out / rel, dtype=np.int64)
        assert mask.shape == (len(ids),)
        np.testing.assert_array_equal(np.flatnonzero(mask), np.flatnonzero(ids == inst_id))
        assert label_map[want[inst_id]["label"]] == label_id
        assert float(score) == pytest.approx(want[inst_id]["score"], abs=1e-5)
    per_vertex = np.loadtxt(out / "scene0000_00_instance_ids.txt", dtype=np.int64)
    np.testing.assert_array_equal(per_vertex, ids)
    labels = np.loadtxt(out / "scene0000_00_labels.txt", dtype=np.int64)
    assert np.all(labels[ids == 0] == 0)
    for inst_id, rec in want.items():
        assert np.all(labels[ids == inst_id] == int(label_map[rec["label"]]))

    # PLY with per-vertex instance and label ids, read by the engine's reader
    vertex, faces = read_ply(out / "scene.ply")
    assert faces is None
    np.testing.assert_array_equal(vertex["instance_id"], ids)
    np.testing.assert_array_equal(vertex["label_id"], labels)
    np.testing.assert_allclose(np.stack([vertex["x"], vertex["y"], vertex["z"]], 1), pts, atol=1e-6)

    # instances.json + points.npz: the engine's scene format
    doc = json.loads((out / "instances.json").read_text())
    assert {r["id"]: r["label"] for r in doc["instances"]} == {i: r["label"] for i, r in want.items()}
    assert "bookshelf" in {r["label"] for r in doc["instances"]}
    engine = read_scene(out)
    np.testing.assert_array_equal(engine.instance_ids, ids)
    assert all(r["point_count"] == int(np.sum(ids == r["id"])) for r in doc["instances"])


def test_reimport_reproduces_the_same_instances(corrected, tmp_path):
    ext, scene = corrected
    want = instances_of(scene)
    ids = attr(scene.ot3d.scene_object, "instance_id").copy()
    out = tmp_path / "export"
    assert bpy.ops.ot3d.export(directory=str(out)) == {"FINISHED"}

    for source in (out, out / "scene.ply"):
        ext, scene = fresh_scene()
        assert bpy.ops.ot3d.import_result(filepath=str(source)) == {"FINISHED"}
        got = instances_of(scene)
        assert sorted(got) == sorted(want), source
        np.testing.assert_array_equal(attr(scene.ot3d.scene_object, "instance_id"), ids)
        for inst_id, rec in want.items():
            assert got[inst_id]["label"] == rec["label"] and got[inst_id]["name"] == rec["name"]
            np.testing.assert_allclose(got[inst_id]["points"], rec["points"], atol=1e-6)
            if source == out:  # the PLY carries no scores
                assert got[inst_id]["score"] == rec["score"]


def test_import_of_a_broken_result_is_refused_and_changes_nothing(segmented, tmp_path):
    ext, scene, _ = segmented
    names = sorted(o.name for o in bpy.data.objects)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "instances.json").write_text("{not json")
    (bad / "points.npz").write_bytes(b"junk")
    with pytest.raises(RuntimeError, match=r"bad/instances.json: not valid JSON"):
        bpy.ops.ot3d.import_result(filepath=str(bad))
    (bad / "plain.ply").write_text("ply\nformat ascii 1.0\nelement vertex 1\nproperty float x\n"
                                   "property float y\nproperty float z\nend_header\n0 0 0\n")
    with pytest.raises(RuntimeError, match=r"plain.ply: PLY has no 'instance_id' vertex property"):
        bpy.ops.ot3d.import_result(filepath=str(bad / "plain.ply"))
    assert sorted(o.name for o in bpy.data.objects) == names


def test_export_without_a_segmentation_is_refused(ext_scene, tmp_path):
    with pytest.raises(RuntimeError, match="no segmentation in this scene"):
        bpy.ops.ot3d.export(directory=str(tmp_path / "x"))
    assert not (tmp_path / "x").exists()
