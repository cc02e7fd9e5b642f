"""Open-vocabulary 2D segmenters on tiny random detectors/SAM loaded like real checkpoints."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from models_helpers import box_scan, tiny
from ot3d_engine.data.scannet200 import SCANNET200_CLASSES, default_vocabulary, resolve_vocabulary
from ot3d_engine.registry import build
from ot3d_engine.segment2d.base import Segmenter
from ot3d_engine.segment2d.nms import box_iou, inside_boxes, masks_to_boxes, nms
from ot3d_engine.segment2d.sam_prompt import SamPrompter

VOCAB = ["chair", "table", "office chair", "trash can"]


def tiny_sam(family: str) -> str:
    """SAM2's image processor is torchvision-backed: without torchvision its tests skip (the
    loading error for that case is tested below)."""
    if family == "sam2":
        pytest.importorskip("torchvision", reason="SAM2's image processor needs torchvision")
    return tiny(family)


@pytest.fixture(scope="module")
def frame():
    return box_scan().frame(0)


def test_scannet200_vocabulary():
    assert len(SCANNET200_CLASSES) == len(set(SCANNET200_CLASSES)) == 200
    vocab = default_vocabulary()
    assert "chair" in vocab and "wall" not in vocab and "floor" not in vocab
    assert resolve_vocabulary(" Chair, office  chair,chair ,") == ["chair", "office chair"]
    assert resolve_vocabulary(None) == vocab


def test_nms_and_box_helpers():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 10, 10], [20, 20, 30, 30], [0, 0, 10, 9]], np.float32)
    scores = np.array([0.5, 0.9, 0.3, 0.4])
    assert box_iou(boxes[:1], boxes[1:2])[0, 0] == pytest.approx(81 / 100)
    assert nms(boxes, scores, 0.5).tolist() == [1, 2]
    assert nms(boxes, scores, 0.95).tolist() == [1, 0, 3, 2]
    assert nms(boxes, scores, 0.5, max_keep=1).tolist() == [1]
    masks = np.zeros((2, 8, 9), bool)
    masks[0, 2:5, 3:7] = True
    assert masks_to_boxes(masks).tolist() == [[3, 2, 7, 5], [0, 0, 0, 0]]
    inside = inside_boxes(np.array([[2, 2, 4, 4]]), 8, 9)
    ys, xs = np.nonzero(inside[0])
    assert xs.min() == 1 and xs.max() == 4 and ys.min() == 1 and ys.max() == 4  # grown by 1 px


@pytest.mark.parametrize("detector,sam", [("grounding-dino", "sam"), ("owlv2", "sam"), ("owlv2", "sam2")])
def test_grounded_segmenter_masks_boxes_labels(detector, sam, frame):
    seg = build("segmenter", "grounded", detector=tiny(detector), sam=tiny_sam(sam), vocabulary=VOCAB,
                box_threshold=0.0, nms_iou=0.5, max_detections=12, min_mask_pixels=1, box_margin=0.05)
    assert isinstance(seg, Segmenter)
    masks = seg.segment(frame)
    assert 0 < len(masks) <= 12
    boxes = np.stack([m.box for m in masks])
    for m in masks:
        assert m.mask.shape == (frame.height, frame.width) and m.mask.dtype == bool and m.mask.any()
        assert m.label in VOCAB and 0.0 <= m.score <= 1.0
        x0, y0, x1, y1 = m.box
        assert 0 <= x0 < x1 <= frame.width and 0 <= y0 < y1 <= frame.height
        mx0, my0, mx1, my1 = masks_to_boxes(m.mask[None])[0]
        gx, gy = 0.05 * (x1 - x0) + 1.5, 0.05 * (y1 - y0) + 1.5  # the allowed margin, in pixels
        assert mx0 >= x0 - gx and my0 >= y0 - gy and mx1 <= x1 + gx and my1 <= y1 + gy
    iou = box_iou(boxes, boxes)
    np.fill_diagonal(iou, 0)
    assert iou.max() <= 0.5  # NMS ran across prompts, whatever the label
    assert [m.score for m in masks] == sorted((m.score for m in masks), reverse=True)


def test_grounding_dino_splits_a_long_vocabulary_into_prompts_that_fit():
    seg = build("segmenter", "grounded", detector=tiny("grounding-dino"), sam=tiny("sam"), box_threshold=0.0)
    det = seg.detector
    assert det.max_tokens == 62  # the tiny model's max_text_len (64) minus [CLS]/[SEP]
    chunks = det._chunks(seg.vocabulary)
    names = [n for _, group, _ in chunks for n in group]
    assert names == seg.vocabulary and len(chunks) > 5
    tok = det.m.processor.tokenizer
    for text, group, spans in chunks:
        ids = tok(text)["input_ids"]
        assert len(ids) <= 64
        for name, span in zip(group, spans):
            assert len(span) > 0
            assert tok.decode([ids[i] for i in span]).replace(" ", "") == name.replace(" ", "")


@pytest.mark.parametrize("sam", ["sam", "sam2"])
def test_sam_automatic_mode_is_class_agnostic(sam, frame):
    seg = build("segmenter", "sam-auto", sam=tiny_sam(sam), points_per_side=4, pred_iou_threshold=0.0,
                stability_threshold=0.0, min_mask_pixels=1, nms_iou=0.7)
    masks = seg.segment(frame)
    assert len(masks) >= 1
    for m in masks:
        assert m.label is None and m.mask.shape == (frame.height, frame.width)
        np.testing.assert_array_equal(m.box, masks_to_boxes(m.mask[None])[0])
    strict = build("segmenter", "sam-auto", sam=tiny_sam(sam), points_per_side=4, pred_iou_threshold=2.0)
    assert strict.segment(frame) == []  # nothing clears an impossible IoU bar


def test_sam2_without_torchvision_says_what_is_missing():
    try:
        import torchvision  # noqa: F401
    except Exception:
        pass
    else:
        pytest.skip("torchvision is installed: SAM2 runs in the tests above")
    from ot3d_engine.errors import ModelUnavailableError

    with pytest.raises(ModelUnavailableError, match="torchvision"):
        build("segmenter", "sam-auto", sam=tiny("sam2"))


class _OomAbove:
    """A SAM whose mask decoder runs out of memory for more than `limit` prompts at once."""

    def __init__(self, model, limit):
        self.model, self.limit, self.sizes = model, limit, []

    def get_image_embeddings(self, *a, **k):
        return self.model.get_image_embeddings(*a, **k)

    def __call__(self, **kw):
        n = kw["input_boxes"].shape[1]
        self.sizes.append(n)
        if n > self.limit:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory")
        return self.model(**kw)


def test_sam_out_of_memory_retries_smaller_batches_with_identical_masks(frame):
    seg = build("segmenter", "grounded", detector=tiny("owlv2"), sam=tiny("sam"), vocabulary=VOCAB)
    loaded = seg.sam.m
    boxes = np.array([[5, 5, 40, 40], [30, 20, 90, 70], [60, 10, 120, 90], [0, 0, 128, 96], [10, 50, 50, 90]],
                     np.float32)
    reference = SamPrompter(loaded, batch_size=8).boxes(frame.color, boxes)
    flaky = _OomAbove(loaded.model, limit=2)
    prompter = SamPrompter(dataclasses.replace(loaded, model=flaky), batch_size=8)
    got = prompter.boxes(frame.color, boxes)
    assert flaky.sizes[:3] == [5, 4, 2] and prompter.batcher.batch_size == 2
    np.testing.assert_array_equal(got.masks, reference.masks)
    np.testing.assert_allclose(got.iou, reference.iou, rtol=1e-5)
