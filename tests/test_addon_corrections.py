"""Corrections on a real engine segmentation: each one keeps the scene attribute, the
instance objects and their properties consistent, each can be undone, and each works from
Object Mode and from Edit Mode (where mesh attributes read empty until the edit mesh is
written back: the operators do that, and put the objects back into Edit Mode afterwards)."""

from __future__ import annotations

import numpy as np
import pytest

from addon_env import attr, bpy, ext_scene, positions, segmented  # noqa: F401

import bmesh  # noqa: E402  (importable once bpy is)

MODES = ("OBJECT", "EDIT")


@pytest.fixture
def undoable(segmented):
    """Background Blender starts without undo; initialise it as the UI does after loading."""
    bpy.ops.ed.undo_push(message="segmentation loaded")
    return segmented


def assert_consistent(scene) -> dict[int, object]:
    """The invariant every correction must keep, checked from the Blender data alone."""
    assert bpy.context.mode == "OBJECT"  # mesh data is only current there
    full = scene.ot3d.scene_object
    ids, pts = attr(full, "instance_id"), positions(full)
    objs = {int(o["instance_id"]): o for o in bpy.data.collections["Instances"].objects}
    assert set(np.unique(ids[ids > 0]).tolist()) <= set(objs)
    for inst_id, obj in objs.items():
        idx = attr(obj, "point_index")
        np.testing.assert_array_equal(idx, np.flatnonzero(ids == inst_id))
        np.testing.assert_array_equal(positions(obj), pts[idx])
        assert obj["point_count"] == len(idx)
        labelled = obj["label"] != "object"  # the engine's class-agnostic label
        assert obj.name == (f"{obj['label']}.{inst_id}" if labelled else f"instance.{inst_id}")
    return objs


def select(*objs, active=None):
    for o in bpy.context.scene.objects:
        o.select_set(False)
    for o in objs:
        o.select_set(True)
    bpy.context.view_layer.objects.active = active or objs[0]


def enter(mode: str, *objs, active=None):
    """Select the objects and, for EDIT, press Tab (an undo step, as in the UI)."""
    select(*objs, active=active)
    if mode == "EDIT":
        assert bpy.ops.object.mode_set("EXEC_DEFAULT", True, mode="EDIT") == {"FINISHED"}
        assert all(o.mode == "EDIT" for o in objs)


def select_points(obj, mask: np.ndarray) -> None:
    """In Edit Mode through the edit mesh (what the user's clicks change), else on the mesh."""
    if obj.mode == "EDIT":
        bm = bmesh.from_edit_mesh(obj.data)
        bm.verts.ensure_lookup_table()
        for v, on in zip(bm.verts, mask.tolist()):
            v.select = on
        bm.select_flush_mode()
        bmesh.update_edit_mesh(obj.data)
    else:
        obj.data.vertices.foreach_set("select", mask.astype(bool))
        obj.data.update()


def run(ext, mode, op, **kw):
    """The button, then (EDIT) the timer that puts the objects back into Edit Mode."""
    assert op("EXEC_DEFAULT", True, **kw) == {"FINISHED"}
    assert bpy.context.mode == "OBJECT"  # the undo step was pushed in Object Mode


def back_to_mode(ext, mode, *objs):
    if mode == "EDIT":
        ext.operators.correct_ops.back_to_edit_mode()  # what the timer does once the undo step is pushed
        assert objs and all(o.mode == "EDIT" for o in objs)
    else:
        assert bpy.context.mode == "OBJECT"


def undo():
    """Ctrl+Z (from whatever mode the user is in), then Object Mode to read the data."""
    with bpy.context.temp_override(window=bpy.context.window_manager.windows[0]):
        bpy.ops.ed.undo()
    if bpy.context.mode != "OBJECT":
        bpy.ops.object.mode_set(mode="OBJECT")


def biggest(objs: dict, k: int = 1):
    return sorted(objs.values(), key=lambda o: -o["point_count"])[:k]


@pytest.mark.parametrize("mode", MODES)
def test_relabel_renames_and_undo_restores(undoable, mode):
    ext, scene, _ = undoable
    objs = assert_consistent(scene)
    a, b = biggest(objs, 2)
    a_id, b_id, old_name = int(a["instance_id"]), int(b["instance_id"]), a.name
    assert old_name == f"instance.{a_id}"  # no labeller ran
    ids_before = attr(scene.ot3d.scene_object, "instance_id").copy()
    enter(mode, a, b)
    scene.ot3d.new_label = "armchair"
    run(ext, mode, bpy.ops.ot3d.relabel)
    objs = assert_consistent(scene)
    assert objs[a_id].name == f"armchair.{a_id}" and objs[a_id]["label"] == "armchair"
    assert objs[b_id]["label"] == "armchair"
    np.testing.assert_array_equal(attr(scene.ot3d.scene_object, "instance_id"), ids_before)
    back_to_mode(ext, mode, objs[a_id], objs[b_id])
    undo()
    objs = assert_consistent(bpy.context.scene)
    assert objs[a_id]["label"] == "object" and objs[a_id].name == old_name
    if mode == "OBJECT":
        with pytest.raises(RuntimeError, match="new label is empty"):
            bpy.ops.ot3d.relabel(label="  ")


@pytest.mark.parametrize("mode", MODES)
def test_merge_moves_points_to_the_active_instance_and_undo_restores(undoable, mode):
    ext, scene, _ = undoable
    objs = assert_consistent(scene)
    a, b = biggest(objs, 2)
    a_id, b_id = int(a["instance_id"]), int(b["instance_id"])
    na, nb = a["point_count"], b["point_count"]
    enter(mode, a, b, active=b)  # the active one receives the points
    run(ext, mode, bpy.ops.ot3d.merge)
    objs = assert_consistent(scene)
    assert a_id not in objs and objs[b_id]["point_count"] == na + nb
    assert not np.any(attr(scene.ot3d.scene_object, "instance_id") == a_id)
    back_to_mode(ext, mode, objs[b_id])  # the merged-away object is gone, the target edits on
    undo()
    objs = assert_consistent(bpy.context.scene)
    assert objs[a_id]["point_count"] == na and objs[b_id]["point_count"] == nb
    if mode == "OBJECT":
        select(objs[a_id])
        with pytest.raises(RuntimeError, match="at least two instances"):
            bpy.ops.ot3d.merge()


@pytest.mark.parametrize("mode", MODES)
def test_split_makes_the_selected_points_a_new_instance(undoable, mode):
    ext, scene, _ = undoable
    objs = assert_consistent(scene)
    src = biggest(objs)[0]
    src_id, n = int(src["instance_id"]), src["point_count"]
    mask = np.zeros(n, bool)
    mask[: n // 3] = True
    moved = attr(src, "point_index")[mask]
    enter(mode, src)
    select_points(src, mask)
    run(ext, mode, bpy.ops.ot3d.split)
    objs = assert_consistent(scene)
    new_id = max(objs)
    assert new_id != src_id and objs[new_id]["label"] == objs[src_id]["label"]
    assert objs[new_id].name == f"instance.{new_id}"
    assert objs[new_id]["point_count"] == n // 3 and objs[src_id]["point_count"] == n - n // 3
    np.testing.assert_array_equal(attr(objs[new_id], "point_index"), moved)
    back_to_mode(ext, mode, objs[src_id])
    undo()
    objs = assert_consistent(bpy.context.scene)
    assert new_id not in objs and objs[src_id]["point_count"] == n
    select(objs[src_id])
    if mode == "EDIT":
        enter(mode, objs[src_id])
    select_points(objs[src_id], np.zeros(n, bool))
    with pytest.raises(RuntimeError, match="select the points to split off"):
        bpy.ops.ot3d.split()


@pytest.mark.parametrize("mode", MODES)
def test_delete_unassigns_the_points(undoable, mode):
    ext, scene, _ = undoable
    objs = assert_consistent(scene)
    gone = biggest(objs, 2)
    gone_ids = [int(o["instance_id"]) for o in gone]
    total = len(attr(scene.ot3d.scene_object, "instance_id"))
    unassigned = int(np.sum(attr(scene.ot3d.scene_object, "instance_id") == 0))
    freed = sum(o["point_count"] for o in gone)
    enter(mode, *gone)
    run(ext, mode, bpy.ops.ot3d.delete)
    objs = assert_consistent(scene)
    ids = attr(scene.ot3d.scene_object, "instance_id")
    assert not set(gone_ids) & set(objs) and len(ids) == total
    assert int(np.sum(ids == 0)) == unassigned + freed
    ext.operators.correct_ops.back_to_edit_mode()  # nothing left to edit: stays in Object Mode
    assert bpy.context.mode == "OBJECT"
    undo()
    objs = assert_consistent(bpy.context.scene)
    assert set(gone_ids) <= set(objs)


@pytest.mark.parametrize("mode", MODES)
def test_move_selected_points_to_another_instance(undoable, mode):
    ext, scene, _ = undoable
    objs = assert_consistent(scene)
    src, dst = biggest(objs, 2)
    src_id, dst_id = int(src["instance_id"]), int(dst["instance_id"])
    n_src, n_dst = src["point_count"], dst["point_count"]
    mask = np.zeros(n_src, bool)
    mask[::4] = True
    moved = attr(src, "point_index")[mask]
    enter(mode, src)
    select_points(src, mask)
    run(ext, mode, bpy.ops.ot3d.move_points, target=dst_id)
    objs = assert_consistent(scene)
    assert objs[src_id]["point_count"] == n_src - mask.sum()
    assert objs[dst_id]["point_count"] == n_dst + mask.sum()
    assert np.all(attr(scene.ot3d.scene_object, "instance_id")[moved] == dst_id)
    back_to_mode(ext, mode, objs[src_id])
    undo()
    objs = assert_consistent(bpy.context.scene)
    assert objs[src_id]["point_count"] == n_src and objs[dst_id]["point_count"] == n_dst
    if mode == "OBJECT":
        with pytest.raises(RuntimeError, match="no instance 9999"):
            bpy.ops.ot3d.move_points(target=9999)


@pytest.mark.parametrize("mode", MODES)
def test_move_points_selected_on_the_full_scene_object(undoable, mode):
    """Points selected on the full-scene object (e.g. unassigned ones) can be moved too."""
    ext, scene, _ = undoable
    objs = assert_consistent(scene)
    src = biggest(objs)[0]
    src_id, n_src = int(src["instance_id"]), src["point_count"]
    full = scene.ot3d.scene_object
    ids = attr(full, "instance_id")
    pick = np.flatnonzero(ids == 0)[:50] if np.any(ids == 0) else np.flatnonzero(ids != src_id)[:50]
    m = np.zeros(len(ids), bool)
    m[pick] = True
    enter(mode, full)
    select_points(full, m)
    run(ext, mode, bpy.ops.ot3d.move_points, target=src_id)
    objs = assert_consistent(scene)
    assert np.all(attr(full, "instance_id")[pick] == src_id)
    assert objs[src_id]["point_count"] == n_src + len(pick)
    back_to_mode(ext, mode, full)
    undo()
    objs = assert_consistent(bpy.context.scene)
    assert objs[src_id]["point_count"] == n_src
    np.testing.assert_array_equal(attr(bpy.context.scene.ot3d.scene_object, "instance_id"), ids)
