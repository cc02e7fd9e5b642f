"""Segment: run the pipeline on the scan in the sidebar and materialize the instances."""

from __future__ import annotations

from pathlib import Path

import bpy

from .job_operator import EngineJobOperator
from .materialize import load_scene_folder, materialize


def segment_params(settings) -> dict:
    """The job's params from the sidebar options (mapped onto PipelineConfig by the engine)."""
    if not settings.scan_path.strip():
        raise ValueError("Choose a scan folder first (Scan field in the OpenTrack3D panel)")
    vocab = [w.strip() for w in settings.vocabulary.replace(";", ",").split(",") if w.strip()]
    return {
        "scan": bpy.path.abspath(settings.scan_path),
        "layout": None if settings.layout == "AUTO" else settings.layout,
        "stride": int(settings.frame_stride),
        "max_frames": int(settings.max_frames) or None,
        "vocabulary": vocab,
        "segmenter": settings.segmenter.strip() or "geometric",
        "features": settings.features.strip() or "color",
        "classifier": settings.classifier.strip() or None,
        "superpoints": bool(settings.superpoints),
        "mesh": bpy.path.abspath(settings.mesh_path) if settings.mesh_path.strip() else None,
        "preview": True,
    }


class OT3D_OT_segment(EngineJobOperator, bpy.types.Operator):
    """Segment the scan into labelled 3D instances with the OpenTrack3D engine"""

    bl_idname = "ot3d.segment"
    bl_label = "Segment Scan"
    bl_options = {"REGISTER", "UNDO"}
    job_name = "segment"
    keeps_job_folder = True

    def job_params(self, context, job_dir: Path) -> dict:
        return segment_params(context.scene.ot3d)

    def apply_result(self, context, outcome) -> str:
        data = load_scene_folder(Path(outcome.files["instances"]).parent)
        _, objects = materialize(context.scene, data)
        return f"Segmented {len(data.points)} points into {len(objects)} instances"


classes = (OT3D_OT_segment,)
