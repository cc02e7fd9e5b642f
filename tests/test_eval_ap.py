"""ScanNet-protocol AP on hand-made scenes whose AP is derived by hand in the comments.

Notation for the derivations (ScanNet's evaluate_semantic_instance.py): predictions are
sorted by ascending score; for each distinct score s, tp = TPs with score >= s,
fp = examples with score >= s minus tp, fn = TPs below s + hard false negatives;
precision p = tp/(tp+fp), recall r = tp/(tp+fn); an artificial last point (p=1, r=0)
is appended; AP = sum_i p_i * (r_{i-1} - r_{i+1}) / 2 with r_{-1} = r_0 and r_n = 0.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from ot3d_engine.cli import main
from ot3d_engine.errors import ScanError
from ot3d_engine.eval import average_precision, evaluate, load_ground_truth, load_prediction
from ot3d_engine.types import GroundTruth

CHAIR, TABLE, WALL = 5, 7, 1
NAMES = {WALL: "wall", CHAIR: "chair", TABLE: "table"}


def grid_points(n: int) -> np.ndarray:
    """n points on a 3 cm grid: nearest neighbours are 3 cm apart."""
    k = np.arange(n)
    return np.stack([(k % 100) * 0.03, (k // 100) * 0.03, np.zeros(n)], 1).astype(np.float32)


def scene(segments, ignore=(WALL,)):
    """segments: (instance id, class id, point count), laid out one after another.
    -> GroundTruth and, per instance id, the indices of its points."""
    inst = np.concatenate([np.full(n, i) for i, _, n in segments]).astype(np.int32)
    sem = np.concatenate([np.full(n, c) for _, c, n in segments]).astype(np.int32)
    gt = GroundTruth(grid_points(len(inst)), inst, sem, dict(NAMES), tuple(ignore))
    where = {}
    for i, _, _ in segments:
        where.setdefault(i, np.flatnonzero(inst == i))
    return gt, where


def prediction(gt, assignments):
    """assignments: (pred id, point indices, score, label) -> per-point ids, scores, labels."""
    ids = np.zeros(len(gt.points), np.int32)
    scores, labels = {}, {}
    for pid, idx, score, label in assignments:
        ids[idx] = pid
        scores[pid], labels[pid] = score, label
    return ids, scores, labels


def run(gt, assignments, **kw):
    ids, scores, labels = prediction(gt, assignments)
    return evaluate(gt, gt.points, ids, scores, labels, **kw)


def test_perfect_prediction_scores_one_in_both_modes():
    gt, at = scene([(1, CHAIR, 200), (2, TABLE, 300)])
    preds = [(10, at[1], 0.9, "chair"), (20, at[2], 0.8, "table")]
    # every GT matched at IoU 1 at every threshold, no FP: one point (p=1, r=1) -> AP 1
    for agnostic in (True, False):
        r = run(gt, preds, class_agnostic=agnostic)
        assert (r.ap, r.ap50, r.ap25) == (1.0, 1.0, 1.0)
        assert r.counts["gt_instances"] == 2 and r.counts["pred_instances"] == 2
    assert set(run(gt, preds, class_agnostic=False).classes) == {"chair", "table"}


def test_one_of_two_gt_missed_halves_ap():
    gt, at = scene([(1, CHAIR, 200), (2, CHAIR, 200)])
    r = run(gt, [(10, at[1], 0.9, "chair")])
    # y = [TP 0.9], 1 hard FN: point (p=1, r=1/2), end (1, 0);
    # widths: (1/2 - 0)/2 = 1/4 each -> AP = 1/4 + 1/4 = 1/2 at every threshold
    assert r.ap == pytest.approx(0.5) and r.ap50 == pytest.approx(0.5) and r.ap25 == pytest.approx(0.5)


def test_pr_curve_of_a_false_positive_between_two_true_positives():
    # scores 0.7 T, 0.8 F, 0.9 T, no FN. Thresholds 0.7: tp 2 fp 1 -> (2/3, 1);
    # 0.8: tp 1 fp 1 fn 1 -> (1/2, 1/2); 0.9: tp 1 fp 0 fn 1 -> (1, 1/2); end (1, 0).
    # widths: (1-1/2)/2, (1-1/2)/2, (1/2-0)/2, (1/2-0)/2 = 1/4 each
    # AP = (2/3 + 1/2 + 1 + 1) / 4 = 19/24
    ap = average_precision(np.array([1.0, 0.0, 1.0]), np.array([0.9, 0.8, 0.7]), 0)
    assert ap == pytest.approx(19 / 24)


def test_lower_confidence_duplicate_is_a_false_positive():
    # GT A has 400 points; two disjoint predictions cover 200 each (IoU 0.5 each), B is exact.
    gt, at = scene([(1, CHAIR, 400), (2, CHAIR, 200)])
    a1, a2 = at[1][:200], at[1][200:]
    r = run(gt, [(10, a1, 0.9, "chair"), (11, a2, 0.8, "chair"), (20, at[2], 0.7, "chair")])
    # t = 0.25: both halves exceed 0.25 on A; the 0.9 one is the TP, the 0.8 one a duplicate
    # FP: y = [0.9 T, 0.8 F, 0.7 T] -> 19/24 (derivation in the test above).
    assert r.ap25 == pytest.approx(19 / 24)
    # t >= 0.5: IoU 0.5 is not > 0.5, so A is a hard FN and both halves are plain FPs:
    # y = [0.7 T, 0.8 F, 0.9 F], fn 1. Thresholds 0.7: tp 1 fp 2 fn 1 -> (1/3, 1/2);
    # 0.8: tp 0 -> (0, 0); 0.9: (0, 0); end (1, 0). Widths 1/4, 1/4, 0, 0 -> AP = 1/12.
    assert r.ap50 == pytest.approx(1 / 12) and r.ap == pytest.approx(1 / 12)
    # without the duplicate, t = 0.25 is perfect: the FP is what costs AP25
    assert run(gt, [(10, a1, 0.9, "chair"), (20, at[2], 0.7, "chair")]).ap25 == pytest.approx(1.0)


def test_prediction_on_void_is_not_a_false_positive():
    gt, at = scene([(1, CHAIR, 200), (2, TABLE, 200), (3, WALL, 1000), (0, 0, 300)])
    on_wall = at[3][:150]
    a, b = (10, at[1], 0.9, "chair"), (20, at[2], 0.5, "table")
    # all of the prediction lies on the ignored wall class (share 1 > t): not counted -> AP 1
    r = run(gt, [a, b, (30, on_wall, 0.7, "chair")])
    assert (r.ap, r.ap50, r.ap25) == (1.0, 1.0, 1.0)
    # ... and on points without any instance (id 0): same
    r = run(gt, [a, b, (30, at[0][:150], 0.7, "chair")])
    assert (r.ap, r.ap50, r.ap25) == (1.0, 1.0, 1.0)
    # With the wall not ignored it is a GT instance (1000 points) that the 150-point
    # prediction overlaps at IoU 0.15 < 0.25: wall = hard FN, prediction = FP at 0.7.
    # y = [0.5 T, 0.7 F, 0.9 T], fn 1: 0.5: tp 2 fp 1 fn 1 -> (2/3, 2/3); 0.7: tp 1 fp 1 fn 2
    # -> (1/2, 1/3); 0.9: tp 1 fp 0 fn 2 -> (1, 1/3); end (1, 0). Widths all 1/6.
    # AP = (2/3 + 1/2 + 1 + 1) / 6 = 19/36 at every threshold.
    wall_counts = GroundTruth(gt.points, gt.instance, gt.semantic, dict(NAMES), ignore_classes=())
    r = run(wall_counts, [a, b, (30, on_wall, 0.7, "chair")])
    assert r.ap == pytest.approx(19 / 36) and r.ap50 == pytest.approx(19 / 36) and r.ap25 == pytest.approx(19 / 36)


def test_small_gt_instance_is_ignored():
    gt, at = scene([(1, CHAIR, 200), (2, CHAIR, 50), (0, 0, 100)])
    # the second prediction: the 50 small-GT points plus 60 void points (110 >= 100 kept)
    s = np.concatenate([at[2], at[0][:60]])
    preds = [(10, at[1], 0.9, "chair"), (20, s, 0.8, "chair")]
    r = run(gt, preds)
    # The 50-point GT is below min_region_size: not a GT to find. Its prediction is no FP:
    # at t = 0.25 it overlaps that (small) GT at IoU 50/110 > 0.25; at t >= 0.5 its
    # ignorable share is (60 void + 50 small GT)/110 = 1 > t. So only A counts: AP 1.
    assert (r.ap, r.ap50, r.ap25) == (1.0, 1.0, 1.0)
    assert r.counts["gt_instances"] == 1 and r.counts["gt_instances_small"] == 1
    # With min_region_size 40 the 50-point GT counts. t = 0.25: matched (IoU 0.45) -> AP25 1.
    # t = 0.5: unmatched GT (fn 1); the prediction's void share 60/110 = 0.545 > 0.5 so it
    # is ignored: y = [0.9 T], fn 1 -> 1/2. t >= 0.55: share <= t, it is an FP at 0.8:
    # y = [0.8 F, 0.9 T], fn 1: 0.8: tp 1 fp 1 fn 1 -> (1/2, 1/2); 0.9: (1, 1/2); end (1, 0);
    # widths 0, 1/4, 1/4 -> AP 1/2. Mean over 0.5..0.9 = 1/2.
    r = run(gt, preds, min_region_size=40)
    assert r.ap25 == pytest.approx(1.0) and r.ap50 == pytest.approx(0.5) and r.ap == pytest.approx(0.5)


def test_prediction_under_min_region_size_is_dropped():
    gt, at = scene([(1, CHAIR, 200), (2, TABLE, 300)])
    # an 80-point prediction inside the table: at 100+ points it would be an FP scored above
    # the TP (AP < 1), but predictions under min_region_size are dropped, as the script does
    r = run(gt, [(10, at[1], 0.5, "chair"), (20, at[2][:80], 0.9, "table"), (30, at[2][80:], 0.4, "table")])
    assert r.counts["pred_instances_small"] == 1 and r.counts["pred_instances"] == 2
    # the table's remaining 220/300 points: IoU 0.733 -> TP up to t = 0.7, so AP 1 at
    # 0.5..0.7 (5 thresholds). From 0.75 the table is a FN and that prediction an FP:
    # y = [0.5 T, 0.4 F], fn 1: 0.4: tp 1 fp 1 fn 1 -> (1/2, 1/2); 0.5: (1, 1/2); end (1, 0);
    # widths 0, 1/4, 1/4 -> 1/2 at 0.75..0.9 (4 thresholds). Mean (5 + 4/2)/9 = 7/9
    assert r.ap == pytest.approx(7 / 9) and r.ap50 == 1.0


def test_per_class_label_mismatch():
    gt, at = scene([(1, CHAIR, 200), (2, TABLE, 200)])
    wrong = [(10, at[1], 0.9, "table"), (20, at[2], 0.8, "table")]
    # class-agnostic: labels do not matter -> 1
    assert run(gt, wrong, class_agnostic=True).ap == 1.0
    r = run(gt, wrong, class_agnostic=False)
    # chair: a GT but no chair prediction -> 0.
    # table: y = [0.8 T, 0.9 F] (the chair-shaped "table" matches no table GT and is not on
    # void). 0.8: tp 1 fp 1 fn 0 -> (1/2, 1); 0.9: tp 0 fp 1 fn 1 -> (0, 0); end (1, 0).
    # Widths (1-0)/2, (1-0)/2, 0 -> AP = 1/2 * 1/2 = 1/4. Mean over classes = 1/8.
    assert r.classes["chair"].ap == 0.0
    assert r.classes["table"].ap == pytest.approx(0.25)
    assert r.ap == pytest.approx(0.125) and r.ap50 == pytest.approx(0.125)
    # labels are matched case-insensitively; an unknown label is not evaluated at all
    right = [(10, at[1], 0.9, "Chair"), (20, at[2], 0.8, "table"), (30, np.arange(0), 0.7, "sofa")]
    assert run(gt, right, class_agnostic=False).ap == 1.0
    r = run(gt, [(10, at[1], 0.9, "lamp"), (20, at[2], 0.8, "table")], class_agnostic=False)
    assert r.counts["pred_instances_unknown_label"] == 1 and r.classes["chair"].ap == 0.0


def test_nearest_neighbour_transfer_between_point_sets():
    gt, at = scene([(1, CHAIR, 200), (2, TABLE, 300)])
    ids, scores, labels = prediction(gt, [(10, at[1], 0.9, "chair"), (20, at[2], 0.8, "table")])
    rng = np.random.default_rng(0)
    order = rng.permutation(len(ids))
    shift = np.full(3, 0.01 / np.sqrt(3))  # 1 cm away; other points are >= 2.4 cm away
    far = np.full((50, 3), 10.0, np.float32)  # unassigned points nowhere near the GT
    pts = np.concatenate([gt.points[order] + shift, far]).astype(np.float32)
    pid = np.concatenate([ids[order], np.zeros(50, np.int32)])
    r = evaluate(gt, pts, pid, scores, labels, radius=0.05)
    assert (r.ap, r.ap50, r.ap25) == (1.0, 1.0, 1.0)
    assert r.counts["gt_points_with_prediction"] == 500
    # radius below the 1 cm offset: nothing reaches the GT -> GT present, no prediction: 0
    r = evaluate(gt, pts, pid, scores, labels, radius=0.005)
    assert r.ap == 0.0 and r.counts["gt_points_with_prediction"] == 0
    # a sparser prediction (every other point) still covers the GT within 5 cm
    half = np.arange(0, len(ids), 2)
    r = evaluate(gt, gt.points[half] + shift, ids[half], scores, labels, radius=0.05)
    assert r.ap == 1.0


def test_scene_without_evaluable_gt_has_no_ap():
    # only an ignored wall and unlabelled points: every class has "no GT" -> NaN, JSON null
    gt, at = scene([(3, WALL, 300), (0, 0, 200)])
    r = run(gt, [(10, at[3], 0.9, "chair")])
    assert np.isnan(r.ap) and r.to_dict()["ap"] is None and r.counts["gt_instances"] == 0
    empty = GroundTruth(np.zeros((0, 3), np.float32), np.zeros(0, np.int32), np.zeros(0, np.int32))
    assert np.isnan(evaluate(empty, gt.points, np.zeros(len(gt.points), np.int32), {}).ap)


def write_gt(folder, gt):
    folder.mkdir()
    np.savez(folder / "gt_points.npz", points=gt.points, instance=gt.instance, semantic=gt.semantic)
    (folder / "gt_classes.json").write_text(json.dumps(
        {"classes": {str(k): v for k, v in gt.class_names.items()}, "ignore": list(gt.ignore_classes)}))


def write_pred(folder, points, ids, scores, labels):
    folder.mkdir()
    np.savez(folder / "points.npz", points=points, colors=np.zeros((len(points), 3), np.uint8), instance_ids=ids)
    (folder / "instances.json").write_text(json.dumps(
        {"instances": [{"id": i, "label": labels[i], "score": scores[i]} for i in scores]}))


def test_cli_json_and_table(tmp_path, capsys):
    gt, at = scene([(1, CHAIR, 200), (2, TABLE, 200), (3, WALL, 500)])
    write_gt(tmp_path / "gt", gt)
    ids, scores, labels = prediction(gt, [(10, at[1], 0.9, "chair"), (20, at[2], 0.8, "table")])
    write_pred(tmp_path / "pred", gt.points, ids, scores, labels)
    loaded = load_ground_truth(tmp_path / "gt")
    assert loaded.ignore_classes == (WALL,) and loaded.class_names[CHAIR] == "chair"
    assert main(["eval", "--pred", str(tmp_path / "pred"), "--gt", str(tmp_path / "gt"), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["ap"] == 1.0 and doc["ap50"] == 1.0 and doc["ap25"] == 1.0
    assert main(["eval", "--pred", str(tmp_path / "pred"), "--gt", str(tmp_path / "gt"), "--per-class"]) == 0
    out = capsys.readouterr().out
    assert "chair" in out and "table" in out and "average" in out


def test_bad_inputs_name_the_file(tmp_path, capsys):
    gt, at = scene([(1, CHAIR, 200)])
    write_gt(tmp_path / "gt", gt)
    ids, scores, labels = prediction(gt, [(10, at[1], 0.9, "chair")])
    write_pred(tmp_path / "pred", gt.points, ids, {}, {})  # instances.json lists nothing
    with pytest.raises(ScanError, match="instances.json.*have no entry"):
        load_prediction(tmp_path / "pred")
    (tmp_path / "gt" / "gt_points.npz").unlink()
    rc = main(["eval", "--pred", str(tmp_path / "pred"), "--gt", str(tmp_path / "gt")])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("error: ") and "gt_points.npz" in err and "Traceback" not in err
