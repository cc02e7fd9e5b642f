"""Run work in batches and halve the batch when the accelerator runs out of memory."""

from __future__ import annotations

import logging
from typing import Callable, TypeVar

from ..errors import OT3DError

log = logging.getLogger(__name__)
T = TypeVar("T")


def is_out_of_memory(exc: BaseException) -> bool:
    import torch

    if isinstance(exc, torch.OutOfMemoryError):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def _free_memory() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    mps = getattr(torch, "mps", None)
    if mps is not None and getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        mps.empty_cache()


class AdaptiveBatcher:
    """Keeps the largest batch size that fit; `what` names the work in errors and logs."""

    def __init__(self, batch_size: int, what: str):
        if batch_size < 1:
            raise OT3DError(f"{what}: batch size must be at least 1, got {batch_size}")
        self.batch_size = int(batch_size)
        self.what = what

    def run(self, n: int, step: Callable[[int, int], T]) -> list[T]:
        """Call step(start, stop) over 0..n in batches; results in order."""
        out: list[T] = []
        start = 0
        while start < n:
            stop = min(n, start + self.batch_size)
            try:
                out.append(step(start, stop))
            except Exception as exc:
                if not is_out_of_memory(exc):
                    raise
                _free_memory()
                if self.batch_size == 1:
                    raise OT3DError(f"{self.what}: out of accelerator memory even with batch size 1; use a "
                                    "smaller model, dtype float16/bfloat16, or device cpu") from None
                self.batch_size = max(1, self.batch_size // 2)
                log.warning("%s: out of memory, retrying with batch size %d", self.what, self.batch_size)
                continue
            start = stop
        return out
