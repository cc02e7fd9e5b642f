"""CPU cost of lift + track + refine per 640x480 frame on ONE core (the 2D segmenter and
feature extraction are timed separately and excluded), and peak memory on a long scene.

    python benchmarks/cpu_cost.py --frames 300 --cache /tmp/ot3d-bench
"""

from __future__ import annotations

import os

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[var] = "1"  # one core: set before numpy loads its BLAS

import argparse  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from ot3d_engine.config import BackendConfig, PipelineConfig  # noqa: E402
from ot3d_engine.io import load_scan  # noqa: E402
from ot3d_engine.pipeline import run_pipeline  # noqa: E402
from ot3d_engine.synth import generate_scene  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--segmenter", default="geometric")
    ap.add_argument("--cache", default="/tmp/ot3d-bench")
    args = ap.parse_args(argv)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    d = Path(args.cache) / f"synth-{args.seed}-{args.frames}"
    if not (d / "gt_classes.json").exists():
        print(f"generating {args.frames}-frame scene in {d} ...", flush=True)
        generate_scene(d, seed=args.seed, frames=args.frames)
    scan = load_scan(d)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    result = run_pipeline(scan, PipelineConfig(segmenter=BackendConfig(args.segmenter)))
    wall = time.perf_counter() - t0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    n = len(scan)
    t = result.timings
    core = t.get("lift", 0) + t.get("track", 0) + t.get("refine", 0)
    f0 = scan.frame(0)
    print(f"scene: {n} frames {f0.width}x{f0.height}, {result.meta['masks']} masks "
          f"({result.meta['masks'] / n:.1f}/frame), {result.meta['tracks']} tracks, {len(result.instances)} instances")
    cpu = result.meta["cpu_seconds"]
    print(f"{'stage':<12}{'wall ms/frame':>15}{'cpu ms/frame':>14}")
    for stage in ("read", "segment2d", "features", "lift", "track", "refine"):
        print(f"{stage:<12}{1000 * t.get(stage, 0) / n:>15.2f}{1000 * cpu.get(stage, 0) / n:>14.2f}")
    core_cpu = cpu.get("lift", 0) + cpu.get("track", 0) + cpu.get("refine", 0)
    print(f"lift+track+refine: {1000 * core / n:.2f} ms/frame wall, {1000 * core_cpu / n:.2f} ms/frame CPU "
          "(target <= 30, one core)")
    print(f"wall {wall:.1f} s; peak RSS {peak_mb:.0f} MB (process, {rss0 / 1024:.0f} MB before the run)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
