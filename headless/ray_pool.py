"""`--ray ADDRESS` / `--ray local`: one Ray task per scan, with its CPU/GPU request.

Each task runs the same isolated scan process as the local workers (isolation.run_scan),
so Ray only schedules: a scan that crashes Blender fails its own task's report, never the
Ray worker. On a real cluster every node needs this checkout, the scans and OUT at the
same paths (a shared file system), and a Python with bpy (or `--blender` on each node).
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

from ot3d_engine.errors import ConfigError

from .isolation import STOP_GRACE_S, ChildCommand, run_scan
from .manifest import ScanSpec
from .outputs import BatchFolder
from .report import FAILED, INTERRUPTED, ScanReport

REPO = Path(__file__).resolve().parents[1]


def import_ray():
    try:
        import ray
    except ImportError as exc:
        raise ConfigError(f"--ray needs the ray package in {sys.executable} ({exc}): pip install 'ray==2.60.*', "
                          "or run the batch with a Python that has it (`python -m headless ... --blender PATH`)"
                          ) from None
    return ray


def _connect(ray, address: str, workers: int) -> None:
    path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    runtime_env = {"env_vars": {"PYTHONPATH": path}}
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    if address == "local":
        ray.init(address="local", num_cpus=workers or None, include_dashboard=False, log_to_driver=False,
                 runtime_env=runtime_env)
    else:
        ray.init(address=address, log_to_driver=False, runtime_env=runtime_env)
    for sig, handler in handlers.items():  # ray.init installs its own: the batch stops its scans itself
        signal.signal(sig, handler)


def _check_resources(ray, specs: list[ScanSpec]) -> None:
    """A request no node can meet would wait forever: say so instead."""
    have = ray.cluster_resources()
    for key, option in (("CPU", "cpus"), ("GPU", "gpus")):
        need = max(float(s.options[option]) for s in specs)
        if need > have.get(key, 0.0):
            raise ConfigError(f"scans ask for {need:g} {key}(s) per task but the Ray cluster has "
                              f"{have.get(key, 0.0):g}")


def run_ray(specs: list[ScanSpec], folder: BatchFolder, command: ChildCommand, engine_python: str,
            address: str, workers: int, on_start, on_done) -> None:
    if not specs:
        return
    ray = import_ray()
    _connect(ray, address, workers)
    try:
        _check_resources(ray, specs)
        task = ray.remote(run_scan)
        refs = {}
        for spec in specs:
            job = {"spec": spec.to_dict(), "out": str(folder.root), "command": command.to_dict(),
                   "engine_python": engine_python}
            ref = task.options(num_cpus=float(spec.options["cpus"]), num_gpus=float(spec.options["gpus"]),
                               name=f"ot3d-scan:{spec.name}").remote(job)
            refs[ref] = spec
            on_start(spec)
        try:
            while refs:
                ready, _ = ray.wait(list(refs), num_returns=1, timeout=0.5)
                for ref in ready:
                    on_done(_result(ray, ref, refs.pop(ref)))
        except BaseException:
            for ref in refs:
                ray.cancel(ref)  # the task sees KeyboardInterrupt and stops its scan cleanly
            deadline = time.monotonic() + STOP_GRACE_S + 5
            for ref, spec in refs.items():
                on_done(_result(ray, ref, spec, timeout=max(deadline - time.monotonic(), 0.1)))
            raise
    finally:
        ray.shutdown()


def _result(ray, ref, spec: ScanSpec, timeout: float | None = None) -> ScanReport:
    try:
        return ScanReport.from_dict(ray.get(ref, timeout=timeout))
    except ray.exceptions.TaskCancelledError:
        return ScanReport(name=spec.name, scan=spec.scan, status=INTERRUPTED, message="Ray task cancelled")
    except ray.exceptions.GetTimeoutError:
        return ScanReport(name=spec.name, scan=spec.scan, status=INTERRUPTED, message="did not stop in time")
    except ray.exceptions.RayError as exc:
        return ScanReport(name=spec.name, scan=spec.scan, status=FAILED, step="ray",
                          message=f"Ray task failed: {str(exc).strip().splitlines()[0] if str(exc).strip() else exc}")
