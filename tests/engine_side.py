"""Engine-side helpers for the add-on tests, run as a subprocess of the engine's .venv Python.

The add-on tests run in a Blender-like Python (bpy + numpy only); what they need from the
full engine (a synthetic scan, which renders with open3d; scipy rotations; the engine's own
cloud for a scan) runs here instead of being imported into that process:

    .venv/bin/python -B tests/engine_side.py COMMAND ARGS.json OUT
"""

from __future__ import annotations

import json
import sys
import tempfile
import threading
from pathlib import Path

import numpy as np


def synth(args: dict, out: Path) -> None:
    from ot3d_engine.synth import generate_scene

    generate_scene(out, seed=args["seed"], frames=args["frames"], width=args["width"], height=args["height"])


def layouts(args: dict, out: Path) -> None:
    from ot3d_engine.io.loader import LAYOUTS

    out.write_text(json.dumps([lay.name for lay in LAYOUTS]))


def quaternions(args: dict, out: Path) -> None:
    """Rotation matrices (npy, Nx3x3) -> scipy's (x, y, z, w) quaternions (npy, Nx4)."""
    from scipy.spatial.transform import Rotation

    np.save(out, Rotation.from_matrix(np.load(args["matrices"])).as_quat())


def scan_cloud(args: dict, out: Path) -> None:
    """The scan_cloud job run in this process with the add-on's parameters -> npz."""
    from ot3d_engine.jobs import scan_cloud_job
    from ot3d_engine.worker import JobContext

    with tempfile.TemporaryDirectory() as tmp:
        files, _ = scan_cloud_job(args["params"], JobContext("test", Path(tmp), lambda msg: None,
                                                            threading.Event()))
        with np.load(files["cloud"]) as z:
            np.savez(out, **{k: z[k] for k in z.files})


COMMANDS = {f.__name__: f for f in (synth, layouts, quaternions, scan_cloud)}

if __name__ == "__main__":
    command, args, out = sys.argv[1], json.loads(Path(sys.argv[2]).read_text()), Path(sys.argv[3])
    COMMANDS[command](args, out)
