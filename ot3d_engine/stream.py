"""Frames decoded, segmented and described ahead of the tracker (a bounded prefetch).

Reading, 2D segmentation and mask-pooled features of a frame depend on that frame alone;
lifting and tracking depend on every frame before. So a worker thread prepares the next
frames while the main thread lifts and tracks this one: numpy, scipy and PIL release the
GIL in their inner loops, which lets the two overlap on two cores. Frames come out in
scan order and every frame goes through the very same calls as the sequential run, so the
result is identical; only the waiting moves. `prefetch=0` is the plain sequential loop.
One worker (not a pool) keeps backend calls serialised: no backend has to be thread-safe.
"""

from __future__ import annotations

import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Iterator

import numpy as np

from .types import Frame, Mask2D

PREPARED_STAGES = ("read", "segment2d", "features")


@dataclass
class PreparedFrame:
    index: int
    frame: Frame
    masks: list[Mask2D]
    features: np.ndarray
    wall: dict[str, float] = field(default_factory=dict)  # seconds per stage, where it ran
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds of the thread that ran it


def prepare(scan, segmenter, features, index: int) -> PreparedFrame:
    wall, cpu = {}, {}

    def timed(stage, fn, *args):
        t0, c0 = time.perf_counter(), time.thread_time()
        value = fn(*args)
        wall[stage] = time.perf_counter() - t0
        cpu[stage] = time.thread_time() - c0
        return value

    frame = timed("read", scan.frame, index)
    masks = timed("segment2d", segmenter.segment, frame)
    feats = timed("features", features.extract, frame, masks)
    return PreparedFrame(index, frame, masks, feats, wall, cpu)


def prepared_frames(scan, segmenter, features, prefetch: int = 0) -> Iterator[PreparedFrame]:
    """Every frame of `scan`, in order, with masks and features; up to `prefetch` frames
    are prepared ahead on a worker thread. Closing the iterator early (cancel, an error
    downstream) drops the frames not yet started and waits for the one in flight."""
    n = len(scan)
    if prefetch <= 0:
        for i in range(n):
            yield prepare(scan, segmenter, features, i)
        return
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ot3d-prefetch")
    pending: deque = deque()
    try:
        nxt = 0
        while nxt < n or pending:
            while nxt < n and len(pending) < prefetch:
                pending.append(pool.submit(prepare, scan, segmenter, features, nxt))
                nxt += 1
            yield pending.popleft().result()  # a worker's exception surfaces here, in order
    finally:
        for f in pending:
            f.cancel()
        pool.shutdown(wait=True, cancel_futures=True)
