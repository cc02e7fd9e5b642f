"""The batch driver: resume filter, scheduling (local workers or Ray), progress, summary.

It never imports bpy or the engine's heavy modules: every scan runs in its own process.
"""

from __future__ import annotations

import json
import signal
import sys
import time
from dataclasses import dataclass, field

from ot3d_engine.errors import OT3DError

from .isolation import ChildCommand
from .manifest import ScanSpec
from .outputs import REPORT, BatchFolder, check_done, write_text_atomic
from .report import FAILED, INTERRUPTED, OK, SKIPPED, ScanReport, progress_line, summary_table

EXIT_OK, EXIT_FAILED = 0, 1


class BatchInterrupted(BaseException):
    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@dataclass
class BatchSettings:
    out: str
    engine_python: str
    command: ChildCommand = field(default_factory=ChildCommand)
    workers: int = 1
    resume: bool = False
    ray: str | None = None  # "local" or a cluster address; None = local worker processes


@dataclass
class BatchResult:
    reports: list[ScanReport]
    wall_s: float
    interrupted: int | None = None  # the signal that stopped the batch

    @property
    def exit_code(self) -> int:
        if self.interrupted is not None:
            return 128 + self.interrupted
        return EXIT_OK if all(r.ok for r in self.reports) else EXIT_FAILED

    def count(self, status: str) -> int:
        return sum(r.status == status for r in self.reports)


def _skipped(folder: BatchFolder, spec: ScanSpec) -> ScanReport:
    doc = {}
    try:
        doc = json.loads((folder.scan_dir(spec.name) / REPORT).read_text())
    except (OSError, ValueError):
        pass
    return ScanReport(name=spec.name, scan=spec.scan, status=SKIPPED, instances=doc.get("instances"),
                      points=doc.get("points"), message="already done (--resume)",
                      output=str(folder.scan_dir(spec.name)))


class _Signals:
    """SIGTERM/SIGINT become BatchInterrupted in the main thread, once; the driver then
    stops its scans cleanly (repeated signals while it does are ignored)."""

    def __init__(self):
        self.received: int | None = None
        self.raising = True
        self._old = {}

    def _handle(self, signum, frame):
        if self.received is None:
            self.received = signum
            if self.raising:
                raise BatchInterrupted(signum)

    def __enter__(self):
        for sig in (signal.SIGTERM, signal.SIGINT):
            self._old[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc):
        for sig, old in self._old.items():
            signal.signal(sig, old)
        return False


def run_batch(specs: list[ScanSpec], settings: BatchSettings, out=print) -> BatchResult:
    folder = BatchFolder(settings.out)
    t0 = time.monotonic()
    mode = f"ray {settings.ray}" if settings.ray else f"{settings.workers} local worker(s)"
    reports: dict[str, ScanReport] = {}
    total = len(specs)

    def done(report: ScanReport) -> None:
        reports[report.name] = report
        folder.log_event(report.status, name=report.name, seconds=report.seconds, instances=report.instances,
                         step=report.step or None, message=report.message.strip().split("\n")[0][:300] or None)
        out(progress_line(report, len(reports), total))
        sys.stdout.flush()

    def started(spec: ScanSpec) -> None:
        folder.log_event("start" if not settings.ray else "submit", name=spec.name, scan=spec.scan)

    with _Signals() as signals, folder.lock():
        try:
            folder.clean_work()
            folder.log_event("batch_start", scans=total, resume=settings.resume, mode=mode)
            out(f"OpenTrack3D batch: {total} scan(s) -> {folder.root} ({mode})")
            todo = []
            for spec in specs:
                if settings.resume:
                    problem = check_done(folder.scan_dir(spec.name), spec.name, spec.fingerprint())
                    if problem is None:
                        done(_skipped(folder, spec))
                        continue
                    if problem != "no outputs":
                        folder.log_event("redo", name=spec.name, reason=problem)
                todo.append(spec)
            if settings.ray:
                from .ray_pool import run_ray

                run_ray(todo, folder, settings.command, settings.engine_python, settings.ray, settings.workers,
                        started, done)
            else:
                from .local_pool import run_local

                run_local(todo, folder, settings.command, settings.engine_python, settings.workers, started, done)
        except BatchInterrupted:
            pass
        except OT3DError as exc:  # e.g. Ray missing or a resource request no node can meet
            folder.log_event("batch_error", message=str(exc))
            raise
        except BaseException:
            if signals.received is None:
                raise
            # the signal surfaced through a C extension (Ray wraps it in a SystemError): still a stop
        signals.raising = False  # from here on a signal is noted, the reports still get written
        ordered = [reports.get(s.name) or ScanReport(name=s.name, scan=s.scan, status=INTERRUPTED,
                                                     message="not started") for s in specs]
        result = BatchResult(ordered, time.monotonic() - t0, signals.received)
        _write_batch_report(folder, result, mode)
        folder.log_event("batch_end" if result.interrupted is None else "batch_interrupted",
                         ok=result.count(OK), failed=result.count(FAILED), skipped=result.count(SKIPPED),
                         wall_s=round(result.wall_s, 3))
    out("")
    out(summary_table(result.reports, result.wall_s))
    if result.interrupted is not None:
        out(f"Stopped by {signal.Signals(result.interrupted).name}: run again with --resume to finish.")
    return result


def _write_batch_report(folder: BatchFolder, result: BatchResult, mode: str) -> None:
    ok = result.count(OK)
    doc = {"format": "ot3d-headless-batch", "version": 1, "mode": mode, "wall_s": round(result.wall_s, 3),
           "ok": ok, "failed": result.count(FAILED), "skipped": result.count(SKIPPED),
           "interrupted": result.count(INTERRUPTED), "exit_code": result.exit_code,
           "scans_per_hour": round(3600.0 * ok / result.wall_s, 1) if ok and result.wall_s > 0 else 0.0,
           "scans": [r.to_dict() for r in result.reports]}
    write_text_atomic(folder.batch_report, json.dumps(doc, indent=1))
