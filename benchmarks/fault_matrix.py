"""Faults a new user meets, each run through the real `ot3d` command line: what it prints,
its exit status, and how long it took compared with a good run (early checks).

    .venv/bin/python benchmarks/fault_matrix.py [--work DIR]      # prints a Markdown table

Also times the result writer's fsyncs (the price of "whole or absent") on a 1M-point scene.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]


def ot3d(*args, stdin=None) -> tuple[int, str, float]:
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "ot3d_engine", *map(str, args)], capture_output=True, text=True,
                       cwd=REPO, timeout=600)
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    return r.returncode, (lines[-1] if lines else r.stdout.splitlines()[0] if r.stdout else ""), time.perf_counter() - t0


def in_process(*args) -> float:
    """The same command in this process: no interpreter start-up, so early checks show their real cost."""
    import contextlib
    import io

    from ot3d_engine.cli import main as cli_main

    t0 = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        cli_main([str(a) for a in args])
    return time.perf_counter() - t0


def copy(scan: Path, work: Path, name: str) -> Path:
    dst = work / name
    shutil.copytree(scan, dst)
    return dst


def faults(scan: Path, work: Path):
    """(fault, argv) pairs; setup happens while the list is built."""
    out = work / "o"
    yield "good run (reference)", ["segment", scan, "--out", work / "good"]
    yield "--voxel-size -0.03", ["segment", scan, "--out", out, "--voxel-size", "-0.03"]
    yield "--voxel-size nan", ["segment", scan, "--out", out, "--voxel-size", "nan"]
    yield "--stride 0", ["segment", scan, "--out", out, "--stride", "0"]
    yield "--max-frames 0", ["segment", scan, "--out", out, "--max-frames", "0"]
    cfg = work / "zero.toml"
    cfg.write_text("[lift]\nvoxel_size = 0\n")
    yield "voxel_size = 0 in TOML", ["segment", scan, "--out", out, "--config", cfg]
    cfg = work / "type.toml"
    cfg.write_text("[track]\nfeature_weight = 'high'\n")
    yield "wrong type in TOML", ["segment", scan, "--out", out, "--config", cfg]
    cfg = work / "opt.toml"
    cfg.write_text("[segmenter]\nname = 'geometric'\noptions = {min_aera = 10}\n")
    yield "unknown backend option", ["segment", scan, "--out", out, "--config", cfg]
    bad_mesh = work / "broken.ply"
    bad_mesh.write_bytes(b"ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\nend_header\n1\n")
    yield "broken --mesh", ["segment", scan, "--out", out, "--mesh", bad_mesh, "--superpoints"]
    (work / "file").write_text("x")
    yield "--out under a file", ["segment", scan, "--out", work / "file" / "o"]
    foreign = work / "photos"
    foreign.mkdir()
    (foreign / "a.jpg").write_text("x")
    yield "--out a foreign non-empty folder", ["segment", scan, "--out", foreign]
    odd = copy(scan, work, "odd")
    shutil.copy(odd / "depth" / "0.png", odd / "depth" / "².png")
    yield "depth file named ².png", ["segment", odd, "--out", out, "--max-frames", "3"]
    flip = copy(scan, work, "flip")
    raw = bytearray((flip / "depth" / "0.png").read_bytes())
    raw[len(raw) // 2] ^= 1
    (flip / "depth" / "0.png").write_bytes(bytes(raw))
    yield "flipped byte in a depth PNG", ["segment", flip, "--out", out]
    intr = copy(scan, work, "intr")
    k = intr / "intrinsic" / "intrinsic_depth.txt"
    k.write_text(k.read_text().replace(k.read_text().split()[0], "inf", 1))
    yield "fx = inf in intrinsics", ["segment", intr, "--out", out]
    zero = copy(scan, work, "zero")
    for p in (zero / "depth").glob("*.png"):
        Image.fromarray(np.zeros(np.asarray(Image.open(p)).shape, np.uint16)).save(p)
    yield "all-zero depth", ["segment", zero, "--out", out]
    yield "all-zero depth --strict", ["segment", zero, "--out", out, "--strict"]
    yield "eval --radius -1", ["eval", "--pred", work / "good", "--gt", scan, "--radius", "-1"]
    yield "unknown option", ["segment", scan, "--out", out, "--frobnicate"]


def fsync_cost(work: Path) -> tuple[float, float]:
    sys.path.insert(0, str(REPO))
    from ot3d_engine.io import atomic
    from ot3d_engine.output.scene_io import write_scene
    from ot3d_engine.types import Instance, SceneResult

    n = 1_000_000
    rng = np.random.default_rng(0)
    pts = rng.random((n, 3)).astype(np.float32)
    ids = (np.arange(n) % 21).astype(np.int32)
    res = SceneResult(points=pts, colors=np.zeros((n, 3), np.uint8), instance_ids=ids,
                      instances=[Instance(id=i, points=pts[ids == i], score=0.5) for i in range(1, 21)])
    times = {}
    real = atomic.fsync_path
    for mode in ("fsync", "no fsync", "fsync"):
        atomic.fsync_path = real if mode == "fsync" else (lambda p: None)
        t0 = time.perf_counter()
        write_scene(res, work / "big", preview=False)
        times[mode] = time.perf_counter() - t0
    atomic.fsync_path = real
    return times["fsync"], times["no fsync"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", help="scratch folder (default: a temp folder, removed)")
    args = ap.parse_args()
    work = Path(args.work or tempfile.mkdtemp(prefix="ot3d-faults-"))
    work.mkdir(parents=True, exist_ok=True)
    scan = work / "room"
    code, _, _ = ot3d("synth", "--seed", "3", "--out", scan, "--frames", "30", "--width", "320", "--height", "240")
    assert code == 0
    sys.path.insert(0, str(REPO))
    rows, good, good_in = [], None, None
    for fault, argv in faults(scan, work):
        code, line, sec = ot3d(*argv)
        inner = in_process(*argv)
        if good is None:
            good, good_in = sec, inner
        rows.append((fault, code, line.replace(str(work), "…").replace("|", "\\|")[:150], sec, inner))
    print("| fault | exit | what it prints (last stderr line) | CLI s | in-process s | in-process, of good run |")
    print("| --- | --- | --- | --- | --- | --- |")
    for fault, code, line, sec, inner in rows:
        print(f"| {fault} | {code} | `{line}` | {sec:.2f} | {inner:.3f} | {inner / good_in:.1%} |")
    with_sync, without = fsync_cost(work)
    print(f"\nwrite_scene, 1M points: {with_sync:.2f} s with fsync, {without:.2f} s without "
          f"({with_sync / without:.2f}x)")
    if not args.work:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
