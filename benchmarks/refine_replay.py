"""Iterate on refinement (instance scoring, fragments, part joining) in seconds, not hours.

Refinement is the last stage: everything before it (rendering, 2D masks, lifting, tracking)
does not change when only refinement changes. `capture` runs the pipeline once per case and
pickles refinement's inputs (tracks, scene map, depth views, similarity calibration) with the
case's ground truth; `replay` re-runs only refinement on them with the current code (and
optional RefineConfig overrides) and scores AP50 the way the benchmarks do.

Cases: the synthetic suite as geometry_bench.py runs it (rgbd / mesh / cloud per seed), mOSD
frames through the default-flags command line as scale_bench.py runs them, and mOSD frames
as unorganized clouds as geometry_real.py runs them.

    python benchmarks/refine_replay.py capture --cache /tmp/ot3d-refine [--sets synth,mosd,mosdcloud]
    python benchmarks/refine_replay.py replay  --cache /tmp/ot3d-refine [--set refine.min_track_ratio=0.4]
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import io
import json
import pickle
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np

import ot3d_engine.pipeline as pipeline_module
from ot3d_engine.config import RefineConfig
from ot3d_engine.eval.ap import evaluate
from ot3d_engine.eval.files import load_ground_truth
from ot3d_engine.pipeline import assemble
from ot3d_engine.refine import instances as refine_module

sys.path.insert(0, str(Path(__file__).resolve().parent))
import geometry_bench  # noqa: E402
import geometry_real  # noqa: E402
import scale_bench  # noqa: E402

REAL_REFINE = refine_module.refine_tracks


@contextlib.contextmanager
def capturing(target: Path):
    """Pickle refine_tracks' inputs (before refinement mutates the tracks) to `target`."""

    def wrapper(tracks, scene, cfg, views=None, voxel_size=0.03, similarity=None):
        state = {"tracks": tracks, "scene": scene, "cfg": cfg, "views": views, "voxel_size": voxel_size,
                 "similarity": similarity}
        target.write_bytes(pickle.dumps(copy.deepcopy(state), protocol=pickle.HIGHEST_PROTOCOL))
        return REAL_REFINE(tracks, scene, cfg, views, voxel_size, similarity=similarity)

    pipeline_module.refine_tracks = wrapper
    try:
        yield
    finally:
        pipeline_module.refine_tracks = REAL_REFINE


def capture_synth(cache: Path, seeds, frames: int, cloud_points: int) -> None:
    from ot3d_engine.io import load_scan
    from ot3d_engine.synth import generate_scene

    for seed in seeds:
        room = cache / f"synth-{seed}-{frames}"
        if not (room / "gt_classes.json").exists():
            generate_scene(room, seed=seed, frames=frames)
        rgbd = load_scan(room)
        mesh_file = geometry_bench.strip_mesh(room, cache / f"mesh-{seed}.ply")
        cloud_file = geometry_bench.sample_cloud(mesh_file, cache / f"cloud-{seed}.ply", cloud_points, seed)
        for name, scan in (("rgbd", rgbd), ("mesh", load_scan(mesh_file)), ("cloud", load_scan(cloud_file))):
            case = cache / "cases" / f"synth-{name}-{seed}.pkl"
            if case.exists():
                continue
            state = cache / "state.tmp"
            with capturing(state):
                res = pipeline_module.run_pipeline(scan, geometry_bench.config())
            _save_case(case, state, rgbd.ground_truth, {"radius": 0.05}, geometry_bench.score(rgbd.ground_truth, res))


def capture_mosd(cache: Path, names: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            pcd = scale_bench.MOSD / f"{name}.pcd"
            case = cache / "cases" / f"mosd-{Path(name).name}.pkl"
            if case.exists():
                continue
            state = cache / "state.tmp"
            with capturing(state):
                ref = scale_bench.score(pcd, Path(tmp), None)
            _save_case(case, state, load_ground_truth(pcd), {"radius": 0.05, "min_region_size": 100}, ref)


def capture_mosd_cloud(cache: Path, names: list[str]) -> None:
    from ot3d_engine.io import load_scan

    out = cache / "mosd-ply"
    out.mkdir(parents=True, exist_ok=True)
    for name in names:
        case = cache / "cases" / f"mosdcloud-{name}.pkl"
        if case.exists():
            continue
        pcd = geometry_real.DATA / "mosd" / f"{name}.pcd"
        rgbd = load_scan(pcd)
        frame = rgbd.frame(0)
        v, u = np.nonzero(frame.valid_depth())
        z = frame.depth[v, u]
        K = frame.intrinsics
        pts = np.stack([(u - K[0, 2]) * z / K[0, 0], (v - K[1, 2]) * z / K[1, 1], z], 1).astype(np.float32)
        ply = geometry_real.save_cloud(out / f"mosd-{name}.ply", pts, frame.color[v, u])
        state = cache / "state.tmp"
        with capturing(state):
            res = pipeline_module.run_pipeline(load_scan(ply), geometry_real.config(0.01))
        _save_case(case, state, rgbd.ground_truth, {"radius": 0.05}, geometry_real.ap(rgbd.ground_truth, res))


def _save_case(case: Path, state: Path, gt, eval_args: dict, reference: dict) -> None:
    case.parent.mkdir(parents=True, exist_ok=True)
    data = pickle.loads(state.read_bytes())
    data |= {"gt": gt, "eval_args": eval_args, "reference": reference}
    case.write_bytes(pickle.dumps(data, protocol=pickle.HIGHEST_PROTOCOL))
    state.unlink()
    print(f"{case.stem}: AP50 {reference['ap50']:.3f}", flush=True)


def replay_case(data: dict, overrides: dict, detail: bool = False) -> dict:
    cfg = copy.deepcopy(data["cfg"])
    for k, v in overrides.items():
        setattr(cfg, k, v)
    tracks = copy.deepcopy(data["tracks"])
    owner, kept = refine_module.refine_tracks(tracks, data["scene"], cfg, data["views"], data["voxel_size"],
                                              similarity=data["similarity"])
    res = assemble(data["scene"], owner, kept, data["voxel_size"])
    ev = evaluate(data["gt"], res.points, res.instance_ids, {i.id: i.score for i in res.instances},
                  class_agnostic=True, **data["eval_args"])
    out = {"ap50": ev.ap50, "ap": ev.ap, "pred": len(res.instances)}
    if detail:
        out["ranking"] = _ranking(data["gt"], res)
    return out


def _ranking(gt, res) -> list[tuple]:
    """(score, points, observations, best IoU with a GT instance, that GT id) per prediction,
    best score first; IoU on the GT points as the evaluation measures it."""
    from ot3d_engine.eval.transfer import transfer_instance_ids

    on_gt = transfer_instance_ids(gt.points, res.points, res.instance_ids, 0.05)
    gt_inst = np.asarray(gt.instance).reshape(-1)
    rows = []
    for inst in res.instances:
        mine = on_gt == inst.id
        best = (0.0, 0)
        for g in np.unique(gt_inst[mine]):
            if g == 0:
                continue
            theirs = gt_inst == g
            inter = np.count_nonzero(mine & theirs)
            best = max(best, (inter / np.count_nonzero(mine | theirs), int(g)))
        rows.append((inst.score, int(np.count_nonzero(mine)), inst.observations, best[0], best[1]))
    return sorted(rows, key=lambda r: -r[0])


def parse_overrides(items: list[str]) -> dict:
    out = {}
    fields = RefineConfig.__dataclass_fields__
    for item in items:
        key, value = item.split("=", 1)
        key = key.removeprefix("refine.")
        if key not in fields:
            raise SystemExit(f"unknown refine option {key}")
        out[key] = None if value == "none" else json.loads(value)
    return out


def summarise(results: dict[str, dict]) -> dict:
    """Mean ratios and worst room (NaN where --only left a path out), mOSD means."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return _summarise(results)


def _summarise(results: dict[str, dict]) -> dict:
    s = {}
    seeds = sorted({int(k.split("-")[2]) for k in results if k.startswith("synth-")})
    if seeds:
        per = {p: [results.get(f"synth-{p}-{k}", {}).get("ap50", np.nan) for k in seeds] for p in ("rgbd", "mesh", "cloud")}
        r = np.array(per["rgbd"])
        for p, target in (("mesh", 0.85), ("cloud", 0.80)):
            x = np.array(per[p])
            ratio = x / np.maximum(r, 1e-9)
            s[p] = {"mean_ratio": float(np.nanmean(x) / np.nanmean(r)), "worst": float(np.nanmin(ratio)),
                    "below": [seeds[i] for i in np.nonzero(ratio < target)[0]], "per_room": [round(float(v), 2) for v in ratio]}
        s["synth_ap50"] = {p: float(np.nanmean(v)) for p, v in per.items()}
    for prefix, label in (("mosd-test", "mosd_test"), ("mosd-learn", "mosd_learn"), ("mosdcloud-", "mosd_cloud")):
        v = [r["ap50"] for k, r in results.items() if k.startswith(prefix)]
        if v:
            s[label] = float(np.mean(v))
    return s


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=("capture", "replay"))
    ap.add_argument("--cache", default="/tmp/ot3d-refine")
    ap.add_argument("--sets", default="synth,mosd,mosdcloud")
    ap.add_argument("--seeds", default="0-9")
    ap.add_argument("--frames", type=int, default=30)
    ap.add_argument("--cloud-points", type=int, default=400_000)
    ap.add_argument("--only", default="", help="replay cases whose name contains this")
    ap.add_argument("--set", action="append", default=[], help="RefineConfig override, e.g. min_track_ratio=0.4")
    ap.add_argument("--detail", action="store_true", help="print the ranked predictions per case")
    ap.add_argument("--verbose", action="store_true", help="print every case")
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    cache = Path(args.cache)
    sets = args.sets.split(",")
    lo, _, hi = args.seeds.partition("-")
    seeds = range(int(lo), int(hi or lo) + 1)
    if args.mode == "capture":
        if "synth" in sets:
            capture_synth(cache, seeds, args.frames, args.cloud_points)
        if "mosd" in sets:
            names = [Path(p).with_suffix("").as_posix() for pat, ks in scale_bench.GROUPS.values()
                     for p in (pat.format(k) for k in ks)]
            capture_mosd(cache, names)
        if "mosdcloud" in sets:
            capture_mosd_cloud(cache, sorted(p.stem for p in (geometry_real.DATA / "mosd").glob("test*.pcd")))
        return 0
    overrides = parse_overrides(args.set)
    results = {}
    for case in sorted((cache / "cases").glob("*.pkl")):
        if args.only and args.only not in case.stem:
            continue
        data = pickle.loads(case.read_bytes())
        with contextlib.redirect_stdout(io.StringIO()):
            results[case.stem] = replay_case(data, overrides, args.detail)
        results[case.stem]["reference"] = data["reference"]["ap50"]
        if args.verbose or args.detail:
            r = results[case.stem]
            print(f"{case.stem:<22} AP50 {r['ap50']:.3f} (captured {r['reference']:.3f})  pred {r['pred']}")
            for row in r.get("ranking", []):
                print("    score %.3f  pts %5d  obs %3d  IoU %.2f  gt %d" % row)
    s = summarise(results)
    print(json.dumps(s))
    if args.json:
        Path(args.json).write_text(json.dumps({"cases": results, "summary": s}, indent=1, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
