"""ScanNet instance-segmentation AP, an array reimplementation of ScanNet's
BenchmarkScripts/3d_evaluation/evaluate_semantic_instance.py (itself from Cityscapes).

Kept faithful so numbers compare with published ones:
- overlaps 0.50:0.05:0.90 plus 0.25; AP = mean over 0.50..0.90; AP50, AP25;
- GT instances under `min_region_size` points are not evaluated, predictions under it
  are dropped (the script's `if num < min_region_sizes[0]: continue`);
- per GT, the first not-yet-used prediction with IoU > t is the TP (predictions are
  visited in decreasing confidence, so that is the most confident one); further
  predictions over t on the same GT are duplicates: false positives;
- an unmatched prediction is a false positive unless the share of its points on void
  (no instance, ignored or unknown class) or on too-small GT of its class exceeds t;
- the PR curve and its integration copy the script (its thresholds, its artificial end
  point at recall 0, its step widths from np.convolve).
One deliberate difference: the script's `bool_void = np.in1d(gt_ids, VALID_CLASS_IDS)`
marks valid points, not void ones (a known bug that makes the void term ~0 on ScanNet);
here void means what the script's comments say it means.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np

from ..types import GroundTruth
from .transfer import transfer_instance_ids

OVERLAPS = np.append(np.arange(0.5, 0.95, 0.05), 0.25)
MIN_REGION_SIZE = 100
AGNOSTIC_CLASS = "object"
_O50 = np.isclose(OVERLAPS, 0.5)
_O25 = np.isclose(OVERLAPS, 0.25)
_MAIN = ~_O25


@dataclass
class ClassAP:
    ap: float
    ap50: float
    ap25: float
    gt_instances: int  # evaluated GT instances (>= min_region_size)
    pred_instances: int  # evaluated predictions
    per_overlap: list[float] = field(default_factory=list)


@dataclass
class APResult:
    ap: float
    ap50: float
    ap25: float
    classes: dict[str, ClassAP]
    counts: dict[str, int]
    class_agnostic: bool
    min_region_size: int
    radius: float
    per_overlap: list[float] = field(default_factory=list)  # mean over classes, per OVERLAPS entry

    def to_dict(self) -> dict:
        """JSON-ready: NaN (no GT for a class) becomes None."""
        return {
            "ap": _num(self.ap), "ap50": _num(self.ap50), "ap25": _num(self.ap25),
            "class_agnostic": self.class_agnostic, "min_region_size": self.min_region_size,
            "radius": self.radius,
            "overlaps": [round(float(o), 2) for o in OVERLAPS],
            "per_overlap": [_num(v) for v in self.per_overlap],
            "classes": {name: {"ap": _num(c.ap), "ap50": _num(c.ap50), "ap25": _num(c.ap25),
                               "gt_instances": c.gt_instances, "pred_instances": c.pred_instances,
                               "per_overlap": [_num(v) for v in c.per_overlap]}
                        for name, c in self.classes.items()},
            "counts": dict(self.counts),
        }


def _num(v: float) -> float | None:
    return None if v is None or math.isnan(v) else float(v)


def _norm(name: str) -> str:
    return " ".join(str(name).strip().lower().split())


def evaluate(gt: GroundTruth, pred_points: np.ndarray, pred_instance_ids: np.ndarray,
             pred_scores: dict[int, float], pred_labels: dict[int, str] | None = None, *,
             class_agnostic: bool = True, radius: float = 0.05,
             min_region_size: int = MIN_REGION_SIZE) -> APResult:
    """Score predicted instances against per-point GT (one scene).

    pred_instance_ids: one id per prediction point, 0 = unassigned; pred_scores and
    pred_labels are keyed by those ids. Per-class mode matches label names to GT class
    names (case-insensitive); predictions with other labels are not evaluated.
    """
    gt_inst = np.asarray(gt.instance).reshape(-1).astype(np.int64)
    gt_sem = np.asarray(gt.semantic).reshape(-1).astype(np.int64)
    if not (len(gt_inst) == len(gt_sem) == len(np.asarray(gt.points).reshape(-1, 3))):
        raise ValueError("ground truth points, instance and semantic arrays differ in length")
    if not class_agnostic and pred_labels is None:
        raise ValueError("per-class evaluation needs pred_labels")
    pred_on_gt = transfer_instance_ids(gt.points, pred_points, pred_instance_ids, radius)

    class_names, gt_class, gt_ids, gt_point_index = _gt_instances(gt, gt_inst, gt_sem, class_agnostic)
    gt_count = np.bincount(gt_point_index[gt_point_index >= 0], minlength=len(gt_ids))
    void_point = np.append(gt_class < 0, True)[gt_point_index]  # row -1 (no instance) -> void

    counts = {"gt_points": int(len(gt_inst)), "gt_points_with_prediction": int(np.count_nonzero(pred_on_gt))}
    all_ids, all_count = np.unique(pred_on_gt[pred_on_gt != 0], return_counts=True)
    missing = [int(i) for i in all_ids if int(i) not in pred_scores]
    if missing:
        raise ValueError(f"prediction instance ids {missing[:10]} have no score")
    keep = all_count >= min_region_size
    counts["pred_instances_small"] = int(np.count_nonzero(~keep))
    counts["pred_instances_off_gt"] = len(set(int(i) for i in pred_scores) - set(all_ids.tolist()))
    class_index = {name: i for i, name in enumerate(class_names)}
    if class_agnostic:
        all_class = np.zeros(len(all_ids), dtype=np.int64)
    else:
        all_class = np.array([class_index.get(_norm(pred_labels.get(int(i), "")), -1) for i in all_ids],
                             dtype=np.int64)
    counts["pred_instances_unknown_label"] = int(np.count_nonzero(keep & (all_class < 0)))
    keep &= all_class >= 0
    kept = np.flatnonzero(keep)
    conf = np.array([float(pred_scores[int(i)]) for i in all_ids[kept]], dtype=np.float64)
    kept = kept[np.lexsort((all_ids[kept], -conf))]  # decreasing confidence, ties by id
    pred_ids, pred_count, pred_class = all_ids[kept], all_count[kept], all_class[kept]
    pred_conf = np.array([float(pred_scores[int(i)]) for i in pred_ids], dtype=np.float64)

    # point -> prediction row; intersections with every GT instance and with void
    row_of = np.full(len(all_ids), -1, dtype=np.int64)
    row_of[kept] = np.arange(len(kept))
    pred_row = np.full(len(pred_on_gt), -1, dtype=np.int64)
    on = pred_on_gt != 0
    pred_row[on] = row_of[np.searchsorted(all_ids, pred_on_gt[on])]
    both = (pred_row >= 0) & (gt_point_index >= 0)
    n_g, n_p = len(gt_ids), len(pred_ids)
    inter = np.bincount(gt_point_index[both] * n_p + pred_row[both], minlength=n_g * n_p).reshape(n_g, n_p)
    void_inter = np.bincount(pred_row[(pred_row >= 0) & void_point], minlength=n_p)

    aps = np.full((len(class_names), len(OVERLAPS)), np.nan)
    table: dict[str, ClassAP] = {}
    evaluated_gt = (gt_class >= 0) & (gt_count >= min_region_size)
    counts["gt_instances"] = int(np.count_nonzero(evaluated_gt))
    counts["gt_instances_small"] = int(np.count_nonzero((gt_class >= 0) & (gt_count < min_region_size)))
    counts["pred_instances"] = int(n_p)
    for ci, name in enumerate(class_names):
        g = np.flatnonzero(gt_class == ci)
        p = np.flatnonzero(pred_class == ci)
        if len(g) == 0 and len(p) == 0:
            continue
        sub = inter[np.ix_(g, p)]
        iou = sub / np.maximum(gt_count[g][:, None] + pred_count[p][None, :] - sub, 1)
        small = gt_count[g] < min_region_size
        ignore_share = (void_inter[p] + sub[small].sum(0)) / pred_count[p]
        for oi, th in enumerate(OVERLAPS):
            aps[ci, oi] = _class_ap(iou, small, pred_conf[p], ignore_share, th)
        table[name] = ClassAP(ap=_mean(aps[ci, _MAIN]), ap50=float(aps[ci, _O50][0]), ap25=float(aps[ci, _O25][0]),
                              gt_instances=int(np.count_nonzero(~small)), pred_instances=int(len(p)),
                              per_overlap=aps[ci].tolist())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN: no GT at all
        per_overlap = np.nanmean(aps, axis=0) if len(aps) else np.full(len(OVERLAPS), np.nan)
        ap = float(np.nanmean(aps[:, _MAIN])) if len(aps) else math.nan
        ap50 = float(np.nanmean(aps[:, _O50])) if len(aps) else math.nan
        ap25 = float(np.nanmean(aps[:, _O25])) if len(aps) else math.nan
    return APResult(ap=ap, ap50=ap50, ap25=ap25, classes=table, counts=counts, class_agnostic=class_agnostic,
                    min_region_size=int(min_region_size), radius=float(radius), per_overlap=per_overlap.tolist())


def _mean(values: np.ndarray) -> float:
    return float(np.mean(values))  # NaN if the class has no GT, as np.average in the script


def _gt_instances(gt: GroundTruth, gt_inst: np.ndarray, gt_sem: np.ndarray, class_agnostic: bool):
    """-> (class names, eval class per GT instance (-1 = void), GT instance ids, instance row per point)."""
    ids = np.unique(gt_inst[gt_inst != 0])
    point_index = np.full(len(gt_inst), -1, dtype=np.int64)
    labelled = gt_inst != 0
    point_index[labelled] = np.searchsorted(ids, gt_inst[labelled])
    majority = _majority_class(point_index[labelled], gt_sem[labelled], len(ids))
    void_ids = set(int(c) for c in gt.ignore_classes) | {0}
    if class_agnostic:
        names = [AGNOSTIC_CLASS]
        cls = np.array([-1 if int(c) in void_ids else 0 for c in majority], dtype=np.int64)
        return names, cls, ids, point_index
    by_id = {int(cid): _norm(n) for cid, n in gt.class_names.items() if int(cid) not in void_ids}
    names = sorted(set(by_id.values()))
    index = {n: i for i, n in enumerate(names)}
    cls = np.array([index[by_id[int(c)]] if int(c) in by_id else -1 for c in majority], dtype=np.int64)
    return names, cls, ids, point_index


def _majority_class(rows: np.ndarray, sem: np.ndarray, n: int) -> np.ndarray:
    """Most frequent semantic id per GT instance (instances should be single-class)."""
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    pairs, pair_count = np.unique(np.stack([rows, sem], 1), axis=0, return_counts=True)
    best = np.lexsort((-pair_count, pairs[:, 0]))  # per row, highest count first
    first = np.unique(pairs[best, 0], return_index=True)[1]
    out = np.zeros(n, dtype=np.int64)
    out[pairs[best[first], 0]] = pairs[best[first], 1]
    return out


def _class_ap(iou: np.ndarray, small: np.ndarray, conf: np.ndarray, ignore_share: np.ndarray, th: float) -> float:
    """AP of one class at one overlap threshold (the script's evaluate_matches body)."""
    n_g, n_p = iou.shape
    visited = np.zeros(n_p, dtype=bool)
    y_true, y_score = [], []
    hard_false_negatives = 0
    over = iou > th
    for gi in np.flatnonzero(~small):
        cand = np.flatnonzero(over[gi] & ~visited)  # in decreasing confidence
        if len(cand) == 0:
            hard_false_negatives += 1
            continue
        visited[cand[0]] = True
        y_true.append(1.0)
        y_score.append(conf[cand[0]])
        y_true += [0.0] * (len(cand) - 1)  # duplicates of an already matched GT
        y_score += conf[cand[1:]].tolist()
    unmatched = ~over.any(0)  # no GT of the class (small ones included) over the threshold
    fp = unmatched & (ignore_share <= th)
    y_true += [0.0] * int(np.count_nonzero(fp))
    y_score += conf[fp].tolist()
    has_gt, has_pred = bool(np.any(~small)), n_p > 0
    if not has_gt:
        return math.nan
    if not has_pred:
        return 0.0
    return average_precision(np.asarray(y_true), np.asarray(y_score), hard_false_negatives)


def average_precision(y_true: np.ndarray, y_score: np.ndarray, hard_false_negatives: int) -> float:
    """The script's PR curve and its integral, vectorised."""
    if len(y_true) == 0:
        return 0.0
    order = np.argsort(y_score)
    y_score_sorted, y_true_sorted = y_score[order], y_true[order]
    cumsum = np.cumsum(y_true_sorted)
    _, unique_indices = np.unique(y_score_sorted, return_index=True)
    num_examples, num_true = len(y_score_sorted), cumsum[-1]
    below = np.append(cumsum, 0.0)[unique_indices - 1]  # index -1 -> the appended 0
    tp = num_true - below
    fp = num_examples - unique_indices - tp
    fn = below + hard_false_negatives
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.append(tp / (tp + fp), 1.0)
        recall = np.append(np.where(tp + fn > 0, tp / np.maximum(tp + fn, 1e-12), 0.0), 0.0)
    recall_for_conv = np.concatenate([recall[:1], recall, [0.0]])
    step_widths = np.convolve(recall_for_conv, [-0.5, 0, 0.5], "valid")
    return float(np.dot(precision, step_widths))
