"""The live view of Segment in the real bpy module: the modal operator, driven by timer
events against the real engine subprocess, shows the engine's snapshots in one point cloud
while frames stream, and the panel reads out frame and instances so far; the final result
replaces it; Esc mid-stream leaves the scene as it was, or, with "Keep partial result" on,
keeps the shown snapshot as an ordinary segmentation that corrections and export work on."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

from addon_env import attr, bpy, engine_module, ext_scene, positions, scene_state, synth_scan  # noqa: F401
from modal_probe import Event, drive, segment_probe
from test_addon_ui import draw  # the recording stand-in for UILayout

LIVE = "OT3D Live"


def _live_probe(ext):
    return segment_probe(ext, live_view=True)


def _live_shown():
    """What the live cloud shows: (points, instances), or None while there is no live object."""
    obj = bpy.data.objects.get(LIVE)
    if obj is None:
        return None
    ids = attr(obj, "instance_id")
    return len(obj.data.vertices), len(np.unique(ids[ids > 0]))


def _drive(probe, context, esc_when=None, limit_s=180.0):
    return drive(probe, context, _live_shown, esc_when=esc_when, limit_s=limit_s)


def test_live_cloud_grows_while_frames_stream_and_the_result_replaces_it(ext_scene):
    ext, scene = ext_scene
    scene.ot3d.scan_path = str(synth_scan())
    probe = _live_probe(ext)
    probe._job = probe._start(bpy.context)
    assert probe._job.params["live"]["every"] >= 1
    result, seen = _drive(probe, bpy.context)
    assert result == {"FINISHED"}, probe.reports
    shown = [s for s in seen[:-1] if s is not None]
    assert shown, "no live snapshot was shown before the job ended"
    assert all(points > 0 and n >= 1 for points, n in shown)  # instances are there before the end
    # several snapshots arrived while frames streamed; the fused cloud only grows (instance
    # counts may also drop: the tracker merges instances as more views come in)
    distinct = list(dict.fromkeys(shown))
    assert len(distinct) >= 2, distinct
    sizes = [points for points, _ in distinct]
    assert sizes == sorted(sizes), distinct
    # the final objects replace the live cloud: it and its mesh are gone, the result is in place
    assert seen[-1] is None and LIVE not in bpy.data.meshes
    assert len(bpy.data.collections["Instances"].objects) >= 3
    assert not any(o.get("ot3d_role") == "live" for o in bpy.data.objects)
    assert not (probe._job.job_dir / "live").exists()  # the kept job folder holds only the result


def test_escape_mid_stream_removes_the_live_cloud_and_changes_nothing(ext_scene):
    ext, scene = ext_scene
    scene.ot3d.scan_path = str(synth_scan())
    before = scene_state(scene)
    extra_before = sorted(m.name for m in bpy.data.materials), sorted(g.name for g in bpy.data.node_groups)
    probe = _live_probe(ext)
    probe._job = probe._start(bpy.context)
    result, seen = _drive(probe, bpy.context, esc_when=lambda seen: bool(seen) and seen[-1] is not None)
    assert any(s is not None for s in seen), "cancelled before any live snapshot arrived"
    assert result == {"CANCELLED"} and probe._job.outcome.status == "cancelled"
    assert scene_state(scene) == before and not scene.ot3d.running
    assert (sorted(m.name for m in bpy.data.materials), sorted(g.name for g in bpy.data.node_groups)) == extra_before


def test_updating_500k_points_in_place_takes_at_most_50_ms(ext_scene):
    ext, scene = ext_scene
    live_cloud = ext.scene.live_cloud
    rng = np.random.default_rng(0)
    n = 500_000
    cloud = live_cloud.LiveCloud(scene, "/nonexistent")
    try:
        cloud.show(rng.random((n, 3), dtype=np.float32), rng.integers(0, 60, n).astype(np.int32))  # creates it
        times = []
        for _ in range(5):
            ids = rng.integers(0, 60, n).astype(np.int32)
            cloud.show(rng.random((n, 3), dtype=np.float32), ids)
            times.append(cloud.update_s)
        assert len(cloud.obj.data.vertices) == n
        assert np.array_equal(attr(cloud.obj, "instance_id"), ids)
        colours = ext.scene.segmentation.get_colors(cloud.obj.data)
        assert np.array_equal(colours, engine_module("output.palette").instance_colors(ids))
        print(f"live update of {n} points: median {np.median(times) * 1000:.1f} ms")
        assert np.median(times) <= 0.050, times
        # the user deleted the live object mid-run: the next snapshot brings it back
        bpy.data.objects.remove(cloud.obj)
        cloud.show(rng.random((10, 3), dtype=np.float32), np.arange(10, dtype=np.int32))
        assert len(bpy.data.objects[LIVE].data.vertices) == 10
        assert [m.name for m in bpy.data.meshes if m.name.startswith(LIVE)] == [LIVE]  # no orphan left
    finally:
        cloud.remove()
    assert LIVE not in bpy.data.objects and LIVE not in bpy.data.meshes


def _record_last_snapshot(probe) -> dict:
    """The newest snapshot in the live folder as live_end is about to delete it (the
    reference a kept partial result must equal); filled in when live_end runs."""
    kept = {}
    live_end = probe.live_end

    def recording_live_end(context):
        live_dir = Path(probe._job.params["live"]["dir"])
        name = (live_dir / "latest").read_text().strip()
        kept["meta"] = json.loads((live_dir / f"{name}.json").read_text())
        with np.load(live_dir / f"{name}.npz") as z:
            kept.update({k: z[k] for k in z.files})
        live_end(context)

    probe.live_end = recording_live_end
    return kept


def _consistent_segmentation(scene) -> dict[int, object]:
    """Each instance object holds exactly the scene points with its id (ids, positions, count)."""
    full = scene.ot3d.scene_object
    ids, pts = attr(full, "instance_id"), positions(full)
    objs = {int(o["instance_id"]): o for o in bpy.data.collections["Instances"].objects}
    assert set(np.unique(ids[ids > 0]).tolist()) == set(objs)
    for inst_id, obj in objs.items():
        idx = attr(obj, "point_index")
        np.testing.assert_array_equal(idx, np.flatnonzero(ids == inst_id))
        np.testing.assert_array_equal(positions(obj), pts[idx])
        assert obj["point_count"] == len(idx)
    return objs


def test_keep_partial_on_escape_keeps_the_shown_snapshot_as_a_segmentation(ext_scene, tmp_path):
    ext, scene = ext_scene
    scene.ot3d.scan_path = str(synth_scan())
    scene.ot3d.keep_partial = True
    probe = _live_probe(ext)
    kept = _record_last_snapshot(probe)
    probe._job = probe._start(bpy.context)
    result, seen = _drive(probe, bpy.context,
                          esc_when=lambda seen: bool(seen) and seen[-1] is not None and seen[-1][1] >= 3)
    assert probe._job.outcome.status == "cancelled" and kept, "cancelled before a snapshot with 3 instances"
    assert not kept["meta"]["final"], "the job ended before the Esc took effect"
    assert result == {"FINISHED"}, probe.reports  # FINISHED: a real operator pushes its undo step
    meta = kept["meta"]
    n = meta["instances"]
    assert probe.reports[-1] == ({"INFO"}, f"Cancelled at frame {meta['frame']}/{meta['frames']}; "
                                           f"kept the partial result: {n} instances")
    assert not scene.ot3d.running and scene.ot3d.status == probe.reports[-1][1]
    # the live object, its mesh and folder are gone; a cancelled job leaves no job folder
    assert LIVE not in bpy.data.objects and LIVE not in bpy.data.meshes
    assert not any(o.get("ot3d_role") == "live" for o in bpy.data.objects)
    assert not probe._job.job_dir.exists()

    # an ordinary segmentation: exactly the snapshot, one object per id, unlabelled, scored
    full = scene.ot3d.scene_object
    assert full is not None and full.users_collection[0].name == "Segmentation"
    np.testing.assert_array_equal(positions(full), kept["points"])
    np.testing.assert_array_equal(attr(full, "instance_id"), kept["instance_ids"])
    np.testing.assert_array_equal(ext.scene.segmentation.get_colors(full.data), kept["colors"])
    assert full["source"] == str(synth_scan()) and full["partial"] == f"frame {meta['frame']}/{meta['frames']}"
    objs = _consistent_segmentation(scene)
    assert len(objs) == n >= 3
    assert all(o["label"] == "object" and o.name == f"instance.{i}" for i, o in objs.items())
    scores = {i: o["score"] for i, o in objs.items()}
    assert max(scores.values()) == 1.0 and all(0.0 < v <= 1.0 for v in scores.values())
    biggest = max(objs, key=lambda i: objs[i]["point_count"])
    assert scores[biggest] == 1.0

    # corrections work on it: merge the two biggest into the biggest, relabel the result
    a, b = sorted(objs.values(), key=lambda o: -o["point_count"])[:2]
    a_id, b_id, na, nb = int(a["instance_id"]), int(b["instance_id"]), a["point_count"], b["point_count"]
    for o in scene.objects:
        o.select_set(False)
    a.select_set(True)
    b.select_set(True)
    bpy.context.view_layer.objects.active = a
    assert bpy.ops.ot3d.merge() == {"FINISHED"}
    objs = _consistent_segmentation(scene)
    assert b_id not in objs and objs[a_id]["point_count"] == na + nb
    assert not np.any(attr(full, "instance_id") == b_id)
    assert bpy.ops.ot3d.relabel(label="cabinet") == {"FINISHED"}
    objs = _consistent_segmentation(scene)
    assert objs[a_id].name == f"cabinet.{a_id}" and objs[a_id]["label"] == "cabinet"
    assert len(objs) == n - 1

    # export works on it: the engine's reader reads the same ids and labels back
    out = tmp_path / "export"
    assert bpy.ops.ot3d.export(directory=str(out), scene_name="partial") == {"FINISHED"}
    back = engine_module("output.scene_io").read_scene(out)
    np.testing.assert_array_equal(back.instance_ids, attr(full, "instance_id"))
    np.testing.assert_array_equal(back.points, kept["points"])
    assert {i.id: i.label for i in back.instances} == {i: o["label"] for i, o in objs.items()}


def test_keep_partial_without_a_shown_snapshot_changes_nothing(ext_scene):
    ext, scene = ext_scene
    scene.ot3d.scan_path = str(synth_scan())
    scene.ot3d.keep_partial = True
    before = scene_state(scene)
    probe = _live_probe(ext)
    probe._job = probe._start(bpy.context)
    result, seen = _drive(probe, bpy.context, esc_when=lambda seen: not seen)  # Esc at once
    assert all(s is None for s in seen), "a snapshot arrived before the Esc took effect"
    assert result == {"CANCELLED"} and probe._job.outcome.status == "cancelled"
    assert probe.reports[-1][0] == {"WARNING"} and "nothing was changed" in probe.reports[-1][1]
    assert scene_state(scene) == before and not probe._job.job_dir.exists()


def test_panel_reads_out_frame_and_instances_of_the_shown_snapshot(ext_scene):
    ext, scene = ext_scene
    scene.ot3d.scan_path = str(synth_scan())
    state = ext.scene.job_status.of(scene)
    probe = _live_probe(ext)
    probe._job = probe._start(bpy.context)
    readouts = []
    end = time.monotonic() + 180
    while time.monotonic() < end:
        result = probe.modal(bpy.context, Event("TIMER"))
        if result != {"RUNNING_MODAL"}:
            break
        log = draw(ext.ui.panels.OT3D_PT_segment, bpy.context)
        assert ("prop", "keep_partial") in log and ("operator", "ot3d.cancel_job") in log
        obj = bpy.data.objects.get(LIVE)
        if obj is None:
            assert state.live_readout == "" and not any(x[0] == "label" and x[1].startswith("Frame ") for x in log)
            continue
        meta = probe._live.meta
        ids = attr(obj, "instance_id")
        instances = len(np.unique(ids[ids > 0]))
        assert (state.live_frame, state.live_frames, state.live_instances) == (
            meta["frame"], meta["frames"], instances) == (meta["frame"], meta["frames"], obj["instances"])
        assert 0 < state.live_frame <= state.live_frames
        readout = f"Frame {state.live_frame}/{state.live_frames}: {instances} instances so far"
        assert state.live_readout == readout and ("label", readout) in log
        readouts.append(readout)
        time.sleep(0.02)
    assert result == {"FINISHED"}, probe.reports
    assert len(set(readouts)) >= 2, readouts  # it follows the stream
    assert state.live_readout == "" and not any(x[0] == "label" and x[1].startswith("Frame ")
                                                for x in draw(ext.ui.panels.OT3D_PT_segment, bpy.context))
