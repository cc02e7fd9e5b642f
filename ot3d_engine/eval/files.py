"""Read what the evaluator compares: a pipeline output folder and a scan's 3D ground truth.

Prediction folder (written by `ot3d segment`): points.npz (points, colors, instance_ids)
and instances.json ({"instances": [{"id", "label", "score", ...}]}).
Ground truth (in a scan folder, e.g. from `ot3d synth`): gt_points.npz (points, instance,
semantic) and gt_classes.json ({"classes": {"<id>": name}, "ignore": [ids]}); or a labelled
.pcd file (mOSD labels: 0 invalid, 1..9 table = void, objects = label // 10), so a PCD
result can be scored with `ot3d eval` alone.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ScanError
from ..types import GroundTruth


@dataclass
class Prediction:
    points: np.ndarray  # Nx3 float32
    instance_ids: np.ndarray  # N int32, 0 = unassigned
    scores: dict[int, float]
    labels: dict[int, str]


def _folder(path: str | Path, what: str) -> Path:
    path = Path(path)
    if not path.is_dir():
        raise ScanError(path, f"{what} folder not found")
    return path


def _load_npz(path: Path, keys: tuple[str, ...]) -> dict[str, np.ndarray]:
    if not path.is_file():
        raise ScanError(path, "file missing")
    try:
        with np.load(path) as z:
            missing = [k for k in keys if k not in z.files]
            if missing:
                raise ScanError(path, f"array(s) {', '.join(missing)} missing (has: {', '.join(z.files) or 'none'})")
            return {k: z[k] for k in keys}
    except ScanError:
        raise
    except Exception as exc:  # zipfile.BadZipFile, ValueError, OSError: a broken file
        raise ScanError(path, f"cannot read arrays: {exc}") from None


def _load_json(path: Path) -> dict:
    if not path.is_file():
        raise ScanError(path, "file missing")
    try:
        doc = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ScanError(path, f"not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise ScanError(path, "expected a JSON object at the top level")
    return doc


def _points(arr: np.ndarray, path: Path, name: str) -> np.ndarray:
    if arr.ndim != 2 or arr.shape[1] != 3:
        raise ScanError(path, f"'{name}' must be Nx3, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ScanError(path, f"'{name}' contains NaN or infinite coordinates")
    return arr


def load_ground_truth(scan_dir: str | Path) -> GroundTruth:
    """From a scan folder with gt_points.npz + gt_classes.json, or a labelled .pcd file."""
    path = Path(scan_dir)
    if path.suffix.lower() == ".pcd":
        return _pcd_ground_truth(path)
    if path.is_file():
        raise ScanError(path, "ground truth must be a scan folder (gt_points.npz + gt_classes.json) or a labelled .pcd")
    d = _folder(scan_dir, "ground-truth scan")
    npz = d / "gt_points.npz"
    arrays = _load_npz(npz, ("points", "instance", "semantic"))
    pts = _points(arrays["points"], npz, "points")
    inst, sem = arrays["instance"].reshape(-1), arrays["semantic"].reshape(-1)
    if not (len(pts) == len(inst) == len(sem)):
        raise ScanError(npz, f"points ({len(pts)}), instance ({len(inst)}) and semantic ({len(sem)}) differ in length")
    cls_path = d / "gt_classes.json"
    doc = _load_json(cls_path)
    try:
        classes = {int(k): str(v) for k, v in doc.get("classes", {}).items()}
        ignore = tuple(int(c) for c in doc.get("ignore", []))
    except (AttributeError, TypeError, ValueError):
        raise ScanError(cls_path, "'classes' must map integer ids to names and 'ignore' list integer ids") from None
    return GroundTruth(points=pts.astype(np.float32), instance=inst.astype(np.int32), semantic=sem.astype(np.int32),
                       class_names=classes, ignore_classes=ignore)


def _pcd_ground_truth(path: Path) -> GroundTruth:
    """The labelled cloud's valid points; the table is an ignored class (void), as in mOSD."""
    from ..io.mosd import read_mosd

    if not path.is_file():
        raise ScanError(path, "ground-truth .pcd file not found")
    gt = read_mosd(path).ground_truth
    if not np.any(gt.instance > 1):
        raise ScanError(path, "no object labels (>= 10) in this cloud: nothing to evaluate")
    return gt


def load_prediction(pred_dir: str | Path) -> Prediction:
    d = _folder(pred_dir, "prediction")
    npz = d / "points.npz"
    arrays = _load_npz(npz, ("points", "instance_ids"))
    pts = _points(arrays["points"], npz, "points")
    ids = arrays["instance_ids"].reshape(-1)
    if len(ids) != len(pts):
        raise ScanError(npz, f"{len(pts)} points but {len(ids)} instance_ids")
    meta = d / "instances.json"
    records = _load_json(meta).get("instances")
    if not isinstance(records, list):
        raise ScanError(meta, "'instances' must be a list")
    scores, labels = {}, {}
    for n, rec in enumerate(records):
        try:
            iid = int(rec["id"])
            scores[iid] = float(rec.get("score", 1.0))
            labels[iid] = str(rec.get("label", "object"))
        except (KeyError, TypeError, ValueError):
            raise ScanError(meta, f"instance #{n} needs an integer 'id' and a numeric 'score'") from None
    unknown = sorted(set(np.unique(ids[ids != 0]).tolist()) - set(scores))
    if unknown:
        raise ScanError(meta, f"instance ids {unknown[:10]} used in points.npz have no entry")
    return Prediction(points=pts.astype(np.float32), instance_ids=ids.astype(np.int32), scores=scores, labels=labels)
