"""A mesh or point cloud as an ordinary Scan: virtual RGB-D views rendered on demand.

`geometry_scan` plans the camera path once (orbit for objects, greedy coverage for rooms),
then serves `Scan.frame(i)` by rendering view i, so the pipeline runs unchanged. The
Geometry travels in `scan.meta["geometry"]` so labels can be taken back to the input
(render.label_transfer). The add-on can build a Geometry from a Blender object's arrays and
call `geometry_scan` directly, or write a PLY and run `ot3d segment FILE`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ConfigError, ScanError
from ..io.frames import clean_depth
from ..io.geometry_files import Geometry
from ..types import Frame, Scan
from . import camera_paths as cp
from .splat import SplatRenderer, point_spacing

PLAN_SCALE = 0.125  # planning renders at 1/8 of the view resolution
PLAN_SAMPLES = 8000  # surface samples for coverage
PLAN_CLOUD_POINTS = 150_000  # cloud subsample for the planning renders
UP_AXES = {"x": (1, 0, 0), "y": (0, 1, 0), "z": (0, 0, 1), "-x": (-1, 0, 0), "-y": (0, -1, 0), "-z": (0, 0, -1)}


@dataclass
class ViewDefaults:
    views: int
    width: int
    height: int
    fov_deg: float


def defaults_for(kind: str, points: np.ndarray, up: np.ndarray) -> ViewDefaults:
    """Rooms: views grow with floor area (30 at a 4 x 5 m room, as many as a short hand-held
    scan), Kinect-like 62 degree lens. Objects: 24 views on three rings, a narrower lens."""
    if kind == "room":
        _, a, b = cp.up_basis(up)
        area = np.ptp(points @ a) * np.ptp(points @ b)
        return ViewDefaults(int(np.clip(round(1.5 * area), 30, 150)), 640, 480, 62.0)
    return ViewDefaults(24, 640, 480, 50.0)


def geometry_scan(geo: Geometry, *, depth_min: float = 0.1, depth_max: float = 6.0, views: int | None = None,
                  resolution: tuple[int, int] | None = None, fov: float | None = None,
                  up: str | np.ndarray | None = None) -> Scan:
    path = geo.path
    _check_options(path, views, resolution, fov)
    up_vec = resolve_up(geo, up)
    kind = cp.scene_kind(geo.points, up_vec)
    d = defaults_for(kind, geo.points, up_vec)
    width, height = resolution or (d.width, d.height)
    intr = cp.Intrinsics(int(width), int(height), float(fov or d.fov_deg))
    count = int(views or d.views)
    renderer = _mesh_renderer()(geo, intr) if geo.is_mesh else SplatRenderer(geo, intr)
    plan = plan_views(geo, kind, up_vec, intr, count, depth_max, renderer)
    K = intr.K
    cache: dict[int, Frame] = {}

    def load(i: int) -> Frame:
        if i not in cache:
            color, depth = renderer.render(plan.poses[i])
            cache.clear()  # one frame kept: the pipeline reads each view once, in order
            cache[i] = Frame(index=i, color=color, depth=clean_depth(depth, depth_min, depth_max),
                             intrinsics=K.copy(), pose=plan.poses[i].copy(), name=f"view{i:04d}")
        f = cache[i]
        return Frame(index=f.index, color=f.color.copy(), depth=f.depth.copy(), intrinsics=f.intrinsics.copy(),
                     pose=f.pose.copy(), name=f.name)

    virtual = {"input": str(path) if path else None, "geometry": geo.kind, "points": int(len(geo.points)),
               "faces": int(len(geo.faces)) if geo.is_mesh else 0, "path": plan.kind, "views": len(plan.poses),
               "resolution": [intr.width, intr.height], "fov_deg": intr.fov_deg,
               "up": [round(float(x), 4) for x in up_vec],
               "coverage_1": round(plan.coverage_1, 4), "coverage_2": round(plan.coverage_2, 4),
               "notes": list(geo.notes)}
    if not geo.is_mesh:
        virtual["splat_spacing"] = round(float(renderer.spacing), 5)
        virtual["surface_noise"] = round(float(renderer.noise), 5)
    mesh_path = path if geo.is_mesh and path is not None else None  # superpoints refine on the input mesh
    return Scan(path=path or Path("<geometry>"), layout="mesh" if geo.is_mesh else "pointcloud",
                frame_count=len(plan.poses), _loader=load, mesh_path=mesh_path,
                meta={"virtual": virtual, "geometry": geo, "frame_numbers": list(range(len(plan.poses))),
                      "depth_scale": 1.0, "intrinsics_source": "virtual camera"})


def _check_options(path, views, resolution, fov) -> None:
    if views is not None and not 1 <= int(views) <= 2000:
        raise ConfigError(f"--views must be 1..2000 (got {views})")
    if resolution is not None and (len(resolution) != 2 or min(resolution) < 16 or max(resolution) > 4096):
        raise ConfigError(f"--resolution must be WxH with sides 16..4096 (got {resolution})")
    if fov is not None and not 10 <= float(fov) <= 150:
        raise ConfigError(f"--fov must be 10..150 degrees (got {fov})")


def resolve_up(geo: Geometry, up: str | np.ndarray | None) -> np.ndarray:
    """An explicit axis; else the file's convention for meshes; for clouds the support
    plane (floor, table) when it is not already near the file's up axis."""
    if isinstance(up, str):
        if up not in UP_AXES:
            raise ConfigError(f"--up must be one of {', '.join(UP_AXES)} (got {up!r})")
        return np.asarray(UP_AXES[up], dtype=np.float64)
    if up is not None:
        v = np.asarray(up, dtype=np.float64)
        return v / np.linalg.norm(v)
    default = np.asarray(geo.up, dtype=np.float64)
    if geo.is_mesh:
        return default
    return support_plane_up(geo.points, default)


def support_plane_up(points: np.ndarray, default: np.ndarray) -> np.ndarray:
    """The up axis of a cloud: the normal direction most surface shares. Floors, table tops,
    seats, shelves and ceilings all face it, while walls split over several directions. Its
    sign puts those surfaces low (floors and table tops outnumber ceilings in a scan). The
    file's own axis wins when it is within 25 degrees."""
    import open3d as o3d

    rng = np.random.default_rng(0)
    sub = points[rng.choice(len(points), size=min(len(points), 30_000), replace=False)]
    if len(sub) < 100:
        return default
    pc = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(sub))
    pc.estimate_normals(o3d.geometry.KDTreeSearchParamKNN(16))
    normals = np.asarray(pc.normals)
    candidates = normals[rng.choice(len(normals), size=min(400, len(normals)), replace=False)]
    share = (np.abs(candidates @ normals.T) > np.cos(np.radians(10))).sum(1)
    d = candidates[int(np.argmax(share))]
    members = np.abs(normals @ d) > np.cos(np.radians(10))
    d = normals[members] * np.sign(normals[members] @ d)[:, None]
    d = d.mean(0) / np.linalg.norm(d.mean(0))
    if abs(d @ default) > np.cos(np.radians(25)):
        return default
    h = sub @ d
    return d if np.median(h[members]) <= np.median(h) else -d


def surface_samples(geo: Geometry, count: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if not geo.is_mesh:
        return geo.points[rng.choice(len(geo.points), size=min(count, len(geo.points)), replace=False)]
    v, f = geo.points, geo.faces
    area = 0.5 * np.linalg.norm(np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]]), axis=1)
    tri = rng.choice(len(f), size=count, p=area / area.sum())
    r1, r2 = rng.random(count), rng.random(count)
    s = np.sqrt(r1)
    w = np.stack([1 - s, s * (1 - r2), s * r2], 1)
    return np.einsum("nk,nkc->nc", w, v[f[tri]])


def plan_views(geo: Geometry, kind: str, up: np.ndarray, intr: cp.Intrinsics, count: int, depth_max: float,
               renderer) -> cp.ViewPlan:
    samples = surface_samples(geo, PLAN_SAMPLES)
    small = intr.scaled(PLAN_SCALE)
    if geo.is_mesh:
        probe = _mesh_renderer()(geo, small)
        tolerance = 0.02
    else:
        rng = np.random.default_rng(1)
        n = len(geo.points)
        sub = geo.points[rng.choice(n, size=min(n, PLAN_CLOUD_POINTS), replace=False)]
        probe = SplatRenderer(Geometry(points=sub), small, spacing=point_spacing(sub))
        tolerance = 3 * probe.spacing
    probe_depth = lambda pose: probe.depth(pose)  # noqa: E731
    if kind == "object":
        poses = cp.orbit_poses(geo.points, up, count, intr.fov_deg, intr.width / intr.height)
        seen = cp.seen_matrix(probe_depth, poses, small.K, small.width, small.height, samples, depth_max, tolerance)
    else:
        candidates = cp.room_candidates(geo.points if len(geo.points) <= 200_000 else samples, up)
        _, a, b = cp.up_basis(up)
        close = float(np.clip(0.25 * max(np.ptp(samples @ a), np.ptp(samples @ b)), 0.6, 1.5))
        seen_all = cp.seen_matrix(probe_depth, candidates, small.K, small.width, small.height, samples,
                                  depth_max, tolerance, close=close)
        picked = cp.greedy_pick(seen_all, count)
        if not picked:
            raise ScanError(geo.path, "no viewpoint sees any surface (is the geometry empty or degenerate?)")
        order = cp.tour(candidates[picked])
        poses = candidates[picked][order]
        seen = seen_all[picked][order]
    c1, c2 = cp.coverage(seen)
    return cp.ViewPlan(poses=poses, kind="orbit" if kind == "object" else "room", coverage_1=c1, coverage_2=c2)


def options_from_args(args) -> dict:
    """The CLI's --views/--resolution/--fov/--up, only those given (other layouts refuse them)."""
    opts = {}
    if getattr(args, "views", None) is not None:
        opts["views"] = args.views
    if getattr(args, "resolution", None):
        try:
            w, h = (int(x) for x in args.resolution.lower().split("x"))
        except ValueError:
            raise ConfigError(f"--resolution must look like 640x480 (got {args.resolution!r})") from None
        opts["resolution"] = (w, h)
    if getattr(args, "fov", None) is not None:
        opts["fov"] = args.fov
    if getattr(args, "up", None):
        opts["up"] = args.up
    return opts


def finish_geometry_scene(scan: Scan, result, out_dir: str | Path) -> list[str]:
    """For mesh/point-cloud input: labels back onto the input, view facts into the result's
    meta (instances.json). Pass to write_scene as `extra_files`, so the labels go into the
    scene's staging folder before instances.json is written."""
    geo = scan.meta.get("geometry")
    if geo is None:
        return []
    from .label_transfer import write_input_labels

    written = write_input_labels(Path(out_dir), geo, result, float(result.meta["voxel_size"]))
    result.meta["virtual_views"] = dict(scan.meta["virtual"], label_files=written)
    return written


def summary_line(scan: Scan) -> str | None:
    v = scan.meta.get("virtual")
    if v is None:
        return None
    return (f"{v['geometry']} input: {v['views']} rendered views ({v['path']} path, {v['resolution'][0]}x"
            f"{v['resolution'][1]}, fov {v['fov_deg']:.0f} deg); surface seen by >= 1 view "
            f"{100 * v['coverage_1']:.1f}%, by >= 2 views {100 * v['coverage_2']:.1f}%")


def _mesh_renderer():
    """open3d only when a mesh is rendered: the weights-free tier in Blender's own Python has
    no open3d, and its segment job still passes through finish_geometry_scene."""
    from .mesh_views import MeshRenderer

    return MeshRenderer
