"""`python -m ot3d_engine ...` runs the `ot3d` command line."""

import sys

from .cli import main

sys.exit(main())
