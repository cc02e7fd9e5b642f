"""Text-prompted box detectors (Grounding DINO, OWLv2) behind one small interface.

Both return per-query scores for every vocabulary name, so labels are always exact
vocabulary entries (never decoded sub-phrases), and NMS runs across all prompts afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..models.batching import AdaptiveBatcher
from ..models.loader import Family, LoadedModel
from .nms import clip_boxes, cxcywh_to_xyxy

DETECTOR_FAMILIES = {
    "grounding-dino": Family("AutoModelForZeroShotObjectDetection"),
    "mm-grounding-dino": Family("AutoModelForZeroShotObjectDetection"),
    "owlv2": Family("AutoModelForZeroShotObjectDetection"),
    "owlvit": Family("AutoModelForZeroShotObjectDetection"),
}


@dataclass
class Detections:
    boxes: np.ndarray  # Nx4 float32 x0,y0,x1,y1 pixels
    scores: np.ndarray  # N float32
    labels: list[str]

    @classmethod
    def empty(cls) -> "Detections":
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), [])

    def select(self, idx: np.ndarray) -> "Detections":
        return Detections(self.boxes[idx], self.scores[idx], [self.labels[i] for i in idx])

    def clip(self, width: int, height: int) -> "Detections":
        """Boxes clipped to the image; boxes thinner than a pixel dropped."""
        boxes = clip_boxes(self.boxes, width, height)
        ok = (boxes[:, 2] - boxes[:, 0] >= 1) & (boxes[:, 3] - boxes[:, 1] >= 1)
        return Detections(boxes, self.scores, self.labels).select(np.flatnonzero(ok))


def _best_label(scores, labels: list[str], boxes, threshold: float) -> Detections:
    """scores: Q x L per query/label; keep queries whose best label clears the threshold."""
    best = scores.argmax(1)
    top = scores[np.arange(len(scores)), best]
    keep = np.flatnonzero(top > threshold)
    return Detections(boxes[keep].astype(np.float32), top[keep].astype(np.float32), [labels[i] for i in best[keep]])


class GroundingDinoDetector:
    """Vocabulary split into 'a. b. c.' prompts that fit the text encoder; one batch per frame."""

    def __init__(self, loaded: LoadedModel, batch_size: int = 4):
        self.m = loaded
        self.batcher = AdaptiveBatcher(batch_size, f"{loaded.spec.id} detection")
        self.max_tokens = int(getattr(loaded.config, "max_text_len", 256)) - 2
        self._prompts: dict[tuple, list[tuple[str, list[str], list[np.ndarray]]]] = {}

    def _chunks(self, vocabulary: list[str]):
        key = tuple(vocabulary)
        if key not in self._prompts:
            tok = self.m.processor.tokenizer
            lengths = [len(tok(v + ".", add_special_tokens=False)["input_ids"]) for v in vocabulary]
            groups, cur, used = [], [], 0
            for name, n in zip(vocabulary, lengths):
                if cur and used + n > self.max_tokens:
                    groups.append(cur)
                    cur, used = [], 0
                cur.append(name)
                used += n
            if cur:
                groups.append(cur)
            self._prompts[key] = [self._spans(g) for g in groups]
        return self._prompts[key]

    def _spans(self, names: list[str]):
        """Prompt text and, per name, the token positions that spell it."""
        tok = self.m.processor.tokenizer
        text = " ".join(f"{n}." for n in names)
        enc = tok(text, return_offsets_mapping=True)
        offsets = np.asarray(enc["offset_mapping"])
        spans, pos = [], 0
        for n in names:
            start = text.index(n, pos)
            end = start + len(n)
            pos = end
            overlaps = (offsets[:, 0] < end) & (offsets[:, 1] > start) & (offsets[:, 1] > offsets[:, 0])
            spans.append(np.flatnonzero(overlaps))
        return text, names, spans

    def detect(self, image: np.ndarray, vocabulary: list[str], threshold: float) -> Detections:
        import torch
        from PIL import Image

        h, w = image.shape[:2]
        pil = Image.fromarray(image)
        chunks = self._chunks(vocabulary)

        def step(a: int, b: int) -> Detections:
            texts = [c[0] for c in chunks[a:b]]
            inputs = self.m.processor(images=[pil] * len(texts), text=texts, padding="longest", return_tensors="pt")
            inputs = self.m.prepare(inputs)
            with torch.inference_mode():
                out = self.m.model(**inputs)
            probs = out.logits.float().sigmoid().cpu().numpy()  # B x Q x T
            boxes = cxcywh_to_xyxy(out.pred_boxes.float().cpu().numpy().reshape(-1, 4)) * np.array([w, h, w, h])
            boxes = boxes.reshape(len(texts), -1, 4)
            found = []
            for j, (_, names, spans) in enumerate(chunks[a:b]):
                per_label = np.stack([probs[j][:, s].max(1) if len(s) else np.zeros(probs.shape[1]) for s in spans], 1)
                found.append(_best_label(per_label, names, boxes[j], threshold))
            return _concat(found)

        return _concat(self.batcher.run(len(chunks), step)).clip(w, h)


class Owlv2Detector:
    """All vocabulary names as separate text queries (text embeddings reused across frames)."""

    pads_to_square = True

    def __init__(self, loaded: LoadedModel, batch_size: int = 1):
        self.m = loaded
        self._text: dict[tuple, dict] = {}

    def detect(self, image: np.ndarray, vocabulary: list[str], threshold: float) -> Detections:
        import torch
        from PIL import Image

        h, w = image.shape[:2]
        key = tuple(vocabulary)
        if key not in self._text:
            max_len = int(self.m.config.text_config.max_position_embeddings)
            self._text[key] = dict(self.m.processor(text=[list(vocabulary)], padding="max_length", truncation=True,
                                                    max_length=max_len, return_tensors="pt"))
        inputs = dict(self.m.processor(images=Image.fromarray(image), return_tensors="pt"))
        inputs.update(self._text[key])
        inputs = self.m.prepare(inputs)
        with torch.inference_mode():
            out = self.m.model(**inputs)
        scores = out.logits[0].float().sigmoid().cpu().numpy()  # P x L
        # OWLv2 pads bottom/right to a square before resizing; OWL-ViT stretches to a square
        scale = np.array([max(h, w)] * 4) if self.pads_to_square else np.array([w, h, w, h])
        boxes = cxcywh_to_xyxy(out.pred_boxes[0].float().cpu().numpy()) * scale
        return _best_label(scores, list(vocabulary), boxes, threshold).clip(w, h)


class OwlVitDetector(Owlv2Detector):
    pads_to_square = False


def _concat(parts: list[Detections]) -> Detections:
    parts = [p for p in parts if len(p.scores)]
    if not parts:
        return Detections.empty()
    return Detections(np.concatenate([p.boxes for p in parts]), np.concatenate([p.scores for p in parts]),
                      [label for p in parts for label in p.labels])


DETECTOR_ADAPTERS = {
    "grounding-dino": GroundingDinoDetector,
    "mm-grounding-dino": GroundingDinoDetector,
    "owlv2": Owlv2Detector,
    "owlvit": OwlVitDetector,
}
