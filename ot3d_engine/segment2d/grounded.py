"""The paper's 2D stage: open-vocabulary boxes (Grounding DINO / OWLv2) -> SAM masks, and a
class-agnostic "segment everything" mode (SAM automatic masks from a point grid).

Registered as segmenter backends "grounded" and "sam-auto". Models load when the backend is
built (offline-first, see ot3d_engine.models), never at import.
"""

from __future__ import annotations

import numpy as np

from ..data.scannet200 import resolve_vocabulary
from ..models.loader import load_model
from ..models.spec import model_spec
from ..registry import register
from ..types import Frame, Mask2D
from .nms import inside_boxes, masks_to_boxes, nms


def _spec_batch(spec, default: int) -> int:
    return int(spec.batch_size or default)


@register("segmenter", "grounded")
class GroundedSegmenter:
    """Vocabulary-prompted detection, NMS across prompts, then one SAM mask per kept box."""

    def __init__(self, detector=None, sam=None, vocabulary=None, models=None, box_threshold: float = 0.3,
                 nms_iou: float = 0.5, max_detections: int = 60, min_mask_pixels: int = 64,
                 box_margin: float = 0.05):
        from .detectors import DETECTOR_ADAPTERS, DETECTOR_FAMILIES
        from .sam_prompt import SAM_FAMILIES, SamPrompter

        self.vocabulary = resolve_vocabulary(vocabulary)
        det_spec = model_spec("detector", detector, models)
        det = load_model("detector", det_spec, DETECTOR_FAMILIES)
        self.detector = DETECTOR_ADAPTERS[det.model_type](det, batch_size=_spec_batch(det_spec, 4))
        sam_spec = model_spec("sam", sam, models)
        self.sam = SamPrompter(load_model("sam", sam_spec, SAM_FAMILIES), batch_size=_spec_batch(sam_spec, 32))
        self.box_threshold = float(box_threshold)
        self.nms_iou = float(nms_iou)
        self.max_detections = int(max_detections)
        self.min_mask_pixels = int(min_mask_pixels)
        self.box_margin = float(box_margin)

    def segment(self, frame: Frame) -> list[Mask2D]:
        dets = self.detector.detect(frame.color, self.vocabulary, self.box_threshold)
        dets = dets.select(nms(dets.boxes, dets.scores, self.nms_iou, self.max_detections))
        if not len(dets.scores):
            return []
        pm = self.sam.boxes(frame.color, dets.boxes)
        # SAM can leak past its prompt: a mask may not leave its (slightly grown) box
        masks = pm.masks & inside_boxes(dets.boxes, frame.height, frame.width, self.box_margin)
        areas = masks.reshape(len(masks), -1).sum(1)
        return [Mask2D(mask=masks[i], score=float(dets.scores[i]), label=dets.labels[i], box=dets.boxes[i].copy())
                for i in np.flatnonzero(areas >= self.min_mask_pixels)]


@register("segmenter", "sam-auto")
class SamAutomaticSegmenter:
    """Class-agnostic masks: a grid of point prompts, filtered by predicted IoU and stability."""

    def __init__(self, sam=None, models=None, points_per_side: int = 16, pred_iou_threshold: float = 0.8,
                 stability_threshold: float = 0.85, stability_offset: float = 1.0, nms_iou: float = 0.7,
                 min_mask_pixels: int = 200, max_masks: int = 100):
        from .sam_prompt import SAM_FAMILIES, SamPrompter

        spec = model_spec("sam", sam, models)
        self.sam = SamPrompter(load_model("sam", spec, SAM_FAMILIES), batch_size=_spec_batch(spec, 64))
        self.points_per_side = int(points_per_side)
        self.pred_iou_threshold = float(pred_iou_threshold)
        self.stability_threshold = float(stability_threshold)
        self.stability_offset = float(stability_offset)
        self.nms_iou = float(nms_iou)
        self.min_mask_pixels = int(min_mask_pixels)
        self.max_masks = int(max_masks)

    def grid(self, height: int, width: int) -> np.ndarray:
        n = self.points_per_side
        xs = (np.arange(n) + 0.5) / n * width
        ys = (np.arange(n) + 0.5) / n * height
        return np.stack(np.meshgrid(xs, ys), -1).reshape(-1, 2)

    def segment(self, frame: Frame) -> list[Mask2D]:
        pm = self.sam.points(frame.color, self.grid(frame.height, frame.width))
        best = pm.iou.argmax(1)
        rows = np.arange(len(best))
        iou = pm.iou[rows, best]
        logits = pm.low_res[rows, best]  # N x h x w
        flat = logits.reshape(len(logits), -1)
        inner = (flat > self.stability_offset).sum(1)
        outer = np.maximum((flat > -self.stability_offset).sum(1), 1)
        stability = inner / outer
        keep = np.flatnonzero((iou >= self.pred_iou_threshold) & (stability >= self.stability_threshold))
        if not len(keep):
            return []
        masks = self.sam.upsample(pm, logits[keep])
        areas = masks.reshape(len(masks), -1).sum(1)
        big = areas >= self.min_mask_pixels
        masks, scores = masks[big], iou[keep][big]
        boxes = masks_to_boxes(masks)
        kept = nms(boxes, scores, self.nms_iou, self.max_masks)
        return [Mask2D(mask=masks[i], score=float(scores[i]), label=None, box=boxes[i]) for i in kept]
