#!/usr/bin/env bash
# Issue 15's GPU figures in one prepared command (one H200; ~10 min in all, run as two device
# calls if the 10-minute limit per command is tight: STAGE=fast, then STAGE=claim):
#   fast  - torch k-means of the curator, (1000, 100) with 10 resampling steps on 200k x 128
#           (target <= 2 s), and the probes on 100,000 x 384 embeddings (target <= 5 s);
#   claim - benchmarks/ssl_curation.py --preset h200: full data vs dynamic curation at half the
#           images seen, paired seeds, curation overhead share (target <= 5 %).
# Output: OUT/*.txt (the benchmarks' own tables); copy the figures into benchmarks/RESULTS.md.
# On the CPU, TINY=1 runs the same stages at toy sizes (a check of the script, not a figure).
# Device: run ../shared/tools/device-wheels first and prefix with the line it prints; on the GPU
# machine python3 is the interpreter (PY=python3).
set -euo pipefail
PY=${PY:-python3}
OUT=${OUT:-runs/ssl-gpu}
STAGE=${STAGE:-all}
DEVICE=${DEVICE:-cuda}
mkdir -p "$OUT"
if [ "${TINY:-0}" = 1 ]; then
  KM="--n 4000 --k 40,8 --modes 20 --n-resampling 2"
  PR="--n 3000 --dim 32 --repeats 1"
  CL="--n 600 --n-test 300 --size 16 --encoder vit-tiny/8 --width 16 --depth 1 --budget 4
      --n-clusters 8 4 --batch-size 64 --device cpu --precision 32-true --seeds 0 1
      --data-workers 1"
  DEVICE=cpu
else
  KM=""
  PR="--n 100000"
  CL=""
fi
if [ "$STAGE" = all ] || [ "$STAGE" = fast ]; then
  # shellcheck disable=SC2086
  $PY benchmarks/curation_kmeans.py $KM --device "$DEVICE" --skip-sklearn | tee "$OUT/kmeans.txt"
  # shellcheck disable=SC2086
  $PY benchmarks/ssl_probe.py $PR --device "$DEVICE" --skip-sklearn | tee "$OUT/probes.txt"
fi
if [ "$STAGE" = all ] || [ "$STAGE" = claim ]; then
  # shellcheck disable=SC2086
  $PY benchmarks/ssl_curation.py --preset h200 $CL --out "$OUT/claim" | tee "$OUT/claim.txt"
fi
echo "figures in $OUT"
