"""Human-readable AP table, laid out like ScanNet's print_results."""

from __future__ import annotations

import math

from .ap import APResult


def _fmt(v: float) -> str:
    return "    -" if v is None or math.isnan(v) else f"{v:5.3f}"


def format_table(result: APResult) -> str:
    width = 62
    head = f"{'class':<20}{'AP':>8}{'AP50':>8}{'AP25':>8}{'#gt':>8}{'#pred':>8}"
    lines = ["#" * width, head, "#" * width]
    for name, c in sorted(result.classes.items()):
        lines.append(f"{name:<20}{_fmt(c.ap):>8}{_fmt(c.ap50):>8}{_fmt(c.ap25):>8}{c.gt_instances:>8}{c.pred_instances:>8}")
    lines.append("-" * width)
    lines.append(f"{'average':<20}{_fmt(result.ap):>8}{_fmt(result.ap50):>8}{_fmt(result.ap25):>8}"
                 f"{result.counts.get('gt_instances', 0):>8}{result.counts.get('pred_instances', 0):>8}")
    mode = "class-agnostic" if result.class_agnostic else "per-class"
    c = result.counts
    lines.append(f"({mode}; GT instances < {result.min_region_size} points ignored: {c.get('gt_instances_small', 0)}; "
                 f"predictions dropped: {c.get('pred_instances_small', 0)} small, "
                 f"{c.get('pred_instances_unknown_label', 0)} unknown label; "
                 f"GT points with a prediction: {c.get('gt_points_with_prediction', 0)}/{c.get('gt_points', 0)})")
    return "\n".join(lines)
