"""Pipeline configuration: dataclasses with defaults, loadable from TOML/JSON.

Every stage reads its own section; backends are chosen by name (see registry).
Options that default to None ("auto") follow the scan's measured scale (ot3d_engine/scale.py):
a value set here, in a TOML/JSON file or on the command line is kept as it is.
"""

from __future__ import annotations

import dataclasses
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ConfigError


@dataclass
class BackendConfig:
    name: str
    options: dict = field(default_factory=dict)


@dataclass
class ScanOptions:
    stride: int = 1  # use every n-th frame
    max_frames: int | None = None
    depth_min: float = 0.1  # metres
    depth_max: float | None = None  # None = auto: where samples get sparser than the voxel (<= 6 m)
    prefetch: int = 4  # frames read + segmented ahead on a worker thread (0 = sequential; same result)


@dataclass
class LiftConfig:
    # metres: resolution of tracker voxel sets and output cloud; None = auto, ~3 sample
    # spacings at the median depth (3 cm for a room seen from 2.6 m, ~1 cm for a tabletop)
    voxel_size: float | None = None
    pixel_stride: int = 2  # subsample mask pixels before back-projection (speed)
    map_stride: int = 2  # pixel subsampling for the fused cloud (a multiple of pixel_stride)
    edge_erosion: int = 2  # pixels of mask boundary dropped (depth bleed)
    depth_edge_threshold: float = 0.05  # relative depth jump that marks a depth edge
    outlier_filter: str = "components"  # "components": keep each mask's main connected pieces | "none"
    min_points: int | None = None  # masks with fewer lifted voxels are dropped (None = auto, 15 in a room)


@dataclass
class TrackConfig:
    method: str = "visual_spatial"  # tracker backend: "visual_spatial" | "greedy_iou" (baseline)
    feature_weight: float = 0.3  # weight of visual similarity in the fused score
    spatial_weight: float = 0.7  # weight of 3D overlap
    match_threshold: float = 0.35  # minimum fused score to match a mask to a track
    min_overlap: float = 0.15  # spatial gate: below this no match whatever the features
    merge_every: int = 10  # frames between track-merging passes
    merge_overlap: float = 0.5  # containment needed to merge two tracks
    merge_feature: float = 0.6  # calibrated feature similarity needed to merge (with overlap)
    merge_overlap_strict: float = 0.8  # containment that merges whatever the features
    absorb_overlap: float = 0.6  # an unmatched mask this much inside a track joins it
    min_visible: int = 20  # coarse voxels of a track that must be visible to use visible-part overlap
    visible_min_fraction: float = 0.25  # ... and at least this share of the mask's size
    best_views: int = 5  # views kept per track (by visible pixel count)
    # zero point of feature similarity: this percentile of the cosines between different masks
    # of one frame (None = raw cosines). Makes thresholds hold for any feature backend.
    feature_null_percentile: float | None = 75.0


@dataclass
class RefineConfig:
    min_view_ratio: float = 0.2  # drop voxels seen in fewer than this share of a track's views
    nms_overlap: float = 0.6  # containment above which the smaller duplicate is merged
    min_points: int | None = None  # instances with fewer output voxels are dropped (None = auto, 30 in a room)
    min_observations: int = 1
    min_track_ratio: float = 0.34  # observations / frames it was visible in: below = fragment
    part_merge_feature: float | None = 0.8  # join adjacent instances this alike, calibrated (None = off)
    part_min_contact: int = 8  # voxels along the joint
    part_contact_reach: int = 2  # parts this many voxels apart still touch (masks thin out along a crease)
    support_scale: float = 2.0  # support = 1 - exp(-observations / (this x the scan's median track observations))
    visibility_stride: int = 4  # depth subsampling kept per frame for the visibility test
    superpoints: bool = False  # snap instances to superpoints of the scan's mesh (needs a mesh)
    superpoint_k: float = 0.01  # Felzenszwalb-Huttenlocher threshold (ScanNet segmentator's kThresh)
    superpoint_min_verts: int = 20  # smallest superpoint (segMinVerts)
    superpoint_coverage: float = 0.4  # share of a superpoint instances must cover to claim it


@dataclass
class PipelineConfig:
    segmenter: BackendConfig = field(default_factory=lambda: BackendConfig("geometric"))
    features: BackendConfig = field(default_factory=lambda: BackendConfig("color"))
    classifier: BackendConfig | None = None
    scan: ScanOptions = field(default_factory=ScanOptions)
    lift: LiftConfig = field(default_factory=LiftConfig)
    track: TrackConfig = field(default_factory=TrackConfig)
    refine: RefineConfig = field(default_factory=RefineConfig)
    vocabulary: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "PipelineConfig":
        cfg = cls()
        for key, value in data.items():
            if not hasattr(cfg, key):
                raise ConfigError(f"unknown config section {key!r}")
            current = getattr(cfg, key)
            if key in ("segmenter", "features", "classifier"):
                if value is None:
                    setattr(cfg, key, None)
                elif isinstance(value, str):
                    setattr(cfg, key, BackendConfig(value))
                elif isinstance(value, dict) and isinstance(value.get("name"), str):
                    setattr(cfg, key, BackendConfig(value["name"], value.get("options", {})))
                else:
                    raise ConfigError(f"{key}: must be a backend name or a table with a name, got {value!r}")
            elif dataclasses.is_dataclass(current):
                setattr(cfg, key, _update(current, value, key))
            else:
                setattr(cfg, key, value)
        return cfg

    @classmethod
    def load(cls, path: str | Path) -> "PipelineConfig":
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"{path}: config file not found")
        try:
            text = path.read_text(encoding="utf-8")
            data = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
        except (ValueError, OSError) as exc:  # TOML/JSON syntax, bad UTF-8, unreadable
            raise ConfigError(f"{path}: cannot parse config: {exc}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: a config must be a table/object, got {type(data).__name__}")
        try:
            cfg = cls.from_dict(data)
        except ConfigError as exc:
            raise ConfigError(f"{path}: {exc}") from None
        from .config_checks import check_config

        check_config(cfg, where=str(path))
        return cfg


def _update(obj, values: dict, section: str):
    if not isinstance(values, dict):
        raise ConfigError(f"config section {section!r} must be a table")
    names = {f.name for f in dataclasses.fields(obj)}
    unknown = set(values) - names
    if unknown:
        raise ConfigError(f"unknown option(s) in [{section}]: {', '.join(sorted(unknown))}")
    return dataclasses.replace(obj, **values)
