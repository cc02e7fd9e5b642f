"""Scans per hour of headless batch annotation: local worker processes vs a local Ray cluster.

    .venv/bin/python benchmarks/batch_bench.py [--scans 8] [--frames 20] [--size 320x240]
                                              [--modes workers1 workers2 ray2] [--repeats 1] [--record]

Generates synthetic scans (ot3d synth), then runs the real batch (`python -m headless`: a
child process with the bpy module per scan, the engine as its subprocess, .blend + labels
+ done.json per scan) once per mode into a fresh output folder. The rate is measured on
the whole command (Python and Ray start-up included), so it is what a user gets; with
--repeats the modes run in interleaved rounds and the best round of each counts (the
machine is shared, so slow rounds are other people's load). Every mode must annotate
every scan with the same instance counts. --record appends the table
to benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ot3d_engine.synth import generate_scene  # noqa: E402

MODES = {
    "workers1": ["--workers", "1"],
    "workers2": ["--workers", "2"],
    "ray2": ["--ray", "local", "--workers", "2"],
}


def run_mode(name: str, scans: list[Path], out: Path, env: dict) -> dict:
    cmd = [sys.executable, "-m", "headless", *map(str, scans), "--out", str(out), *MODES[name]]
    t0 = time.perf_counter()
    res = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if res.returncode != 0:
        raise SystemExit(f"{name}: batch failed ({res.returncode})\n{res.stdout}\n{res.stderr}")
    doc = json.loads((out / "batch_report.json").read_text())
    per_scan = [s["seconds"] for s in doc["scans"]]
    return {"mode": name, "scans": doc["ok"], "wall_s": wall, "scans_per_hour": 3600.0 * doc["ok"] / wall,
            "mean_scan_s": sum(per_scan) / len(per_scan),
            "instances": {s["name"]: s["instances"] for s in doc["scans"]}}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scans", type=int, default=8)
    p.add_argument("--frames", type=int, default=20)
    p.add_argument("--size", default="320x240", help="WxH of the synthetic frames")
    p.add_argument("--modes", nargs="+", default=list(MODES), choices=list(MODES))
    p.add_argument("--repeats", type=int, default=1, help="interleaved rounds; the best of each mode counts")
    p.add_argument("--record", action="store_true", help="append the results to benchmarks/RESULTS.md")
    p.add_argument("--keep", action="store_true", help="keep the scans and outputs (printed path)")
    args = p.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="ot3d-batch-bench-"))
    try:
        return bench(args, tmp)
    finally:
        if args.keep:
            print(f"scans and outputs kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def bench(args, tmp: Path) -> int:
    width, height = (int(v) for v in args.size.lower().split("x"))
    env = dict(os.environ)
    for var in ("BLENDER_USER_CONFIG", "BLENDER_USER_SCRIPTS", "BLENDER_USER_EXTENSIONS", "BLENDER_USER_DATAFILES"):
        env[var] = str(tmp / "blender-user" / var.lower())  # never touch the real Blender config
    t0 = time.perf_counter()
    scans = [generate_scene(tmp / "scans" / f"room{i:02d}", seed=100 + i, frames=args.frames, width=width,
                            height=height) for i in range(args.scans)]
    print(f"{args.scans} synthetic scans of {args.frames} frames at {width}x{height} "
          f"generated in {time.perf_counter() - t0:.1f} s")

    load_before = os.getloadavg()[0]
    runs: dict[str, list[dict]] = {name: [] for name in args.modes}
    for k in range(max(args.repeats, 1)):
        for name in args.modes:
            row = run_mode(name, scans, tmp / f"out-{name}-{k}", env)
            runs[name].append(row)
            print(f"round {k + 1}: {name:<9} {row['wall_s']:7.1f} s wall  {row['scans_per_hour']:7.0f} scans/hour  "
                  f"{row['mean_scan_s']:.1f} s per scan", flush=True)
    counts = {json.dumps(r["instances"], sort_keys=True) for rs in runs.values() for r in rs}
    if len(counts) != 1:
        raise SystemExit(f"runs disagree on instance counts: {sorted(counts)}")

    load = os.getloadavg()[0]
    table = ["| mode | scans | best wall s | scans/hour | mean s/scan (own process) | all rounds, s |",
             "| --- | ---: | ---: | ---: | ---: | --- |"]
    for name, rs in runs.items():
        r = min(rs, key=lambda row: row["wall_s"])
        rounds = ", ".join(f"{x['wall_s']:.1f}" for x in rs)
        table.append(f"| {name} | {r['scans']} | {r['wall_s']:.1f} | {r['scans_per_hour']:.0f} | "
                     f"{r['mean_scan_s']:.1f} | {rounds} |")
    text = "\n".join(table)
    print(text)
    if args.record:
        section = (f"\n## Headless batch annotation: local workers vs Ray local (issue 5)\n\n"
                   f"{args.scans} synthetic scans, {args.frames} frames at {width}x{height}; each scan: import, "
                   f"segment (engine subprocess), materialize, export, save .blend, done.json. "
                   f"{os.cpu_count()} CPUs ({platform.processor() or platform.machine()}), load average "
                   f"{load_before:.1f} before and {load:.1f} after (the machine is shared); best of "
                   f"{max(args.repeats, 1)} interleaved round(s); {time.strftime('%Y-%m-%d')}. Wall time is the "
                   f"whole command, Python/bpy/Ray start-up included; instance counts were identical in every "
                   f"mode.\n\n{text}\n")
        results = REPO / "benchmarks" / "RESULTS.md"
        with open(results, "a", encoding="utf-8") as f:
            if results.stat().st_size == 0:
                f.write("# Benchmark results\n")
            f.write(section)
        print(f"appended to {results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
