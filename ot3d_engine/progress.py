"""A terminal progress bar for long stages (stderr, redraws in place, silent when piped
unless asked), so `ot3d segment` shows where it is without a dependency."""

from __future__ import annotations

import sys
import time


class ProgressBar:
    def __init__(self, stream=None, width: int = 30, enabled: bool | None = None):
        self.stream = stream or sys.stderr
        self.width = width
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self._stage = None
        self._t0 = time.perf_counter()
        self._last = 0.0

    def __call__(self, stage: str, fraction: float, message: str = "") -> None:
        if not self.enabled:
            return
        now = time.perf_counter()
        if stage == self._stage and fraction < 1.0 and now - self._last < 0.1:
            return
        if stage != self._stage and self._stage is not None:
            self.stream.write("\n")
        self._stage, self._last = stage, now
        filled = int(round(self.width * max(0.0, min(1.0, fraction))))
        bar = "#" * filled + "-" * (self.width - filled)
        self.stream.write(f"\r{stage:>8} [{bar}] {100 * fraction:5.1f}% {now - self._t0:6.1f}s {message[:60]:<60}")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled and self._stage is not None:
            self.stream.write("\n")
            self.stream.flush()
