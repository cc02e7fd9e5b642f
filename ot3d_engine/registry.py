"""Backends are picked by name from config, never by if-chains.

    @register("segmenter", "geometric")
    class GeometricSegmenter: ...

    seg = build("segmenter", "geometric", **options)
"""

from __future__ import annotations

import importlib
from typing import Callable

from .errors import ConfigError

_REGISTRY: dict[str, dict[str, Callable]] = {}

# Modules that register backends of a role; imported on first lookup so that
# heavy dependencies (torch, transformers) load only when their backend is used.
_PROVIDERS: dict[str, list[str]] = {
    "segmenter": ["ot3d_engine.segment2d.geometric", "ot3d_engine.segment2d.oracle",
                  "ot3d_engine.segment2d.grounded"],
    "features": ["ot3d_engine.features.color", "ot3d_engine.features.dino", "ot3d_engine.features.embedded"],
    "classifier": ["ot3d_engine.classify.mllm", "ot3d_engine.classify.clip", "ot3d_engine.classify.embedded"],
    "tracker": ["ot3d_engine.track.tracker", "ot3d_engine.track.greedy"],
}


def register(role: str, name: str):
    def deco(factory):
        _REGISTRY.setdefault(role, {})[name] = factory
        return factory

    return deco


def add_provider(role: str, module: str) -> None:
    mods = _PROVIDERS.setdefault(role, [])
    if module not in mods:
        mods.append(module)


def _load(role: str) -> None:
    for mod in _PROVIDERS.get(role, []):
        importlib.import_module(mod)


def available(role: str) -> list[str]:
    _load(role)
    return sorted(_REGISTRY.get(role, {}))


def factory(role: str, name: str):
    """The registered class/function for a backend (imports its provider if needed)."""
    if name not in _REGISTRY.get(role, {}):
        for mod in _PROVIDERS.get(role, []):
            importlib.import_module(mod)
            if name in _REGISTRY.get(role, {}):
                break
    try:
        return _REGISTRY[role][name]
    except KeyError:
        raise ConfigError(
            f"unknown {role} backend {name!r}; available: {', '.join(available(role)) or 'none'}"
        ) from None


def build(role: str, name: str, **options):
    # providers are imported only until the asked-for backend registers: building the
    # default backends never imports the neural ones (and their torch/transformers)
    return factory(role, name)(**options)
