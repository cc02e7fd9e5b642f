"""Per-scene settings and state shown in the sidebar (scene.ot3d)."""

from __future__ import annotations

import bpy
from bpy.app.handlers import persistent
from bpy.props import (BoolProperty, CollectionProperty, EnumProperty, FloatProperty, IntProperty,
                       PointerProperty, StringProperty)

from ..engine_link import backends
from ..scene import job_status

# The engine's scan layouts (ot3d_engine.io.loader.LAYOUTS; a test keeps the two in step).
LAYOUTS = [
    ("AUTO", "Auto-detect", "Let the engine recognise the scan layout"),
    ("scannet", "ScanNet", "ScanNet export: color/ depth/ pose/ intrinsic/"),
    ("replica", "Replica", "Replica (NICE-SLAM): results/ + traj.txt"),
    ("redwood", "Redwood / Open3D", "trajectory.log + color/ depth/"),
    ("posefile", "Pose file", "pose.txt + ot3d_scan.json manifest"),
    ("slambook", "slambook", "pose.txt + color/*.png + depth/*.pgm"),
    ("mosd", "MOSD (PCD)", "a labelled .pcd file"),
    ("7scenes", "7-Scenes / 12-Scenes", "frame-*.color.jpg, .depth.png, .pose.txt"),
    ("tum", "TUM RGB-D", "rgb.txt, depth.txt, groundtruth.txt"),
    ("nerfstudio", "nerfstudio", "transforms.json with depth_file_path"),
    ("record3d", "Record3D", "a .r3d file or its folder (metadata, rgbd/)"),
    ("strayscanner", "Stray Scanner", "rgb.mp4, depth/, odometry.csv"),
    ("polycam", "Polycam raw", "keyframes/ cameras, images, depth"),
    ("3dscannerapp", "3D Scanner App", "All Data: frame_N.jpg|json, depth_N.png"),
    ("arkitscenes", "ARKitScenes", "lowres_wide/, lowres_depth/, lowres_wide.traj"),
    ("mesh", "Mesh file", "PLY/OBJ/GLB mesh, rendered into virtual RGB-D views"),
    ("pointcloud", "Point-cloud file", "PLY/PCD/XYZ/LAS/LAZ/E57 cloud, rendered into virtual RGB-D views"),
]


def _radius_changed(self, context):
    from ..scene import display, segmentation

    objs = [o for o in context.scene.objects if o.get(segmentation.ROLE) in ("scene", "instance", "scan")]
    display.set_radius(objs, self.point_radius)


def _scan_objects(scene):
    from ..scene import segmentation

    return [o for o in scene.objects if o.get(segmentation.ROLE) == "scan"]


def _get_show_scan(self) -> bool:
    return any(o.visible_get() for o in _scan_objects(self.id_data))


def _set_show_scan(self, value: bool) -> None:
    for obj in _scan_objects(self.id_data):
        obj.hide_set(not value)


def _transient(field: str, doc: str):
    """A Python attribute of scene.ot3d kept in job_status (never saved in the .blend)."""

    def get(self):
        return getattr(job_status.of(self.id_data), field)

    def set_(self, value):
        setattr(job_status.of(self.id_data), field, value)

    return property(get, set_, doc=doc)


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
    segmenter: EnumProperty(name="2D segmenter", items=backends.enum_items("segmenter"), default="geometric",
                            description="What finds the objects in each frame")
    features: EnumProperty(name="Features", items=backends.enum_items("features"), default="color",
                           description="What describes each mask for the tracker")
    classifier: EnumProperty(name="Labeller", items=backends.enum_items("classifier"), default=backends.NO_LABELS,
                             description="What names each instance")
    tracker: EnumProperty(name="Tracker", items=backends.enum_items("tracker"), default="visual_spatial",
                          description="How masks are followed from frame to frame")
    superpoints: BoolProperty(name="Superpoint refinement", default=False,
                              description="Snap instances to mesh superpoints (needs a superpoint mesh)")
    keep_partial: BoolProperty(name="Keep partial result", default=False,
                               description="Cancelling Segment (Esc or Cancel) keeps the instances the live view "
                                           "shows as an ordinary, unlabelled segmentation (undoable). Off: a "
                                           "cancel leaves the scene as it was")
    import_frustums: BoolProperty(name="Camera frustums", default=False)
    import_voxel: FloatProperty(name="Import voxel", default=0.02, min=0.001, max=1.0, unit="LENGTH")
    point_radius: FloatProperty(name="Point size", default=0.01, min=0.0005, max=0.5, unit="LENGTH",
                                update=_radius_changed)
    show_scan: BoolProperty(name="Show imported scan", get=_get_show_scan, set=_set_show_scan,
                            description="Show the imported scan cloud (hidden once a segmentation is in the "
                                        "scene, so that one cloud is visible)")

    # state
    scene_object: PointerProperty(type=bpy.types.Object, name="Segmented scene")
    # transient (job_status): never written into the .blend
    running = _transient("running", "An engine job is running")
    progress = _transient("progress", "The whole job's progress, 0..1")
    status = _transient("text", "One line: what the job is doing or how it ended")
    last_error = _transient("error", "One line: why the last job failed")

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


@persistent
def _forget_job_status(*_args) -> None:
    job_status.forget_all()


def register():
    job_status.forget_all()  # a (re-)enabled add-on has no jobs
    bpy.types.Scene.ot3d = PointerProperty(type=OT3D_SceneSettings)
    if _forget_job_status not in bpy.app.handlers.load_post:
        bpy.app.handlers.load_post.append(_forget_job_status)


def unregister():
    for fn in [f for f in bpy.app.handlers.load_post if getattr(f, "__name__", "") == _forget_job_status.__name__
               and getattr(f, "__module__", "") == __name__]:
        bpy.app.handlers.load_post.remove(fn)
    del bpy.types.Scene.ot3d
