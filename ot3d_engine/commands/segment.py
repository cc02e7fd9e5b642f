"""`ot3d segment SCAN --out DIR`: run the pipeline on a scan and write a scene folder.

Everything that can be checked without reading a frame is checked first (options and
config ranges, backends and their options, the output folder: writable, replaceable, free
space, not being written by another run, whose lock this run then holds to the end; the
scan's poses/manifest and the mesh), so a typo fails in milliseconds, not after the run.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ..config import BackendConfig, PipelineConfig
from ..config_checks import argument_type, check_config
from ..errors import OT3DError, ScanError
from ..io import load_scan
from ..io.atomic import check_output, output_lock
from ..output.live import LiveOptions
from ..output.scene_io import write_scene
from ..pipeline import run_pipeline
from ..progress import ProgressBar
from ..scale import reader_depth_range


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("scan", help="scan folder (ScanNet, Replica, Redwood, pose.txt layouts), a .pcd file, or a mesh / point-cloud file")
    p.add_argument("--out", required=True, help="output scene folder")
    p.add_argument("--config", help="pipeline config (TOML or JSON)")
    p.add_argument("--layout", help="force a scan layout instead of auto-detecting it")
    p.add_argument("--intrinsics", help="fx,fy,cx,cy of the depth image (or fx,fy,cx,cy,width,height of the "
                                        "image they belong to), overriding the layout's")
    p.add_argument("--depth-scale", type=float, help="raw depth units per metre (1000 = mm), overriding the layout's")
    p.add_argument("--segmenter", help="2D segmenter backend (default: geometric)")
    p.add_argument("--features", help="feature backend (default: color)")
    p.add_argument("--tracker", help="tracker backend: visual_spatial (default) or greedy_iou")
    p.add_argument("--stride", type=argument_type("scan.stride"), help="use every n-th frame")
    p.add_argument("--max-frames", type=argument_type("scan.max_frames"), help="stop after this many frames")
    p.add_argument("--voxel-size", type=argument_type("lift.voxel_size"), help="voxel size in metres (default: from the scan's scale)")
    p.add_argument("--classifier", help="label instances: mllm, clip or embedded (default: none)")
    p.add_argument("--vocabulary", help="comma-separated class names for open-vocabulary backends")
    p.add_argument("--mesh", help="scene mesh (PLY/OBJ/GLB) for superpoint refinement (default: the scan's own, if any)")
    p.add_argument("--superpoints", action="store_true", help="snap instances to mesh superpoints (needs a mesh)")
    p.add_argument("--views", type=int, help="mesh/point-cloud input: rendered views (default follows the scale)")
    p.add_argument("--resolution", help="mesh/point-cloud input: view size WxH (default 640x480)")
    p.add_argument("--fov", type=float, help="mesh/point-cloud input: horizontal field of view, degrees")
    p.add_argument("--up", help="mesh/point-cloud input: up axis x|y|z|-x|-y|-z (default: from the file)")
    p.add_argument("--progress", action="store_true", help="show the progress bar even when not a terminal")
    p.add_argument("--prefetch", type=argument_type("scan.prefetch"),
                   help="frames read and segmented ahead on a worker thread (default 4; 0 = sequential, same result)")
    p.add_argument("--live", metavar="DIR", help="publish snapshots of the tracker's state into DIR while frames "
                                                 "stream (DIR/latest names the newest; see output/live.py)")
    p.add_argument("--live-every", type=argument_type("live.every"), default=10, help="frames between snapshots (default 10)")
    p.add_argument("--live-seconds", type=argument_type("live.seconds"),
                   help="seconds between snapshots (default: by frames only)")
    p.add_argument("--strict", action="store_true", help="exit with status 2 when the result is empty (0 instances)")


# Rough size of a scene folder, for the free-space check before the run.
BASE_OUTPUT_BYTES = 16 * 2**20
OUTPUT_BYTES_PER_FRAME = 32 * 2**10


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
    if args.stride is not None:
        cfg.scan.stride = args.stride
    if args.max_frames is not None:
        cfg.scan.max_frames = args.max_frames
    if args.voxel_size is not None:
        cfg.lift.voxel_size = args.voxel_size
    if args.prefetch is not None:
        cfg.scan.prefetch = args.prefetch
    if args.vocabulary:
        cfg.vocabulary = [w.strip() for w in args.vocabulary.split(",") if w.strip()]
    return cfg


def run(args) -> int:
    from ..render.virtual_scan import finish_geometry_scene, options_from_args, summary_line  # open3d: lazily

    t0 = time.perf_counter()
    cfg = config_from_args(args)
    check_config(cfg)
    out = Path(args.out)
    check_output(out)
    live_options(args)  # a bad --live folder fails before any frame is read
    with output_lock(out):
        depth_min, depth_max = reader_depth_range(cfg.scan)
        scan = load_scan(args.scan, layout=args.layout, stride=cfg.scan.stride, max_frames=cfg.scan.max_frames,
                         depth_min=depth_min, depth_max=depth_max,
                         intrinsics=args.intrinsics, depth_scale=args.depth_scale, **options_from_args(args))
        check_output(out, need_bytes=BASE_OUTPUT_BYTES + OUTPUT_BYTES_PER_FRAME * len(scan))
        if args.mesh:
            scan.mesh_path = Path(args.mesh)
        check_mesh_early(scan, cfg, given=bool(args.mesh))
        bar = ProgressBar(enabled=True if args.progress else None)
        try:
            result = run_pipeline(scan, cfg, progress=bar, live=live_options(args))
        finally:
            bar.close()
        write_scene(result, out, scan_path=scan.path, config=cfg.to_dict(),
                    extra_files=lambda stage: finish_geometry_scene(scan, result, stage))  # mesh/cloud input only
    total = time.perf_counter() - t0
    n = max(len(scan), 1)
    print(f"{len(result.instances)} instances from {len(scan)} frames ({scan.layout}) -> {out}")
    if summary_line(scan):
        print(summary_line(scan))
    print(f"{'stage':<12}{'total s':>10}{'ms/frame':>10}")
    for stage, sec in sorted(result.timings.items(), key=lambda kv: -kv[1]):
        print(f"{stage:<12}{sec:>10.3f}{1000 * sec / n:>10.1f}")
    print(f"{'wall':<12}{total:>10.3f}{1000 * total / n:>10.1f}")
    if not result.instances:
        why = ("no frame had valid depth (all zero or outside the depth range?)" if not len(result.points)
               else "nothing was kept after tracking and refinement")
        print(f"warning: {scan.path}: 0 instances: {why}", file=sys.stderr)
        if args.strict:
            raise OT3DError(f"{scan.path}: empty result (0 instances) and --strict given")
    return 0


def live_options(args) -> LiveOptions | None:
    if not args.live:
        return None
    directory = Path(args.live)
    if directory.exists() and not directory.is_dir():
        raise OT3DError(f"--live: {directory} exists and is not a folder")
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OT3DError(f"--live: cannot create {directory}: {exc.strerror}") from None
    return LiveOptions(directory, every=args.live_every, seconds=args.live_seconds)


def check_mesh_early(scan, cfg, given: bool) -> None:
    """Parse the mesh now when it was given or will be used, so a broken one fails before
    the first frame is read."""
    if cfg.refine.superpoints and scan.mesh_path is None:
        raise OT3DError(f"{scan.path}: superpoint refinement needs a scene mesh "
                        "(give one with --mesh, or put scene_mesh.ply in the scan folder)")
    if scan.mesh_path is not None and (cfg.refine.superpoints or given):
        if not scan.mesh_path.is_file():
            raise ScanError(scan.mesh_path, "mesh file not found")
        from ..io.mesh import load_mesh

        load_mesh(scan.mesh_path, require_faces=cfg.refine.superpoints)
