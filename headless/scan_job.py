"""One scan, inside Blender (a child process of the batch): the add-on does every step.

import (ot3d.import_scan) -> segment (the add-on's segment_params + EngineJob: the engine
runs as its own subprocess) -> materialize (load_scene_folder + materialize, as the
Segment operator does) -> optional query (ot3d.query) -> export (write_export) -> save
the .blend -> report.json -> done.json -> publish. Everything is written into a staging
folder that is renamed into place only once sealed, so a kill at any point leaves no
half-written output behind.
"""

from __future__ import annotations

import collections
import json
import os
import shutil
import signal
import sys
import time
import tomllib
import traceback
from pathlib import Path

from .manifest import ScanSpec
from .outputs import REPORT, BatchFolder, publish, write_done, write_text_atomic
from .report import FAILED, INTERRUPTED, OK, ScanReport

REPO = Path(__file__).resolve().parents[1]
ADDON_MODULE = "addon"  # the checkout's add-on package (the extension zip holds the same code)


class StepFailed(Exception):
    """A step that did not work; `message` is what the user reads, `detail` the traceback."""

    def __init__(self, step: str, message: str, detail: str = ""):
        head, sep, tail = message.partition("\nTraceback (most recent call last)")
        message, detail = head.strip(), (detail or (sep.lstrip("\n") + tail if sep else "")).strip()
        super().__init__(f"{step}: {message}")
        self.step, self.message, self.detail = step, message, detail


class Terminated(BaseException):
    """SIGTERM/SIGINT from the batch driver: stop, cancel the engine, publish nothing."""


_STOP = {"signal": None}


def _on_signal(signum, frame):
    """Note the request and make the running engine job end (the worker treats SIGTERM as
    cancel); never raise here: the signal may land inside bpy's own start-up or an
    operator, which must not be torn apart. The scan stops at its next step boundary."""
    _STOP["signal"] = signum
    engine_job = sys.modules.get(f"{ADDON_MODULE}.engine_link.engine_job")
    for job in list(getattr(engine_job, "ACTIVE", {}).values()):
        proc = getattr(job.engine, "proc", None)
        if proc is not None and proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except (ProcessLookupError, PermissionError):
                pass


def _check_stop() -> None:
    if _STOP["signal"] is not None:
        raise Terminated(signal.Signals(_STOP["signal"]).name)


def load_addon():
    """A factory-fresh Blender with the add-on enabled the way Blender enables add-ons
    (so its preferences exist and say where the engine is and where jobs go)."""
    import addon_utils
    import bpy

    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.context.preferences.use_preferences_save = False  # never touch the user's settings

    def fail(exc):
        raise exc

    module = addon_utils.enable(ADDON_MODULE, default_set=True, handle_error=fail)
    if module is None:
        raise RuntimeError(f"the add-on in {REPO / ADDON_MODULE} could not be enabled")
    return module


def _operator_error(exc: RuntimeError) -> str:
    text = str(exc).strip()
    return text[len("Error: "):] if text.startswith("Error: ") else text


def _run_operator(step: str, op, **kwargs) -> None:
    try:
        result = op(**kwargs)
    except RuntimeError as exc:
        _check_stop()  # a stop request ends the engine job, and so the operator: not a failure
        raise StepFailed(step, _operator_error(exc)) from None
    _check_stop()
    if result != {"FINISHED"}:
        raise StepFailed(step, f"{op.idname_py()} ended with {sorted(result)}")


def _read_config(path: str) -> dict:
    p = Path(path)
    if not p.is_file():
        raise StepFailed("segment", f"{p}: config file not found")
    try:
        text = p.read_text()
        return tomllib.loads(text) if p.suffix.lower() == ".toml" else json.loads(text)
    except (OSError, ValueError) as exc:  # TOMLDecodeError and JSONDecodeError are ValueErrors
        raise StepFailed("segment", f"{p}: cannot parse config: {exc}") from None


class ScanAnnotation:
    def __init__(self, spec: ScanSpec, folder: BatchFolder, engine_python: str):
        self.spec, self.folder, self.engine_python = spec, folder, engine_python
        self.options = spec.options
        self.steps: dict[str, float] = {}
        self.details: dict = {"steps_s": self.steps}
        self.current = "setup"
        self._last_stage = None

    def step(self, name: str, fn, *args, **kwargs):
        """Run one step, timing it; any unexpected error becomes a StepFailed naming the step."""
        _check_stop()
        self.current = name
        print(f"[{self.spec.name}] {name}", flush=True)
        t0 = time.monotonic()
        try:
            return fn(*args, **kwargs)
        except (StepFailed, Terminated):
            raise
        except Exception as exc:
            _check_stop()
            raise StepFailed(name, f"{type(exc).__name__}: {exc}", traceback.format_exc()) from None
        finally:
            self.steps[name] = round(time.monotonic() - t0, 3)

    def run(self) -> ScanReport:
        t0 = time.monotonic()
        staging = jobs = None
        try:
            staging = self.folder.new_staging(self.spec.name)
            jobs = staging.with_name(staging.name + "-jobs")
            ext = self.step("setup", self._setup, jobs)
            import bpy

            scene = bpy.context.scene
            if self.options["import_cloud"]:
                self.step("import", _run_operator, "import", bpy.ops.ot3d.import_scan, filepath=self.spec.scan,
                          frustums=bool(self.options["frustums"]))
            outcome = self.step("segment", self._segment, ext, bpy.context)
            data, objects = self.step("materialize", self._materialize, ext, scene, outcome)
            if self.options["query"]:
                self.step("query", self._query, scene)
            self.step("export", self._export, ext, scene, staging / "labels")
            self.step("save", self._save, bpy, staging / f"{self.spec.name}.blend")
            preview = Path(outcome.files.get("preview", ""))
            if preview.name and preview.is_file():
                shutil.copyfile(preview, staging / "preview.png")
            self.details.update(labels=dict(collections.Counter(str(r["label"]) for r in data.instances)),
                                options=self.options, fingerprint=self.spec.fingerprint(),
                                blender=bpy.app.version_string, engine_python=self.engine_python)
            report = ScanReport(
                name=self.spec.name, scan=self.spec.scan, status=OK, instances=len(objects), points=len(data.points),
                seconds=round(time.monotonic() - t0, 3), output=str(self.folder.scan_dir(self.spec.name)),
                log=str(self.folder.log(self.spec.name)), details=self.details)
            write_text_atomic(staging / REPORT, json.dumps(report.to_dict(), indent=1))
            _check_stop()
            self.current = "publish"
            write_done(staging, self.spec.name, self.spec.scan, self.spec.fingerprint())
            _check_stop()
            publish(staging, self.folder.scan_dir(self.spec.name), self.folder.work)
            return report
        finally:
            for d in (staging, jobs):
                if d is not None and d.exists():
                    shutil.rmtree(d, ignore_errors=True)

    # -- steps ---------------------------------------------------------------------------
    def _setup(self, jobs: Path):
        import bpy

        ext = load_addon()
        self._configure(ext, bpy.context, jobs)
        return ext

    def _configure(self, ext, context, jobs: Path) -> None:
        prefs = context.preferences.addons[ADDON_MODULE].preferences
        prefs.engine_python = self.engine_python
        prefs.jobs_folder = str(jobs)
        s, o = context.scene.ot3d, self.options
        s.scan_path = self.spec.scan
        try:
            s.layout = o["layout"] or "AUTO"
        except TypeError:
            choices = [i.identifier for i in s.bl_rna.properties["layout"].enum_items if i.identifier != "AUTO"]
            raise StepFailed("setup", f"unknown layout {o['layout']!r} (one of: {', '.join(choices)})") from None
        s.frame_stride, s.max_frames = int(o["stride"]), int(o["max_frames"])
        s.vocabulary = ", ".join(o["vocabulary"])
        s.segmenter, s.features = o["segmenter"], o["features"]
        s.classifier = o["classifier"] or ext.engine_link.backends.NO_LABELS
        s.mesh_path, s.superpoints = o["mesh"], bool(o["superpoints"])
        s.import_frustums = bool(o["frustums"])
        ext.engine_link.engine_job.PROGRESS_LISTENERS.append(self._progress)

    def _progress(self, job, stage, fraction, message) -> None:
        if stage != self._last_stage:
            self._last_stage = stage
            print(f"[{self.spec.name}] {job.job}: {stage} {message}", flush=True)

    def _segment(self, ext, context):
        """The Segment operator's job (same params from the same settings), plus a config file."""
        params = ext.operators.segment_ops.segment_params(context.scene.ot3d)
        if self.options["config"]:
            params["config"] = _read_config(self.options["config"])
        prefs, engine_job = ext.ui.preferences, ext.engine_link.engine_job
        job = engine_job.EngineJob(prefs.engine_python(context), "segment", params, prefs.jobs_root(context),
                                   engine_path=prefs.engine_source(context)).start()
        outcome = job.wait()
        _check_stop()
        if not outcome.ok:
            raise StepFailed("segment", outcome.report_text() or outcome.status)
        self.details["engine"] = outcome.data
        return outcome

    def _materialize(self, ext, scene, outcome):
        scene_dir = Path(outcome.files["instances"]).parent
        data = ext.scene.materialize.load_scene_folder(scene_dir)
        _, objects = ext.scene.materialize.materialize(scene, data)
        doc = json.loads((scene_dir / "instances.json").read_text())
        self.details.update(engine_timings_s=doc.get("timings", {}), engine_config=doc.get("config", {}))
        return data, objects

    def _query(self, scene) -> None:
        import bpy

        s = scene.ot3d
        s.query_text = self.options["query"]
        s.query_top_k = int(self.options["query_top_k"])
        s.query_verify = bool(self.options["query_verify"])
        _run_operator("query", bpy.ops.ot3d.query)
        self.details["query"] = {"text": s.query_text, "matches": [
            {"id": m.instance_id, "label": m.label, "score": round(m.score, 4), "reason": m.reason}
            for m in s.query_matches]}

    def _export(self, ext, scene, target: Path) -> None:
        """The Export operator's writer, on the scene as it is now (what the .blend holds)."""
        ext.scene.export.write_export(ext.scene.segmentation.snapshot(scene), target, self.spec.name)

    def _save(self, bpy, target: Path) -> None:
        tmp = target.with_name(f".{target.stem}.partial.blend")
        bpy.ops.wm.save_as_mainfile(filepath=str(tmp), check_existing=False, copy=True)
        os.replace(tmp, target)


def _cancel_engine_jobs() -> None:
    engine_job = sys.modules.get(f"{ADDON_MODULE}.engine_link.engine_job")
    if engine_job is None:
        return
    for job in list(engine_job.ACTIVE.values()):
        job.cancel()
        job.wait(timeout=10)


def _kill_engine_groups() -> None:
    """The engine workers run in their own process groups: SIGKILL those groups."""
    engine_job = sys.modules.get(f"{ADDON_MODULE}.engine_link.engine_job")
    for job in list(getattr(engine_job, "ACTIVE", {}).values()):
        proc = getattr(job.engine, "proc", None)
        if proc is not None and proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


def _exit_with_driver() -> None:
    """The batch driver died (even by kill -9): end the engine and this scan's process group."""
    from addon.engine_link.source import engine_module

    engine_module("parent_watch").exit_with_parent(before=_kill_engine_groups)


def run_child(spec_file: str | Path) -> int:
    """The child's whole life: read its job, annotate, leave a result file for the driver."""
    job = json.loads(Path(spec_file).read_text())
    spec = ScanSpec.from_dict(job["spec"])
    folder = BatchFolder(job["out"])
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _on_signal)
    _exit_with_driver()
    work = ScanAnnotation(spec, folder, job["engine_python"])
    base = dict(name=spec.name, scan=spec.scan, log=str(folder.log(spec.name)))
    t0 = time.monotonic()
    try:
        report = work.run()
    except StepFailed as exc:
        print(f"[{spec.name}] FAILED in {exc.step}: {exc.message}\n{exc.detail}", flush=True)
        if exc.detail:
            work.details["traceback"] = exc.detail
        report = ScanReport(status=FAILED, step=exc.step, message=exc.message, details=work.details, **base)
    except Terminated:
        report = None
    except Exception as exc:  # a bug of ours: still a report, never a silent death
        traceback.print_exc()
        report = ScanReport(status=FAILED, step=work.current, message=f"{type(exc).__name__}: {exc}",
                            details=work.details, **base)
    if _STOP["signal"] is not None and (report is None or report.status != OK):
        _cancel_engine_jobs()
        report = ScanReport(status=INTERRUPTED, step=work.current,
                            message=f"stopped by {signal.Signals(_STOP['signal']).name}", details=work.details,
                            **base)
    report.seconds = round(time.monotonic() - t0, 3)
    write_text_atomic(job["result"], json.dumps(report.to_dict(), indent=1))
    print(f"[{spec.name}] {report.status} in {report.seconds:.1f} s", flush=True)
    return {OK: 0, INTERRUPTED: 143}.get(report.status, 1)
