"""Command-line arguments of the batch, and turning them into ScanSpecs and BatchSettings."""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
from pathlib import Path

from ot3d_engine.errors import ConfigError

from .batch import BatchSettings
from .isolation import ChildCommand
from .manifest import OPTIONS, build_specs, read_manifest, scan_entries

REPO = Path(__file__).resolve().parents[1]
ENGINE_PYTHON_ENV = "OT3D_ENGINE_PYTHON"  # the add-on's own override (addon/ui/preferences.py)

DESCRIPTION = """\
Annotate RGB-D scans unattended with the OpenTrack3D Blender add-on: per scan, import the
cloud, segment it (engine subprocess), materialize the instances, optionally run a query,
save a .blend, export the labels (ScanNet files + scene folder) and write report.json;
done.json is written last. Each scan runs in its own process, so a bad or crashing scan is
reported and the batch goes on; the exit code is 1 if any scan failed."""

EPILOG = """\
examples:
  blender -b --python headless/annotate.py -- scans/* --out annotated --workers 2
  python -m headless --manifest batch.csv --out annotated --resume
  python -m headless --manifest batch.json --out annotated --ray local
  python -m headless scans/* --out annotated --ray ray://head:10001 --gpus-per-scan 1

manifest: CSV with a 'scan' column (plus optional 'name' and option columns, e.g.
  scan,name,stride,vocabulary,query), or JSON: a list of paths/objects, or
  {"defaults": {...}, "scans": [...]}. Options: %s.
  Precedence: built-in default < command line < manifest defaults < manifest row.
""" % ", ".join(OPTIONS)


def _cli_flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def build_parser() -> argparse.ArgumentParser:
    from ot3d_engine.cli import Parser  # one-line usage errors, as `ot3d` gives
    from ot3d_engine.config_checks import argument_type

    p = Parser(prog="headless/annotate.py", description=DESCRIPTION, epilog=EPILOG,
               formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("scans", nargs="*", metavar="SCAN", help="scan folders (or .pcd files)")
    p.add_argument("--manifest", action="append", default=[], metavar="FILE",
                   help="CSV/JSON list of scans with per-scan options (repeatable)")
    p.add_argument("--out", help="output folder: one sub-folder per scan, logs/, batch_report.json")
    p.add_argument("--resume", action="store_true",
                   help="skip scans whose outputs are complete and valid (done.json sizes and hashes match)")
    p.add_argument("--workers", type=argument_type("batch.workers"), default=None, metavar="N",
                   help="scans run at once on this machine (default 1; with --ray local: the CPUs Ray uses)")
    p.add_argument("--ray", metavar="ADDRESS",
                   help="run one Ray task per scan: 'local' starts a local Ray cluster, else a cluster address")
    p.add_argument("--gpus-per-scan", type=argument_type("batch.gpus"), dest="gpus", metavar="G",
                   help="GPUs each Ray task requests (default 0)")
    p.add_argument("--cpus-per-scan", type=argument_type("batch.cpus"), dest="cpus", metavar="C",
                   help="CPUs each Ray task requests (default 1)")
    p.add_argument("--blender", metavar="PATH",
                   help="run each scan with this Blender binary (blender -b) instead of this Python's bpy module")
    p.add_argument("--engine-python", metavar="PATH",
                   help=f"Python that runs the engine (default: ${ENGINE_PYTHON_ENV}, this Python, or .venv)")
    g = p.add_argument_group("per-scan defaults (a manifest can set each per scan)")
    for name, option in OPTIONS.items():
        if name in ("gpus", "cpus"):
            continue
        if isinstance(option.default, bool):
            g.add_argument(_cli_flag(name), dest=name, action=argparse.BooleanOptionalAction, default=None,
                           help=f"{option.help} (default: {'on' if option.default else 'off'})")
        else:
            g.add_argument(_cli_flag(name), dest=name, default=None, metavar=name.upper(),
                           help=f"{option.help} (default: {option.default!r})")
    p.add_argument("--one", metavar="JOB", help=argparse.SUPPRESS)  # internal: the child process of one scan
    return p


def cli_defaults(args: argparse.Namespace) -> dict:
    from .manifest import parse_options

    raw = {name: getattr(args, name) for name in OPTIONS if getattr(args, name, None) is not None}
    return parse_options(raw, Path.cwd(), None, "command line: ")


def in_blender_binary() -> bool:
    bpy = sys.modules.get("bpy")
    return bool(bpy is not None and getattr(getattr(bpy, "app", None), "binary_path", ""))


def engine_python(args: argparse.Namespace) -> str:
    """The add-on's own rule (preferences, then $OT3D_ENGINE_PYTHON), then a sensible default."""
    if args.engine_python:
        return str(Path(args.engine_python).expanduser().absolute())
    if os.environ.get(ENGINE_PYTHON_ENV):
        return os.environ[ENGINE_PYTHON_ENV]
    if not in_blender_binary():
        return sys.executable
    venv = REPO / ".venv" / "bin" / "python"
    if venv.is_file():
        return str(venv)
    raise ConfigError("no engine Python: Blender's own Python lacks the engine's packages; pass --engine-python "
                      f"or set ${ENGINE_PYTHON_ENV}")


def child_command(args: argparse.Namespace) -> ChildCommand:
    if args.blender:
        blender = Path(args.blender).expanduser()
        if not blender.is_file():
            raise ConfigError(f"{blender}: Blender binary not found")
        return ChildCommand(blender=str(blender.absolute()))
    if in_blender_binary():
        import bpy

        return ChildCommand(blender=bpy.app.binary_path)
    if importlib.util.find_spec("bpy") is None:
        raise ConfigError(f"{sys.executable} has no bpy module: pip install bpy==5.0.1, or pass --blender PATH "
                          "(or run this script with blender -b --python)")
    return ChildCommand(python=sys.executable)


def specs_and_settings(args: argparse.Namespace):
    if not args.out:
        raise ConfigError("--out is required")
    if not args.scans and not args.manifest:
        raise ConfigError("no scans: give scan folders and/or --manifest FILE")
    if args.workers is not None and args.workers < 1:
        raise ConfigError(f"--workers must be at least 1 (got {args.workers})")
    entries = scan_entries(args.scans)
    for manifest in args.manifest:
        entries += read_manifest(manifest)
    defaults = cli_defaults(args)
    for name in ("gpus", "cpus"):
        value = getattr(args, name)
        if value is not None:
            if value < 0:
                raise ConfigError(f"--{name}-per-scan must be >= 0 (got {value:g})")
            defaults[name] = value
    specs = build_specs(entries, defaults)
    settings = BatchSettings(out=str(Path(args.out).expanduser().absolute()), engine_python=engine_python(args),
                             command=child_command(args), workers=args.workers or (0 if args.ray else 1),
                             resume=args.resume, ray=args.ray)
    return specs, settings
