"""The result writer: a folder is always one whole result (old or new), one writer at a time,
no file of an earlier run, modes that follow the umask."""

from __future__ import annotations

import json
import os
import random
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from ot3d_engine.io import atomic
from ot3d_engine.io.ply import read_ply
from ot3d_engine.output.scene_io import read_scene, write_scene
from ot3d_engine.types import Instance, SceneResult

REPO = Path(__file__).resolve().parents[1]


def scene(run: int) -> SceneResult:
    """Run k: 2000 + 97 k points, ids 1..(k % 5 + 2): every file of one run tells it apart."""
    rng = np.random.default_rng(run)
    n, k = 2000 + 97 * run, run % 5 + 2
    pts = rng.random((n, 3)).astype(np.float32)
    ids = (np.arange(n) % (k + 1)).astype(np.int32)
    insts = [Instance(id=i, points=pts[ids == i], score=0.5, label=f"run{run}") for i in range(1, k + 1)]
    return SceneResult(points=pts, colors=np.zeros((n, 3), np.uint8), instance_ids=ids, instances=insts,
                       meta={"run": run})


def check_whole(folder: Path) -> int:
    """The run number of the complete result in `folder`; fails if files disagree."""
    doc = json.loads((folder / "instances.json").read_text())
    res = read_scene(folder)
    vertex, _ = read_ply(folder / "scene.ply")
    run = doc["meta"]["run"]
    n = 2000 + 97 * run
    assert doc["point_count"] == len(res.points) == len(vertex["x"]) == n
    assert np.array_equal(vertex["instance_id"], res.instance_ids)
    assert sorted(r["id"] for r in doc["instances"]) == list(range(1, run % 5 + 2 + 1))
    assert {r["label"] for r in doc["instances"]} == {f"run{run}"}
    assert (folder / "preview.png").is_file() == bool(run % 2)  # odd runs write a preview
    return run


WRITER = textwrap.dedent("""
    import sys
    sys.path.insert(0, {tests!r})
    from test_atomic_output import scene
    from ot3d_engine.io import atomic
    from ot3d_engine.output.scene_io import write_scene
    out, first = sys.argv[1], int(sys.argv[2])
    if sys.argv[3] == "portable":  # two renames instead of one exchange: recovery does the rest
        atomic._exchange = lambda a, b: False
    print("ready", flush=True)
    for run in range(first, first + 1000):
        write_scene(scene(run), out, preview=bool(run % 2))
        print(run, flush=True)
""")


@pytest.mark.parametrize("swap", ["exchange", "portable"])
def test_sigkill_during_writes_leaves_one_whole_result(tmp_path, swap):
    out = tmp_path / "scene"
    write_scene(scene(1), out, preview=True)
    script = tmp_path / "writer.py"
    script.write_text(WRITER.format(tests=str(REPO / "tests")))
    rnd = random.Random(11)
    seen_runs, last = set(), 1
    first = 2
    for trial in range(12):  # x2 parametrisations: 24 kills
        proc = subprocess.Popen([sys.executable, str(script), str(out), str(first), swap], stdout=subprocess.PIPE,
                                text=True, cwd=REPO)
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(rnd.uniform(0.0, 0.4))  # lands anywhere in a write (one takes ~50-150 ms)
        proc.send_signal(signal.SIGKILL)
        finished = [int(x) for x in proc.stdout.read().split()]
        proc.wait()
        run = check_whole(atomic.resolve_result(out))
        assert run == last or first <= run <= first + len(finished)  # old, or one this writer made
        seen_runs.add(run)
        last = run
        first += 1000
    # the next writer recovers the folder and leaves nothing of the killed ones beside it
    write_scene(scene(3), out, preview=True)
    assert check_whole(out) == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scene", "writer.py"]
    assert len(seen_runs) > 1  # the kills did land at different moments


def test_crash_between_the_two_renames_is_recovered(tmp_path, monkeypatch):
    out = tmp_path / "scene"
    write_scene(scene(1), out, preview=True)
    monkeypatch.setattr(atomic, "_exchange", lambda a, b: False)  # the portable two-rename path
    real_rename, calls = os.rename, []

    def dying_rename(a, b):
        calls.append((a, b))
        if len(calls) == 2:  # old renamed aside, the new one not yet in
            raise KeyboardInterrupt("killed")
        return real_rename(a, b)

    monkeypatch.setattr(atomic.os, "rename", dying_rename)
    with pytest.raises(KeyboardInterrupt):
        write_scene(scene(2), out, preview=True)
    monkeypatch.setattr(atomic.os, "rename", real_rename)
    assert not out.exists()
    assert check_whole(atomic.resolve_result(out)) == 1  # a reader finds the old result
    write_scene(scene(4), out, preview=False)  # the next writer puts it back, then replaces it
    assert check_whole(out) == 4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scene"]


def test_rerun_leaves_no_file_of_the_earlier_run(tmp_path):
    out = tmp_path / "scene"
    write_scene(scene(1), out, preview=True)
    (out / "mesh_instances.ply").write_text("from an older run")
    write_scene(scene(2), out, preview=False)
    assert not (out / "preview.png").exists() and not (out / "mesh_instances.ply").exists()
    assert check_whole(out) == 2


def test_refuses_to_replace_a_folder_it_did_not_write(tmp_path):
    out = tmp_path / "photos"
    out.mkdir()
    (out / "holiday.jpg").write_text("precious")
    with pytest.raises(atomic.OutputError, match="refusing to replace"):
        write_scene(scene(1), out)
    assert (out / "holiday.jpg").read_text() == "precious"


def test_second_writer_fails_at_once_naming_the_holder(tmp_path):
    out = tmp_path / "scene"
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys, time
        from ot3d_engine.io.atomic import output_lock
        with output_lock({str(out)!r}):
            print("locked", flush=True)
            time.sleep(30)
    """)], stdout=subprocess.PIPE, text=True, cwd=REPO)
    try:
        assert holder.stdout.readline().strip() == "locked"
        t0 = time.monotonic()
        with pytest.raises(atomic.OutputBusy, match=f"pid {holder.pid}"):
            write_scene(scene(1), out)
        assert time.monotonic() - t0 < 1.0
        assert not out.exists()
    finally:
        holder.kill()
        holder.wait()
    write_scene(scene(1), out)  # a dead holder's lock is free again (flock dies with it)
    assert check_whole(out) == 1


def test_two_concurrent_cli_runs_never_mix(tmp_path):
    """Two writers racing into one folder, many times: each folder state is one whole run."""
    out = tmp_path / "scene"
    script = tmp_path / "race.py"
    script.write_text(textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(REPO / 'tests')!r})
        from test_atomic_output import scene
        from ot3d_engine.io.atomic import OutputBusy
        from ot3d_engine.output.scene_io import write_scene
        ok = busy = 0
        for i in range(12):
            run = int(sys.argv[1]) + i
            try:
                write_scene(scene(run), sys.argv[2], preview=bool(run % 2))
                ok += 1
            except OutputBusy:
                busy += 1
        print(ok, busy)
    """))
    procs = [subprocess.Popen([sys.executable, str(script), str(base), str(out)], stdout=subprocess.PIPE, text=True,
                              cwd=REPO) for base in (10, 40)]
    counts = [tuple(map(int, p.communicate(timeout=120)[0].split())) for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert sum(ok for ok, _ in counts) >= 12  # the lock never blocks both
    assert check_whole(out) in range(10, 52)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["race.py", "scene"]


def test_files_follow_the_umask_not_0600(tmp_path):
    old = os.umask(0o022)
    try:
        write_scene(scene(1), tmp_path / "scene", preview=True)
        atomic.write_text_atomic(tmp_path / "one.json", "{}")
    finally:
        os.umask(old)
    for p in [tmp_path / "one.json", tmp_path / "scene", *(tmp_path / "scene").iterdir()]:
        mode = stat.S_IMODE(p.stat().st_mode)
        assert mode in (0o644, 0o755), (p.name, oct(mode))


def test_output_under_a_file_fails_before_work(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(atomic.OutputError, match="not a folder"):
        atomic.check_output(tmp_path / "file" / "scene")
    with pytest.raises(atomic.OutputError, match="not a folder"):
        atomic.check_output(tmp_path / "file")


def test_full_disk_fails_before_work(tmp_path, monkeypatch):
    monkeypatch.setattr(atomic.shutil, "disk_usage", lambda p: type("U", (), {"free": 10 * 2**20})())
    with pytest.raises(atomic.OutputError, match="MiB free"):
        atomic.check_output(tmp_path / "scene", need_bytes=200 * 2**20)


def test_read_only_output_fails_before_work(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        if os.access(ro, os.W_OK):
            pytest.skip("running as root: permissions are not enforced")
        with pytest.raises(atomic.OutputError, match="cannot write"):
            atomic.check_output(ro / "scene")
    finally:
        ro.chmod(0o755)


def test_writer_module_imports_only_the_standard_library():
    """The add-on loads io.atomic privately inside Blender (addon/engine_link/source.py), whose
    Python has numpy at most: the writer must not pull in anything else."""
    import ast

    for rel in ("ot3d_engine/io/atomic.py", "ot3d_engine/parent_watch.py", "ot3d_engine/errors.py"):
        tree = ast.parse((REPO / rel).read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name.split(".")[0] for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:  # relative: only the engine's errors module
                    assert node.module == "errors", (rel, node.module)
                    continue
                names = [node.module.split(".")[0]]
            else:
                continue
            for name in names:
                assert name in sys.stdlib_module_names, (rel, name)
