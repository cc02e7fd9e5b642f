"""Scan readers and file formats.

    scan = load_scan("path/to/scan")          # layout auto-detected
    frame = scan.frame(0)                      # colour, depth (m), K, camera-to-world pose

The names below load their module on first use (PEP 562): importing one format (`io.ply`,
`io.atomic`) must not import every reader and the image library behind them. Blender's
process reads PLY and scene files through this package and has no Pillow.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "read_color": "images", "read_depth": "images", "read_label_image": "images", "resize_color": "images",
    "scale_intrinsics": "images",
    "LAYOUTS": "loader", "detect_layout": "loader", "load_scan": "loader", "subsample": "loader",
    "load_mosd_dir": "mosd", "read_mosd": "mosd",
    "PointCloudData": "pcd", "read_pcd": "pcd",
    "read_posefile": "posefile", "read_slambook": "posefile",
    "read_redwood": "redwood",
    "read_replica": "replica",
    "read_scannet": "scannet",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))
