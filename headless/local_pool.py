"""`--workers N`: up to N scan processes on this machine at once, no cluster needed."""

from __future__ import annotations

import time
from collections import deque

from .isolation import ChildCommand, ScanProcess
from .manifest import ScanSpec
from .outputs import BatchFolder
from .report import INTERRUPTED, ScanReport


def run_local(specs: list[ScanSpec], folder: BatchFolder, command: ChildCommand, engine_python: str,
              workers: int, on_start, on_done, poll_s: float = 0.1) -> None:
    """Run every scan; on_done(report) as each ends. An interruption (BatchInterrupted from
    the driver's signal handler) stops the running scans cleanly, reports them and the ones
    never started, and propagates."""
    pending = deque(specs)
    running: list[ScanProcess] = []
    try:
        while pending or running:
            while pending and len(running) < max(workers, 1):
                spec = pending.popleft()
                on_start(spec)
                running.append(ScanProcess(spec, folder, command, engine_python).start())
            for proc in list(running):
                report = proc.poll()
                if report is not None:
                    running.remove(proc)
                    on_done(report)
            time.sleep(poll_s)
    except BaseException as exc:
        reason = f"batch stopped ({type(exc).__name__})"
        for proc in running:  # signal them all first, then wait: they stop in parallel
            proc.request_stop()
        for proc in running:
            on_done(proc.stop(reason))
        for spec in pending:
            on_done(ScanReport(name=spec.name, scan=spec.scan, status=INTERRUPTED, message="not started"))
        raise
