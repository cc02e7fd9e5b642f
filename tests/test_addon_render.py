"""What a user would look at: a small Cycles (CPU) render of the coloured instances."""

from __future__ import annotations

import numpy as np

from addon_env import attr, bpy, ext_scene, positions, segmented  # noqa: F401


def test_cycles_render_of_the_instances_is_not_blank(segmented, tmp_path):
    ext, scene, _ = segmented
    full = scene.ot3d.scene_object
    pts = positions(full)[attr(full, "instance_id") > 0]
    lo, hi = pts.min(0), pts.max(0)
    up = int(np.argmin(hi - lo))  # a room is flattest along its up axis: look down it

    cam_data = bpy.data.cameras.new("cam")
    cam_data.type = "ORTHO"
    cam_data.ortho_scale = float(np.max(np.delete(hi - lo, up))) * 1.1
    cam = bpy.data.objects.new("cam", cam_data)
    scene.collection.objects.link(cam)
    centre = (lo + hi) / 2
    loc = centre.copy()
    loc[up] = hi[up] + 5.0
    cam.location = loc.tolist()
    direction = centre - loc
    from mathutils import Vector

    cam.rotation_euler = Vector(direction.tolist()).to_track_quat("-Z", "Y").to_euler()
    scene.camera = cam
    cam_data.clip_end = 100.0

    scene.render.engine = "CYCLES"
    scene.cycles.device = "CPU"
    scene.cycles.samples = 4
    scene.cycles.use_denoising = False
    scene.render.resolution_x, scene.render.resolution_y = 96, 72
    scene.render.resolution_percentage = 100
    scene.ot3d.point_radius = 0.04  # bigger points read better at this size
    out = tmp_path / "preview.png"
    scene.render.filepath = str(out)
    scene.render.image_settings.file_format = "PNG"
    bpy.ops.render.render(write_still=True)
    assert out.is_file()

    img = bpy.data.images.load(str(out))
    px = np.empty(img.size[0] * img.size[1] * img.channels, np.float32)
    img.pixels.foreach_get(px)
    rgb = px.reshape(-1, img.channels)[:, :3]
    background = np.all(rgb < 0.02, axis=1)  # no world: empty pixels are black
    assert background.mean() < 0.9, "the instances cover almost nothing"
    assert background.mean() > 0.01, "no background at all: the camera sees something else"
    # several instance colours show up, not one flat colour
    hues = np.unique(np.round(rgb[~background] * 6), axis=0)
    assert len(hues) >= 4
    assert float(rgb[~background].std(axis=0).max()) > 0.05
