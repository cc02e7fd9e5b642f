"""The live point cloud: the engine's newest snapshot while Segment runs, one object updated in place.

The engine writes `<job_dir>/live/snapshot-NNNNNN.npz|json` and a `latest` pointer, each
atomic (ot3d_engine/output/live.py); what `latest` names is complete, so numpy alone reads
it here. The object is a preview, not a segmentation: corrections and export never see it,
and it goes when the job ends (the final result replaces it) or is cancelled (the scene is
left as it was, including the material and node group if this cloud created them, unless
the user chose to keep the shown snapshot: `partial_segmentation` makes it an ordinary one).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import bpy
import numpy as np

from . import display, segmentation as seg
from ..engine_link.source import engine_module
from .segmentation import SceneData

LIVE_OBJECT_NAME = "OT3D Live"
ROLE_LIVE = "live"


def read_snapshot(directory: Path, name: str) -> tuple[dict, dict[str, np.ndarray]]:
    meta = json.loads((directory / f"{name}.json").read_text(encoding="utf-8"))
    with np.load(directory / f"{name}.npz") as z:
        arrays = {k: z[k] for k in ("points", "colors", "instance_ids")}
    return meta, arrays


class LiveCloud:
    """Follows one job's live folder; `refresh` is cheap when nothing new was published."""

    def __init__(self, scene: bpy.types.Scene, directory: str | Path):
        self.scene = scene
        self.dir = Path(directory)
        self.obj: bpy.types.Object | None = None
        self.latest = ""
        self.meta: dict = {}  # the shown snapshot's json: frame, frames, instances, points, final
        self.arrays: dict[str, np.ndarray] = {}  # the shown snapshot's arrays (kept for a partial result)
        self.instances = 0  # instances in the shown snapshot
        self.update_s = 0.0  # the last update's time in Blender (read excluded)
        self._created: list = []  # material / node group this cloud added to the file
        self._mesh_name = ""

    def refresh(self) -> bool:
        """Show the newest snapshot if `latest` changed; True when the object was updated."""
        try:
            name = (self.dir / "latest").read_text(encoding="utf-8").strip()
        except (FileNotFoundError, NotADirectoryError):
            return False
        if not name or name == self.latest:
            return False
        try:
            meta, arrays = read_snapshot(self.dir, name)
        except (FileNotFoundError, OSError, ValueError, KeyError):  # pruned between reads: next tick
            return False
        self.show(arrays["points"], arrays["instance_ids"])
        self.latest, self.meta, self.arrays = name, meta, arrays
        return True

    def partial_segmentation(self, scan: str | None) -> SceneData | None:
        """The shown snapshot as an ordinary segmentation (None before the first one): the
        tracker's ids as they are (the colours the user saw stay), unlabelled, each instance
        scored by its size relative to the largest (no refinement ran to rate it; bigger
        fragments were seen more), `source` the scan, since the job folder goes with the job."""
        if not self.latest:
            return None
        ids = np.asarray(self.arrays["instance_ids"], np.int32)
        uniq, counts = np.unique(ids[ids > 0], return_counts=True)
        scores = counts / counts.max() if len(counts) else counts
        instances = [{"id": int(i), "label": seg.UNLABELLED, "score": float(s), "label_score": 0.0}
                     for i, s in zip(uniq, scores)]
        return SceneData(points=np.asarray(self.arrays["points"], np.float32),
                         colors=np.asarray(self.arrays["colors"], np.uint8), instance_ids=ids,
                         instances=instances, source=scan or "", meta={"scan": scan})

    def show(self, points: np.ndarray, instance_ids: np.ndarray) -> None:
        """Put `points` into the live object, coloured by instance, with an `instance_id` attribute."""
        t0 = time.perf_counter()
        ids = np.ascontiguousarray(instance_ids, dtype=np.int32)
        obj = self._existing() or self._new_object()
        mesh = obj.data
        if len(mesh.vertices) != len(points):
            seg.set_points(mesh, points)
        else:  # same size: move the vertices, no reallocation
            mesh.attributes["position"].data.foreach_set("vector", np.ascontiguousarray(points, np.float32).ravel())
        seg.set_int_attr(mesh, seg.SCENE_ATTR, ids)
        present, rgba = _linear_rgba_by_instance(ids)
        seg.set_linear_rgba(mesh, rgba)
        mesh.update()
        self.instances = int(np.count_nonzero(present > 0))
        obj["instances"] = self.instances
        self.update_s = time.perf_counter() - t0

    def remove(self) -> None:
        """Delete the live object (and what it alone brought into the file)."""
        if self._existing() is not None:
            mesh = self.obj.data
            bpy.data.objects.remove(self.obj)
            bpy.data.meshes.remove(mesh)
            self.obj = None
        for block in self._created:
            if block.users == 0:
                (bpy.data.materials if isinstance(block, bpy.types.Material) else bpy.data.node_groups).remove(block)
        self._created = []

    def _existing(self) -> bpy.types.Object | None:
        """The live object, unless the user deleted it meanwhile (then the next snapshot makes a new one)."""
        try:
            if self.obj is not None and self.obj.name in bpy.data.objects:
                return self.obj
        except ReferenceError:
            pass
        if self.obj is not None:
            self._drop_orphan_mesh()
        self.obj = None
        return None

    def _drop_orphan_mesh(self) -> None:
        mesh = bpy.data.meshes.get(self._mesh_name)
        if mesh is not None and mesh.users == 0:
            bpy.data.meshes.remove(mesh)

    def _new_object(self) -> bpy.types.Object:
        before = {(type(b).__name__, b.name) for b in (*bpy.data.materials, *bpy.data.node_groups)}
        mesh = bpy.data.meshes.new(LIVE_OBJECT_NAME)
        self._mesh_name = mesh.name
        obj = bpy.data.objects.new(LIVE_OBJECT_NAME, mesh)
        obj[seg.ROLE] = ROLE_LIVE
        self.scene.collection.objects.link(obj)  # no collection of its own: nothing else to undo
        display.show_as_points(obj, display.scan_material(), self.scene.ot3d.point_radius)
        obj.hide_render = True
        self._created = [b for b in (*bpy.data.materials, *bpy.data.node_groups) if (type(b).__name__, b.name) not in before]
        self.obj = obj
        return obj


def _linear_rgba_by_instance(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(the ids present, per-point linear RGBA in the final result's palette): one palette row
    per instance, then a gather per point. Counting ids instead of sorting the points keeps a
    500k-point update well under its 50 ms (np.unique over the points was most of it)."""
    lo, hi = int(ids.min(initial=0)), int(ids.max(initial=0))
    if lo >= 0 and hi < 1 << 22:
        present = np.flatnonzero(np.bincount(ids, minlength=1))
        row = np.zeros(hi + 1, np.int64)
        row[present] = np.arange(len(present))
        index = row[ids]
    else:
        present, index = np.unique(ids, return_inverse=True)
    table = np.ones((len(present), 4), np.float32)
    table[:, :3] = seg.srgb_to_linear(engine_module("output.palette").instance_colors(present))
    return present, table[index.ravel()]
