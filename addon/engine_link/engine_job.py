"""One engine job from start to outcome, usable from a timer (poll) or synchronously (wait).

Each job gets its own worker process: cancelling or crashing can never leave a stale
engine behind, and the process is reaped before the outcome is reported.
"""

from __future__ import annotations

import re
import shutil
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from .runner import EngineError, EngineProcess, protocol
from .tier import WEIGHTS_FREE, Tier, check_job, is_blender_python, neural_packages_here

CANCEL_GRACE_S = 5.0  # after a cancel message, how long the engine gets before SIGTERM

# Jobs currently running, so that a Cancel button (or a script) can reach them.
ACTIVE: dict[str, "EngineJob"] = {}
# Callables (job, stage, fraction, message) told about every progress message:
# headless scripts print them, tests use them to cancel at a known point.
PROGRESS_LISTENERS: list = []


@dataclass
class JobOutcome:
    status: str  # "result" | "error" | "cancelled" | "crashed"
    files: dict = field(default_factory=dict)
    data: dict = field(default_factory=dict)
    message: str = ""
    kind: str = ""
    traceback: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "result"

    def report_text(self) -> str:
        """What the user sees: the engine's own message, then the engine's traceback/stderr."""
        text = self.message
        if self.traceback and self.status in ("error", "crashed"):
            text += "\n" + self.traceback.strip()
        return text


# Only folders named like a job id are ever deleted: a jobs folder the user chose may hold
# other things.
_JOB_FOLDER = re.compile(r"^[a-z_]+-\d{8}-\d{6}-[0-9a-f]{6}$")


def prune_job_folders(root: str | Path, keep: int) -> list[Path]:
    """Delete all but the newest `keep` finished job folders under `root`; returns the deleted."""
    root = Path(root)
    if not root.is_dir():
        return []
    running = {job.job_dir.resolve() for job in ACTIVE.values()}
    jobs = [d for d in root.iterdir() if d.is_dir() and _JOB_FOLDER.match(d.name) and d.resolve() not in running]
    jobs.sort(key=lambda d: (d.stat().st_mtime, d.name), reverse=True)
    doomed = jobs[max(keep, 0):]
    for d in doomed:
        shutil.rmtree(d, ignore_errors=True)
    return doomed


class EngineJob:
    def __init__(self, python: str, job: str, params: dict, jobs_root: str | Path, *,
                 engine_path=None, on_progress=None, on_log=None, extra_env: dict | None = None):
        self.job = job
        self.params = params
        self.job_id = f"{job}-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
        self.job_dir = Path(jobs_root) / self.job_id
        self.engine = EngineProcess(python, engine_path, extra_env=extra_env, cwd=self.job_dir)
        self.on_progress = on_progress
        self.on_log = on_log
        self.stage, self.fraction, self.message = "starting", 0.0, ""
        self.logs: list[str] = []
        self.outcome: JobOutcome | None = None
        self._cancel_sent_at: float | None = None

    def start(self) -> "EngineJob":
        self.job_dir.mkdir(parents=True, exist_ok=True)
        if is_blender_python(self.engine.python) and not neural_packages_here():  # the weights-free tier
            try:
                check_job(Tier(WEIGHTS_FREE, self.engine.python, "Blender"), self.job, self.params)
            except LookupError as exc:
                self._finish(JobOutcome("error", message=str(exc), kind="NeedsNeuralTier"))
                return self
        try:
            self.engine.start()
        except EngineError as exc:
            self._finish(JobOutcome("crashed", message=f"Engine failed to start: {exc}"))
            return self
        if not self.engine.send(protocol().start(self.job_id, self.job, self.params, str(self.job_dir))):
            self._finish(self._crash_outcome())
            return self
        ACTIVE[self.job_id] = self
        return self

    @property
    def done(self) -> bool:
        return self.outcome is not None

    def discard(self) -> None:
        """Remove the job's folder once its result has been read (scratch jobs)."""
        if self.done:
            shutil.rmtree(self.job_dir, ignore_errors=True)

    def cancel(self) -> None:
        if self.done or self._cancel_sent_at is not None:
            return
        self._cancel_sent_at = time.monotonic()
        if not self.engine.send(protocol().cancel(self.job_id)):
            self._finish(JobOutcome("cancelled", message="Cancelled"))

    def poll(self) -> JobOutcome | None:
        """Handle every message waiting; the outcome once the job ended (process reaped)."""
        if self.done:
            return self.outcome
        for msg in self.engine.drain():
            self._handle(msg)
            if self.done:
                return self.outcome
        if self._cancel_sent_at is not None and time.monotonic() - self._cancel_sent_at > CANCEL_GRACE_S:
            self._finish(JobOutcome("cancelled", message="Cancelled (engine stopped)"), grace=0.0)
        elif not self.engine.alive() and self.engine.returncode is not None:
            # exited without a result: read what is left, then call it a crash
            for msg in self.engine.drain():
                self._handle(msg)
                if self.done:
                    return self.outcome
            if not self.done:
                self._finish(self._crash_outcome())
        return self.outcome

    def wait(self, timeout: float | None = None, poll_s: float = 0.05) -> JobOutcome:
        """Synchronous path (bpy.app.background, scripts, tests)."""
        end = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if end is not None and time.monotonic() > end:
                self.cancel()
                end = None
            msg = self.engine.next_message(poll_s)
            if msg is not None:
                self._handle(msg)
        return self.outcome

    def _handle(self, msg: dict) -> None:
        kind = msg["type"]
        if kind == "progress" and msg["job_id"] == self.job_id:
            self.stage, self.fraction, self.message = msg["stage"], float(msg["fraction"]), msg.get("message", "")
            for fn in [self.on_progress, *PROGRESS_LISTENERS]:
                if fn is not None:
                    fn(self, self.stage, self.fraction, self.message)
        elif kind == "log":
            line = f"[{msg['level']}] {msg['message']}"
            self.logs.append(line)
            if self.on_log is not None:
                self.on_log(self, msg["level"], msg["message"])
        elif kind == "result" and msg["job_id"] == self.job_id:
            self._finish(JobOutcome("result", files=msg["files"], data=msg.get("data", {})))
        elif kind == "error" and msg.get("job_id") in (self.job_id, None):
            status = "cancelled" if msg["kind"] == protocol().CANCELLED_KIND else "error"
            self._finish(JobOutcome(status, message=msg["message"], kind=msg["kind"],
                                    traceback=msg.get("traceback", "")))
        elif kind == "_eof":
            self._finish(self._crash_outcome())

    def _crash_outcome(self) -> JobOutcome:
        self.engine.wait_exit(2.0)
        if self.engine.returncode is not None:
            self.engine.wait_stderr(2.0)
        code = self.engine.returncode
        how = "exited" if code is None or code >= 0 else "was killed by signal"
        code_text = "" if code is None else f" {abs(code)}"
        tail = self.engine.stderr_tail()
        return JobOutcome("crashed", kind="EngineCrash",
                          message=f"The engine {how}{code_text} during '{self.stage}' without a result",
                          traceback=tail)

    def _finish(self, outcome: JobOutcome, grace: float = 2.0) -> None:
        if self.outcome is not None:
            return
        self.engine.stop(grace=grace)
        if outcome.status == "crashed" and not outcome.traceback:
            outcome.traceback = self.engine.stderr_tail()
        self.outcome = outcome
        ACTIVE.pop(self.job_id, None)


def cancel_all() -> int:
    jobs = list(ACTIVE.values())
    for j in jobs:
        j.cancel()
    return len(jobs)
