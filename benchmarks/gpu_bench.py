"""Per-stage timings of the neural backends at 640x480: detector+SAM and DINO per frame, MLLM
labelling per instance (batched). Targets on an H100: 2D stage <= 0.25 s/frame (the paper: 0.52 s
on an A100), MLLM <= 0.3 s/instance.

    python benchmarks/gpu_bench.py                      # registry models (need the weights)
    python benchmarks/gpu_bench.py --models models.toml --record   # append a row to RESULTS.md
    python benchmarks/gpu_bench.py --tiny               # CPU smoke run on tiny random models

Frames come from --scan (default: ../shared/data/slambook-room when present, else a rendered
synthetic room), resized to 640x480. --record appends the numbers with GPU, model ids and dtype
to benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import atexit
import json
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ot3d_engine.io import load_scan  # noqa: E402
from ot3d_engine.io.atomic import write_text_atomic  # noqa: E402
from ot3d_engine.types import Frame, Instance, Scan, View  # noqa: E402

WIDTH, HEIGHT = 640, 480


def _sync() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def at_640x480(frame: Frame) -> Frame:
    """Colour, depth and K scaled to the benchmark resolution."""
    from PIL import Image

    if (frame.width, frame.height) == (WIDTH, HEIGHT):
        return frame
    sx, sy = WIDTH / frame.width, HEIGHT / frame.height
    k = frame.intrinsics.copy()
    k[0] *= sx
    k[1] *= sy
    color = np.asarray(Image.fromarray(frame.color).resize((WIDTH, HEIGHT), Image.Resampling.BILINEAR))
    depth = np.asarray(Image.fromarray(frame.depth).resize((WIDTH, HEIGHT), Image.Resampling.NEAREST))
    return Frame(frame.index, color, depth.astype(np.float32), k, frame.pose, frame.name)


def bench_frames(scan_path: str | None, n: int) -> list[Frame]:
    default = REPO / ".." / "shared" / "data" / "slambook-room"
    if scan_path is None and default.is_dir():
        scan_path = str(default)
    if scan_path is None:
        from ot3d_engine.synth import generate_scene

        scan_path = str(generate_scene(Path(tempfile.mkdtemp()) / "room", seed=0, frames=n))
    scan = load_scan(scan_path)
    return [at_640x480(scan.frame(i % len(scan))) for i in range(n)]


def lift_mask(frame: Frame, mask: np.ndarray, stride: int = 4) -> np.ndarray:
    """World points under a mask (every stride-th pixel with depth)."""
    v, u = np.nonzero(mask[::stride, ::stride])
    v, u = v * stride, u * stride
    z = frame.depth[v, u]
    ok = np.isfinite(z) & (z > 0)
    u, v, z = u[ok], v[ok], z[ok]
    k = frame.intrinsics
    cam = np.stack([(u - k[0, 2]) * z / k[0, 0], (v - k[1, 2]) * z / k[1, 1], z], 1)
    return (cam @ frame.pose[:3, :3].T + frame.pose[:3, 3]).astype(np.float32)


def timed(fn, items) -> tuple[list, float]:
    """Results of fn over items and the mean seconds per item (after one warm-up call)."""
    fn(items[0])
    _sync()
    t0 = time.perf_counter()
    out = [fn(x) for x in items]
    _sync()
    return out, (time.perf_counter() - t0) / len(items)


def tiny_models(root: Path) -> dict:
    from ot3d_engine.models.tiny import build_tiny

    return {name: str(build_tiny(name, root / name)) for name in ("grounding-dino", "sam", "dinov2", "idefics3")}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", help="model registry (TOML/JSON); default $OT3D_MODELS or built-in ids")
    p.add_argument("--tiny", action="store_true", help="tiny random models (smoke run, numbers meaningless)")
    p.add_argument("--scan", help="scan to take frames from")
    p.add_argument("--frames", type=int, default=10)
    p.add_argument("--instances", type=int, default=16, help="instances labelled by the MLLM")
    p.add_argument("--vocabulary", help="comma-separated names (default ScanNet200)")
    p.add_argument("--json", help="also write the numbers here")
    p.add_argument("--record", action="store_true", help="append a row to benchmarks/RESULTS.md")
    args = p.parse_args(argv)

    import torch

    from ot3d_engine.registry import build

    opts: dict = {"models": args.models}
    if args.tiny:
        root = Path(tempfile.mkdtemp(prefix="ot3d-bench-"))
        atexit.register(shutil.rmtree, root, ignore_errors=True)
        t = tiny_models(root)
        seg_opts = {"detector": t["grounding-dino"], "sam": t["sam"], "box_threshold": 0.0}
        dino_opts, vlm_opts = {"model": t["dinov2"]}, {"model": t["idefics3"], "max_new_tokens": 8}
    else:
        seg_opts, dino_opts, vlm_opts = dict(opts), dict(opts), dict(opts)
    if args.vocabulary:
        seg_opts["vocabulary"] = args.vocabulary

    frames = bench_frames(args.scan, args.frames)
    t0 = time.perf_counter()
    seg = build("segmenter", "grounded", **seg_opts)
    feats = build("features", "dino", **dino_opts)
    clf = build("classifier", "mllm", **vlm_opts)
    load_s = time.perf_counter() - t0

    masks, seg_s = timed(seg.segment, frames)
    _, dino_s = timed(lambda i: feats.extract(frames[i], masks[i]), list(range(len(frames))))

    instances = []
    for f, ms in zip(frames, masks):
        for m in ms:
            pts = lift_mask(f, m.mask)
            if len(pts) >= 20:
                view = View(f.index, int(m.mask.sum()))
                instances.append(Instance(len(instances) + 1, pts, m.score, best_views=[view]))
    instances = instances[:args.instances]
    scan = Scan(Path("bench"), "memory", len(frames), _loader=lambda i: frames[i])
    mllm_s = None
    if instances:
        clf.classify(instances[:1], scan)  # warm-up
        _sync()
        t1 = time.perf_counter()
        clf.classify(instances, scan)
        _sync()
        mllm_s = (time.perf_counter() - t1) / len(instances)

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else f"CPU ({platform.processor() or 'unknown'})"
    report = {
        "device": gpu, "tiny": args.tiny, "frames": len(frames), "resolution": f"{WIDTH}x{HEIGHT}",
        "detector": seg.detector.m.spec.id, "sam": seg.sam.m.spec.id, "dino": feats.m.spec.id,
        "vlm": clf.vlm.name, "dtype": str(feats.m.dtype).replace("torch.", ""),
        "masks_per_frame": float(np.mean([len(m) for m in masks])), "instances": len(instances),
        "load_s": round(load_s, 2), "detector_sam_s_per_frame": round(seg_s, 4),
        "dino_s_per_frame": round(dino_s, 4), "mllm_s_per_instance": None if mllm_s is None else round(mllm_s, 4),
    }
    print(json.dumps(report, indent=1))
    if args.json:
        write_text_atomic(args.json, json.dumps(report, indent=1))
    if args.record:
        record(report)
    return 0


def record(r: dict) -> None:
    path = REPO / "benchmarks" / "RESULTS.md"
    head = ("# Neural backend timings (benchmarks/gpu_bench.py)\n\n"
            "| date | device | detector | sam | dino | vlm | dtype | 2D s/frame | DINO s/frame | MLLM s/instance |\n"
            "|---|---|---|---|---|---|---|---|---|---|\n")
    text = path.read_text() if path.is_file() else head
    row = (f"| {time.strftime('%Y-%m-%d')} | {r['device']}{' (tiny models)' if r['tiny'] else ''} | {r['detector']} | "
           f"{r['sam']} | {r['dino']} | {r['vlm']} | {r['dtype']} | {r['detector_sam_s_per_frame']} | "
           f"{r['dino_s_per_frame']} | {r['mllm_s_per_instance']} |\n")
    write_text_atomic(path, text + row)


if __name__ == "__main__":
    sys.exit(main())
