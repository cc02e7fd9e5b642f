"""Corrupted inputs of every kind (seeded truncations, byte flips, stray values): never a
traceback, never a hang, and never a silent success where the format lets a decoder notice.
The kinds are rows of tests/fuzz_inputs.KINDS."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from fuzz_inputs import KINDS

WORKER = Path(__file__).resolve().with_name("fuzz_worker.py")
CASES = 45  # per kind, truncations, flips and (where a format has rows) stray values in turn
SEED = 20261201


@pytest.mark.parametrize("kind", [k.name for k in KINDS])
def test_corrupt_inputs_fail_cleanly(kind):
    proc = subprocess.run([sys.executable, str(WORKER), kind, str(SEED), str(CASES)], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert rows[0]["outcome"] == "ok", f"the valid {kind} input does not read: {rows[0]}"
    cases = rows[1:]
    assert len(cases) == CASES
    crashes = [r for r in cases if r["outcome"] == "crash"]
    assert not crashes, f"{len(crashes)} tracebacks, first ({crashes[0]['how']}):\n{crashes[0]['traceback']}"
    assert not [r for r in cases if r["outcome"] == "hang"]
    silent = [r for r in cases if r["must_detect"] and r["outcome"] == "ok" and not r.get("unchanged")]
    assert not silent, f"{len(silent)} undetected {sorted({r['how'] for r in silent})} in {kind}"
    assert all(r["one_line"] for r in cases if r["outcome"] == "error"), \
        [r["message"] for r in cases if r["outcome"] == "error" and not r["one_line"]][:3]
    assert any(r["outcome"] == "error" for r in cases)  # the mutations did reach the reader
