"""The segmenter interface every 2D backend implements."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from ..types import Frame, Mask2D


@runtime_checkable
class Segmenter(Protocol):
    """Frame in, masks out. Masks may overlap; the lifting stage resolves that."""

    def segment(self, frame: Frame) -> list[Mask2D]: ...
