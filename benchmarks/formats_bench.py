"""Frames per second read by each capture-format reader, on real 7-Scenes frames.

    .venv/bin/python benchmarks/formats_bench.py [--frames 30] [--repeat 3] [--phone]

Writes the first N frames of ../shared/data/7scenes-kitchen in every format with the
test suite's spec writers (tests/format_writers.py), then times load_scan (discovery,
poses, intrinsics) and decoding every frame (colour, depth, confidence, resampling to the
depth grid), best of --repeat. Default: depth 640x480, colour 1280x960 where the format
records colour larger. --phone: what an iPhone writes, depth 256x192 and colour 1920x1440
(Record3D, Stray Scanner, Polycam, 3D Scanner App, nerfstudio; the Kinect formats keep 640x480).
The CPU is shared, so compare formats within one run (the ratio column).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

import format_writers as fw  # noqa: E402
from ot3d_engine.io import load_scan  # noqa: E402
from ot3d_engine.io.images import scale_intrinsics  # noqa: E402

FORMATS = ["7scenes", "tum", "nerfstudio", "record3d", "strayscanner", "polycam", "3dscannerapp", "arkitscenes"]
PHONE = {"nerfstudio", "record3d", "strayscanner", "polycam", "3dscannerapp"}


def phone_frames(frames, K):
    """Depth shrunk to 256x192 (nearest), colour to the same grid (upsampled 7.5x when written)."""
    out = []
    for f in frames:
        d = np.asarray(Image.fromarray(f.depth_mm).resize((256, 192), Image.NEAREST))
        c = np.asarray(Image.fromarray(f.color).resize((256, 192), Image.BILINEAR))
        out.append(fw.SourceFrame(f.number, c, d, f.pose))
    return out, scale_intrinsics(K, (480, 640), (192, 256))


def time_read(path: Path, opts: dict, repeat: int) -> tuple[float, float, int]:
    best_load = best_all = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        scan = load_scan(path, **opts)
        t1 = time.perf_counter()
        for frame in scan.frames():
            assert frame.depth.shape[:2] == frame.color.shape[:2]
        t2 = time.perf_counter()
        best_load, best_all = min(best_load, t1 - t0), min(best_all, t2 - t0)
    return best_load, best_all, len(scan)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--frames", type=int, default=30)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--phone", action="store_true", help="iPhone resolutions: depth 256x192, colour 1920x1440")
    ap.add_argument("--data", default=str(REPO / ".." / "shared" / "data" / "7scenes-kitchen"))
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    frames, K = fw.read_source(Path(args.data), args.frames)
    rows = []
    load_scan(Path(args.data), max_frames=3).frame(0)  # warm up imports and decoders before timing
    with tempfile.TemporaryDirectory(prefix="ot3d-formats-") as tmp:
        for name in FORMATS:
            src, k = (phone_frames(frames, K) if args.phone and name in PHONE else (frames, K))
            fw.UP = 7.5 if args.phone and name in PHONE else 2
            path, opts = fw.write_format(name, Path(tmp), src, k, lossless_video=False)
            fw.UP = 2
            load_s, total_s, n = time_read(path, opts, args.repeat)
            f = load_scan(path, **opts).frame(0)
            rows.append({"format": name, "frames": n, "load_s": load_s, "fps": n / total_s,
                         "depth": f"{f.width}x{f.height}"})
    base = rows[0]["fps"]
    if args.json:
        print(json.dumps(rows, indent=1))
        return
    print(f"{'format':<14}{'frames':>7}{'depth grid':>12}{'load_scan s':>13}{'frames/s':>10}{'vs 7scenes':>12}")
    for r in rows:
        print(f"{r['format']:<14}{r['frames']:>7}{r['depth']:>12}{r['load_s']:>13.3f}{r['fps']:>10.1f}"
              f"{r['fps'] / base:>12.2f}")


if __name__ == "__main__":
    main()
