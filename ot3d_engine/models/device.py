"""Pick the device and precision a model runs with ("auto" = best available)."""

from __future__ import annotations

from ..errors import ConfigError

_DTYPE_NAMES = {
    "float32": "float32", "fp32": "float32", "float": "float32",
    "float16": "float16", "fp16": "float16", "half": "float16",
    "bfloat16": "bfloat16", "bf16": "bfloat16",
}


def resolve_device(name: str = "auto") -> str:
    """'auto' -> cuda, then mps, then cpu; an explicit name must be usable here."""
    import torch

    name = (name or "auto").lower()
    if name == "auto":
        if torch.cuda.is_available():
            return "cuda"
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return "mps"
        return "cpu"
    kind = name.split(":")[0]
    if kind == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {name!r} requested but CUDA is not available (torch {torch.__version__})")
    if kind == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ConfigError(f"device {name!r} requested but Apple MPS is not available")
    if kind not in ("cuda", "mps", "cpu"):
        raise ConfigError(f"unknown device {name!r}; use auto, cuda, cuda:N, mps or cpu")
    return name


def resolve_dtype(name: str, device: str):
    """'auto' -> half precision on accelerators (bf16 where supported), float32 on CPU."""
    import torch

    name = (name or "auto").lower()
    if name == "auto":
        if device.startswith("cuda"):
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        if device.startswith("mps"):
            return torch.float16
        return torch.float32
    try:
        return getattr(torch, _DTYPE_NAMES[name])
    except KeyError:
        raise ConfigError(f"unknown dtype {name!r}; use auto, float32, float16 or bfloat16") from None
