"""SAM / SAM2 as a mask decoder for prompts: the image is encoded once per frame, prompts
(boxes or points) are decoded in batches that shrink on out-of-memory."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..models.batching import AdaptiveBatcher
from ..models.loader import Family, LoadedModel

SAM_FAMILIES = {
    "sam": Family("SamModel"),
    "sam_hq": Family("SamHQModel"),
    "sam2": Family("Sam2Model"),  # its image processor needs torchvision
}


@dataclass
class PromptMasks:
    masks: np.ndarray  # N x H x W bool, or N x C x H x W for multimask output
    iou: np.ndarray  # N (x C) predicted IoU
    low_res: np.ndarray | None = None  # N x C x h x w logits (multimask point prompts only)
    post: tuple = ()  # processor sizes that map low-res logits back onto the image


class SamPrompter:
    def __init__(self, loaded: LoadedModel, batch_size: int = 32):
        self.m = loaded
        self.batcher = AdaptiveBatcher(batch_size, f"{loaded.spec.id} mask decoding")

    def _encode(self, image: np.ndarray, **prompts):
        import torch
        from PIL import Image

        inputs = self.m.processor(images=Image.fromarray(image), return_tensors="pt", **prompts)
        post_args = [inputs["original_sizes"]]
        if "reshaped_input_sizes" in inputs:  # SAM v1 pads; SAM2 resizes to a square
            post_args.append(inputs["reshaped_input_sizes"])
        with torch.inference_mode():
            emb = self.m.model.get_image_embeddings(inputs["pixel_values"].to(self.m.device, self.m.dtype))
        return inputs, emb, post_args

    def boxes(self, image: np.ndarray, boxes: np.ndarray) -> PromptMasks:
        """One mask per x0,y0,x1,y1 box (single-mask output, as box prompts are unambiguous)."""
        import torch

        h, w = image.shape[:2]
        if len(boxes) == 0:
            return PromptMasks(np.zeros((0, h, w), bool), np.zeros(0, np.float32))
        inputs, emb, post = self._encode(image, input_boxes=[np.asarray(boxes, np.float64).tolist()])
        prompt = inputs["input_boxes"].to(self.m.device, self.m.dtype)

        def step(a: int, b: int):
            with torch.inference_mode():
                out = self.m.model(image_embeddings=emb, input_boxes=prompt[:, a:b], multimask_output=False)
            masks = self.m.processor.post_process_masks(out.pred_masks.float(), *post)[0]  # upsampled on device
            return masks[:, 0].cpu().numpy(), out.iou_scores[0, :, 0].float().cpu().numpy()

        parts = self.batcher.run(prompt.shape[1], step)
        return PromptMasks(np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))

    def points(self, image: np.ndarray, points: np.ndarray) -> PromptMasks:
        """Three candidate masks per x,y point (multimask output) with their low-res logits."""
        import torch

        inputs, emb, post = self._encode(image, input_points=[[[list(map(float, p))] for p in points]])
        prompt = inputs["input_points"].to(self.m.device, self.m.dtype)
        labels = torch.ones(prompt.shape[:3], dtype=torch.long, device=self.m.device)

        def step(a: int, b: int):
            with torch.inference_mode():
                out = self.m.model(image_embeddings=emb, input_points=prompt[:, a:b], input_labels=labels[:, a:b],
                                   multimask_output=True)
            return out.pred_masks[0].float().cpu(), out.iou_scores[0].float().cpu()

        parts = self.batcher.run(prompt.shape[1], step)
        logits = torch.cat([p[0] for p in parts])  # N x C x h x w
        return PromptMasks(masks=None, iou=torch.cat([p[1] for p in parts]).numpy(), low_res=logits.numpy(),
                           post=tuple(post))

    def upsample(self, pm: PromptMasks, logits: np.ndarray) -> np.ndarray:
        """Low-res logits (N x h x w) chosen from a `points` result -> N x H x W bool masks."""
        import torch

        if len(logits) == 0:
            h, w = (int(v) for v in np.asarray(pm.post[0]).reshape(-1)[:2])
            return np.zeros((0, h, w), bool)
        low = torch.from_numpy(logits[None, :, None]).float().to(self.m.device)
        return self.m.processor.post_process_masks(low, *pm.post)[0][:, 0].cpu().numpy()
