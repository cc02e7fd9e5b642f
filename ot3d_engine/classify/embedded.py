"""Fallback-tier labels with no download: EfficientNet-Lite0 ImageNet predictions on the
instance's views, mapped onto the vocabulary by MiniLM text similarity of the class names.
Registered as classifier "embedded"; its output says it is the fallback tier."""

from __future__ import annotations

import numpy as np

from ..data.scannet200 import resolve_vocabulary
from ..models.device import resolve_device
from ..models.embedded import FALLBACK_TIER, efficientnet_input, imagenet_class_names, load_efficientnet_lite0
from ..models.text import TextEncoder
from ..registry import register
from ..types import Instance, Scan
from .base import Labelled
from .crops import instance_views

TIER_NOTE = "[fallback tier: EfficientNet-Lite0 ImageNet + MiniLM]"
_CLASS_EMBEDDINGS: dict[str, np.ndarray] = {}  # text model folder -> ImageNet name embeddings


def _softmax(x: np.ndarray, axis: int) -> np.ndarray:
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


@register("classifier", "embedded")
class EmbeddedClassifier:
    tier = FALLBACK_TIER

    def __init__(self, vocabulary=None, k: int = 3, context: float = 0.1, text_model=None, models=None,
                 temperature: float = 0.05, device: str = "auto"):
        self.device = resolve_device(device)
        self.net = load_efficientnet_lite0(self.device)
        self.class_names = imagenet_class_names()
        self.text = TextEncoder(text_model, models)
        self.vocabulary = vocabulary
        self.k, self.context, self.temperature = int(k), float(context), float(temperature)
        self._maps: dict[tuple, np.ndarray] = {}

    def vocabulary_map(self, vocabulary: list[str]) -> np.ndarray:
        """1000 x V: how much each ImageNet class speaks for each vocabulary entry."""
        key = tuple(vocabulary)
        if key not in self._maps:
            source = self.text.m.source
            if source not in _CLASS_EMBEDDINGS:  # 1000 names: seconds on a CPU, so once per process
                _CLASS_EMBEDDINGS[source] = self.text.encode(self.class_names)
            sim = _CLASS_EMBEDDINGS[source] @ self.text.encode(list(vocabulary)).T
            self._maps[key] = _softmax(sim / self.temperature, axis=1)
        return self._maps[key]

    def imagenet_probabilities(self, crops: list) -> np.ndarray:
        import torch

        batch = np.stack([np.asarray(c.convert("RGB").resize((224, 224))) for c in crops])
        with torch.inference_mode():
            return torch.softmax(self.net(efficientnet_input(batch, self.device)).float(), -1).cpu().numpy()

    def classify(self, instances: list[Instance], scan: Scan, vocabulary: list[str] | None = None) -> list[Labelled]:
        vocab = resolve_vocabulary(vocabulary or self.vocabulary)
        views = instance_views(instances, scan, self.k, self.context, size=224, outline=False)
        out = []
        mapping = None
        for inst, (frames, crops) in zip(instances, views):
            if not crops:
                out.append(Labelled(inst.id, "object", 0.0, [], f"{TIER_NOTE} no frame sees this instance",
                                    tier=FALLBACK_TIER, backend="embedded"))
                continue
            mapping = self.vocabulary_map(vocab) if mapping is None else mapping
            p = self.imagenet_probabilities(crops).mean(0)
            scores = p @ mapping
            best = int(scores.argmax())
            top = np.argsort(-p)[:3]
            answer = f"{TIER_NOTE} ImageNet: " + ", ".join(f"{self.class_names[j]} {p[j]:.2f}" for j in top)
            out.append(Labelled(inst.id, vocab[best], float(scores[best]), frames, answer, tier=FALLBACK_TIER,
                                backend="embedded"))
        return out
