#!/usr/bin/env bash
# Issue 16's GPU figures in one prepared command (one H200, ~8 minutes in all; UNMEASURED: no GPU
# was lent when it was written, the step counts are estimates, see below):
#   scripts/diffusion_gpu.sh
# and on a CPU, end to end at toy sizes (a check of the script, not a figure; ~3 minutes):
#   TINY=1 scripts/diffusion_gpu.sh
# Stages (STAGE=all, or one of speed / train / tables / results):
#   speed  - training steps/s of the default U-Net (1.19 M parameters, 32 px, batch 128, bf16 on
#            CUDA): fresh runs of 200 and 1200 steps after a warm-up run, steady rate
#            1000 / (t_1200 - t_200) and the whole-run rate 1200 / t_1200 (the issue's figure
#            before the loop rework: 20 steps/s; target >= 100), plain and channels-last.
#   train  - three SIZE = 64 px models trained AT ONCE on the one GPU (each alone would leave it mostly
#            idle): SAR intensity (synthetic WV imagettes), InSAR unwrapped phase (divided by its
#            std; samples mapped back to radians) and InSAR wrapped phase as (cos, sin) channels,
#            from eoforge.sar.insar.synth_interferograms. STEPS x BATCH = 4000 x 64 images of
#            64 px, widths 64,128,128,256 with attention at 16 and 8 px (~8 M parameters),
#            estimated at 25-40 steps/s each -> ~2-3 min (the interferograms, 8192 + 256 per
#            model, take ~1 min of one CPU core first).
#   tables - per model: DDPM-1000 (reference) vs DDIM, DPM-Solver++ and Heun at 10-50 NFE (CONFIGS),
#            N samples each against N held-out images: the SAR / InSAR statistics, max_rel_err
#            against DDPM-1000, semivariogram distance to the held-out data, FID/KID/precision/
#            recall with the local extractor, seconds per sample (samples/s = 1 / that).
#   results - OUT/results.md (all tables and the speed lines), appended to RESULTS
#            (benchmarks/RESULTS.md; TINY: not appended).
# Device: run ../shared/tools/device-wheels first and prefix with the line it prints; on the GPU
# machine python3 may be the interpreter (PYTHON=python3).
set -euo pipefail
TINY=${TINY:-0}
PYTHON=${PYTHON:-.venv/bin/python}
STAGE=${STAGE:-all}
BENCH=benchmarks/diffusion_samplers.py
if [ "$TINY" = 1 ]; then
  OUT=${OUT:-runs/diffusion-gpu-tiny}; ACCEL=${ACCEL:-cpu}; SIZE=${SIZE:-16}
  SPEED_SIZE=${SPEED_SIZE:-16}; SPEED_STEPS=${SPEED_STEPS:-3,13}; SPEED_BATCH=${SPEED_BATCH:-8}
  SPEED_WIDTHS=${SPEED_WIDTHS:-8,16}
  STEPS=${STEPS:-30}; BATCH=${BATCH:-8}; WIDTHS=${WIDTHS:-8,16}; ATTENTION=${ATTENTION:-1}
  TRAIN_IMAGES=${TRAIN_IMAGES:-64}; N=${N:-16}
  CONFIGS=${CONFIGS:-ddpm:100,ddim:10,dpm++:10,dpm++:20,heun:5}
  RESULTS=${RESULTS:-}
else
  OUT=${OUT:-runs/diffusion-gpu}; ACCEL=${ACCEL:-gpu}; SIZE=${SIZE:-64}
  SPEED_SIZE=${SPEED_SIZE:-32}; SPEED_STEPS=${SPEED_STEPS:-200,1200}
  SPEED_BATCH=${SPEED_BATCH:-128}; SPEED_WIDTHS=${SPEED_WIDTHS:-32,64,64}
  STEPS=${STEPS:-4000}; BATCH=${BATCH:-64}; WIDTHS=${WIDTHS:-64,128,128,256}
  ATTENTION=${ATTENTION:-2,3}; TRAIN_IMAGES=${TRAIN_IMAGES:-8192}; N=${N:-256}
  CONFIGS=${CONFIGS:-ddpm:1000,ddpm:50,ddim:10,ddim:20,ddim:50,dpm++:10,dpm++:15,dpm++:20,dpm++:50,heun:5,heun:10,heun:25,rebuilt-ddim:20}
  RESULTS=${RESULTS:-benchmarks/RESULTS.md}
fi
KINDS=${KINDS:-sar insar insar-wrapped}
mkdir -p "$OUT"
trap 'kill $(jobs -p) 2> /dev/null || true' EXIT  # stop this script's background trainings
start=$(date +%s)
stamp() { echo "[$(( $(date +%s) - start )) s] $*"; }
stage() { [ "$STAGE" = all ] || [ "$STAGE" = "$1" ]; }

if stage speed; then
  stamp "training speed ($SPEED_SIZE px, batch $SPEED_BATCH, widths $SPEED_WIDTHS)"
  for layout in "" "--channels-last"; do
    # shellcheck disable=SC2086
    "$PYTHON" "$BENCH" --train-speed "$SPEED_STEPS" --size "$SPEED_SIZE" \
      --train-batch "$SPEED_BATCH" --channels "$SPEED_WIDTHS" --train-images 2048 \
      --accelerator "$ACCEL" $layout --out "$OUT/speed${layout:+-cl}" | tee "$OUT/speed${layout:+-cl}.txt"
  done
fi

if stage train; then
  pids=()
  for kind in $KINDS; do
    stamp "training $kind ($STEPS steps x $BATCH images of $SIZE px, widths $WIDTHS) in the background"
    "$PYTHON" "$BENCH" --kind "$kind" --train-only --size "$SIZE" --channels "$WIDTHS" \
      --attention "$ATTENTION" --train-batch "$BATCH" --train-steps "$STEPS" \
      --train-images "$TRAIN_IMAGES" --n "$N" --accelerator "$ACCEL" --channels-last \
      --out "$OUT" > "$OUT/train_$kind.log" 2>&1 &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p"; done
  stamp "trained: $(grep -h 'trained' "$OUT"/train_*.log | tr '\n' ';')"
fi

if stage tables; then
  for kind in $KINDS; do
    stamp "sampler table of $kind ($N samples per configuration)"
    "$PYTHON" "$BENCH" --run "$OUT/train_$kind" --reference "$OUT/reference_$kind.npy" \
      --kind "$kind" --n "$N" --batch-size "$N" --configs "$CONFIGS" --out "$OUT" \
      | tee "$OUT/table_$kind.txt"
  done
fi

if stage results; then
  {
    echo "### $(date -u +%Y-%m-%d) scripts/diffusion_gpu.sh (TINY=$TINY, $ACCEL)"
    echo
    echo "Training speed ($SPEED_SIZE px, batch $SPEED_BATCH, widths $SPEED_WIDTHS):"
    echo
    for f in "$OUT"/speed.txt "$OUT"/speed-cl.txt; do
      [ -f "$f" ] && echo "- $(basename "$f" .txt): $(grep -h 'steps/s' "$f" | tail -1)"
    done
    echo
    echo "$SIZE px models ($STEPS steps x $BATCH, widths $WIDTHS, attention levels $ATTENTION):"
    echo "$(grep -h 'trained' "$OUT"/train_*.log 2> /dev/null | tr '\n' ';')"
    for kind in $KINDS; do
      for f in "$OUT/trained_${kind}_model_seed_0.md"; do
        [ -f "$f" ] && { echo; cat "$f"; }
      done
    done
  } > "$OUT/results.md"
  if [ -n "$RESULTS" ]; then cat "$OUT/results.md" >> "$RESULTS"; fi
  stamp "results in $OUT/results.md${RESULTS:+ (appended to $RESULTS)}"
fi
