#!/usr/bin/env bash
# The main job on self-contained defaults: generate a synthetic room, segment it with the
# weights-free backends, evaluate it against its ground truth, write results and a preview.
# Pass a scan folder to segment your own scan instead:  bash scripts/demo.sh path/to/scan
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh
OUT="${OUT:-out}"
if [ $# -ge 1 ]; then
    .venv/bin/ot3d segment "$1" --out "$OUT/scene" --progress
    echo "instances, fused cloud and preview in $OUT/scene"
    exit 0
fi
.venv/bin/ot3d synth --seed 0 --out "$OUT/synth-room" --frames 30
.venv/bin/ot3d segment "$OUT/synth-room" --out "$OUT/scene" --progress
.venv/bin/ot3d eval --pred "$OUT/scene" --gt "$OUT/synth-room"
echo "instances.json, points.npz, scene.ply and preview.png are in $OUT/scene"
