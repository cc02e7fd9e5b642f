"""Scan readers and file formats.

    scan = load_scan("path/to/scan")          # layout auto-detected
    frame = scan.frame(0)                      # colour, depth (m), K, camera-to-world pose
"""

from .images import read_color, read_depth, read_label_image, resize_color, scale_intrinsics
from .loader import LAYOUTS, detect_layout, load_scan, subsample
from .mosd import load_mosd_dir, read_mosd
from .pcd import PointCloudData, read_pcd
from .posefile import read_posefile, read_slambook
from .redwood import read_redwood
from .replica import read_replica
from .scannet import read_scannet

__all__ = [
    "LAYOUTS", "PointCloudData", "detect_layout", "load_mosd_dir", "load_scan", "read_color", "read_depth",
    "read_label_image", "read_mosd", "read_pcd", "read_posefile", "read_redwood", "read_replica",
    "read_scannet", "read_slambook", "resize_color", "scale_intrinsics", "subsample",
]
