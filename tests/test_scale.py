"""Defaults that follow the scan's measured scale (ot3d_engine/scale.py)."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ot3d_engine.config import BackendConfig, PipelineConfig
from ot3d_engine.io import load_scan
from ot3d_engine.scale import fit_to_scan, half_decade
from ot3d_engine.synth import generate_scene
from ot3d_engine.types import Frame, Scan

def tabletop_scan(distance: float = 0.8, far: float | None = None, width: int = 640, height: int = 480) -> Scan:
    """One view of a table plane tilted 40 deg, `distance` m ahead at the image centre, with
    two boxes standing 6 cm proud of it; optionally a wall at `far` m over the upper fifth."""
    f = 525.0 * width / 640
    K = np.array([[f, 0, (width - 1) / 2], [0, f, (height - 1) / 2], [0, 0, 1]])
    v, u = np.mgrid[0:height, 0:width].astype(np.float64)
    ray_y = (v - K[1, 2]) / f
    tilt = np.radians(40)
    # the plane n . X = n . (0, 0, distance) met by the ray X = z * (x, ray_y, 1)
    n = np.array([0.0, -np.cos(tilt), -np.sin(tilt)])
    depth = (n[2] * distance) / (n[1] * ray_y + n[2])
    for (u0, u1, v0, v1) in ((0.30, 0.40, 0.45, 0.60), (0.60, 0.72, 0.40, 0.55)):
        box = (u >= u0 * width) & (u < u1 * width) & (v >= v0 * height) & (v < v1 * height)
        depth[box] = depth[box].min() - 0.06
    if far is not None:
        depth[: height // 5] = far
    rng = np.random.default_rng(0)
    depth = (depth + rng.normal(0, 0.001, depth.shape)).astype(np.float32)
    color = np.full((height, width, 3), 128, np.uint8)
    return Scan(path=Path("tabletop"), layout="test", frame_count=1,
                _loader=lambda i: Frame(0, color.copy(), depth.copy(), K.copy(), np.eye(4)))


@pytest.fixture(scope="module")
def room(tmp_path_factory):
    return load_scan(generate_scene(tmp_path_factory.mktemp("room") / "scan", seed=0, frames=3))


def test_half_decade_rounding():
    assert half_decade(0.0084) == pytest.approx(0.01)
    assert half_decade(0.029) == pytest.approx(0.03)
    assert half_decade(0.017) == pytest.approx(0.01) and half_decade(0.018) == pytest.approx(0.03)
    assert half_decade(0.06) == pytest.approx(0.1)


def test_synthetic_room_keeps_room_scale_values(room):
    _, cfg, record = fit_to_scan(room, PipelineConfig())
    assert cfg.lift.voxel_size == pytest.approx(0.03)
    assert (cfg.lift.min_points, cfg.refine.min_points) == (15, 30)
    assert cfg.scan.depth_max == pytest.approx(6.0)
    assert cfg.segmenter.options == {"scale": 0.5, "depth_jump": pytest.approx(0.04, abs=1e-4)}
    assert 2.0 < record["measured"]["median_depth_m"] < 3.5
    assert record["lift.voxel_size"]["source"] == "auto"


def test_tabletop_at_80_cm_gets_centimetre_voxels():
    scan, cfg, record = fit_to_scan(tabletop_scan(0.8, far=4.0), PipelineConfig())
    m = record["measured"]
    assert 0.7 < m["median_depth_m"] < 0.95
    assert m["pixel_footprint_m"] == pytest.approx(m["median_depth_m"] / 525, rel=1e-3)
    assert cfg.lift.voxel_size == pytest.approx(0.01)
    assert "pixel footprint" in record["lift.voxel_size"]["why"]
    # samples 2 px apart stop filling 1 cm voxels beyond 0.01 * 525 / 2 m: the wall at 4 m goes
    assert cfg.scan.depth_max == pytest.approx(0.01 * 525 / 2, rel=1e-3)
    frame = scan.frame(0)
    assert (frame.depth[:96] == 0).all() and (frame.depth[200:] > 0).mean() > 0.99
    # same physical minimum as a room's 30 voxels, counted in this scan's voxels
    assert (cfg.lift.min_points, cfg.refine.min_points) == (15, 30)


def test_a_room_at_quarter_resolution_gets_coarser_voxels_and_a_full_resolution_segmenter():
    # 160 px wide: samples are 4x further apart, so 3 cm voxels would have holes
    _, cfg, record = fit_to_scan(tabletop_scan(2.6, width=160, height=120), PipelineConfig())
    assert cfg.lift.voxel_size == pytest.approx(0.05)  # the clamp: 0.1 by the rule
    assert cfg.segmenter.options["scale"] == 1.0
    assert cfg.segmenter.options["depth_jump"] == pytest.approx(1 / 131.25 * 10.5, rel=1e-2)


def test_user_set_values_are_kept_and_the_area_rule_follows_a_hand_set_voxel():
    cfg = PipelineConfig.from_dict({"lift": {"voxel_size": 0.02}, "scan": {"depth_max": 3.0},
                                    "refine": {"min_points": 50},
                                    "segmenter": {"name": "geometric", "options": {"depth_jump": 0.07}}})
    _, out, record = fit_to_scan(tabletop_scan(0.8), cfg)
    assert out.lift.voxel_size == 0.02 and record["lift.voxel_size"]["source"] == "user"
    assert out.scan.depth_max == 3.0 and record["scan.depth_max"]["source"] == "user"
    assert out.refine.min_points == 50 and record["refine.min_points"]["source"] == "user"
    assert out.segmenter.options["depth_jump"] == 0.07 and record["segmenter.depth_jump"]["source"] == "user"
    # the mask minimum stays auto: 15 voxels of 1 cm = 4 voxels of 2 cm
    assert out.lift.min_points == 4 and record["lift.min_points"]["source"] == "auto"
    assert cfg.lift.min_points is None, "the caller's config is not modified"


def test_nothing_is_measured_when_everything_is_set():
    def fail(i):
        raise AssertionError("a frame was read although no option was auto")

    cfg = PipelineConfig.from_dict({"lift": {"voxel_size": 0.03, "min_points": 15}, "scan": {"depth_max": 5.0},
                                    "refine": {"min_points": 30}})
    cfg.segmenter = BackendConfig("oracle")
    scan = Scan(path=Path("x"), layout="test", frame_count=3, _loader=fail)
    _, out, record = fit_to_scan(scan, cfg)
    assert "measured" not in record and all(v["source"] != "auto" for v in record.values())


def test_scene_folder_records_the_chosen_values(tmp_path):
    from ot3d_engine.output.scene_io import write_scene
    from ot3d_engine.pipeline import run_pipeline

    result = run_pipeline(tabletop_scan(0.8))
    out = write_scene(result, tmp_path / "scene", preview=False)
    meta = json.loads((out / "instances.json").read_text())["meta"]["scale"]
    assert meta["lift.voxel_size"] == {"value": 0.01, "source": "auto", "why": meta["lift.voxel_size"]["why"]}
    assert set(meta) >= {"measured", "lift.voxel_size", "scan.depth_max", "scan.depth_min", "lift.min_points",
                         "refine.min_points", "segmenter.scale", "segmenter.depth_jump"}
    assert len(result.instances) >= 2, "the two boxes are found"


def test_every_mosd_learn_frame_gets_centimetre_voxels(shared_data):
    """The rule on the real tabletop frames it was checked on (learn/), all 45 of them."""
    files = sorted((shared_data / "mosd" / "learn").glob("*.pcd"))
    assert len(files) == 45
    for path in files:
        _, cfg, rec = fit_to_scan(load_scan(path), PipelineConfig())
        assert cfg.lift.voxel_size == pytest.approx(0.01), (path.name, rec["lift.voxel_size"])


def ot3d(*args):
    return subprocess.run([sys.executable, "-m", "ot3d_engine", *map(str, args)], capture_output=True, text=True,
                          timeout=300)


def test_cli_segment_and_eval_a_real_mosd_file_with_no_flags(shared_data, tmp_path):
    """`ot3d segment FILE.pcd --out P` then `ot3d eval --pred P --gt FILE.pcd`: the scale-fitted
    defaults score what 1 cm voxels score; the old room defaults (3 cm) scored AP50 0.64."""
    pcd = shared_data / "mosd" / "test55.pcd"
    r = ot3d("segment", pcd, "--out", tmp_path / "P")
    assert r.returncode == 0, r.stderr
    meta = json.loads((tmp_path / "P" / "instances.json").read_text())["meta"]["scale"]
    assert meta["lift.voxel_size"]["value"] == 0.01 and meta["lift.voxel_size"]["source"] == "auto"
    r = ot3d("eval", "--pred", tmp_path / "P", "--gt", pcd, "--json")
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    assert result["classes"]["object"]["gt_instances"] == 14
    assert result["ap50"] >= 0.8, result
    # the old fixed defaults, set by hand in a config file, are kept and score what they did
    old_cfg = tmp_path / "room.toml"
    old_cfg.write_text("[lift]\nvoxel_size = 0.03\nmin_points = 15\n[refine]\nmin_points = 30\n"
                       "[scan]\ndepth_max = 6.0\n")
    r = ot3d("segment", pcd, "--out", tmp_path / "P3", "--config", old_cfg)
    assert r.returncode == 0, r.stderr
    meta = json.loads((tmp_path / "P3" / "instances.json").read_text())["meta"]["scale"]
    assert meta["lift.voxel_size"] == {"value": 0.03, "source": "user", "why": meta["lift.voxel_size"]["why"]}
    old = json.loads(ot3d("eval", "--pred", tmp_path / "P3", "--gt", pcd, "--json").stdout)
    assert old["ap50"] < 0.7


def test_eval_gt_pcd_errors_name_the_file(tmp_path):
    pred = tmp_path / "pred"
    pred.mkdir()
    r = ot3d("eval", "--pred", pred, "--gt", tmp_path / "missing.pcd")
    assert r.returncode == 2 and "missing.pcd" in r.stderr and "not found" in r.stderr
    other = tmp_path / "notes.txt"
    other.write_text("x")
    r = ot3d("eval", "--pred", pred, "--gt", other)
    assert r.returncode == 2 and "notes.txt" in r.stderr and ".pcd" in r.stderr
