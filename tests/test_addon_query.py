"""The query panel: a sentence goes to the engine's query ranker (a real subprocess, the
real embedded MiniLM text encoder); matches are listed, selected and framed."""

from __future__ import annotations

import pytest

from addon_env import bpy, ext_scene, neural_engine, segmented  # noqa: F401


def test_query_ranks_selects_and_lists_matches(segmented, neural_engine):
    """Query needs the text encoder (torch): the neural tier."""
    ext, scene, _ = segmented
    objs = sorted(bpy.data.collections["Instances"].objects, key=lambda o: -o["point_count"])
    labels = {"chair": objs[0], "table": objs[1], "lamp": objs[2]}
    for label, obj in labels.items():
        for o in scene.objects:
            o.select_set(False)
        obj.select_set(True)
        assert bpy.ops.ot3d.relabel(label=label) == {"FINISHED"}
    chair_id = int(labels["chair"]["instance_id"])

    s = scene.ot3d
    s.query_text = "something to sit on, like a chair"
    s.query_top_k = 3
    s.query_verify = False  # the image-text model's weights are not on this machine
    jobs = []
    ext.engine_link.engine_job.PROGRESS_LISTENERS.append(lambda job, *a: jobs.append(job))
    try:
        assert bpy.ops.ot3d.query() == {"FINISHED"}
    finally:
        ext.engine_link.engine_job.PROGRESS_LISTENERS.clear()
    job = jobs[-1]
    # the engine was asked about the scene as it is now, relabels included
    assert job.params["text"] == "something to sit on, like a chair" and job.params["no_verify"] is True
    assert job.outcome.data["verified"] is False
    matches = list(s.query_matches)
    assert len(matches) == 3
    assert matches[0].instance_id == chair_id and matches[0].label == "chair"
    assert matches[0].score >= matches[1].score >= matches[2].score
    assert all("label similarity" in m.reason for m in matches)
    assert bpy.context.view_layer.objects.active.name == f"chair.{chair_id}"
    selected = {int(o["instance_id"]) for o in bpy.context.selected_objects}
    assert selected == {m.instance_id for m in matches}
    assert s.status.startswith("3 match(es); best: instance")

    # "click to frame": select just that one
    other = matches[1].instance_id
    assert bpy.ops.ot3d.frame_instance(instance_id=other) == {"FINISHED"}
    assert [int(o["instance_id"]) for o in bpy.context.selected_objects] == [other]
    with pytest.raises(RuntimeError, match="no instance 424242"):
        bpy.ops.ot3d.frame_instance(instance_id=424242)


def test_empty_query_is_refused(segmented):
    ext, scene, _ = segmented
    scene.ot3d.query_text = "   "
    with pytest.raises(RuntimeError, match="Type a query first"):
        bpy.ops.ot3d.query()
    assert len(scene.ot3d.query_matches) == 0
