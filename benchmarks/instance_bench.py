"""Class-agnostic AP/AP50/AP25 of the mesh-free pipeline against its baselines, in one run.

Methods (all with the same lifting, features and refinement where they apply):
  tracker        geometric 2D segmenter + visual-spatial tracker (the pipeline's default)
  no_tracker     geometric 2D segmenter + greedy 3D-IoU merging, no tracker   (baseline a)
  cluster3d      3D-only clustering of the fused cloud (RANSAC planes + DBSCAN) (baseline b)
  oracle_tracker ground-truth 2D masks + visual-spatial tracker (tracker quality alone)
  oracle_greedy  ground-truth 2D masks + greedy merging
Suites: synthetic rooms (`ot3d synth`, seeds 0..N-1) and the real mOSD frames (if ../shared).

    python benchmarks/instance_bench.py --scenes 10 --cache /tmp/ot3d-bench [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

from ot3d_engine.baselines import cluster_baseline
from ot3d_engine.config import BackendConfig, PipelineConfig
from ot3d_engine.eval.ap import evaluate
from ot3d_engine.io import load_scan
from ot3d_engine.pipeline import run_pipeline
from ot3d_engine.synth import generate_scene

REPO = Path(__file__).resolve().parents[1]
MOSD = (REPO / ".." / "shared" / "data" / "mosd").resolve()


OVERRIDES: dict[str, dict] = {}  # section -> {option: value}, from --set
FEATURES = "color"  # feature backend for every method, from --features


def make_config(segmenter: str = "geometric", tracker: str = "visual_spatial") -> PipelineConfig:
    cfg = PipelineConfig.from_dict({k: dict(v) for k, v in OVERRIDES.items() if k != "segmenter"})
    opts = OVERRIDES.get("segmenter", {}) if segmenter == "geometric" else {}
    cfg.segmenter = BackendConfig(segmenter, dict(opts))
    cfg.features = BackendConfig(FEATURES)
    cfg.track.method = tracker
    return cfg


def pipeline(segmenter: str, tracker: str):
    return lambda scan: run_pipeline(scan, make_config(segmenter, tracker))


METHODS = {
    "tracker": pipeline("geometric", "visual_spatial"),
    "no_tracker": pipeline("geometric", "greedy_iou"),
    "cluster3d": lambda scan: cluster_baseline(scan, make_config()),
    "oracle_tracker": pipeline("oracle", "visual_spatial"),
    "oracle_greedy": pipeline("oracle", "greedy_iou"),
}


def score(scan, result) -> dict:
    ev = evaluate(scan.ground_truth, result.points, result.instance_ids,
                  {i.id: i.score for i in result.instances}, class_agnostic=True)
    return {"ap": ev.ap, "ap50": ev.ap50, "ap25": ev.ap25, "pred": len(result.instances),
            "gt": ev.counts["gt_instances"]}


def run_suite(name: str, scans, methods: list[str]) -> dict:
    per = {m: [] for m in methods}
    seconds = {m: 0.0 for m in methods}
    for label, scan in scans:
        row = []
        for m in methods:
            t0 = time.perf_counter()
            res = METHODS[m](scan)
            seconds[m] += time.perf_counter() - t0
            s = score(scan, res)
            per[m].append(s)
            row.append(f"{m}={s['ap50']:.3f}")
        print(f"  {name} {label}: AP50 " + " ".join(row), flush=True)
    summary = {}
    for m in methods:
        rows = per[m]
        summary[m] = {k: float(np.nanmean([r[k] for r in rows])) for k in ("ap", "ap50", "ap25")}
        summary[m]["scenes"] = len(rows)
        summary[m]["seconds"] = seconds[m]
    return summary


def synthetic_scans(n: int, cache: Path, frames: int):
    for seed in range(n):
        d = cache / f"synth-{seed}-{frames}"
        if not (d / "gt_classes.json").exists():
            generate_scene(d, seed=seed, frames=frames)
        yield f"seed{seed}", load_scan(d)


def mosd_scans():
    for p in sorted(MOSD.glob("test*.pcd")):
        yield p.stem, load_scan(p)


def print_table(title: str, summary: dict) -> None:
    print(f"\n{title}")
    print(f"{'method':<16}{'AP':>8}{'AP50':>8}{'AP25':>8}{'scenes':>8}{'s/scene':>9}")
    for m, s in summary.items():
        print(f"{m:<16}{s['ap']:>8.3f}{s['ap50']:>8.3f}{s['ap25']:>8.3f}{s['scenes']:>8}{s['seconds'] / max(s['scenes'], 1):>9.2f}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenes", type=int, default=10)
    ap.add_argument("--frames", type=int, default=30)
    ap.add_argument("--cache", default="/tmp/ot3d-bench")
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--no-mosd", action="store_true")
    ap.add_argument("--json")
    ap.add_argument("--set", action="append", default=[], metavar="SECTION.OPTION=VALUE",
                    help="config override for every method, e.g. refine.part_merge_feature=0.8")
    ap.add_argument("--features", default="color", help="feature backend for every method (color, embedded, dino)")
    ap.add_argument("--mosd-voxel", type=float, default=None,
                    help="voxel size for the tabletop mOSD frames (default: from the scan's scale, 1 cm)")
    args = ap.parse_args(argv)
    global FEATURES
    FEATURES = args.features
    for item in args.set:
        key, value = item.split("=", 1)
        section, option = key.split(".", 1)
        OVERRIDES.setdefault(section, {})[option] = json.loads(value) if value not in ("None", "none") else None
    methods = args.methods.split(",")
    cache = Path(args.cache)
    out = {"machine": f"{platform.machine()} {platform.processor() or ''}".strip(), "python": sys.version.split()[0],
           "date": time.strftime("%Y-%m-%d")}
    out["synthetic"] = run_suite("synthetic", synthetic_scans(args.scenes, cache, args.frames), methods)
    print_table(f"synthetic suite: {args.scenes} scenes x {args.frames} frames, class-agnostic", out["synthetic"])
    if not args.no_mosd and MOSD.is_dir():
        mosd_methods = [m for m in methods if not m.startswith("oracle")]
        if args.mosd_voxel is not None:
            OVERRIDES.setdefault("lift", {})["voxel_size"] = args.mosd_voxel
        out["mosd"] = run_suite("mosd", mosd_scans(), mosd_methods)
        print_table(f"mOSD (real Kinect tabletop frames, single view, voxel {args.mosd_voxel or 'auto'} m), "
                    "class-agnostic, objects only", out["mosd"])
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
