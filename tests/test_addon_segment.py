"""The extension in the real bpy 5.0.1 module: installed from its built zip, segmenting a
synthetic scan through the real engine subprocess, and surviving cancel, crash and bad input."""

from __future__ import annotations

import json
import os
import stat
import sys
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pytest

from addon_env import (EXT_MODULE, attr, bpy, built_zip, engine_module, engine_side, ext_scene,  # noqa: F401
                       fresh_scene, installed_extension, load_engine_scene, neural_engine, positions, scene_state,
                       segmented, segmented_scene_dir, synth_scan)
from modal_probe import Event, drive, segment_probe


def instance_colors(ids):
    return engine_module("output.palette").instance_colors(ids)


def test_built_zip_validates_installs_and_enables():
    zip_path = built_zip()  # the build runs the bundled validator on the folder and on the zip
    names = zipfile.ZipFile(zip_path).namelist()
    assert "blender_manifest.toml" in names and "__init__.py" in names
    assert "engine/ot3d_engine/protocol.py" in names and "engine/ot3d_engine/worker.py" in names
    assert "engine/pyproject.toml" in names
    wheels = sorted(n for n in names if n.startswith("wheels/"))  # the weights-free tier's packages
    assert [w.split("/")[1].split("-")[0] for w in wheels] == ["pillow", "scipy"]
    assert "platforms" in zipfile.ZipFile(zip_path).read("blender_manifest.toml").decode()
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)
    ext = installed_extension()
    assert Path(ext.__file__).parent.parent.name == "user_default"
    assert EXT_MODULE in bpy.context.preferences.addons
    for op in ("segment", "import_scan", "import_mesh", "import_result", "export", "relabel", "merge", "split",
               "delete", "move_points", "query", "cancel_job"):
        assert hasattr(bpy.ops.ot3d, op), op
    # the installed add-on runs the engine copy it carries, not the checkout
    assert ext.engine_link.source.engine_root() == Path(ext.__file__).parent / "engine"


def test_layout_choices_match_the_engine(ext_scene, tmp_path):
    ext, scene = ext_scene
    items = [i.identifier for i in scene.ot3d.bl_rna.properties["layout"].enum_items]
    engine_layouts = json.loads(engine_side("layouts", tmp_path / "layouts.json").read_text())
    assert items == ["AUTO", *engine_layouts]


def test_segment_materializes_the_engines_output(ext_scene):
    scene_dir = segmented_scene_dir()  # ran bpy.ops.ot3d.segment() on the synthetic scan
    ext, scene = fresh_scene()
    engine = load_engine_scene(scene_dir)
    doc = json.loads((scene_dir / "instances.json").read_text())
    assert doc["scan"] == str(synth_scan()) and len(engine.instances) >= 3

    assert bpy.ops.ot3d.import_result(filepath=str(scene_dir)) == {"FINISHED"}
    full = scene.ot3d.scene_object
    assert full is not None and full["source"] == str(scene_dir)
    np.testing.assert_array_equal(attr(full, "instance_id"), engine.instance_ids)
    np.testing.assert_allclose(positions(full), engine.points, atol=1e-6)
    col = np.empty(len(full.data.vertices) * 4, np.float32)
    full.data.color_attributes["Col"].data.foreach_get("color", col)
    srgb = ext.scene.segmentation.linear_to_srgb_u8(col.reshape(-1, 4)[:, :3])
    assert np.abs(srgb.astype(int) - engine.colors.astype(int)).max() <= 1

    coll = bpy.data.collections["Instances"]
    objs = {int(o["instance_id"]): o for o in coll.objects}
    assert sorted(objs) == [i.id for i in engine.instances]
    for inst, rec in zip(engine.instances, doc["instances"]):
        obj = objs[inst.id]
        assert inst.label == "object" and obj.name == f"instance.{inst.id}"  # no labeller: instance.N
        assert obj["label"] == inst.label and obj["point_count"] == rec["point_count"] == len(inst.points)
        assert obj["score"] == pytest.approx(rec["score"])
        sel = np.flatnonzero(engine.instance_ids == inst.id)
        np.testing.assert_array_equal(attr(obj, "point_index"), sel)
        np.testing.assert_allclose(positions(obj), engine.points[sel], atol=1e-6)
        want = instance_colors(np.array([inst.id]))[0]
        got = ext.scene.segmentation.linear_to_srgb_u8(np.array(obj.color[:3]))
        assert np.abs(got.astype(int) - want.astype(int)).max() <= 1
        assert obj.modifiers["OT3D Points"].node_group.name == "OT3D Points"


def test_segment_operator_runs_the_engine_with_the_panel_options(ext_scene):
    ext, scene = ext_scene
    s = scene.ot3d
    s.scan_path = str(synth_scan())
    s.frame_stride, s.max_frames, s.vocabulary = 3, 5, "chair, table ; lamp"
    s.tracker = "greedy_iou"
    seen = []
    ext.engine_link.engine_job.PROGRESS_LISTENERS.append(lambda job, *a: seen.append((job, *a)))
    try:
        assert bpy.ops.ot3d.segment() == {"FINISHED"}
    finally:
        ext.engine_link.engine_job.PROGRESS_LISTENERS.clear()
    job = seen[-1][0]
    assert job.params["vocabulary"] == ["chair", "table", "lamp"]
    assert job.params["stride"] == 3 and job.params["max_frames"] == 5
    assert job.params["tracker"] == "greedy_iou" and job.params["classifier"] is None
    assert any(stage == "track" and msg.startswith("frame 5/5") for _, stage, _, msg in seen)
    doc = json.loads((Path(s.scene_object["source"]) / "instances.json").read_text())
    assert doc["meta"]["frames"] == 5 and doc["config"]["vocabulary"] == ["chair", "table", "lamp"]
    assert doc["config"]["track"]["method"] == "greedy_iou"
    assert s.status.startswith("Segmented") and not s.running and s.last_error == ""
    assert job.engine.returncode == 0


def test_segment_with_superpoint_refinement_uses_the_scan_mesh(ext_scene):
    ext, scene = ext_scene
    s = scene.ot3d
    s.scan_path = str(synth_scan())  # the synthetic scan carries scene_mesh.ply
    s.frame_stride, s.max_frames, s.superpoints = 2, 6, True
    try:
        assert bpy.ops.ot3d.segment() == {"FINISHED"}
    finally:
        s.superpoints = False
    out = Path(s.scene_object["source"])
    doc = json.loads((out / "instances.json").read_text())
    assert doc["config"]["refine"]["superpoints"] is True
    assert doc["meta"]["mesh"].endswith("scene_mesh.ply")
    ids = np.loadtxt(out / "mesh_instance_ids.txt", dtype=np.int64)
    assert set(np.unique(ids[ids > 0])) <= {int(r["id"]) for r in doc["instances"]}
    assert np.count_nonzero(ids) > 0.1 * len(ids)


def test_job_folders_keep_the_newest_segmentations_and_drop_scratch(ext_scene, neural_engine):  # query: torch
    ext, scene = ext_scene
    prefs = bpy.context.preferences.addons[EXT_MODULE].preferences
    root = ext.ui.preferences.jobs_root()
    for d in root.iterdir():
        ext.engine_link.engine_job.shutil.rmtree(d)
    old = [root / f"segment-2026010{i}-120000-abcde{i}" for i in range(3)]
    for i, d in enumerate(old):
        d.mkdir()
        os.utime(d, (1_700_000_000 + i, 1_700_000_000 + i))
    mine = root / "segment-notes"  # not a job id: never touched
    mine.mkdir()
    s = scene.ot3d
    s.scan_path = str(synth_scan())
    s.frame_stride, s.max_frames = 4, 3
    prefs.keep_jobs = 2
    try:
        assert bpy.ops.ot3d.segment() == {"FINISHED"}
        assert bpy.ops.ot3d.import_scan(filepath=str(synth_scan())) == {"FINISHED"}
        labelled = next(iter(bpy.data.collections["Instances"].objects))
        for o in scene.objects:
            o.select_set(o == labelled)
        assert bpy.ops.ot3d.relabel(label="chair") == {"FINISHED"}  # a query needs labels
        s.query_text, s.query_verify = "chair", False
        assert bpy.ops.ot3d.query() == {"FINISHED"}
    finally:
        prefs.keep_jobs = ext.ui.preferences.DEFAULT_KEEP_JOBS
    source = Path(s.scene_object["source"])  # JOB/scene
    job = source.parent
    assert job.parent == root and (source / "instances.json").is_file()
    # pruned to 2 before the segment job started (old[1], old[2]), then each later job
    # prunes again to 2 (the new segmentation and old[2]); import and query leave nothing
    assert sorted(d.name for d in root.iterdir()) == sorted([job.name, old[2].name, mine.name])


def test_cancel_mid_run_stops_the_engine_and_changes_nothing(ext_scene):
    ext, scene = ext_scene
    scene.ot3d.scan_path = str(synth_scan())
    before = scene_state(scene)
    jobs = []

    def cancel_on_first_frame(job, stage, fraction, message):
        if stage == "track" and not jobs:
            jobs.append((job, fraction))
            job.cancel()

    ext.engine_link.engine_job.PROGRESS_LISTENERS.append(cancel_on_first_frame)
    try:
        assert bpy.ops.ot3d.segment() == {"CANCELLED"}
    finally:
        ext.engine_link.engine_job.PROGRESS_LISTENERS.clear()
    job, fraction = jobs[0]
    assert fraction < 0.5  # cancelled early in the run, not after it finished
    assert job.outcome.status == "cancelled" and job.outcome.kind == "Cancelled"
    assert job.engine.returncode is not None
    with pytest.raises(ChildProcessError):
        os.waitpid(job.engine.pid, os.WNOHANG)  # reaped: no zombie
    with pytest.raises(ProcessLookupError):
        os.kill(job.engine.pid, 0)
    assert not (job.job_dir / "scene" / "instances.json").exists()
    assert scene_state(scene) == before and scene.ot3d.scene_object is None
    assert scene.ot3d.status == "Cancelled" and not scene.ot3d.running
    assert not ext.engine_link.engine_job.ACTIVE


def _crashing_python(tmp_path: Path) -> Path:
    """An 'engine Python' that runs a real interpreter which dies (SIGABRT) mid-job."""
    code = textwrap.dedent("""
        import json, os, sys
        print(json.dumps({"type": "hello", "protocol": 1, "engine_version": "0", "pid": os.getpid(),
                          "jobs": ["segment"]}), flush=True)
        start = json.loads(sys.stdin.readline())
        print(json.dumps({"type": "progress", "job_id": start["job_id"], "stage": "lift",
                          "fraction": 0.3, "message": "frame 3"}), flush=True)
        sys.stderr.write("Segmentation fault in libfake.so while lifting frame 3\\n")
        sys.stderr.flush()
        os.abort()
    """)
    script = tmp_path / "crash.py"
    script.write_text(code)
    shim = tmp_path / "python-that-crashes"
    shim.write_text(f"#!/bin/sh\nexec {sys.executable} {script}\n")
    shim.chmod(shim.stat().st_mode | stat.S_IEXEC)
    return shim


def test_engine_crash_is_reported_in_one_line_with_the_log_a_click_away(segmented, tmp_path):
    ext, scene, _ = segmented
    prefs = bpy.context.preferences.addons[EXT_MODULE].preferences
    prefs.engine_python = str(_crashing_python(tmp_path))
    scene.ot3d.scan_path = str(synth_scan())
    before = scene_state(scene)
    ids_before = attr(scene.ot3d.scene_object, "instance_id").copy()
    try:
        with pytest.raises(RuntimeError) as err:
            bpy.ops.ot3d.segment()
    finally:
        prefs.engine_python = ""
    text = str(err.value).strip()
    # one line: what happened and the engine's last words, not a whole traceback
    assert len(text.splitlines()) == 1, text
    assert "The engine was killed by signal 6 during 'lift'" in text
    assert text.endswith("Segmentation fault in libfake.so while lifting frame 3")
    assert scene_state(scene) == before
    np.testing.assert_array_equal(attr(scene.ot3d.scene_object, "instance_id"), ids_before)
    s = scene.ot3d
    assert "\n" not in s.last_error and "killed by signal 6" in s.last_error and not s.running

    assert bpy.ops.ot3d.show_log() == {"FINISHED"}
    log = bpy.data.texts["OpenTrack3D engine log"].as_string()
    assert "segment job segment-" in log and "crashed" in log
    assert "Segmentation fault in libfake.so while lifting frame 3" in log


def test_engine_error_shows_its_cause_and_the_traceback_is_in_the_log(ext_scene, tmp_path):
    ext, scene = ext_scene
    s = scene.ot3d
    s.scan_path = str(synth_scan())
    s.segmenter = "oracle"
    s.mesh_path = str(tmp_path / "no-such-mesh.ply")
    try:
        with pytest.raises(RuntimeError) as err:
            bpy.ops.ot3d.segment()
    finally:
        s.segmenter, s.mesh_path = "geometric", ""
    assert str(err.value).strip() == f"Error: {tmp_path / 'no-such-mesh.ply'}: superpoint mesh not found"
    assert s.last_error == f"{tmp_path / 'no-such-mesh.ply'}: superpoint mesh not found"
    assert bpy.ops.ot3d.show_log() == {"FINISHED"}
    log = bpy.data.texts["OpenTrack3D engine log"].as_string()
    assert "-- traceback --" in log and "Traceback (most recent call last)" in log and "ScanError" in log


def test_progress_over_the_whole_job_only_moves_forward(ext_scene):
    ext, scene = ext_scene
    s = scene.ot3d
    s.scan_path = str(synth_scan())
    s.max_frames = 8
    seen = []
    ext.engine_link.engine_job.PROGRESS_LISTENERS.append(lambda job, stage, f, msg: seen.append((stage, f, s.progress)))
    try:
        assert bpy.ops.ot3d.segment() == {"FINISHED"}
    finally:
        ext.engine_link.engine_job.PROGRESS_LISTENERS.clear()
        s.max_frames = 0
    stages = [st for st, _, _ in seen]
    assert {"load", "track", "refine", "write"} <= set(stages)
    raw = [f for _, f, _ in seen]
    assert any(b < a for a, b in zip(raw, raw[1:]))  # the engine's own fractions restart per stage
    overall = [p for _, _, p in seen]
    assert all(b >= a for a, b in zip(overall, overall[1:])), seen
    last_track = max(p for st, _, p in seen if st == "track")
    assert 0.5 < last_track < 0.85 and min(p for st, _, p in seen if st == "write") >= last_track
    assert s.progress == 1.0


def test_bad_scan_folder_gives_a_clear_report(ext_scene, tmp_path):
    ext, scene = ext_scene
    bad = tmp_path / "not-a-scan"
    bad.mkdir()
    (bad / "notes.txt").write_text("no frames here")
    scene.ot3d.scan_path = str(bad)
    before = scene_state(scene)
    with pytest.raises(RuntimeError, match=r"not-a-scan: unknown scan layout; looked for: scannet"):
        bpy.ops.ot3d.segment()
    assert scene_state(scene) == before
    scene.ot3d.scan_path = str(tmp_path / "missing")
    with pytest.raises(RuntimeError, match=r"missing: scan not found"):
        bpy.ops.ot3d.segment()
    scene.ot3d.scan_path = ""
    with pytest.raises(RuntimeError, match="Choose a scan folder first"):
        bpy.ops.ot3d.segment()
    assert scene_state(scene) == before


def test_engine_without_its_dependencies_is_reported(ext_scene, tmp_path):
    """The preferences' venv button (without pip install): a bare venv cannot run the engine,
    and the user is told exactly why."""
    ext, scene = ext_scene
    env_dir = tmp_path / "bare-venv"
    assert bpy.ops.ot3d.create_engine_env(directory=str(env_dir), install_packages=False) == {"FINISHED"}
    prefs = bpy.context.preferences.addons[EXT_MODULE].preferences
    venv_python = env_dir / "bin" / "python"
    assert Path(prefs.engine_python) == venv_python and venv_python.is_file()
    scene.ot3d.scan_path = str(synth_scan())
    try:
        with pytest.raises(RuntimeError, match="No module named 'numpy'"):
            bpy.ops.ot3d.segment()
    finally:
        prefs.engine_python = ""
    reqs = ext.engine_link.setup_env.requirements()
    assert any(r.startswith("numpy") for r in reqs) and any(r.startswith("open3d") for r in reqs)


def _drive(probe, context, esc_at=None, limit_s=120.0):
    """(result, progress fractions, statuses) after each timer tick; Esc once progress >= esc_at."""
    settings = context.scene.ot3d
    esc_when = None if esc_at is None else (lambda seen: bool(seen) and seen[-1][0] >= esc_at)
    result, seen = drive(probe, context, lambda: (settings.progress, settings.status), esc_when, limit_s)
    return result, [f for f, _ in seen], [st for _, st in seen]


def test_modal_path_reports_progress_and_materializes(ext_scene):
    ext, scene = ext_scene
    scene.ot3d.scan_path = str(synth_scan())
    probe = segment_probe(ext)
    probe._job = probe._start(bpy.context)
    assert scene.ot3d.running and probe._job.engine.alive()
    assert probe.modal(bpy.context, Event("MOUSEMOVE")) == {"PASS_THROUGH"}  # the UI stays usable
    result, fractions, statuses = _drive(probe, bpy.context)
    assert result == {"FINISHED"}, probe.reports
    # the sidebar/status bar followed the engine's stages while it ran
    stages = {s.split(":")[0] for s in statuses[:-1]}
    assert {"track", "refine"} & stages, statuses
    assert fractions[-1] == 1.0
    # one bar for the whole job: it only moves forward, and tracking does not fill it
    assert all(b >= a for a, b in zip(fractions, fractions[1:])), fractions
    in_track = [f for f, st in zip(fractions, statuses) if st.startswith("track")]
    assert in_track and max(in_track) < 0.85
    assert not scene.ot3d.running and scene.ot3d.status.startswith("Segmented")
    assert len(bpy.data.collections["Instances"].objects) >= 3
    assert probe._job.engine.returncode == 0


def test_modal_path_cancels_on_escape(ext_scene):
    ext, scene = ext_scene
    scene.ot3d.scan_path = str(synth_scan())
    before = scene_state(scene)
    probe = segment_probe(ext)
    probe._job = probe._start(bpy.context)
    result, _, _ = _drive(probe, bpy.context, esc_at=0.0)
    assert result == {"CANCELLED"} and probe._job.outcome.status == "cancelled"
    assert ({"WARNING"}, "OpenTrack3D segment cancelled; nothing was changed") in probe.reports
    assert scene_state(scene) == before and not scene.ot3d.running
    with pytest.raises(ChildProcessError):
        os.waitpid(probe._job.engine.pid, os.WNOHANG)


def test_extension_disables_and_enables_cleanly(ext_scene):
    import addon_utils

    ext, scene = ext_scene
    addon_utils.disable(EXT_MODULE, default_set=True)
    assert not hasattr(bpy.types.Scene, "ot3d") and not hasattr(bpy.types, "OT3D_PT_segment")
    addon_utils.enable(EXT_MODULE, default_set=True)
    assert hasattr(bpy.types.Scene, "ot3d") and hasattr(bpy.types, "OT3D_PT_segment")
