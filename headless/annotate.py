"""Headless batch annotation with the OpenTrack3D add-on. Three ways to run it:

    blender -b --python headless/annotate.py -- SCAN... --out DIR [options]
    python headless/annotate.py SCAN... --out DIR [options]      # a Python with the bpy module
    python -m headless SCAN... --out DIR [options]

`--help` lists the options. Exit status: 0 all scans done (or skipped by --resume),
1 some scan failed, 2 bad arguments or manifest, 128+N stopped by signal N.
"""

from __future__ import annotations

import sys
from pathlib import Path

_REPO = Path(__file__).resolve().parents[1]
if str(_REPO) not in sys.path:  # run as a script (blender --python, python headless/annotate.py)
    sys.path.insert(0, str(_REPO))

EXIT_USAGE = 2


def script_args(argv: list[str]) -> list[str]:
    """Our arguments: Blender passes everything after `--` to the script and ignores it itself."""
    from headless.options import in_blender_binary

    if in_blender_binary():
        return argv[argv.index("--") + 1:] if "--" in argv else []
    args = argv[1:]
    return args[1:] if args[:1] == ["--"] else args


def main(argv: list[str] | None = None) -> int:
    from headless.options import build_parser, specs_and_settings
    from ot3d_engine.errors import OT3DError

    parser = build_parser()
    args = parser.parse_args(argv)
    if args.one:
        from headless.scan_job import run_child

        return run_child(args.one)
    try:
        specs, settings = specs_and_settings(args)
        from headless.batch import run_batch

        return run_batch(specs, settings).exit_code
    except OT3DError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE


def run_as_script() -> None:
    from headless.options import in_blender_binary

    try:
        code = main(script_args(sys.argv))
    except SystemExit as exc:  # argparse: --help, bad arguments
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else EXIT_USAGE)
    sys.stdout.flush()
    sys.stderr.flush()
    if in_blender_binary():
        import os

        os._exit(code)  # Blender would otherwise carry on and exit 0 whatever the script returned
    sys.exit(code)


if __name__ == "__main__":
    run_as_script()
