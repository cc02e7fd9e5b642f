"""Headless batch annotation end to end: real child processes with the bpy module, the real
engine worker subprocesses, real .blend files, the real evaluator, a real local Ray cluster.

One batch of 5 tiny synthetic scans (one with a corrupt depth PNG) is shared by the tests:
run with local workers, interrupted by SIGTERM and resumed, and run through `--ray local`.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from headless.outputs import DONE, check_done
from ot3d_engine.cli import main as ot3d_main
from ot3d_engine.eval import evaluate, load_ground_truth, load_prediction
from ot3d_engine.synth import generate_scene

REPO = Path(__file__).resolve().parents[1]
pytest.importorskip("bpy", reason="headless annotation needs the bpy module (pip install bpy==5.0.1)")

GOOD = ["room-a", "room-b", "room-c", "room-d"]
BAD = "room-corrupt"


def blender_env(root: Path) -> dict:
    """Children get throw-away Blender user folders: the tests never touch ~/.config/blender."""
    env = dict(os.environ)
    for var in ("BLENDER_USER_CONFIG", "BLENDER_USER_SCRIPTS", "BLENDER_USER_EXTENSIONS", "BLENDER_USER_DATAFILES"):
        env[var] = str(root / "blender-user" / var.lower())
    env["OT3D_ENGINE_PYTHON"] = sys.executable
    return env


@pytest.fixture(scope="module")
def scans(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("headless-scans")
    out = {}
    for seed, name in enumerate(GOOD, start=11):
        out[name] = generate_scene(root / name, seed=seed, frames=6, width=160, height=120)
    bad = root / BAD
    shutil.copytree(out["room-a"], bad)
    depth = sorted((bad / "depth").iterdir())[3]
    depth.write_bytes(b"\x89PNG\r\n\x1a\n" + b"not really a png" * 8)  # a PNG header, then garbage
    out[BAD] = bad
    return out


def run_headless(args: list[str], root: Path, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "headless", *args], cwd=REPO, env=blender_env(root),
                          capture_output=True, text=True, timeout=kwargs.pop("timeout", 300), **kwargs)


def batch_doc(out: Path) -> dict:
    return json.loads((out / "batch_report.json").read_text())


def run_log(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "run_log.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def local_batch(scans, tmp_path_factory):
    root = tmp_path_factory.mktemp("headless-local")
    out = root / "out"
    proc = run_headless([*(str(scans[n]) for n in [*GOOD[:2], BAD, *GOOD[2:]]), "--out", str(out),
                         "--workers", "2"], root)
    return proc, out


def test_batch_with_a_corrupt_scan_reports_it_and_finishes_the_rest(local_batch, scans):
    proc, out = local_batch
    assert proc.returncode == 1, proc.stdout + proc.stderr
    doc = batch_doc(out)
    status = {s["name"]: s for s in doc["scans"]}
    assert [s["name"] for s in doc["scans"]] == [*GOOD[:2], BAD, *GOOD[2:]]  # the order asked for
    assert (doc["ok"], doc["failed"], doc["exit_code"]) == (4, 1, 1)
    bad = status[BAD]
    assert bad["status"] == "failed" and bad["step"] == "import"
    assert f"{BAD}/depth/" in bad["message"] and "cannot decode depth image" in bad["message"]
    assert not (out / BAD).exists()  # nothing published for it
    assert (out / "logs" / f"{BAD}.log").read_text().count("FAILED in import") == 1
    # one progress line per scan, then the summary table
    lines = proc.stdout.splitlines()
    progress = [ln for ln in lines if ln.startswith("[")]
    assert len(progress) == 5 and sum("FAILED" in ln and BAD in ln for ln in progress) == 1
    assert any(ln.startswith("5 scans: 4 ok, 1 failed, 0 skipped") for ln in lines)
    for name in GOOD:
        assert status[name]["status"] == "ok" and status[name]["instances"] >= 3
        assert check_done(out / name, name) is None
        assert not list((out / name).rglob(".*partial*"))
    assert not list((out / ".work").glob("stage-*"))


def test_outputs_evaluate_like_ot3d_segment(local_batch, scans, tmp_path):
    """The exported labels of each scan score exactly the AP of `ot3d segment` on that scan."""
    proc, out = local_batch
    aps = []
    for name in GOOD:
        ref = tmp_path / f"{name}-segment"
        assert ot3d_main(["segment", str(scans[name]), "--out", str(ref)]) == 0
        gt = load_ground_truth(scans[name])
        results = []
        for pred_dir in (out / name / "labels", ref):
            pred = load_prediction(pred_dir)
            results.append(evaluate(gt, pred.points, pred.instance_ids, pred.scores, pred.labels).to_dict())
        ours, engine = results
        assert ours["counts"] == engine["counts"], name
        assert (ours["ap"], ours["ap50"], ours["ap25"]) == (engine["ap"], engine["ap50"], engine["ap25"]), name
        report = json.loads((out / name / "report.json").read_text())
        assert report["instances"] == len(json.loads((ref / "instances.json").read_text())["instances"])
        aps.append(ours["ap50"])
    assert max(aps) > 0.1  # real segmentations, not empty ones that trivially agree


def test_saved_blend_holds_the_annotation(local_batch):
    """Open the .blend in a fresh bpy process: the instances and the imported scan are there."""
    proc, out = local_batch
    name = GOOD[0]
    code = textwrap.dedent(f"""
        import json, bpy
        bpy.ops.wm.open_mainfile(filepath={str(out / name / f"{name}.blend")!r})
        inst = [o for o in bpy.data.objects if o.get("ot3d_role") == "instance"]
        print(json.dumps({{"instances": len(inst), "points": sum(len(o.data.vertices) for o in inst),
                          "roles": sorted({{str(o.get("ot3d_role")) for o in bpy.data.objects}})}}))
    """)
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env=blender_env(out.parent))
    assert res.returncode == 0, res.stderr
    got = json.loads(res.stdout.strip().splitlines()[-1])
    exported = json.loads((out / name / "labels" / "instances.json").read_text())["instances"]
    assert got["instances"] == len(exported)
    assert got["points"] == sum(r["point_count"] for r in exported)
    assert got["roles"] == ["instance", "scan", "scene"]
    scannet = (out / name / "labels" / f"{name}.txt").read_text().splitlines()
    assert len(scannet) == len(exported)


def _wait_for(predicate, timeout: float, what: str):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_sigterm_mid_batch_then_resume_completes_without_redoing(scans, tmp_path):
    out = tmp_path / "out"
    args = [*(str(scans[n]) for n in GOOD), "--out", str(out), "--workers", "1"]
    proc = subprocess.Popen([sys.executable, "-m", "headless", *args], cwd=REPO, env=blender_env(tmp_path),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        def first_done_second_segmenting():
            if not (out / "run_log.jsonl").is_file():
                return False
            events = run_log(out)
            if not any(e["event"] == "ok" for e in events):
                return False
            started = [e["name"] for e in events if e["event"] == "start"]
            log = out / "logs" / f"{started[-1]}.log"
            return len(started) >= 2 and log.is_file() and "] segment" in log.read_text()

        _wait_for(first_done_second_segmenting, 120, "the second scan to reach its segment step")
        proc.send_signal(signal.SIGTERM)
        stdout, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + signal.SIGTERM, stdout
    assert "Stopped by SIGTERM" in stdout
    done = [n for n in GOOD if (out / n / DONE).is_file()]
    assert 1 <= len(done) < len(GOOD)
    for name in GOOD:  # nothing half-written: a scan folder exists only when complete and valid
        assert not (out / name).exists() or check_done(out / name, name) is None, name
    assert not list((out / ".work").glob("stage-*"))
    interrupted = [s for s in batch_doc(out)["scans"] if s["status"] == "interrupted"]
    assert interrupted and interrupted[0]["message"].startswith(("stopped by SIGTERM", "not started"))
    stamps = {n: (out / n / DONE).stat().st_mtime_ns for n in done}
    blend_stamps = {n: (out / n / f"{n}.blend").stat().st_mtime_ns for n in done}
    events_before = len(run_log(out))

    res = run_headless([*args, "--resume"], tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    for name in GOOD:
        assert check_done(out / name, name) is None
    for name in done:  # untouched: not redone
        assert (out / name / DONE).stat().st_mtime_ns == stamps[name]
        assert (out / name / f"{name}.blend").stat().st_mtime_ns == blend_stamps[name]
    second = run_log(out)[events_before:]
    assert sorted(e["name"] for e in second if e["event"] == "skipped") == sorted(done)
    assert sorted(e["name"] for e in second if e["event"] == "start") == sorted(set(GOOD) - set(done))
    doc = batch_doc(out)
    assert (doc["ok"], doc["skipped"], doc["failed"]) == (len(GOOD) - len(done), len(done), 0)


def test_resume_redoes_a_scan_whose_outputs_were_damaged(local_batch, scans, tmp_path):
    """--resume trusts done.json only when every size and hash still matches."""
    _, first = local_batch
    out = tmp_path / "out"
    shutil.copytree(first / GOOD[0], out / GOOD[0])
    shutil.copytree(first / GOOD[1], out / GOOD[1])
    ids = out / GOOD[1] / "labels" / f"{GOOD[1]}_instance_ids.txt"
    data = bytearray(ids.read_bytes())
    data[0] = ord("9") if data[0] != ord("9") else ord("8")  # same size, different content
    ids.write_bytes(bytes(data))
    assert check_done(out / GOOD[1], GOOD[1]) == f"labels/{GOOD[1]}_instance_ids.txt changed content"
    res = run_headless([str(scans[GOOD[0]]), str(scans[GOOD[1]]), "--out", str(out), "--resume"], tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    events = run_log(out)
    assert [e["name"] for e in events if e["event"] == "skipped"] == [GOOD[0]]
    assert [e["name"] for e in events if e["event"] == "redo"] == [GOOD[1]]
    assert check_done(out / GOOD[1], GOOD[1]) is None


def test_ray_local_gives_the_same_instance_counts(local_batch, scans, tmp_path):
    pytest.importorskip("ray", reason="--ray needs the ray package (pip install 'ray==2.60.*')")
    _, local_out = local_batch
    out = tmp_path / "out"
    res = run_headless([*(str(scans[n]) for n in [*GOOD, BAD]), "--out", str(out), "--ray", "local",
                        "--workers", "2"], tmp_path)
    assert res.returncode == 1, res.stdout + res.stderr
    via_ray = {s["name"]: s for s in batch_doc(out)["scans"]}
    local = {s["name"]: s for s in batch_doc(local_out)["scans"]}
    assert batch_doc(out)["mode"] == "ray local"
    assert via_ray[BAD]["status"] == "failed" and via_ray[BAD]["step"] == "import"
    for name in GOOD:
        assert via_ray[name]["status"] == "ok"
        assert via_ray[name]["instances"] == local[name]["instances"]
        assert check_done(out / name, name) is None
    assert [e["event"] for e in run_log(out)].count("submit") == 5


def test_superpoint_refinement_runs_headless_on_the_scan_mesh(scans, tmp_path):
    """`--superpoints` reaches the engine through the add-on's segment path: the scan's own
    scene_mesh.ply is segmented and the exported labels still cover the instances."""
    out = tmp_path / "out"
    proc = run_headless([str(scans["room-a"]), "--out", str(out), "--superpoints"], tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads((out / "room-a" / "report.json").read_text())
    assert report["status"] == "ok"
    assert "superpoints" in report["details"]["engine_timings_s"]
    assert report["details"]["engine_config"]["refine"]["superpoints"] is True
    assert check_done(out / "room-a", "room-a") is None
