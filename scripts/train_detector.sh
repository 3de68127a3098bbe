#!/usr/bin/env bash
# Reproduce the shipped methane detector weights (src/eoforge/methane/weights/detector.*).
#
# The run is seeded (scene stream and initialisation), so the same command on the same torch
# version and device type gives the same weights. The shipped v1 weights were trained on 1 CPU
# thread (about 20 minutes on a shared 2-core machine). On a GPU, pass e.g.
#   DEVICE=gpu STEPS=20000 BATCH=64 PATCH=128 WORKERS=8 scripts/train_detector.sh
# and copy OUT/detector.safetensors and OUT/detector.json into src/eoforge/methane/weights/.
set -euo pipefail
OUT=${OUT:-runs/methane-detector}
STEPS=${STEPS:-1000}
BATCH=${BATCH:-12}
PATCH=${PATCH:-64}
LR=${LR:-0.003}
DEVICE=${DEVICE:-cpu}
WORKERS=${WORKERS:-0}
THREADS=${THREADS:-1}
SEED=${SEED:-0}
EOFORGE=${EOFORGE:-.venv/bin/eoforge}
"$EOFORGE" methane train --out "$OUT" --steps "$STEPS" --batch-size "$BATCH" --patch "$PATCH" \
  --lr "$LR" --device "$DEVICE" --workers "$WORKERS" --threads "$THREADS" --seed "$SEED"
echo "weights: $OUT/detector.safetensors (+ detector.json)"
