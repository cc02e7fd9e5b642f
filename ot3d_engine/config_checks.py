"""Allowed values of every config option and numeric CLI option, in one table.

A value is checked before any work starts, and a bad one is one line naming the option,
the value and what is allowed:  `--voxel-size: -0.03 is out of range (must be > 0)`,
`cfg.toml: lift.voxel_size: 0 is out of range (must be > 0)`. None is accepted where a
value may be "auto" (derived from the scan's scale) or "off".

Adding a config field: add its row to RANGES (tests/test_config_checks.py fails for a
field without one). CLI options use the same rows through `argument_type(key)`.
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import math
from dataclasses import dataclass

from .errors import ConfigError


@dataclass(frozen=True)
class Allowed:
    kind: type  # int, float, bool, str, list
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False  # True: value > lo, else value >= lo
    hi_open: bool = False
    none: str = ""  # what None means where it is allowed ("auto", "all", "off"); "" = not allowed
    choices: tuple = ()

    def describe(self) -> str:
        if self.choices:
            text = "one of " + ", ".join(repr(c) for c in self.choices)
        elif self.kind is bool:
            text = "true or false"
        elif self.lo is not None and self.hi is not None:
            text = f"{'(' if self.lo_open else '['}{self.lo:g}, {self.hi:g}{')' if self.hi_open else ']'}"
        elif self.lo is not None:
            text = f"{'>' if self.lo_open else '>='} {self.lo:g}"
        elif self.hi is not None:
            text = f"{'<' if self.hi_open else '<='} {self.hi:g}"
        else:
            text = {int: "an integer", float: "a number", str: "a string", list: "a list of strings"}[self.kind]
        return text + (f" or none ({self.none})" if self.none else "")

    def problem(self, value) -> str | None:
        """Why `value` is not allowed, or None."""
        if value is None:
            return None if self.none else f"a value is required (must be {self.describe()})"
        if self.kind is bool:
            return None if isinstance(value, bool) else f"{value!r} has the wrong type (must be true or false)"
        if self.kind is str:
            if not isinstance(value, str):
                return f"{value!r} has the wrong type (must be a string)"
            if self.choices and value not in self.choices:
                return f"{value!r} is not allowed (must be {self.describe()})"
            return None
        if self.kind is list:
            ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
            return None if ok else f"{value!r} has the wrong type (must be a list of strings)"
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"{value!r} has the wrong type (must be {'an integer' if self.kind is int else 'a number'})"
        if self.kind is int and not isinstance(value, int):
            return f"{value!r} has the wrong type (must be an integer)"
        if not math.isfinite(value):
            return f"{value} is not a finite number"
        low_bad = self.lo is not None and (value <= self.lo if self.lo_open else value < self.lo)
        high_bad = self.hi is not None and (value >= self.hi if self.hi_open else value > self.hi)
        if low_bad or high_bad:
            return f"{value:g} is out of range (must be {self.describe()})"
        return None


def _count(lo: int = 1, none: str = "") -> Allowed:
    return Allowed(int, lo=lo, none=none)


def _positive(none: str = "") -> Allowed:
    return Allowed(float, lo=0, lo_open=True, none=none)


def _share() -> Allowed:
    return Allowed(float, lo=0, hi=1)


_SIMILARITY = Allowed(float, lo=-1, hi=1)

RANGES: dict[str, Allowed] = {
    # [scan]
    "scan.stride": _count(1),
    "scan.max_frames": _count(1, none="all"),
    "scan.depth_min": Allowed(float, lo=0),
    "scan.depth_max": _positive(none="auto"),
    "scan.prefetch": _count(0),
    # [lift]
    "lift.voxel_size": _positive(none="auto"),
    "lift.pixel_stride": _count(1),
    "lift.map_stride": _count(1),
    "lift.edge_erosion": _count(0),
    "lift.depth_edge_threshold": _positive(),
    "lift.outlier_filter": Allowed(str, choices=("components", "none")),
    "lift.min_points": _count(0, none="auto"),
    # [track]
    "track.method": Allowed(str),
    "track.feature_weight": _share(),
    "track.spatial_weight": _share(),
    "track.match_threshold": _share(),
    "track.min_overlap": _share(),
    "track.merge_every": _count(1),
    "track.merge_overlap": _share(),
    "track.merge_feature": _SIMILARITY,
    "track.merge_overlap_strict": _share(),
    "track.absorb_overlap": _share(),
    "track.min_visible": _count(0),
    "track.visible_min_fraction": _share(),
    "track.best_views": _count(1),
    "track.feature_null_percentile": Allowed(float, lo=0, hi=100, none="raw cosines"),
    # [refine]
    "refine.min_view_ratio": _share(),
    "refine.nms_overlap": _share(),
    "refine.min_points": _count(0, none="auto"),
    "refine.min_observations": _count(0),
    "refine.min_track_ratio": _share(),
    "refine.part_merge_feature": Allowed(float, lo=-1, hi=1, none="off"),
    "refine.part_min_contact": _count(0),
    "refine.part_contact_reach": _count(1),
    "refine.support_scale": _positive(),
    "refine.visibility_stride": _count(1),
    "refine.superpoints": Allowed(bool),
    "refine.superpoint_k": _positive(),
    "refine.superpoint_min_verts": _count(1),
    "refine.superpoint_coverage": _share(),
    # top level
    "vocabulary": Allowed(list),
    # command-line only options
    "eval.radius": _positive(),
    "eval.min_region_size": _count(0),
    "synth.frames": _count(1),
    "synth.width": _count(8),
    "synth.height": _count(8),
    "synth.depth_noise": Allowed(float, lo=0),
    "batch.workers": _count(1),
    "live.every": _count(1),
    "live.seconds": _positive(),
    "batch.gpus": Allowed(float, lo=0),
    "batch.cpus": Allowed(float, lo=0, lo_open=True),
}
BACKEND_ROLES = ("segmenter", "features", "classifier")


def check_value(key: str, value, name: str | None = None) -> None:
    problem = RANGES[key].problem(value)
    if problem is not None:
        raise ConfigError(f"{name or key}: {problem}")


def argument_type(key: str):
    """An argparse `type=` that parses and range-checks with RANGES[key] (on a command
    line "none" cannot be typed: leaving the option out is what means auto)."""
    allowed = dataclasses.replace(RANGES[key], none="")

    def parse(text: str):
        try:
            value = allowed.kind(text) if allowed.kind is not int else int(text, 10)
        except ValueError:
            kind = "an integer" if allowed.kind is int else "a number"
            raise argparse.ArgumentTypeError(f"{text!r} is not {kind} (must be {allowed.describe()})") from None
        problem = allowed.problem(value)
        if problem is not None:
            raise argparse.ArgumentTypeError(problem)
        return value

    parse.__name__ = allowed.kind.__name__  # argparse's "invalid <name> value" wording
    return parse


def check_config(cfg, where: str = "") -> None:
    """Every field of a PipelineConfig against RANGES, plus backend names and options.
    `where` (e.g. the config file) prefixes the message."""
    prefix = f"{where}: " if where else ""
    for section in ("scan", "lift", "track", "refine"):
        obj = getattr(cfg, section)
        for f in dataclasses.fields(obj):
            key = f"{section}.{f.name}"
            value = getattr(obj, f.name)
            allowed = RANGES.get(key)
            if allowed is None:  # a field without a row: at least the type of its default
                allowed = _fallback(f)
                if allowed is None:
                    continue
            problem = allowed.problem(value)
            if problem is not None:
                raise ConfigError(f"{prefix}{key}: {problem}")
    problem = RANGES["vocabulary"].problem(cfg.vocabulary)
    if problem is not None:
        raise ConfigError(f"{prefix}vocabulary: {problem}")
    if cfg.scan.depth_max is not None and cfg.scan.depth_max <= cfg.scan.depth_min:
        raise ConfigError(f"{prefix}scan.depth_max: {cfg.scan.depth_max:g} must be greater than "
                          f"scan.depth_min ({cfg.scan.depth_min:g})")
    for role in BACKEND_ROLES:
        backend = getattr(cfg, role)
        if backend is not None:
            check_backend(role, backend.name, backend.options, prefix)
    check_backend("tracker", cfg.track.method, {}, prefix)


def check_backend(role: str, name, options, prefix: str = "") -> None:
    """The backend exists and takes every option given (a typo is an error, not a TypeError later)."""
    from .registry import factory

    if not isinstance(name, str):
        raise ConfigError(f"{prefix}{role}: backend name {name!r} must be a string")
    if not isinstance(options, dict):
        raise ConfigError(f"{prefix}{role}.options: must be a table, got {options!r}")
    try:
        fn = factory(role, name)
    except ConfigError as exc:
        raise ConfigError(f"{prefix}{exc}") from None
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    accepted = {n for n, p in params.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    accepted.discard("self")
    unknown = sorted(set(options) - accepted)
    if unknown:
        raise ConfigError(f"{prefix}{role} {name!r}: unknown option(s) {', '.join(unknown)}; "
                          f"it takes: {', '.join(sorted(accepted)) or 'none'}")


def _fallback(f: dataclasses.Field) -> Allowed | None:
    default = f.default if f.default is not dataclasses.MISSING else None
    if default is None:
        return None
    if isinstance(default, bool):
        return Allowed(bool)
    if isinstance(default, int):
        return Allowed(int)
    if isinstance(default, float):
        return Allowed(float)
    if isinstance(default, str):
        return Allowed(str)
    return None
