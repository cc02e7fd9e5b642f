"""The classifier interface: instances (+ the scan they came from) in, one label each out."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from ..types import Instance, Scan


@dataclass
class Labelled:
    instance_id: int
    label: str
    confidence: float  # 0..1
    views: list[int] = field(default_factory=list)  # frame indices shown to the model
    answer: str = ""  # the model's raw answer, kept for inspection
    tier: str = "model"  # "fallback" for the embedded no-download tier
    backend: str = ""


@runtime_checkable
class Classifier(Protocol):
    def classify(self, instances: list[Instance], scan: Scan, vocabulary: list[str] | None = None) -> list[Labelled]:
        """One Labelled per instance, in order."""
        ...


def apply_labels(instances: list[Instance], labelled: list[Labelled]) -> None:
    """Write labels and confidences onto the instances (matched by id)."""
    by_id = {lab.instance_id: lab for lab in labelled}
    for inst in instances:
        lab = by_id.get(inst.id)
        if lab is not None:
            inst.label = lab.label
            inst.label_score = float(lab.confidence)
