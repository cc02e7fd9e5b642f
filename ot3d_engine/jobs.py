"""The jobs a worker runs: fn(params, ctx) -> (files, data).

files: name -> path of a file the job wrote into ctx.job_dir (the add-on reads them);
data: small JSON-able facts (counts, matches). Heavy modules are imported inside each
job so that `hello` is instant and an `info` job never loads torch.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from . import __version__
from .errors import ConfigError, ScanError

JOBS: dict = {}


def job(name: str):
    def deco(fn):
        JOBS[name] = fn
        return fn

    return deco


def _scan_path(params: dict) -> Path:
    if not params.get("scan"):
        raise ConfigError("the job needs a 'scan' path")
    path = Path(params["scan"]).expanduser()
    if not path.exists():
        raise ScanError(path, "scan not found")
    return path


def _load_scan(params: dict):
    from .io import load_scan

    if params.get("geometry"):  # a Blender object, written by the add-on (issue 13)
        return _object_scan(params)

    scan = load_scan(_scan_path(params), layout=params.get("layout") or None,
                     stride=max(int(params.get("stride", 1)), 1), max_frames=params.get("max_frames"),
                     intrinsics=params.get("intrinsics") or None, depth_scale=params.get("depth_scale") or None)
    if len(scan) == 0:
        raise ScanError(scan.path, "the scan has no frames")
    if params.get("mesh"):
        mesh = Path(params["mesh"]).expanduser()
        if not mesh.is_file():
            raise ScanError(mesh, "superpoint mesh not found")
        scan.mesh_path = mesh
    return scan


def _object_scan(params: dict):
    from .render.object_input import object_scan

    resolution = params.get("resolution")
    texture = Path(params["texture"]).expanduser() if params.get("texture") else None
    evaluated = Path(params["evaluated_geometry"]).expanduser() if params.get("evaluated_geometry") else None
    return object_scan(Path(params["geometry"]).expanduser(), evaluated=evaluated, texture=texture,
                       views=params.get("views") or None,
                       resolution=tuple(int(x) for x in resolution) if resolution else None,
                       up=params.get("up") or "z")


def build_config(params: dict):
    """PipelineConfig from the add-on's options: a full `config` dict and/or the panel's shortcuts."""
    from .config import BackendConfig, PipelineConfig

    cfg = PipelineConfig.from_dict(params.get("config") or {})
    for role in ("segmenter", "features", "classifier"):
        if role in params:
            name = params[role]
            setattr(cfg, role, BackendConfig(name) if name else None)
    if params.get("tracker"):
        cfg.track.method = str(params["tracker"])
    if params.get("vocabulary"):
        cfg.vocabulary = [str(v).strip() for v in params["vocabulary"] if str(v).strip()]
    if "superpoints" in params:
        cfg.refine.superpoints = bool(params["superpoints"])
    from .config_checks import check_config

    check_config(cfg)
    return cfg


@job("info")
def info_job(params: dict, ctx) -> tuple[dict, dict]:
    """Engine version and the backends it can build (loads their modules, not their weights)."""
    from .registry import available

    roles = params.get("roles") or ["segmenter", "features", "classifier"]
    backends = {}
    for role in roles:
        try:
            backends[role] = available(role)
        except ImportError as exc:
            ctx.log(f"{role} backends unavailable: {exc}", "warning")
            backends[role] = []
    return {}, {"engine_version": __version__, "backends": backends}


@job("scan_cloud")
def scan_cloud_job(params: dict, ctx) -> tuple[dict, dict]:
    """A coloured, voxel-downsampled cloud of the whole scan plus its cameras, for import."""
    from .lift.geometry import backproject, to_world

    scan = _load_scan(params)
    voxel = float(params.get("voxel", 0.02))
    pixel_stride = max(int(params.get("pixel_stride", 2)), 1)
    depth_min, depth_max = float(params.get("depth_min", 0.1)), float(params.get("depth_max", 6.0))
    pts_all, col_all, keys_all = [], [], []
    Ks, poses, sizes, names = [], [], [], []
    n = len(scan)
    for i in range(n):
        ctx.check_cancel()
        fr = scan.frame(i)
        d = fr.depth[::pixel_stride, ::pixel_stride]
        valid = np.isfinite(d) & (d > depth_min) & (d < depth_max)
        rows, cols = np.nonzero(valid)
        rows, cols = rows * pixel_stride, cols * pixel_stride
        world = to_world(backproject(fr.depth, fr.intrinsics, rows, cols), fr.pose)
        ok = np.all(np.isfinite(world), axis=1)
        world, rows, cols = world[ok], rows[ok], cols[ok]
        keys, first = np.unique(np.floor(world / voxel).astype(np.int64), axis=0, return_index=True)
        pts_all.append(world[first])
        col_all.append(fr.color[rows[first], cols[first]])
        keys_all.append(keys)
        Ks.append(fr.intrinsics)
        poses.append(fr.pose)
        sizes.append((fr.width, fr.height))
        names.append(fr.name or str(fr.index))
        ctx.progress("read", (i + 1) / n, f"frame {i + 1}/{n}")
    if pts_all:
        keys = np.concatenate(keys_all)
        _, first = np.unique(keys, axis=0, return_index=True)
        points = np.concatenate(pts_all)[first].astype(np.float32)
        colors = np.concatenate(col_all)[first].astype(np.uint8)
    else:
        points, colors = np.zeros((0, 3), np.float32), np.zeros((0, 3), np.uint8)
    max_points = int(params.get("max_points", 0))
    if max_points and len(points) > max_points:
        keep = np.sort(np.random.default_rng(0).choice(len(points), max_points, replace=False))
        points, colors = points[keep], colors[keep]
    out = ctx.job_dir / "scan_cloud.npz"
    from .io.atomic import atomic_path

    with atomic_path(out, suffix=".npz") as tmp:
        np.savez(tmp, points=points, colors=colors,
                 intrinsics=np.asarray(Ks, np.float64).reshape(-1, 3, 3),
                 poses=np.asarray(poses, np.float64).reshape(-1, 4, 4),
                 sizes=np.asarray(sizes, np.int32).reshape(-1, 2), names=np.asarray(names))
    data = {"layout": scan.layout, "frames": n, "points": int(len(points)),
            "mesh": None if scan.mesh_path is None else str(scan.mesh_path)}
    return {"cloud": out}, data


@job("segment")
def segment_job(params: dict, ctx) -> tuple[dict, dict]:
    """load_scan + run_pipeline + write_scene into <job_dir>/scene."""
    from .output.scene_io import write_scene
    from .output.live import LiveOptions
    from .pipeline import run_pipeline

    config = build_config(params)
    live = LiveOptions.from_params(params.get("live"), ctx.job_dir / "live")  # snapshots while frames stream
    ctx.progress("load", 0.0, "opening scan")
    scan = _load_scan(params)
    ctx.log(f"{scan.path}: {len(scan)} frames ({scan.layout})")
    result = run_pipeline(scan, config, progress=ctx.progress, cancel=ctx.cancelled, live=live)
    ctx.check_cancel()
    ctx.progress("write", 0.0, "writing scene")
    from .render.virtual_scan import finish_geometry_scene

    # mesh/point-cloud input (issue 13): ids per input vertex/point, beside the scene files
    input_labels: list[str] = []
    out = write_scene(result, ctx.job_dir / "scene", scan_path=scan.path, config=config.to_dict(),
                      preview=bool(params.get("preview", True)),
                      extra_files=lambda stage: input_labels.extend(finish_geometry_scene(scan, result, stage)))
    ctx.progress("write", 1.0, "done")
    files = {"points": out / "points.npz", "instances": out / "instances.json", "ply": out / "scene.ply"}
    if (out / "preview.png").is_file():
        files["preview"] = out / "preview.png"
    if input_labels:
        files["input_labels"] = out / "input_instances.ply"
    data = {"instances": len(result.instances), "points": int(len(result.points)), "scene_dir": str(out)}
    if live is not None:
        data["live_dir"] = str(live.directory)
    return files, data


@job("query")
def query_job(params: dict, ctx) -> tuple[dict, dict]:
    """Rank a segmented scene's instances for a free-text request (ot3d_engine.query): a text
    shortlist, verified by the image-text model when it and the scan are available."""
    from types import SimpleNamespace

    from .query.command import rank_scene

    text = str(params.get("text", "")).strip()
    if not text:
        raise ConfigError("the query is empty")
    scene_dir = Path(params.get("scene_dir") or "").expanduser()
    if not (scene_dir / "instances.json").is_file():
        raise ScanError(scene_dir / "instances.json", "scene to query not found")
    top = max(int(params.get("top_k", 5)), 1)
    args = SimpleNamespace(scene=str(scene_dir), text=text, top=top,
                           shortlist=max(int(params.get("shortlist", 10)), top), views=int(params.get("views", 3)),
                           vlm=params.get("vlm"), small=bool(params.get("small", False)),
                           text_model=params.get("text_model"), models=params.get("models"),
                           scan=params.get("scan"), no_verify=bool(params.get("no_verify", False)))
    warnings = []

    def warn(message: str) -> None:
        warnings.append(message)
        ctx.log(message, "warning")

    ctx.progress("query", 0.0, "ranking instances")
    hits, verified = rank_scene(args, warn=warn)
    ctx.check_cancel()
    fallback = "ranked by label similarity only" + (f" ({warnings[0].splitlines()[0]})" if warnings else "")
    matches = [{"id": int(h.id), "label": h.label, "score": round(float(h.score), 4), "match": h.verified,
                "reason": h.reason or ("" if verified else fallback), "views": list(h.views)}
               for h in hits[:top]]
    ctx.progress("query", 1.0, f"{len(matches)} matches")
    return {}, {"matches": matches, "verified": bool(verified), "query": text}
