"""Transient job state (running, progress, status line, last error, engine log, live
readout), one per scene.

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
    # the live view's shown snapshot (0 = none yet): where the scan is, what it holds so far
    live_frame: int = 0
    live_frames: int = 0
    live_instances: int = 0

    def show_live(self, meta: dict) -> None:
        """A live snapshot's json (frame, frames, instances) became what the live view shows."""
        self.live_frame = int(meta.get("frame", 0))
        self.live_frames = int(meta.get("frames", 0))
        self.live_instances = int(meta.get("instances", 0))

    def clear_live(self) -> None:
        self.live_frame = self.live_frames = self.live_instances = 0

    @property
    def live_readout(self) -> str:
        """One line for the panel while Segment streams ("" before the first snapshot)."""
        if not self.live_frames:
            return ""
        return f"Frame {self.live_frame}/{self.live_frames}: {self.live_instances} instances so far"


_STATES: dict[str, JobStatus] = {}


def of(scene) -> JobStatus:
    key = getattr(scene, "name_full", None) or str(scene)
    state = _STATES.get(key)
    if state is None:
        state = _STATES[key] = JobStatus()
    return state


def forget_all() -> None:
    _STATES.clear()
