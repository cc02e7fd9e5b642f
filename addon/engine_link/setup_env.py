"""Create the engine's Python environment: `python -m venv` + pip, no bpy needed.

The package list is read from the engine's pyproject.toml (bundled next to the engine
source), so the requirements are written down once.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

from .source import engine_root


class EnvError(RuntimeError):
    pass


def venv_python(env_dir: Path) -> Path:
    return Path(env_dir) / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def base_interpreter() -> str:
    """Blender's own Python (sys.executable is Blender's interpreter since 2.91)."""
    return sys.executable


def requirements(root: Path | None = None) -> list[str]:
    path = (root or engine_root()) / "pyproject.toml"
    if not path.is_file():
        raise EnvError(f"{path}: engine requirements not found; reinstall the extension")
    return list(tomllib.loads(path.read_text())["project"]["dependencies"])


def _run(cmd: list[str], log) -> None:
    log("$ " + " ".join(cmd))
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for line in proc.stdout.splitlines()[-20:]:
        log(line)
    if proc.returncode != 0:
        tail = "\n".join(proc.stdout.splitlines()[-8:])
        raise EnvError(f"`{' '.join(cmd[:4])} ...` failed with exit code {proc.returncode}:\n{tail}")


def create_env(base_python: str, env_dir: Path, *, install: bool = True, torch_index_url: str = "",
               log=print) -> Path:
    """Make (or update) a venv at env_dir with the engine's requirements; returns its python."""
    env_dir = Path(env_dir)
    python = venv_python(env_dir)
    if not python.is_file():
        # without packages to install there is no need for pip (nor for ensurepip to exist)
        _run([base_python, "-m", "venv", *([] if install else ["--without-pip"]), str(env_dir)], log)
    if not python.is_file():
        raise EnvError(f"{env_dir}: venv created but {python} is missing")
    if install:
        reqs = requirements()
        torch = [r for r in reqs if r.replace(" ", "").lower().startswith("torch")]
        rest = [r for r in reqs if r not in torch]
        pip = [str(python), "-m", "pip", "install", "--disable-pip-version-check"]
        if torch:
            _run(pip + torch + (["--index-url", torch_index_url] if torch_index_url else []), log)
        _run(pip + rest, log)
    return python
