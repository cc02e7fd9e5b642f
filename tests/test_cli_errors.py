"""Every expected failure of the real `ot3d` command line is one line `error: <where>: <problem>`
with exit status 2, found before the long work starts; the rest says "internal error" and
where its traceback went."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ot3d_engine import cli
from ot3d_engine.synth import generate_scene

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def room(tmp_path_factory):
    d = tmp_path_factory.mktemp("room") / "scan"
    generate_scene(d, seed=2, frames=16, width=320, height=240)
    return d


def run_cli(capsys, *args) -> tuple[int, str, str]:
    code = cli.main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code: int, err: str, *needles: str) -> None:
    assert code == 2, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


@pytest.mark.parametrize("args, needles", [
    (["--voxel-size", "-0.03"], ["--voxel-size", "-0.03", "> 0"]),
    (["--voxel-size", "nan"], ["--voxel-size", "nan", "finite"]),
    (["--voxel-size", "abc"], ["--voxel-size", "abc"]),
    (["--stride", "0"], ["--stride", "0", ">= 1"]),
    (["--stride", "1.5"], ["--stride", "1.5", "integer"]),
    (["--max-frames", "0"], ["--max-frames", "0", ">= 1"]),
    (["--segmenter", "nope"], ["segmenter", "nope", "geometric"]),
    (["--tracker", "nope"], ["tracker", "nope", "visual_spatial"]),
    (["--no-such-option"], ["--no-such-option"]),
])
def test_bad_segment_options(capsys, room, tmp_path, args, needles):
    code, _, err = run_cli(capsys, "segment", room, "--out", tmp_path / "o", *args)
    assert_one_line_error(code, err, *needles)
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("text, needles", [
    ("[lift]\nvoxel_size = 0\n", ["cfg.toml", "lift.voxel_size", "0", "> 0"]),
    ("[lift]\nvoxel_size = 'abc'\n", ["cfg.toml", "lift.voxel_size", "'abc'", "wrong type"]),
    ("[track]\nfeature_weight = 2.5\n", ["cfg.toml", "track.feature_weight", "2.5", "[0, 1]"]),
    ("[refine]\nsuperpoints = 1\n", ["cfg.toml", "refine.superpoints", "true or false"]),
    ("[scan]\nstride = 2.0\n", ["cfg.toml", "scan.stride", "integer"]),
    ("[scan]\ndepth_min = 3.0\ndepth_max = 2.0\n", ["cfg.toml", "depth_max", "depth_min"]),
    ("[segmenter]\nname = 'geometric'\noptions = {bogus = 1}\n", ["cfg.toml", "geometric", "bogus"]),
    ("segmenter = 3\n", ["cfg.toml", "segmenter"]),
    ("vocabulary = 'chair'\n", ["cfg.toml", "vocabulary", "list"]),
    ("[lift\nvoxel_size = 0.03\n", ["cfg.toml", "cannot parse"]),
    ("[nonsense]\nx = 1\n", ["cfg.toml", "nonsense"]),
])
def test_bad_config_values(capsys, room, tmp_path, text, needles):
    cfg = tmp_path / "cfg.toml"
    cfg.write_text(text)
    code, _, err = run_cli(capsys, "segment", room, "--out", tmp_path / "o", "--config", cfg)
    assert_one_line_error(code, err, *needles)


def test_none_means_auto_in_a_json_config(capsys, tmp_path):
    """Values that may be auto (derived from the scan's scale) accept null."""
    from ot3d_engine.config import PipelineConfig

    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps({"lift": {"voxel_size": None, "min_points": None}, "scan": {"depth_max": None},
                               "refine": {"min_points": None}}))
    loaded = PipelineConfig.load(cfg)
    assert loaded.lift.voxel_size is None and loaded.scan.depth_max is None


def test_every_config_field_has_a_row_in_the_table():
    import dataclasses

    from ot3d_engine.config import PipelineConfig
    from ot3d_engine.config_checks import RANGES

    cfg = PipelineConfig()
    missing = [f"{s}.{f.name}" for s in ("scan", "lift", "track", "refine")
               for f in dataclasses.fields(getattr(cfg, s)) if f"{s}.{f.name}" not in RANGES]
    assert not missing, f"add rows to config_checks.RANGES for: {missing}"


@pytest.mark.parametrize("args, needles", [
    (["--radius", "-1"], ["--radius", "-1", "> 0"]),
    (["--min-region-size", "-5"], ["--min-region-size", "-5"]),
])
def test_bad_eval_options(capsys, room, tmp_path, args, needles):
    code, _, err = run_cli(capsys, "eval", "--pred", tmp_path, "--gt", room, *args)
    assert_one_line_error(code, err, *needles)


def _copy_scan(room: Path, tmp_path: Path) -> Path:
    scan = tmp_path / "scan"
    shutil.copytree(room, scan)
    return scan


def test_odd_depth_file_name_is_a_clean_result(capsys, room, tmp_path):
    scan = _copy_scan(room, tmp_path)
    shutil.copy(scan / "depth" / "0.png", scan / "depth" / "².png")  # str.isdigit("²") is True
    code, _, err = run_cli(capsys, "segment", scan, "--out", tmp_path / "o", "--max-frames", "2")
    assert code == 0 and "Traceback" not in err, err


def test_non_finite_intrinsics_name_the_file(capsys, room, tmp_path):
    scan = _copy_scan(room, tmp_path)
    k = scan / "intrinsic" / "intrinsic_depth.txt"
    text = k.read_text().split()
    text[0] = "inf"
    k.write_text(" ".join(text))
    code, _, err = run_cli(capsys, "segment", scan, "--out", tmp_path / "o")
    assert_one_line_error(code, err, "intrinsic_depth.txt", "finite")


def test_corrupt_depth_png_is_an_error_not_a_wrong_image(capsys, room, tmp_path):
    scan = _copy_scan(room, tmp_path)
    depth = scan / "depth" / "0.png"
    raw = bytearray(depth.read_bytes())
    raw[len(raw) // 2] ^= 0x01  # inside the compressed image data
    depth.write_bytes(bytes(raw))
    code, _, err = run_cli(capsys, "segment", scan, "--out", tmp_path / "o")
    assert_one_line_error(code, err, "0.png", "CRC")


def test_debug_shows_the_traceback(capsys, room, tmp_path):
    code, _, err = run_cli(capsys, "--debug", "segment", room, "--out", tmp_path / "o", "--tracker", "nope")
    assert code == 2 and "Traceback" in err and err.strip().splitlines()[-1].startswith("error: ")


def test_unexpected_exception_says_internal_error_and_where_the_log_is(capsys, monkeypatch, tmp_path):
    def broken(args):
        return {}["missing"]  # a bug, not a user error

    monkeypatch.setenv("OT3D_LOG_DIR", str(tmp_path / "logs"))
    monkeypatch.setitem(cli.COMMANDS, "synth", cli.Command("x", cli.COMMANDS["synth"].add_arguments, broken))
    code, _, err = run_cli(capsys, "synth", "--seed", "1", "--out", tmp_path / "s")
    assert code == 1 and "internal error" in err and "Traceback" not in err
    logs = list((tmp_path / "logs").iterdir())
    assert len(logs) == 1 and str(logs[0]) in err
    assert "KeyError" in logs[0].read_text() and "Traceback" in logs[0].read_text()


def test_stdout_closed_by_a_pager_is_quiet(capsys, room, tmp_path):
    assert run_cli(capsys, "segment", room, "--out", tmp_path / "o", "--max-frames", "3")[0] == 0
    for args in (["eval", "--pred", tmp_path / "o", "--gt", room], ["--help"]):
        proc = subprocess.Popen([sys.executable, "-m", "ot3d_engine", *map(str, args)], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, cwd=REPO)
        proc.stdout.close()  # before the interpreter is up: its writes meet a closed pipe
        err = proc.stderr.read().decode()
        assert proc.wait(timeout=120) in (0, 141), err
        assert err == "", err


def _zero_depth_scan(room: Path, tmp_path: Path) -> Path:
    scan = _copy_scan(room, tmp_path)
    for p in (scan / "depth").glob("*.png"):
        h, w = np.asarray(Image.open(p)).shape
        Image.fromarray(np.zeros((h, w), np.uint16)).save(p)
    return scan


def test_empty_result_warns_and_strict_fails(capsys, room, tmp_path):
    scan = _zero_depth_scan(room, tmp_path)
    code, out, err = run_cli(capsys, "segment", scan, "--out", tmp_path / "o", "--max-frames", "3")
    assert code == 0 and "warning:" in err and "0 instances" in err and "depth" in err
    code, out, err = run_cli(capsys, "segment", scan, "--out", tmp_path / "o", "--max-frames", "3", "--strict")
    assert code == 2 and "--strict" in err


def test_eval_warns_for_different_scenes(capsys, room, tmp_path):
    other = tmp_path / "other"
    generate_scene(other, seed=7, frames=4, width=160, height=120)
    code, _, _ = run_cli(capsys, "segment", room, "--out", tmp_path / "o", "--segmenter", "oracle", "--max-frames", "4")
    assert code == 0
    code, _, err = run_cli(capsys, "eval", "--pred", tmp_path / "o", "--gt", room)
    assert code == 0 and "warning" not in err
    code, _, err = run_cli(capsys, "eval", "--pred", tmp_path / "o", "--gt", other)
    assert code == 0 and "different scenes" in err


def test_broken_mesh_and_unwritable_out_fail_in_under_a_tenth_of_the_run(capsys, room, tmp_path):
    t0 = time.perf_counter()
    code, _, err = run_cli(capsys, "segment", room, "--out", tmp_path / "good")
    full = time.perf_counter() - t0
    assert code == 0, err
    bad_mesh = tmp_path / "broken.ply"
    bad_mesh.write_bytes(b"ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\nend_header\n1\n2\n")
    (tmp_path / "a-file").write_text("x")
    cases = [
        (["--mesh", bad_mesh, "--superpoints"], "broken.ply"),
        (["--mesh", tmp_path / "missing.ply"], "missing.ply"),
        (["--out", tmp_path / "a-file" / "o"], "a-file"),
    ]
    if os.geteuid() != 0:  # root writes anywhere
        ro = tmp_path / "ro"
        ro.mkdir(mode=0o555)
        cases.append((["--out", ro / "o"], "ro"))
    for extra, needle in cases:
        args = ["segment", room, "--out", tmp_path / "o", *extra]
        t0 = time.perf_counter()
        code, _, err = run_cli(capsys, *args)
        took = time.perf_counter() - t0
        assert_one_line_error(code, err, needle)
        assert took < 0.1 * full, (extra, took, full)


def test_second_cli_run_into_one_folder_fails_at_once_naming_the_first(tmp_path):
    long_room = generate_scene(tmp_path / "long", seed=4, frames=64, width=320, height=240)  # a run of seconds
    out = tmp_path / "o"
    first = subprocess.Popen([sys.executable, "-m", "ot3d_engine", "segment", str(long_room), "--out", str(out)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
    try:
        lock = out.with_name(".o.lock")
        deadline = time.monotonic() + 60
        while not lock.exists() and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert first.poll() is None, first.communicate()
        t0 = time.monotonic()
        second = subprocess.run([sys.executable, "-m", "ot3d_engine", "segment", str(long_room), "--out", str(out)],
                                capture_output=True, text=True, cwd=REPO, timeout=120)
        assert second.returncode == 2 and f"pid {first.pid}" in second.stderr, second.stderr
        assert time.monotonic() - t0 < 30
        assert first.poll() is None  # the first was still running: the second did not wait for it
        assert first.wait(timeout=300) == 0, first.communicate()
    finally:
        if first.poll() is None:
            first.kill()
    doc = json.loads((out / "instances.json").read_text())
    assert doc["point_count"] > 0


def test_infinite_manifest_intrinsics_name_the_manifest(capsys, tmp_path):
    from fuzz_inputs import make_manifest

    manifest = make_manifest(tmp_path)
    doc = json.loads(manifest.read_text())
    doc["fx"] = float("inf")
    manifest.write_text(json.dumps(doc))  # json writes Infinity, which json reads back
    code, _, err = run_cli(capsys, "segment", manifest.parent, "--out", tmp_path / "o")
    assert_one_line_error(code, err, "ot3d_scan.json", "fx", "finite")


def test_negative_pgm_size_is_a_clean_error(tmp_path):
    from ot3d_engine.errors import ScanError
    from ot3d_engine.io.images import read_uint16_image

    p = tmp_path / "d.pgm"
    p.write_bytes(b"P5\n-4 3\n65535\n" + bytes(24))
    with pytest.raises(ScanError, match="d.pgm.*must be positive"):
        read_uint16_image(p)
