"""The paper's labelling: each final instance is shown to a multimodal LLM in its top-K views
(cropped with context, outlined in red) and named from the vocabulary or freely.

Registered as classifier "mllm" (Qwen2.5-VL by default; `small=True` picks SmolVLM)."""

from __future__ import annotations

import numpy as np

from ..data.scannet200 import resolve_vocabulary
from ..registry import register
from ..types import Instance, Scan
from .answers import parse_label
from .base import Labelled
from .crops import instance_views

VOCAB_PROMPT = (
    "The {n} image(s) show the same object from different viewpoints; it is outlined in red. "
    "Which category is it? Choose exactly one of: {vocab}. "
    'Reply with JSON only: {{"label": "<category>", "confidence": <0 to 1>}}')
FREE_PROMPT = (
    "The {n} image(s) show the same object from different viewpoints; it is outlined in red. "
    "Name the object in at most three words. "
    'Reply with JSON only: {{"label": "<name>", "confidence": <0 to 1>}}')


def label_confidence(token_probability: float, stated: float | None, in_vocabulary: bool, malformed: bool) -> float:
    """The model's own token probability, tempered by what it claimed and by whether the answer
    was a vocabulary entry at all."""
    if malformed:
        return 0.0
    conf = token_probability * (1.0 if stated is None else stated)
    return float(np.clip(conf * (1.0 if in_vocabulary else 0.5), 0.0, 1.0))


@register("classifier", "mllm")
class MllmClassifier:
    def __init__(self, model=None, models=None, small: bool = False, vocabulary=None, k: int = 3,
                 mode: str = "vocabulary", context: float = 0.25, crop_size: int = 384, max_new_tokens: int = 40,
                 batch_size: int | None = None):
        from ..errors import ConfigError
        from ..models.vlm import VisionLanguageModel

        if mode not in ("vocabulary", "free"):
            raise ConfigError(f"mllm classifier mode must be 'vocabulary' or 'free', not {mode!r}")
        self.vlm = VisionLanguageModel(model, models, role="vlm_small" if small else "vlm", batch_size=batch_size)
        self.vocabulary = vocabulary
        self.k, self.mode, self.context, self.crop_size = int(k), mode, float(context), int(crop_size)
        self.max_new_tokens = int(max_new_tokens)

    def prompt(self, n_views: int, vocabulary: list[str]) -> str:
        if self.mode == "free":
            return FREE_PROMPT.format(n=n_views)
        return VOCAB_PROMPT.format(n=n_views, vocab=", ".join(vocabulary))

    def classify(self, instances: list[Instance], scan: Scan, vocabulary: list[str] | None = None) -> list[Labelled]:
        vocab = resolve_vocabulary(vocabulary or self.vocabulary)
        views = instance_views(instances, scan, self.k, self.context, self.crop_size)
        asked = [i for i, (_, crops) in enumerate(views) if crops]
        answers = self.vlm.ask([(views[i][1], self.prompt(len(views[i][1]), vocab)) for i in asked],
                               self.max_new_tokens)
        by_index = dict(zip(asked, answers))
        out = []
        for i, inst in enumerate(instances):
            ans = by_index.get(i)
            if ans is None:
                out.append(Labelled(inst.id, "object", 0.0, [], "no frame sees this instance", backend="mllm"))
                continue
            parsed = parse_label(ans.text, vocab if self.mode == "vocabulary" else [])
            conf = label_confidence(ans.probability, parsed.confidence, parsed.in_vocabulary or self.mode == "free",
                                    parsed.malformed)
            out.append(Labelled(inst.id, parsed.label, conf, views[i][0], ans.text, backend=f"mllm:{self.vlm.name}"))
        return out
