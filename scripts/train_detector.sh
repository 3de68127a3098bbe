#!/usr/bin/env bash
# Reproduce the shipped methane detector weights (src/eoforge/methane/weights/detector.*).
#
# The shipped weights (v11) come from two seeded CPU stages, each ~20 minutes on 2 cores with
# 1 torch thread + 1 simulation worker (the same command on the same torch version and device
# type gives the same weights):
#   1. base (v8 recipe): 5000 steps of 16 simulated 64 x 64 px pairs, lr 3e-3, seed 0;
#   2. fine-tune from the base: 6000 steps, lr 1e-3, 60 % plume-free scenes, up to 5 confounders,
#      clouds in 40 % of the scenes, seed 11 (scripts/detector_finetune.yaml);
# then 'eoforge methane calibrate --threshold 0.875' fits the emission-rate model at the kept
# threshold 0.875 (why 0.875: benchmarks/RESULTS.md, methane v11).
# On a GPU, e.g.
#   DEVICE=gpu STEPS=20000 BATCH=64 PATCH=128 WORKERS=8 FINETUNE_STEPS=0 scripts/train_detector.sh
# and copy OUT/detector.safetensors and OUT/detector.json into src/eoforge/methane/weights/.
set -euo pipefail
OUT=${OUT:-runs/methane-detector}
STEPS=${STEPS:-5000}
FINETUNE_STEPS=${FINETUNE_STEPS:-6000}  # 0: stop after the base stage
BATCH=${BATCH:-16}
PATCH=${PATCH:-64}
LR=${LR:-0.003}
DEVICE=${DEVICE:-cpu}
WORKERS=${WORKERS:-1}
THREADS=${THREADS:-1}
SEED=${SEED:-0}
THRESHOLD=${THRESHOLD:-0.875}  # empty: scan for the false-positive budget instead
EOFORGE=${EOFORGE:-.venv/bin/eoforge}
INIT=${INIT:-}  # optional: start the base stage from these weights instead of a seeded init
HERE=$(cd "$(dirname "$0")" && pwd)
common=(--batch-size "$BATCH" --size "$PATCH" --device "$DEVICE" --workers "$WORKERS"
        --threads "$THREADS" --stream simulate)  # v11's stream: whole pairs simulated on the CPU
if [ "$FINETUNE_STEPS" -gt 0 ]; then BASE="$OUT/base"; else BASE="$OUT"; fi
"$EOFORGE" methane train --out "$BASE" --steps "$STEPS" --lr "$LR" --seed "$SEED" "${common[@]}" \
  ${INIT:+--init "$INIT"}
if [ "$FINETUNE_STEPS" -gt 0 ]; then
  "$EOFORGE" methane train --out "$OUT" --config "$HERE/detector_finetune.yaml" \
    --init "$BASE/detector.safetensors" --steps "$FINETUNE_STEPS" "${common[@]}"
fi
"$EOFORGE" methane calibrate "$OUT/detector.safetensors" ${THRESHOLD:+--threshold "$THRESHOLD"}
echo "weights: $OUT/detector.safetensors (+ detector.json)"
