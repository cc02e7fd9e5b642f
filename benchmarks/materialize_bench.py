"""Time materializing a segmentation in Blender (bpy module): 100k and 1M points, 200 instances.

    .venv/bin/python benchmarks/materialize_bench.py [--points 100000 1000000] [--instances 200]

Measures the add-on's real code path (addon.scene.materialize.materialize: full-scene object with
colour and `instance_id` attributes, one object per instance with its points and
`point_index`, the point display modifier), plus reading a scene folder and exporting it.
The target from the issue: 1M points in <= 2 s.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
_TMP = tempfile.mkdtemp(prefix="ot3d-bench-")
for var in ("BLENDER_USER_CONFIG", "BLENDER_USER_SCRIPTS", "BLENDER_USER_EXTENSIONS", "BLENDER_USER_DATAFILES"):
    os.environ[var] = os.path.join(_TMP, var.lower())  # never touch the real Blender config

import bpy  # noqa: E402

sys.path.insert(0, str(REPO))
import addon  # noqa: E402
from addon.scene import export, materialize, segmentation  # noqa: E402


def synthetic(n: int, k: int, seed: int = 0) -> segmentation.SceneData:
    """k blobs of uneven size plus 10 % unassigned points: like a room's instances."""
    rng = np.random.default_rng(seed)
    sizes = rng.pareto(1.5, k) + 1
    ids = rng.choice(np.arange(k + 1), size=n, p=np.r_[0.1, 0.9 * sizes / sizes.sum()]).astype(np.int32)
    centres = rng.uniform(-4, 4, (k + 1, 3))
    points = (centres[ids] + rng.normal(0, 0.3, (n, 3))).astype(np.float32)
    colors = rng.integers(0, 256, (n, 3), dtype=np.uint8)
    instances = [{"id": i, "label": f"class{i % 20}", "score": float(rng.uniform(0.3, 1))} for i in range(1, k + 1)]
    return segmentation.SceneData(points, colors, ids, instances, source="benchmark")


def best_of(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def materialize_and_evaluate(scene, data) -> tuple[float, float]:
    """(materialize, first depsgraph evaluation): the second is what the viewport pays
    once for the points modifier, outside the add-on's own code."""
    t0 = time.perf_counter()
    materialize.materialize(scene, data)
    t1 = time.perf_counter()
    bpy.context.view_layer.update()
    return t1 - t0, time.perf_counter() - t1


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--instances", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    args = parser.parse_args(argv)

    bpy.ops.wm.read_factory_settings(use_empty=True)
    addon.register()
    scene = bpy.context.scene
    rows = []
    for n in args.points:
        data = synthetic(n, args.instances)
        runs = [materialize_and_evaluate(scene, data) for _ in range(args.repeats)]
        t_mat, t_first = min(r[0] for r in runs), runs[0][0]
        t_eval = min(r[1] for r in runs)
        out = Path(_TMP) / f"export-{n}"
        t_snap = best_of(lambda: segmentation.snapshot(scene), args.repeats)
        t_scene = best_of(lambda: export.write_scene_folder(segmentation.snapshot(scene), out), 1)
        t_read = best_of(lambda: materialize.load_scene_folder(out), args.repeats)
        objs = segmentation.instance_objects(scene)
        assert len(objs) == args.instances
        assert sum(o["point_count"] for o in objs.values()) == int((data.instance_ids > 0).sum())
        row = {"points": n, "instances": args.instances, "materialize_s": round(t_mat, 3),
               "materialize_first_s": round(t_first, 3), "depsgraph_eval_s": round(t_eval, 3),
               "snapshot_s": round(t_snap, 3), "write_scene_s": round(t_scene, 3), "read_scene_s": round(t_read, 3)}
        rows.append(row)
        print(f"{n:>9,} points, {args.instances} instances: materialize {t_mat:.3f} s (first run {t_first:.3f} s) "
              f"| first depsgraph evaluation {t_eval:.3f} s | read scene folder "
              f"{t_read:.3f} s | snapshot {t_snap:.3f} s | write scene folder {t_scene:.3f} s", flush=True)
    addon.unregister()
    if args.json:
        args.json.write_text(json.dumps({"bpy": bpy.app.version_string, "results": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
