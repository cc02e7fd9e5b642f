#!/usr/bin/env bash
# Install what the tests need and run the whole suite: the engine's tests in .venv, then the
# add-on tests (tests/test_addon_*.py) in Blender-like environments that hold only bpy and
# numpy, for the oldest and the newest Blender the manifest supports (4.2.0, 5.0.1; override
# with OT3D_BPY_VERSIONS="5.0.1"). Each environment is cached (scripts/setup_blender_env.sh).
# Arguments go to pytest: naming add-on test files runs only those (in each Blender-like
# Python), naming other tests runs only those (in .venv), options alone go to both.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh
addon=0 engine=0
for arg in "$@"; do
    case "$arg" in
        -*) ;;
        *test_addon_*) addon=1 ;;
        *) engine=1 ;;
    esac
done
if [ "$addon" = 0 ]; then
    .venv/bin/python -m pytest -q --ignore-glob='tests/test_addon_*.py' "$@"
fi
if [ "$engine" = 1 ]; then
    exit 0
fi
[ "$addon" = 1 ] || set -- "$@" tests/test_addon_*.py
for version in ${OT3D_BPY_VERSIONS:-4.2.0 5.0.1}; do
    venv="$(bash scripts/setup_blender_env.sh "$version")"
    echo "test: the add-on in a Blender-like Python with bpy $version ($venv)" >&2
    "$venv/bin/python" -m pytest -q "$@"
done
