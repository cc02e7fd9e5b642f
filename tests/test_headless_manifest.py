"""Headless batch: manifests, resume validation, command-line entry points, and isolation of a
scan whose Blender process crashes or hangs (a stand-in `blender` binary around the bpy module)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from headless.manifest import OPTIONS, build_specs, read_manifest, scan_entries
from headless.outputs import DONE, check_done, write_done
from ot3d_engine.errors import ScanError

REPO = Path(__file__).resolve().parents[1]


# -- manifests ------------------------------------------------------------------------------

def test_csv_manifest_options_paths_and_defaults(tmp_path):
    (tmp_path / "cfg").mkdir()
    manifest = tmp_path / "batch.csv"
    manifest.write_text(textwrap.dedent("""\
        # scans of the first floor
        scan,name,stride,vocabulary,query,superpoints,config
        rooms/a,,2,"chair, table; lamp",,yes,cfg/fast.toml
        /data/b,b-second,,,a red chair,0,
        rooms/a,,,,,,
    """))
    entries = read_manifest(manifest)
    specs = build_specs(entries, {"max_frames": 40, "stride": 3})
    assert [s.name for s in specs] == ["a", "b-second", "a-2"]  # unique, stable folder names
    a, b, a2 = specs
    assert a.scan == str(tmp_path / "rooms" / "a") and b.scan == "/data/b"
    assert a.options["stride"] == 2 and b.options["stride"] == 3  # empty cell: the batch default
    assert a.options["vocabulary"] == ["chair", "table", "lamp"]
    assert a.options["superpoints"] is True and b.options["superpoints"] is False
    assert a.options["config"] == str(tmp_path / "cfg" / "fast.toml")
    assert b.options["query"] == "a red chair" and a.options["query"] == ""
    assert a.options["max_frames"] == 40 and a.options["segmenter"] == OPTIONS["segmenter"].default
    assert a2.options["stride"] == 3 and a.fingerprint() != a2.fingerprint()


def test_json_manifest_defaults_block_and_precedence(tmp_path):
    manifest = tmp_path / "batch.json"
    manifest.write_text(json.dumps({"defaults": {"stride": 4, "query_verify": True},
                                    "scans": ["s1", {"scan": "s2", "stride": 1, "name": "two", "gpus": 1}]}))
    specs = build_specs(read_manifest(manifest), {"stride": 9, "max_frames": 5})
    assert [(s.name, s.options["stride"], s.options["max_frames"]) for s in specs] == [("s1", 4, 5), ("two", 1, 5)]
    assert specs[0].options["query_verify"] is True and specs[1].options["gpus"] == 1.0


@pytest.mark.parametrize("text, problem", [
    ("scan,strid\ns1,2\n", "row 2: unknown option 'strid'"),
    ("scan,stride\ns1,two\n", "row 2: option 'stride': invalid literal"),
    ("scan,stride\ns1,0\n", "row 2: option 'stride': expected a number >= 1"),
    ("scan,superpoints\ns1,maybe\n", "row 2: option 'superpoints': expected true/false"),
    ("path,stride\ns1,2\n", "needs a header row with a 'scan' column"),
    ("scan,stride\n,2\n", "row 2: empty 'scan' cell"),
    ("scan\ns1,extra\n", "row 2: more cells than header columns"),
])
def test_bad_csv_manifest_names_file_row_and_problem(tmp_path, text, problem):
    manifest = tmp_path / "batch.csv"
    manifest.write_text(text)
    with pytest.raises(ScanError) as err:
        read_manifest(manifest)
    assert str(err.value).startswith(f"{manifest}: ") and problem in str(err.value)


def test_bad_json_manifests_and_names(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("[{\"scan\": \"a\"},")
    with pytest.raises(ScanError, match="bad.json: not valid JSON"):
        read_manifest(bad)
    bad.write_text(json.dumps([{"stride": 2}]))
    with pytest.raises(ScanError, match=r"scan #1: needs a 'scan' path"):
        read_manifest(bad)
    bad.write_text(json.dumps([{"scan": "a", "name": "x"}, {"scan": "b", "name": "x"}]))
    with pytest.raises(ScanError, match="name 'x' is used twice"):
        build_specs(read_manifest(bad), {})
    bad.write_text(json.dumps([{"scan": "a", "name": "../escape"}]))
    with pytest.raises(ScanError, match="not a usable folder name"):
        build_specs(read_manifest(bad), {})
    with pytest.raises(ScanError, match="missing.csv: manifest not found"):
        read_manifest(tmp_path / "missing.csv")
    names = [s.name for s in build_specs(scan_entries(["x/logs", "y/scan.pcd", "z/scan"]), {})]
    assert names == ["logs-2", "scan", "scan-2"]  # reserved and repeated names made unique


def test_fingerprint_follows_what_shapes_the_outputs(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text("[lift]\nvoxel_size = 0.03\n")

    def fingerprint(**options):
        return build_specs(scan_entries(["s"]), {"config": str(cfg), **options})[0].fingerprint()

    first = fingerprint()
    assert fingerprint(timeout=60, gpus=1, cpus=4) == first  # scheduling options do not
    assert fingerprint(stride=2) != first
    cfg.write_text("[lift]\nvoxel_size = 0.05\n")  # the config file's content does
    assert fingerprint() != first


# -- done.json ------------------------------------------------------------------------------

def _fake_outputs(folder: Path, name: str) -> None:
    (folder / "labels").mkdir(parents=True)
    for rel in (f"{name}.blend", "report.json", "labels/instances.json", "labels/points.npz", f"labels/{name}.txt"):
        (folder / rel).write_bytes(os.urandom(64))


def test_done_json_seals_every_file_and_catches_damage(tmp_path):
    folder = tmp_path / "s"
    _fake_outputs(folder, "s")
    assert check_done(folder, "s") == "not finished (no done.json)"
    assert check_done(tmp_path / "nothing", "nothing") == "no outputs"
    doc = write_done(folder, "s", "/scans/s", "f00d")
    assert set(doc["files"]) == {"s.blend", "report.json", "labels/instances.json", "labels/points.npz",
                                 "labels/s.txt"}
    assert check_done(folder, "s") is None and check_done(folder, "s", "f00d") is None
    assert check_done(folder, "s", "beef") == "scan or options changed since it was done"
    assert check_done(folder, "other") == "done.json belongs to something else"
    blend = folder / "s.blend"
    original = blend.read_bytes()
    blend.write_bytes(original[:-1])
    assert check_done(folder, "s") == "s.blend changed size"
    blend.write_bytes(bytes([original[0] ^ 1]) + original[1:])
    assert check_done(folder, "s") == "s.blend changed content"
    blend.unlink()
    assert check_done(folder, "s") == "s.blend is missing"
    (folder / DONE).write_text("{ half-writ")
    assert check_done(folder, "s") == "done.json is unreadable"
    incomplete = tmp_path / "t"
    _fake_outputs(incomplete, "t")
    (incomplete / "labels" / "points.npz").unlink()
    with pytest.raises(ScanError, match="missing: labels/points.npz"):
        write_done(incomplete, "t", "/scans/t", "f00d")
    assert not (incomplete / DONE).exists()


# -- entry points ---------------------------------------------------------------------------

def _env(tmp_path: Path) -> dict:
    env = dict(os.environ)
    for var in ("BLENDER_USER_CONFIG", "BLENDER_USER_SCRIPTS", "BLENDER_USER_EXTENSIONS", "BLENDER_USER_DATAFILES"):
        env[var] = str(tmp_path / "blender-user" / var.lower())
    env["OT3D_ENGINE_PYTHON"] = sys.executable
    return env


@pytest.mark.parametrize("entry", [["headless/annotate.py"], ["-m", "headless"]])
def test_help_and_usage_errors(entry, tmp_path):
    res = subprocess.run([sys.executable, *entry, "--help"], cwd=tmp_path if entry[0] == "-m" else REPO,
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0 and "--resume" in res.stdout and "--ray ADDRESS" in res.stdout
    script = [str(REPO / entry[0])] if entry[0] != "-m" else entry
    res = subprocess.run([sys.executable, *script, "--out", str(tmp_path / "o")], cwd=REPO, capture_output=True,
                         text=True, timeout=60)
    assert res.returncode == 2 and "error: no scans" in res.stderr
    manifest = tmp_path / "m.csv"
    manifest.write_text("scan,colour\na,red\n")
    res = subprocess.run([sys.executable, *script, "--manifest", str(manifest), "--out", str(tmp_path / "o")],
                         cwd=REPO, capture_output=True, text=True, timeout=60)
    assert res.returncode == 2 and f"{manifest}: row 2: unknown option 'colour'" in res.stderr
    assert not (tmp_path / "o").exists()  # a bad manifest stops the batch before anything is written


FAKE_BLENDER = """\
#!{python}
# Stands in for `blender`: checks the command line a real Blender gets, then runs the script
# with the bpy module - or dies like a Blender crash for the scan named "crashy".
import json, os, signal, sys
argv = sys.argv[1:]
assert argv[:2] == ["-b", "--factory-startup"] and "--python-exit-code" in argv, argv
script = argv[argv.index("--python") + 1]
rest = argv[argv.index("--") + 1:]
job = json.load(open(rest[rest.index("--one") + 1]))
print("fake blender for", job["spec"]["name"], flush=True)
if job["spec"]["name"] == "crashy":
    os.kill(os.getpid(), signal.SIGSEGV)
os.execv(sys.executable, [sys.executable, script, "--", *rest])
"""


def test_blender_crash_and_hang_are_contained_and_options_apply(tmp_path):
    pytest.importorskip("bpy", reason="the fake Blender runs the scan with the bpy module")
    from ot3d_engine.synth import generate_scene

    scan = generate_scene(tmp_path / "scan", seed=5, frames=4, width=128, height=96)
    blender = tmp_path / "blender"
    blender.write_text(FAKE_BLENDER.format(python=sys.executable))
    blender.chmod(blender.stat().st_mode | stat.S_IEXEC)
    (tmp_path / "fine.toml").write_text("[lift]\nvoxel_size = 0.05\n")
    manifest = tmp_path / "batch.json"
    manifest.write_text(json.dumps([{"scan": "scan", "name": "crashy"}, {"scan": "scan", "name": "fine",
                                                                         "config": "fine.toml"},
                                    {"scan": "scan", "name": "slow", "timeout": 0.5},
                                    {"scan": "scan", "name": "asks", "query": "a chair", "query_top_k": 3}]))
    out = tmp_path / "out"
    res = subprocess.run([sys.executable, "-m", "headless", "--manifest", str(manifest), "--out", str(out),
                          "--blender", str(blender), "--workers", "2", "--no-import-cloud"],
                         cwd=REPO, env=_env(tmp_path), capture_output=True, text=True, timeout=300)
    assert res.returncode == 1, res.stdout + res.stderr
    scans = {s["name"]: s for s in json.loads((out / "batch_report.json").read_text())["scans"]}
    crashy, fine, slow, asks = scans["crashy"], scans["fine"], scans["slow"], scans["asks"]
    assert crashy["status"] == "failed" and "killed by SIGSEGV" in crashy["message"]
    assert "fake blender for crashy" in crashy["details"]["log_tail"]
    assert slow["status"] == "failed" and slow["message"].startswith("timed out after 0.5 s")
    assert fine["status"] == "ok" and fine["instances"] >= 1
    assert check_done(out / "fine", "fine") is None
    assert "steps_s" in fine["details"] and "import" not in fine["details"]["steps_s"]  # --no-import-cloud
    details = json.loads((out / "fine" / "report.json").read_text())["details"]
    assert details["engine_config"]["lift"]["voxel_size"] == 0.05  # the manifest's config reached the engine
    # the add-on's Ask: unlabelled instances (no labeller) are not ranked, and the scan says why
    assert asks["status"] == "failed" and "Query needs labels or an image-text model" in asks["message"]
    assert not (out / "crashy").exists() and not (out / "slow").exists() and not (out / "asks").exists()
    assert not list((out / ".work").glob("stage-*"))


def test_driver_needs_no_heavy_packages():
    """The batch driver also runs inside `blender -b` (Blender's own Python: no PIL, scipy,
    open3d, torch): importing it must not pull any of them in."""
    code = ("import sys, headless.annotate, headless.batch, headless.options, headless.local_pool, "
            "headless.ray_pool, headless.scan_job; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & "
            "{'PIL', 'scipy', 'open3d', 'torch', 'transformers', 'bpy', 'ray', 'numpy'}))")
    res = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "[]"
