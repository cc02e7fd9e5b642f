"""Run one fuzz kind's mutations in this process and print one JSON line per case.

    python tests/fuzz_worker.py KIND SEED COUNT

Run as a subprocess by test_fuzz_inputs.py, so a reader stuck in C code is caught by the
caller's timeout; a stuck Python loop is caught here by SIGALRM, per case.
"""

from __future__ import annotations

import json
import random
import signal
import sys
import tempfile
import traceback
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fuzz_inputs import BY_NAME  # noqa: E402

from ot3d_engine.errors import OT3DError  # noqa: E402

CASE_TIMEOUT_S = 10


class Hang(BaseException):
    pass


def _alarm(signum, frame):
    raise Hang()


def mutate(raw: bytes, how: str, rnd: random.Random, data_lines) -> bytes:
    if how == "truncate":
        return raw[:rnd.randrange(0, len(raw))]
    if how == "flip":
        out = bytearray(raw)
        for _ in range(rnd.randint(1, 3)):
            out[rnd.randrange(len(out))] ^= rnd.randrange(1, 256)
        return bytes(out)
    rows = raw.split(b"\n")  # extra_value: one more number on one data row
    candidates = data_lines(raw) if data_lines else [i for i, r in enumerate(rows) if r.strip()]
    i = rnd.choice(candidates)
    rows[i] = rows[i].rstrip(b"\r") + b" 7"
    return b"\n".join(rows)


def run_case(kind, path: Path, data: bytes) -> dict:
    path.write_bytes(data)
    signal.alarm(CASE_TIMEOUT_S)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            kind.read(path)
        return {"outcome": "ok"}
    except OT3DError as exc:
        msg = str(exc)
        return {"outcome": "error", "message": msg, "one_line": "\n" not in msg.strip() and bool(msg.strip())}
    except Hang:
        return {"outcome": "hang"}
    except BaseException:
        return {"outcome": "crash", "traceback": traceback.format_exc()}
    finally:
        signal.alarm(0)


def main() -> int:
    name, seed, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    kind = BY_NAME[name]
    signal.signal(signal.SIGALRM, _alarm)
    rnd = random.Random(f"{name}-{seed}")
    with tempfile.TemporaryDirectory() as tmp:
        path = kind.make(Path(tmp))
        raw = path.read_bytes()
        valid = run_case(kind, path, raw)
        print(json.dumps({"case": "valid", "how": "none", **valid}), flush=True)
        hows = ["truncate", "flip"] + (["extra_value"] if "extra_value" in kind.detects else [])
        for i in range(count):
            how = hows[i % len(hows)]
            data = mutate(raw, how, rnd, kind.data_lines)
            res = run_case(kind, path, data)
            if data == raw:
                res["unchanged"] = True
            print(json.dumps({"case": i, "how": how, "must_detect": how in kind.detects, **res}), flush=True)
        path.write_bytes(raw)
    return 0


if __name__ == "__main__":
    sys.exit(main())
