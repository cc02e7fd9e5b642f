#!/usr/bin/env bash
# The model tests again, in a second venv (.venv-tv) that has torchvision: SAM2 and Qwen2.5-VL
# (the paper's default segmenter and MLLM) need it, and PyPI's torchvision does not import beside
# the CPU torch 2.13.0 that .venv pins. torch 2.14.1 + torchvision 0.29.1 is a CUDA build (~5.5 GB
# installed; it runs on the CPU). Run by CI after scripts/test.sh; optional on a workstation.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/venv_lib.sh
VENV=.venv-tv

install_torchvision() {
    echo "test_torchvision: installing torch 2.14.1 + torchvision 0.29.1 and the project into $VENV" >&2
    "$1" -m pip install -q torch==2.14.1 torchvision==0.29.1 >&2
    # the project's own requirements, but its torch pin: read from pyproject.toml, not repeated here
    local deps
    mapfile -t deps < <("$1" - <<'PYEOF'
import re, tomllib
project = tomllib.load(open("pyproject.toml", "rb"))["project"]
for dep in project["dependencies"] + project["optional-dependencies"]["test"]:
    if re.match(r"(torch|bpy|ray)\b", dep) is None:  # the add-on and Ray tests stay in .venv
        print(dep)
PYEOF
)
    "$1" -m pip install -q "${deps[@]}" >&2
    "$1" -m pip install -q --no-deps -e . >&2
}
ensure_venv "$VENV" test_torchvision "$(cat pyproject.toml scripts/test_torchvision.sh | sha256sum | cut -d' ' -f1)" install_torchvision
"$VENV/bin/python" -c "import torch, torchvision; print('test_torchvision: torch', torch.__version__, \
'torchvision', torchvision.__version__)"
exec "$VENV/bin/python" -m pytest -q tests/test_models_*.py "$@"
