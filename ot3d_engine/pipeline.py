"""The mesh-free OpenTrack3D pipeline: frames -> masks -> lifted observations -> tracks ->
refined instances over a fused cloud. Every stage is a swappable backend or a small class."""

from __future__ import annotations

import inspect
import time
from collections import defaultdict
from contextlib import contextmanager
from typing import Callable

import numpy as np

from .config import PipelineConfig
from .errors import Cancelled, ConfigError
from .lift import voxels as vx
from .lift.lifting import Lifter
from .refine.instances import refine_tracks
from .registry import build, factory as registry_factory
from .output.live import LiveOptions, LiveWriter
from .scale import fit_to_scan
from .stream import PREPARED_STAGES, prepared_frames
from .track.scene_map import SceneMap
from .track.visibility import DepthView
from .types import Instance, Scan, SceneResult

Progress = Callable[[str, float, str], None]


class StageTimer:
    """Wall time per stage, and CPU time of the thread that ran it, which other processes
    on the machine (and the prefetch worker) do not inflate."""

    def __init__(self):
        self.total: dict[str, float] = defaultdict(float)
        self.cpu: dict[str, float] = defaultdict(float)

    @contextmanager
    def __call__(self, stage: str):
        t0, c0 = time.perf_counter(), time.thread_time()
        try:
            yield
        finally:
            self.add(stage, time.perf_counter() - t0, time.thread_time() - c0)

    def add(self, stage: str, wall: float, cpu: float) -> None:
        self.total[stage] += wall
        self.cpu[stage] += cpu


def _with_vocabulary(role: str, backend, vocabulary: list[str]) -> dict:
    """Backend options, plus the pipeline's vocabulary for backends that take one."""
    options = dict(backend.options)
    if vocabulary and "vocabulary" not in options:
        factory = registry_factory(role, backend.name)
        if "vocabulary" in inspect.signature(factory).parameters:
            options["vocabulary"] = list(vocabulary)
    return options


def build_backends(config: PipelineConfig):
    seg = build("segmenter", config.segmenter.name, **_with_vocabulary("segmenter", config.segmenter, config.vocabulary))
    feat = build("features", config.features.name, **config.features.options)
    return seg, feat


def classify_instances(result: SceneResult, scan: Scan, config: PipelineConfig) -> None:
    """Name each instance from its best views (MLLM, CLIP or the embedded fallback tier)."""
    from .classify.base import apply_labels

    clf_cfg = config.classifier
    clf = build("classifier", clf_cfg.name, **_with_vocabulary("classifier", clf_cfg, config.vocabulary))
    labelled = clf.classify(result.instances, scan, config.vocabulary or None)
    apply_labels(result.instances, labelled)
    tiers = sorted({lab.tier for lab in labelled})
    result.meta["classifier"] = {"backend": clf_cfg.name, "tiers": tiers}


def run_pipeline(scan: Scan, config: PipelineConfig | None = None, *, progress: Progress | None = None,
                 cancel: Callable[[], bool] | None = None, backends=None,
                 live: LiveOptions | None = None) -> SceneResult:
    """`live`: publish snapshots of the tracker's state while frames stream (output/live.py)."""
    config = config or PipelineConfig()
    progress = progress or (lambda stage, fraction, message="": None)
    timer = StageTimer()
    with timer("read"):
        scan, config, scale_record = fit_to_scan(scan, config)  # unset options follow the scan's scale
    with timer("load_models"):
        segmenter, features = backends or build_backends(config)
    lifter = Lifter(config.lift)
    tracker = build("tracker", config.track.method, config=config.track, voxel_size=config.lift.voxel_size)
    scene = SceneMap()
    n = len(scan)
    masks_total = 0
    camera = None
    views = []  # low-resolution depth of every frame: final visibility checks
    live_writer = LiveWriter(live) if live is not None else None
    frames = prepared_frames(scan, segmenter, features, config.scan.prefetch)
    try:
        for i in range(n):
            if cancel is not None and cancel():
                raise Cancelled("cancelled by the user")
            t_wait = time.perf_counter()
            prepared = next(frames)
            if config.scan.prefetch > 0:  # the main thread's idle time; the stages ran on the worker
                timer.add("wait", time.perf_counter() - t_wait, 0.0)
            for stage in PREPARED_STAGES:
                timer.add(stage, prepared.wall[stage], prepared.cpu[stage])
            frame, masks, feats = prepared.frame, prepared.masks, prepared.features
            with timer("lift"):
                obs, cloud = lifter.lift(frame, masks, feats)
                scene.add(cloud)
            with timer("track"):
                tracker.step(obs, DepthView.from_frame(frame, config.lift.pixel_stride))
                views.append(DepthView.from_frame(frame, config.refine.visibility_stride))
            masks_total += len(masks)
            if i == n // 2:  # the preview looks through the middle camera of the scan
                camera = {"K": frame.intrinsics.tolist(), "pose": frame.pose.tolist(),
                          "width": frame.width, "height": frame.height}
            if live_writer is not None:
                with timer("live"):
                    live_writer.maybe_publish(i + 1, n, tracker, scene, config.lift.voxel_size)
            progress("track", (i + 1) / n, f"frame {i + 1}/{n}: {len(masks)} masks, {len(tracker.tracks)} tracks")
    finally:
        frames.close()  # stops the prefetch worker on cancel or error
    with timer("track"):
        tracks = tracker.finish()
    progress("refine", 0.0, f"refining {len(tracks)} tracks")
    with timer("refine"):
        scene.compact()
        owner, kept = refine_tracks(tracks, scene, config.refine, views, config.lift.voxel_size,
                                    similarity=tracker.similarity)
        result = assemble(scene, owner, kept, config.lift.voxel_size)
    result.timings = dict(timer.total)
    result.meta["cpu_seconds"] = {k: round(v, 4) for k, v in timer.cpu.items()}
    result.meta.update({"frames": n, "masks": masks_total, "tracks": len(tracks),
                        "segmenter": config.segmenter.name, "features": config.features.name,
                        "feature_null_similarity": round(tracker.similarity.zero, 4), "camera": camera,
                        "scale": scale_record, "voxel_size": float(config.lift.voxel_size)})
    progress("refine", 1.0, f"{len(result.instances)} instances")
    if config.refine.superpoints:
        progress("superpoints", 0.0, "segmenting the mesh into superpoints")
        with timer("superpoints"):
            result = snap_to_superpoints(result, scan, config)
        result.timings = dict(timer.total)
        progress("superpoints", 1.0, f"{len(result.instances)} instances")
    if config.classifier is not None and result.instances:
        if cancel is not None and cancel():
            raise Cancelled("cancelled by the user")
        progress("classify", 0.0, f"labelling {len(result.instances)} instances")
        with timer("classify"):
            classify_instances(result, scan, config)
        result.timings = dict(timer.total)
        progress("classify", 1.0, "labelled")
    if live_writer is not None:  # the final snapshot is the result, whatever refined it
        with timer("live"):
            live_writer.publish_final(result, n)
        result.timings = dict(timer.total)
        result.meta["live"] = {"snapshots": live_writer.seq, "seconds": round(live_writer.cost, 4)}
    return result


def snap_to_superpoints(result: SceneResult, scan: Scan, config: PipelineConfig) -> SceneResult:
    """Optional mesh refinement: the mesh-free result snapped to the mesh's superpoints."""
    from .io.mesh import load_mesh
    from .refine.superpoint_refine import refine_scene_result

    if scan.mesh_path is None:
        raise ConfigError(f"{scan.path}: superpoint refinement needs a scene mesh "
                          "(give one with --mesh, or put scene_mesh.ply in the scan folder)")
    mesh = load_mesh(scan.mesh_path, require_faces=True)
    cfg = config.refine
    refined, ref = refine_scene_result(result, mesh, k_thresh=cfg.superpoint_k, min_verts=cfg.superpoint_min_verts,
                                       coverage=cfg.superpoint_coverage)
    refined.mesh = mesh
    refined.mesh_instance_ids = ref.vertex_ids.astype(np.int32)
    refined.meta["mesh"] = str(scan.mesh_path)
    return refined


def assemble(scene: SceneMap, owner: np.ndarray, kept, voxel_size: float) -> SceneResult:
    points = vx.centers(scene.keys, voxel_size)
    colors = scene.colors()
    instances = []
    order = np.argsort(owner, kind="stable")
    bounds = np.searchsorted(owner[order], np.arange(len(kept) + 2))
    for k, (track, conf) in enumerate(kept, start=1):
        sel = order[bounds[k]:bounds[k + 1]]
        label, label_score = "object", 0.0
        if track.label_votes:
            label = max(track.label_votes, key=track.label_votes.get)
            label_score = track.label_votes[label] / max(sum(track.label_votes.values()), 1e-9)
        instances.append(Instance(
            id=k, points=points[sel], colors=colors[sel], score=conf, label=label,
            label_score=float(label_score), feature=track.feature.astype(np.float32),
            best_views=sorted(track.views, key=lambda v: -v.pixel_count), observations=track.observations))
    return SceneResult(points=points, colors=colors, instance_ids=owner.astype(np.int32), instances=instances)
