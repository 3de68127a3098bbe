#!/usr/bin/env bash
# Reproduce the shipped methane detector weights (src/eoforge/methane/weights/detector.*).
#
# The run is seeded (scene stream and initialisation), so the same command on the same torch
# version and device type gives the same weights. The shipped weights (v8) were trained with these
# defaults: 5000 steps of 16 simulated 64 x 64 px pairs, 1 torch thread + 1 simulation worker,
# about 17 minutes on 2 CPU cores; their threshold (0.875) was then set in detector.json from
# 'eoforge methane evaluate --n-negative 20 --n-per-rate 4' (2 false plumes / 100 km2). On a GPU, e.g.
#   DEVICE=gpu STEPS=20000 BATCH=64 PATCH=128 WORKERS=8 scripts/train_detector.sh
# and copy OUT/detector.safetensors and OUT/detector.json into src/eoforge/methane/weights/.
set -euo pipefail
OUT=${OUT:-runs/methane-detector}
STEPS=${STEPS:-5000}
BATCH=${BATCH:-16}
PATCH=${PATCH:-64}
LR=${LR:-0.003}
DEVICE=${DEVICE:-cpu}
WORKERS=${WORKERS:-1}
THREADS=${THREADS:-1}
SEED=${SEED:-0}
EOFORGE=${EOFORGE:-.venv/bin/eoforge}
INIT=${INIT:-}  # optional: fine-tune from these weights, e.g. src/eoforge/methane/weights/detector.safetensors
"$EOFORGE" methane train --out "$OUT" --steps "$STEPS" --batch-size "$BATCH" --patch "$PATCH" \
  --lr "$LR" --device "$DEVICE" --workers "$WORKERS" --threads "$THREADS" --seed "$SEED" \
  ${INIT:+--init "$INIT"}
echo "weights: $OUT/detector.safetensors (+ detector.json)"
