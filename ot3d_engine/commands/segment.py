"""`ot3d segment SCAN --out DIR`: run the pipeline on a scan and write a scene folder."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from ..config import BackendConfig, PipelineConfig
from ..errors import ScanError
from ..io import load_scan
from ..output.scene_io import write_scene
from ..pipeline import run_pipeline
from ..progress import ProgressBar


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("scan", help="scan folder (ScanNet, Replica, Redwood, pose.txt layouts), a .pcd file, or a mesh / point-cloud file")
    p.add_argument("--out", required=True, help="output scene folder")
    p.add_argument("--config", help="pipeline config (TOML or JSON)")
    p.add_argument("--layout", help="force a scan layout instead of auto-detecting it")
    p.add_argument("--segmenter", help="2D segmenter backend (default: geometric)")
    p.add_argument("--features", help="feature backend (default: color)")
    p.add_argument("--tracker", help="tracker backend: visual_spatial (default) or greedy_iou")
    p.add_argument("--stride", type=int, help="use every n-th frame")
    p.add_argument("--max-frames", type=int, help="stop after this many frames")
    p.add_argument("--voxel-size", type=float, help="voxel size in metres (default 0.03)")
    p.add_argument("--classifier", help="label instances: mllm, clip or embedded (default: none)")
    p.add_argument("--vocabulary", help="comma-separated class names for open-vocabulary backends")
    p.add_argument("--mesh", help="scene mesh (PLY/OBJ) for superpoint refinement (default: the scan's own, if any)")
    p.add_argument("--superpoints", action="store_true", help="snap instances to mesh superpoints (needs a mesh)")
    p.add_argument("--views", type=int, help="mesh/point-cloud input: rendered views (default follows the scale)")
    p.add_argument("--resolution", help="mesh/point-cloud input: view size WxH (default 640x480)")
    p.add_argument("--fov", type=float, help="mesh/point-cloud input: horizontal field of view, degrees")
    p.add_argument("--up", help="mesh/point-cloud input: up axis x|y|z|-x|-y|-z (default: from the file)")
    p.add_argument("--progress", action="store_true", help="show the progress bar even when not a terminal")


def config_from_args(args) -> PipelineConfig:
    cfg = PipelineConfig.load(args.config) if args.config else PipelineConfig()
    if args.segmenter:
        cfg.segmenter = BackendConfig(args.segmenter)
    if args.features:
        cfg.features = BackendConfig(args.features)
    if args.superpoints:
        cfg.refine.superpoints = True
    if args.classifier:
        cfg.classifier = BackendConfig(args.classifier)
    if args.tracker:
        cfg.track.method = args.tracker
    if args.stride:
        cfg.scan.stride = args.stride
    if args.max_frames:
        cfg.scan.max_frames = args.max_frames
    if args.voxel_size:
        cfg.lift.voxel_size = args.voxel_size
    if args.vocabulary:
        cfg.vocabulary = [w.strip() for w in args.vocabulary.split(",") if w.strip()]
    return cfg


def run(args) -> int:
    from ..render.virtual_scan import finish_geometry_scene, options_from_args, summary_line  # open3d: lazily

    cfg = config_from_args(args)
    t0 = time.perf_counter()
    scan = load_scan(args.scan, layout=args.layout, stride=cfg.scan.stride, max_frames=cfg.scan.max_frames,
                     depth_min=cfg.scan.depth_min, depth_max=cfg.scan.depth_max, **options_from_args(args))
    if args.mesh:
        scan.mesh_path = Path(args.mesh)
        if not scan.mesh_path.is_file():
            raise ScanError(scan.mesh_path, "mesh file not found")
    bar = ProgressBar(enabled=True if args.progress else None)
    try:
        result = run_pipeline(scan, cfg, progress=bar)
    finally:
        bar.close()
    finish_geometry_scene(scan, result, args.out, cfg.lift.voxel_size)  # mesh/point-cloud input only
    out = write_scene(result, args.out, scan_path=scan.path, config=cfg.to_dict())
    total = time.perf_counter() - t0
    n = max(len(scan), 1)
    print(f"{len(result.instances)} instances from {len(scan)} frames ({scan.layout}) -> {out}")
    if summary_line(scan):
        print(summary_line(scan))
    print(f"{'stage':<12}{'total s':>10}{'ms/frame':>10}")
    for stage, sec in sorted(result.timings.items(), key=lambda kv: -kv[1]):
        print(f"{stage:<12}{sec:>10.3f}{1000 * sec / n:>10.1f}")
    print(f"{'wall':<12}{total:>10.3f}{1000 * total / n:>10.1f}")
    return 0
