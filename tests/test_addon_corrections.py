"""Corrections on a real engine segmentation: each one keeps the scene attribute, the
instance objects and their properties consistent, and each can be undone."""

from __future__ import annotations

import numpy as np
import pytest

from addon_env import attr, bpy, ext_scene, positions, segmented  # noqa: F401


@pytest.fixture
def undoable(segmented):
    """Background Blender starts without undo; initialise it as the UI does after loading."""
    bpy.ops.ed.undo_push(message="segmentation loaded")
    return segmented


def assert_consistent(scene) -> dict[int, object]:
    """The invariant every correction must keep, checked from the Blender data alone."""
    full = scene.ot3d.scene_object
    ids, pts = attr(full, "instance_id"), positions(full)
    objs = {int(o["instance_id"]): o for o in bpy.data.collections["Instances"].objects}
    assert set(np.unique(ids[ids > 0]).tolist()) <= set(objs)
    for inst_id, obj in objs.items():
        idx = attr(obj, "point_index")
        np.testing.assert_array_equal(idx, np.flatnonzero(ids == inst_id))
        np.testing.assert_array_equal(positions(obj), pts[idx])
        assert obj["point_count"] == len(idx)
        assert obj.name == f"{obj['label']}.{inst_id}"
    return objs


def select(*objs, active=None):
    for o in bpy.context.scene.objects:
        o.select_set(False)
    for o in objs:
        o.select_set(True)
    bpy.context.view_layer.objects.active = active or objs[0]


def select_points(obj, mask: np.ndarray) -> None:
    obj.data.vertices.foreach_set("select", mask.astype(bool))
    obj.data.update()


def undo():
    """Ctrl+Z. Operators run from Python push an undo step only when asked to (the second
    positional argument, as the UI does for every button), so the tests ask."""
    with bpy.context.temp_override(window=bpy.context.window_manager.windows[0]):
        bpy.ops.ed.undo()


def biggest(objs: dict, k: int = 1):
    return sorted(objs.values(), key=lambda o: -o["point_count"])[:k]


def test_relabel_renames_and_undo_restores(undoable):
    ext, scene, _ = undoable
    objs = assert_consistent(scene)
    a, b = biggest(objs, 2)
    a_id, old_label = int(a["instance_id"]), a["label"]
    ids_before = attr(scene.ot3d.scene_object, "instance_id").copy()
    select(a, b)
    scene.ot3d.new_label = "armchair"
    assert bpy.ops.ot3d.relabel("EXEC_DEFAULT", True) == {"FINISHED"}
    objs = assert_consistent(scene)
    assert objs[a_id].name == f"armchair.{a_id}" and objs[a_id]["label"] == "armchair"
    assert objs[int(b["instance_id"])]["label"] == "armchair"
    np.testing.assert_array_equal(attr(scene.ot3d.scene_object, "instance_id"), ids_before)
    undo()
    scene = bpy.context.scene
    objs = assert_consistent(scene)
    assert objs[a_id]["label"] == old_label and objs[a_id].name == f"{old_label}.{a_id}"
    with pytest.raises(RuntimeError, match="new label is empty"):
        bpy.ops.ot3d.relabel(label="  ")


def test_merge_moves_points_to_the_active_instance_and_undo_restores(undoable):
    ext, scene, _ = undoable
    objs = assert_consistent(scene)
    a, b = biggest(objs, 2)
    a_id, b_id = int(a["instance_id"]), int(b["instance_id"])
    na, nb = a["point_count"], b["point_count"]
    select(a, b, active=b)  # the active one receives the points
    assert bpy.ops.ot3d.merge("EXEC_DEFAULT", True) == {"FINISHED"}
    objs = assert_consistent(scene)
    assert a_id not in objs and objs[b_id]["point_count"] == na + nb
    assert not np.any(attr(scene.ot3d.scene_object, "instance_id") == a_id)
    undo()
    objs = assert_consistent(bpy.context.scene)
    assert objs[a_id]["point_count"] == na and objs[b_id]["point_count"] == nb
    select(objs[a_id])
    with pytest.raises(RuntimeError, match="at least two instances"):
        bpy.ops.ot3d.merge()


def test_split_makes_the_selected_points_a_new_instance(undoable):
    ext, scene, _ = undoable
    objs = assert_consistent(scene)
    src = biggest(objs)[0]
    src_id, n = int(src["instance_id"]), src["point_count"]
    mask = np.zeros(n, bool)
    mask[: n // 3] = True
    moved = attr(src, "point_index")[mask]
    select_points(src, mask)
    select(src)
    assert bpy.ops.ot3d.split("EXEC_DEFAULT", True) == {"FINISHED"}
    objs = assert_consistent(scene)
    new_id = max(objs)
    assert new_id not in {src_id} and objs[new_id]["label"] == objs[src_id]["label"]
    assert objs[new_id]["point_count"] == n // 3 and objs[src_id]["point_count"] == n - n // 3
    np.testing.assert_array_equal(attr(objs[new_id], "point_index"), moved)
    undo()
    objs = assert_consistent(bpy.context.scene)
    assert new_id not in objs and objs[src_id]["point_count"] == n
    select_points(objs[src_id], np.zeros(n, bool))
    select(objs[src_id])
    with pytest.raises(RuntimeError, match="select the points to split off"):
        bpy.ops.ot3d.split()


def test_delete_unassigns_the_points(undoable):
    ext, scene, _ = undoable
    objs = assert_consistent(scene)
    gone = biggest(objs, 2)
    gone_ids = [int(o["instance_id"]) for o in gone]
    total = len(attr(scene.ot3d.scene_object, "instance_id"))
    unassigned = int(np.sum(attr(scene.ot3d.scene_object, "instance_id") == 0))
    freed = sum(o["point_count"] for o in gone)
    select(*gone)
    assert bpy.ops.ot3d.delete("EXEC_DEFAULT", True) == {"FINISHED"}
    objs = assert_consistent(scene)
    ids = attr(scene.ot3d.scene_object, "instance_id")
    assert not set(gone_ids) & set(objs) and len(ids) == total
    assert int(np.sum(ids == 0)) == unassigned + freed
    undo()
    objs = assert_consistent(bpy.context.scene)
    assert set(gone_ids) <= set(objs)


def test_move_selected_points_to_another_instance(undoable):
    ext, scene, _ = undoable
    objs = assert_consistent(scene)
    src, dst = biggest(objs, 2)
    src_id, dst_id = int(src["instance_id"]), int(dst["instance_id"])
    n_src, n_dst = src["point_count"], dst["point_count"]
    mask = np.zeros(n_src, bool)
    mask[::4] = True
    moved = attr(src, "point_index")[mask]
    select_points(src, mask)
    select(src)
    assert bpy.ops.ot3d.move_points("EXEC_DEFAULT", True, target=dst_id) == {"FINISHED"}
    objs = assert_consistent(scene)
    assert objs[src_id]["point_count"] == n_src - mask.sum()
    assert objs[dst_id]["point_count"] == n_dst + mask.sum()
    assert np.all(attr(scene.ot3d.scene_object, "instance_id")[moved] == dst_id)

    # points selected on the full-scene object (e.g. unassigned ones) can be moved too
    full = scene.ot3d.scene_object
    ids = attr(full, "instance_id")
    pick = np.flatnonzero(ids == 0)[:50] if np.any(ids == 0) else np.flatnonzero(ids == dst_id)[:50]
    m = np.zeros(len(ids), bool)
    m[pick] = True
    select_points(full, m)
    select_points(objs[src_id], np.zeros(objs[src_id]["point_count"], bool))
    select(full)
    assert bpy.ops.ot3d.move_points("EXEC_DEFAULT", True, target=src_id) == {"FINISHED"}
    assert_consistent(scene)
    assert np.all(attr(full, "instance_id")[pick] == src_id)
    undo()
    undo()
    objs = assert_consistent(bpy.context.scene)
    assert objs[src_id]["point_count"] == n_src and objs[dst_id]["point_count"] == n_dst
    with pytest.raises(RuntimeError, match="no instance 9999"):
        bpy.ops.ot3d.move_points(target=9999)
