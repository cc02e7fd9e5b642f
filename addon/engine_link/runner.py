"""The engine worker as a child process: start it, talk the protocol, stop it for good.

No bpy here: the modal operator, the background (synchronous) path and the tests all
drive the same EngineProcess. Reader threads turn stdout lines into protocol messages
on a queue and keep the tail of stderr for crash reports; `stop()` escalates
cancel -> SIGTERM -> SIGKILL and always reaps the child, so no zombie is left behind.

The worker never writes into the extension's folder: it runs with -B and
PYTHONDONTWRITEBYTECODE (no .pyc beside the bundled engine source) in a working folder of
its own. Run on Blender's own Python (the weights-free tier), it also gets the folder where
Blender installed the extension's wheels (scipy, Pillow), see tier.py.
"""

from __future__ import annotations

import collections
import os
import queue
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from . import tier
from .source import engine_module, engine_root

WORKER_MODULE = "ot3d_engine.worker"


class EngineError(RuntimeError):
    """The engine could not be started or broke the protocol."""


def protocol():
    return engine_module("protocol")


class EngineProcess:
    def __init__(self, python: str, engine_path: str | os.PathLike | None = None,
                 extra_env: dict | None = None, cwd: str | os.PathLike | None = None):
        self.python = str(python)
        self.engine_path = Path(engine_path) if engine_path else engine_root()
        self.extra_env = dict(extra_env or {})
        self.cwd = Path(cwd) if cwd else Path(tempfile.gettempdir())
        self.proc: subprocess.Popen | None = None
        self.hello: dict | None = None
        self._messages: queue.Queue = queue.Queue()
        self._stderr = collections.deque(maxlen=200)
        self._threads: list[threading.Thread] = []
        self._write_lock = threading.Lock()

    # -- lifecycle -------------------------------------------------------------------------
    def start(self, hello_timeout: float = 60.0) -> dict:
        if not self.python or not (Path(self.python).is_file() or os.sep not in self.python):
            raise EngineError(f"engine Python not found: {self.python!r} (set it in the add-on preferences)")
        try:
            self.proc = subprocess.Popen(
                self.command(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, env=self.environment(), cwd=str(self.cwd), bufsize=0,
                start_new_session=True)  # own process group: we can stop its children too
        except OSError as exc:
            raise EngineError(f"cannot start the engine with {self.python}: {exc}") from None
        self._spawn(self._read_stdout, "stdout")
        self._spawn(self._read_stderr, "stderr")
        msg = self.next_message(hello_timeout)
        if msg is None or msg.get("type") != "hello":
            self.stop(grace=0.5)
            got = "no answer" if msg is None else f"{msg.get('type')!r} first"
            raise EngineError(f"the engine did not say hello ({got}).\n{self.stderr_tail()}".strip())
        try:
            protocol().check_hello(msg)
        except Exception as exc:
            self.stop(grace=0.5)
            raise EngineError(str(exc)) from None
        self.hello = msg
        return msg

    def command(self) -> list[str]:
        return [self.python, "-B", "-m", WORKER_MODULE]

    def environment(self) -> dict:
        env = os.environ.copy()
        paths = [str(self.engine_path)]
        if tier.is_blender_python(self.python):
            paths += tier.wheels_site_packages()
        env["PYTHONPATH"] = os.pathsep.join([*paths, *filter(None, [env.get("PYTHONPATH")])])
        env["PYTHONDONTWRITEBYTECODE"] = "1"  # for the worker's own children too
        env["PYTHONUNBUFFERED"] = "1"
        env["PYTHONIOENCODING"] = "utf-8"
        env.update(self.extra_env)
        return env

    def _spawn(self, target, name: str) -> None:
        t = threading.Thread(target=target, name=f"ot3d-engine-{name}", daemon=True)
        t.start()
        self._threads.append(t)

    def _read_stdout(self) -> None:
        proto = protocol()
        for raw in iter(self.proc.stdout.readline, b""):
            if not raw.strip():
                continue
            try:
                self._messages.put(proto.decode(raw))
            except proto.ProtocolError as exc:
                self._stderr.append(f"[protocol] {exc}")
        self._messages.put({"type": "_eof"})

    def _read_stderr(self) -> None:
        for raw in iter(self.proc.stderr.readline, b""):
            self._stderr.append(raw.decode("utf-8", errors="replace").rstrip("\n"))

    # -- talking ---------------------------------------------------------------------------
    def send(self, msg: dict) -> bool:
        """False when the engine can no longer be written to (it exited)."""
        line = protocol().encode(msg).encode("utf-8")
        with self._write_lock:
            try:
                self.proc.stdin.write(line)
                self.proc.stdin.flush()
                return True
            except (BrokenPipeError, OSError, ValueError, AttributeError):
                return False

    def next_message(self, timeout: float | None = None) -> dict | None:
        """The next message, {"type": "_eof"} once stdout closed, None on timeout."""
        try:
            return self._messages.get(timeout=timeout)
        except queue.Empty:
            return None

    def drain(self) -> list[dict]:
        out = []
        while True:
            try:
                out.append(self._messages.get_nowait())
            except queue.Empty:
                return out

    # -- state -----------------------------------------------------------------------------
    @property
    def pid(self) -> int | None:
        return None if self.proc is None else self.proc.pid

    @property
    def returncode(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait_stderr(self, timeout: float = 2.0) -> None:
        """Let the stderr reader take everything the (exited) engine wrote: a crash report
        read before that thread catches up would miss the engine's last words."""
        for t in self._threads:
            if t.name.endswith("-stderr"):
                t.join(timeout=timeout)

    def stderr_tail(self, lines: int = 30) -> str:
        return "\n".join(list(self._stderr)[-lines:])

    # -- stopping --------------------------------------------------------------------------
    def _signal_group(self, sig) -> None:
        try:
            os.killpg(self.proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def stop(self, grace: float = 5.0) -> int | None:
        """Ask politely (shutdown, EOF), then SIGTERM, then SIGKILL; always reap the child."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.send(protocol().shutdown())
            try:
                self.proc.stdin.close()
            except OSError:
                pass
            steps = ((grace, None), (2.0, signal.SIGTERM), (5.0, signal.SIGKILL))
            for wait_s, sig in steps:
                if sig is not None:
                    self._signal_group(sig)
                try:
                    self.proc.wait(timeout=wait_s)
                    break
                except subprocess.TimeoutExpired:
                    continue
        code = self.proc.wait()  # reaps: no zombie whatever happened above
        for t in self._threads:
            t.join(timeout=2.0)
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            try:
                stream.close()
            except (OSError, AttributeError):
                pass
        return code

    def wait_exit(self, timeout: float) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                return True
            time.sleep(0.02)
        return False
