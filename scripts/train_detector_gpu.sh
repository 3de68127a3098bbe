#!/usr/bin/env bash
# GPU recipe for the larger methane detector: train, calibrate, evaluate (issue 13).
#
# One prepared command, sized for ~8 minutes on one H200 with 16 CPU cores (UNMEASURED: no GPU
# was lent when it was written; the step count is an estimate, see below):
#   scripts/train_detector_gpu.sh
# and on a CPU, end to end at toy sizes (about two minutes on 2 cores):
#   TINY=1 scripts/train_detector_gpu.sh
# (RECIPE_ONLY=1 writes OUT/recipe.yaml and stops.)
#
# 1. In the background, on half of the CPU cores, the shipped v11 weights are evaluated on four
#    fresh scene sets (plain / hard = confounders + clouds; requirement noise on all surfaces /
#    in-flight noise on desert), seed EVAL_SEED, never used to choose between candidates.
# 2. Meanwhile the resunet detector (9.2 M parameters; model module) trains on the GPU in bf16
#    (precision auto) with channels_last, on crops of a bank of simulated backgrounds with plumes,
#    noise and features made on the GPU (OUT/recipe.yaml; OUT/train/config.yaml is the exact
#    config the run saved, with the weights OUT/train/detector.*). STEPS x BATCH = 3000 x 128 = 384 k pairs of 128 px (v11: 96 k of
#    64 px), estimated at ~2000 pairs/s (25 GFLOP per pair forward + backward) -> ~3.5 min.
#    The first run also builds the bank (BANK, outside OUT, reused by later runs of the same
#    settings): 512 backgrounds of 256 px + 256 plumes at ~0.1 s each on one core, ~1.3 min.
# 3. 'eoforge methane calibrate' sets its threshold (2 false plumes / 100 km2 on CAL_NEG
#    plume-free scenes, seed 1) and its emission-rate calibration.
# 4. The new weights are evaluated on the same four sets, on the other half of the cores.
# 5. scripts/detector_results_row.py prints the table and the verdict (new beats v11 on every
#    set?) to OUT/results.md and appends them to RESULTS (benchmarks/RESULTS.md; TINY: OUT only).
# Ship the weights (copy OUT/train/detector.* into src/eoforge/methane/weights/) only if the verdict
# is yes and the methane spot tests stay green.
set -euo pipefail
TINY=${TINY:-0}
EOFORGE=${EOFORGE:-.venv/bin/eoforge}
PYTHON=${PYTHON:-.venv/bin/python}
HERE=$(cd "$(dirname "$0")" && pwd)
V11=${V11:-src/eoforge/methane/weights/detector.safetensors}
EVAL_SEED=${EVAL_SEED:-20261204}
if [ "$TINY" = 1 ]; then
  OUT=${OUT:-runs/methane-gpu-tiny}; DEVICE=${DEVICE:-cpu}; STEPS=${STEPS:-20}; BATCH=${BATCH:-4}
  PATCH=${PATCH:-32}; WIDTHS=${WIDTHS:-[8, 16, 16, 32]}; BLOCKS=${BLOCKS:-[1, 0, 1, 1]}
  BANK_ITEMS=${BANK_ITEMS:-8}; PLUMES=${PLUMES:-8}; WORKERS=${WORKERS:-0}
  CAL_NEG=${CAL_NEG:-6}; CAL_RATES=${CAL_RATES:-12}; CAL_SIZE=${CAL_SIZE:-64}
  CAL_THRESHOLD=${CAL_THRESHOLD-0.05}  # a toy model: fix a low threshold, fit the rates only
  EVAL_NEG=${EVAL_NEG:-4}; EVAL_PER_RATE=${EVAL_PER_RATE:-1}; EVAL_SIZE=${EVAL_SIZE:-64}
  RESULTS=${RESULTS:-}
else
  OUT=${OUT:-runs/methane-gpu}; DEVICE=${DEVICE:-gpu}; STEPS=${STEPS:-3000}; BATCH=${BATCH:-128}
  PATCH=${PATCH:-128}; WIDTHS=${WIDTHS:-[32, 64, 128, 256, 256]}; BLOCKS=${BLOCKS:-[1, 1, 2, 2, 2]}
  BANK_ITEMS=${BANK_ITEMS:-512}; PLUMES=${PLUMES:-256}; WORKERS=${WORKERS:-6}
  CAL_NEG=${CAL_NEG:-200}; CAL_RATES=${CAL_RATES:-100}; CAL_SIZE=${CAL_SIZE:-256}
  CAL_THRESHOLD=${CAL_THRESHOLD-}  # empty: scan for the false-positive budget
  EVAL_NEG=${EVAL_NEG:-40}; EVAL_PER_RATE=${EVAL_PER_RATE:-8}; EVAL_SIZE=${EVAL_SIZE:-256}
  RESULTS=${RESULTS:-benchmarks/RESULTS.md}
fi
COMPILE=${COMPILE:-false}  # true: torch.compile (a one-off compilation, faster steps after)
BANK=${BANK:-$OUT-bank.zarr}  # outside OUT: kept and reused by the next run of the same settings
RUN="$OUT/train"  # the training run folder: detector.*, config.yaml (the exact config), logs
EVAL="$OUT/eval"
mkdir -p "$OUT" "$EVAL"
trap 'kill $(jobs -p) 2> /dev/null || true' EXIT  # stop this script's background evaluations
NCPU=$(nproc)
HALF=$(( NCPU / 2 > 0 ? NCPU / 2 : 1 ))
start=$(date +%s)
stamp() { echo "[$(( $(date +%s) - start )) s] $*"; }

# pin "first-core count cmd...": run on cores [first, first + count) when taskset exists
pin() {
  local first=$1 count=$2; shift 2
  if command -v taskset > /dev/null && [ "$count" -ge 1 ]; then
    taskset -c "$first-$(( first + count - 1 ))" "$@"
  else
    "$@"
  fi
}

cat > "$OUT/recipe.yaml" <<EOF
architecture: resunet
widths: $WIDTHS
blocks: $BLOCKS
steps: $STEPS
batch_size: $BATCH
patch: $PATCH
lr: 0.002
precision: auto
channels_last: true
compile: $COMPILE
log_every: 50
seed: 13
negative_fraction: 0.5
cloud_prob: 0.4
confounders_max: 5
noise_min: 0.4
noise_max: 1.1
rate_min: 200.0
rate_max: 8000.0
bank_path: $BANK
bank_items: $BANK_ITEMS
plume_pool: $PLUMES
EOF

if [ "${RECIPE_ONLY:-0}" = 1 ]; then echo "$OUT/recipe.yaml"; exit 0; fi  # (tested)

# Four fresh scene sets: NAME then the evaluate options that make it.
SETS=(
  "plain-req|--noise-scale 1"
  "plain-inflight-desert|--noise-scale 0.5 --surface desert"
  "hard-req|--noise-scale 1 --confounders-max 3 --cloud-prob 0.3"
  "hard-inflight-desert|--noise-scale 0.5 --surface desert --confounders-max 3 --cloud-prob 0.3"
)
# evaluate_all WEIGHTS TAG FIRST_CORE CORES: the four sets in parallel, CORES/4 cores each
evaluate_all() {
  local weights=$1 tag=$2 first=$3 cores=$4 per i=0 pids=()
  per=$(( cores / 4 > 0 ? cores / 4 : 1 ))
  for entry in "${SETS[@]}"; do
    local name=${entry%%|*} opts=${entry#*|}
    # shellcheck disable=SC2086
    pin $(( (first + i * per) % NCPU )) "$per" "$EOFORGE" methane evaluate --weights "$weights" \
      --out "$EVAL/$tag-$name" --seed "$EVAL_SEED" --n-negative "$EVAL_NEG" \
      --n-per-rate "$EVAL_PER_RATE" --size "$EVAL_SIZE" --threshold detector $opts \
      > "$EVAL/$tag-$name.log" 2>&1 &
    pids+=($!); i=$(( i + 1 ))
  done
  for p in "${pids[@]}"; do wait "$p"; done
}

stamp "v11 evaluations start in the background (cores $HALF-$(( NCPU - 1 )))"
evaluate_all "$V11" v11 "$HALF" "$(( NCPU - HALF ))" &
v11_pid=$!

stamp "training ($DEVICE, $STEPS steps x $BATCH pairs of $PATCH px, widths $WIDTHS)"
pin 0 "$HALF" "$EOFORGE" methane train --out "$RUN" --config "$OUT/recipe.yaml" \
  --device "$DEVICE" --workers "$WORKERS"
stamp "calibrating"
pin 0 "$HALF" "$EOFORGE" methane calibrate "$RUN/detector.safetensors" --n-negative "$CAL_NEG" \
  --n-rate-cases "$CAL_RATES" --size "$CAL_SIZE" ${CAL_THRESHOLD:+--threshold "$CAL_THRESHOLD"} \
  > "$OUT/calibration.json"
stamp "evaluating the new weights (cores 0-$(( HALF - 1 )))"
evaluate_all "$RUN/detector.safetensors" new 0 "$HALF"
wait "$v11_pid"
stamp "done; writing the results"

args=()
for entry in "${SETS[@]}"; do
  name=${entry%%|*}
  args+=("new/$name=$EVAL/new-$name" "v11/$name=$EVAL/v11-$name")
done
{
  echo
  echo "#### scripts/train_detector_gpu.sh, $(date -u +%Y-%m-%d) (TINY=$TINY, device $DEVICE," \
       "$(nproc) CPU cores, $(( $(date +%s) - start )) s in all)"
  echo
  echo "Config: $OUT/recipe.yaml; evaluation seed $EVAL_SEED, $EVAL_NEG plume-free scenes +" \
       "$EVAL_PER_RATE plumes per rate per set, ${EVAL_SIZE} px, calibrated thresholds."
  echo
  "$PYTHON" "$HERE/detector_results_row.py" "$RUN" "${args[@]}"
} > "$OUT/results.md"
cat "$OUT/results.md"
if [ -n "$RESULTS" ]; then cat "$OUT/results.md" >> "$RESULTS"; fi
echo "weights: $RUN/detector.safetensors (+ detector.json); config: $RUN/config.yaml"
