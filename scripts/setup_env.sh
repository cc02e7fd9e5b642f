#!/usr/bin/env bash
# Create .venv in the repo (if missing) and install the project with its pinned dependencies.
# Idempotent: re-installs only when pyproject.toml changed since the last install.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/venv_lib.sh

install_project() {
    echo "setup: installing dependencies into .venv (first run takes a few minutes)" >&2
    "$1" -m pip install -q -e ".[test]" >&2
}
ensure_venv .venv setup "$(sha256sum pyproject.toml | cut -d' ' -f1)" install_project
