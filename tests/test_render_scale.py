"""Rendered point clouds: the scale fit follows what the cloud resolves (its point spacing
and its surfaces' thickness), not the pixels of the close-up views, so one room fused at
different spacings gets the same voxel (issue 13, the 7-Scenes kitchen at 5 mm / 1 cm / 2 cm)."""

import numpy as np
import pytest

from ot3d_engine.config import BackendConfig, PipelineConfig
from ot3d_engine.io.geometry_files import Geometry
from ot3d_engine.render.splat import surface_noise
from ot3d_engine.render.virtual_scan import geometry_scan
from ot3d_engine.scale import ScanScale, choose, fit_to_scan


def slab(spacing: float, thickness: float, size: float = 4.0, seed: int = 0) -> np.ndarray:
    """A size x size plane in z = 0 sampled on a jittered grid, points spread along z."""
    rng = np.random.default_rng(seed)
    g = np.arange(0, size, spacing)
    x, y = (a.reshape(-1) for a in np.meshgrid(g, g))
    x = x + rng.uniform(0, spacing, len(x))
    y = y + rng.uniform(0, spacing, len(y))
    return np.column_stack([x, y, rng.normal(0, thickness, len(x)) if thickness else np.zeros(len(x))])


def room_cloud(spacing: float, thickness: float, seed: int = 0) -> Geometry:
    """A 4 x 3 x 2.5 m room (floor and four walls) with a 0.6 m box, each surface a slab."""
    rng = np.random.default_rng(seed)
    parts = []

    def rect(origin, u, v, lu, lv):
        n = int(lu / spacing) * int(lv / spacing)
        a, b = rng.uniform(0, lu, n), rng.uniform(0, lv, n)
        normal = np.cross(u, v)
        offset = rng.normal(0, thickness, n) if thickness else np.zeros(n)
        parts.append(np.asarray(origin) + a[:, None] * u + b[:, None] * v + offset[:, None] * normal)

    ex, ey, ez = np.eye(3)
    rect((0, 0, 0), ex, ey, 4.0, 3.0)
    rect((0, 0, 0), ex, ez, 4.0, 2.5)
    rect((0, 3, 0), ex, ez, 4.0, 2.5)
    rect((0, 0, 0), ey, ez, 3.0, 2.5)
    rect((4, 0, 0), ey, ez, 3.0, 2.5)
    for origin, u, v in (((1.5, 1.2, 0.6), ex, ey), ((1.5, 1.2, 0), ex, ez), ((1.5, 1.8, 0), ex, ez),
                         ((1.5, 1.2, 0), ey, ez), ((2.1, 1.2, 0), ey, ez)):
        rect(origin, u, v, 0.6, 0.6)
    p = np.concatenate(parts)
    colors = np.tile(np.array([150, 140, 130], np.uint8), (len(p), 1))
    return Geometry(points=p, colors=colors)


@pytest.mark.parametrize("spacing", [0.01, 0.02])
def test_surface_noise_measures_a_slab_whatever_its_spacing(spacing):
    assert surface_noise(slab(spacing, 0.0), spacing) < 1e-4
    assert surface_noise(slab(spacing, 0.012), spacing) == pytest.approx(0.012, rel=0.2)


def test_a_rendered_cloud_never_gets_voxels_finer_than_it_resolves():
    close_up = dict(frames=[0], median_depth=0.9, focal=532.0, width=640, height=480, extent=4.4)
    cfg = PipelineConfig()
    from_pixels, _ = choose(cfg, ScanScale(**close_up))
    assert from_pixels.lift.voxel_size == pytest.approx(0.01)  # 1.7 mm pixels x stride 2 x 2.9
    thick, record = choose(cfg, ScanScale(**close_up, input_spacing=0.015))
    assert thick.lift.voxel_size == pytest.approx(0.03)
    assert "resolves no finer than 15.0 mm" in record["lift.voxel_size"]["why"]
    assert record["measured"]["input_spacing_m"] == pytest.approx(0.015)
    assert thick.refine.min_points == 30  # the minimum sizes follow the same scale
    fine, _ = choose(cfg, ScanScale(**close_up, input_spacing=0.001))  # finer than the pixels: no effect
    assert fine.lift.voxel_size == pytest.approx(0.01)


def test_a_thick_cloud_raises_the_segmenters_depth_jump_a_thin_one_does_not():
    close_up = dict(frames=[0], median_depth=0.84, focal=532.0, width=640, height=480, extent=4.4)
    cfg = PipelineConfig()
    cfg.segmenter = BackendConfig("geometric")
    frames, _ = choose(cfg, ScanScale(**close_up))
    assert frames.segmenter.options["depth_jump"] == pytest.approx(0.0395, abs=1e-4)  # the tilt rule (f = 532)
    thick, record = choose(cfg, ScanScale(**close_up, input_spacing=0.022, surface_noise=0.022))
    assert thick.segmenter.options["depth_jump"] == pytest.approx(2 * 0.022 / 0.84, abs=1e-4)
    assert "surface thickness 22.0 mm" in record["segmenter.depth_jump"]["why"]
    thin, _ = choose(cfg, ScanScale(**close_up, input_spacing=0.003, surface_noise=0.001))
    assert thin.segmenter.options["depth_jump"] == frames.segmenter.options["depth_jump"]
    cfg.segmenter = BackendConfig("geometric", {"depth_jump": 0.02})
    user, _ = choose(cfg, ScanScale(**close_up, input_spacing=0.022, surface_noise=0.022))
    assert user.segmenter.options["depth_jump"] == 0.02


def _fit(geo: Geometry):
    cfg = PipelineConfig()
    cfg.segmenter = BackendConfig("geometric")
    scan = geometry_scan(geo, views=3, resolution=(1280, 960), up="z")
    _, fitted, record = fit_to_scan(scan, cfg)
    return scan.meta["virtual"], fitted.lift.voxel_size, record


@pytest.mark.slow
def test_one_thick_room_fused_at_two_spacings_gets_one_voxel():
    assert surface_noise(room_cloud(0.02, 0.0).points, 0.02) < 0.002  # a sampled mesh is a sheet
    metas, voxels = [], []
    for spacing in (0.01, 0.02):
        meta, voxel, record = _fit(room_cloud(spacing, 0.015))
        assert meta["surface_noise"] == pytest.approx(0.015, rel=0.25)
        assert "resolves no finer" in record["lift.voxel_size"]["why"]
        metas.append(meta)
        voxels.append(voxel)
    assert metas[1]["splat_spacing"] / metas[0]["splat_spacing"] == pytest.approx(2.0, rel=0.25)
    assert voxels[0] == voxels[1] == pytest.approx(0.03)  # from the thickness; 1280 px views alone: 1 cm
