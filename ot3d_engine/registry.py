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
    "segmenter": ["ot3d_engine.segment2d.geometric", "ot3d_engine.segment2d.oracle"],
    "features": ["ot3d_engine.features.color"],
    "classifier": [],
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


def build(role: str, name: str, **options):
    _load(role)
    try:
        factory = _REGISTRY[role][name]
    except KeyError:
        raise ConfigError(
            f"unknown {role} backend {name!r}; available: {', '.join(available(role)) or 'none'}"
        ) from None
    return factory(**options)
