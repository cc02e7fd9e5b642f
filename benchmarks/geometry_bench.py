"""Segmenting geometry alone vs the RGB-D path, on the same synthetic rooms (issue 13).

Each room of the synthetic suite (`ot3d synth`, seeds 0..N-1, 30 frames) is segmented three
ways with the default pipeline (geometric segmenter, colour features, visual-spatial tracker):
  rgbd   the rendered RGB-D frames (the normal path; the reference)
  mesh   only scene_mesh.ply with its vertex colours (instance_id/class_id stripped)
  cloud  only a coloured point cloud sampled from that mesh (area-uniform, --cloud-points)
All three are scored against the same ground-truth points (class-agnostic ScanNet AP), and
the ratio mesh/rgbd and cloud/rgbd is reported per room and on average.

    python benchmarks/geometry_bench.py --scenes 10 --cache /tmp/ot3d-geo-bench [--json out.json]
    python benchmarks/geometry_bench.py --paths cloud,rgbd   # only some of the three paths
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from ot3d_engine.config import BackendConfig, PipelineConfig
from ot3d_engine.eval.ap import evaluate
from ot3d_engine.io import load_scan
from ot3d_engine.io.ply import read_ply, write_ply
from ot3d_engine.pipeline import run_pipeline
from ot3d_engine.synth import generate_scene


def config() -> PipelineConfig:
    cfg = PipelineConfig()
    cfg.segmenter = BackendConfig("geometric")
    cfg.features = BackendConfig("color")
    return cfg


def strip_mesh(room: Path, out: Path) -> Path:
    """scene_mesh.ply without its ground-truth attributes: positions, colours, faces."""
    if not out.exists():
        props, faces = read_ply(room / "scene_mesh.ply")
        write_ply(out, {k: props[k] for k in ("x", "y", "z", "red", "green", "blue")}, faces)
    return out


def sample_cloud(mesh_file: Path, out: Path, count: int, seed: int) -> Path:
    """Area-uniform samples of the mesh, colour interpolated from its vertices."""
    if not out.exists():
        props, f = read_ply(mesh_file)
        v = np.stack([props[k] for k in "xyz"], 1).astype(np.float64)
        c = np.stack([props[k] for k in ("red", "green", "blue")], 1).astype(np.float64)
        rng = np.random.default_rng(seed)
        area = 0.5 * np.linalg.norm(np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]]), axis=1)
        tri = rng.choice(len(f), size=count, p=area / area.sum())
        s, r2 = np.sqrt(rng.random(count)), rng.random(count)
        w = np.stack([1 - s, s * (1 - r2), s * r2], 1)
        p = np.einsum("nk,nkc->nc", w, v[f[tri]]).astype(np.float32)
        col = np.clip(np.round(np.einsum("nk,nkc->nc", w, c[f[tri]])), 0, 255).astype(np.uint8)
        write_ply(out, {"x": p[:, 0], "y": p[:, 1], "z": p[:, 2], "red": col[:, 0], "green": col[:, 1],
                        "blue": col[:, 2]})
    return out


def score(gt, result) -> dict:
    ev = evaluate(gt, result.points, result.instance_ids, {i.id: i.score for i in result.instances},
                  class_agnostic=True)
    return {"ap": ev.ap, "ap50": ev.ap50, "ap25": ev.ap25, "pred": len(result.instances)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenes", type=int, default=10)
    ap.add_argument("--frames", type=int, default=30)
    ap.add_argument("--cloud-points", type=int, default=400_000)
    ap.add_argument("--cache", default="/tmp/ot3d-geo-bench")
    ap.add_argument("--paths", default="rgbd,mesh,cloud", help="comma-separated subset of rgbd,mesh,cloud")
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    paths = [p for p in ("rgbd", "mesh", "cloud") if p in args.paths.split(",")]
    if "rgbd" not in paths or len(paths) < 2 or set(args.paths.split(",")) - set(paths):
        ap.error(f"--paths must name rgbd and at least one of mesh, cloud (got {args.paths!r})")
    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    rows = []
    for seed in range(args.scenes):
        room = cache / f"synth-{seed}-{args.frames}"
        if not (room / "gt_classes.json").exists():
            generate_scene(room, seed=seed, frames=args.frames)
        rgbd = load_scan(room)
        gt = rgbd.ground_truth
        mesh_file = strip_mesh(room, cache / f"mesh-{seed}.ply")
        cloud_file = sample_cloud(mesh_file, cache / f"cloud-{seed}.ply", args.cloud_points, seed)
        row = {"seed": seed}
        files = {"mesh": mesh_file, "cloud": cloud_file}
        for name in paths:
            scan = rgbd if name == "rgbd" else load_scan(files[name])
            t0 = time.perf_counter()
            res = run_pipeline(scan, config())
            row[name] = score(gt, res) | {"seconds": time.perf_counter() - t0, "views": len(scan)}
            if "virtual" in scan.meta:
                row[name]["coverage_1"] = scan.meta["virtual"]["coverage_1"]
                row[name]["coverage_2"] = scan.meta["virtual"]["coverage_2"]
        rows.append(row)
        r = row["rgbd"]["ap50"]
        line = "".join(f"  {n} {row[n]['ap50']:.3f} ({_ratio(row[n]['ap50'], r)}, coverage "
                       f"{row[n]['coverage_1']:.2f}/{row[n]['coverage_2']:.2f})" for n in paths if n != "rgbd")
        print(f"seed{seed}: AP50 rgbd {r:.3f}{line}", flush=True)
    print(f"\n{'path':<8}{'AP':>8}{'AP50':>8}{'AP25':>8}{'AP50/rgbd':>11}{'views':>7}{'s/room':>8}")
    summary = {}
    for name in paths:
        m = {k: float(np.mean([r[name][k] for r in rows])) for k in ("ap", "ap50", "ap25", "seconds", "views")}
        summary[name] = m
        ratio = m["ap50"] / max(summary["rgbd"]["ap50"], 1e-9)
        print(f"{name:<8}{m['ap']:>8.3f}{m['ap50']:>8.3f}{m['ap25']:>8.3f}{ratio:>11.3f}{m['views']:>7.0f}"
              f"{m['seconds']:>8.1f}")
    worst = {n: min(r[n]["ap50"] / max(r["rgbd"]["ap50"], 1e-9) for r in rows) for n in paths if n != "rgbd"}
    print("worst room AP50 ratio: " + ", ".join(f"{n} {w:.3f}" for n, w in worst.items()))
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows, "summary": summary, "worst_ratio": worst}, indent=1))
    return 0


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b > 0 else "n/a"


if __name__ == "__main__":
    sys.exit(main())
