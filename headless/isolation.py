"""One scan in its own process, so a scan that fails, hangs or crashes Blender is a report,
not the end of the batch. The driver (local workers or a Ray task) starts it, polls it,
stops it on timeout or SIGTERM, and turns whatever it left behind into a ScanReport.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from .manifest import ScanSpec
from .outputs import BatchFolder, check_done, write_text_atomic
from .report import FAILED, INTERRUPTED, OK, ScanReport

ANNOTATE = Path(__file__).resolve().with_name("annotate.py")
STOP_GRACE_S = 15.0  # after SIGTERM, how long a scan gets to cancel its engine job and clean up


@dataclass
class ChildCommand:
    """How a scan's process is started: `blender -b` when a Blender binary is given,
    otherwise this Python, which must have the bpy module."""

    blender: str | None = None
    python: str = sys.executable

    def argv(self, spec_file: Path) -> list[str]:
        if self.blender:
            return [self.blender, "-b", "--factory-startup", "-noaudio", "--python-exit-code", "1",
                    "--python", str(ANNOTATE), "--", "--one", str(spec_file)]
        return [self.python, str(ANNOTATE), "--one", str(spec_file)]

    def to_dict(self) -> dict:
        return {"blender": self.blender, "python": self.python}


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _log_tail(path: Path, lines: int = 25) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(max(0, os.path.getsize(path) - 16384))
            text = f.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


class ScanProcess:
    def __init__(self, spec: ScanSpec, folder: BatchFolder, command: ChildCommand, engine_python: str):
        self.spec, self.folder, self.command, self.engine_python = spec, folder, command, engine_python
        self.proc: subprocess.Popen | None = None
        self.started = 0.0
        self.report: ScanReport | None = None
        self._stop_reason = ""

    def start(self) -> "ScanProcess":
        name = self.spec.name
        spec_file, result = self.folder.spec_file(name), self.folder.result_file(name)
        result.unlink(missing_ok=True)
        write_text_atomic(spec_file, json.dumps({"spec": self.spec.to_dict(), "out": str(self.folder.root),
                                                 "engine_python": self.engine_python, "result": str(result)}))
        log_path = self.folder.log(name)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "OT3D_PARENT_PID": str(os.getpid())}
        self.started = time.monotonic()
        with open(log_path, "w") as log:
            log.write(f"$ {' '.join(self.command.argv(spec_file))}\n")
            log.flush()
            try:
                self.proc = subprocess.Popen(self.command.argv(spec_file), stdin=subprocess.DEVNULL, stdout=log,
                                             stderr=subprocess.STDOUT, env=env, cwd=str(self.folder.root),
                                             start_new_session=True)  # the driver decides when it stops
            except OSError as exc:
                self.report = self._report(FAILED, "start", f"cannot start {self.command.argv(spec_file)[0]}: {exc}")
        return self

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def poll(self) -> ScanReport | None:
        if self.report is not None:
            return self.report
        timeout = float(self.spec.options.get("timeout") or 0)
        if timeout and self.elapsed > timeout and not self._stop_reason:
            self.stop(f"timed out after {timeout:g} s")
        code = self.proc.poll()
        if code is not None:
            self.report = self._collect(code)
        return self.report

    def wait(self, poll_s: float = 0.2) -> ScanReport:
        while self.poll() is None:
            time.sleep(poll_s)
        return self.report

    def request_stop(self) -> None:
        """SIGTERM without waiting (to stop many scans in parallel before stop() on each)."""
        if self.proc is not None and self.proc.poll() is None:
            self._signal(signal.SIGTERM)

    def stop(self, reason: str, grace: float = STOP_GRACE_S) -> ScanReport:
        """SIGTERM (the scan cancels its engine job and removes its staging folder), then SIGKILL."""
        self._stop_reason = reason
        if self.proc is None or self.report is not None:
            return self.report
        if self.proc.poll() is None:
            self._signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
        self.report = self._collect(self.proc.wait())
        return self.report

    def _signal(self, sig) -> None:
        try:
            os.killpg(self.proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def _report(self, status: str, step: str, message: str, **extra) -> ScanReport:
        return ScanReport(name=self.spec.name, scan=self.spec.scan, status=status, step=step, message=message,
                          seconds=round(self.elapsed, 3), log=str(self.folder.log(self.spec.name)), **extra)

    def _collect(self, code: int) -> ScanReport:
        result = self.folder.result_file(self.spec.name)
        report = None
        if result.is_file():
            try:
                report = ScanReport.from_dict(json.loads(result.read_text()))
            except (OSError, ValueError, TypeError):
                report = None
        if report is None:
            if code < 0:
                how = f"the scan's process was killed by {_signal_name(-code)}"
            else:
                how = f"the scan's process exited with code {code} without a result"
            if self._stop_reason:
                how = f"{self._stop_reason}; {how}"
            status = INTERRUPTED if self._stop_reason and not self._stop_reason.startswith("timed out") else FAILED
            tail = _log_tail(self.folder.log(self.spec.name))
            report = self._report(status, "process", how, details={"log_tail": tail})
        elif self._stop_reason.startswith("timed out") and report.status != OK:
            report.status, report.message = FAILED, f"{self._stop_reason} (during {report.step})"
        report.seconds = round(self.elapsed, 3)
        report.log = str(self.folder.log(self.spec.name))
        if report.status == OK:
            problem = check_done(self.folder.scan_dir(self.spec.name), self.spec.name, self.spec.fingerprint(),
                                 content=False)  # the child hashed these files when it sealed them
            if problem is not None:
                report.status, report.step, report.message = FAILED, "publish", f"outputs not valid: {problem}"
        elif report.status == FAILED and "log_tail" not in report.details:
            report.details["log_tail"] = _log_tail(self.folder.log(self.spec.name))
        return report


def run_scan(job: dict) -> dict:
    """A whole scan, start to report (what a Ray task runs); a cancel stops the child cleanly."""
    proc = ScanProcess(ScanSpec.from_dict(job["spec"]), BatchFolder(job["out"]), ChildCommand(**job["command"]),
                       job["engine_python"]).start()
    try:
        return proc.wait().to_dict()
    except BaseException:  # ray.cancel raises KeyboardInterrupt here: never leave the scan running
        proc.stop("cancelled")
        raise
