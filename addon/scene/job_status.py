"""Transient job state (running, progress, status line, last error, engine log), one per scene.

It lives in this process only, never in the .blend: a file saved mid-job or after a failure
must not reopen showing "running" or an old error. `scene.ot3d.status` and friends read and
write it (see ui/properties.py); a file load forgets it all.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class JobStatus:
    running: bool = False
    progress: float = 0.0  # the whole job, 0..1, only ever moves forward while it runs
    text: str = ""  # one line: the stage and its message, or the outcome
    error: str = ""  # one line: the cause of the last failure ("" = none)
    log: str = ""  # the last job's engine log (messages, traceback, stderr) for "Show Log"


_STATES: dict[str, JobStatus] = {}


def of(scene) -> JobStatus:
    key = getattr(scene, "name_full", None) or str(scene)
    state = _STATES.get(key)
    if state is None:
        state = _STATES[key] = JobStatus()
    return state


def forget_all() -> None:
    _STATES.clear()
