"""Data that flows between pipeline stages.

Conventions used everywhere:
- colour: HxWx3 uint8 RGB; depth: HxW float32 metres, 0 or NaN = invalid.
- intrinsics: 3x3 pinhole K for the *depth* image (colour is resampled to depth size).
- pose: 4x4 camera-to-world (a camera-frame point p maps to the world as T @ p),
  camera frame is OpenCV style: +x right, +y down, +z forward.
- instance ids: 0 = unlabelled / background, 1..N instances.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass
class Frame:
    index: int
    color: np.ndarray  # HxWx3 uint8
    depth: np.ndarray  # HxW float32 metres, 0/NaN invalid
    intrinsics: np.ndarray  # 3x3 float64
    pose: np.ndarray  # 4x4 float64 camera-to-world
    name: str = ""
    gt_instance: np.ndarray | None = None  # HxW int32 instance id, 0 = none/void
    gt_class: np.ndarray | None = None  # HxW int32 class id (optional)

    @property
    def height(self) -> int:
        return int(self.depth.shape[0])

    @property
    def width(self) -> int:
        return int(self.depth.shape[1])

    def valid_depth(self) -> np.ndarray:
        d = self.depth
        return np.isfinite(d) & (d > 0)


@dataclass
class GroundTruth:
    """Per-point 3D ground truth of a scene (for evaluation)."""

    points: np.ndarray  # Nx3 float
    instance: np.ndarray  # N int, 0 = void / unlabelled
    semantic: np.ndarray  # N int class id, 0 = void
    class_names: dict[int, str] = field(default_factory=dict)
    ignore_classes: tuple[int, ...] = ()  # class ids excluded from evaluation (wall, floor...)


@dataclass
class Scan:
    """An RGB-D sequence, read lazily frame by frame (scans can be thousands of frames)."""

    path: Path
    layout: str
    frame_count: int
    _loader: object = field(repr=False, default=None)  # callable(int) -> Frame
    meta: dict = field(default_factory=dict)
    ground_truth: GroundTruth | None = None
    mesh_path: Path | None = None

    def __len__(self) -> int:
        return self.frame_count

    def frame(self, i: int) -> Frame:
        if not 0 <= i < self.frame_count:
            raise IndexError(f"frame {i} out of range 0..{self.frame_count - 1}")
        return self._loader(i)

    def frames(self):
        for i in range(self.frame_count):
            yield self.frame(i)

    def frame_by_number(self, number: int) -> Frame:
        """The frame whose Frame.index (the dataset's own frame number) is `number`."""
        numbers = self.meta.get("frame_numbers")
        if numbers is None:
            return self.frame(number)
        try:
            return self.frame(list(numbers).index(number))
        except ValueError:
            raise IndexError(f"frame number {number} is not in this scan ({self.path})") from None


@dataclass
class Mask2D:
    """One 2D segment of a frame, from any segmenter backend."""

    mask: np.ndarray  # HxW bool
    score: float = 1.0
    label: str | None = None  # open-vocabulary label, if the backend gives one
    box: np.ndarray | None = None  # x0,y0,x1,y1 (pixels) if the backend gives one


@dataclass
class Observation:
    """A 2D mask lifted to 3D in one frame: what the tracker consumes."""

    frame_index: int
    mask_index: int
    voxels: np.ndarray  # sorted unique int64 voxel keys (denoised, voxel-downsampled mask)
    feature: np.ndarray  # D float32, L2-normalised
    pixel_count: int  # valid-depth pixels in the 2D mask (visibility measure)
    score: float = 1.0
    label: str | None = None
    box: tuple[int, int, int, int] | None = None  # x0,y0,x1,y1 of the 2D mask

    def voxel_centers(self, voxel_size: float) -> np.ndarray:
        from .lift.voxels import centers

        return centers(self.voxels, voxel_size)


@dataclass
class View:
    frame_index: int
    pixel_count: int
    box: tuple[int, int, int, int] | None = None  # x0,y0,x1,y1 in the frame


@dataclass
class Instance:
    """A final 3D instance."""

    id: int
    points: np.ndarray  # Kx3 float32
    score: float
    label: str = "object"
    label_score: float = 0.0
    feature: np.ndarray | None = None
    best_views: list[View] = field(default_factory=list)
    observations: int = 0
    colors: np.ndarray | None = None

    @property
    def bbox(self) -> tuple[list[float], list[float]]:
        if len(self.points) == 0:
            return [0.0] * 3, [0.0] * 3
        return self.points.min(0).tolist(), self.points.max(0).tolist()


@dataclass
class SceneResult:
    """Pipeline output: fused cloud with per-point instance id, plus the instances."""

    points: np.ndarray  # Nx3 float32
    colors: np.ndarray  # Nx3 uint8
    instance_ids: np.ndarray  # N int32, 0 = unassigned
    instances: list[Instance]
    timings: dict[str, float] = field(default_factory=dict)
    meta: dict = field(default_factory=dict)
    mesh: object | None = None  # io.mesh.Mesh, when superpoint refinement labelled a mesh
    mesh_instance_ids: np.ndarray | None = None  # per mesh vertex (ScanNet format), 0 = none
