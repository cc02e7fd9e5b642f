"""What a user of the extension sees and keeps: one visible cloud after Segment, a status
that is not saved into the .blend, results that live in the .blend and job folders beside it
(never in the extension's own folders, which uninstalling deletes), and a Query that will not
rank instances that have no labels. Real bpy, real engine subprocess."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from addon_env import (EXT_MODULE, attr, bpy, ext_scene, fresh_scene, neural_engine, positions,  # noqa: F401
                       segmented, synth_scan)


def drawn_points(obj) -> int:
    """Points the viewport/render shows for `obj` (the point clouds its evaluation makes), 0
    when hidden. Through the depsgraph's instances: the same on Blender 4.2 and 5.x."""
    if not obj.visible_get():
        return 0
    total = 0
    for inst in bpy.context.evaluated_depsgraph_get().object_instances:
        if isinstance(inst.object.data, bpy.types.PointCloud) and inst.object.original == obj:
            total += len(inst.object.data.points)
    return total


def extension_folders(ext) -> list[Path]:
    """The folders uninstalling the extension deletes: its install folder and its user folder."""
    return [Path(ext.__file__).resolve().parent, ext.ui.preferences.user_dir().resolve()]


def assert_outside(path: Path, folders) -> None:
    path = path.resolve()
    for folder in folders:
        assert folder not in path.parents and path != folder, f"{path} is inside {folder}"


def small_segmentation(scene, frames: int = 6) -> None:
    s = scene.ot3d
    s.scan_path = str(synth_scan())
    s.max_frames = frames
    assert bpy.ops.ot3d.segment() == {"FINISHED"}


def test_after_import_and_segment_one_cloud_is_visible(ext_scene):
    ext, scene = ext_scene
    s = scene.ot3d
    s.max_frames = 6
    assert bpy.ops.ot3d.import_scan(filepath=str(synth_scan())) == {"FINISHED"}
    scan = next(o for o in scene.objects if o.get("ot3d_role") == "scan")
    assert scan.visible_get() and s.show_scan and drawn_points(scan) == len(scan.data.vertices)
    small_segmentation(scene)

    # the imported cloud is hidden, not deleted; the segmentation draws each point once
    assert scan.name in scene.objects and not scan.visible_get() and not s.show_scan
    full = s.scene_object
    ids = attr(full, "instance_id")
    instances = list(bpy.data.collections["Instances"].objects)
    assert drawn_points(full) == int(np.sum(ids == 0))  # the scene object shows the unassigned rest
    assert sum(drawn_points(o) for o in instances) == int(np.sum(ids > 0))
    assert sum(drawn_points(o) for o in scene.objects) == len(ids)

    s.show_scan = True  # the panel's toggle
    assert scan.visible_get() and drawn_points(scan) == len(scan.data.vertices)
    s.show_scan = False
    assert not scan.visible_get()


def test_transient_status_is_not_saved_and_the_result_is(ext_scene, tmp_path):
    ext, scene = ext_scene
    small_segmentation(scene)
    s = scene.ot3d
    job_dir = Path(s.scene_object["source"]).parent
    assert job_dir.parent == ext.ui.preferences.jobs_root()  # unsaved: Blender's user data folder
    s.status, s.last_error, s.progress = "Segmented xyzzy points", "plugh: the last failure", 0.5
    s.new_label = "saved-marker-label"  # a real setting, saved: shows the byte check can see strings
    full = s.scene_object
    ids, pts = attr(full, "instance_id").copy(), positions(full).copy()
    blend = tmp_path / "session.blend"
    assert bpy.ops.wm.save_as_mainfile(filepath=str(blend), compress=False) == {"FINISHED"}
    raw = blend.read_bytes()
    assert b"saved-marker-label" in raw
    assert b"xyzzy" not in raw and b"plugh" not in raw

    # the result lives in the .blend: reopening works without the engine's job folder
    shutil.rmtree(job_dir)
    assert bpy.ops.wm.open_mainfile(filepath=str(blend)) == {"FINISHED"}
    s = bpy.context.scene.ot3d
    assert s.status == "" and s.last_error == "" and s.progress == 0.0 and not s.running
    assert s.new_label == "saved-marker-label"
    np.testing.assert_array_equal(attr(s.scene_object, "instance_id"), ids)
    np.testing.assert_allclose(positions(s.scene_object), pts)
    objs = {int(o["instance_id"]): o for o in bpy.data.collections["Instances"].objects}
    assert sorted(objs) == sorted(np.unique(ids[ids > 0]).tolist())
    for inst_id, obj in objs.items():
        np.testing.assert_array_equal(attr(obj, "point_index"), np.flatnonzero(ids == inst_id))


def test_job_folders_go_beside_the_saved_blend(ext_scene, tmp_path):
    ext, scene = ext_scene
    blend = tmp_path / "room.blend"
    assert bpy.ops.wm.save_as_mainfile(filepath=str(blend)) == {"FINISHED"}
    scene = bpy.context.scene
    small_segmentation(scene)
    source = Path(scene.ot3d.scene_object["source"])
    assert source.parent.parent == tmp_path / "room_ot3d" and (source / "scene.ply").is_file()
    assert_outside(source, extension_folders(ext))


def test_unsaved_files_and_the_preference_folder_are_outside_the_extension(ext_scene, tmp_path):
    ext, scene = ext_scene
    assert not bpy.data.filepath
    root = ext.ui.preferences.jobs_root()
    assert root == Path(bpy.utils.user_resource("DATAFILES", path="opentrack3d/jobs"))
    assert_outside(root, extension_folders(ext))
    prefs = bpy.context.preferences.addons[EXT_MODULE].preferences
    prefs.jobs_folder = str(tmp_path / "my-jobs")
    try:
        assert ext.ui.preferences.jobs_root() == tmp_path / "my-jobs" and (tmp_path / "my-jobs").is_dir()
        small_segmentation(scene, frames=3)
        assert Path(scene.ot3d.scene_object["source"]).parent.parent == tmp_path / "my-jobs"
    finally:
        prefs.jobs_folder = ""


def test_query_without_labels_says_what_it_needs(segmented, neural_engine):
    ext, scene, _ = segmented
    s = scene.ot3d
    assert not any(o["label"] != "object" for o in bpy.data.collections["Instances"].objects)
    s.query_text, s.query_top_k = "something to sit on", 3
    s.query_verify = False
    root = ext.ui.preferences.jobs_root()
    before = set(root.iterdir())
    with pytest.raises(RuntimeError, match="Query needs labels or an image-text model: no instance has a label"):
        bpy.ops.ot3d.query()
    assert set(root.iterdir()) == before  # refused before any engine job
    # with verification on (the neural tier: Query's text encoder needs torch), the engine tries
    # its image-text model; its weights are not on this machine, so it could only rank by the
    # (identical) labels: refused, nothing is ranked
    s.query_verify = True
    with pytest.raises(RuntimeError, match="could not use an image-text model"):
        bpy.ops.ot3d.query()
    assert len(s.query_matches) == 0 and "Query needs labels" in s.last_error
    assert bpy.ops.ot3d.show_log() == {"FINISHED"}
    assert "verification skipped" in bpy.data.texts["OpenTrack3D engine log"].as_string()


def test_overall_progress_weights_stages_and_never_goes_back(ext_scene):
    ext, _ = ext_scene
    p = ext.engine_link.overall_progress.OverallProgress({"load": 1, "track": 6, "refine": 2, "write": 1})
    assert p.update("load", 1.0) == pytest.approx(0.1)
    assert p.update("track", 0.5) == pytest.approx(0.4)
    assert p.update("track", 1.0) == pytest.approx(0.7)
    assert p.update("refine", 0.0) == pytest.approx(0.7)  # a new stage at 0 does not drop the bar
    assert p.update("track", 0.2) == pytest.approx(0.7)  # late or repeated messages neither
    assert p.update("mystery", 0.9) == pytest.approx(0.7)  # an unknown stage holds it
    assert p.update("write", 1.0) == pytest.approx(1.0)
    single = ext.engine_link.overall_progress.OverallProgress({})
    assert single.update("read", 0.3) == pytest.approx(0.3) and single.update("read", 0.1) == pytest.approx(0.3)
