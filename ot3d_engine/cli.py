"""`ot3d` command line: one function per subcommand, registered in COMMANDS.

To add a command, write `_<name>_arguments(parser)` and decorate its run function:

    @command("segment", "segment a scan into 3D instances", _segment_arguments)
    def run_segment(args) -> int: ...

or, for a module exposing add_arguments(parser) and run(args) (ot3d_engine/commands/*):

    command_module("segment", "segment a scan into 3D instances", "ot3d_engine.commands.segment")

Heavy imports stay inside the run functions so `ot3d --help` is instant.

Errors: every expected failure (an OT3DError, a file-system error, a bad option) is one
line `error: <file or option>: <problem>` and exit status 2; `--debug` (anywhere on the
command line, or OT3D_DEBUG=1) adds the traceback. Anything else is a bug: one line saying
"internal error" and where the full traceback was written (exit status 1). A closed stdout
(`ot3d ... | head`) ends the command quietly.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from . import __version__
from .config_checks import argument_type
from .errors import OT3DError

EXIT_ERROR, EXIT_INTERNAL = 2, 1


@dataclass(frozen=True)
class Command:
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


COMMANDS: dict[str, Command] = {}


def command(name: str, help: str, add_arguments: Callable[[argparse.ArgumentParser], None]):
    def deco(run: Callable[[argparse.Namespace], int]):
        COMMANDS[name] = Command(help, add_arguments, run)
        return run

    return deco


def command_module(name: str, help: str, module: str) -> None:
    """Register a command implemented by a module's add_arguments(parser) and run(args)."""
    COMMANDS[name] = Command(help, lambda p: importlib.import_module(module).add_arguments(p),
                             lambda args: importlib.import_module(module).run(args))


# --- synth -------------------------------------------------------------------------------

def _synth_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seed", type=int, required=True, help="scene seed (same seed, same scene)")
    p.add_argument("--out", required=True, help="output scan folder (ScanNet export layout)")
    p.add_argument("--frames", type=argument_type("synth.frames"), default=30,
                   help="number of frames along the camera path")
    p.add_argument("--width", type=argument_type("synth.width"), default=640)
    p.add_argument("--height", type=argument_type("synth.height"), default=480)
    p.add_argument("--depth-noise", type=argument_type("synth.depth_noise"), default=0.0,
                   help="depth noise std in metres at 1 m (grows with distance squared)")


@command("synth", "render a synthetic RGB-D room with instance ground truth", _synth_arguments)
def run_synth(args: argparse.Namespace) -> int:
    from .synth import generate_scene

    path = generate_scene(args.out, args.seed, frames=args.frames, width=args.width, height=args.height,
                          depth_noise=args.depth_noise)
    print(path)
    return 0


# --- eval --------------------------------------------------------------------------------

def _eval_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--pred", required=True, help="scene output folder (points.npz + instances.json)")
    p.add_argument("--gt", required=True,
                   help="scan folder with gt_points.npz + gt_classes.json, or a labelled .pcd (mOSD labels)")
    p.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    p.add_argument("--radius", type=argument_type("eval.radius"), default=0.05,
                   help="max distance (m) for moving predicted ids onto GT points")
    p.add_argument("--per-class", action="store_true", help="match predicted labels to GT class names")
    p.add_argument("--min-region-size", type=argument_type("eval.min_region_size"), default=100, help="GT instances with fewer points are ignored")


@command("eval", "ScanNet-protocol instance AP of a scene output against ground truth", _eval_arguments)
def run_eval(args: argparse.Namespace) -> int:
    from .eval import evaluate, format_table, load_ground_truth, load_prediction

    from .eval.scene_match import scene_mismatch

    gt = load_ground_truth(args.gt)
    pred = load_prediction(args.pred)
    warning = scene_mismatch(gt.points, pred.points, args.radius, args.pred, args.gt)
    if warning:
        print(f"warning: {warning}", file=sys.stderr)
    result = evaluate(gt, pred.points, pred.instance_ids, pred.scores, pred.labels,
                      class_agnostic=not args.per_class, radius=args.radius,
                      min_region_size=args.min_region_size)
    print(json.dumps(result.to_dict()) if args.json else format_table(result))
    return 0


command_module("segment", "segment a scan into 3D instances (fused cloud, instances.json, PLY, preview)",
               "ot3d_engine.commands.segment")
command_module("query", "rank a segmented scene's instances for a free-text query (shortlist + MLLM check)",
               "ot3d_engine.query.command")
command_module("worker", "serve jobs for the Blender add-on over the JSON-lines protocol (stdin/stdout)",
               "ot3d_engine.worker")


# --- entry point -------------------------------------------------------------------------

class Parser(argparse.ArgumentParser):
    """argparse with one-line errors: `error: --stride: 0 is out of range (must be >= 1)`."""

    def error(self, message: str):
        if message.startswith("argument "):
            message = message[len("argument "):]
        self.exit(EXIT_ERROR, f"error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="ot3d", description="OpenTrack3D engine")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the traceback of any error")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, cmd in COMMANDS.items():
        cmd.add_arguments(sub.add_parser(name, help=cmd.help, description=cmd.help))
    return parser


def log_dir() -> Path:
    return Path(os.environ.get("OT3D_LOG_DIR") or Path(tempfile.gettempdir()) / "ot3d-logs")


def _write_crash_log(argv: list[str]) -> Path | None:
    try:
        folder = log_dir()
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"ot3d-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
        path.write_text(f"ot3d {__version__}\nargv: {argv!r}\n\n{traceback.format_exc()}", encoding="utf-8")
        return path
    except OSError:
        return None


def _os_error_line(exc: OSError) -> str:
    where = exc.filename if exc.filename is not None else None
    problem = exc.strerror or str(exc)
    return f"{where}: {problem}" if where is not None else problem


def _quiet_stdout() -> None:
    """After a BrokenPipeError: point stdout at /dev/null so the interpreter's final flush is silent."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv or os.environ.get("OT3D_DEBUG") == "1"
    argv = [a for a in argv if a != "--debug"]
    try:
        try:
            args = build_parser().parse_args(argv)
        except SystemExit as exc:  # --help, --version, or a usage error already printed
            return exc.code if isinstance(exc.code, int) else EXIT_ERROR
        return COMMANDS[args.command].run(args)
    except BrokenPipeError:
        _quiet_stdout()
        return 141  # 128 + SIGPIPE, what a shell reports for a pipeline cut short
    except OT3DError as exc:
        if debug:
            traceback.print_exc()
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except OSError as exc:  # file system: permissions, full disk, missing folder...
        if debug:
            traceback.print_exc()
        print(f"error: {_os_error_line(exc)}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if debug:
            traceback.print_exc()
        log = _write_crash_log(argv)
        where = f"; the full traceback is in {log}" if log else ""
        print(f"error: internal error ({type(exc).__name__}: {exc}){where}. "
              "Please report it with that log (--debug shows it here)", file=sys.stderr)
        return EXIT_INTERNAL
