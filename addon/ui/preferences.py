"""Add-on preferences: which Python runs the engine, where jobs go, and a button that
creates a ready engine environment (venv + pip) in the extension's user folder (the button's
operator is operators/env_ops.py).

With nothing set, the engine runs on Blender's own Python (the weights-free tier, see
engine_link/tier.py); an engine environment switches to the neural tier. The environment lives in
`bpy.utils.extension_path_user`, which an upgrade of the extension keeps (uninstalling
removes it, with the extension).
"""

from __future__ import annotations

import os
from pathlib import Path

import bpy
from bpy.props import IntProperty, StringProperty

from ..engine_link import setup_env, tier

ENV_PYTHON = "OT3D_ENGINE_PYTHON"  # overrides for headless use and CI
DEFAULT_KEEP_JOBS = 5
OFFLINE_MESSAGE = ("Blender is in offline mode: creating the engine environment downloads torch and "
                   "transformers from PyPI. Allow Online Access (Preferences > System > Network) first")


ADDON_PACKAGE = __package__.rpartition(".")[0]  # Blender keys the preferences by the add-on's own module


def _package() -> str:
    return ADDON_PACKAGE


def get_prefs(context=None):
    context = context or bpy.context
    addon = context.preferences.addons.get(_package())
    return None if addon is None else addon.preferences


def user_dir() -> Path:
    """A user-writable folder that survives extension upgrades."""
    try:
        return Path(bpy.utils.extension_path_user(_package(), path="", create=True))
    except (ValueError, RuntimeError, TypeError):  # loaded as a legacy add-on (e.g. from a checkout)
        return Path(bpy.utils.user_resource("DATAFILES", path="opentrack3d", create=True))


def default_env_dir() -> Path:
    return user_dir() / "engine-venv"


def active_tier(context=None) -> tier.Tier:
    """The engine environment if there is one (preferences, $OT3D_ENGINE_PYTHON, the created
    venv: the neural tier), else Blender's own Python (the weights-free tier)."""
    prefs = get_prefs(context)
    if prefs is not None and prefs.engine_python.strip():
        return tier.Tier(tier.NEURAL, bpy.path.abspath(prefs.engine_python.strip()), "preferences")
    if os.environ.get(ENV_PYTHON):
        return tier.Tier(tier.NEURAL, os.environ[ENV_PYTHON], f"${ENV_PYTHON}")
    venv_python = setup_env.venv_python(default_env_dir())
    if venv_python.is_file():
        return tier.Tier(tier.NEURAL, str(venv_python), "created environment")
    return tier.Tier(tier.WEIGHTS_FREE, tier.blender_python(), "Blender")


def engine_python(context=None) -> str:
    """The interpreter that runs the engine (see active_tier)."""
    return active_tier(context).python


def draw_tier_status(self, context) -> None:
    """A row in the Segment panel: which tier runs the engine and what the other one needs.
    Appended to the panel's draw (kept apart from panels.py)."""
    active = active_tier(context)
    col = self.layout.column(align=True)
    col.label(text=active.summary(), icon="SCRIPTPLUGINS" if active.neural else "PACKAGE")
    sub = col.row()
    sub.enabled = False
    sub.label(text=active.other_needs())


def engine_source(context=None) -> str | None:
    prefs = get_prefs(context)
    if prefs is not None and prefs.engine_source.strip():
        return bpy.path.abspath(prefs.engine_source.strip())
    return None


def jobs_root(context=None) -> Path:
    """The preferences' jobs folder, else beside the saved .blend, else a temp folder (job_folders)."""
    from ..scene import job_folders

    prefs = get_prefs(context)
    return job_folders.jobs_root(prefs.jobs_folder if prefs is not None else "")


def keep_jobs(context=None) -> int:
    prefs = get_prefs(context)
    return DEFAULT_KEEP_JOBS if prefs is None else int(prefs.keep_jobs)


class OT3D_AddonPreferences(bpy.types.AddonPreferences):
    bl_idname = ADDON_PACKAGE

    engine_python: StringProperty(
        name="Engine Python", subtype="FILE_PATH",
        description="Python interpreter with the engine's dependencies (numpy, scipy, open3d, torch, "
                    "transformers). Empty = the environment created below")
    engine_source: StringProperty(
        name="Engine source", subtype="DIR_PATH",
        description="Folder containing ot3d_engine/ to run instead of the copy bundled with the extension")
    jobs_folder: StringProperty(name="Jobs folder", subtype="DIR_PATH",
                                description="Where engine jobs write their results. Empty = a folder "
                                            "'<blend name>_ot3d' beside the saved .blend (Blender's user "
                                            "data folder for unsaved files)")
    keep_jobs: IntProperty(
        name="Keep segmentations", default=DEFAULT_KEEP_JOBS, min=1, max=1000,
        description="How many of the newest segmentation job folders (scene.ply, preview.png) stay on "
                    "disk; older ones are deleted when a new job starts. Scratch jobs are always removed")
    torch_index_url: StringProperty(
        name="Torch index URL", default="",
        description="Optional pip --index-url for torch (e.g. a CPU-only wheel index)")
    env_status: StringProperty(default="")

    def draw(self, context):
        layout = self.layout
        layout.prop(self, "engine_python")
        layout.prop(self, "engine_source")
        layout.prop(self, "jobs_folder")
        layout.prop(self, "keep_jobs")
        active = active_tier(context)
        layout.label(text=active.summary() + f" ({active.python})")
        box = layout.box()
        box.label(text=f"Environment folder: {default_env_dir()}")
        if not bpy.app.online_access:
            warn = box.row()
            warn.alert = True
            warn.label(text=OFFLINE_MESSAGE, icon="ERROR")
        box.prop(self, "torch_index_url")
        row = box.row()
        row.operator("ot3d.create_engine_env", icon="CONSOLE")
        if self.env_status:
            for line in self.env_status.splitlines()[-3:]:
                box.label(text=line)


classes = (OT3D_AddonPreferences,)
