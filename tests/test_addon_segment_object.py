"""Segment Selected Object: a mesh built here (a table top with a cube and two spheres on
it, joined into one object) goes through the real engine subprocess on the zero-set-up tier
(Blender's own Python: no open3d, so the engine splats the mesh's surface), and the ids come
back as an `instance_id` point attribute on that very object plus per-instance objects.
A model with an image texture sends it (corner UVs + sRGB pixels) and the engine's views
are coloured from it; a missing image file is a one-line error before the engine starts."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

from addon_env import attr, bpy, engine_module, ext_scene, load_engine_scene, positions  # noqa: F401

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


def table_and_cube(cube_size: float, cube_location) -> tuple:
    """A table top (a grid: its own UVs are its local x, y + 0.5) and a subdivided cube."""
    ops = bpy.ops.mesh
    ops.primitive_grid_add(x_subdivisions=24, y_subdivisions=16, size=1.0, location=(0, 0, 0))
    table = bpy.context.active_object
    table.scale = (1.2, 0.8, 1.0)
    ops.primitive_cube_add(size=cube_size, location=cube_location)
    bpy.ops.object.mode_set(mode="EDIT")
    ops.select_all(action="SELECT")
    ops.subdivide(number_cuts=3)  # 8 corners are too few vertices to vote
    bpy.ops.object.mode_set(mode="OBJECT")
    return table, bpy.context.active_object


def join_into(name: str, objs, active):
    """The primitives joined into one mesh object named `name`, moved off the origin (the
    engine must get world coordinates)."""
    for o in objs:
        o.select_set(True)
    bpy.context.view_layer.objects.active = active
    assert bpy.ops.object.join() == {"FINISHED"}
    joined = bpy.context.active_object
    joined.name = name
    joined.location = (0.5, 1.0, 0.7)
    return joined


def build_table_scene():
    ops = bpy.ops.mesh
    table, cube = table_and_cube(0.16, (-0.3, 0.0, 0.08))
    _tag(table, 1)
    _tag(cube, 2)
    ops.primitive_uv_sphere_add(segments=16, ring_count=8, radius=0.08, location=(0.05, 0.12, 0.08))
    _tag(bpy.context.active_object, 3)
    ops.primitive_ico_sphere_add(subdivisions=2, radius=0.07, location=(0.32, -0.1, 0.07))
    _tag(bpy.context.active_object, 4)
    return join_into("TableModel", [o for o in bpy.context.scene.objects if o.type == "MESH"], table)


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


# --- image textures -------------------------------------------------------------------------

QUADRANT_BYTES = {(0, 0): (217, 51, 38), (1, 0): (38, 76, 217),  # (u half, v half) -> sRGB bytes
                  (0, 1): (51, 191, 64), (1, 1): (230, 204, 51)}
QUADRANTS = {q: tuple(c / 255 for c in rgb) for q, rgb in QUADRANT_BYTES.items()}


def quadrant_image(name: str = "Quadrants", width: int = 64, height: int = 32):
    """A generated 8-bit sRGB image of four colours; Blender's pixel row 0 is the bottom (v 0)."""
    image = bpy.data.images.new(name, width, height)
    px = np.ones((height, width, 4), np.float32)
    for (qu, qv), rgb in QUADRANTS.items():
        px[qv * height // 2:(qv + 1) * height // 2, qu * width // 2:(qu + 1) * width // 2, :3] = rgb
    image.pixels.foreach_set(px.reshape(-1))
    return image


def textured_material(image, name: str = "Textured"):
    """Image Texture -> Hue/Saturation -> Principled BSDF Base Color (the image is found
    through the node between)."""
    material = bpy.data.materials.new(name)
    if bpy.app.version < (5, 0):
        material.use_nodes = True
    tree = material.node_tree
    bsdf = next(n for n in tree.nodes if n.type == "BSDF_PRINCIPLED")
    tex = tree.nodes.new("ShaderNodeTexImage")
    tex.image = image
    hue = tree.nodes.new("ShaderNodeHueSaturation")
    tree.links.new(tex.outputs["Color"], hue.inputs["Color"])
    tree.links.new(hue.outputs["Color"], bsdf.inputs["Base Color"])
    return material


def _part(obj, part: int) -> None:
    values = np.full(len(obj.data.vertices), part, np.int32)
    obj.data.attributes.new("part", "INT", "POINT").data.foreach_set("value", values)


def build_textured_model(material, name: str = "TexturedModel"):
    """A table top (a grid: its own UVs are its local x, y + 0.5) with a cube on it, one
    textured material, no colour attribute."""
    table, cube = table_and_cube(0.2, (-0.3, 0.1, 0.1))
    _part(table, 1)
    _part(cube, 2)
    model = join_into(name, (table, cube), table)
    model.data.materials.append(material)
    return model


def table_uv(world: np.ndarray) -> np.ndarray:
    """The table's UV at a world point on it (grid UVs, the model's scale and location)."""
    return np.stack([(world[:, 0] - 0.5) / 1.2 + 0.5, (world[:, 1] - 1.0) / 0.8 + 0.5], axis=1)


def test_segment_selected_object_sends_its_image_texture(ext_scene):
    ext, scene = ext_scene
    model = build_textured_model(textured_material(quadrant_image()))
    n = len(model.data.vertices)
    assert len(model.data.color_attributes) == 0  # the colour can only come from the texture

    assert bpy.ops.ot3d.segment_object(views=12, resolution=(160, 120)) == {"FINISHED"}, scene.ot3d.last_error
    model = bpy.data.objects["TexturedModel"]
    ids = attr(model, "instance_id")
    assert len(ids) == n and ids.dtype == np.int32
    cube_ids = ids[attr(model, "part") == 2]
    assert (cube_ids > 0).mean() >= 0.6, np.unique(cube_ids, return_counts=True)

    # the sidecar the add-on sent: obj.data's loop triangles' UVs and the image, top row first
    scene_dir = Path(scene.ot3d.scene_object["source"])
    info = engine_module("output.scene_io").read_scene(scene_dir).meta["virtual_views"]
    sidecar = Path(info["input"]).with_name("object_texture.npz")
    mesh = model.data
    mesh.calc_loop_triangles()
    sent = engine_module("render.object_texture").read_object_texture(sidecar, len(mesh.loop_triangles))
    assert sent.name == "Quadrants" and sent.image.shape == (32, 64, 3)
    np.testing.assert_array_equal(sent.image[0, 0], QUADRANT_BYTES[(0, 1)])  # top left: u < 0.5, v > 0.5
    np.testing.assert_array_equal(sent.image[-1, -1], QUADRANT_BYTES[(1, 0)])
    tri = np.empty(len(mesh.loop_triangles) * 3, np.int32)
    mesh.loop_triangles.foreach_get("vertices", tri)
    tri = tri.reshape(-1, 3)
    on_table = (attr(model, "part")[tri] == 1).all(axis=1)
    local = positions(model)[tri[on_table]]
    np.testing.assert_allclose(sent.corner_uv[on_table], local[..., :2] + 0.5, atol=1e-6)
    assert any("image texture 'Quadrants' (64x32)" in note for note in info["notes"]), info["notes"]

    # the engine's views were coloured from it: the fused table points have the quadrant colours
    result = load_engine_scene(scene_dir)
    pts, cols = np.asarray(result.points, np.float64), np.asarray(result.colors, np.int64)
    uv = table_uv(pts)
    top = (np.abs(pts[:, 2] - 0.7) < 0.01) & (np.abs(uv - 0.5).max(axis=1) < 0.45)
    clear = (np.abs(uv - 0.5).min(axis=1) > 0.05) & (np.linalg.norm(pts[:, :2] - [0.2, 1.1], axis=1) > 0.2)
    sel = top & clear
    assert sel.sum() > 200, sel.sum()
    quadrant = (uv[sel] >= 0.5).astype(int)
    palette = np.array([QUADRANT_BYTES[q] for q in QUADRANTS], np.int64)
    keys = list(QUADRANTS)
    nearest = np.argmin(np.abs(cols[sel][:, None, :] - palette[None]).sum(axis=2), axis=1)
    expected = np.array([keys.index((int(qu), int(qv))) for qu, qv in quadrant])
    assert np.mean(nearest == expected) > 0.95, np.mean(nearest == expected)


def test_missing_image_file_is_a_one_line_error_before_the_engine_starts(ext_scene, tmp_path):
    ext, scene = ext_scene
    gone = bpy.data.images.new("Gone", 8, 8)
    gone.source = "FILE"
    gone.filepath = str(tmp_path / "gone.png")
    build_textured_model(textured_material(gone))
    objects = {o.name for o in bpy.data.objects}
    message = f"image 'Gone' has no pixels: its file {tmp_path / 'gone.png'} is missing or unreadable"
    with pytest.raises(RuntimeError, match="image 'Gone' has no pixels"):
        bpy.ops.ot3d.segment_object(views=4, resolution=(64, 48))
    assert scene.ot3d.last_error == message and not scene.ot3d.running
    assert {o.name for o in bpy.data.objects} == objects  # nothing came back: no job ran


def test_texture_pixels_arrive_as_srgb_bytes_top_row_first(ext_scene, tmp_path):
    """Generated, float (linear), linear-tagged, Non-Color and packed images: what the
    engine gets is the sRGB colour the viewport shows, Blender's bottom row last."""
    ext, scene = ext_scene
    image_srgb = ext.scene.object_texture.image_srgb
    px = np.zeros((2, 2, 4), np.float32)
    px[0] = (0.5, 0.25, 1.0, 1.0)  # Blender's row 0: the bottom
    px[1] = (0.0, 0.0, 0.0, 1.0)

    def made(name, space=None, **kw):
        image = bpy.data.images.new(name, 2, 2, **kw)
        if space:  # before the pixels: a generated image is generated anew when its space changes
            image.colorspace_settings.name = space
        image.pixels.foreach_set(px.reshape(-1))
        return image

    def encode(x):
        x = np.asarray(x, np.float64)
        return np.rint(255 * np.where(x <= 0.0031308, 12.92 * x, 1.055 * x ** (1 / 2.4) - 0.055)).astype(np.uint8)

    byte = made("Byte")
    got = image_srgb(byte)
    assert got.shape == (2, 2, 3) and got.dtype == np.uint8
    np.testing.assert_array_equal(got[1, 0], [128, 64, 255])  # stored sRGB bytes as they are
    np.testing.assert_array_equal(got[0, 0], [0, 0, 0])
    np.testing.assert_array_equal(image_srgb(made("Float", float_buffer=True))[1, 0], encode([0.5, 0.25, 1.0]))
    for space in ("Linear Rec.709", "Non-Color"):
        tagged = made(f"Tagged {space}", space)
        np.testing.assert_array_equal(image_srgb(tagged)[1, 0], encode(np.array([128, 64, 255]) / 255))

    path = tmp_path / "packed.png"
    byte.filepath_raw, byte.file_format = str(path), "PNG"
    byte.save()
    packed = bpy.data.images.load(str(path), check_existing=False)
    packed.pack()
    os.remove(path)
    np.testing.assert_array_equal(image_srgb(packed), got)  # the packed copy, the file gone
    with pytest.raises(ValueError, match="image 'Tiles': tiled images are not supported as a texture"):
        image_srgb(bpy.data.images.new("Tiles", 4, 4, tiled=True))


def test_which_image_and_which_uvs(ext_scene):
    """No image: None (the colour attribute is sent). Two slots, one textured: that image,
    with a warning for the other slot's triangles. The UV Map node's map wins over the
    render-active one. No UV map: no texture, a warning. Big images are subsampled."""
    ext, scene = ext_scene
    object_image = ext.scene.object_texture.object_image
    bpy.ops.mesh.primitive_grid_add(x_subdivisions=4, y_subdivisions=2, size=1.0)
    obj = bpy.context.active_object
    mesh = obj.data
    mesh.calc_loop_triangles()
    assert object_image(obj, mesh) == (None, "")  # no material
    plain = bpy.data.materials.new("Plain")
    mesh.materials.append(plain)
    assert object_image(obj, mesh) == (None, "")  # a material without an image

    image = quadrant_image()
    textured = textured_material(image)
    mesh.materials.append(textured)
    index = np.zeros(len(mesh.polygons), np.int32)
    index[: len(index) // 4] = 1  # a quarter of the faces textured: still the object's only image
    mesh.polygons.foreach_set("material_index", index)
    mesh.calc_loop_triangles()
    got, warning = object_image(obj, mesh)
    assert got.name == "Quadrants" and got.corner_uv.shape == (len(mesh.loop_triangles), 3, 2)
    assert f"{len(mesh.loop_triangles) * 3 // 4} of {len(mesh.loop_triangles)} triangles use materials without image" \
        in warning, warning

    second = mesh.uv_layers.new(name="Second")  # not active for render
    second.data.foreach_set("uv", np.full(len(mesh.loops) * 2, 0.25, np.float32))
    assert np.abs(object_image(obj, mesh)[0].corner_uv - 0.25).max() > 0.1  # the render-active map
    tree = textured.node_tree
    node = tree.nodes.new("ShaderNodeUVMap")
    node.uv_map = "Second"
    tree.links.new(node.outputs["UV"], next(n for n in tree.nodes if n.type == "TEX_IMAGE").inputs["Vector"])
    np.testing.assert_array_equal(object_image(obj, mesh)[0].corner_uv, 0.25)

    while mesh.uv_layers:
        mesh.uv_layers.remove(mesh.uv_layers[0])
    assert object_image(obj, mesh) == (None, f"'{obj.name}' has no UV map: its image texture 'Quadrants' was not sent")

    big = bpy.data.images.new("Big", ext.scene.object_texture.MAX_SIDE + 10, 4)
    assert ext.scene.object_texture.image_srgb(big).shape == (2, (ext.scene.object_texture.MAX_SIDE + 10 + 1) // 2, 3)


# --- modifiers ------------------------------------------------------------------------------

def test_modifiers_are_rendered_and_the_ids_land_on_the_own_vertices(ext_scene):
    """A Subdivision Surface turns the 8-vertex cube into a blob well inside its corners:
    the engine renders the blob, and each of obj.data's vertices (the corners too) takes the
    id of the nearest rendered vertex."""
    ext, scene = ext_scene
    ops = bpy.ops.mesh
    ops.primitive_grid_add(x_subdivisions=24, y_subdivisions=16, size=1.0, location=(0, 0, 0))
    table = bpy.context.active_object
    table.scale = (1.2, 0.8, 1.0)
    _tag(table, 1)
    ops.primitive_cube_add(size=0.24, location=(-0.3, 0.0, 0.3))  # held up: its corners are nearest the blob
    cube = bpy.context.active_object
    _tag(cube, 2)
    model = join_into("Modified", (table, cube), table)
    subsurf = model.modifiers.new("Subdivision", "SUBSURF")
    subsurf.levels = 3
    n = len(model.data.vertices)
    parts = attr(model, "part")
    evaluated = model.evaluated_get(bpy.context.evaluated_depsgraph_get()).to_mesh()
    shown = np.empty(len(evaluated.vertices) * 3, np.float32)
    evaluated.vertices.foreach_get("co", shown)
    shown = shown.reshape(-1, 3)
    model.evaluated_get(bpy.context.evaluated_depsgraph_get()).to_mesh_clear()
    corners = positions(model)[parts == 2]
    assert len(corners) == 8 and len(shown) > 4 * n
    gap = np.linalg.norm(corners[:, None] - shown[None], axis=2).min(axis=1)
    assert gap.min() > 0.05  # farther from the rendered surface than label transfer reaches

    assert bpy.ops.ot3d.segment_object(views=12, resolution=(160, 120)) == {"FINISHED"}, scene.ot3d.last_error
    model = bpy.data.objects["Modified"]
    assert len(model.data.vertices) == n and [m.name for m in model.modifiers] == ["Subdivision"]  # nothing applied
    ids = attr(model, "instance_id")
    assert len(ids) == n
    cube_ids = ids[parts == 2]
    top = corners[:, 2] > np.median(corners[:, 2])  # the blob's underside faces away from every view
    blob = cube_ids[top][0]
    assert blob > 0 and (cube_ids[top] == blob).all() and np.isin(cube_ids, [blob, 0]).all(), cube_ids
    table_ids = ids[parts == 1]
    assert np.mean(table_ids != blob) > 0.95

    info = engine_module("output.scene_io").read_scene(Path(scene.ot3d.scene_object["source"])).meta["virtual_views"]
    sent, _ = engine_module("io.ply").read_ply(Path(info["input"]).with_name("object_evaluated.ply"))
    assert len(sent["x"]) == len(shown) and info["points"] == n
