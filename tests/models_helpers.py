"""Shared by tests/test_models_*.py: tiny saved models (built once per test process) and a
small posed RGB-D scene of boxes rendered by exact ray casting, with per-pixel ground truth."""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from pathlib import Path

import numpy as np

from ot3d_engine.synth.camera import intrinsics, look_at
from ot3d_engine.types import Frame, Instance, Scan, View

_ROOT = Path(tempfile.mkdtemp(prefix="ot3d-tiny-models-"))
atexit.register(shutil.rmtree, _ROOT, ignore_errors=True)


@functools.lru_cache(maxsize=None)
def tiny(family: str) -> str:
    """Folder of a tiny random model of `family`, saved with save_pretrained (built once)."""
    from ot3d_engine.models.tiny import build_tiny

    return str(build_tiny(family, _ROOT / family))


# --- a box scene -------------------------------------------------------------------------

# id: (min corner, max corner, colour). 0 is the floor slab.
BOXES = {
    0: ((-8.0, -8.0, -0.1), (8.0, 8.0, 0.0), (120, 120, 120)),
    1: ((-0.3, -0.3, 0.0), (0.3, 0.3, 0.6), (200, 40, 40)),  # the target
    2: ((-1.6, -0.6, 0.0), (-1.2, 0.6, 1.2), (40, 40, 200)),  # hides the target from -x
    3: ((1.5, 1.5, 0.0), (2.0, 2.0, 0.5), (40, 180, 40)),
}
TARGET = np.array([0.0, 0.0, 0.3])
# (eye, look-at target): 0/1/4 see box 1; 2 looks at it through box 2; 3 looks away.
CAMERAS = [
    ((2.5, 0.0, 1.2), TARGET),
    ((0.0, -2.5, 1.4), TARGET),
    ((-3.0, 0.0, 0.6), TARGET),
    ((0.0, 2.5, 1.2), (0.0, 6.0, 1.2)),
    ((1.8, 1.8, 2.5), TARGET),
]


def first_hits(o: np.ndarray, d: np.ndarray, t_min: float) -> tuple[np.ndarray, np.ndarray]:
    """Ray parameter and box id of the first box each ray o + t*d hits beyond t_min (slab
    method); inf and -1 where it hits none."""
    first = np.full(len(d), np.inf)
    owner = np.full(len(d), -1)
    with np.errstate(divide="ignore", invalid="ignore"):
        for i, (lo, hi, _) in BOXES.items():
            t1, t2 = (np.asarray(lo) - o) / d, (np.asarray(hi) - o) / d
            tn = np.nanmax(np.minimum(t1, t2), 1)
            tf = np.nanmin(np.maximum(t1, t2), 1)
            hit = (tn <= tf) & (tn > t_min) & (tn < first)
            first[hit], owner[hit] = tn[hit], i
    return first, owner


def render(pose: np.ndarray, K: np.ndarray, h: int, w: int):
    """Depth (z in camera), instance id and colour by slab-method ray casting of all boxes."""
    v, u = np.mgrid[0:h, 0:w]
    pix = np.stack([u + 0.5, v + 0.5, np.ones_like(u, dtype=float)], -1).reshape(-1, 3)
    d_cam = pix @ np.linalg.inv(K).T  # z = 1: ray parameter t is the camera depth
    d = d_cam @ pose[:3, :3].T
    best_t, owner = first_hits(pose[:3, 3], d, t_min=0.05)
    depth = np.where(np.isfinite(best_t), best_t, 0).reshape(h, w).astype(np.float32)
    ids = np.maximum(owner, 0).astype(np.int32).reshape(h, w)
    palette = np.array([BOXES[i][2] for i in sorted(BOXES)], np.uint8)
    colour = palette[ids]
    colour[depth == 0] = 0
    gt = np.where(depth > 0, ids, 0).astype(np.int32)
    return depth, gt, colour


@functools.lru_cache(maxsize=None)
def _frames(h: int, w: int) -> tuple:
    K = intrinsics(w, h)
    frames = []
    for i, (eye, target) in enumerate(CAMERAS):
        pose = look_at(np.asarray(eye, float), np.asarray(target, float))
        depth, gt, colour = render(pose, K, h, w)
        frames.append(Frame(index=i, color=colour, depth=depth, intrinsics=K, pose=pose, gt_instance=gt))
    return tuple(frames)


def box_scan(h: int = 96, w: int = 128) -> Scan:
    frames = _frames(h, w)
    return Scan(path=Path("box-scene"), layout="memory", frame_count=len(frames), _loader=lambda i: frames[i])


def box_surface_points(box_id: int, spacing: float = 0.03) -> np.ndarray:
    """Points on the box's surface (what lifting would give for a fully observed instance)."""
    lo, hi, _ = (np.asarray(x, float) for x in BOXES[box_id])
    axes = [np.linspace(lo[k], hi[k], int(np.ceil((hi[k] - lo[k]) / spacing)) + 1) for k in range(3)]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 3)
    on_face = np.isclose(grid, lo).any(1) | np.isclose(grid, hi).any(1)
    return grid[on_face].astype(np.float32)


def box_instance(box_id: int, views: list[int] | None = None, inst_id: int | None = None) -> Instance:
    best = [View(i, 100) for i in (views if views is not None else range(len(CAMERAS)))]
    return Instance(id=inst_id or box_id, points=box_surface_points(box_id), score=1.0, best_views=best)


def gt_visible_fraction(box_id: int, frame: Frame, spacing: float = 0.03) -> float:
    """Share of the box's surface points that a camera sees, by exact ray casting from the
    camera centre to each point (independent of any depth image)."""
    pts = box_surface_points(box_id, spacing).astype(np.float64)
    o = frame.pose[:3, 3]
    cam = (pts - o) @ frame.pose[:3, :3]
    K = frame.intrinsics
    with np.errstate(divide="ignore", invalid="ignore"):
        u, v = K[0, 0] * cam[:, 0] / cam[:, 2] + K[0, 2], K[1, 1] * cam[:, 1] / cam[:, 2] + K[1, 2]
    inside = (cam[:, 2] > 0) & (u >= 0) & (u < frame.width) & (v >= 0) & (v < frame.height)
    d = pts - o
    dist = np.linalg.norm(d, axis=1)
    d = d / dist[:, None]
    first, owner = first_hits(o, d, t_min=0.0)
    seen = inside & (owner == box_id) & (np.abs(first - dist) < 0.01)
    return float(seen.mean())


def write_box_scan(out: Path, h: int = 96, w: int = 128) -> Path:
    """The box scene on disk in the ScanNet export layout (what `ot3d segment` reads)."""
    from ot3d_engine.synth.writer import SceneWriter

    frames = _frames(h, w)
    writer = SceneWriter(out)
    writer.intrinsics(frames[0].intrinsics)
    for f in frames:
        writer.frame(f.index, f.color, np.round(f.depth * 1000), f.pose, f.gt_instance, f.gt_instance)
    return writer.commit({"frames": len(frames), "width": w, "height": h})


def write_box_scene(out: Path, scan_path: Path | None, labels: dict[int, str]) -> Path:
    """A segmented scene folder whose instances are the boxes, labelled as given."""
    from ot3d_engine.output.scene_io import write_scene
    from ot3d_engine.types import SceneResult

    insts = [box_instance(i) for i in sorted(labels)]
    for inst in insts:
        inst.label = labels[inst.id]
    pts = np.concatenate([i.points for i in insts])
    ids = np.concatenate([np.full(len(i.points), i.id, np.int32) for i in insts])
    result = SceneResult(points=pts, colors=np.full((len(pts), 3), 128, np.uint8), instance_ids=ids, instances=insts)
    return write_scene(result, out, scan_path=scan_path, preview=False)
