"""A mesh object's image texture for Segment Selected Object, as the arrays of the engine's
texture sidecar (ot3d_engine/render/object_texture.py): one UV per triangle corner, in the
order of the object's loop triangles, and the image as sRGB uint8 with row 0 at the top.

UVs go per corner, not per split vertex: object.ply then keeps obj.data's own vertices, so
the ids come back onto them with no mapping (the engine splits at seams only to render).

Which image: per material slot, the first Image Texture node upstream of the Principled
BSDF's Base Color (through whatever nodes lie between, whose effect is ignored; node groups
are not entered). One image per object: the one whose slots cover the most triangles;
triangles of other slots are coloured from it too (a warning says so).
Which UVs: the UV Map node feeding that Image Texture's Vector, else the UV map active for
render (what Blender itself uses for an Image Texture without a Vector input).
Colour: for an 8-bit image `image.pixels` are the stored values (sRGB encoded for an sRGB
image, linear for Linear/Non-Color ones); a float image's are scene linear. Linear values
are encoded to sRGB, so the engine sees what the viewport shows (Standard view transform);
other display spaces (Display P3, Rec.2020...) are taken as sRGB. Alpha is ignored.
"""

from __future__ import annotations

from dataclasses import dataclass

import bpy
import numpy as np

MAX_SIDE = 4096  # larger images are subsampled: views of 640x480 see no finer detail
LINEAR_SPACES = {"ACEScg", "ACES2065-1", "Working Space", "Raw", "XYZ"}


class TextureError(ValueError):
    """An image the object's material uses cannot be read (the operator's one-line error)."""


@dataclass
class ObjectImage:
    corner_uv: np.ndarray  # Fx3x2 float32, per loop triangle corner
    image: np.ndarray  # HxWx3 uint8 sRGB, row 0 at the top
    name: str


def object_image(obj: bpy.types.Object, mesh: bpy.types.Mesh) -> tuple[ObjectImage | None, str]:
    """The base-colour texture of `obj` (None when it has none: its colour attribute is used
    then), UVs from `mesh` (obj.data or its evaluated mesh), and a warning for the user
    ("" if none). Call after mesh.calc_loop_triangles()."""
    slots = [slot.material for slot in obj.material_slots]
    if not slots or not len(mesh.loop_triangles):
        return None, ""
    material_index = np.empty(len(mesh.loop_triangles), np.int32)
    mesh.loop_triangles.foreach_get("material_index", material_index)
    per_slot = np.bincount(np.clip(material_index, 0, len(slots) - 1), minlength=len(slots))
    found = [(base_color_image_node(m), int(count)) for m, count in zip(slots, per_slot)]
    found = [(node, count) for node, count in found if node is not None]
    if not found:
        return None, ""
    by_image: dict[str, int] = {}
    for node, count in found:
        by_image[node.image.name] = by_image.get(node.image.name, 0) + count
    name = max(by_image, key=by_image.get)
    node = max((pair for pair in found if pair[0].image.name == name), key=lambda pair: pair[1])[0]
    layer = uv_layer_for(mesh, node)
    if layer is None:
        return None, f"'{obj.name}' has no UV map: its image texture '{name}' was not sent"
    warning = ""
    others = len(material_index) - by_image[name]
    if others:
        warning = (f"'{obj.name}': {others} of {len(material_index)} triangles use materials without "
                   f"image '{name}'; they are coloured from it too (one image per object)")
    return ObjectImage(corner_uv(mesh, layer), image_srgb(node.image), name), warning


def base_color_image_node(material: bpy.types.Material | None):
    """The first Image Texture (with an image) upstream of the Principled BSDF's Base Color."""
    tree = material.node_tree if material is not None else None
    if tree is None or (bpy.app.version < (5, 0) and not material.use_nodes):
        return None
    principled = [n for n in tree.nodes if n.type == "BSDF_PRINCIPLED"]
    output = tree.get_output_node("ALL")
    if output is not None:  # prefer the BSDF the active output actually shows
        shown = _upstream(output.inputs["Surface"], lambda n: n.type == "BSDF_PRINCIPLED")
        principled = [shown] if shown is not None else principled
    for bsdf in principled:
        node = _upstream(bsdf.inputs["Base Color"], lambda n: n.type == "TEX_IMAGE" and n.image is not None)
        if node is not None:
            return node
    return None


def _upstream(socket, wanted, limit: int = 64):
    """Breadth-first through the links into `socket`: the first node `wanted` accepts."""
    queue, seen = [socket], set()
    while queue and len(seen) < limit:
        for link in queue.pop(0).links:
            if link.is_muted or link.from_node.name in seen:
                continue
            node = link.from_node
            seen.add(node.name)
            if wanted(node):
                return node
            queue.extend(s for s in node.inputs if s.is_linked)
    return None


def uv_layer_for(mesh: bpy.types.Mesh, image_node):
    vector = image_node.inputs.get("Vector")
    if vector is not None and vector.is_linked:
        source = vector.links[0].from_node
        if source.type == "UVMAP" and source.uv_map in mesh.uv_layers:
            return mesh.uv_layers[source.uv_map]
    for layer in mesh.uv_layers:
        if layer.active_render:
            return layer
    return mesh.uv_layers.active


def corner_uv(mesh: bpy.types.Mesh, layer) -> np.ndarray:
    uv = np.empty(len(mesh.loops) * 2, np.float32)
    layer.data.foreach_get("uv", uv)
    loops = np.empty(len(mesh.loop_triangles) * 3, np.int32)
    mesh.loop_triangles.foreach_get("loops", loops)
    return uv.reshape(-1, 2)[loops].reshape(-1, 3, 2)


def image_srgb(image: bpy.types.Image) -> np.ndarray:
    """HxWx3 sRGB uint8, row 0 at the top (Blender's pixels start at the bottom row)."""
    if image.source not in ("FILE", "GENERATED"):
        raise TextureError(f"image '{image.name}': {image.source.lower()} images are not supported as a "
                           "texture (use a single image)")
    w, h = image.size  # reading the size loads the image
    if w == 0 or h == 0 or not image.has_data:
        where = "its packed data" if image.packed_file is not None else f"its file {bpy.path.abspath(image.filepath)}"
        raise TextureError(f"image '{image.name}' has no pixels: {where} is missing or unreadable")
    values = len(image.pixels)
    channels = values // (w * h)
    if channels == 0 or channels * w * h != values:
        raise TextureError(f"image '{image.name}': {values} pixel values for {w}x{h} pixels")
    buf = np.empty(values, np.float32)
    image.pixels.foreach_get(buf)
    step = -(-max(w, h) // MAX_SIDE)
    px = buf.reshape(h, w, channels)[::step, ::step]
    rgb = px[..., :3] if channels >= 3 else np.repeat(px[..., :1], 3, axis=-1)
    rgb = np.clip(rgb, 0.0, 1.0)
    if is_linear(image):
        rgb = srgb_encode(rgb)
    return np.ascontiguousarray(np.rint(rgb[::-1] * 255).astype(np.uint8))


def is_linear(image: bpy.types.Image) -> bool:
    space = image.colorspace_settings
    return bool(image.is_float or space.is_data or space.name.lower().startswith("linear")
                or space.name in LINEAR_SPACES)


def srgb_encode(linear: np.ndarray) -> np.ndarray:
    return np.where(linear <= 0.0031308, 12.92 * linear, 1.055 * np.power(linear, 1 / 2.4) - 0.055)
