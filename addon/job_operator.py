"""The shared shape of every operator that runs an engine job.

Interactive: invoke starts the worker and returns to Blender; a window timer polls it,
progress goes to the status bar and the sidebar, Esc (or the Cancel button) cancels.
Background (`blender -b`, bpy module) or scripted `execute`: the same job, waited for
synchronously. Blender data is only touched once a result has arrived and been read,
so a cancelled, failed or crashed job leaves the scene as it was.
"""

from __future__ import annotations

from pathlib import Path

import bpy

from . import engine_job, preferences


class EngineJobOperator:
    """Mix-in: subclasses set `job_name` and implement `job_params` and `apply_result`.

    `keeps_job_folder`: whether the engine's output stays on disk after it was applied (the
    segmentation, for its scene.ply/preview; the newest few are kept, see preferences) or is
    scratch that goes as soon as the result is in Blender (imported clouds, query inputs)."""

    job_name = ""
    keeps_job_folder = False
    _job = None
    _timer = None

    # -- subclass hooks ------------------------------------------------------------------
    def job_params(self, context, job_dir: Path) -> dict:
        raise NotImplementedError

    def apply_result(self, context, outcome: engine_job.JobOutcome) -> str:
        """Turn the result files into Blender data; returns the message to report."""
        raise NotImplementedError

    # -- running -------------------------------------------------------------------------
    def _start(self, context):
        settings = context.scene.ot3d
        if engine_job.ACTIVE:
            self.report({"ERROR"}, "An engine job is already running (cancel it first)")
            return None
        try:
            python = preferences.engine_python(context)
            root = preferences.jobs_root(context)
            engine_job.prune_job_folders(root, preferences.keep_jobs(context))
            job = engine_job.EngineJob(python, self.job_name, {}, root,
                                       engine_path=preferences.engine_source(context))
            job.params = self.job_params(context, job.job_dir)
        except (FileNotFoundError, ValueError, LookupError, OSError) as exc:
            self._fail(context, str(exc))
            return None
        settings.running, settings.progress, settings.last_error = True, 0.0, ""
        settings.status = f"{self.job_name}: starting engine"
        return job.start()

    def execute(self, context):
        job = self._start(context)
        if job is None:
            return {"CANCELLED"}
        job.wait()
        return self._finish(context, job)

    def invoke(self, context, event):
        if bpy.app.background or context.window is None:
            return self.execute(context)
        return self.run_modal(context)

    def run_modal(self, context):
        """Start the job and follow it from a window timer (the UI stays responsive)."""
        job = self._start(context)
        if job is None:
            return {"CANCELLED"}
        if job.done:
            return self._finish(context, job)
        self._job = job
        wm = context.window_manager
        self._timer = wm.event_timer_add(0.1, window=context.window)
        wm.modal_handler_add(self)
        wm.progress_begin(0, 100)
        return {"RUNNING_MODAL"}

    def modal(self, context, event):
        job = self._job
        if event.type == "ESC" and event.value == "PRESS":
            job.cancel()
        if event.type != "TIMER" and event.type != "ESC":
            return {"PASS_THROUGH"}
        outcome = job.poll()
        settings = context.scene.ot3d
        settings.progress = job.fraction
        settings.status = f"{job.stage}: {job.message}" if job.message else job.stage
        context.window_manager.progress_update(int(job.fraction * 100))
        if context.workspace is not None:
            context.workspace.status_text_set(
                f"OpenTrack3D {self.job_name} — {settings.status} ({job.fraction:.0%}) — Esc to cancel")
        _redraw(context)
        if outcome is None:
            return {"RUNNING_MODAL"}
        self._cleanup(context)
        return self._finish(context, job)

    def cancel(self, context):  # Blender calls this when the modal is aborted (file load, quit)
        if self._job is not None:
            self._job.cancel()
            self._job.wait(timeout=10)
        self._cleanup(context)

    def _cleanup(self, context):
        wm = context.window_manager
        if self._timer is not None:
            wm.event_timer_remove(self._timer)
            self._timer = None
        wm.progress_end()
        if context.workspace is not None:
            context.workspace.status_text_set(None)

    def _finish(self, context, job: engine_job.EngineJob):
        try:
            return self._apply(context, job.outcome)
        finally:
            if not (self.keeps_job_folder and job.outcome.ok):
                job.discard()

    def _apply(self, context, outcome: engine_job.JobOutcome):
        settings = context.scene.ot3d
        settings.running = False
        settings.progress = 1.0 if outcome.ok else settings.progress
        if outcome.status == "cancelled":
            settings.status = "Cancelled"
            self.report({"WARNING"}, f"OpenTrack3D {self.job_name} cancelled; nothing was changed")
            return {"CANCELLED"}
        if not outcome.ok:
            return self._fail(context, outcome.report_text())
        try:
            message = self.apply_result(context, outcome)
        except Exception as exc:  # a broken result file: report it, the scene stays as it was
            return self._fail(context, f"Could not read the engine's result: {exc}")
        settings.status = message
        self.report({"INFO"}, message)
        _redraw(context)
        return {"FINISHED"}

    def _fail(self, context, text: str):
        settings = context.scene.ot3d
        settings.running = False
        settings.last_error = text
        settings.status = text.splitlines()[0] if text else "failed"
        self.report({"ERROR"}, text)
        return {"CANCELLED"}


def _redraw(context) -> None:
    screen = getattr(context, "screen", None)
    if screen is None:
        return
    for area in screen.areas:
        if area.type in ("VIEW_3D", "STATUSBAR"):
            area.tag_redraw()


class OT3D_OT_cancel_job(bpy.types.Operator):
    """Stop the running engine job (its process is ended; the scene is left unchanged)"""

    bl_idname = "ot3d.cancel_job"
    bl_label = "Cancel"

    def execute(self, context):
        n = engine_job.cancel_all()
        self.report({"INFO"} if n else {"WARNING"}, "Cancelling" if n else "No engine job is running")
        return {"FINISHED"} if n else {"CANCELLED"}


classes = (OT3D_OT_cancel_job,)
