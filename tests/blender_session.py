"""A whole user session in a fresh Blender-like process, as a subprocess of the add-on tests.

    python tests/blender_session.py ZIP SCAN OUT.json [--frames N] [--block PIL,scipy]
                                    [--query-python PYTHON]

Installs the extension zip the way a user does (Extensions > Install from Disk) into
throw-away Blender user folders, with no preference set, then: import the scan, Segment,
every correction (relabel, merge, split, move points, delete), export, re-import the
export, query (only with --query-python: it needs the neural tier), save and reopen.
Writes what it saw to OUT.json: the step results, which heavy modules Blender's process
imported, and every file in the install folder that appeared or changed.

--block makes modules unimportable in this process (the extension's wheels are on
sys.path once installed, so only blocking shows that Blender itself never needs them).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.abc
import json
import os
import sys
import tempfile
import time
from pathlib import Path

HEAVY = ("torch", "transformers", "open3d", "scipy", "PIL")
EXT_MODULE = "bl_ext.user_default.opentrack3d"


class Block(importlib.abc.MetaPathFinder):
    def __init__(self, names):
        self.names = set(names)

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in self.names:
            raise ImportError(f"No module named {name!r} (blocked by the test)")
        return None


def written(zip_path: str, folder: Path) -> list[str]:
    """Files in the install folder that the zip did not hold, or that differ from it."""
    import zipfile

    with zipfile.ZipFile(zip_path) as z:
        shipped = {i.filename: i.file_size for i in z.infolist() if not i.is_dir()}
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")
                  if p.is_file() and shipped.get(str(p.relative_to(folder)).replace(os.sep, "/")) != p.stat().st_size)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("zip")
    ap.add_argument("scan")
    ap.add_argument("out")
    ap.add_argument("--frames", type=int, default=0)
    ap.add_argument("--block", default="")
    ap.add_argument("--query-python", default="")
    args = ap.parse_args()
    blocked = [n for n in args.block.split(",") if n]
    if blocked:
        for name in blocked:
            sys.modules.pop(name, None)
        sys.meta_path.insert(0, Block(blocked))
    tmp = Path(tempfile.mkdtemp(prefix="ot3d-session-"))
    for var in ("BLENDER_USER_CONFIG", "BLENDER_USER_SCRIPTS", "BLENDER_USER_EXTENSIONS", "BLENDER_USER_DATAFILES"):
        os.environ[var] = str(tmp / var.lower())
    os.environ.pop("OT3D_ENGINE_PYTHON", None)
    report: dict = {"steps": {}, "blocked": blocked}

    import bpy
    import addon_utils  # noqa: I001  (importable once bpy is)
    import numpy as np

    report["bpy"] = bpy.app.version_string
    assert bpy.ops.extensions.package_install_files(filepath=args.zip, repo="user_default",
                                                    enable_on_install=True) == {"FINISHED"}
    ext = importlib.import_module(EXT_MODULE)
    install = Path(ext.__file__).parent
    bpy.ops.wm.read_factory_settings(use_empty=True)
    addon_utils.enable(EXT_MODULE, default_set=True)
    prefs = bpy.context.preferences.addons[EXT_MODULE].preferences
    tier = ext.ui.preferences.active_tier()
    report["tier"] = tier.name
    report["engine_python"] = tier.python
    scene = bpy.context.scene
    s = scene.ot3d
    steps = report["steps"]

    def attr(obj, name):
        a = obj.data.attributes[name]
        out = np.empty(len(a.data), dtype=np.int32)
        a.data.foreach_get("value", out)
        return out

    def instances():
        return sorted(bpy.data.collections["Instances"].objects, key=lambda o: -o["point_count"])

    def select(*objs, active=None):
        for o in bpy.context.scene.objects:
            o.select_set(False)
        for o in objs:
            o.select_set(True)
        bpy.context.view_layer.objects.active = active or objs[0]

    def step(name, fn):
        t0 = time.perf_counter()
        result = fn()
        steps[name] = {"result": sorted(result) if isinstance(result, set) else result,
                       "seconds": round(time.perf_counter() - t0, 3)}
        return result

    if args.frames:
        s.max_frames = args.frames
    step("import_scan", lambda: bpy.ops.ot3d.import_scan(directory=args.scan))
    s.scan_path = args.scan
    step("segment", lambda: bpy.ops.ot3d.segment())
    report["instances_after_segment"] = len(instances())
    report["points"] = len(s.scene_object.data.vertices)
    report["status"] = s.status

    objs = instances()
    if len(objs) >= 4:
        select(objs[0])
        s.new_label = "armchair"
        step("relabel", lambda: bpy.ops.ot3d.relabel())
        a, b = instances()[1:3]
        select(a, b, active=b)
        step("merge", lambda: bpy.ops.ot3d.merge())
        src = instances()[0]
        mask = np.zeros(len(src.data.vertices), bool)
        mask[: len(mask) // 3] = True
        src.data.vertices.foreach_set("select", mask)
        src.data.update()
        select(src)
        step("split", lambda: bpy.ops.ot3d.split())
        src, dst = instances()[0], instances()[1]
        mask = np.zeros(len(src.data.vertices), bool)
        mask[:5] = True
        src.data.vertices.foreach_set("select", mask)
        src.data.update()
        select(src)
        step("move_points", lambda: bpy.ops.ot3d.move_points(target=int(dst["instance_id"])))
        select(instances()[-1])
        step("delete", lambda: bpy.ops.ot3d.delete())
    want = {int(o["instance_id"]): (o["label"], int(o["point_count"])) for o in instances()}
    ids = attr(s.scene_object, "instance_id").copy()

    export_dir = tmp / "export"
    step("export", lambda: bpy.ops.ot3d.export(directory=str(export_dir)))
    bpy.ops.wm.read_factory_settings(use_empty=True)
    addon_utils.enable(EXT_MODULE, default_set=True)
    s = bpy.context.scene.ot3d
    step("reimport", lambda: bpy.ops.ot3d.import_result(filepath=str(export_dir)))
    got = {int(o["instance_id"]): (o["label"], int(o["point_count"])) for o in instances()}
    report["reimport_same"] = got == want and bool(np.array_equal(attr(s.scene_object, "instance_id"), ids))

    if args.query_python:
        prefs = bpy.context.preferences.addons[EXT_MODULE].preferences
        prefs.engine_python = args.query_python  # the neural tier: the text encoder needs torch
        s.query_text, s.query_verify = "armchair", False
        try:
            step("query", lambda: bpy.ops.ot3d.query())
            report["query_matches"] = [m.label for m in s.query_matches]
        finally:
            prefs.engine_python = ""

    blend = tmp / "session.blend"
    step("save", lambda: bpy.ops.wm.save_as_mainfile(filepath=str(blend)))
    step("reopen", lambda: bpy.ops.wm.open_mainfile(filepath=str(blend)))
    reopened = {int(o["instance_id"]): (o["label"], int(o["point_count"])) for o in instances()}
    report["reopen_same"] = reopened == want

    report["heavy_modules"] = sorted(m for m in HEAVY if m in sys.modules)
    report["install_folder_written"] = written(args.zip, install)
    report["install_folder"] = str(install)
    Path(args.out).write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
