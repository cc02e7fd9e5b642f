"""The shared shape of every operator that runs an engine job.

Interactive: invoke starts the worker and returns to Blender; a window timer polls it,
progress goes to the status bar and the sidebar, Esc (or the Cancel button) cancels.
Background (`blender -b`, bpy module) or scripted `execute`: the same job, waited for
synchronously. Blender data is only touched once a result has arrived and been read,
so a cancelled, failed or crashed job leaves the scene as it was; the one exception is a
cancel with the panel's "Keep partial result" on, where an operator that showed a live view
(`partial_result`) turns what it showed into an ordinary result (an undo step like any other).
"""

from __future__ import annotations

import traceback
from pathlib import Path

import bpy

from ..engine_link import engine_job
from ..engine_link.overall_progress import OverallProgress
from ..scene import job_status
from ..ui import preferences


class ResultRefused(Exception):
    """Raised by apply_result when the engine's answer must not be applied (the message says why)."""


class EngineJobOperator:
    """Mix-in: subclasses set `job_name` and implement `job_params` and `apply_result`.

    `keeps_job_folder`: whether the engine's output stays on disk after it was applied (the
    segmentation, for its scene.ply/preview; the newest few are kept, see preferences) or is
    scratch that goes as soon as the result is in Blender (imported clouds, query inputs)."""

    job_name = ""
    keeps_job_folder = False
    live_view = False  # the modal path sets it: someone watches (a background run has no one)
    _job = None
    _timer = None
    _progress = None

    # -- subclass hooks ------------------------------------------------------------------
    def job_params(self, context, job_dir: Path) -> dict:
        raise NotImplementedError

    def apply_result(self, context, outcome: engine_job.JobOutcome) -> str:
        """Turn the result files into Blender data; returns the message to report."""
        raise NotImplementedError

    def stage_weights(self, params: dict) -> dict[str, float]:
        """Each engine stage's share of the job, in order (see overall_progress); {} = one stage."""
        return {}

    def live_update(self, context, job: engine_job.EngineJob) -> None:
        """On each timer tick of the modal path: show what the engine has published so far."""

    def live_end(self, context) -> None:
        """The job ended (finished, failed or cancelled): remove whatever live_update showed."""

    def partial_result(self, context, job: engine_job.EngineJob) -> str | None:
        """Cancelled with "Keep partial result" on, before live_end: make what the live view
        shows an ordinary result; the message to report, or None (nothing to keep)."""
        return None

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
        self._progress = OverallProgress(self.stage_weights(job.params))
        scene = context.scene

        def on_progress(job, stage, fraction, message):
            s = scene.ot3d
            s.progress = self._progress.update(stage, fraction)
            s.status = f"{stage}: {message}" if message else stage

        job.on_progress = on_progress
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
        self.live_view = True
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
        outcome = job.poll()  # progress messages update settings.progress/status (on_progress)
        if outcome is None and event.type == "TIMER":
            self.live_update(context, job)
        settings = context.scene.ot3d
        context.window_manager.progress_update(int(settings.progress * 100))
        if context.workspace is not None:
            context.workspace.status_text_set(
                f"OpenTrack3D {self.job_name} — {settings.status} ({settings.progress:.0%}) — Esc to cancel")
        _redraw(context)
        if outcome is None:
            return {"RUNNING_MODAL"}
        self._cleanup(context)
        return self._finish(context, job)

    def cancel(self, context):  # Blender calls this when the modal is aborted (file load, quit)
        if self._job is not None:
            self._job.cancel()
            self._job.wait(timeout=10)
        self.live_end(context)
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
        kept = None
        if job.outcome.status == "cancelled" and context.scene.ot3d.keep_partial:
            kept = self._keep_partial(context, job)  # before live_end, which removes what it keeps
        self.live_end(context)  # before the result: the final objects replace the live view
        try:
            return kept if kept is not None else self._apply(context, job)
        finally:
            if not (self.keeps_job_folder and job.outcome.ok):
                job.discard()

    def _apply(self, context, job: engine_job.EngineJob):
        outcome = job.outcome
        settings = context.scene.ot3d
        settings.running = False
        job_status.of(context.scene).log = engine_log(job)
        if outcome.status == "cancelled":
            settings.status = "Cancelled"
            self.report({"WARNING"}, f"OpenTrack3D {self.job_name} cancelled; nothing was changed")
            return {"CANCELLED"}
        if not outcome.ok:
            return self._fail(context, one_line_cause(outcome))
        try:
            message = self.apply_result(context, outcome)
        except ResultRefused as exc:  # a valid answer that does not help: say why, change nothing
            return self._fail(context, str(exc))
        except Exception as exc:  # a broken result file: report it, the scene stays as it was
            job_status.of(context.scene).log += "\n-- reading the result --\n" + traceback.format_exc()
            return self._fail(context, f"Could not read the engine's result: {exc}")
        settings.progress = self._progress.finish() if self._progress is not None else 1.0
        settings.status = message
        self.report({"INFO"}, message)
        _redraw(context)
        return {"FINISHED"}

    def _keep_partial(self, context, job: engine_job.EngineJob):
        """The operator's return value when the partial result was kept, else None (an
        ordinary cancel follows). The job folder goes as for any cancel: the partial result
        lives in the .blend only."""
        state = job_status.of(context.scene)
        try:
            message = self.partial_result(context, job)
        except Exception as exc:  # an unreadable snapshot: say so; the cancel itself stands
            state.log = engine_log(job) + "\n-- keeping the partial result --\n" + traceback.format_exc()
            return self._fail(context, f"Cancelled; could not keep the partial result: {exc}")
        if message is None:
            return None
        context.scene.ot3d.running = False
        state.log = engine_log(job)
        context.scene.ot3d.status = message
        self.report({"INFO"}, message)
        _redraw(context)
        return {"FINISHED"}

    def _fail(self, context, text: str):
        """The panel and the report get one line (the cause); Show Log has the rest."""
        settings = context.scene.ot3d
        settings.running = False
        lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
        cause = lines[0] if lines else "failed"
        settings.last_error = cause
        settings.status = cause
        self.report({"ERROR"}, cause)
        return {"CANCELLED"}


def one_line_cause(outcome: engine_job.JobOutcome) -> str:
    """What went wrong, in one line: the engine's own message; for a crash (the engine died,
    or never started), that plus the last line the engine wrote (usually the exception)."""
    lines = [line.strip() for line in outcome.message.splitlines() if line.strip()]
    cause = lines[0] if lines else f"the engine job ended with '{outcome.status}'"
    if outcome.status == "crashed":
        detail = [line.strip() for line in [*lines[1:], *outcome.traceback.splitlines()] if line.strip()]
        if detail and detail[-1] not in cause:
            cause = f"{cause.rstrip('.')}: {detail[-1]}"
    return cause[:400]


def engine_log(job: engine_job.EngineJob) -> str:
    """Everything the engine said about the job, for the Show Log text block."""
    outcome = job.outcome
    parts = [f"OpenTrack3D {job.job} job {job.job_id}: {outcome.status}", f"job folder: {job.job_dir}"]
    if outcome.message:
        parts.append(outcome.message)
    if job.logs:
        parts += ["", "-- engine log --", *job.logs]
    if outcome.traceback:
        parts += ["", "-- traceback --", outcome.traceback.rstrip()]
    stderr = job.engine.stderr_tail(200) if job.engine is not None else ""
    if stderr and stderr.strip() not in outcome.traceback:
        parts += ["", "-- engine stderr --", stderr.rstrip()]
    return "\n".join(parts) + "\n"


def _redraw(context) -> None:
    screen = getattr(context, "screen", None)
    if screen is None:
        return
    for area in screen.areas:
        if area.type in ("VIEW_3D", "STATUSBAR"):
            area.tag_redraw()


class OT3D_OT_cancel_job(bpy.types.Operator):
    """Stop the running engine job (its process is ended; the scene is left unchanged, unless "Keep partial result" is on)"""

    bl_idname = "ot3d.cancel_job"
    bl_label = "Cancel"

    def execute(self, context):
        n = engine_job.cancel_all()
        self.report({"INFO"} if n else {"WARNING"}, "Cancelling" if n else "No engine job is running")
        return {"FINISHED"} if n else {"CANCELLED"}


LOG_TEXT = "OpenTrack3D engine log"


class OT3D_OT_show_log(bpy.types.Operator):
    """Open the last engine job's log (messages, traceback, engine output) in a Text block"""

    bl_idname = "ot3d.show_log"
    bl_label = "Show Log"

    def execute(self, context):
        state = job_status.of(context.scene)
        if not state.log:
            self.report({"WARNING"}, "No engine job has run in this session")
            return {"CANCELLED"}
        text = bpy.data.texts.get(LOG_TEXT) or bpy.data.texts.new(LOG_TEXT)
        text.clear()
        text.write(state.log)
        text.current_line_index = 0
        _show_text(context, text)
        self.report({"INFO"}, f"Engine log in the text block '{text.name}'")
        return {"FINISHED"}


def _show_text(context, text) -> None:
    """In a Text Editor: one already open, else a new window with one (no-op without a UI)."""
    wm = context.window_manager
    if bpy.app.background or not getattr(wm, "windows", None):
        return
    for window in wm.windows:
        for area in window.screen.areas:
            if area.type == "TEXT_EDITOR":
                area.spaces.active.text = text
                return
    bpy.ops.wm.window_new()
    area = wm.windows[-1].screen.areas[0]
    area.type = "TEXT_EDITOR"
    area.spaces.active.text = text


classes = (OT3D_OT_cancel_job, OT3D_OT_show_log)
