"""Synthetic RGB-D rooms with exact instance ground truth, in the ScanNet export layout.

Used to test and benchmark the pipeline end to end where real labelled scans are scarce.
"""

from .generate import generate_scene

__all__ = ["generate_scene"]
