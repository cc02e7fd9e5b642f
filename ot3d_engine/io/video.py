"""Frames of a video file by index, decoded with PyAV (FFmpeg) as the scan is walked.

Scans are read front to back, so the decoder keeps its place and only restarts when a
frame before the current one is asked for; a frame is never decoded twice in a pass.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import ScanError


class VideoFrames:
    def __init__(self, path: Path):
        self.path = Path(path)
        if not self.path.is_file():
            raise ScanError(self.path, "video not found")
        self._container = None
        self._frames = None
        self._next = 0
        self.count, self.size = self._probe()

    def _open(self):
        try:
            import av
        except ImportError:
            raise ScanError(self.path, "decoding the video needs PyAV: install the 'av' package (pip install av)") from None

        try:
            container = av.open(str(self.path))
            stream = container.streams.video[0]
        except (av.FFmpegError, IndexError, OSError) as exc:
            raise ScanError(self.path, f"cannot open video: {exc}") from None
        if stream.codec_context is None or not stream.codec_context.width:  # a damaged header: no codec
            container.close()
            raise ScanError(self.path, "cannot open video: no decodable video stream (file damaged or truncated?)")
        stream.thread_type = "AUTO"
        return container, stream

    def _probe(self) -> tuple[int, tuple[int, int]]:
        """(frames, (height, width)): the header's frame count, else counted by demuxing (no decoding)."""
        container, stream = self._open()
        import av

        try:
            size = (int(stream.height), int(stream.width))
            if stream.frames:
                return int(stream.frames), size
            return sum(1 for packet in container.demux(stream) if packet.size), size
        except av.FFmpegError as exc:
            raise ScanError(self.path, f"cannot read video: {exc}") from None
        finally:
            container.close()

    def __getitem__(self, index: int) -> np.ndarray:
        return self.frame(index)

    def frame(self, index: int, size: tuple[int, int] | None = None) -> np.ndarray:
        """Frame `index` as HxWx3 uint8 RGB; with `size` (h, w), area-resampled to it by FFmpeg
        while converting (much cheaper than converting the full frame, then resizing)."""
        import av

        if not 0 <= index < self.count:
            raise ScanError(self.path, f"frame {index} requested, the video has {self.count}")
        if self._frames is None or index < self._next:
            self.close()
            self._container, stream = self._open()
            self._frames = self._container.decode(stream)
            self._next = 0
        try:
            for frame in self._frames:
                current = self._next
                self._next += 1
                if current == index:
                    if size is None or (frame.height, frame.width) == tuple(size):
                        return frame.to_ndarray(format="rgb24")
                    return frame.to_ndarray(width=size[1], height=size[0], format="rgb24", interpolation="AREA")
        except av.FFmpegError as exc:
            raise ScanError(self.path, f"cannot decode video frame {index}: {exc}") from None
        raise ScanError(self.path, f"video ended after {self._next} frames, frame {index} requested "
                                   f"(the header said {self.count})")

    def close(self) -> None:
        if self._container is not None:
            self._container.close()
        self._container = self._frames = None
