"""Live snapshots of the tracker's state while a scan streams, for viewers (the Blender
add-on, `ot3d segment --live DIR`).

A snapshot is the fused cloud so far with each point's current track id (0 = none):
    DIR/snapshot-000012.npz   points Nx3 float32, colors Nx3 uint8, instance_ids N int32
    DIR/snapshot-000012.json  {"seq", "frame", "frames", "instances", "points", "final", ...}
    DIR/latest                the name of the newest complete snapshot ("snapshot-000012")
Each file is written to a temp name, fsynced and renamed, npz before json before `latest`,
so whatever `latest` names is complete; numpy alone reads it (np.load + json). The last
few snapshots are kept, so the one a reader just found is not deleted under it. The final
snapshot (`final: true`) holds the refined result's instance ids.

Publishing is paced by frames (`every`) or seconds (`seconds`), and never more often than
its own cost allows: after a snapshot that took c seconds, the next waits until the engine
has run c / max_share seconds, which bounds the overhead to `max_share` of the run.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ConfigError
from ..lift import voxels as vx
from ..track.tracker import COARSE_FACTOR

SNAPSHOT_PREFIX = "snapshot-"
LATEST = "latest"


@dataclass
class LiveOptions:
    directory: Path
    every: int | None = 10  # frames between snapshots (None: by time only)
    seconds: float | None = None  # seconds between snapshots (None: by frames only)
    max_share: float = 0.1  # publishing may take at most this share of the run
    keep: int = 3  # snapshots kept on disk

    @classmethod
    def from_params(cls, value, default_dir: Path) -> "LiveOptions | None":
        """The worker protocol's `live` parameter: false/absent, true, or
        {"dir": ..., "every": N, "seconds": T} (dir defaults to <job_dir>/live)."""
        if not value:
            return None
        if value is True:
            value = {}
        if not isinstance(value, dict) or set(value) - {"dir", "every", "seconds"}:
            raise ConfigError(f"live: {value!r} must be true or a table with dir, every, seconds")
        from ..config_checks import check_value

        every, seconds = value.get("every", 10), value.get("seconds")
        if every is not None:
            check_value("live.every", every)
        if seconds is not None:
            check_value("live.seconds", seconds)
        return cls(Path(value.get("dir") or default_dir), every=every, seconds=seconds)


def read_latest(directory: str | Path) -> tuple[dict, dict[str, np.ndarray]] | None:
    """The newest complete snapshot (meta, arrays), or None when there is none yet."""
    directory = Path(directory)
    try:
        name = (directory / LATEST).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    meta = json.loads((directory / f"{name}.json").read_text(encoding="utf-8"))
    with np.load(directory / f"{name}.npz") as z:
        arrays = {k: z[k] for k in z.files}
    return meta, arrays


class LiveWriter:
    def __init__(self, options: LiveOptions):
        self.opt = options
        self.dir = Path(options.directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.seq = 0
        self.cost = 0.0  # seconds spent publishing
        self._t0 = time.perf_counter()
        self._last_frame = 0
        self._last_time = self._t0
        self._not_before = self._t0  # cost pacing
        self._written: list[str] = []

    def due(self, frames_done: int) -> bool:
        now = time.perf_counter()
        if now < self._not_before:
            return False
        by_frames = self.opt.every is not None and frames_done - self._last_frame >= self.opt.every
        by_time = self.opt.seconds is not None and now - self._last_time >= self.opt.seconds
        return by_frames or by_time

    def maybe_publish(self, frames_done: int, frames: int, tracker, scene, voxel_size: float) -> bool:
        if not self.due(frames_done):
            return False
        t0 = time.perf_counter()
        points, colors, ids = tracker_snapshot(tracker, scene, voxel_size)
        self._publish(points, colors, ids, frame=frames_done, frames=frames, final=False, t0=t0)
        return True

    def publish_final(self, result, frames: int) -> None:
        self._publish(result.points.astype(np.float32), result.colors.astype(np.uint8),
                      result.instance_ids.astype(np.int32), frame=frames, frames=frames, final=True,
                      t0=time.perf_counter())

    def _publish(self, points, colors, ids, *, frame: int, frames: int, final: bool, t0: float) -> None:
        self.seq += 1
        name = f"{SNAPSHOT_PREFIX}{self.seq:06d}"
        _write_atomic(self.dir / f"{name}.npz",
                      lambda f: np.savez(f, points=points, colors=colors, instance_ids=ids))
        meta = {"seq": self.seq, "frame": frame, "frames": frames, "final": final,
                "points": int(len(points)), "instances": int(len(np.unique(ids[ids > 0]))),
                "elapsed_s": round(t0 - self._t0, 4)}
        _write_atomic(self.dir / f"{name}.json", lambda f: f.write(json.dumps(meta).encode()))
        _write_atomic(self.dir / LATEST, lambda f: f.write((name + "\n").encode()))
        self._written.append(name)
        while len(self._written) > max(1, self.opt.keep):
            old = self._written.pop(0)
            for suffix in (".npz", ".json"):
                try:
                    os.remove(self.dir / f"{old}{suffix}")
                except FileNotFoundError:
                    pass
        now = time.perf_counter()
        cost = now - t0
        self.cost += cost
        self._last_frame, self._last_time = frame, now
        self._not_before = now + cost * (1 - self.opt.max_share) / self.opt.max_share


def _write_atomic(path: Path, write) -> None:
    """Temp file, fsync, rename: a reader sees the old file or the new one, whole. (The
    folder is not fsynced: a snapshot lost to a power cut is harmless, and the folder
    fsyncs were most of the publishing cost.)"""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def tracker_snapshot(tracker, scene, voxel_size: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The fused cloud so far, each voxel labelled with the live track whose coarse voxels
    hold it (where tracks overlap, the smaller one wins, as in the 2D label image)."""
    scene.compact()
    points = vx.centers(scene.keys, voxel_size).astype(np.float32)
    colors = scene.colors()
    ids = np.zeros(len(scene.keys), np.int32)
    tracks = sorted(tracker.tracks.values(), key=lambda t: -len(t.coarse))  # big first, small on top
    if tracks and len(scene.keys):
        parent = vx.pack(np.floor_divide(vx.unpack(scene.keys), COARSE_FACTOR))
        keys = np.concatenate([t.coarse for t in tracks])
        owner = np.concatenate([np.full(len(t.coarse), t.id, np.int32) for t in tracks])
        # one sort for all tracks; for a coarse voxel held by several, the last (smallest) wins
        order = np.argsort(keys, kind="stable")
        keys, owner = keys[order], owner[order]
        last = np.r_[keys[1:] != keys[:-1], True]
        keys, owner = keys[last], owner[last]
        found, idx = vx.lookup(keys, parent)
        ids[found] = owner[idx[found]]
    return points, colors, ids
