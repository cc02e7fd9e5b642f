"""Per-scene settings and state shown in the sidebar (scene.ot3d)."""

from __future__ import annotations

import bpy
from bpy.props import (BoolProperty, CollectionProperty, EnumProperty, FloatProperty, IntProperty,
                       PointerProperty, StringProperty)

# The engine's scan layouts (ot3d_engine.io.loader.LAYOUTS; a test keeps the two in step).
LAYOUTS = [
    ("AUTO", "Auto-detect", "Let the engine recognise the scan layout"),
    ("scannet", "ScanNet", "ScanNet export: color/ depth/ pose/ intrinsic/"),
    ("replica", "Replica", "Replica (NICE-SLAM): results/ + traj.txt"),
    ("redwood", "Redwood / Open3D", "trajectory.log + color/ depth/"),
    ("posefile", "Pose file", "pose.txt + ot3d_scan.json manifest"),
    ("slambook", "slambook", "pose.txt + color/*.png + depth/*.pgm"),
    ("mosd", "MOSD (PCD)", "a labelled .pcd file"),
    ("mesh", "Mesh file", "PLY/OBJ/GLB mesh, rendered into virtual RGB-D views"),
    ("pointcloud", "Point-cloud file", "PLY/PCD/XYZ/LAS/LAZ/E57 cloud, rendered into virtual RGB-D views"),
]


def _radius_changed(self, context):
    from . import display, segmentation

    objs = [o for o in context.scene.objects if o.get(segmentation.ROLE) in ("scene", "instance", "scan")]
    display.set_radius(objs, self.point_radius)


class OT3D_QueryMatch(bpy.types.PropertyGroup):
    instance_id: IntProperty(name="Instance")
    label: StringProperty(name="Label")
    score: FloatProperty(name="Score")
    reason: StringProperty(name="Reason")


class OT3D_SceneSettings(bpy.types.PropertyGroup):
    # scan and engine options
    scan_path: StringProperty(name="Scan", subtype="DIR_PATH", description="RGB-D scan folder (or file) to segment")
    layout: EnumProperty(name="Layout", items=LAYOUTS, default="AUTO")
    mesh_path: StringProperty(name="Superpoint mesh", subtype="FILE_PATH",
                              description="Optional mesh (PLY/OBJ) of the scan used for superpoint refinement")
    frame_stride: IntProperty(name="Frame stride", default=1, min=1, max=1000, description="Use every n-th frame")
    max_frames: IntProperty(name="Max frames", default=0, min=0, description="0 = all frames")
    vocabulary: StringProperty(name="Vocabulary", default="",
                               description="Comma-separated class names for open-vocabulary labels")
    segmenter: StringProperty(name="2D segmenter", default="geometric")
    features: StringProperty(name="Features", default="color")
    classifier: StringProperty(name="Labeller", default="", description="Empty = no labelling backend")
    superpoints: BoolProperty(name="Superpoint refinement", default=False,
                              description="Snap instances to mesh superpoints (needs a superpoint mesh)")
    import_frustums: BoolProperty(name="Camera frustums", default=False)
    import_voxel: FloatProperty(name="Import voxel", default=0.02, min=0.001, max=1.0, unit="LENGTH")
    point_radius: FloatProperty(name="Point size", default=0.01, min=0.0005, max=0.5, unit="LENGTH",
                                update=_radius_changed)

    # state
    scene_object: PointerProperty(type=bpy.types.Object, name="Segmented scene")
    running: BoolProperty(default=False)
    progress: FloatProperty(default=0.0, min=0.0, max=1.0, subtype="FACTOR")
    status: StringProperty(default="")
    last_error: StringProperty(default="")

    # corrections
    new_label: StringProperty(name="Label", default="")
    move_target: IntProperty(name="Target instance", default=1, min=0,
                             description="Instance that receives the moved points (0 = unassigned)")

    # query
    query_text: StringProperty(name="Query", default="", description="Describe what to find")
    query_top_k: IntProperty(name="Matches", default=5, min=1, max=50)
    query_verify: BoolProperty(name="Verify with image-text model", default=True,
                               description="Show each candidate's best views to the multimodal model "
                                           "(slow; off = rank by label similarity only)")
    query_small_model: BoolProperty(name="Small model", default=False,
                                    description="Use the small image-text model (faster, less accurate)")
    query_matches: CollectionProperty(type=OT3D_QueryMatch)
    query_index: IntProperty(default=0)


classes = (OT3D_QueryMatch, OT3D_SceneSettings)


def register():
    bpy.types.Scene.ot3d = PointerProperty(type=OT3D_SceneSettings)


def unregister():
    del bpy.types.Scene.ot3d
