"""Shared set-up of the add-on tests: the real bpy module in a Blender-like Python (bpy and
numpy only: .venv-blender-4.2 / .venv-blender-5.0, see scripts/setup_blender_env.sh), the
extension built from this checkout for this platform and installed from its zip into a
throw-away Blender user folder, and a small synthetic scan.

Nothing sets an engine Python: the engine runs on this Python, the weights-free tier, with
the wheels the zip carries. What the tests need from the full engine (a synthetic scan
renders with open3d) runs as a subprocess of the engine's .venv (tests/engine_side.py);
`neural_engine` switches a test to the neural tier (that .venv as the engine Python).

Import this module before bpy: Blender reads its user folders from the environment
once, and they must point into a temp dir so the tests never touch ~/.config/blender.
"""

from __future__ import annotations

import atexit
import functools
import json
import os
import shutil
import subprocess
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
os.environ.pop("OT3D_ENGINE_PYTHON", None)  # no engine environment: the zero-set-up tier
ENGINE_PYTHON = Path(os.environ.get("OT3D_TEST_ENGINE_PYTHON") or REPO / ".venv" / "bin" / "python")

bpy = pytest.importorskip("bpy", reason="the add-on tests need the bpy module: bash scripts/setup_blender_env.sh 5.0.1")
import addon_utils  # noqa: E402  (part of bpy's scripts, importable once bpy is)

EXT_MODULE = "bl_ext.user_default.opentrack3d"
SCAN_FRAMES = 24


def tmp_root() -> Path:
    return _TMP


def build_extension_module():
    sys.path.insert(0, str(REPO / "scripts"))
    try:
        import build_extension
    finally:
        sys.path.pop(0)
    return build_extension


@functools.lru_cache(maxsize=None)
def built_zip() -> Path:
    """This platform's zip (its wheels come from the .whl/ cache), built and validated with
    the validator of the bpy under test."""
    build = build_extension_module()
    return build.build(_TMP / "dist", staging=_TMP / "staging", platforms=[build.host_platform()])[0]


def engine_side(command: str, out: Path, **args) -> Path:
    """Run tests/engine_side.py COMMAND in the engine's .venv (never imported here)."""
    if not ENGINE_PYTHON.is_file():
        pytest.skip(f"the engine's Python {ENGINE_PYTHON} is missing (bash scripts/setup_env.sh)")
    args_file = Path(tempfile.mkstemp(suffix=".json", dir=_TMP)[1])
    args_file.write_text(json.dumps(args))
    proc = subprocess.run([str(ENGINE_PYTHON), "-B", str(REPO / "tests" / "engine_side.py"), command,
                           str(args_file), str(out)], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"engine_side {command} failed:\n{proc.stderr[-3000:]}"
    return out


@functools.lru_cache(maxsize=None)
def _install() -> None:
    """Install the built zip the way a user does (Extensions > Install from Disk)."""
    result = bpy.ops.extensions.package_install_files(filepath=str(built_zip()), repo="user_default",
                                                      enable_on_install=True)
    assert result == {"FINISHED"}


def installed_extension():
    """The extension's module as Blender has it now (a reinstall replaces the module)."""
    import importlib

    _install()
    return importlib.import_module(EXT_MODULE)


def fresh_scene():
    """An empty factory scene with the extension enabled (factory settings disable add-ons)."""
    ext = installed_extension()
    bpy.ops.wm.read_factory_settings(use_empty=True)
    addon_utils.enable(EXT_MODULE, default_set=True)
    return ext, bpy.context.scene


@functools.lru_cache(maxsize=None)
def synth_scan() -> Path:
    return engine_side("synth", _TMP / "synth-scan", seed=7, frames=SCAN_FRAMES, width=160, height=120)


@functools.lru_cache(maxsize=None)
def segmented_scene_dir() -> Path:
    """One real segmentation (through the real worker subprocess), reused read-only."""
    ext, scene = fresh_scene()
    scene.ot3d.scan_path = str(synth_scan())
    assert bpy.ops.ot3d.segment() == {"FINISHED"}
    # a copy: the add-on prunes old job folders as later tests start jobs
    return Path(shutil.copytree(scene.ot3d.scene_object["source"], _TMP / "segmented-scene"))


def engine_module(dotted: str):
    """A numpy-only engine module (formats, palette), loaded the add-on's private way."""
    return installed_extension().engine_link.source.engine_module(dotted)


def load_engine_scene(scene_dir: Path):
    return engine_module("output.scene_io").read_scene(scene_dir)


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
def neural_engine():
    """The neural tier for one test: the engine's .venv set as the engine Python."""
    if not ENGINE_PYTHON.is_file():
        pytest.skip(f"the neural tier needs the engine's Python {ENGINE_PYTHON} (bash scripts/setup_env.sh)")
    prefs = bpy.context.preferences.addons[EXT_MODULE].preferences
    prefs.engine_python = str(ENGINE_PYTHON)
    yield prefs
    prefs.engine_python = ""


@pytest.fixture
def segmented(ext_scene):
    """A fresh scene holding the engine's segmentation (materialized from its job folder)."""
    ext, scene = ext_scene
    scene_dir = segmented_scene_dir()
    ext, scene = fresh_scene()
    assert bpy.ops.ot3d.import_result(filepath=str(scene_dir)) == {"FINISHED"}
    return ext, scene, scene_dir
