"""End to end on generated rooms: quality bars that catch tracker regressions, and the CLI."""

import json
import subprocess
import sys

import numpy as np
import pytest

from ot3d_engine.baselines import cluster_baseline
from ot3d_engine.config import BackendConfig, PipelineConfig
from ot3d_engine.errors import Cancelled
from ot3d_engine.eval.ap import evaluate
from ot3d_engine.io import load_scan
from ot3d_engine.pipeline import run_pipeline
from ot3d_engine.synth import generate_scene


@pytest.fixture(scope="module")
def room(tmp_path_factory):
    d = tmp_path_factory.mktemp("room") / "scan"
    generate_scene(d, seed=1, frames=12)
    return d


def ap(scan, result):
    return evaluate(scan.ground_truth, result.points, result.instance_ids,
                    {i.id: i.score for i in result.instances})


def test_tracker_with_oracle_masks_recovers_the_instances(room):
    scan = load_scan(room)
    result = run_pipeline(scan, PipelineConfig(segmenter=BackendConfig("oracle")))
    ev = ap(scan, result)
    assert ev.counts["gt_instances"] >= 5
    assert ev.ap50 >= 0.9, ev.to_dict()


def test_geometric_pipeline_finds_objects_and_reports_stages(room):
    scan = load_scan(room)
    seen = []
    result = run_pipeline(scan, progress=lambda stage, f, msg="": seen.append((stage, f)))
    ev = ap(scan, result)
    assert ev.ap25 >= 0.4, ev.to_dict()
    assert {"segment2d", "lift", "track", "refine"} <= set(result.timings)
    fractions = [f for s, f in seen if s == "track"]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    # the feature similarity's zero point was learned from the scan's own masks
    assert 0.0 < result.meta["feature_null_similarity"] < 0.99
    # every instance id in the cloud is described, and vice versa
    assert set(np.unique(result.instance_ids[result.instance_ids > 0])) == {i.id for i in result.instances}


def test_cluster_baseline_is_deterministic(room):
    scan = load_scan(room)
    a, b = cluster_baseline(scan), cluster_baseline(scan)
    assert np.array_equal(a.instance_ids, b.instance_ids)


def test_cancel_stops_between_frames(room):
    scan = load_scan(room)
    calls = []

    def cancel():
        calls.append(1)
        return len(calls) > 3

    with pytest.raises(Cancelled):
        run_pipeline(scan, cancel=cancel)
    assert len(calls) == 4


def cli(*args):
    return subprocess.run([sys.executable, "-m", "ot3d_engine", *args], capture_output=True, text=True, timeout=300)


def test_cli_segment_then_eval(room, tmp_path):
    out = tmp_path / "seg"
    r = cli("segment", str(room), "--out", str(out), "--segmenter", "oracle")
    assert r.returncode == 0, r.stderr
    assert "ms/frame" in r.stdout and "lift" in r.stdout  # the per-stage timing summary
    for name in ("points.npz", "instances.json", "scene.ply", "preview.png"):
        assert (out / name).is_file(), name
    r = cli("eval", "--pred", str(out), "--gt", str(room), "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["ap50"] >= 0.9


def test_cli_segment_bad_scan_is_a_clear_error(tmp_path):
    bad = tmp_path / "not-a-scan"
    bad.mkdir()
    (bad / "notes.txt").write_text("hello")
    r = cli("segment", str(bad), "--out", str(tmp_path / "o"))
    assert r.returncode == 2
    assert "not-a-scan" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "o" / "instances.json").exists()


def test_cli_unknown_backend_names_the_choices(room, tmp_path):
    r = cli("segment", str(room), "--out", str(tmp_path / "o"), "--segmenter", "nope")
    assert r.returncode == 2 and "geometric" in r.stderr


def test_cli_superpoint_refinement_labels_the_mesh(room, tmp_path):
    from ot3d_engine.io.ply import read_ply

    out = tmp_path / "sp"
    r = cli("segment", str(room), "--out", str(out), "--superpoints")
    assert r.returncode == 0, r.stderr
    assert "superpoints" in r.stdout
    vertex, faces = read_ply(out / "mesh_instances.ply")
    mesh_vertex, _ = read_ply(room / "scene_mesh.ply")
    assert len(vertex["instance_id"]) == len(mesh_vertex["x"]) and faces is not None
    ids = np.loadtxt(out / "mesh_instance_ids.txt", dtype=np.int64)
    assert np.array_equal(ids, vertex["instance_id"])
    doc = json.loads((out / "instances.json").read_text())
    assert set(np.unique(ids[ids > 0])) <= {r["id"] for r in doc["instances"]}


def test_superpoints_without_a_mesh_is_a_clear_error(shared_data, tmp_path):
    r = cli("segment", str(shared_data / "slambook-room"), "--out", str(tmp_path / "o"), "--superpoints")
    assert r.returncode == 2 and "mesh" in r.stderr and "Traceback" not in r.stderr
