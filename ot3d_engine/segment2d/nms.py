"""Box geometry shared by the neural segmenters: IoU, non-maximum suppression, boxes of masks."""

from __future__ import annotations

import numpy as np


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of x0,y0,x1,y1 boxes: len(a) x len(b)."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(-1)
    area_a = np.clip(a[:, 2:] - a[:, :2], 0, None).prod(-1)
    area_b = np.clip(b[:, 2:] - b[:, :2], 0, None).prod(-1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float, max_keep: int | None = None) -> np.ndarray:
    """Greedy NMS; returns kept indices, best score first. One IoU matrix, a loop over kept boxes only."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    if len(boxes) == 0:
        return np.zeros(0, dtype=np.int64)
    order = np.argsort(-scores, kind="stable")
    iou = box_iou(boxes[order], boxes[order])
    suppressed = np.zeros(len(order), dtype=bool)
    keep = []
    for i in range(len(order)):
        if suppressed[i]:
            continue
        keep.append(i)
        if max_keep is not None and len(keep) >= max_keep:
            break
        suppressed |= iou[i] > iou_threshold
    return order[np.asarray(keep, dtype=np.int64)]


def clip_boxes(boxes: np.ndarray, width: int, height: int) -> np.ndarray:
    boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4).copy()
    boxes[:, [0, 2]] = np.clip(boxes[:, [0, 2]], 0, width)
    boxes[:, [1, 3]] = np.clip(boxes[:, [1, 3]], 0, height)
    return boxes


def cxcywh_to_xyxy(boxes: np.ndarray) -> np.ndarray:
    boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    half = boxes[:, 2:] / 2
    return np.concatenate([boxes[:, :2] - half, boxes[:, :2] + half], axis=1)


def masks_to_boxes(masks: np.ndarray) -> np.ndarray:
    """x0,y0,x1,y1 (x1,y1 exclusive) of each NxHxW mask; empty masks give zeros."""
    masks = np.asarray(masks, dtype=bool)
    n, h, w = masks.shape
    rows, cols = masks.any(2), masks.any(1)
    has = rows.any(1)
    y0 = np.where(has, rows.argmax(1), 0)
    y1 = np.where(has, h - rows[:, ::-1].argmax(1), 0)
    x0 = np.where(has, cols.argmax(1), 0)
    x1 = np.where(has, w - cols[:, ::-1].argmax(1), 0)
    return np.stack([x0, y0, x1, y1], axis=1).astype(np.float32)


def inside_boxes(boxes: np.ndarray, height: int, width: int, margin: float = 0.0) -> np.ndarray:
    """NxHxW bool: pixel centres inside each box grown by `margin` (fraction of its size) + 1 px."""
    boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    grow = (boxes[:, 2:] - boxes[:, :2]) * margin + 1.0
    lo, hi = boxes[:, :2] - grow, boxes[:, 2:] + grow
    xs = np.arange(width, dtype=np.float32) + 0.5
    ys = np.arange(height, dtype=np.float32) + 0.5
    in_x = (xs[None] >= lo[:, :1]) & (xs[None] <= hi[:, :1])
    in_y = (ys[None] >= lo[:, 1:]) & (ys[None] <= hi[:, 1:])
    return in_y[:, :, None] & in_x[:, None, :]
