"""An image-text-to-text model (Qwen2.5-VL, SmolVLM/Idefics3, ...) asked batched questions
about a few images each; answers come back with the model's own token probability."""

from __future__ import annotations

from dataclasses import dataclass

from .batching import AdaptiveBatcher
from .loader import Family, LoadedModel, load_model
from .spec import model_spec

VLM_FAMILIES = {t: Family("AutoModelForImageTextToText", "AutoProcessor") for t in (
    "qwen2_5_vl", "qwen2_vl", "qwen3_vl", "idefics3", "smolvlm", "llava", "llava_next", "llava_onevision",
    "gemma3", "paligemma", "internvl")}


@dataclass
class Answer:
    text: str
    probability: float  # geometric mean of the generated tokens' probabilities


class VisionLanguageModel:
    def __init__(self, model=None, models=None, role: str = "vlm", batch_size: int | None = None):
        spec = model_spec(role, model, models)
        self.m: LoadedModel = load_model(role, spec, VLM_FAMILIES)
        tok = getattr(self.m.processor, "tokenizer", None)
        if tok is not None:
            tok.padding_side = "left"  # generation continues from the right edge of every row
        self.batcher = AdaptiveBatcher(batch_size or spec.batch_size or 8, f"{spec.id} generation")

    @property
    def name(self) -> str:
        return self.m.spec.id

    def ask(self, questions: list[tuple[list, str]], max_new_tokens: int = 48) -> list[Answer]:
        """questions: (PIL images, prompt) pairs; one Answer each, in order."""
        out: list[Answer] = []
        for part in self.batcher.run(len(questions), lambda a, b: self._generate(questions[a:b], max_new_tokens)):
            out.extend(part)
        return out

    def _generate(self, questions, max_new_tokens: int) -> list[Answer]:
        import torch

        conversations = [[{"role": "user", "content": [{"type": "image", "image": im} for im in images]
                           + [{"type": "text", "text": prompt}]}] for images, prompt in questions]
        inputs = self.m.processor.apply_chat_template(
            conversations, add_generation_prompt=True, tokenize=True, return_dict=True, return_tensors="pt",
            processor_kwargs={"padding": True})
        inputs = self.m.prepare(inputs)
        with torch.inference_mode():
            gen = self.m.model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False,
                                        output_scores=True, return_dict_in_generate=True)
            logp = self.m.model.compute_transition_scores(gen.sequences, gen.scores, normalize_logits=True)
        new = gen.sequences[:, inputs["input_ids"].shape[1]:]
        pad = self.m.model.generation_config.pad_token_id
        keep = torch.ones_like(new, dtype=torch.bool) if pad is None else new != pad
        logp = torch.where(keep, logp.float(), torch.zeros_like(logp, dtype=torch.float32))
        mean = logp.sum(1) / keep.sum(1).clamp_min(1)
        texts = self.m.processor.batch_decode(new, skip_special_tokens=True)
        return [Answer(t.strip(), float(torch.exp(m))) for t, m in zip(texts, mean.cpu())]
