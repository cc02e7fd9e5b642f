"""Die with the parent: a child process that outlives whoever started it (the batch driver
killed with -9, Blender crashed) would go on writing outputs nobody owns.

exit_with_parent() starts a daemon thread that polls the parent pid; once the parent is
gone (the process is re-parented), it runs `before` (e.g. stop the processes this one
started in their own groups) and SIGKILLs its own process group, or just exits when it
does not lead one. Stdlib only (runs inside Blender's Python too). A driver that passes its
pid in OT3D_PARENT_PID also catches a parent that died before the watch started.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from typing import Callable

PARENT_ENV = "OT3D_PARENT_PID"
POLL_S = 0.5


def _die() -> None:
    if hasattr(os, "getpgrp") and os.getpgrp() == os.getpid():  # we lead our group: take everything in it along
        os.killpg(os.getpid(), signal.SIGKILL)
    os._exit(137)


def exit_with_parent(before: Callable[[], None] | None = None, poll_s: float = POLL_S) -> threading.Thread:
    expected = os.environ.pop(PARENT_ENV, None)  # meant for us, not for our own children
    parent = int(expected) if expected and expected.isdigit() else os.getppid()

    def watch():
        while os.getppid() == parent:
            time.sleep(poll_s)
        try:
            if before is not None:
                before()
        finally:
            _die()

    thread = threading.Thread(target=watch, name="ot3d-parent-watch", daemon=True)
    thread.start()
    return thread
