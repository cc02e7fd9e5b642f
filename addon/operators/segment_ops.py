"""Segment: run the pipeline on the scan in the sidebar and materialize the instances."""

from __future__ import annotations

import shutil
from pathlib import Path

import bpy

from ..engine_link import backends
from ..scene import job_status
from ..scene.live_cloud import LiveCloud
from ..scene.materialize import load_scene_folder, materialize
from ..ui import preferences
from .job_operator import EngineJobOperator

ROLES = ("segmenter", "features", "classifier", "tracker")
# Live snapshots while frames stream (interactive runs only): every LIVE_EVERY frames or
# LIVE_SECONDS, whichever comes first; the engine caps its publishing cost at 10% of the run.
LIVE_EVERY = 5
LIVE_SECONDS = 1.0


def segment_params(settings) -> dict:
    """The job's params from the sidebar options (mapped onto PipelineConfig by the engine)."""
    if not settings.scan_path.strip():
        raise ValueError("Choose a scan folder first (Scan field in the OpenTrack3D panel)")
    return {
        "scan": bpy.path.abspath(settings.scan_path),
        "layout": None if settings.layout == "AUTO" else settings.layout,
        "stride": int(settings.frame_stride),
        "max_frames": int(settings.max_frames) or None,
        **backend_params(settings),
        "superpoints": bool(settings.superpoints),
        "mesh": bpy.path.abspath(settings.mesh_path) if settings.mesh_path.strip() else None,
    }


def backend_params(settings) -> dict:
    """The sidebar's backend and vocabulary options, shared by every kind of Segment input."""
    vocab = [w.strip() for w in settings.vocabulary.replace(";", ",").split(",") if w.strip()]
    return {
        "vocabulary": vocab,
        "segmenter": backends.engine_name("segmenter", settings.segmenter),
        "features": backends.engine_name("features", settings.features),
        "classifier": backends.engine_name("classifier", settings.classifier) or None,
        "tracker": backends.engine_name("tracker", settings.tracker),
        "preview": True,
    }


def engine_python_or_none(context) -> str | None:
    try:
        return preferences.engine_python(context)
    except (FileNotFoundError, ValueError, OSError):
        return None


def unavailable_backends(context) -> dict[str, str]:
    """role -> why the chosen backend cannot run (only the roles that cannot)."""
    settings = context.scene.ot3d
    python = None
    out = {}
    for role in ROLES:
        backend = backends.find(role, getattr(settings, role))
        if backend.needs:
            python = python or engine_python_or_none(context)
            reason = backends.unavailable_reason(backend, python)
            if reason:
                out[role] = reason
    return out


def stage_weights(params: dict) -> dict[str, float]:
    """How much of the whole Segment job each engine stage is (the progress bar's scale).
    Stages that will not run get no share. Shares of the wall time measured on the 24-frame
    synthetic scan (load 0.05, track 0.66, refine 0.09, write with preview 0.15), rounded."""
    weights = {"load": 0.03, "track": 0.70, "refine": 0.10, "write": 0.17}
    if params.get("superpoints"):
        weights["superpoints"] = 0.10
    if params.get("classifier"):
        weights["classify"] = 0.25
    return weights


class OT3D_OT_segment(EngineJobOperator, bpy.types.Operator):
    """Segment the scan into labelled 3D instances with the OpenTrack3D engine"""

    bl_idname = "ot3d.segment"
    bl_label = "Segment Scan"
    bl_options = {"REGISTER", "UNDO"}
    job_name = "segment"
    keeps_job_folder = True
    _live = None

    def job_params(self, context, job_dir: Path) -> dict:
        params = segment_params(context.scene.ot3d)
        blocked = unavailable_backends(context)
        if blocked:
            raise ValueError(next(iter(blocked.values())))
        if self.live_view:
            params["live"] = {"dir": str(job_dir / "live"), "every": LIVE_EVERY, "seconds": LIVE_SECONDS}
        return params

    def live_update(self, context, job) -> None:
        live = (job.params or {}).get("live")
        if not live:
            return
        if self._live is None:
            self._live = LiveCloud(context.scene, live["dir"])
        if self._live.refresh():
            job_status.of(context.scene).show_live(self._live.meta)  # the panel's readout

    def live_end(self, context) -> None:
        job_status.of(context.scene).clear_live()
        if self._live is not None:
            self._live.remove()
            shutil.rmtree(self._live.dir, ignore_errors=True)  # the kept job folder needs only the result
            self._live = None

    def partial_result(self, context, job) -> str | None:
        """The newest live snapshot (what the live view shows after one more refresh) becomes
        the segmentation; None when none was shown (the cancel then changes nothing)."""
        if self._live is None or not self._live.latest:
            return None
        self._live.refresh()  # one published after the last timer tick
        data = self._live.partial_segmentation((job.params or {}).get("scan"))
        meta = self._live.meta
        scene_obj, objects = materialize(context.scene, data)
        scene_obj["partial"] = f"frame {meta.get('frame', 0)}/{meta.get('frames', 0)}"
        return (f"Cancelled at frame {meta.get('frame', 0)}/{meta.get('frames', 0)}; "
                f"kept the partial result: {len(objects)} instances")

    def stage_weights(self, params: dict) -> dict[str, float]:
        return stage_weights(params)

    def apply_result(self, context, outcome) -> str:
        data = load_scene_folder(Path(outcome.files["instances"]).parent)
        _, objects = materialize(context.scene, data)
        return f"Segmented {len(data.points)} points into {len(objects)} instances"


classes = (OT3D_OT_segment,)
