"""Superpoint speed on a ~1M-vertex mesh, and what superpoint refinement does to AP.

1. Timing: a scan-like mesh (a floor, boxes and spheres at 1 cm vertex spacing with 2 mm
   of noise, so every weight is distinct as in a real reconstruction) is segmented with
   the segmentator's defaults (kThresh 0.01, segMinVerts 20). The target is <= 5 s on one
   core for 1M vertices; numpy runs single-threaded here.
2. With --synth N: class-agnostic AP/AP50/AP25 of the default pipeline on synthetic rooms
   (seeds 0..N-1) before and after refine_scene_result, scored on the pipeline's cloud
   (points) and on the mesh vertices (the ScanNet per-vertex format).

    python benchmarks/superpoints_bench.py [--vertices 1000000] [--repeat 3]
                                           [--synth 10 --frames 30 --cache /tmp/ot3d-bench] [--json out.json]
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from ot3d_engine.refine.superpoints import compact_labels, mesh_graph, segment_graph  # noqa: E402


def grid(nx: int, ny: int, spacing: float, origin=(0.0, 0.0, 0.0)):
    x, y = np.meshgrid(np.arange(nx) * spacing, np.arange(ny) * spacing, indexing="ij")
    v = np.stack([x.ravel(), y.ravel(), np.zeros(nx * ny)], 1) + origin
    i = (np.arange(nx - 1)[:, None] * ny + np.arange(ny - 1)[None, :]).ravel()
    f = np.concatenate([np.stack([i, i + ny, i + 1], 1), np.stack([i + 1, i + ny, i + ny + 1], 1)])
    return v, f


def scan_like_mesh(vertices: int, noise: float = 0.002, seed: int = 0):
    """3 boxes + 2 spheres on a floor grid that brings the total to `vertices`, all about
    1 cm apart, with Gaussian noise."""
    import open3d as o3d

    parts = []
    for corner in ((1.0, 1.0, 0.0), (3.5, 2.0, 0.0), (2.0, 5.0, 0.0)):
        box = o3d.geometry.TriangleMesh.create_box(0.8, 0.6, 0.7).subdivide_midpoint(5)
        parts.append((np.asarray(box.vertices) + corner, np.asarray(box.triangles)))
    for centre, radius in (((6.0, 2.0, 0.5), 0.5), ((5.0, 6.0, 0.3), 0.3)):
        ico = o3d.geometry.TriangleMesh.create_icosahedron().subdivide_midpoint(6 if radius > 0.4 else 5)
        v = np.asarray(ico.vertices)
        parts.append((radius * v / np.linalg.norm(v, axis=1, keepdims=True) + centre, np.asarray(ico.triangles)))
    side = int(np.ceil(np.sqrt(max(vertices - sum(len(v) for v, _ in parts), 4))))
    parts.insert(0, grid(side, side, 0.01))
    verts, faces, offset = [], [], 0
    for v, f in parts:
        verts.append(v)
        faces.append(f + offset)
        offset += len(v)
    v = np.concatenate(verts)
    v += np.random.default_rng(seed).normal(0.0, noise, v.shape)
    return v, np.concatenate(faces)


def time_superpoints(vertices: int, repeat: int) -> dict:
    v, f = scan_like_mesh(vertices)
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        a, b, w = mesh_graph(v, f)
        t1 = time.perf_counter()
        labels = compact_labels(segment_graph(len(v), a, b, w, 0.01, 20))
        t2 = time.perf_counter()
        runs.append({"graph_s": t1 - t0, "segment_s": t2 - t1, "total_s": t2 - t0})
    best = min(runs, key=lambda r: r["total_s"])
    return {"vertices": int(len(v)), "faces": int(len(f)), "edges": int(len(a)),
            "segments": int(labels.max() + 1), "first_run": runs[0], "best": best, "runs": len(runs)}


def ap_with_and_without(scenes: int, cache: Path, frames: int = 30) -> list[dict]:
    from ot3d_engine.eval.ap import evaluate
    from ot3d_engine.io import load_scan
    from ot3d_engine.io.mesh import load_mesh
    from ot3d_engine.pipeline import run_pipeline
    from ot3d_engine.refine.superpoint_refine import refine_scene_result
    from ot3d_engine.synth import generate_scene

    rows = []
    for seed in range(scenes):
        path = cache / f"synth-{seed}-{frames}"  # the same scenes as instance_bench.py
        if not (path / "scene_mesh.ply").is_file():
            generate_scene(path, seed=seed, frames=frames)
        scan = load_scan(path)
        result = run_pipeline(scan)
        mesh = load_mesh(scan.mesh_path, require_faces=True)
        t0 = time.perf_counter()
        refined, per_vertex = refine_scene_result(result, mesh)
        seconds = time.perf_counter() - t0
        gt = scan.ground_truth
        scored = {
            "before": evaluate(gt, result.points, result.instance_ids, {i.id: i.score for i in result.instances}),
            "after_points": evaluate(gt, refined.points, refined.instance_ids,
                                     {i.id: i.score for i in refined.instances}),
            "after_vertices": evaluate(gt, mesh.vertices, per_vertex.vertex_ids, per_vertex.scores),
        }
        row = {"seed": seed, "mesh_vertices": int(len(mesh.vertices)), "refine_s": seconds,
               "superpoints": refined.meta["superpoints"]["count"]}
        for name, ev in scored.items():
            row[name] = {"ap": ev.ap, "ap50": ev.ap50, "ap25": ev.ap25}
        rows.append(row)
        print(f"  seed {seed}: " + "  ".join(
            f"{name} {row[name]['ap']:.3f}/{row[name]['ap50']:.3f}/{row[name]['ap25']:.3f}" for name in scored)
            + f"  ({row['superpoints']} superpoints, {seconds:.2f} s)", flush=True)
    return rows


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vertices", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--synth", type=int, default=0, help="synthetic rooms for the AP comparison (0 = skip)")
    ap.add_argument("--frames", type=int, default=30, help="frames per synthetic room (30: the instance_bench suite)")
    ap.add_argument("--cache", type=Path, default=Path("/tmp/ot3d-superpoints-bench"))
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)

    report = {"machine": platform.processor() or platform.machine(), "python": platform.python_version(),
              "numpy": np.__version__}
    timing = time_superpoints(args.vertices, args.repeat)
    report["timing"] = timing
    print(f"superpoints: {timing['vertices']} vertices, {timing['faces']} faces, {timing['segments']} segments")
    for name in ("first_run", "best"):
        r = timing[name]
        print(f"  {name:9s}: {r['total_s']:.2f} s (graph {r['graph_s']:.2f} s, segmentation {r['segment_s']:.2f} s)")
    if args.synth:
        print(f"AP/AP50/AP25 on {args.synth} synthetic rooms (before | after, on points | after, on mesh vertices):")
        rows = ap_with_and_without(args.synth, args.cache, args.frames)
        mean = {name: {m: float(np.mean([r[name][m] for r in rows])) for m in ("ap", "ap50", "ap25")}
                for name in ("before", "after_points", "after_vertices")}
        report["synthetic"] = {"rooms": rows, "mean": mean}
        for name, m in mean.items():
            print(f"  mean {name:15s} AP {m['ap']:.3f}  AP50 {m['ap50']:.3f}  AP25 {m['ap25']:.3f}")
    if args.json:
        from ot3d_engine.io.atomic import write_text_atomic

        write_text_atomic(args.json, json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
