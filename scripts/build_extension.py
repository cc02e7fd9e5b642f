"""Build the Blender extension zip: manifest + addon/ + the engine's pure-Python source.

    python scripts/build_extension.py [--out dist] [--no-validate]

Stages a folder (build/extension) with the add-on at its root, the engine under
`engine/ot3d_engine` (the worker's PYTHONPATH; the add-on also loads the protocol and
the file formats from there, so nothing is copied by hand), and pyproject.toml (the
engine requirements the preferences' "Create Engine Environment" installs); then runs
the validator and builder bundled with the bpy wheel (bl_pkg/cli/blender_ext.py).
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", ".*")


def blender_ext_cli() -> Path:
    spec = importlib.util.find_spec("bpy")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("bpy is not installed: `pip install bpy==5.0.1` (needed for the extension validator)")
    for base in spec.submodule_search_locations:
        hits = sorted(Path(base).glob("*/scripts/addons_core/bl_pkg/cli/blender_ext.py"))
        if hits:
            return hits[-1]
    raise SystemExit("blender_ext.py not found inside the bpy package")


def manifest_version() -> str:
    return tomllib.loads((REPO / "blender_manifest.toml").read_text())["version"]


def engine_version() -> str:
    text = (REPO / "ot3d_engine" / "__init__.py").read_text()
    return re.search(r'__version__\s*=\s*"([^"]+)"', text).group(1)


def stage(staging: Path) -> Path:
    if staging.exists():
        shutil.rmtree(staging)
    shutil.copytree(REPO / "addon", staging, ignore=IGNORE)
    shutil.copy2(REPO / "blender_manifest.toml", staging / "blender_manifest.toml")
    engine = staging / "engine"
    shutil.copytree(REPO / "ot3d_engine", engine / "ot3d_engine", ignore=IGNORE)
    shutil.copy2(REPO / "pyproject.toml", engine / "pyproject.toml")
    return staging


def run_cli(*args: str) -> None:
    cmd = [sys.executable, str(blender_ext_cli()), *args]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    sys.stdout.write(proc.stdout)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args[:1])} failed (exit {proc.returncode})")


def build(out_dir: Path, staging: Path | None = None, validate: bool = True) -> Path:
    if manifest_version() != engine_version():
        raise SystemExit(f"blender_manifest.toml version {manifest_version()} != ot3d_engine "
                         f"{engine_version()}: bump them together")
    staging = stage(staging or REPO / "build" / "extension")
    out_dir.mkdir(parents=True, exist_ok=True)
    if validate:
        run_cli("validate", str(staging))
    zip_path = out_dir / f"opentrack3d-{manifest_version()}.zip"
    run_cli("build", "--source-dir", str(staging), "--output-filepath", str(zip_path))
    if validate:
        run_cli("validate", str(zip_path))
    return zip_path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "dist")
    parser.add_argument("--staging", type=Path, default=None)
    parser.add_argument("--no-validate", action="store_true")
    args = parser.parse_args(argv)
    print(build(args.out, args.staging, validate=not args.no_validate))
    return 0


if __name__ == "__main__":
    sys.exit(main())
