"""The extension as a user has it: this platform's zip installed into a fresh Blender-like
process (bpy + numpy only, no preference set) for a whole session, with the zero-set-up
tier doing the segmentation; and Blender's rules (offline mode, upgrades keep the engine
environment, nothing written into the install folder)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from addon_env import (ENGINE_PYTHON, EXT_MODULE, REPO, bpy, built_zip, ext_scene,  # noqa: F401
                       installed_extension, scene_state, segmented, synth_scan)

CORRECTIONS = ("relabel", "merge", "split", "move_points", "delete")
# Python's import system writes the package's own __init__ cache when Blender imports the
# extension, before any add-on code runs; everything else the add-on loads leaves no .pyc.
IMPORT_CACHE = {"__pycache__/__init__.cpython-311.pyc"}


def run_session(tmp_path: Path, scan: Path, *extra: str, timeout: int = 600) -> dict:
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # so that a .pyc the engine or add-on writes shows up
    out = tmp_path / "session.json"
    proc = subprocess.run([sys.executable, str(REPO / "tests" / "blender_session.py"), str(built_zip()), str(scan),
                           str(out), *extra], env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0 and out.is_file(), proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads(out.read_text())


def check_session(report: dict, corrections: bool = True) -> None:
    assert report["bpy"] == bpy.app.version_string
    assert report["tier"] == "weights-free" and report["engine_python"] == sys.executable
    wanted = ["import_scan", "segment", *(CORRECTIONS if corrections else ()), "export", "reimport", "save",
              "reopen"]
    for step in wanted:
        assert report["steps"][step]["result"] == ["FINISHED"], (step, report["steps"].get(step))
    assert report["instances_after_segment"] >= 3
    assert report["reimport_same"] and report["reopen_same"]
    assert set(report["install_folder_written"]) <= IMPORT_CACHE, report["install_folder_written"]


def test_whole_session_imports_nothing_heavy_and_writes_nothing_into_the_install_folder(tmp_path):
    if not ENGINE_PYTHON.is_file():
        pytest.skip(f"the query step needs the neural tier's Python {ENGINE_PYTHON}")
    report = run_session(tmp_path, synth_scan(), "--query-python", str(ENGINE_PYTHON))
    check_session(report)
    assert report["steps"]["query"]["result"] == ["FINISHED"] and report["query_matches"][0] == "armchair"
    # the extension's wheels (scipy, Pillow) are on Blender's sys.path, yet only the engine uses them
    assert report["heavy_modules"] == []


def test_session_with_pillow_and_scipy_unimportable_in_blender(tmp_path):
    """The issue's bug: reading the engine's result imported Pillow into Blender's process."""
    report = run_session(tmp_path, synth_scan(), "--block", "PIL,scipy")
    assert report["blocked"] == ["PIL", "scipy"]
    check_session(report)


def test_session_on_the_real_slambook_room(tmp_path, shared_data):
    report = run_session(tmp_path, shared_data / "slambook-room", "--frames", "5")
    check_session(report, corrections=report["instances_after_segment"] >= 4)
    assert report["points"] > 10_000


def test_create_engine_environment_refuses_to_download_in_offline_mode(ext_scene, tmp_path):
    system = bpy.context.preferences.system
    keep = system.use_online_access
    system.use_online_access = False
    try:
        assert not bpy.app.online_access
        with pytest.raises(RuntimeError, match="Blender is in offline mode.*Allow Online Access"):
            bpy.ops.ot3d.create_engine_env(directory=str(tmp_path / "env"), install_packages=True)
    finally:
        system.use_online_access = keep
    assert not (tmp_path / "env").exists()


def test_engine_environment_survives_an_upgrade_of_the_extension(ext_scene):
    ext, scene = ext_scene
    env_dir = ext.ui.preferences.default_env_dir()
    assert bpy.ops.ot3d.create_engine_env(install_packages=False) == {"FINISHED"}  # the default folder
    try:
        assert ext.ui.preferences.active_tier().name == "neural"
        python = ext.engine_link.setup_env.venv_python(env_dir)
        assert python.is_file() and Path(ext.__file__).parent not in python.parents  # not in the install folder
        result = bpy.ops.extensions.package_install_files(filepath=str(built_zip()), repo="user_default",
                                                          enable_on_install=True)  # reinstall = upgrade
        assert result == {"FINISHED"} and python.is_file()
    finally:
        bpy.context.preferences.addons[EXT_MODULE].preferences.engine_python = ""  # kept by the reinstall
        shutil.rmtree(env_dir, ignore_errors=True)
    assert installed_extension().ui.preferences.active_tier().name == "weights-free"


def test_weights_free_tier_says_what_needs_the_neural_tier(segmented):
    """Blender's own Python has no torch: a neural backend or a query is a one-line error
    naming what to set up, before any engine starts, and the scene stays as it was."""
    ext, scene, _ = segmented
    if ext.engine_link.tier.neural_packages_here():
        pytest.skip("this Python has torch: the weights-free tier is not in force here")
    s = scene.ot3d
    s.scan_path = str(synth_scan())
    before = scene_state(scene)
    s.segmenter = "grounded"
    try:
        # the Segment operator's own check (backends.unavailable_reason) speaks first, naming
        # the interpreter it asked; the engine job's tier check (tier.check_job) is its backstop
        with pytest.raises(RuntimeError, match=r"Grounded SAM needs torch and transformers in the engine "
                                               r"environment \(.+\); create one in the preferences"):
            bpy.ops.ot3d.segment()
    finally:
        s.segmenter = "geometric"
    s.query_text = "chair"
    with pytest.raises(RuntimeError, match="Query ranks instances with a text encoder, which needs the neural tier"):
        bpy.ops.ot3d.query()
    assert scene_state(scene) == before and "\n" not in s.last_error


IMPORT_PROBE = """
import json, os, sys
import bpy
def state():
    handlers = {n: len(getattr(bpy.app.handlers, n)) for n in dir(bpy.app.handlers)
                if isinstance(getattr(bpy.app.handlers, n), list)}
    files = sorted(str(p) for p in __import__("pathlib").Path(os.environ["BLENDER_USER_EXTENSIONS"]).parent.rglob("*"))
    return {"path": list(sys.path), "meta_path": [type(f).__name__ for f in sys.meta_path], "handlers": handlers,
            "cwd": os.getcwd(), "files": files, "modules": sorted(m for m in sys.modules if m.split(".")[0] in
                                                                 ("torch", "transformers", "open3d", "scipy", "PIL"))}
before = state()
sys.path.insert(0, sys.argv[1])
import addon
addon._modules()  # every add-on module, imported as register() does, but not registered
sys.path.pop(0)
print(json.dumps({"before": before, "after": state()}))
"""


def test_importing_the_add_on_has_no_side_effects(tmp_path):
    """Blender's rule: importing an extension changes nothing; all set-up happens in register()."""
    env = dict(os.environ)
    for var in ("BLENDER_USER_CONFIG", "BLENDER_USER_SCRIPTS", "BLENDER_USER_EXTENSIONS", "BLENDER_USER_DATAFILES"):
        env[var] = str(tmp_path / "user" / var.lower())
    proc = subprocess.run([sys.executable, "-c", IMPORT_PROBE, str(REPO)], env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    seen = json.loads(proc.stdout.strip().splitlines()[-1])
    assert seen["after"] == seen["before"]


def test_every_platform_zip_passes_blenders_validator(tmp_path):
    """One zip per platform, each validated (folder and zip) by the bpy under test's own
    validator, each carrying exactly its platform's wheels."""
    import tomllib
    import zipfile

    from addon_env import build_extension_module

    build = build_extension_module()
    zips = build.build(tmp_path / "dist", staging=tmp_path / "staging")
    tags = {"linux-x64": "manylinux", "windows-x64": "win_amd64", "macos-arm64": "arm64", "macos-x64": "x86_64"}
    assert [z.name for z in zips] == [f"opentrack3d-{build.manifest_version()}-{p}.zip" for p in tags]
    for platform, zip_path in zip(tags, zips):
        with zipfile.ZipFile(zip_path) as z:
            manifest = tomllib.loads(z.read("blender_manifest.toml").decode())
            names = z.namelist()
        assert manifest["platforms"] == [platform]
        assert manifest["permissions"]["network"]
        wheels = [w.removeprefix("./") for w in manifest["wheels"]]
        assert sorted(w.split("/")[1].split("-")[0] for w in wheels) == ["pillow", "scipy"]
        assert all(w in names and "cp311" in w and tags[platform] in w for w in wheels), wheels
        assert not any(n.endswith(".pyc") for n in names)
