"""Shared set-up of the add-on tests: the real bpy 5.0.1 module, the extension built from
this checkout and installed from its zip into a throw-away Blender user folder, and a
small synthetic scan.

Import this module before bpy: Blender reads its user folders from the environment
once, and they must point into a temp dir so the tests never touch ~/.config/blender.
"""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
_TMP = Path(tempfile.mkdtemp(prefix="ot3d-blender-tests-"))
atexit.register(shutil.rmtree, _TMP, True)
for _var in ("BLENDER_USER_CONFIG", "BLENDER_USER_SCRIPTS", "BLENDER_USER_EXTENSIONS", "BLENDER_USER_DATAFILES"):
    os.environ[_var] = str(_TMP / _var.lower())
os.environ["OT3D_ENGINE_PYTHON"] = sys.executable  # this venv has the engine's dependencies

bpy = pytest.importorskip("bpy", reason="the add-on tests need the bpy module (pip install bpy==5.0.1)")
import addon_utils  # noqa: E402  (part of bpy's scripts, importable once bpy is)

EXT_MODULE = "bl_ext.user_default.opentrack3d"
SCAN_FRAMES = 24


def tmp_root() -> Path:
    return _TMP


@functools.lru_cache(maxsize=None)
def built_zip() -> Path:
    sys.path.insert(0, str(REPO / "scripts"))
    try:
        import build_extension
    finally:
        sys.path.pop(0)
    return build_extension.build(_TMP / "dist", staging=_TMP / "staging")


@functools.lru_cache(maxsize=None)
def installed_extension():
    """Install the built zip the way a user does (Extensions > Install from Disk)."""
    result = bpy.ops.extensions.package_install_files(filepath=str(built_zip()), repo="user_default",
                                                      enable_on_install=True)
    assert result == {"FINISHED"}
    import importlib

    return importlib.import_module(EXT_MODULE)


def fresh_scene():
    """An empty factory scene with the extension enabled (factory settings disable add-ons)."""
    ext = installed_extension()
    bpy.ops.wm.read_factory_settings(use_empty=True)
    addon_utils.enable(EXT_MODULE, default_set=True)
    return ext, bpy.context.scene


@functools.lru_cache(maxsize=None)
def synth_scan() -> Path:
    from ot3d_engine.synth import generate_scene

    return generate_scene(_TMP / "synth-scan", seed=7, frames=SCAN_FRAMES, width=160, height=120)


@functools.lru_cache(maxsize=None)
def segmented_scene_dir() -> Path:
    """One real segmentation (through the real worker subprocess), reused read-only."""
    ext, scene = fresh_scene()
    scene.ot3d.scan_path = str(synth_scan())
    assert bpy.ops.ot3d.segment() == {"FINISHED"}
    # a copy: the add-on prunes old job folders as later tests start jobs
    return Path(shutil.copytree(scene.ot3d.scene_object["source"], _TMP / "segmented-scene"))


def load_engine_scene(scene_dir: Path):
    from ot3d_engine.output.scene_io import read_scene

    return read_scene(scene_dir)


def scene_state(scene) -> dict:
    """Names of everything in the file, to prove an operation changed nothing."""
    return {"objects": sorted(o.name for o in bpy.data.objects), "meshes": sorted(m.name for m in bpy.data.meshes),
            "collections": sorted(c.name for c in bpy.data.collections)}


def attr(obj, name: str) -> np.ndarray:
    a = obj.data.attributes[name]
    out = np.empty(len(a.data), dtype=np.int32)
    a.data.foreach_get("value", out)
    return out


def positions(obj) -> np.ndarray:
    out = np.empty(len(obj.data.vertices) * 3, dtype=np.float32)
    obj.data.vertices.foreach_get("co", out)
    return out.reshape(-1, 3)


@pytest.fixture
def ext_scene():
    return fresh_scene()


@pytest.fixture
def segmented(ext_scene):
    """A fresh scene holding the engine's segmentation (materialized from its job folder)."""
    ext, scene = ext_scene
    scene_dir = segmented_scene_dir()
    ext, scene = fresh_scene()
    assert bpy.ops.ot3d.import_result(filepath=str(scene_dir)) == {"FINISHED"}
    return ext, scene, scene_dir
