#!/usr/bin/env bash
# A Python environment that holds what a real Blender's Python holds: the bpy module (and
# what it depends on) with numpy<2, plus pytest to run the add-on tests. No scipy, Pillow,
# open3d or torch: the extension must work without them (it ships its own wheels).
#   bash scripts/setup_blender_env.sh 4.2.0   # -> .venv-blender-4.2 (its path is printed)
# Idempotent: re-installs only when this script or the version changed.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/venv_lib.sh
VERSION="${1:?usage: setup_blender_env.sh BPY_VERSION (e.g. 4.2.0)}"
VENV=".venv-blender-${VERSION%.*}"

install_bpy() {
    echo "setup_blender_env: installing bpy==$VERSION into $VENV (first run: a few minutes, ~1 GB)" >&2
    "$1" -m pip install -q "bpy==$VERSION" "numpy<2" "pytest>=8" >&2
}
ensure_venv "$VENV" setup_blender_env "$(cat scripts/setup_blender_env.sh | sha256sum | cut -d' ' -f1)-$VERSION" install_bpy
echo "$VENV"
