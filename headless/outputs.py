"""The batch output folder, and what makes a scan's outputs "done".

    OUT/<name>/            published only when complete (a staging folder renamed into place)
        <name>.blend       the annotated scene
        labels/            the add-on's export (scene folder + ScanNet files)
        preview.png        the engine's preview of the instances
        report.json        what happened to the scan
        done.json          written last: size and sha256 of every file above
    OUT/logs/<name>.log    the scan's child process output
    OUT/run_log.jsonl      one line per batch/scan event, appended across runs
    OUT/batch_report.json  the last run's reports and totals
    OUT/.work/             staging folders, spec/result files, the batch lock

A killed run leaves at worst a staging folder under .work/ (removed by the next run) or an
old complete folder; --resume trusts a folder only when done.json's sizes and hashes match.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import time
import uuid
from pathlib import Path

from addon.engine_link.source import engine_module
from ot3d_engine.errors import ScanError

# The engine's atomic writer, loaded the add-on's way: without ot3d_engine.io's package
# imports (PIL...), which Blender's own Python does not have.
_atomic = engine_module("io.atomic")
write_text_atomic = _atomic.write_text_atomic

DONE = "done.json"
REPORT = "report.json"
DONE_FORMAT = "ot3d-headless-done"
DONE_VERSION = 1
WORK = ".work"
LOGS = "logs"


def required_files(name: str) -> list[str]:
    return [f"{name}.blend", REPORT, "labels/instances.json", "labels/points.npz", f"labels/{name}.txt"]


class BatchFolder:
    """Paths inside OUT, in one place."""

    def __init__(self, root: str | Path):
        self.root = Path(root).absolute()

    def scan_dir(self, name: str) -> Path:
        return self.root / name

    @property
    def work(self) -> Path:
        return self.root / WORK

    def log(self, name: str) -> Path:
        return self.root / LOGS / f"{name}.log"

    def spec_file(self, name: str) -> Path:
        return self.work / f"{name}.spec.json"

    def result_file(self, name: str) -> Path:
        return self.work / f"{name}.result.json"

    def new_staging(self, name: str) -> Path:
        path = self.work / f"stage-{name}-{uuid.uuid4().hex[:8]}"
        path.mkdir(parents=True)
        return path

    @property
    def run_log(self) -> Path:
        return self.root / "run_log.jsonl"

    @property
    def batch_report(self) -> Path:
        return self.root / "batch_report.json"

    def prepare(self) -> None:
        for d in (self.root, self.work, self.root / LOGS):
            d.mkdir(parents=True, exist_ok=True)

    def clean_work(self) -> None:
        """Drop what killed runs left in .work/ (call only while holding the batch lock)."""
        for entry in self.work.iterdir():
            if entry.name == "lock":
                continue
            if entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)

    @contextlib.contextmanager
    def lock(self):
        """One batch per output folder at a time: a second one would fight over .work/."""
        self.prepare()
        handle = open(self.work / "lock", "w")
        try:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise ScanError(self.root, "another batch is writing into this folder (.work/lock is held)") from None
            yield self
        finally:
            handle.close()

    def log_event(self, event: str, **fields) -> None:
        line = json.dumps({"time": time.strftime("%Y-%m-%dT%H:%M:%S"), "pid": os.getpid(), "event": event, **fields})
        with open(self.run_log, "a", encoding="utf-8") as f:
            f.write(line + "\n")
            f.flush()


def file_digest(path: Path) -> tuple[int, str]:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return path.stat().st_size, h.hexdigest()


def write_done(folder: Path, name: str, scan: str, fingerprint: str) -> dict:
    """Seal a finished staging folder: every file's size and hash, written last."""
    folder = Path(folder)
    files = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.name != DONE):
        size, digest = file_digest(path)
        files[path.relative_to(folder).as_posix()] = {"size": size, "sha256": digest}
    missing = [f for f in required_files(name) if f not in files]
    if missing:
        raise ScanError(folder, f"outputs incomplete, missing: {', '.join(missing)}")
    doc = {"format": DONE_FORMAT, "version": DONE_VERSION, "name": name, "scan": scan,
           "fingerprint": fingerprint, "finished": time.strftime("%Y-%m-%dT%H:%M:%S"), "files": files}
    write_text_atomic(folder / DONE, json.dumps(doc, indent=1))
    return doc


def check_done(folder: Path, name: str, fingerprint: str | None = None, content: bool = True) -> str | None:
    """None when the folder is complete and intact, else why it is not (for --resume).
    content=False skips re-hashing: for a folder its child sealed (hashed) moments ago."""
    folder = Path(folder)
    marker = folder / DONE
    if not marker.is_file():
        return "no outputs" if not folder.exists() else "not finished (no done.json)"
    try:
        doc = json.loads(marker.read_text())
        files = doc["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return "done.json is unreadable"
    if doc.get("format") != DONE_FORMAT or doc.get("name") != name:
        return "done.json belongs to something else"
    if fingerprint is not None and doc.get("fingerprint") != fingerprint:
        return "scan or options changed since it was done"
    missing = [f for f in required_files(name) if f not in files]
    if missing:
        return f"done.json does not list {missing[0]}"
    for rel, want in files.items():
        path = folder / rel
        if not path.is_file():
            return f"{rel} is missing"
        if path.stat().st_size != want.get("size"):
            return f"{rel} changed size"
        if content and file_digest(path)[1] != want.get("sha256"):
            return f"{rel} changed content"
    return None


def publish(staging: Path, final: Path, work: Path) -> None:
    """Put a sealed staging folder in place of `final` in one atomic swap where the system
    has one (the engine's io.atomic.swap_in), the old folder then removed."""
    _atomic.recover(final)
    _atomic.swap_in(Path(staging), Path(final))
