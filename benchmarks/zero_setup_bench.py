"""Zip sizes per platform, and the time from pressing Segment to objects in the scene on the
zero-set-up tier (the engine on Blender's own Python with the extension's wheels).

    .venv-blender-4.2/bin/python benchmarks/zero_setup_bench.py [--frames 20] [--repeats 3]

Run it with a Blender-like Python (scripts/setup_blender_env.sh). Builds the four zips
(validated), installs this platform's zip with no preference set, imports a synthetic scan
(made by the engine's .venv), then times `bpy.ops.ot3d.segment()` end to end (engine start,
the whole pipeline, reading the result, materializing the objects). For a ratio measured in
the same run, the same Segment is also timed with the engine's .venv set as the engine Python
(the neural tier's interpreter, running the same weights-free backends).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
_TMP = Path(tempfile.mkdtemp(prefix="ot3d-zero-setup-bench-"))
for var in ("BLENDER_USER_CONFIG", "BLENDER_USER_SCRIPTS", "BLENDER_USER_EXTENSIONS", "BLENDER_USER_DATAFILES"):
    os.environ[var] = str(_TMP / var.lower())  # never touch the real Blender config
os.environ.pop("OT3D_ENGINE_PYTHON", None)

import bpy  # noqa: E402
import addon_utils  # noqa: E402,I001

sys.path.insert(0, str(REPO / "scripts"))
import build_extension  # noqa: E402

EXT_MODULE = "bl_ext.user_default.opentrack3d"
ENGINE_PYTHON = REPO / ".venv" / "bin" / "python"


def time_segment(scan: Path, repeats: int, engine_python: str = "") -> list[float]:
    times = []
    for _ in range(repeats):
        bpy.ops.wm.read_factory_settings(use_empty=True)
        addon_utils.enable(EXT_MODULE, default_set=True)
        bpy.context.preferences.addons[EXT_MODULE].preferences.engine_python = engine_python
        s = bpy.context.scene.ot3d
        s.scan_path = str(scan)
        t0 = time.perf_counter()
        assert bpy.ops.ot3d.segment() == {"FINISHED"}
        times.append(time.perf_counter() - t0)
        assert len(bpy.data.collections["Instances"].objects) > 0
    bpy.context.preferences.addons[EXT_MODULE].preferences.engine_python = ""
    return times


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    zips = build_extension.build(_TMP / "dist", staging=_TMP / "staging")
    sizes = {z.name: round(z.stat().st_size / 1e6, 1) for z in zips}
    host = next(z for z in zips if z.name.endswith(f"{build_extension.host_platform()}.zip"))
    assert bpy.ops.extensions.package_install_files(filepath=str(host), repo="user_default",
                                                    enable_on_install=True) == {"FINISHED"}
    ext = importlib.import_module(EXT_MODULE)
    scan = _TMP / "scan"
    subprocess.run([str(ENGINE_PYTHON), "-B", "-m", "ot3d_engine", "synth", "--seed", "7", "--out", str(scan),
                    "--frames", str(args.frames)], cwd=REPO, check=True, capture_output=True)
    bpy.ops.wm.read_factory_settings(use_empty=True)
    addon_utils.enable(EXT_MODULE, default_set=True)
    tier = ext.ui.preferences.active_tier()
    zero = time_segment(scan, args.repeats)
    venv = time_segment(scan, args.repeats, str(ENGINE_PYTHON)) if ENGINE_PYTHON.is_file() else []
    report = {
        "bpy": bpy.app.version_string, "zip_mb": sizes, "frames": args.frames, "tier": tier.name,
        "segment_s_zero_setup": [round(t, 2) for t in zero], "median_zero_setup_s": round(statistics.median(zero), 2),
        "segment_s_engine_venv": [round(t, 2) for t in venv],
        "median_engine_venv_s": round(statistics.median(venv), 2) if venv else None,
        "ratio_zero_setup_over_venv": round(statistics.median(zero) / statistics.median(venv), 2) if venv else None,
        "instances": len(bpy.data.collections["Instances"].objects),
    }
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
