"""Pinhole intrinsics and a smooth hand-held-like path around the room, looking inwards.

Poses are camera-to-world in the OpenCV convention (+x right, +y down, +z forward),
the same convention as ScanNet's pose/<i>.txt.
"""

from __future__ import annotations

import numpy as np

from .layout import CAMERA_INSET, Room


def intrinsics(width: int, height: int) -> np.ndarray:
    """Kinect-like K (fx = fy = 525 at 640x480), scaled to the requested size."""
    f = 525.0 * width / 640.0
    return np.array([[f, 0.0, (width - 1) / 2.0], [0.0, f, (height - 1) / 2.0], [0.0, 0.0, 1.0]])


def look_at(eye: np.ndarray, target: np.ndarray, up=(0.0, 0.0, 1.0)) -> np.ndarray:
    from ..render.camera_paths import look_at as camera_look_at  # one look-at for real and virtual views

    return camera_look_at(np.asarray(eye, dtype=np.float64), np.asarray(target, dtype=np.float64),
                          np.asarray(up, dtype=np.float64))


def orbit_path(room: Room, frames: int, rng: np.random.Generator) -> np.ndarray:
    """frames x 4 x 4 poses on an ellipse inset from the walls, covering most of a turn."""
    centre = room.centre
    radii = np.array([room.width / 2 - CAMERA_INSET, room.depth / 2 - CAMERA_INSET])
    start = rng.uniform(0, 2 * np.pi)
    arc = rng.uniform(1.4, 1.8) * np.pi * rng.choice([-1.0, 1.0])
    base_h, bob = rng.uniform(1.45, 1.55), rng.uniform(0.03, 0.06)
    look_h = rng.uniform(0.45, 0.7)
    wobble_phase = rng.uniform(0, 2 * np.pi, 2)
    t = np.linspace(0.0, 1.0, frames) if frames > 1 else np.zeros(1)
    theta = start + arc * t
    eyes = np.stack([centre[0] + radii[0] * np.cos(theta), centre[1] + radii[1] * np.sin(theta),
                     base_h + bob * np.sin(2 * np.pi * 1.5 * t)], 1)
    # look at a point that drifts around the room centre, so views are not all radial
    drift = 0.45 * np.stack([np.sin(2 * np.pi * t + wobble_phase[0]), np.cos(2 * np.pi * 0.7 * t + wobble_phase[1])], 1)
    targets = np.column_stack([centre + drift * np.array([room.width, room.depth]) / 5, np.full(frames, look_h)])
    return np.stack([look_at(e, g) for e, g in zip(eyes, targets)])
