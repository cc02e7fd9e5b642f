"""Write the (corrected) segmentation into an export folder (operators/export_ops.py asks where).

Into one folder:
- the engine's scene format (instances.json, points.npz, scene.ply with `instance_id`
  and `label_id` vertex attributes), written by the engine's own writer; re-importing
  the folder (or the PLY) reproduces the same instances;
- ScanNet benchmark files: `<name>.txt` listing `pred_mask/<name>_NNN.txt label_id score`
  per instance, one 0/1-per-vertex mask file per instance, plus per-vertex
  `<name>_instance_ids.txt` / `<name>_labels.txt` and `label_map.tsv` (label_id -> name).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from . import segmentation as seg
from ..engine_link.source import engine_module


def label_table(records: list[dict]) -> dict[str, int]:
    """label name -> id (1-based, in order of first appearance by instance id)."""
    table: dict[str, int] = {}
    for rec in sorted(records, key=lambda r: r["id"]):
        table.setdefault(rec["label"], len(table) + 1)
    return table


def _int_lines(values: np.ndarray) -> bytes:
    return ("\n".join(np.asarray(values, dtype=np.int64).astype(str).tolist()) + "\n").encode("ascii")


def _mask_lines(mask: np.ndarray) -> bytes:
    """'0\\n'/'1\\n' per vertex, built as one byte array (1M vertices in milliseconds)."""
    out = np.empty((len(mask), 2), dtype=np.uint8)
    out[:, 0] = np.where(mask, ord("1"), ord("0"))
    out[:, 1] = ord("\n")
    return out.tobytes()


def write_scene_folder(data: seg.SceneData, out_dir: str | Path, *, staged: bool = False) -> Path:
    """The engine's scene format (instances.json, points.npz, scene.ply with instance and
    label ids), written by the engine's own writer, so the engine and a re-import read it.
    staged=True: `out_dir` is a staging folder, written into directly (see write_export)."""
    out = Path(out_dir)
    types = engine_module("types")
    scene_io = engine_module("output.scene_io")
    ids = np.asarray(data.instance_ids, dtype=np.int32)
    order = np.argsort(ids, kind="stable")
    sorted_ids = ids[order]
    instances = []
    for rec in data.instances:
        lo, hi = np.searchsorted(sorted_ids, [rec["id"], rec["id"] + 1])
        sel = order[lo:hi]
        views = [types.View(int(v["frame"]), int(v["pixels"]), None if v.get("box") is None else tuple(v["box"]))
                 for v in rec.get("best_views", [])]
        instances.append(types.Instance(id=int(rec["id"]), points=data.points[sel], score=float(rec["score"]),
                                        label=rec["label"], label_score=float(rec.get("label_score", 0.0)),
                                        colors=data.colors[sel], best_views=views,
                                        observations=int(rec.get("observations", 0))))
    result = types.SceneResult(points=data.points, colors=data.colors, instance_ids=ids, instances=instances,
                               meta={"exported_from": "blender", "source": data.source})
    write = scene_io.write_scene_files if staged else scene_io.write_scene
    write(result, out, scan_path=data.meta.get("scan"), preview=False,
          vertex_attributes={"label_id": point_labels(data)})
    return out


def point_labels(data: seg.SceneData) -> np.ndarray:
    """Per-point label id (label_table numbering), 0 for unassigned points."""
    ids = np.asarray(data.instance_ids, dtype=np.int64)
    labels = label_table(data.instances)
    label_of_id = np.zeros(int(max([r["id"] for r in data.instances], default=0)) + 1, dtype=np.int32)
    for rec in data.instances:
        label_of_id[rec["id"]] = labels[rec["label"]]
    return label_of_id[np.where((ids >= 0) & (ids < len(label_of_id)), ids, 0)]


def write_export(data: seg.SceneData, out_dir: str | Path, name: str = "scene") -> dict[str, Path]:
    """Everything is built in a staging folder and swapped in whole (the engine's
    result_folder): an earlier export there is replaced, never mixed with this one."""
    final = Path(out_dir)
    atomic = engine_module("io.atomic")
    with atomic.result_folder(final, kind="ot3d-export") as stage:
        files = _write_export_files(atomic, data, Path(stage), name)
    return {key: final / path.relative_to(stage) for key, path in files.items()}


def _write_export_files(atomic, data: seg.SceneData, out: Path, name: str) -> dict[str, Path]:
    write_scene_folder(data, out, staged=True)
    ids = np.asarray(data.instance_ids, dtype=np.int32)
    labels = label_table(data.instances)
    point_label_ids = point_labels(data)

    files = {"instances": out / "instances.json", "points": out / "points.npz", "ply": out / "scene.ply"}
    table = "label_id\tname\n" + "".join(f"{i}\t{n}\n" for n, i in labels.items())
    atomic.write_text_atomic(out / "label_map.tsv", table)
    files["label_map"] = out / "label_map.tsv"
    masks_dir = out / "pred_mask"
    masks_dir.mkdir(exist_ok=True)
    summary = []
    for k, rec in enumerate(sorted(data.instances, key=lambda r: r["id"])):
        rel = f"pred_mask/{name}_{k:03d}.txt"
        _write_bytes(atomic, out / rel, _mask_lines(ids == rec["id"]))
        summary.append(f"{rel} {labels[rec['label']]} {float(rec['score']):.6f}\n")
    atomic.write_text_atomic(out / f"{name}.txt", "".join(summary))
    _write_bytes(atomic, out / f"{name}_instance_ids.txt", _int_lines(ids))
    _write_bytes(atomic, out / f"{name}_labels.txt", _int_lines(point_label_ids))
    files.update(scannet=out / f"{name}.txt", instance_ids=out / f"{name}_instance_ids.txt",
                 labels=out / f"{name}_labels.txt", masks=masks_dir)
    return files


def _write_bytes(atomic, path: Path, payload: bytes) -> None:
    with atomic.atomic_path(path) as tmp:
        Path(tmp).write_bytes(payload)
