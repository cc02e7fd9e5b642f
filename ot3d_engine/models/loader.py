"""Offline-first model loading, once per process.

Weights come from a local folder or the local Hugging Face cache only (`local_files_only`),
so a missing model fails at once with the command that fetches it, never a network hang.
A spec with `allow_download = true` may fetch from the Hub.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from ..errors import ConfigError, ModelUnavailableError
from .device import resolve_device, resolve_dtype
from .spec import ModelSpec


@dataclass(frozen=True)
class Family:
    """How one model type loads: transformers class names (resolved lazily)."""

    model_class: str
    processor_class: str | None = "AutoProcessor"


@dataclass
class LoadedModel:
    spec: ModelSpec
    model: Any
    processor: Any
    config: Any
    model_type: str
    device: str
    dtype: Any  # torch.dtype
    source: str  # the folder or repo id it was loaded from

    def prepare(self, batch) -> dict:
        """Processor output onto the model's device; floating tensors in the model's dtype."""
        out = {}
        for k, v in dict(batch).items():
            if hasattr(v, "to"):
                v = v.to(self.device, self.dtype) if v.is_floating_point() else v.to(self.device)
            out[k] = v
        return out


_CACHE: dict[tuple, LoadedModel] = {}
_LOCK = threading.Lock()


def clear_model_cache() -> None:
    with _LOCK:
        _CACHE.clear()


def download_command(spec: ModelSpec) -> str:
    rev = f" --revision {spec.revision}" if spec.revision else ""
    return f"hf download {spec.id}{rev}"


def looks_like_path(model_id: str) -> bool:
    p = Path(model_id).expanduser()
    return model_id.startswith(("/", "./", "../", "~", ".\\")) or p.exists() or model_id.count("/") > 1


def _source(role: str, spec: ModelSpec) -> str:
    if not looks_like_path(spec.id):
        return spec.id
    path = Path(spec.id).expanduser()
    if not path.is_dir():
        raise ModelUnavailableError(f"{path}: model folder for {role} not found (set its id to an existing "
                                    "folder written by save_pretrained, or to a Hugging Face model id)")
    if not (path / "config.json").is_file():
        raise ModelUnavailableError(f"{path}: no config.json here, so this is not a saved transformers model "
                                    f"(needed for {role})")
    return str(path)


def _unavailable(role: str, spec: ModelSpec, source: str, exc: Exception) -> ModelUnavailableError:
    if source != spec.id:  # a local folder with something missing
        return ModelUnavailableError(f"{source}: cannot load the {role} model from this folder: {exc}")
    from huggingface_hub import constants

    return ModelUnavailableError(
        f"model {spec.id!r} ({role}) is not in the local Hugging Face cache ({constants.HF_HUB_CACHE}) and "
        f"downloads are off. Get it once with:\n    {download_command(spec)}\n"
        f"or point the {role} model at a local folder (model registry / backend option), "
        "or set allow_download = true for it.")


def _resolve_class(name: str):
    import transformers

    try:
        return getattr(transformers, name)
    except AttributeError:
        raise ConfigError(f"transformers {transformers.__version__} has no class {name}; "
                          "upgrade transformers") from None


def _read_config(role: str, spec: ModelSpec, source: str, local_only: bool):
    from huggingface_hub.errors import HFValidationError
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(source, revision=spec.revision, local_files_only=local_only)
    except HFValidationError:
        raise ConfigError(f"{spec.id!r} ({role}) is neither an existing folder nor a valid Hugging Face "
                          "model id") from None
    except OSError as exc:
        raise _unavailable(role, spec, source, exc) from None
    except (ValueError, KeyError) as exc:
        raise ConfigError(f"{spec.id} ({role}): unsupported model type, transformers cannot read its "
                          f"config: {exc}") from None


def load_model(role: str, spec: ModelSpec, families: Mapping[str, Family]) -> LoadedModel:
    """Load (or reuse) the model of `spec` for `role`; its model_type must be in `families`."""
    device = resolve_device(spec.device)
    dtype = resolve_dtype(spec.dtype, device)
    key = (spec.id, spec.revision, device, str(dtype), tuple(sorted(families)))
    with _LOCK:
        if key in _CACHE:
            return _CACHE[key]
        loaded = _load(role, spec, families, device, dtype)
        _CACHE[key] = loaded
        return loaded


def _load(role, spec, families, device, dtype) -> LoadedModel:
    local_only = not spec.allow_download
    source = _source(role, spec)
    config = _read_config(role, spec, source, local_only)
    model_type = getattr(config, "model_type", None)
    family = families.get(model_type)
    if family is None:
        raise ConfigError(f"{spec.id}: model type {model_type!r} is not supported for {role}; "
                          f"supported types: {', '.join(sorted(families))}")
    model_cls = _resolve_class(family.model_class)
    try:
        model = model_cls.from_pretrained(source, revision=spec.revision, local_files_only=local_only,
                                          dtype=dtype)
    except OSError as exc:
        raise _unavailable(role, spec, source, exc) from None
    model = model.to(device).eval()
    processor = None
    if family.processor_class:
        proc_cls = _resolve_class(family.processor_class)
        try:
            processor = proc_cls.from_pretrained(source, revision=spec.revision, local_files_only=local_only)
        except OSError as exc:
            raise _unavailable(role, spec, source, exc) from None
        except (ImportError, AttributeError, ValueError, TypeError) as exc:
            hint = " (install torchvision matching your torch)" if "torchvision" in str(exc).lower() else ""
            raise ModelUnavailableError(f"{spec.id} ({role}): its processor cannot be built{hint}: "
                                        f"{type(exc).__name__}: {exc}") from None
    return LoadedModel(spec=spec, model=model, processor=processor, config=config, model_type=model_type,
                       device=device, dtype=dtype, source=source)
