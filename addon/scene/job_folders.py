"""Where engine jobs write their output: never inside the extension's own folders, which
uninstalling (or upgrading) deletes.

- the folder set in the preferences ("Jobs folder"), when there is one;
- beside the saved .blend: `<blend name>_ot3d/` (the result travels with the file);
- for an unsaved file, `opentrack3d/jobs/` in Blender's user data folder (DATAFILES), which
  belongs to Blender, not to the extension (what the user made is materialized into the
  .blend anyway; the folder holds scene.ply and preview.png).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import bpy

BLEND_SUFFIX = "_ot3d"
UNSAVED_FOLDER = "opentrack3d/jobs"


def jobs_root(configured: str = "") -> Path:
    if configured.strip():
        root = Path(bpy.path.abspath(configured.strip()))
    elif bpy.data.filepath:
        blend = Path(bpy.data.filepath)
        root = blend.with_name(blend.stem + BLEND_SUFFIX)
    else:
        root = unsaved_root()
    root.mkdir(parents=True, exist_ok=True)
    return root


def unsaved_root() -> Path:
    try:
        return Path(bpy.utils.user_resource("DATAFILES", path=UNSAVED_FOLDER, create=True))
    except (ValueError, RuntimeError, OSError):  # no user folder (a locked-down install)
        return Path(tempfile.gettempdir()) / UNSAVED_FOLDER.replace("/", "-")
