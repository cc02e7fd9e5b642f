"""Headless batch annotation: many scans, unattended, through the Blender add-on's own code.

    blender -b --python headless/annotate.py -- SCAN... --out DIR [options]
    python -m headless SCAN... --out DIR [options]          # with the bpy module

The batch driver (batch.py) needs neither bpy nor the engine: it reads the manifest,
skips finished scans on --resume and runs each scan in its own child process (local
workers or one Ray task per scan), so a bad or crashing scan cannot take the batch down.
The child (scan_job.py) imports, segments, materializes, queries, saves and exports
with the add-on and publishes its folder atomically, `done.json` last.
"""

import sys as _sys
from pathlib import Path as _Path

# The add-on is not an installed package: it lives beside this one in the checkout.
_REPO = _Path(__file__).resolve().parents[1]
if (_REPO / "addon" / "__init__.py").is_file() and str(_REPO) not in _sys.path:
    _sys.path.append(str(_REPO))
