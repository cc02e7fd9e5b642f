"""OpenTrack3D for Blender: open-vocabulary 3D instance segmentation of RGB-D scans.

Blender's process never imports the engine's heavy dependencies: the engine runs as a
subprocess (see engine_link/runner.py, engine_link/engine_job.py and ot3d_engine/protocol.py).
This package needs only bpy and numpy; bpy is imported by register() and the Blender-side
modules only, so the process side (engine_link/) also works, and is tested, outside Blender.

Sub-packages by role: engine_link/ (the engine subprocess, tiers, backends), scene/ (the
segmentation's data in the .blend, export writer, job folders), operators/ (what the user
runs), ui/ (panels, scene settings, preferences). This module only registers them.
"""

from __future__ import annotations


def _modules():
    import sys

    # Nothing is written into the install folder: the submodules load without leaving .pyc
    # files (only Blender's own import of this package, before any of our code, may).
    keep, sys.dont_write_bytecode = sys.dont_write_bytecode, True
    try:
        from .engine_link import (backends, engine_job, overall_progress, runner, setup_env,  # noqa: F401
                                  source, tier)
        from .scene import (corrections, display, export, job_folders, job_status,  # noqa: F401
                            materialize, object_labels, segmentation)
        from .operators import (correct_ops, env_ops, export_ops, import_ops, job_operator,  # noqa: F401
                                query_ops, segment_object_ops, segment_ops)
        from .ui import panels, preferences, properties
    finally:
        sys.dont_write_bytecode = keep

    return (properties, preferences, env_ops, job_operator, segment_ops, segment_object_ops, import_ops, correct_ops,
            export_ops, query_ops, panels)


def _menu_import(self, context):
    self.layout.operator("ot3d.import_scan", text="RGB-D Scan (OpenTrack3D)")
    self.layout.operator("ot3d.import_result", text="OpenTrack3D Segmentation")


def _menu_export(self, context):
    self.layout.operator("ot3d.export", text="OpenTrack3D Segmentation (ScanNet, PLY)")


def register():
    import bpy

    modules = _modules()
    for module in modules:
        for cls in module.classes:
            bpy.utils.register_class(cls)
    modules[0].register()  # scene.ot3d, once its classes exist
    from .ui.preferences import draw_tier_status

    bpy.types.OT3D_PT_segment.append(draw_tier_status)  # which engine tier runs, in the Segment panel
    bpy.types.TOPBAR_MT_file_import.append(_menu_import)
    bpy.types.TOPBAR_MT_file_export.append(_menu_export)


def unregister():
    import bpy

    from .engine_link import engine_job, source

    for job in list(engine_job.ACTIVE.values()):
        job.cancel()
        job.wait(timeout=10)
    bpy.types.TOPBAR_MT_file_export.remove(_menu_export)
    bpy.types.TOPBAR_MT_file_import.remove(_menu_import)
    modules = _modules()
    from .ui.preferences import draw_tier_status

    bpy.types.OT3D_PT_segment.remove(draw_tier_status)
    modules[0].unregister()
    for module in reversed(modules):
        for cls in reversed(module.classes):
            bpy.utils.unregister_class(cls)
    source.forget_modules()
