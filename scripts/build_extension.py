"""Build the Blender extension: one zip per platform, each with the wheels its engine needs.

    python scripts/build_extension.py [--out dist] [--platform linux-x64 ...] [--no-validate]

Per platform, stages a folder (build/extension-<platform>) with the add-on at its root, the
engine under `engine/ot3d_engine` (the worker's PYTHONPATH; the add-on also loads the
protocol and the file formats from there), pyproject.toml (what "Create Engine Environment"
installs for the neural tier) and `wheels/`: the packages the weights-free tier needs
beyond Blender's numpy (scipy, Pillow), fetched with `pip download --only-binary` for that
platform into the ignored cache `.whl/<platform>/` (never committed). The manifest gets
`platforms` and `wheels` for that platform (the way MolecularNodes builds its zips); Blender
installs the wheels into its extensions' site-packages. Then runs the validator and builder
bundled with the bpy module (bl_pkg/cli/blender_ext.py) on the folder and on the zip.
"""

from __future__ import annotations

import argparse
import importlib.util
import platform as host
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", ".*")
WHEEL_CACHE = REPO / ".whl"
PYTHON_VERSION = "3.11"  # Blender 4.2 LTS to 5.0 bundle Python 3.11
# The weights-free engine's needs beyond numpy; versions that support numpy 1.26 (Blender's).
WHEELS = ["scipy==1.17.1", "pillow==13.0.0"]
# Blender's platform names -> pip platform tags, newest first (pip takes any of them).
# Linux: Blender 4.2+ needs glibc 2.28; macOS: Blender 4.2 runs on macOS 11.2+.
PLATFORMS = {
    "linux-x64": ["manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64"],
    "windows-x64": ["win_amd64"],
    "macos-arm64": ["macosx_12_0_arm64", "macosx_11_0_arm64"],
    "macos-x64": ["macosx_10_15_x86_64", "macosx_10_14_x86_64", "macosx_10_13_x86_64", "macosx_10_9_x86_64"],
}


def host_platform() -> str:
    system, machine = sys.platform, host.machine().lower()
    arch = "arm64" if machine in ("arm64", "aarch64") else "x64"
    name = {"linux": "linux", "win32": "windows", "darwin": "macos"}.get(system, system)
    return f"{name}-{arch}"


def _bl_pkg_cli(base: Path) -> Path | None:
    hits = sorted(base.glob("bpy/*/scripts/addons_core/bl_pkg/cli/blender_ext.py"))
    return hits[-1] if hits else None


def blender_ext_cli() -> Path:
    """The validator/builder from a bpy module: this Python's, else a Blender-like test env's
    (scripts/setup_blender_env.sh, created on demand)."""
    spec = importlib.util.find_spec("bpy")
    if spec is not None and spec.submodule_search_locations:
        for base in spec.submodule_search_locations:
            if hit := _bl_pkg_cli(Path(base).parent):
                return hit
    for env in sorted(REPO.glob(".venv-blender-*"), reverse=True):
        for site in env.glob("lib/python3*/site-packages"):
            if hit := _bl_pkg_cli(site):
                return hit
    print("build_extension: no bpy module here; setting up .venv-blender-5.0 for Blender's validator",
          file=sys.stderr)
    subprocess.run(["bash", str(REPO / "scripts" / "setup_blender_env.sh"), "5.0.1"], check=True)
    for site in (REPO / ".venv-blender-5.0").glob("lib/python3*/site-packages"):
        if hit := _bl_pkg_cli(site):
            return hit
    raise SystemExit("blender_ext.py not found inside the bpy package")


def manifest_version() -> str:
    return tomllib.loads((REPO / "blender_manifest.toml").read_text())["version"]


def engine_version() -> str:
    text = (REPO / "ot3d_engine" / "__init__.py").read_text()
    return re.search(r'__version__\s*=\s*"([^"]+)"', text).group(1)


def fetch_wheels(platform: str) -> list[Path]:
    """The platform's wheels, downloaded once into .whl/<platform>/ (pip skips what is there)."""
    dest = WHEEL_CACHE / platform
    dest.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check", "--no-deps",
           "--only-binary=:all:", "--python-version", PYTHON_VERSION, "--implementation", "cp",
           "--dest", str(dest), *[f"--platform={tag}" for tag in PLATFORMS[platform]], *WHEELS]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"pip download for {platform} failed (exit {proc.returncode}):\n{proc.stdout[-2000:]}")
    wheels = []
    for req in WHEELS:
        name, version = req.split("==")
        hits = sorted(dest.glob(f"{name}-{version}-*.whl"))
        if not hits:
            raise SystemExit(f"{dest}: no {req} wheel for {platform} after pip download")
        wheels.append(hits[-1])
    return wheels


def platform_manifest(platform: str, wheels: list[Path]) -> str:
    """The repo's manifest with this platform's `platforms` and `wheels` (top-level keys, so
    they go before the first table)."""
    text = (REPO / "blender_manifest.toml").read_text()
    keys = (f'platforms = ["{platform}"]\n'
            "wheels = [\n" + "".join(f'  "./wheels/{w.name}",\n' for w in wheels) + "]\n\n")
    first_table = re.search(r"^\[", text, flags=re.M)
    return text[:first_table.start()] + keys + text[first_table.start():]


def stage(staging: Path, platform: str, wheels: list[Path]) -> Path:
    if staging.exists():
        shutil.rmtree(staging)
    shutil.copytree(REPO / "addon", staging, ignore=IGNORE)
    (staging / "blender_manifest.toml").write_text(platform_manifest(platform, wheels))
    engine = staging / "engine"
    shutil.copytree(REPO / "ot3d_engine", engine / "ot3d_engine", ignore=IGNORE)
    shutil.copy2(REPO / "pyproject.toml", engine / "pyproject.toml")
    (staging / "wheels").mkdir()
    for w in wheels:
        shutil.copy2(w, staging / "wheels" / w.name)
    return staging


def run_cli(*args: str, cli: Path | None = None) -> None:
    cmd = [sys.executable, str(cli or blender_ext_cli()), *args]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    sys.stdout.write(proc.stdout)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args[:1])} failed (exit {proc.returncode})")


def build(out_dir: Path, staging: Path | None = None, validate: bool = True,
          platforms: list[str] | None = None, cli: Path | None = None) -> list[Path]:
    """One validated zip per platform (default: all four); returns their paths."""
    if manifest_version() != engine_version():
        raise SystemExit(f"blender_manifest.toml version {manifest_version()} != ot3d_engine "
                         f"{engine_version()}: bump them together")
    unknown = sorted(set(platforms or []) - set(PLATFORMS))
    if unknown:
        raise SystemExit(f"--platform: unknown {', '.join(unknown)}; choose from {', '.join(PLATFORMS)}")
    cli = cli or blender_ext_cli()
    out_dir.mkdir(parents=True, exist_ok=True)
    zips = []
    for platform in platforms or list(PLATFORMS):
        folder = stage((staging or REPO / "build") / f"extension-{platform}", platform, fetch_wheels(platform))
        if validate:
            run_cli("validate", str(folder), cli=cli)
        zip_path = out_dir / f"opentrack3d-{manifest_version()}-{platform}.zip"
        run_cli("build", "--source-dir", str(folder), "--output-filepath", str(zip_path), cli=cli)
        if validate:
            run_cli("validate", str(zip_path), cli=cli)
        zips.append(zip_path)
    return zips


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "dist")
    parser.add_argument("--staging", type=Path, default=None, help="folder for the staged trees (default build/)")
    parser.add_argument("--platform", action="append", dest="platforms", choices=sorted(PLATFORMS),
                        help="build only this platform (repeatable; default: all)")
    parser.add_argument("--no-validate", action="store_true")
    args = parser.parse_args(argv)
    for path in build(args.out, args.staging, validate=not args.no_validate, platforms=args.platforms):
        print(f"{path}  {path.stat().st_size / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
