"""Default-flags AP on the real mOSD frames, through the command line a user would type:

    ot3d segment FILE.pcd --out P          (no flags: options follow the scan's scale)
    ot3d eval --pred P --gt FILE.pcd --json

per frame group of the data set (learn/: boxes, stacked boxes, occluded, cylindric; test43-58:
mixed objects, complex scenes), mean over frames. `--config room.toml` runs the same
commands with a config instead (e.g. the old fixed room defaults, for comparison).

    python benchmarks/scale_bench.py [--config old.toml] [--json out.json]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from ot3d_engine.cli import main as ot3d

REPO = Path(__file__).resolve().parents[1]
MOSD = (REPO / ".." / "shared" / "data" / "mosd").resolve()
GROUPS = {  # the data set's own split (mosd/README.md)
    "learn boxes 0-16": ("learn/learn{}.pcd", range(0, 17)),
    "learn stacked 17-24": ("learn/learn{}.pcd", range(17, 25)),
    "learn occluded 25-32": ("learn/learn{}.pcd", range(25, 33)),
    "learn cylindric 33-44": ("learn/learn{}.pcd", range(33, 45)),
    "test mixed 43-54": ("test{}.pcd", range(43, 55)),
    "test complex 55-58": ("test{}.pcd", range(55, 59)),
}


def run_cli(*args: str) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = ot3d(list(args))
    if code != 0:
        raise SystemExit(f"ot3d {' '.join(args)} exited with {code}")
    return out.getvalue()


def score(pcd: Path, work: Path, config: str | None) -> dict:
    pred = work / pcd.stem
    run_cli("segment", str(pcd), "--out", str(pred), *(["--config", config] if config else []))
    ev = json.loads(run_cli("eval", "--pred", str(pred), "--gt", str(pcd), "--json"))
    meta = json.loads((pred / "instances.json").read_text())["meta"]["scale"]
    return {"ap": ev["ap"], "ap50": ev["ap50"], "pred": ev["classes"]["object"]["pred_instances"],
            "gt": ev["classes"]["object"]["gt_instances"], "voxel": meta["lift.voxel_size"]["value"]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", help="pipeline config for every frame (default: none, the defaults)")
    ap.add_argument("--groups", default=",".join(GROUPS), help="comma-separated group names")
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    if not MOSD.is_dir():
        print(f"mOSD data not found at {MOSD}")
        return 1
    out = {"date": time.strftime("%Y-%m-%d"), "config": args.config, "groups": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.groups.split(","):
            pattern, numbers = GROUPS[name]
            rows = {}
            for k in numbers:
                rows[Path(pattern.format(k)).stem] = score(MOSD / pattern.format(k), Path(tmp), args.config)
            voxels = sorted({r["voxel"] for r in rows.values()})
            out["groups"][name] = {"ap": float(np.mean([r["ap"] for r in rows.values()])),
                                   "ap50": float(np.mean([r["ap50"] for r in rows.values()])),
                                   "frames": len(rows), "voxels": voxels, "per_frame": rows}
            g = out["groups"][name]
            print(f"{name:<24} AP {g['ap']:.3f}  AP50 {g['ap50']:.3f}  frames {g['frames']:>2}  voxel {voxels}  "
                  + " ".join(f"{k}={r['ap50']:.2f}" for k, r in rows.items()), flush=True)
    for split in ("learn", "test"):
        names = [n for n in out["groups"] if n.startswith(split)]
        frames = [r for n in names for r in out["groups"][n]["per_frame"].values()]
        if frames:
            print(f"{split + ' (all frames)':<24} AP {np.mean([r['ap'] for r in frames]):.3f}  "
                  f"AP50 {np.mean([r['ap50'] for r in frames]):.3f}  frames {len(frames)}")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
