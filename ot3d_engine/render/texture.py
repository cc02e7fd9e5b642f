"""Texture lookup, numpy only: the ray caster (mesh_views, open3d) and the splat path on
Blender's own Python (object_input, no open3d) colour the same texture the same way."""

from __future__ import annotations

import numpy as np


def sample_texture(texture: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """Nearest-texel lookup; u right, v up (OpenGL/glTF/OBJ/Blender convention; the image's
    row 0 is its top), wrapping."""
    h, w = texture.shape[:2]
    u = np.mod(uv[..., 0], 1.0)
    v = np.mod(uv[..., 1], 1.0)
    col = np.clip(np.floor(u * w), 0, w - 1).astype(np.int64)
    row = np.clip(np.floor((1.0 - v) * h), 0, h - 1).astype(np.int64)
    return texture[row, col]
