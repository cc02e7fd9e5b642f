"""Defaults that follow the scan's measured scale.

A room seen from 2.6 m and a tabletop seen from 0.8 m need different voxels, depth limits and
minimum sizes; fixed room values halve the AP of a tabletop scan. So the options left unset
(None in the config) are derived from what a few of the scan's first frames measure:

- pixel footprint p = median valid depth / focal length (metres a pixel covers there);
- sample spacing = p * lift.pixel_stride (lifting back-projects every stride-th pixel), but
  never finer than what a point cloud resolves when the views are rendered from one: the
  voxel not under its point spacing, and its surfaces' thickness taken as a sample spacing.
  A cloud fused from many frames is a slab (the 7-Scenes kitchen: 1.5 cm thick), and each
  rendered view shows the slab's near side, so two views of one surface disagree by about
  that much; voxels sized from 2 mm pixels of 0.9 m close-ups left the views' masks in
  disjoint voxels (4.8x the instances of the capture's RGB-D run at 1 cm fusion, 4.4x at 5 mm);
- voxel = VOXEL_SAMPLES sample spacings: a surface tilted by up to 70 degrees from the view
  direction still drops a sample into every voxel (1 / cos 70 deg ~ 3), so voxel sets have
  no holes; rounded to half-decade steps (1 or 3 x 10^n m), so scans of one kind share one
  grid (instance AP moves by noise with a few per cent of voxel size: on the synthetic rooms
  up to 0.28 AP50 per room), then clamped to VOXEL_LIMITS and the scene extent / MIN_VOXELS_ACROSS;
- far depth limit: where the sample spacing grows past the scale's voxel (z = voxel * f /
  stride, with the rounded voxel before clamping: the clamps are resource limits, and a
  voxel set by hand must not cut the scene), surfaces break into fragments, so farther
  depth is dropped (within the reader's range);
- minimum instance / mask size: a physical area, MIN_*_VOXELS voxels of the size the scan's
  scale calls for (at the rule's voxel that is ~1000 / ~500 px of image at the median depth),
  so a voxel size set by hand changes the count, not the area;
- geometric segmenter: it processes a grid about SEGMENT_WIDTH pixels wide, and cuts at a
  relative depth step that a plane tilted past JUMP_ANGLE degrees makes between adjacent
  processed pixels ((step / f) * tan(angle); 0.04 for a 640x480 Kinect); for views rendered
  from a thick cloud at least JUMP_NOISE surface thicknesses at the median depth, since the
  slab's near side is rough by about that much (the 2 cm kitchen cloud: 0.052).

Values set by the user (CLI, TOML, backend options) are kept. `fit_to_scan` returns what
was measured and, per option, the value, its source ("auto", "user") and why; the pipeline
stores that as `meta["scale"]` in instances.json.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, replace

import numpy as np

from .config import PipelineConfig
from .errors import ScanError
from .io.frames import clean_depth
from .types import Frame, Scan

MEASURE_FRAMES = 5  # frames measured, spread over the first MEASURE_WITHIN
MEASURE_WITHIN = 30
VOXEL_SAMPLES = 1 / math.cos(math.radians(70))  # ~2.9 sample spacings per voxel edge
VOXEL_LIMITS = (0.005, 0.05)  # metres
MIN_VOXELS_ACROSS = 100  # the scene's extent spans at least this many voxels
READER_DEPTH_MAX = 6.0  # metres: what readers keep when the far limit is auto
MIN_INSTANCE_VOXELS = 30  # smallest instance, in voxels of the scale's own size
MIN_MASK_VOXELS = 15  # smallest lifted mask
SEGMENT_WIDTH = 320  # geometric segmenter: processing grid width in pixels
JUMP_ANGLE = 84.56  # degrees: tilt of a plane whose step between processed pixels cuts (0.04 at f = 525)
JUMP_NOISE = 2.0  # rendered clouds: a depth step under this many surface thicknesses is noise, not an edge
ROOM_MEDIAN_DEPTH = 2.6  # metres, assumed when no measured frame has valid depth


@dataclass
class ScanScale:
    """What the first frames measure."""

    frames: list[int]  # scan positions measured
    median_depth: float  # metres, over valid depth
    focal: float  # pixels, mean of fx and fy
    width: int  # depth image size
    height: int
    extent: float  # metres: diagonal of the 2..98 percentile box of the back-projected points
    valid: bool = True  # False: no valid depth, room fallback used
    input_spacing: float = 0.0  # metres: finest sample spacing a rendered point cloud supports (0: frames, meshes)
    surface_noise: float = 0.0  # metres: thickness of a rendered point cloud's surfaces (0: frames, meshes)

    @property
    def footprint(self) -> float:
        """Metres one pixel covers at the median depth."""
        return self.median_depth / self.focal

    def to_dict(self) -> dict:
        return {"frames": self.frames, "median_depth_m": round(self.median_depth, 4),
                "focal_px": round(self.focal, 2), "pixel_footprint_m": round(self.footprint, 6),
                "image": [self.width, self.height],
                "extent_m": round(self.extent, 3) if math.isfinite(self.extent) else None, "valid_depth": self.valid,
                **({"input_spacing_m": round(self.input_spacing, 5)} if self.input_spacing else {}),
                **({"surface_noise_m": round(self.surface_noise, 5)} if self.surface_noise else {})}


def half_decade(x: float) -> float:
    """x rounded (in log scale) to the nearest 1 or 3 x 10^n."""
    e = math.floor(math.log10(x))
    candidates = [m * 10.0 ** k for k in (e - 1, e, e + 1) for m in (1, 3)]
    return min(candidates, key=lambda c: abs(math.log(c / x)))


def measure_scale(scan: Scan, frames: int = MEASURE_FRAMES, within: int = MEASURE_WITHIN) -> ScanScale:
    n = min(len(scan), within)
    if n == 0:
        raise ScanError(scan.path, "the scan has no frames")
    picks = sorted({int(round(x)) for x in np.linspace(0, n - 1, min(n, frames))})
    depths, points, f = [], [], None
    for i in picks:
        f = scan.frame(i)
        d = f.depth
        ok = np.isfinite(d) & (d > 0)
        rows, cols = np.nonzero(ok)
        z = d[rows, cols]
        depths.append(z)
        step = max(1, len(z) // 20000)  # a subsample is enough for percentiles
        rows, cols, z = rows[::step], cols[::step], z[::step]
        K = f.intrinsics
        cam = np.stack([(cols - K[0, 2]) / K[0, 0] * z, (rows - K[1, 2]) / K[1, 1] * z, z], 1)
        points.append(cam @ f.pose[:3, :3].T + f.pose[:3, 3])
    z = np.concatenate(depths)
    focal = float((f.intrinsics[0, 0] + f.intrinsics[1, 1]) / 2)
    rendered = {"input_spacing": input_spacing(scan),
                "surface_noise": float((scan.meta.get("virtual") or {}).get("surface_noise") or 0.0)}
    if len(z) == 0:
        return ScanScale(picks, ROOM_MEDIAN_DEPTH, focal, f.width, f.height,
                         extent=float("inf"), valid=False, **rendered)
    pts = np.concatenate(points)
    lo, hi = np.percentile(pts, [2, 98], axis=0)
    return ScanScale(picks, float(np.median(z)), focal, f.width, f.height, float(np.linalg.norm(hi - lo)),
                     **rendered)


def input_spacing(scan: Scan) -> float:
    """The finest sample spacing a point cloud whose views are rendered supports
    (render.virtual_scan records what it measured): its surfaces' thickness, and its point
    spacing / VOXEL_SAMPLES (no voxel finer than the points); 0 for camera frames and
    ray-cast meshes, which resolve what their pixels do."""
    virtual = scan.meta.get("virtual") or {}
    spacing = float(virtual.get("splat_spacing") or 0.0)
    return max(spacing / VOXEL_SAMPLES, float(virtual.get("surface_noise") or 0.0))


def _choice(value, source: str, why: str) -> dict:
    return {"value": value, "source": source, "why": why}


def choose(config: PipelineConfig, scale: ScanScale | None) -> tuple[PipelineConfig, dict]:
    """A copy of `config` with every unset (None) scale-dependent option filled from `scale`,
    and what was chosen. `scale` may be None only when nothing is unset."""
    cfg = copy.deepcopy(config)
    lift, scan_opt, refine = cfg.lift, cfg.scan, cfg.refine
    out: dict = {}
    stride = max(1, int(lift.pixel_stride))
    if scale is not None:
        out["measured"] = scale.to_dict()
        p = scale.footprint
        where = (f"pixel footprint {1000 * p:.2f} mm at median depth {scale.median_depth:.2f} m "
                 f"(f = {scale.focal:.0f} px)") if scale.valid else "no valid depth measured: room fallback"
        sample = max(p * stride, scale.input_spacing)
        raw = VOXEL_SAMPLES * sample
        spacing_why = f"x pixel stride {stride}"
        if sample > p * stride:
            spacing_why = (f"x pixel stride {stride} = {1000 * p * stride:.2f} mm, but the rendered cloud resolves no "
                           f"finer than {1000 * sample:.1f} mm (its surface thickness, or point spacing / "
                           f"{VOXEL_SAMPLES:.2f})")
        lo, hi = VOXEL_LIMITS
        cap = max(lo, min(hi, scale.extent / MIN_VOXELS_ACROSS))
        rounded = half_decade(raw)
        scale_voxel = round(float(np.clip(rounded, lo, cap)), 6)
    if lift.voxel_size is None:
        lift.voxel_size = scale_voxel
        out["lift.voxel_size"] = _choice(scale_voxel, "auto",
                                         f"{where} {spacing_why} x {VOXEL_SAMPLES:.2f} (one sample per "
                                         f"voxel up to 70 deg tilt) = {1000 * raw:.1f} mm, rounded to half-decade "
                                         f"steps (1 or 3 x 10^n), within {lo}..{cap:.3g} m")
    else:
        out["lift.voxel_size"] = _choice(lift.voxel_size, "user", "set in the config or on the command line")
    voxel = lift.voxel_size

    if scan_opt.depth_max is None:
        f = scale.focal
        reach = rounded * f / stride
        value = round(min(READER_DEPTH_MAX, reach), 3)
        scan_opt.depth_max = value
        out["scan.depth_max"] = _choice(value, "auto", f"sample spacing (depth x {stride} / {f:.0f} px) reaches the "
                                                       f"scale's {1000 * rounded:.1f} mm voxel at {reach:.2f} m; "
                                                       f"readers keep up to {READER_DEPTH_MAX} m")
    else:
        out["scan.depth_max"] = _choice(scan_opt.depth_max, "user", "set in the config or on the command line")
    out["scan.depth_min"] = _choice(scan_opt.depth_min, "config",
                                    "not scale-dependent: nearer samples are only finer")

    for section, name, count, what in ((refine, "refine.min_points", MIN_INSTANCE_VOXELS, "instance"),
                                       (lift, "lift.min_points", MIN_MASK_VOXELS, "mask")):
        if section.min_points is None:
            area = count * scale_voxel ** 2
            value = max(1, int(round(area / voxel ** 2)))
            section.min_points = value
            out[name] = _choice(value, "auto", f"smallest {what}: {count} voxels of the scale's {1000 * scale_voxel:.1f} mm "
                                               f"= {area * 1e4:.1f} cm^2 (~{area / p ** 2:.0f} px at the median depth) "
                                               f"= {value} voxels of {1000 * voxel:.1f} mm")
        else:
            out[name] = _choice(section.min_points, "user", "set in the config or on the command line")

    if cfg.segmenter is not None and cfg.segmenter.name == "geometric":
        opts = dict(cfg.segmenter.options)
        if "scale" not in opts:
            step = max(1, int(round(scale.width / SEGMENT_WIDTH)))
            opts["scale"] = 1.0 / step
            out["segmenter.scale"] = _choice(opts["scale"], "auto", f"process a {scale.width // step}-pixel-wide grid "
                                                                    f"(every {step} of {scale.width} pixels)")
        else:
            out["segmenter.scale"] = _choice(opts["scale"], "user", "set in the segmenter options")
        if "depth_jump" not in opts:
            step = max(1, int(round(1 / opts["scale"])))
            value = round(step / scale.focal * math.tan(math.radians(JUMP_ANGLE)), 4)
            why = (f"relative depth step between pixels {step} apart (f = {scale.focal:.0f} px) on a plane tilted "
                   f"{JUMP_ANGLE} deg")
            noise_jump = round(JUMP_NOISE * scale.surface_noise / scale.median_depth, 4)
            if noise_jump > value:
                value = noise_jump
                why = (f"{JUMP_NOISE:g} x the rendered cloud's surface thickness {1000 * scale.surface_noise:.1f} mm "
                       f"at the median depth {scale.median_depth:.2f} m (a smaller step is the slab's own noise; "
                       f"the tilt rule gives less)")
            opts["depth_jump"] = value
            out["segmenter.depth_jump"] = _choice(value, "auto", why)
        else:
            out["segmenter.depth_jump"] = _choice(opts["depth_jump"], "user", "set in the segmenter options")
        cfg.segmenter = replace(cfg.segmenter, options=opts)
    return cfg, out


def needs_measuring(config: PipelineConfig) -> bool:
    geometric = config.segmenter is not None and config.segmenter.name == "geometric"
    return (config.lift.voxel_size is None or config.scan.depth_max is None or config.lift.min_points is None
            or config.refine.min_points is None
            or (geometric and not {"scale", "depth_jump"} <= set(config.segmenter.options)))


def fit_to_scan(scan: Scan, config: PipelineConfig) -> tuple[Scan, PipelineConfig, dict]:
    """The scan (its frames clipped to the chosen depth range), the config with every unset
    scale-dependent option filled in, and the record of what was chosen and why."""
    scale = measure_scale(scan) if needs_measuring(config) else None
    cfg, record = choose(config, scale)
    lo, hi = cfg.scan.depth_min, cfg.scan.depth_max
    base = scan._loader

    def load(i: int) -> Frame:
        frame = base(i)
        frame.depth = clean_depth(frame.depth, lo, hi)
        return frame

    return replace(scan, _loader=load), cfg, record


def reader_depth_range(options) -> tuple[float, float]:
    """(depth_min, depth_max) for a reader: the far limit is the reader's own when it is auto."""
    return options.depth_min, READER_DEPTH_MAX if options.depth_max is None else options.depth_max
