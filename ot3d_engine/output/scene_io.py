"""The on-disk scene format shared by the CLI, the evaluator, the add-on and headless mode.

A scene folder holds:
- points.npz: points Nx3 float32, colors Nx3 uint8, instance_ids N int32 (0 = unassigned)
- instances.json: {"format": "ot3d-scene", "version": 1, "scan": str, "instances": [...],
  "timings": {...}, "meta": {...}}; each instance: id, label, score, label_score,
  point_count, bbox_min, bbox_max, observations, best_views [{frame, pixels, box}]
- scene.ply: the same cloud with an integer `instance_id` vertex attribute
- preview.png: coloured instances seen from a scan camera (output.preview)
- with superpoint refinement: mesh_instances.ply (the scan mesh with an `instance_id` vertex
  attribute) and mesh_instance_ids.txt (one id per mesh vertex, the ScanNet format)
The folder is written whole (io.atomic.result_folder): built beside the target, fsynced and
swapped in, so `out` holds the previous complete scene or the new one, never a mix, and no
file of an earlier run survives (e.g. mesh_instances.ply after a run without superpoints).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import ScanError
from ..io.atomic import atomic_path, resolve_result, result_folder, write_text_atomic
from ..io.ply import write_ply
from ..types import Instance, SceneResult, View

SCENE_FORMAT = "ot3d-scene"
SCENE_VERSION = 1


def instance_record(inst: Instance) -> dict:
    lo, hi = inst.bbox
    return {
        "id": int(inst.id),
        "label": inst.label,
        "score": float(inst.score),
        "label_score": float(inst.label_score),
        "point_count": int(len(inst.points)),
        "bbox_min": [round(float(v), 5) for v in lo],
        "bbox_max": [round(float(v), 5) for v in hi],
        "observations": int(inst.observations),
        "best_views": [
            {"frame": int(v.frame_index), "pixels": int(v.pixel_count),
             "box": None if v.box is None else [int(b) for b in v.box]}
            for v in inst.best_views
        ],
    }


def write_scene(result: SceneResult, out_dir: str | Path, *, scan_path: str | Path | None = None,
                config: dict | None = None, preview: bool = True,
                vertex_attributes: dict[str, np.ndarray] | None = None,
                extra_files: Callable[[Path], object] | None = None) -> Path:
    """Write the scene folder whole (replacing any earlier one); `vertex_attributes` adds
    per-point arrays to scene.ply (the add-on's export adds `label_id`); `extra_files(stage)`
    writes more files into the same staging folder first (labels on a mesh/point-cloud input),
    so they are swapped in with the rest, never beside an older result."""
    out = Path(out_dir)
    with result_folder(out, kind=SCENE_FORMAT) as stage:
        if extra_files is not None:
            extra_files(Path(stage))
        write_scene_files(result, stage, scan_path=scan_path, config=config, preview=preview,
                          vertex_attributes=vertex_attributes)
    return out


def write_scene_files(result: SceneResult, folder: str | Path, *, scan_path: str | Path | None = None,
                      config: dict | None = None, preview: bool = True,
                      vertex_attributes: dict[str, np.ndarray] | None = None) -> Path:
    """The scene's files into `folder` (a staging folder of a result_folder writer)."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    marker = out / "instances.json"
    pts = np.asarray(result.points, dtype=np.float32).reshape(-1, 3)
    cols = np.asarray(result.colors, dtype=np.uint8).reshape(-1, 3)
    ids = np.asarray(result.instance_ids, dtype=np.int32).reshape(-1)
    with atomic_path(out / "points.npz", suffix=".npz") as tmp:
        np.savez_compressed(tmp, points=pts, colors=cols, instance_ids=ids)
    write_ply(out / "scene.ply", {
        "x": pts[:, 0], "y": pts[:, 1], "z": pts[:, 2],
        "red": cols[:, 0], "green": cols[:, 1], "blue": cols[:, 2],
        "instance_id": ids,
        **(vertex_attributes or {}),
    })
    if result.mesh is not None and result.mesh_instance_ids is not None:
        from ..io.mesh import write_mesh

        write_mesh(out / "mesh_instances.ply", result.mesh, instance_id=result.mesh_instance_ids.astype(np.int32))
        write_text_atomic(out / "mesh_instance_ids.txt", "\n".join(map(str, result.mesh_instance_ids.tolist())) + "\n")
    if preview and len(pts):
        from .preview import write_preview

        write_preview(pts, ids, out / "preview.png", scene_colors=cols, camera=result.meta.get("camera"))
    doc = {
        "format": SCENE_FORMAT,
        "version": SCENE_VERSION,
        "scan": None if scan_path is None else str(scan_path),
        "point_count": int(len(pts)),
        "instances": [instance_record(i) for i in result.instances],
        "timings": {k: round(float(v), 6) for k, v in result.timings.items()},
        "meta": result.meta,
        "config": config or {},
    }
    write_text_atomic(marker, json.dumps(doc, indent=1))
    return out


def read_scene(scene_dir: str | Path) -> SceneResult:
    """Read a scene folder back (instances get their points from points.npz)."""
    d = resolve_result(Path(scene_dir))
    meta_path, pts_path = d / "instances.json", d / "points.npz"
    for p in (meta_path, pts_path):
        if not p.is_file():
            raise ScanError(p, "scene file missing (is this an `ot3d segment` output folder?)")
    try:
        doc = json.loads(meta_path.read_bytes())
    except ValueError as exc:  # bad JSON or bad UTF-8
        raise ScanError(meta_path, f"not valid JSON: {exc}") from None
    if not isinstance(doc, dict) or doc.get("format") != SCENE_FORMAT:
        raise ScanError(meta_path, f"not an {SCENE_FORMAT} file")
    if not isinstance(doc.get("version", 0), int) or doc.get("version", 0) > SCENE_VERSION:
        raise ScanError(meta_path, f"scene format version {doc['version']} is newer than this engine ({SCENE_VERSION})")
    try:
        with np.load(pts_path) as z:
            pts, cols, ids = z["points"], z["colors"], z["instance_ids"]
    except Exception as exc:  # zipfile/KeyError/ValueError: all mean a broken file
        raise ScanError(pts_path, f"cannot read scene arrays: {exc}") from None
    if not (len(pts) == len(cols) == len(ids)):
        raise ScanError(pts_path, "points, colors and instance_ids differ in length")
    try:
        instances = _instances(doc, pts, cols, ids)
    except (KeyError, TypeError, ValueError) as exc:
        raise ScanError(meta_path, f"malformed instance record ({type(exc).__name__}: {exc})") from None
    return SceneResult(points=pts, colors=cols, instance_ids=ids, instances=instances,
                       timings=doc.get("timings", {}), meta={**doc.get("meta", {}), "scan": doc.get("scan")})


def _instances(doc: dict, pts: np.ndarray, cols: np.ndarray, ids: np.ndarray) -> list[Instance]:
    order = np.argsort(ids, kind="stable")
    sorted_ids = ids[order]
    instances = []
    for rec in doc["instances"]:
        lo, hi = np.searchsorted(sorted_ids, [rec["id"], rec["id"] + 1])
        sel = order[lo:hi]
        instances.append(Instance(
            id=int(rec["id"]), points=pts[sel], colors=cols[sel], score=float(rec["score"]),
            label=rec.get("label", "object"), label_score=float(rec.get("label_score", 0.0)),
            observations=int(rec.get("observations", 0)),
            best_views=[View(v["frame"], v["pixels"], None if v.get("box") is None else tuple(v["box"]))
                        for v in rec.get("best_views", [])],
        ))
    return instances
