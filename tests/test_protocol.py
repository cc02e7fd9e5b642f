"""The add-on <-> engine protocol, from both ends: the message rules, the engine worker
as a real subprocess, and the add-on's runner (addon/engine_link/runner.py, addon/engine_link/engine_job.py,
which need no bpy) against the real worker and against broken fake engines."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from ot3d_engine import protocol
from ot3d_engine.worker import Worker

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the add-on package (addon/) imported from the checkout
from addon.engine_link import backends, engine_job, runner, tier  # noqa: E402

sys.path.pop(0)


# -- message rules -----------------------------------------------------------------------------

def test_every_constructor_round_trips_through_one_json_line():
    msgs = [
        protocol.hello("1.2.3", 42, ["segment"]),
        protocol.start("j1", "segment", {"scan": "/x", "stride": 2}, "/tmp/j1"),
        protocol.progress("j1", "track", 0.25, "frame 1/4"),
        protocol.log("warning", "careful", job_id="j1"),
        protocol.result("j1", {"points": Path("/tmp/j1/points.npz")}, {"instances": 3}),
        protocol.error("j1", "ScanError", "/x: not found", "Traceback ..."),
        protocol.cancel("j1"),
        protocol.shutdown(),
    ]
    for msg in msgs:
        line = protocol.encode(msg)
        assert line.endswith("\n") and "\n" not in line[:-1]
        assert protocol.decode(line) == json.loads(line) == msg
    assert {m["type"] for m in msgs} == set(protocol.MESSAGE_FIELDS)


@pytest.mark.parametrize("line, problem", [
    ('{"type": "progress", "job_id": "a", "stage": "s"}', "lacks required field 'fraction'"),
    ('{"type": "progress", "job_id": "a", "stage": "s", "fraction": 1.5}', "within [0, 1]"),
    ('{"type": "progress", "job_id": "a", "stage": "s", "fraction": NaN}', "within [0, 1]"),
    ('{"type": "hello", "protocol": true, "engine_version": "1", "pid": 1, "jobs": []}', "got bool"),
    ('{"type": "start", "job_id": 5, "job": "x", "params": {}, "job_dir": "/t"}', "job_id must be str"),
    ('{"type": "result", "job_id": "a", "files": {"p": 3}}', "path strings"),
    ('{"type": "log", "level": "loud", "message": "m"}', "log.level"),
    ('{"type": "launch"}', "unknown message type"),
    ('[1, 2]', "JSON object"),
    ('not json', "not JSON"),
    ('   ', "empty line"),
])
def test_invalid_lines_are_refused_with_the_reason(line, problem):
    with pytest.raises(protocol.ProtocolError, match=problem.replace("[", r"\[").replace("]", r"\]")):
        protocol.decode(line)


def test_unknown_extra_fields_are_tolerated_and_versions_must_match():
    msg = protocol.decode('{"type": "cancel", "job_id": "a", "reason": "user"}')
    assert msg["reason"] == "user"
    protocol.check_hello(protocol.hello("0", 1, []))
    future = dict(protocol.hello("9", 1, []), protocol=protocol.PROTOCOL_VERSION + 1)
    with pytest.raises(protocol.ProtocolError, match="update the add-on and the engine together"):
        protocol.check_hello(future)
    with pytest.raises(protocol.ProtocolError, match="hello message first"):
        protocol.check_hello(protocol.shutdown())


def test_progress_constructor_clamps_sloppy_fractions():
    assert [protocol.progress("a", "s", f)["fraction"] for f in (-0.5, 0.3, 7, float("nan"))] == [0.0, 0.3, 1.0, 0.0]


def test_encode_refuses_what_json_cannot_carry():
    with pytest.raises(protocol.ProtocolError, match="not JSON-serialisable"):
        protocol.encode(protocol.make("result", job_id="a", files={}, data={"x": float("inf")}))


# -- engine end, in process --------------------------------------------------------------------

def _serve(lines: list[dict | str], jobs: dict) -> list[dict]:
    text = "".join(protocol.encode(m) if isinstance(m, dict) else m + "\n" for m in lines)
    out = io.StringIO()
    Worker(io.StringIO(text), out, jobs=jobs).serve()
    return [protocol.decode(line) for line in out.getvalue().splitlines()]


def test_worker_reports_progress_result_errors_and_bad_lines(tmp_path):
    def ok(params, ctx):
        ctx.progress("work", 0.5, "half")
        ctx.log("hello from the job")
        out = ctx.job_dir / "out.json"
        out.write_text(json.dumps(params))
        return {"out": out}, {"n": params["n"]}

    def boom(params, ctx):
        raise ValueError("exploded on purpose")

    got = _serve([protocol.start("a", "ok", {"n": 3}, str(tmp_path / "a")), "{broken",
                  protocol.start("b", "boom", {}, str(tmp_path / "b")),
                  protocol.start("c", "nope", {}, str(tmp_path / "c"))], {"ok": ok, "boom": boom})
    kinds = [(m["type"], m.get("job_id")) for m in got]
    assert kinds[0] == ("hello", None) and got[0]["jobs"] == ["boom", "ok"]
    assert ("progress", "a") in kinds and ("log", "a") in kinds
    res = next(m for m in got if m["type"] == "result")
    assert res["data"] == {"n": 3} and json.loads(Path(res["files"]["out"]).read_text()) == {"n": 3}
    bad_line = next(m for m in got if m["type"] == "error" and m["job_id"] is None)
    assert bad_line["kind"] == "ProtocolError"
    err = next(m for m in got if m["type"] == "error" and m["job_id"] == "b")
    assert err["message"] == "ValueError: exploded on purpose" and "in boom" in err["traceback"]
    unknown = next(m for m in got if m["type"] == "error" and m["job_id"] == "c")
    assert "unknown job 'nope'" in unknown["message"] and "boom, ok" in unknown["message"]


def test_cancel_sent_before_the_job_starts_cancels_it(tmp_path):
    ran = []
    got = _serve([protocol.cancel("a"), protocol.start("a", "ok", {}, str(tmp_path / "a"))],
                 {"ok": lambda p, c: (ran.append(1), ({}, {}))[1]})
    assert ran == []
    assert got[-1]["type"] == "error" and got[-1]["kind"] == protocol.CANCELLED_KIND


# -- engine end, as the real subprocess --------------------------------------------------------

def _spawn_worker(code: str | None = None) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "ot3d_engine.worker"] if code is None else [sys.executable, "-c", code]
    return subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=REPO)


def test_worker_process_keeps_stdout_for_protocol_lines_only(tmp_path):
    # a job that writes to stdout like a chatty library would: from Python, and at the file
    # descriptor level as C extensions do
    code = textwrap.dedent("""
        import os
        from ot3d_engine import jobs, worker
        def noisy(params, ctx):
            print("this is not a protocol line", flush=True)
            os.write(1, b"neither is this one\\n")
            return {}, {"ok": True}
        jobs.JOBS["noisy"] = noisy
        worker.main([])
    """)
    proc = _spawn_worker(code)
    out, err = proc.communicate(protocol.encode(protocol.start("n", "noisy", {}, str(tmp_path))), timeout=60)
    msgs = [protocol.decode(line) for line in out.splitlines()]  # every line must parse
    assert [m["type"] for m in msgs] == ["hello", "result"] and msgs[1]["data"] == {"ok": True}
    assert "this is not a protocol line" in err and "neither is this one" in err
    assert proc.returncode == 0


def test_worker_process_exits_on_sigterm_while_idle():
    proc = _spawn_worker()
    hello = protocol.decode(proc.stdout.readline())
    assert hello["type"] == "hello" and hello["pid"] == proc.pid
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 0
    proc.stdin.close(), proc.stdout.close(), proc.stderr.close()


# -- add-on end --------------------------------------------------------------------------------

def test_runner_runs_a_real_engine_job_and_reaps_the_process(tmp_path):
    job = engine_job.EngineJob(sys.executable, "info", {"roles": ["segmenter"]}, tmp_path).start()
    outcome = job.wait(timeout=60)
    assert outcome.ok, outcome.report_text()
    assert "geometric" in outcome.data["backends"]["segmenter"]
    assert job.engine.hello["protocol"] == protocol.PROTOCOL_VERSION
    assert job.engine.returncode == 0
    with pytest.raises(ChildProcessError):
        os.waitpid(job.engine.pid, os.WNOHANG)  # already reaped: no zombie
    assert job.job_id not in engine_job.ACTIVE


def test_the_weights_free_tier_refuses_exactly_the_catalogues_backends_that_need_packages(tmp_path):
    """One list of backends (backends.CATALOGUE): each is one the engine has, and the tier check
    refuses those that need torch/transformers, before any engine starts, and no other."""
    roles = list(backends.CATALOGUE)
    outcome = engine_job.EngineJob(sys.executable, "info", {"roles": roles}, tmp_path).start().wait(timeout=60)
    assert outcome.ok, outcome.report_text()
    weights_free = tier.Tier(tier.WEIGHTS_FREE, sys.executable, "test")
    for role, choices in backends.CATALOGUE.items():
        for b in choices:
            name = backends.engine_name(role, backends.identifier(b))
            assert name == "" or name in outcome.data["backends"][role], (role, name)
            if b.needs:
                refused = f"{role} '{name}' needs the neural tier \\(torch, transformers\\)"
                with pytest.raises(LookupError, match=refused):
                    tier.check_job(weights_free, "segment", {role: name})
            else:
                tier.check_job(weights_free, "segment", {role: name})
            tier.check_job(tier.Tier(tier.NEURAL, sys.executable, "test"), "segment", {role: name})


def _fake_engine(tmp_path: Path, body: str) -> Path:
    """An engine folder whose `python -m ot3d_engine.worker` runs `body` instead."""
    pkg = tmp_path / "fake" / "ot3d_engine"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "worker.py").write_text(textwrap.dedent(body))
    return pkg.parent


def test_runner_refuses_an_engine_of_another_protocol_version(tmp_path):
    root = _fake_engine(tmp_path, """
        import json, os, sys
        print(json.dumps({"type": "hello", "protocol": 99, "engine_version": "9", "pid": os.getpid(),
                          "jobs": []}), flush=True)
        sys.stdin.read()
    """)
    job = engine_job.EngineJob(sys.executable, "info", {}, tmp_path / "jobs", engine_path=root).start()
    assert job.done and job.outcome.status == "crashed"
    assert "protocol 99" in job.outcome.message and "update the add-on and the engine together" in job.outcome.message
    assert job.engine.returncode is not None


def test_runner_reports_a_crash_with_the_engines_stderr(tmp_path):
    root = _fake_engine(tmp_path, """
        import json, os, sys
        print(json.dumps({"type": "hello", "protocol": %d, "engine_version": "0", "pid": os.getpid(),
                          "jobs": ["segment"]}), flush=True)
        start = json.loads(sys.stdin.readline())
        print(json.dumps({"type": "progress", "job_id": start["job_id"], "stage": "track",
                          "fraction": 0.1, "message": ""}), flush=True)
        sys.stderr.write("fatal: out of cheese in the tracker\\n"); sys.stderr.flush()
        os.abort()
    """ % protocol.PROTOCOL_VERSION)
    job = engine_job.EngineJob(sys.executable, "segment", {}, tmp_path / "jobs", engine_path=root).start()
    outcome = job.wait(timeout=60)
    assert outcome.status == "crashed" and outcome.kind == "EngineCrash"
    assert f"killed by signal {signal.SIGABRT.value}" in outcome.message and "'track'" in outcome.message
    assert "out of cheese in the tracker" in outcome.report_text()


def test_runner_kills_an_engine_that_ignores_cancel(tmp_path, monkeypatch):
    root = _fake_engine(tmp_path, """
        import json, os, signal, sys, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # stubborn: only SIGKILL stops it
        print(json.dumps({"type": "hello", "protocol": %d, "engine_version": "0", "pid": os.getpid(),
                          "jobs": ["segment"]}), flush=True)
        sys.stdin.readline()
        while True:
            time.sleep(0.1)
    """ % protocol.PROTOCOL_VERSION)
    monkeypatch.setattr(engine_job, "CANCEL_GRACE_S", 0.3)
    job = engine_job.EngineJob(sys.executable, "segment", {}, tmp_path / "jobs", engine_path=root).start()
    t0 = time.monotonic()
    job.cancel()
    outcome = job.wait(timeout=60)
    assert outcome.status == "cancelled"
    assert job.engine.returncode == -signal.SIGKILL
    assert time.monotonic() - t0 < 15
    with pytest.raises(ChildProcessError):
        os.waitpid(job.engine.pid, os.WNOHANG)


def test_runner_reports_a_missing_interpreter(tmp_path):
    job = engine_job.EngineJob(str(tmp_path / "no-python"), "info", {}, tmp_path / "jobs").start()
    assert job.outcome.status == "crashed" and "engine Python not found" in job.outcome.message
    with pytest.raises(runner.EngineError):
        runner.EngineProcess(str(tmp_path / "no-python")).start()


def test_runner_writes_no_bytecode_beside_the_engine_source(tmp_path, monkeypatch):
    """The extension's folder stays as installed: the worker runs with -B, and so do its children."""
    import shutil

    root = tmp_path / "engine"
    shutil.copytree(Path(__file__).resolve().parents[1] / "ot3d_engine", root / "ot3d_engine",
                    ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.delenv("PYTHONDONTWRITEBYTECODE", raising=False)
    job = engine_job.EngineJob(sys.executable, "info", {"roles": ["segmenter"]}, tmp_path / "jobs",
                               engine_path=root).start()
    assert job.wait(timeout=60).ok
    assert job.engine.command()[1] == "-B" and job.engine.environment()["PYTHONDONTWRITEBYTECODE"] == "1"
    assert not list(root.rglob("*.pyc"))
    assert job.engine.cwd == job.job_dir  # its working folder is the job's, never the install folder

