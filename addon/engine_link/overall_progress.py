"""One progress fraction for a whole engine job, from the engine's per-stage fractions.

The engine reports each stage from 0 to 1 (track 0..1, then refine 0..1, then write 0..1);
a bar that shows those raw would fill up in tracking and fall back to empty for refine.
Each stage gets a weight (its share of the job); the overall fraction is the weight of the
stages done plus the running stage's share, and never goes down. Unknown stages (an engine
newer than the add-on) hold the bar where it is. No bpy: the mapping is plain arithmetic.
"""

from __future__ import annotations


class OverallProgress:
    def __init__(self, weights: dict[str, float] | None = None):
        """`weights`: stage -> share of the job, in the order the engine runs the stages."""
        weights = {k: float(v) for k, v in (weights or {}).items() if float(v) > 0}
        total = sum(weights.values())
        self._start: dict[str, float] = {}
        self._share: dict[str, float] = {}
        done = 0.0
        for stage, w in weights.items():
            self._start[stage], self._share[stage] = done / total, w / total
            done += w
        self.fraction = 0.0

    def update(self, stage: str, fraction: float) -> float:
        """The overall fraction after the engine said `stage` is at `fraction` (monotonic)."""
        f = min(max(float(fraction), 0.0), 1.0)
        if not self._start:  # a one-stage job: its own fraction
            self.fraction = max(self.fraction, f)
        elif stage in self._start:
            self.fraction = max(self.fraction, min(self._start[stage] + self._share[stage] * f, 1.0))
        return self.fraction

    def finish(self) -> float:
        self.fraction = 1.0
        return self.fraction
