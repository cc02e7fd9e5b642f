"""Create Engine Environment: the preferences' button that makes a venv with the engine's
dependencies (engine_link/setup_env.py does the work; a timer reports progress while it runs)."""

from __future__ import annotations

import threading
from pathlib import Path

import bpy
from bpy.props import BoolProperty, StringProperty

from ..engine_link import setup_env
from ..ui import preferences


class OT3D_OT_create_engine_env(bpy.types.Operator):
    """Create a Python virtual environment with the engine's dependencies (python -m venv + pip)"""

    bl_idname = "ot3d.create_engine_env"
    bl_label = "Create Engine Environment"

    base_python: StringProperty(name="Base Python", default="",
                                description="Interpreter to create the venv with (default: Blender's)")
    directory: StringProperty(name="Folder", default="", subtype="DIR_PATH")
    install_packages: BoolProperty(name="Install packages", default=True)

    def _args(self, context):
        prefs = preferences.get_prefs(context)
        base = self.base_python or setup_env.base_interpreter()
        target = Path(self.directory) if self.directory else preferences.default_env_dir()
        index = prefs.torch_index_url if prefs is not None else ""
        return base, target, index

    def execute(self, context):
        base, target, index = self._args(context)
        if self.install_packages and not bpy.app.online_access:
            self.report({"ERROR"}, preferences.OFFLINE_MESSAGE)
            return {"CANCELLED"}
        lines = []
        if bpy.app.background:
            try:
                python = setup_env.create_env(base, target, install=self.install_packages,
                                              torch_index_url=index, log=lines.append)
            except setup_env.EnvError as exc:
                self.report({"ERROR"}, str(exc))
                return {"CANCELLED"}
            _store(context, python, "\n".join(lines[-3:]))
            self.report({"INFO"}, f"Engine environment ready: {python}")
            return {"FINISHED"}
        state = {"lines": lines, "python": None, "error": None}

        def work():
            try:
                state["python"] = setup_env.create_env(base, target, install=self.install_packages,
                                                       torch_index_url=index, log=lines.append)
            except setup_env.EnvError as exc:
                state["error"] = str(exc)

        thread = threading.Thread(target=work, daemon=True)
        thread.start()

        def tick():
            prefs = preferences.get_prefs()
            if prefs is not None:
                prefs.env_status = "\n".join(lines[-3:])
            if thread.is_alive():
                return 0.5
            if state["error"]:
                if prefs is not None:
                    prefs.env_status = state["error"]
            elif state["python"]:
                _store(bpy.context, state["python"], "Ready: " + str(state["python"]))
            return None

        bpy.app.timers.register(tick, first_interval=0.5)
        self.report({"INFO"}, f"Creating the engine environment in {target} (this takes minutes)")
        return {"FINISHED"}


def _store(context, python: Path, status: str) -> None:
    prefs = preferences.get_prefs(context)
    if prefs is not None:
        prefs.engine_python = str(python)
        prefs.env_status = status


classes = (OT3D_OT_create_engine_env,)
