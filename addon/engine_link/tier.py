"""Which engine runs a job, and with which interpreter.

Two tiers:
- weights-free: Blender's own Python (`sys.executable`) runs the engine's geometric
  segmenter, colour features, tracker, refinement, superpoints, preview and scan readers.
  Blender's Python has numpy; scipy and Pillow come as wheels inside the extension, which
  Blender installs into its extensions' `.local/lib/pythonX.Y/site-packages` and adds to
  its own sys.path (not to a child's): the worker gets that folder on its PYTHONPATH.
- neural: an engine environment (a venv with torch and transformers) set in the
  preferences, by $OT3D_ENGINE_PYTHON or created by "Create Engine Environment". It runs
  every backend, the weights-free ones included.

No bpy at import: the runner asks for the wheels folder from outside Blender too (tests).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from . import backends

WEIGHTS_FREE = "weights-free"
NEURAL = "neural"
NEURAL_PACKAGES = ", ".join(backends.NEURAL)

# Backends that run on Blender's own Python: those the catalogue lists as needing no package
# ("" = no classifier). Everything else needs the neural tier.
WEIGHTS_FREE_BACKENDS = {role: frozenset(b.name for b in choices if not b.needs)
                         for role, choices in backends.CATALOGUE.items()}


@dataclass(frozen=True)
class Tier:
    name: str  # WEIGHTS_FREE | NEURAL
    python: str
    source: str  # where the interpreter came from, for the panel

    @property
    def neural(self) -> bool:
        return self.name == NEURAL

    def summary(self) -> str:
        if self.neural:
            return f"Neural tier: engine environment ({self.source})"
        return "Weights-free tier: Blender's own Python"

    def other_needs(self) -> str:
        """What the user would need for the other tier (one line)."""
        if self.neural:
            return "Weights-free backends also run here; clear the engine Python to use Blender's own"
        return (f"Neural backends need an engine environment with {NEURAL_PACKAGES}: "
                "Preferences > Create Engine Environment, or set Engine Python")


def blender_python() -> str:
    """Blender's interpreter (since 2.91 sys.executable is Python, not the Blender binary);
    in the bpy-module build, the Python that imported bpy."""
    return sys.executable


def is_blender_python(python: str) -> bool:
    # not resolved: a venv's python is a symlink to its base interpreter, yet a different env
    return os.path.abspath(python) == os.path.abspath(blender_python())


def neural_packages_here() -> bool:
    """Whether this interpreter finds torch (located, not imported): then Blender's own Python
    (a bpy module in an engine venv, say) can run the neural backends too."""
    import importlib.util

    return importlib.util.find_spec("torch") is not None


def wheels_site_packages() -> list[str]:
    """Where Blender installed the extensions' wheels (scipy, Pillow for this one), if it did."""
    try:
        import bpy
    except ImportError:
        return []
    ext = bpy.utils.user_resource("EXTENSIONS")
    if not ext:
        return []
    site = Path(ext, ".local", "lib", f"python{sys.version_info.major}.{sys.version_info.minor}", "site-packages")
    return [str(site)] if site.is_dir() else []


def needs_neural(role: str, backend: str | None) -> bool:
    allowed = WEIGHTS_FREE_BACKENDS.get(role)
    return allowed is not None and (backend or "") not in allowed


# Jobs that always load a model (Query's shortlist uses the MiniLM text encoder).
NEURAL_JOBS = {"query": "Query ranks instances with a text encoder"}
_SET_UP = "set an engine environment in the OpenTrack3D preferences (Create Engine Environment)"


def check_job(tier: Tier, job: str, params: dict) -> None:
    """A one-line error before the engine starts when the weights-free tier is asked for
    something it cannot run."""
    if tier.neural:
        return
    if job in NEURAL_JOBS:
        raise LookupError(f"{NEURAL_JOBS[job]}, which needs the neural tier ({NEURAL_PACKAGES}): {_SET_UP}")
    for role in WEIGHTS_FREE_BACKENDS:
        if role in params and needs_neural(role, params[role]):
            raise LookupError(f"{role} '{params[role]}' needs the neural tier ({NEURAL_PACKAGES}): {_SET_UP}")
