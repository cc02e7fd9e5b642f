"""The live view of Segment in the real bpy module: the modal operator, driven by timer
events against the real engine subprocess, shows the engine's snapshots in one point cloud
while frames stream; the final result replaces it; Esc mid-stream leaves the scene as it was."""

from __future__ import annotations

import time

import numpy as np
import pytest

from addon_env import attr, bpy, engine_module, ext_scene, scene_state, synth_scan  # noqa: F401

LIVE = "OT3D Live"


class _Event:
    def __init__(self, type_, value="NOTHING"):
        self.type, self.value = type_, value


def _live_probe(ext):
    """The Segment operator's modal path with its live view on (what run_modal sets), as a
    plain object: the bpy module has no event loop, so the test plays the timer and Esc."""
    seg_op = ext.operators.segment_ops.OT3D_OT_segment

    class Probe(seg_op.__mro__[1]):  # the EngineJobOperator mix-in
        job_name = "segment"
        keeps_job_folder = True
        live_view = True  # what run_modal sets
        _live = None
        job_params = seg_op.job_params
        apply_result = seg_op.apply_result
        stage_weights = seg_op.stage_weights
        live_update = seg_op.live_update
        live_end = seg_op.live_end

        def __init__(self):
            self.reports = []

        def report(self, kind, message):
            self.reports.append((set(kind), message))

    return Probe()


def _drive(probe, context, esc_when=None, limit_s=180.0):
    """Timer ticks until the operator ends; after each, what the live cloud shows (or None)."""
    end = time.monotonic() + limit_s
    seen = []
    while time.monotonic() < end:
        if esc_when is not None and esc_when(seen):
            result = probe.modal(context, _Event("ESC", "PRESS"))
            esc_when = None
        else:
            result = probe.modal(context, _Event("TIMER"))
        obj = bpy.data.objects.get(LIVE)
        seen.append(None if obj is None else (len(obj.data.vertices), len(np.unique(attr(obj, "instance_id")[
            attr(obj, "instance_id") > 0]))))
        if result != {"RUNNING_MODAL"}:
            return result, seen
        time.sleep(0.02)
    raise AssertionError("the modal operator never finished")


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
