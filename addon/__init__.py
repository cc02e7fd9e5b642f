"""OpenTrack3D for Blender: open-vocabulary 3D instance segmentation of RGB-D scans.

Blender's process never imports the engine's heavy dependencies: the engine runs as a
subprocess (see runner.py / engine_job.py and ot3d_engine/protocol.py). This package
needs only bpy and numpy; bpy is imported by register() and the UI modules only, so the
process side (runner, engine_job) also works, and is tested, outside Blender.
"""

from __future__ import annotations


def _modules():
    import sys

    # Nothing is written into the install folder: the submodules load without leaving .pyc
    # files (only Blender's own import of this package, before any of our code, may).
    keep, sys.dont_write_bytecode = sys.dont_write_bytecode, True
    try:
        from . import (backends, correct_ops, corrections, display, engine_job, engine_link, export,  # noqa: F401
                       import_ops, job_folders, job_operator, job_status, materialize, overall_progress, panels,
                       preferences, properties, query_ops, runner, segment_ops, segmentation, setup_env, tier)
    finally:
        sys.dont_write_bytecode = keep

    return (properties, preferences, job_operator, segment_ops, import_ops, correct_ops, export, query_ops, panels)


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
    from .preferences import draw_tier_status

    bpy.types.OT3D_PT_segment.append(draw_tier_status)  # which engine tier runs, in the Segment panel
    bpy.types.TOPBAR_MT_file_import.append(_menu_import)
    bpy.types.TOPBAR_MT_file_export.append(_menu_export)


def unregister():
    import bpy

    from . import engine_job, engine_link

    for job in list(engine_job.ACTIVE.values()):
        job.cancel()
        job.wait(timeout=10)
    bpy.types.TOPBAR_MT_file_export.remove(_menu_export)
    bpy.types.TOPBAR_MT_file_import.remove(_menu_import)
    modules = _modules()
    from .preferences import draw_tier_status

    bpy.types.OT3D_PT_segment.remove(draw_tier_status)
    modules[0].unregister()
    for module in reversed(modules):
        for cls in reversed(module.classes):
            bpy.utils.unregister_class(cls)
    engine_link.forget_modules()
