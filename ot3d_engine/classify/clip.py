"""CLIP zero-shot labelling of instance views: the baseline the paper's MLLM labelling replaces.
Registered as classifier "clip"."""

from __future__ import annotations

import numpy as np

from ..data.scannet200 import resolve_vocabulary
from ..models.batching import AdaptiveBatcher
from ..models.loader import Family, load_model
from ..models.spec import model_spec
from ..registry import register
from ..types import Instance, Scan
from .base import Labelled
from .crops import instance_views

CLIP_FAMILIES = {t: Family("AutoModel", "AutoProcessor") for t in ("clip", "siglip", "siglip2", "metaclip_2")}
TEMPLATES = ("a photo of a {}.", "a photo of the {} in a room.", "a cropped photo of a {}.")


def _embedding(out):
    """transformers 5 returns a model output whose pooler_output is the projected embedding."""
    return getattr(out, "pooler_output", out)


@register("classifier", "clip")
class ClipClassifier:
    def __init__(self, model=None, models=None, vocabulary=None, k: int = 3, context: float = 0.15,
                 batch_size: int | None = None):
        spec = model_spec("clip", model, models)
        self.m = load_model("clip", spec, CLIP_FAMILIES)
        self.vocabulary = vocabulary
        self.k, self.context = int(k), float(context)
        self.batcher = AdaptiveBatcher(batch_size or spec.batch_size or 64, f"{spec.id} image encoding")
        self._text: dict[tuple, np.ndarray] = {}

    def text_embeddings(self, vocabulary: list[str]):
        import torch

        key = tuple(vocabulary)
        if key not in self._text:
            prompts = [t.format(v) for v in vocabulary for t in TEMPLATES]
            enc = self.m.prepare(self.m.processor(text=prompts, padding=True, truncation=True, return_tensors="pt"))
            with torch.inference_mode():
                emb = torch.nn.functional.normalize(_embedding(self.m.model.get_text_features(**enc)).float(), dim=-1)
            emb = emb.reshape(len(vocabulary), len(TEMPLATES), -1).mean(1)
            self._text[key] = torch.nn.functional.normalize(emb, dim=-1)
        return self._text[key]

    def image_embeddings(self, images: list):
        import torch

        def step(a, b):
            enc = self.m.prepare(self.m.processor(images=images[a:b], return_tensors="pt"))
            with torch.inference_mode():
                return _embedding(self.m.model.get_image_features(**enc)).float()

        return torch.nn.functional.normalize(torch.cat(self.batcher.run(len(images), step)), dim=-1)

    def classify(self, instances: list[Instance], scan: Scan, vocabulary: list[str] | None = None) -> list[Labelled]:
        import torch

        vocab = resolve_vocabulary(vocabulary or self.vocabulary)
        views = instance_views(instances, scan, self.k, self.context, size=336, outline=False)
        crops = [c for _, cs in views for c in cs]
        owner = np.repeat(np.arange(len(views)), [len(cs) for _, cs in views])
        out = [Labelled(inst.id, "object", 0.0, [], "no frame sees this instance", backend="clip")
               for inst in instances]
        if not crops:
            return out
        img = self.image_embeddings(crops)
        text = self.text_embeddings(vocab).to(img.device)
        scale = float(self.m.model.logit_scale.detach().exp()) if hasattr(self.m.model, "logit_scale") else 100.0
        for i in np.unique(owner):
            mean = torch.nn.functional.normalize(img[torch.from_numpy(np.flatnonzero(owner == i))].mean(0), dim=0)
            probs = torch.softmax(scale * (text @ mean), 0).cpu().numpy()
            top = np.argsort(-probs)[:3]
            answer = ", ".join(f"{vocab[j]} {probs[j]:.2f}" for j in top)
            out[i] = Labelled(instances[i].id, vocab[top[0]], float(probs[top[0]]), views[i][0], answer,
                              backend=f"clip:{self.m.spec.id}")
        return out
