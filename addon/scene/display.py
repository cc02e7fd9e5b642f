"""How point clouds look: vertex-only meshes shown and rendered as points.

Clouds are meshes without faces (fast to fill with foreach_set, editable, selectable);
a shared Geometry Nodes group turns their vertices into real points for the viewport
and Cycles, and a material colours them either by the object's colour (instances)
or by the scan's colour attribute (full scene, imported scans). The full-scene object
shows only its unassigned points (instance_id 0): the instances show the rest, so each
point is drawn once.
"""

from __future__ import annotations

import bpy

POINTS_GROUP = "OT3D Points"
MODIFIER = "OT3D Points"
INSTANCE_MATERIAL = "OT3D Instance Colour"
SCAN_MATERIAL = "OT3D Scan Colour"
COLOR_ATTR = "Col"
UNASSIGNED_ONLY = "Unassigned only"


def _material(name: str, colour_node) -> bpy.types.Material:
    mat = bpy.data.materials.get(name)
    if mat is not None:
        return mat
    mat = bpy.data.materials.new(name)
    if mat.node_tree is None:  # Blender < 5 creates materials without nodes
        mat.use_nodes = True
    nodes, links = mat.node_tree.nodes, mat.node_tree.links
    bsdf = next(n for n in nodes if n.bl_idname == "ShaderNodeBsdfPrincipled")
    src, socket = colour_node(nodes)
    links.new(src.outputs[socket], bsdf.inputs["Base Color"])
    # a little emission keeps colours readable however the scene is lit
    if "Emission Color" in bsdf.inputs:
        links.new(src.outputs[socket], bsdf.inputs["Emission Color"])
        bsdf.inputs["Emission Strength"].default_value = 0.5
    return mat


def instance_material() -> bpy.types.Material:
    def node(nodes):
        return nodes.new("ShaderNodeObjectInfo"), "Color"

    mat = _material(INSTANCE_MATERIAL, node)
    return mat


def scan_material() -> bpy.types.Material:
    def node(nodes):
        attr = nodes.new("ShaderNodeAttribute")
        attr.attribute_type = "GEOMETRY"
        attr.attribute_name = COLOR_ATTR
        return attr, "Color"

    mat = _material(SCAN_MATERIAL, node)
    return mat


def points_group() -> bpy.types.NodeTree:
    ng = bpy.data.node_groups.get(POINTS_GROUP)
    if ng is not None:
        return ng
    ng = bpy.data.node_groups.new(POINTS_GROUP, "GeometryNodeTree")
    iface = ng.interface
    iface.new_socket(name="Geometry", in_out="INPUT", socket_type="NodeSocketGeometry")
    radius = iface.new_socket(name="Radius", in_out="INPUT", socket_type="NodeSocketFloat")
    radius.default_value = 0.01
    radius.min_value = 0.0
    iface.new_socket(name="Material", in_out="INPUT", socket_type="NodeSocketMaterial")
    iface.new_socket(name=UNASSIGNED_ONLY, in_out="INPUT", socket_type="NodeSocketBool")
    iface.new_socket(name="Geometry", in_out="OUTPUT", socket_type="NodeSocketGeometry")
    nodes, links = ng.nodes, ng.links
    gin, gout = nodes.new("NodeGroupInput"), nodes.new("NodeGroupOutput")
    to_points = nodes.new("GeometryNodeMeshToPoints")
    set_mat = nodes.new("GeometryNodeSetMaterial")
    gin.location, to_points.location, set_mat.location, gout.location = (-400, 0), (-150, 0), (100, 0), (350, 0)
    # selection = not "Unassigned only" or instance_id == 0
    ids = nodes.new("GeometryNodeInputNamedAttribute")
    ids.data_type = "INT"
    ids.inputs["Name"].default_value = "instance_id"
    is_free = nodes.new("FunctionNodeCompare")
    is_free.data_type, is_free.operation = "INT", "EQUAL"
    a_int = next(sock for sock in is_free.inputs if sock.identifier == "A_INT")
    b_int = next(sock for sock in is_free.inputs if sock.identifier == "B_INT")
    b_int.default_value = 0
    show_all = nodes.new("FunctionNodeBooleanMath")
    show_all.operation = "NOT"
    either = nodes.new("FunctionNodeBooleanMath")
    either.operation = "OR"
    ids.location, is_free.location, show_all.location, either.location = (-700, -250), (-500, -250), (-500, -100), (
        -300, -200)
    links.new(ids.outputs["Attribute"], a_int)
    links.new(gin.outputs[UNASSIGNED_ONLY], show_all.inputs[0])
    links.new(show_all.outputs[0], either.inputs[0])
    links.new(is_free.outputs["Result"], either.inputs[1])
    links.new(either.outputs[0], to_points.inputs["Selection"])
    links.new(gin.outputs["Geometry"], to_points.inputs["Mesh"])
    links.new(gin.outputs["Radius"], to_points.inputs["Radius"])
    links.new(to_points.outputs["Points"], set_mat.inputs["Geometry"])
    links.new(gin.outputs["Material"], set_mat.inputs["Material"])
    links.new(set_mat.outputs["Geometry"], gout.inputs["Geometry"])
    return ng


def show_as_points(obj: bpy.types.Object, material: bpy.types.Material, radius: float,
                   unassigned_only: bool = False) -> None:
    group = points_group()
    mod = obj.modifiers.get(MODIFIER) or obj.modifiers.new(MODIFIER, "NODES")
    mod.node_group = group
    mod.show_in_editmode = False  # edit the raw vertices (selection for corrections)
    by_name = {item.name: item.identifier for item in group.interface.items_tree
               if getattr(item, "in_out", None) == "INPUT"}
    mod[by_name["Radius"]] = float(radius)
    mod[by_name["Material"]] = material
    if UNASSIGNED_ONLY in by_name:  # groups saved by older versions lack it
        mod[by_name[UNASSIGNED_ONLY]] = bool(unassigned_only)
    if not obj.data.materials:
        obj.data.materials.append(material)


def set_radius(objects, radius: float) -> None:
    group = points_group()
    key = next(item.identifier for item in group.interface.items_tree
               if getattr(item, "in_out", None) == "INPUT" and item.name == "Radius")
    for obj in objects:
        mod = obj.modifiers.get(MODIFIER)
        if mod is not None:
            mod[key] = float(radius)
            obj.update_tag()
