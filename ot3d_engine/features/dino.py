"""DINOv2 / DINOv3 patch features, upsampled and pooled under each mask: the visual term of
the tracker. Registered as features backend "dino"; the model loads when the backend is built."""

from __future__ import annotations

import numpy as np

from ..models.batching import AdaptiveBatcher
from ..models.loader import Family, load_model
from ..models.spec import model_spec
from ..registry import register
from ..types import Frame, Mask2D
from .pooling import pool_masks, pooling_grid

DINO_FAMILIES = {
    "dinov2": Family("AutoModel", "AutoImageProcessor"),
    "dinov2_with_registers": Family("AutoModel", "AutoImageProcessor"),
    "dinov3_vit": Family("AutoModel", "AutoImageProcessor"),
}


@register("features", "dino")
class DinoFeatures:
    def __init__(self, model=None, models=None, short_side: int = 448, pool_stride: int = 4):
        spec = model_spec("dino", model, models)
        self.m = load_model("dino", spec, DINO_FAMILIES)
        cfg = self.m.config
        self.dim = int(cfg.hidden_size)
        self.patch = int(cfg.patch_size if isinstance(cfg.patch_size, int) else cfg.patch_size[0])
        self.prefix = 1 + int(getattr(cfg, "num_register_tokens", 0) or 0)  # CLS + register tokens
        proc = self.m.processor
        self.mean = np.asarray(getattr(proc, "image_mean", None) or [0.485, 0.456, 0.406], np.float32)
        self.std = np.asarray(getattr(proc, "image_std", None) or [0.229, 0.224, 0.225], np.float32)
        self.short_side = int(short_side)
        self.pool_stride = int(pool_stride)
        self.batcher = AdaptiveBatcher(1, f"{spec.id} features")

    def input_size(self, height: int, width: int) -> tuple[int, int]:
        """Short side near `short_side`, both sides whole patches."""
        s = self.short_side / min(height, width)
        return (max(1, round(height * s / self.patch)) * self.patch,
                max(1, round(width * s / self.patch)) * self.patch)

    def feature_map(self, image: np.ndarray):
        """C x h x w patch features of an HxWx3 uint8 image."""
        import torch
        import torch.nn.functional as F

        h, w = self.input_size(*image.shape[:2])
        x = torch.as_tensor(np.array(image, dtype=np.uint8), device=self.m.device)
        x = x.permute(2, 0, 1)[None].float() / 255.0
        x = F.interpolate(x, size=(h, w), mode="bilinear", align_corners=False, antialias=True)
        mean = torch.from_numpy(self.mean).to(x.device)[None, :, None, None]
        std = torch.from_numpy(self.std).to(x.device)[None, :, None, None]
        x = ((x - mean) / std).to(self.m.dtype)
        with torch.inference_mode():
            tokens = self.m.model(pixel_values=x).last_hidden_state[0, self.prefix:]
        hp, wp = h // self.patch, w // self.patch
        return tokens.reshape(hp, wp, -1).permute(2, 0, 1)

    def extract(self, frame: Frame, masks: list[Mask2D]) -> np.ndarray:
        if not masks:
            return np.zeros((0, self.dim), np.float32)
        fmap = self.batcher.run(1, lambda a, b: self.feature_map(frame.color))[0]
        return pool_masks(fmap, masks, pooling_grid(frame.height, frame.width, self.pool_stride))
