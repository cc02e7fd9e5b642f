"""Speed of geometry-only input (issue 13): a 1M-vertex mesh and a 5M-point cloud.

Both come from synthetic room seed 0: its scene mesh subdivided (trimesh, midpoint) to
about --mesh-vertices vertices, and --cloud-points area-uniform samples of it. Reports
file read, view planning, views rendered per second (colour + depth at the default
640x480) and the whole `ot3d segment` run (read, plan, render, pipeline, labels back).

    python benchmarks/geometry_speed.py --cache /tmp/ot3d-geo-speed [--json out.json]
    python benchmarks/geometry_speed.py --inputs cloud --repeat 3   # the 5M-point cloud only, median of 3
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import trimesh

from ot3d_engine.io.geometry_files import read_geometry
from ot3d_engine.io.ply import read_ply, write_ply
from ot3d_engine.render.virtual_scan import geometry_scan
from ot3d_engine.synth import generate_scene

sys.path.insert(0, str(Path(__file__).resolve().parent))
from geometry_bench import sample_cloud, strip_mesh  # noqa: E402


def big_mesh(src: Path, out: Path, vertices: int) -> Path:
    if not out.exists():
        props, faces = read_ply(src)
        v = np.stack([props[k] for k in "xyz"], 1).astype(np.float64)
        c = np.stack([props[k] for k in ("red", "green", "blue")], 1)
        m = trimesh.Trimesh(v, faces, vertex_colors=c, process=False)
        while 4 * len(m.vertices) <= vertices:
            m = m.subdivide()
        if len(m.vertices) < vertices:  # part of the faces once more, to land near the target
            rng = np.random.default_rng(0)
            k = min(len(m.faces), int((vertices - len(m.vertices)) / 1.5))
            m = m.subdivide(face_index=rng.choice(len(m.faces), size=k, replace=False))
        p = np.asarray(m.vertices, np.float32)
        col = np.asarray(m.visual.vertex_colors)[:, :3].astype(np.uint8)
        write_ply(out, {"x": p[:, 0], "y": p[:, 1], "z": p[:, 2], "red": col[:, 0], "green": col[:, 1],
                        "blue": col[:, 2]}, np.asarray(m.faces))
    return out


def measure(path: Path, seg_out: Path, render_views: int) -> dict:
    t0 = time.perf_counter()
    geo = read_geometry(path)
    t_read = time.perf_counter() - t0
    t0 = time.perf_counter()
    scan = geometry_scan(geo)
    t_plan = time.perf_counter() - t0
    n = min(render_views, len(scan))
    t0 = time.perf_counter()
    for i in range(n):
        scan.frame(i)
    t_render = time.perf_counter() - t0
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "ot3d_engine", "segment", str(path), "--out", str(seg_out)],
                       capture_output=True, text=True)
    t_all = time.perf_counter() - t0
    if r.returncode:
        raise SystemExit(r.stderr)
    summary = next((ln for ln in r.stdout.splitlines() if "instances from" in ln), "")
    return {"file": path.name, "points": len(geo.points), "faces": 0 if geo.faces is None else len(geo.faces),
            "read_s": t_read, "plan_s": t_plan, "views": len(scan), "views_per_s": n / t_render,
            "segment_wall_s": t_all, "summary": summary}


def median_run(runs: list[dict]) -> dict:
    """The run with the median whole-run time, with every run's times kept."""
    runs = sorted(runs, key=lambda r: r["segment_wall_s"])
    row = dict(runs[len(runs) // 2])
    row["runs_wall_s"] = [r["segment_wall_s"] for r in runs]
    return row


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cache", default="/tmp/ot3d-geo-speed")
    ap.add_argument("--mesh-vertices", type=int, default=1_000_000)
    ap.add_argument("--cloud-points", type=int, default=5_000_000)
    ap.add_argument("--render-views", type=int, default=10)
    ap.add_argument("--inputs", default="mesh,cloud", help="comma-separated subset of mesh,cloud")
    ap.add_argument("--repeat", type=int, default=1, help="runs per input; the median is reported (shared CPU)")
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    inputs = args.inputs.split(",")
    if not inputs or set(inputs) - {"mesh", "cloud"}:
        ap.error(f"--inputs must be a comma-separated subset of mesh,cloud (got {args.inputs!r})")
    if args.repeat < 1:
        ap.error(f"--repeat must be at least 1 (got {args.repeat})")
    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    room = cache / "synth-0"
    if not (room / "gt_classes.json").exists():
        generate_scene(room, seed=0, frames=2)
    small = strip_mesh(room, cache / "mesh-small.ply")
    files = {}
    if "mesh" in inputs:
        files["mesh"] = big_mesh(small, cache / "mesh-1m.ply", args.mesh_vertices)
    if "cloud" in inputs:
        files["cloud"] = sample_cloud(small, cache / "cloud-5m.ply", args.cloud_points, 0)
    rows = [median_run([measure(path, cache / f"seg-{name}", args.render_views) for _ in range(args.repeat)])
            for name, path in files.items()]
    print(f"{'input':<16}{'points':>10}{'faces':>10}{'read s':>8}{'plan s':>8}{'views':>6}{'views/s':>9}{'run s':>8}")
    for r in rows:
        print(f"{r['file']:<16}{r['points']:>10}{r['faces']:>10}{r['read_s']:>8.1f}{r['plan_s']:>8.1f}{r['views']:>6}"
              f"{r['views_per_s']:>9.2f}{r['segment_wall_s']:>8.1f}")
        print(f"  {r['summary']}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
