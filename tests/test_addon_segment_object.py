"""Segment Selected Object: a mesh built here (a table top with a cube and two spheres on
it, joined into one object) goes through the real engine subprocess on the zero-set-up tier
(Blender's own Python: no open3d, so the engine splats the mesh's surface), and the ids come
back as an `instance_id` point attribute on that very object plus per-instance objects."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from addon_env import attr, bpy, ext_scene, positions  # noqa: F401

PARTS = {1: "table", 2: "cube", 3: "ball_a", 4: "ball_b"}
COLOURS = {1: (0.55, 0.35, 0.2), 2: (0.9, 0.1, 0.1), 3: (0.1, 0.3, 0.9), 4: (0.1, 0.8, 0.2)}


def _tag(obj, part: int) -> None:
    """A `part` id and a colour per vertex, so that the test knows each primitive after the join."""
    mesh = obj.data
    n = len(mesh.vertices)
    mesh.attributes.new("part", "INT", "POINT").data.foreach_set("value", np.full(n, part, np.int32))
    colour = mesh.color_attributes.new("Col", "BYTE_COLOR", "POINT")
    colour.data.foreach_set("color_srgb", np.tile([*COLOURS[part], 1.0], n).astype(np.float32))
    mesh.color_attributes.active_color = colour


def build_table_scene():
    ops = bpy.ops.mesh
    ops.primitive_grid_add(x_subdivisions=24, y_subdivisions=16, size=1.0, location=(0, 0, 0))
    table = bpy.context.active_object
    table.scale = (1.2, 0.8, 1.0)
    _tag(table, 1)
    ops.primitive_cube_add(size=0.16, location=(-0.3, 0.0, 0.08))
    bpy.ops.object.mode_set(mode="EDIT")
    ops.select_all(action="SELECT")
    ops.subdivide(number_cuts=3)  # 8 corners are too few vertices to vote
    bpy.ops.object.mode_set(mode="OBJECT")
    _tag(bpy.context.active_object, 2)
    ops.primitive_uv_sphere_add(segments=16, ring_count=8, radius=0.08, location=(0.05, 0.12, 0.08))
    _tag(bpy.context.active_object, 3)
    ops.primitive_ico_sphere_add(subdivisions=2, radius=0.07, location=(0.32, -0.1, 0.07))
    _tag(bpy.context.active_object, 4)
    objs = [o for o in bpy.context.scene.objects if o.type == "MESH"]
    for o in objs:
        o.select_set(True)
    bpy.context.view_layer.objects.active = table
    assert bpy.ops.object.join() == {"FINISHED"}
    joined = bpy.context.active_object
    joined.name = "TableModel"
    joined.location = (0.5, 1.0, 0.7)  # the engine must get world coordinates
    return joined


def test_segment_selected_object_labels_its_vertices_and_corrections_undo(ext_scene):
    ext, scene = ext_scene
    obj = build_table_scene()
    n = len(obj.data.vertices)
    parts = attr(obj, "part")
    assert set(np.unique(parts)) == set(PARTS)
    bpy.ops.ed.undo_push(message="model built")
    loaded_before = set(sys.modules)

    assert bpy.ops.ot3d.segment_object(views=16, resolution=(160, 120)) == {"FINISHED"}, scene.ot3d.last_error
    obj = bpy.data.objects["TableModel"]
    ids = attr(obj, "instance_id")
    assert len(ids) == n and ids.dtype == np.int32

    dominant = {}
    for part, name in PARTS.items():
        own = ids[parts == part]
        top = np.bincount(own[own > 0]).argmax() if (own > 0).any() else 0
        dominant[name] = int(top)
        share = float(np.mean(own == top))
        if name != "table":  # small objects: one id covers most of their vertices (bottoms are hidden)
            assert top > 0 and share >= 0.6, (name, share, np.unique(own, return_counts=True))
            assert np.mean(own[own > 0] == top) >= 0.85, (name, np.unique(own, return_counts=True))
    objects = [dominant[k] for k in ("cube", "ball_a", "ball_b")]
    assert len(set(objects)) == 3 and dominant["table"] not in objects, dominant

    instances = {int(o["instance_id"]): o for o in bpy.data.collections["Instances"].objects}
    assert set(objects) <= set(instances)
    assert scene.ot3d.scene_object is not None and scene.ot3d.scene_object != obj
    # the engine got world coordinates: the instances sit where the model is
    cube = instances[dominant["cube"]]
    centre = positions(cube).mean(0) + np.array(cube.matrix_world.translation)
    assert np.linalg.norm(centre - np.array([0.2, 1.0, 0.78])) < 0.1, centre

    # one correction (delete the cube's instance), then undo it
    bpy.ops.ed.undo_push(message="segmented")
    for o in scene.objects:
        o.select_set(False)
    cube.select_set(True)
    bpy.context.view_layer.objects.active = cube
    assert bpy.ops.ot3d.delete("EXEC_DEFAULT", True) == {"FINISHED"}
    remaining = {int(o["instance_id"]) for o in bpy.data.collections["Instances"].objects}
    assert dominant["cube"] not in remaining
    assert not np.any(attr(scene.ot3d.scene_object, "instance_id") == dominant["cube"])
    after = attr(bpy.data.objects["TableModel"], "instance_id")  # the object's own ids follow
    np.testing.assert_array_equal(after, np.where(ids == dominant["cube"], 0, ids))
    with bpy.context.temp_override(window=bpy.context.window_manager.windows[0]):
        bpy.ops.ed.undo()
    restored = {int(o["instance_id"]) for o in bpy.data.collections["Instances"].objects}
    assert dominant["cube"] in restored
    np.testing.assert_array_equal(attr(bpy.data.objects["TableModel"], "instance_id"), ids)

    # the add-on imported nothing heavy (the engine ran in its own process)
    heavy = {"open3d", "torch", "trimesh", "transformers"} & {m.split(".")[0] for m in set(sys.modules) - loaded_before}
    assert not heavy, heavy


def test_segment_selected_object_needs_a_mesh(ext_scene):
    ext, scene = ext_scene
    bpy.ops.object.empty_add()
    assert not bpy.ops.ot3d.segment_object.poll()
    with pytest.raises(RuntimeError):
        bpy.ops.ot3d.segment_object()
