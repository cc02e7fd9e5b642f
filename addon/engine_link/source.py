"""Where the engine's source is, and private access to its pure-Python modules.

The extension zip bundles the engine source under `engine/ot3d_engine` (see
scripts/build_extension.py); run from a checkout, the add-on finds it beside `addon/`.
The add-on itself uses a few stdlib/numpy-only engine modules (the protocol, PLY and
scene-folder I/O, the palette) so that each format is defined once. They are loaded
under a private package name, without running any package `__init__`, so nothing heavy
(open3d, torch) is ever imported into Blender and an `ot3d_engine` installed in
Blender's Python cannot shadow them.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import os
import sys
import types
from pathlib import Path

ENGINE_PACKAGE = "ot3d_engine"
_ADDON_DIR = Path(__file__).resolve().parent.parent  # the add-on's root (this is addon/engine_link/)
_PRIVATE = f"{__package__.rpartition('.')[0]}._engine"  # beside the add-on's sub-packages


def bundled_engine_roots() -> list[Path]:
    """Folders that may hold `ot3d_engine/` (the zip's copy first, then a checkout)."""
    return [_ADDON_DIR / "engine", _ADDON_DIR.parent]


def engine_root(override: str | os.PathLike | None = None) -> Path:
    """The folder to put on the worker's PYTHONPATH (it contains `ot3d_engine/`)."""
    candidates = ([Path(override).expanduser()] if override else []) + bundled_engine_roots()
    for root in candidates:
        if (root / ENGINE_PACKAGE / "protocol.py").is_file():
            return root
    raise FileNotFoundError(
        f"engine source not found (looked for {ENGINE_PACKAGE}/protocol.py in "
        f"{', '.join(str(c) for c in candidates)}); reinstall the extension")


class _StubPackages(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Sub-packages of the private engine copy import as empty packages: a relative import
    such as `from ..io.ply import write_ply` (in output/scene_io.py) then never runs
    `io/__init__.py`, whatever was loaded before (the bug was order-dependent)."""

    def find_spec(self, name, path=None, target=None):
        if not name.startswith(_PRIVATE + "."):
            return None
        folder = engine_root() / ENGINE_PACKAGE / Path(*name.split(".")[len(_PRIVATE.split(".")):])
        if not folder.is_dir():
            return None  # a module: the normal path finder loads the .py file
        spec = importlib.machinery.ModuleSpec(name, self, is_package=True)
        spec.submodule_search_locations = [str(folder)]
        return spec

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        pass


_STUBS = _StubPackages()


def _ensure_package(name: str, path: Path) -> None:
    if name not in sys.modules:
        pkg = types.ModuleType(name)
        pkg.__path__ = [str(path)]
        pkg.__package__ = name
        sys.modules[name] = pkg


def engine_module(dotted: str):
    """e.g. engine_module("io.ply") -> the engine's ot3d_engine/io/ply.py, loaded privately."""
    root = engine_root() / ENGINE_PACKAGE
    if _STUBS not in sys.meta_path:  # installed on first use, never at import time
        sys.meta_path.insert(0, _STUBS)
    _ensure_package(_PRIVATE, root)
    keep, sys.dont_write_bytecode = sys.dont_write_bytecode, True  # no .pyc in the install folder
    try:
        return importlib.import_module(f"{_PRIVATE}.{dotted}")
    finally:
        sys.dont_write_bytecode = keep


def forget_modules() -> None:
    """Drop the private copies (on unregister, so a reinstall loads fresh source)."""
    for name in [n for n in sys.modules if n == _PRIVATE or n.startswith(_PRIVATE + ".")]:
        del sys.modules[name]
    if _STUBS in sys.meta_path:
        sys.meta_path.remove(_STUBS)
