"""Headless batch under faults: kill -9 of the driver ends every scan and engine process;
--resume notices changed inputs; outputs are readable by others (modes follow the umask)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ot3d_engine.synth import generate_scene

pytest.importorskip("bpy", reason="headless annotation needs the bpy module (pip install bpy==5.0.1)")

from test_headless_batch import REPO, blender_env, run_headless, run_log  # noqa: E402


@pytest.fixture(scope="module")
def scan(tmp_path_factory) -> Path:
    return generate_scene(tmp_path_factory.mktemp("reliability") / "room", seed=21, frames=6, width=160, height=120)


def _children(pid: int) -> dict[int, int]:
    """{pid: ppid} of every live process."""
    out = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
                if fields[0] != "Z":
                    out[int(entry)] = int(fields[1])
            except (OSError, IndexError, ValueError):
                pass
    return out


def descendants(pid: int) -> set[int]:
    table = _children(pid)
    found, frontier = set(), {pid}
    while frontier:
        frontier = {p for p, pp in table.items() if pp in frontier} - found
        found |= frontier
    return found


def alive(pids: set[int]) -> set[int]:
    table = _children(0)
    return {p for p in pids if p in table}


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def test_kill_9_of_the_driver_ends_scan_and_engine_processes(tmp_path):
    """A 300-frame scan keeps its child busy for many seconds; after kill -9 of the driver
    everything it started is gone within seconds, and nothing is published."""
    long_scan = generate_scene(tmp_path / "long", seed=21, frames=300, width=160, height=120)
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "headless", str(long_scan), "--out", str(out)],
                            cwd=REPO, env=blender_env(tmp_path), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            procs = descendants(proc.pid)
            if any("ot3d_engine.worker" in _cmdline(p) for p in procs):
                break  # the scan child and its engine worker are running
            assert proc.poll() is None, "the batch ended before it could be killed"
            time.sleep(0.1)
        else:
            raise AssertionError("no engine worker started")
        time.sleep(1.0)
        procs = descendants(proc.pid)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        t0 = time.monotonic()
        while alive(procs) and time.monotonic() < t0 + 4:
            time.sleep(0.1)
        left = alive(procs)
        assert not left, {p: _cmdline(p)[:120] for p in left}
    finally:
        if proc.poll() is None:
            proc.kill()
        for p in alive(descendants(os.getpid())) - {os.getpid()}:
            if "ot3d_engine.worker" in _cmdline(p) or "annotate.py" in _cmdline(p):
                os.kill(p, signal.SIGKILL)
    time.sleep(1.0)
    assert not (out / "long").exists()  # nothing went on to publish it


def test_resume_redoes_a_scan_whose_inputs_changed_and_outputs_are_world_readable(scan, tmp_path):
    mine = tmp_path / "room"
    shutil.copytree(scan, mine)
    out = tmp_path / "out"
    old = os.umask(0o022)
    try:
        first = run_headless([str(mine), "--out", str(out)], tmp_path)
    finally:
        os.umask(old)
    assert first.returncode == 0, first.stdout + first.stderr
    for path in (out / "room").rglob("*"):
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode & 0o004, (str(path.relative_to(out)), oct(mode))  # others can read: 0644/0755
    again = run_headless([str(mine), "--out", str(out), "--resume"], tmp_path)
    assert again.returncode == 0 and "skipped" in again.stdout.lower(), again.stdout
    depth = sorted((mine / "depth").iterdir())[2]
    depth.write_bytes(depth.read_bytes())  # same bytes, new mtime: an input that may have changed
    os.utime(depth, ns=(time.time_ns(), time.time_ns() + 10**9))
    third = run_headless([str(mine), "--out", str(out), "--resume"], tmp_path)
    assert third.returncode == 0, third.stdout + third.stderr
    events = run_log(out)
    redo = [e for e in events if e["event"] == "redo"]
    assert redo and "changed" in redo[-1]["reason"]
    assert events[-2]["event"] == "ok" and events[-2]["name"] == "room"


@pytest.mark.parametrize("args, needle", [(["--workers", "0"], "--workers: 0"),
                                          (["--gpus-per-scan", "nan"], "--gpus-per-scan: nan"),
                                          (["--cpus-per-scan", "-1"], "--cpus-per-scan: -1")])
def test_batch_option_ranges_are_one_line_errors(scan, tmp_path, args, needle):
    res = run_headless([str(scan), "--out", str(tmp_path / "o"), *args], tmp_path, timeout=120)
    lines = res.stderr.strip().splitlines()
    assert res.returncode == 2 and len(lines) == 1 and needle in lines[0], res.stderr
