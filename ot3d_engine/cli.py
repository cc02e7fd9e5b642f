"""`ot3d` command line: one function per subcommand, registered in COMMANDS.

To add a command, write `_<name>_arguments(parser)` and decorate its run function:

    @command("segment", "segment a scan into 3D instances", _segment_arguments)
    def run_segment(args) -> int: ...

or, for a module exposing add_arguments(parser) and run(args) (ot3d_engine/commands/*):

    command_module("segment", "segment a scan into 3D instances", "ot3d_engine.commands.segment")

Heavy imports stay inside the run functions so `ot3d --help` is instant. Errors the
engine raises on purpose (OT3DError) print one line and exit with status 2.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from dataclasses import dataclass
from typing import Callable

from . import __version__
from .errors import OT3DError


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
    p.add_argument("--frames", type=int, default=30, help="number of frames along the camera path")
    p.add_argument("--width", type=int, default=640)
    p.add_argument("--height", type=int, default=480)
    p.add_argument("--depth-noise", type=float, default=0.0,
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
    p.add_argument("--radius", type=float, default=0.05,
                   help="max distance (m) for moving predicted ids onto GT points")
    p.add_argument("--per-class", action="store_true", help="match predicted labels to GT class names")
    p.add_argument("--min-region-size", type=int, default=100, help="GT instances with fewer points are ignored")


@command("eval", "ScanNet-protocol instance AP of a scene output against ground truth", _eval_arguments)
def run_eval(args: argparse.Namespace) -> int:
    from .eval import evaluate, format_table, load_ground_truth, load_prediction

    gt = load_ground_truth(args.gt)
    pred = load_prediction(args.pred)
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

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ot3d", description="OpenTrack3D engine")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, cmd in COMMANDS.items():
        cmd.add_arguments(sub.add_parser(name, help=cmd.help, description=cmd.help))
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command].run(args)
    except OT3DError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
