"""The prefetch pipeline gives the sequential result; --live publishes complete snapshots
while the scan streams, cheaply."""

import json
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from ot3d_engine.config import PipelineConfig
from ot3d_engine.errors import Cancelled
from ot3d_engine.eval.ap import evaluate
from ot3d_engine.io import load_scan
from ot3d_engine.output.live import LATEST, LiveOptions, read_latest
from ot3d_engine.pipeline import build_backends, run_pipeline
from ot3d_engine.synth import generate_scene


@pytest.fixture(scope="module")
def rooms(tmp_path_factory):
    out = []
    for seed in (2, 5):
        d = tmp_path_factory.mktemp(f"room{seed}") / "scan"
        generate_scene(d, seed=seed, frames=16, width=320, height=240)
        out.append(d)
    return out


def run(scan, prefetch, **kw):
    cfg = PipelineConfig()
    cfg.scan.prefetch = prefetch
    return run_pipeline(scan, cfg, **kw)


def assert_same(a, b):
    assert np.array_equal(a.points, b.points)
    assert np.array_equal(a.colors, b.colors)
    assert np.array_equal(a.instance_ids, b.instance_ids)
    assert [(i.id, i.score, i.label, len(i.points)) for i in a.instances] == \
           [(i.id, i.score, i.label, len(i.points)) for i in b.instances]


def ap50(scan, result):
    return evaluate(scan.ground_truth, result.points, result.instance_ids,
                    {i.id: i.score for i in result.instances}).ap50


def test_default_prefetches_and_matches_sequential_on_synthetic_rooms(rooms):
    assert PipelineConfig().scan.prefetch > 0  # the parallel pipeline is the default
    for path in rooms:
        scan = load_scan(path)
        seq, par = run(scan, 0), run(scan, 4)
        assert_same(seq, par)
        assert abs(ap50(scan, seq) - ap50(scan, par)) <= 0.005
        assert "wait" in par.timings and "wait" not in seq.timings


def test_prefetch_matches_sequential_on_real_kitchen_and_mosd(shared_data):
    kitchen = load_scan(shared_data / "7scenes-kitchen", max_frames=30)
    assert_same(run(kitchen, 0), run(kitchen, 3))
    pcd = load_scan(next(iter(sorted((shared_data / "mosd").glob("test*.pcd")))))
    assert_same(run(pcd, 0), run(pcd, 3))


def prefetch_threads():
    return [t for t in threading.enumerate() if t.name.startswith("ot3d-prefetch")]


def test_cancel_and_backend_errors_stop_the_worker(rooms):
    scan = load_scan(rooms[0])
    calls = []
    with pytest.raises(Cancelled):
        run(scan, 4, cancel=lambda: calls.append(1) or len(calls) > 3)
    assert not prefetch_threads()

    segmenter, features = build_backends(PipelineConfig())

    class Failing:
        def segment(self, frame):
            if frame.index == 5:
                raise RuntimeError("frame 5 is broken")
            return segmenter.segment(frame)

    with pytest.raises(RuntimeError, match="frame 5 is broken"):
        run(scan, 4, backends=(Failing(), features))
    assert not prefetch_threads()


def test_live_snapshots_are_complete_and_end_as_the_result(rooms, tmp_path):
    scan = load_scan(rooms[1])
    live = tmp_path / "live"
    result = run(scan, 4, live=LiveOptions(live, every=2))
    meta, arrays = read_latest(live)
    assert meta["final"] and meta["seq"] == result.meta["live"]["snapshots"] >= 3
    assert np.array_equal(arrays["instance_ids"], result.instance_ids)
    assert np.array_equal(arrays["points"], result.points)
    assert meta["instances"] == len(result.instances)
    assert len(list(live.glob("snapshot-*.npz"))) <= 3  # old snapshots are pruned
    assert not list(live.glob(".*"))  # no temp file left behind
    # publishing is paced by its own cost: at most 10% of the run
    assert result.timings["live"] <= 0.1 * sum(v for k, v in result.timings.items() if k != "live") + 0.01


def test_cli_live_snapshots_appear_during_the_run(rooms, tmp_path):
    live, out = tmp_path / "live", tmp_path / "seg"
    proc = subprocess.Popen([sys.executable, "-m", "ot3d_engine", "segment", str(rooms[0]), "--out", str(out),
                             "--live", str(live), "--live-every", "1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen = {}
    while proc.poll() is None:
        try:
            snap = read_latest(live)
        except FileNotFoundError:  # pruned between reading `latest` and opening it: the next poll
            snap = None
        if snap is not None:
            meta, arrays = snap
            n = meta["points"]
            assert arrays["points"].shape == (n, 3) and arrays["colors"].shape == (n, 3)
            assert arrays["instance_ids"].shape == (n,)
            ids = arrays["instance_ids"]
            assert meta["instances"] == len(np.unique(ids[ids > 0]))
            seen[meta["seq"]] = meta
        time.sleep(0.01)
    stdout, stderr = proc.communicate()
    assert proc.returncode == 0, stderr
    running = [m for m in seen.values() if not m["final"]]
    assert len(running) >= 2, seen  # snapshots appeared while frames streamed
    assert [m["frame"] for m in sorted(running, key=lambda m: m["seq"])] == sorted(m["frame"] for m in running)
    meta, arrays = read_latest(live)
    final = json.loads((out / "instances.json").read_text())
    with np.load(out / "points.npz") as z:
        assert np.array_equal(arrays["instance_ids"], z["instance_ids"])
    assert meta["final"] and meta["instances"] == len(final["instances"])
    # refinement only drops or merges tracks: the live view never showed fewer
    assert max(m["instances"] for m in running) >= meta["instances"]


def test_cli_rejects_a_live_path_that_is_a_file(rooms, tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    p = subprocess.run([sys.executable, "-m", "ot3d_engine", "segment", str(rooms[0]), "--out", str(tmp_path / "o"),
                        "--live", str(f)], capture_output=True, text=True)
    assert p.returncode == 2
    assert p.stderr.strip().splitlines()[-1] == f"error: --live: {f} exists and is not a folder"
    assert not (tmp_path / "o").exists()


def test_worker_segment_job_publishes_live_snapshots(rooms, tmp_path):
    import io

    from ot3d_engine import protocol
    from ot3d_engine.worker import Worker

    lines = [protocol.start("a", "segment", {"scan": str(rooms[0]), "live": {"every": 1}}, str(tmp_path / "a")),
             protocol.start("b", "segment", {"scan": str(rooms[0]), "live": {"every": 0}}, str(tmp_path / "b"))]
    out = io.StringIO()
    Worker(io.StringIO("".join(protocol.encode(m) for m in lines)), out).serve()
    got = [protocol.decode(line) for line in out.getvalue().splitlines()]
    res = next(m for m in got if m["type"] == "result" and m["job_id"] == "a")
    meta, arrays = read_latest(res["data"]["live_dir"])
    assert res["data"]["live_dir"] == str(tmp_path / "a" / "live")
    assert meta["final"] and meta["instances"] == res["data"]["instances"] and meta["seq"] >= 2
    err = next(m for m in got if m["type"] == "error" and m["job_id"] == "b")
    assert "live.every" in err["message"] and "out of range" in err["message"]
