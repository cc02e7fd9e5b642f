"""Outputs that are whole or absent: atomic files, atomic result folders, one writer per path.

Stdlib only (the add-on loads this module privately inside Blender, see addon/engine_link.py).

- atomic_path / write_text_atomic / write_bytes_atomic: one file, written beside the
  target, fsynced, renamed over it.
- result_folder(target): a whole folder built beside the target (`.NAME.new-*`), every file
  and directory fsynced, then swapped in. On Linux the swap is one renameat2(RENAME_EXCHANGE),
  so the path always names a complete folder, old or new; elsewhere the old folder is renamed
  aside (`.NAME.old-*`) and the new one renamed in, and the next writer (or reader, via
  `resolve_result`) recovers from a crash between the two renames. Nothing of an earlier run
  survives: the folder is replaced, not updated.
- output_lock(target): one writer per output path (flock on `.NAME.lock` beside it); a second
  writer fails at once with OutputBusy naming the holder's pid and host. Re-entrant within
  a process, so a command can hold it for the whole run and the writer take it again.

Files and folders are created with the usual modes (0666/0777 minus the umask), never 0600,
so other nodes of a shared file system can read them.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import json
import os
import secrets
import shutil
import socket
import threading
import time
from pathlib import Path

from ..errors import OT3DError

try:
    import fcntl
except ImportError:  # Windows: msvcrt's byte-range lock instead of flock
    fcntl = None
    import msvcrt

MARKER = ".ot3d-output"  # written into every result folder: it may be replaced by the next run
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


class OutputError(OT3DError, OSError):
    """The output path cannot be written (not a folder we may replace, no space, read-only...)."""


class OutputBusy(OutputError):
    """Another writer holds the output path's lock."""


# --- single files ------------------------------------------------------------------------

def _token() -> str:
    return secrets.token_hex(4)


def _create_empty(path: Path) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666)
    os.close(fd)


def fsync_path(path: str | Path) -> None:
    """fsync a file or a directory (a no-op where directories cannot be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) * os.path.isdir(path))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | Path, suffix: str | None = None):
    """Yield a temp path next to `path`; fsync and rename it over `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{_token()}{suffix or path.suffix + '.tmp'}")
    _create_empty(tmp)
    try:
        yield tmp
        fsync_path(tmp)
        os.replace(tmp, path)
        fsync_path(path.parent)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_text_atomic(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_bytes_atomic(path: str | Path, payload: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(payload)


# --- the lock ----------------------------------------------------------------------------

_HELD: dict[str, list] = {}  # lock path -> [fd, depth]
_HELD_GUARD = threading.Lock()


def lock_path(target: str | Path) -> Path:
    target = Path(target).absolute()
    return target.with_name(f".{target.name}.lock")


def _holder(path: Path) -> str:
    try:
        info = json.loads(path.read_text(encoding="utf-8") or "{}")
        return f"pid {info.get('pid', '?')} on {info.get('host', '?')}, since {info.get('since', '?')}"
    except (OSError, ValueError, AttributeError):
        return "a process that has not said who it is"


@contextlib.contextmanager
def output_lock(target: str | Path):
    """Hold the one-writer lock of `target` (fails at once with OutputBusy if another process has it)."""
    target = Path(target).absolute()
    path = lock_path(target)
    key = str(path)
    with _HELD_GUARD:
        held = _HELD.get(key)
        if held is not None:
            held[1] += 1
    if held is not None:
        try:
            yield target
        finally:
            with _HELD_GUARD:
                held[1] -= 1
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = _acquire(path, target)
    with _HELD_GUARD:
        _HELD[key] = [fd, 1]
    try:
        yield target
    finally:
        with _HELD_GUARD:
            del _HELD[key]
        with contextlib.suppress(OSError):
            os.unlink(path)  # unlink while still locked: a waiter re-checks the inode
        os.close(fd)


def _lock_nowait(fd: int) -> None:
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return
    try:
        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
    except OSError:
        raise BlockingIOError(errno.EAGAIN, "locked") from None


def _acquire(path: Path, target: Path) -> int:
    for _ in range(20):
        fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o666)
        try:
            _lock_nowait(fd)
        except BlockingIOError:
            os.close(fd)
            raise OutputBusy(f"{target}: another run is writing this output ({_holder(path)}); "
                             "wait for it to finish or choose another output") from None
        except OSError:
            os.close(fd)
            raise
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if not same:  # the previous holder unlinked it between our open and flock: retry
            os.close(fd)
            continue
        info = json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                           "since": time.strftime("%Y-%m-%dT%H:%M:%S")})
        os.ftruncate(fd, 0)
        os.write(fd, info.encode("utf-8"))
        return fd
    raise OutputBusy(f"{target}: the output lock keeps changing hands; try again")


# --- result folders ----------------------------------------------------------------------

def _siblings(target: Path, kind: str) -> list[Path]:
    prefix = f".{target.name}.{kind}-"
    try:
        return sorted((p for p in target.parent.iterdir() if p.name.startswith(prefix)),
                      key=lambda p: p.stat().st_mtime)
    except OSError:
        return []


def resolve_result(target: str | Path) -> Path:
    """Where a reader finds the complete result: the target, or the old folder a writer that
    died between its two renames left aside."""
    target = Path(target)
    if target.exists():
        return target
    old = _siblings(target.absolute(), "old")
    return old[-1] if old else target


def recover(target: str | Path) -> None:
    """Undo what a killed writer left (call while holding the lock): put an old folder back
    if the target is missing, remove staging folders and leftover old folders."""
    target = Path(target).absolute()
    olds = _siblings(target, "old")
    if olds and not target.exists():
        os.rename(olds.pop(), target)
    for p in olds + _siblings(target, "new"):
        shutil.rmtree(p, ignore_errors=True)


def replaceable(target: Path) -> bool:
    """True for a missing or empty folder, or one an OpenTrack3D writer made."""
    if not target.exists():
        return True
    if not target.is_dir():
        return False
    if (target / MARKER).is_file() or (target / "instances.json").is_file():
        return True
    return not any(target.iterdir())


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux renameat2); False where the system cannot."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError, TypeError):  # no such call (macOS, Windows, old glibc)
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def swap_in(stage: Path, target: Path) -> None:
    """Make the complete folder `stage` appear at `target` (the old one is removed)."""
    if not target.exists():
        os.rename(stage, target)
    elif _exchange(stage, target):
        shutil.rmtree(stage, ignore_errors=True)  # `stage` now names the old folder
    else:
        old = target.with_name(f".{target.name}.old-{_token()}")
        os.rename(target, old)
        os.rename(stage, target)
        shutil.rmtree(old, ignore_errors=True)
    fsync_path(target.parent)


def _fsync_tree(root: Path) -> None:
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            fsync_path(os.path.join(dirpath, name))
        fsync_path(dirpath)


def check_replaceable(target: Path) -> None:
    if target.exists() and not target.is_dir():
        raise OutputError(f"{target}: exists and is not a folder")
    if not replaceable(target):
        raise OutputError(f"{target}: folder exists, is not empty and is not an OpenTrack3D output "
                          f"(no {MARKER}); refusing to replace it: choose a new or empty folder")


@contextlib.contextmanager
def result_folder(target: str | Path, kind: str = "ot3d-output"):
    """Yield an empty staging folder; on success it replaces `target` whole, on error it is removed."""
    target = Path(target).absolute()
    with output_lock(target):
        recover(target)
        check_replaceable(target)
        stage = target.with_name(f".{target.name}.new-{_token()}")
        os.mkdir(stage, 0o777)
        try:
            yield stage
            marker = {"kind": kind, "pid": os.getpid(), "host": socket.gethostname(),
                      "written": time.strftime("%Y-%m-%dT%H:%M:%S")}
            (stage / MARKER).write_text(json.dumps(marker), encoding="utf-8")
            _fsync_tree(stage)
            swap_in(stage, target)
        except BaseException:
            shutil.rmtree(stage, ignore_errors=True)
            raise


def check_output(target: str | Path, need_bytes: int = 0) -> None:
    """Fail now, not after the run, if `target` cannot take a result: not a folder we may
    replace, not writable, or less free space than `need_bytes` (twice: old and new coexist)."""
    target = Path(target).absolute()
    check_replaceable(target)
    base = target.parent
    while not base.exists():
        if base.parent == base:
            break
        base = base.parent
    if not base.is_dir():
        raise OutputError(f"{target}: {base} is not a folder")
    probe = base / f".ot3d-probe-{_token()}"
    try:
        _create_empty(probe)
    except OSError as exc:
        raise OutputError(f"{target}: cannot write in {base} ({exc.strerror or exc})") from None
    probe.unlink(missing_ok=True)
    if need_bytes:
        free = shutil.disk_usage(base).free
        if free < need_bytes:
            raise OutputError(f"{target}: only {free / 2**20:.0f} MiB free on its disk, "
                              f"about {need_bytes / 2**20:.0f} MiB needed")
