"""The engine side of the add-on protocol: a long-lived process that runs jobs.

Blender starts `python -m ot3d_engine.worker` (or `ot3d worker`) and talks JSON lines
(see protocol.py). The real stdout is reserved for protocol messages: anything a library
prints goes to stderr instead, so a stray print can never corrupt the stream.

Cancel: a `cancel` message or SIGTERM sets a flag that jobs poll between frames; the
job then ends with an error of kind "Cancelled". EOF on stdin means "no more jobs": the
worker finishes what it was given and exits.
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import queue
import signal
import sys
import threading
import traceback
from pathlib import Path

from . import __version__, protocol
from .errors import Cancelled, OT3DError


class JobContext:
    """What a job function gets: its folder, progress/log reporting and the cancel flag."""

    def __init__(self, job_id: str, job_dir: Path, emit, cancel_event: threading.Event):
        self.job_id = job_id
        self.job_dir = job_dir
        self._emit = emit
        self._cancel = cancel_event

    def progress(self, stage: str, fraction: float, message: str = "") -> None:
        self._emit(protocol.progress(self.job_id, stage, fraction, message))

    def log(self, message: str, level: str = "info") -> None:
        self._emit(protocol.log(level, message, job_id=self.job_id))

    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def check_cancel(self) -> None:
        if self._cancel.is_set():
            raise Cancelled("cancelled by the caller")


class _ForwardLogs(logging.Handler):
    """Engine log records become protocol `log` messages of the running job."""

    def __init__(self, worker: "Worker"):
        super().__init__(logging.INFO)
        self.worker = worker

    def emit(self, record: logging.LogRecord) -> None:
        level = record.levelname.lower()
        level = level if level in protocol.LOG_LEVELS else "error"
        try:
            self.worker.emit(protocol.log(level, self.format(record), job_id=self.worker.current_job))
        except Exception:  # logging must never take a job down
            pass


class Worker:
    def __init__(self, stdin, out, jobs: dict | None = None):
        if jobs is None:
            from .jobs import JOBS as jobs
        self.jobs = jobs
        self.stdin = stdin
        self.out = out
        self.current_job: str | None = None
        self._cancel = threading.Event()
        self._cancelled_ids: set[str] = set()
        self._queue: queue.Queue = queue.Queue()
        self._lock = threading.Lock()
        self._stopping = False
        self._pipe_broken = False

    def emit(self, msg: dict) -> None:
        line = protocol.encode(msg)
        with self._lock:
            if self._pipe_broken:
                return
            try:
                self.out.write(line)
                self.out.flush()
            except (BrokenPipeError, ValueError, OSError):
                # the add-on is gone: nobody wants the rest of this job
                self._pipe_broken = True
                self.request_stop()

    def request_cancel(self, job_id: str | None = None) -> None:
        if job_id is not None and job_id != self.current_job:
            self._cancelled_ids.add(job_id)
            return
        self._cancel.set()

    def request_stop(self) -> None:
        """Cancel the running job and take no new ones (SIGTERM, broken pipe)."""
        self._stopping = True
        self._cancel.set()
        self._queue.put(None)

    def _read_loop(self) -> None:
        for line in self.stdin:
            if not line.strip():
                continue
            try:
                msg = protocol.decode(line)
            except protocol.ProtocolError as exc:
                self.emit(protocol.error(None, "ProtocolError", str(exc)))
                continue
            kind = msg["type"]
            if kind == "cancel":
                self.request_cancel(msg.get("job_id"))
            elif kind == "shutdown":
                break
            elif kind == "start":
                self._queue.put(msg)
            else:
                self.emit(protocol.error(None, "ProtocolError", f"the engine does not accept {kind!r} messages"))
        self._queue.put(None)  # EOF / shutdown: finish queued jobs, then exit

    def serve(self) -> int:
        self.emit(protocol.hello(__version__, os.getpid(), sorted(self.jobs)))
        threading.Thread(target=self._read_loop, name="ot3d-stdin", daemon=True).start()
        while not self._stopping:
            try:
                msg = self._queue.get(timeout=0.5)
            except queue.Empty:
                continue
            if msg is None:
                break
            self.run_job(msg)
        return 0

    def run_job(self, msg: dict) -> None:
        job_id, name = msg["job_id"], msg["job"]
        self.current_job = job_id
        self._cancel.clear()
        if job_id in self._cancelled_ids or self._stopping:
            self._cancel.set()
        try:
            fn = self.jobs.get(name)
            if fn is None:
                raise OT3DError(f"unknown job {name!r}; this engine runs: {', '.join(sorted(self.jobs))}")
            job_dir = Path(msg["job_dir"])
            job_dir.mkdir(parents=True, exist_ok=True)
            ctx = JobContext(job_id, job_dir, self.emit, self._cancel)
            ctx.check_cancel()
            files, data = fn(msg["params"], ctx)
            ctx.check_cancel()
            self.emit(protocol.result(job_id, files, data))
        except Cancelled as exc:
            self.emit(protocol.error(job_id, protocol.CANCELLED_KIND, str(exc) or "cancelled",
                                     traceback.format_exc()))
        except Exception as exc:  # every failure becomes a message: the add-on shows it
            text = str(exc) if isinstance(exc, OT3DError) else f"{type(exc).__name__}: {exc}"
            self.emit(protocol.error(job_id, type(exc).__name__, text, traceback.format_exc()))
        finally:
            self.current_job = None
            self._cancelled_ids.discard(job_id)


def _protocol_streams():
    """Keep fd 1 for protocol lines only; route every other write to stderr."""
    out = os.fdopen(os.dup(1), "w", encoding="utf-8", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    stdin = io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8")
    return stdin, out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"],
                        help="engine log records at or above this level are forwarded as protocol log messages")


def run(args: argparse.Namespace) -> int:
    stdin, out = _protocol_streams()
    worker = Worker(stdin, out)
    handler = _ForwardLogs(worker)
    handler.setLevel(getattr(logging, getattr(args, "log_level", "INFO")))
    logging.getLogger("ot3d_engine").addHandler(handler)
    logging.getLogger("ot3d_engine").setLevel(handler.level)

    def on_term(signum, frame):
        worker.request_stop()

    signal.signal(signal.SIGTERM, on_term)
    from .parent_watch import exit_with_parent

    exit_with_parent()  # the add-on (or a headless scan) that started us died: so do we
    code = worker.serve()
    out.flush()
    sys.stderr.flush()
    # The stdin reader thread may sit in a blocking read; a normal interpreter shutdown
    # would then abort on the reader's lock, so leave without it (all output is flushed).
    os._exit(code)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ot3d_engine.worker", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
