"""Geometry-only input on real data vs the RGB-D runs of the same captures (issue 13).

- 7-Scenes kitchen (../shared/data/7scenes-kitchen, 100 posed Kinect frames): the frames
  are fused into one coloured point cloud per --fuse-voxels spacing (voxel-averaged, saved
  as PLY), each then segmented from rendered views; compared with the RGB-D run of the
  frames by instance count (no labels exist). A user's cloud comes at whatever spacing
  their tool used, so the count must hold at every spacing. The frames are read here directly (uint16 mm depth, 4x4
  camera-to-world poses, fx = fy = 585, cx = 320, cy = 240) until the 7-Scenes reader lands.
- mOSD (../shared/data/mosd/test*.pcd): each labelled frame's valid points saved as an
  unorganized PLY (camera coordinates, colours), segmented from rendered views and scored
  against the frame's ground truth like the RGB-D run (class-agnostic AP, objects only,
  1 cm voxels as in instance_bench.py).

    python benchmarks/geometry_real.py --out /tmp/ot3d-geo-real [--json out.json]
    python benchmarks/geometry_real.py --fuse-voxels 0.01 --mosd none    # one spacing, no mOSD
    python benchmarks/geometry_real.py --skip-7scenes                     # mOSD only
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
from ot3d_engine.io import load_scan, read_color, read_depth
from ot3d_engine.io.frames import clean_depth
from ot3d_engine.io.ply import write_ply
from ot3d_engine.pipeline import run_pipeline
from ot3d_engine.types import Frame, Scan

REPO = Path(__file__).resolve().parents[1]
DATA = (REPO / ".." / "shared" / "data").resolve()
K7 = np.array([[585.0, 0, 320.0], [0, 585.0, 240.0], [0, 0, 1]])


def config(voxel: float | None = None) -> PipelineConfig:
    cfg = PipelineConfig()
    cfg.segmenter = BackendConfig("geometric")
    cfg.features = BackendConfig("color")
    if voxel:
        cfg.lift.voxel_size = voxel
    return cfg


def seven_scenes_scan(folder: Path) -> Scan:
    stems = sorted(p.name[: -len(".pose.txt")] for p in folder.glob("frame-*.pose.txt"))

    def load(i: int) -> Frame:
        s = stems[i]
        depth = clean_depth(read_depth(folder / f"{s}.depth.png", 1000.0), 0.1, 6.0)
        return Frame(index=i, color=read_color(folder / f"{s}.color.jpg"), depth=depth, intrinsics=K7.copy(),
                     pose=np.loadtxt(folder / f"{s}.pose.txt"), name=s)

    return Scan(path=folder, layout="7scenes", frame_count=len(stems), _loader=load,
                meta={"frame_numbers": list(range(len(stems)))})


def fuse(scan: Scan, voxel: float) -> tuple[np.ndarray, np.ndarray]:
    """Back-project every frame, one averaged point per voxel."""
    pts, cols = [], []
    for f in scan.frames():
        v, u = np.nonzero(f.valid_depth())
        z = f.depth[v, u]
        cam = np.stack([(u - K7[0, 2]) * z / K7[0, 0], (v - K7[1, 2]) * z / K7[1, 1], z], 1)
        pts.append(cam @ f.pose[:3, :3].T + f.pose[:3, 3])
        cols.append(f.color[v, u])
    p, c = np.concatenate(pts), np.concatenate(cols).astype(np.float64)
    keys = np.floor(p / voxel).astype(np.int64)  # the grid through the origin
    keys -= keys.min(axis=0)
    dims = keys.max(axis=0) + 1
    _, inv = np.unique((keys[:, 0] * dims[1] + keys[:, 1]) * dims[2] + keys[:, 2], return_inverse=True)
    inv = inv.reshape(-1)
    n = np.bincount(inv).astype(np.float64)
    mean_p = np.stack([np.bincount(inv, p[:, k]) for k in range(3)], 1) / n[:, None]
    mean_c = np.stack([np.bincount(inv, c[:, k]) for k in range(3)], 1) / n[:, None]
    return mean_p.astype(np.float32), np.clip(np.round(mean_c), 0, 255).astype(np.uint8)


def save_cloud(path: Path, p: np.ndarray, c: np.ndarray) -> Path:
    write_ply(path, {"x": p[:, 0], "y": p[:, 1], "z": p[:, 2], "red": c[:, 0], "green": c[:, 1], "blue": c[:, 2]})
    return path


def ap(gt, res) -> dict:
    ev = evaluate(gt, res.points, res.instance_ids, {i.id: i.score for i in res.instances}, class_agnostic=True)
    return {"ap": ev.ap, "ap50": ev.ap50, "pred": len(res.instances)}


def main(argv=None) -> int:
    ap_ = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap_.add_argument("--out", default="/tmp/ot3d-geo-real")
    ap_.add_argument("--fuse-voxels", default="0.005,0.01,0.02",
                     help="comma-separated fusion voxel sizes in metres (the clouds' point spacings)")
    ap_.add_argument("--mosd-voxel", type=float, default=0.01)
    ap_.add_argument("--mosd", default="all", help="'all', 'none' or comma-separated frame names (test45,...)")
    ap_.add_argument("--skip-7scenes", action="store_true")
    ap_.add_argument("--json")
    args = ap_.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    report: dict = {}
    try:
        fuse_voxels = [float(x) for x in args.fuse_voxels.split(",")]
    except ValueError:
        ap_.error(f"--fuse-voxels must be comma-separated numbers (got {args.fuse_voxels!r})")
    if not all(0.001 <= v <= 0.2 for v in fuse_voxels):
        ap_.error(f"--fuse-voxels must lie in 0.001..0.2 m (got {args.fuse_voxels!r})")
    if not args.skip_7scenes:
        rgbd = seven_scenes_scan(DATA / "7scenes-kitchen")
        t0 = time.perf_counter()
        res_rgbd = run_pipeline(rgbd, config())
        t_rgbd = time.perf_counter() - t0
        n_rgbd = len(res_rgbd.instances)
        print(f"7-Scenes kitchen: RGB-D {n_rgbd} instances ({len(rgbd)} frames, voxel "
              f"{res_rgbd.meta['voxel_size']:g} m, {t_rgbd:.0f} s)", flush=True)
        rows7 = []
        for fv in fuse_voxels:
            p, c = fuse(rgbd, fv)
            cloud_file = save_cloud(out / f"7scenes-kitchen-fused-{fv * 1000:g}mm.ply", p, c)
            t0 = time.perf_counter()
            scan = load_scan(cloud_file)
            res_cloud = run_pipeline(scan, config())
            t_cloud = time.perf_counter() - t0
            n_cloud = len(res_cloud.instances)
            v = scan.meta["virtual"]
            rows7.append({"fuse_voxel": fv, "cloud_points": int(len(p)), "cloud_instances": n_cloud,
                          "ratio": n_cloud / max(n_rgbd, 1), "cloud_seconds": t_cloud,
                          "voxel": res_cloud.meta["voxel_size"], "virtual": v})
            print(f"  fused at {fv * 1000:g} mm ({len(p)} points, spacing {v['splat_spacing'] * 1000:.1f} mm, "
                  f"surface noise {v['surface_noise'] * 1000:.1f} mm): {n_cloud} instances ({v['views']} {v['path']} "
                  f"views, coverage {v['coverage_1']:.2f}/{v['coverage_2']:.2f}, voxel {res_cloud.meta['voxel_size']:g} m, "
                  f"{t_cloud:.0f} s); ratio {n_cloud / max(n_rgbd, 1):.2f}", flush=True)
        report["7scenes"] = {"rgbd_instances": n_rgbd, "rgbd_seconds": t_rgbd,
                             "rgbd_voxel": res_rgbd.meta["voxel_size"], "clouds": rows7}
    if args.mosd == "none":
        names = []
    elif args.mosd == "all":
        names = sorted(p.stem for p in (DATA / "mosd").glob("test*.pcd"))
    else:
        names = args.mosd.split(",")
    rows = []
    for name in names:
        pcd = DATA / "mosd" / f"{name}.pcd"
        rgbd = load_scan(pcd)
        gt = rgbd.ground_truth
        frame = rgbd.frame(0)
        valid = frame.valid_depth()
        v, u = np.nonzero(valid)
        z = frame.depth[v, u]
        K = frame.intrinsics
        pts = np.stack([(u - K[0, 2]) * z / K[0, 0], (v - K[1, 2]) * z / K[1, 1], z], 1).astype(np.float32)
        ply = save_cloud(out / f"mosd-{name}.ply", pts, frame.color[v, u])
        a = ap(gt, run_pipeline(rgbd, config(args.mosd_voxel)))
        scan = load_scan(ply)
        b = ap(gt, run_pipeline(scan, config(args.mosd_voxel)))
        rows.append({"frame": name, "rgbd": a, "cloud": b, "views": scan.meta["virtual"]["views"],
                     "coverage_1": scan.meta["virtual"]["coverage_1"]})
        print(f"mOSD {name}: AP50 RGB-D {a['ap50']:.3f} ({a['pred']} inst)  cloud {b['ap50']:.3f} ({b['pred']} inst)"
              f"  diff {b['ap50'] - a['ap50']:+.3f}", flush=True)
    if rows:
        ma = float(np.mean([r["rgbd"]["ap50"] for r in rows]))
        mb = float(np.mean([r["cloud"]["ap50"] for r in rows]))
        report["mosd"] = {"rows": rows, "rgbd_ap50": ma, "cloud_ap50": mb}
        print(f"mOSD mean AP50 over {len(rows)} frames: RGB-D {ma:.3f}, unorganized-PLY cloud {mb:.3f} ({mb - ma:+.3f})")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
