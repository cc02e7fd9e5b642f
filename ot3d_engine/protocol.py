"""The add-on <-> engine protocol, defined once and used by both ends.

JSON lines on the worker's stdin/stdout, one message per line; large arrays never
travel here, only the paths of the .npz/.json files the job wrote into its job folder.

Conversation:
    engine -> hello {protocol, engine_version, pid, jobs}
    add-on -> start {job_id, job, params, job_dir}
    engine -> progress {job_id, stage, fraction, message} / log {level, message} ...
    engine -> result {job_id, files, data}  or  error {job_id, kind, message, traceback}
    add-on -> cancel {job_id}  (any time; the job ends with error kind "Cancelled")
    add-on -> shutdown {}      (or closes stdin)

Compatibility: both ends refuse a peer whose PROTOCOL_VERSION differs; unknown extra
fields are ignored so that minor additions do not need a new version.

Standard library only: Blender's Python loads this very file (see addon/engine_link.py).
"""

from __future__ import annotations

import json
import math

from .errors import OT3DError

PROTOCOL_VERSION = 1

_NUM = (int, float)
_OPT_STR = (str, type(None))

# message type -> {field: (accepted types, required)}
MESSAGE_FIELDS: dict[str, dict[str, tuple[tuple[type, ...], bool]]] = {
    "hello": {"protocol": ((int,), True), "engine_version": ((str,), True),
              "pid": ((int,), True), "jobs": ((list,), True)},
    "start": {"job_id": ((str,), True), "job": ((str,), True),
              "params": ((dict,), True), "job_dir": ((str,), True)},
    "progress": {"job_id": ((str,), True), "stage": ((str,), True),
                 "fraction": (_NUM, True), "message": ((str,), False)},
    "log": {"job_id": (_OPT_STR, False), "level": ((str,), True), "message": ((str,), True)},
    "result": {"job_id": ((str,), True), "files": ((dict,), True), "data": ((dict,), False)},
    "error": {"job_id": (_OPT_STR, True), "kind": ((str,), True),
              "message": ((str,), True), "traceback": ((str,), False)},
    "cancel": {"job_id": (_OPT_STR, False)},
    "shutdown": {},
}

LOG_LEVELS = ("debug", "info", "warning", "error")
CANCELLED_KIND = "Cancelled"


class ProtocolError(OT3DError):
    """A line that is not a valid message of this protocol version."""


def validate(msg: dict) -> dict:
    """Check type, required fields and field types; returns the message for chaining."""
    if not isinstance(msg, dict):
        raise ProtocolError(f"message must be a JSON object, got {type(msg).__name__}")
    kind = msg.get("type")
    spec = MESSAGE_FIELDS.get(kind)
    if spec is None:
        raise ProtocolError(f"unknown message type {kind!r}; known: {', '.join(MESSAGE_FIELDS)}")
    for name, (types, required) in spec.items():
        if name not in msg:
            if required:
                raise ProtocolError(f"{kind} message lacks required field {name!r}")
            continue
        value = msg[name]
        if isinstance(value, bool) and bool not in types:
            raise ProtocolError(f"{kind}.{name} must be {_names(types)}, got bool")
        if not isinstance(value, types):
            raise ProtocolError(f"{kind}.{name} must be {_names(types)}, got {type(value).__name__}")
    if kind == "progress":
        f = float(msg["fraction"])
        if not (math.isfinite(f) and 0.0 <= f <= 1.0):
            raise ProtocolError(f"progress.fraction must be within [0, 1], got {msg['fraction']!r}")
    if kind == "log" and msg["level"] not in LOG_LEVELS:
        raise ProtocolError(f"log.level must be one of {LOG_LEVELS}, got {msg['level']!r}")
    if kind in ("result",) and not all(isinstance(v, str) for v in msg["files"].values()):
        raise ProtocolError("result.files must map names to path strings")
    return msg


def _names(types) -> str:
    return " or ".join("null" if t is type(None) else t.__name__ for t in types)


def make(msg_type: str, /, **fields) -> dict:
    return validate({"type": msg_type, **fields})


def encode(msg: dict) -> str:
    """One validated message as a single JSON line (newline included)."""
    validate(msg)
    try:
        text = json.dumps(msg, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ProtocolError(f"{msg.get('type')} message is not JSON-serialisable: {exc}") from None
    return text + "\n"


def decode(line: str | bytes) -> dict:
    if isinstance(line, bytes):
        line = line.decode("utf-8", errors="replace")
    line = line.strip()
    if not line:
        raise ProtocolError("empty line")
    try:
        msg = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ProtocolError(f"not JSON ({exc}): {line[:200]!r}") from None
    return validate(msg)


def check_hello(msg: dict) -> dict:
    """Refuse an engine that speaks another protocol version."""
    if msg.get("type") != "hello":
        raise ProtocolError(f"expected a hello message first, got {msg.get('type')!r}")
    if msg["protocol"] != PROTOCOL_VERSION:
        raise ProtocolError(
            f"engine speaks protocol {msg['protocol']} but this side speaks {PROTOCOL_VERSION}; "
            "update the add-on and the engine together")
    return msg


# Constructors: the one place each message's fields are spelled.

def hello(engine_version: str, pid: int, jobs: list[str]) -> dict:
    return make("hello", protocol=PROTOCOL_VERSION, engine_version=engine_version, pid=pid, jobs=list(jobs))


def start(job_id: str, job: str, params: dict, job_dir: str) -> dict:
    return make("start", job_id=job_id, job=job, params=params, job_dir=str(job_dir))


def progress(job_id: str, stage: str, fraction: float, message: str = "") -> dict:
    """Clamped into [0, 1] (NaN -> 0): a sloppy fraction must not kill the job reporting it."""
    f = float(fraction)
    f = min(max(f, 0.0), 1.0) if math.isfinite(f) else 0.0
    return make("progress", job_id=job_id, stage=str(stage), fraction=f, message=str(message))


def log(level: str, message: str, job_id: str | None = None) -> dict:
    return make("log", job_id=job_id, level=level, message=message)


def result(job_id: str, files: dict, data: dict | None = None) -> dict:
    return make("result", job_id=job_id, files={k: str(v) for k, v in files.items()}, data=data or {})


def error(job_id: str | None, kind: str, message: str, traceback: str = "") -> dict:
    return make("error", job_id=job_id, kind=kind, message=message, traceback=traceback)


def cancel(job_id: str | None = None) -> dict:
    return make("cancel", job_id=job_id)


def shutdown() -> dict:
    return make("shutdown")
