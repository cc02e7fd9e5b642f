"""Frames per second of the default weights-free pipeline, sequential (`scan.prefetch = 0`)
against the default prefetch pipeline, in one run, on the real 7-Scenes kitchen frames and
on 100 / 1000 / 5000-frame synthetic scans.

Each (scan, mode) runs in its own subprocess, so its peak memory (ru_maxrss) is its own.
Per mode: frames/s of the frame loop, ms/frame per stage (wall; stages of the prefetch run
overlap, `wait` is the main thread's idle time), ms/frame in the first and last quarter of
the scan (flat = the cost does not grow with the scan), peak RSS, and whether the result is
identical to the sequential one (same points, same instance ids).

    python benchmarks/speed_bench.py [--sizes 100,1000,5000] [--repeat 3] [--json out.json]

Synthetic scans are generated once under out/bench-speed/ (100 frames at 640x480; 1000 at
320x240 and 5000 at 160x120, which take too long to generate at full size here).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
KITCHEN = (REPO / ".." / "shared" / "data" / "7scenes-kitchen").resolve()
CACHE = REPO / "out" / "bench-speed"
SYNTH_SIZES = {100: (640, 480), 1000: (320, 240), 5000: (160, 120)}
MODES = {"sequential": (0, False), "default": (None, False), "default+live": (None, True)}  # None: config default


def run_one(scan_path: str, prefetch: int | None, live: bool = False) -> dict:
    """One pipeline run in this process: timings, per-frame cost, peak memory, a digest."""
    import numpy as np

    from ot3d_engine.config import PipelineConfig
    from ot3d_engine.io import load_scan
    from ot3d_engine.output.live import LiveOptions
    from ot3d_engine.pipeline import run_pipeline

    cfg = PipelineConfig()
    if prefetch is not None:
        cfg.scan.prefetch = prefetch
    scan = load_scan(scan_path)
    stamps: list[float] = []

    def progress(stage, fraction, message=""):
        if stage == "track":
            stamps.append(time.perf_counter())

    live_dir = tempfile.mkdtemp(prefix="ot3d-live-") if live else None
    t0 = time.perf_counter()
    result = run_pipeline(scan, cfg, progress=progress, live=LiveOptions(Path(live_dir), every=10) if live else None)
    wall = time.perf_counter() - t0
    n = len(scan)
    per_frame = np.diff(np.array(stamps))
    q = max(1, len(per_frame) // 4)
    loop = stamps[-1] - stamps[0] if len(stamps) > 1 else wall
    digest = hashlib.sha256(result.points.tobytes() + result.instance_ids.tobytes()).hexdigest()[:16]
    return {
        "frames": n, "prefetch": cfg.scan.prefetch, "wall_s": round(wall, 3),
        "loop_fps": round((len(stamps) - 1) / loop, 2) if loop > 0 else None,
        "fps": round(n / wall, 2),
        "ms_per_frame": {k: round(1000 * v / n, 2) for k, v in sorted(result.timings.items(), key=lambda kv: -kv[1])},
        "first_quarter_ms": round(1000 * float(np.mean(per_frame[:q])), 2) if len(per_frame) else None,
        "last_quarter_ms": round(1000 * float(np.mean(per_frame[-q:])), 2) if len(per_frame) else None,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "instances": len(result.instances), "digest": digest,
        "live_share": round(result.timings.get("live", 0.0) / wall, 4),
        "snapshots": result.meta.get("live", {}).get("snapshots", 0),
    }


def synthetic(frames: int) -> Path:
    width, height = SYNTH_SIZES[frames]
    path = CACHE / f"synth-{frames}-{width}x{height}"
    if not (path / "gt_points.npz").exists():
        print(f"generating {path.name} ...", flush=True)
        subprocess.run([sys.executable, "-m", "ot3d_engine", "synth", "--seed", "7", "--out", str(path),
                        "--frames", str(frames), "--width", str(width), "--height", str(height)],
                       check=True, stdout=subprocess.DEVNULL)
    return path


def in_subprocess(scan: Path, prefetch: int | None, live: bool) -> dict:
    code = (f"import json, sys; sys.path.insert(0, {str(REPO / 'benchmarks')!r}); import speed_bench; "
            f"print(json.dumps(speed_bench.run_one({str(scan)!r}, {prefetch!r}, {live!r})))")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, cwd=REPO)
    return json.loads(out.stdout.strip().splitlines()[-1])


def median_run(runs: list[dict]) -> dict:
    """The run of median fps, with every run's fps listed."""
    ordered = sorted(runs, key=lambda r: r["fps"])
    row = dict(ordered[len(ordered) // 2])
    row["fps_runs"] = [r["fps"] for r in runs]
    return row


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="100,1000,5000", help="synthetic scan lengths (from 100, 1000, 5000)")
    ap.add_argument("--repeat", type=int, default=1,
                    help="runs per mode on the real frames, interleaved (median fps; a shared CPU is noisy)")
    ap.add_argument("--json", help="write all numbers here")
    args = ap.parse_args()
    scans = []
    if KITCHEN.is_dir():
        scans.append(("7scenes-kitchen 640x480", KITCHEN))
    else:
        print(f"note: {KITCHEN} not found, real frames skipped")
    for size in [int(s) for s in args.sizes.split(",") if s]:
        w, h = SYNTH_SIZES[size]
        scans.append((f"synth {size} {w}x{h}", synthetic(size)))
    rows = {}
    for name, path in scans:
        reps = args.repeat if path == KITCHEN else 1
        runs = {mode: [] for mode in MODES}
        for _ in range(reps):  # interleaved: load from other processes hits every mode alike
            for mode, how in MODES.items():
                runs[mode].append(in_subprocess(path, *how))
        rows[name] = {mode: median_run(r) for mode, r in runs.items()}
        seq, par, liv = rows[name]["sequential"], rows[name]["default"], rows[name]["default+live"]
        same = seq["digest"] == par["digest"] == liv["digest"]
        print(f"\n== {name}: {seq['frames']} frames, {seq['instances']} instances; "
              f"default prefetch={par['prefetch']}; identical result in all modes: {same}")
        print(f"{'':<18}{'sequential':>12}{'default':>12}{'default+live':>14}")
        for key in ("fps_runs", "fps", "loop_fps", "wall_s", "first_quarter_ms", "last_quarter_ms", "peak_rss_mb",
                    "snapshots", "live_share"):
            print(f"{key:<18}{seq[key]!s:>12}{par[key]!s:>12}{liv[key]!s:>14}"
                  if key != "fps_runs" else f"{key:<18}" + "  ".join(f"{r}={row[key]}" for r, row in rows[name].items()))
        print("ms/frame per stage (wall; prefetched stages overlap the others):")
        stages = sorted(set(seq["ms_per_frame"]) | set(liv["ms_per_frame"]), key=lambda s: -seq["ms_per_frame"].get(s, 0))
        for stage in stages:
            print(f"  {stage:<16}" + "".join(f"{r['ms_per_frame'].get(stage, 0):>12}" for r in (seq, par))
                  + f"{liv['ms_per_frame'].get(stage, 0):>14}")
        print(f"speed ratio default/sequential: {par['fps'] / seq['fps']:.2f}; "
              f"live/default: {liv['fps'] / par['fps']:.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
