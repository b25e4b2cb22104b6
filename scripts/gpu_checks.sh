#!/usr/bin/env bash
# Every pending GPU measurement of BENCHMARKS.md, in one run that fits a 10-minute device call:
#   speed: the protocol at 512^2 through train() with each lever against the hand-written loop (fp32,
#             compiled, CUDA graph), the 2048^2 random-batch case (2^20 coordinates a step), the 8192^2 peak;
#   many fields: model=many on the protocol's images at 512^2 against single runs.
#
#   bash scripts/gpu_checks.sh [FFN_ROOT]     # FFN_ROOT: the Fourier-features images (<root>/div2k/test/*.png)
#   DRY=1 bash scripts/gpu_checks.sh          # print the commands only
#
# Each check has its own time limit and writes its output to $OUT (default ./gpu_checks/); a check that fails
# or runs out of time is reported and the next one runs. Without FFN_ROOT, model=many uses skimage crops.
set -u
OUT=${OUT:-gpu_checks}
ROOT=${1:-}
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$OUT/gpu.txt" 2>&1 || true

check() {  # check NAME SECONDS COMMAND...
  local name=$1 limit=$2
  shift 2
  echo "== $name (limit ${limit}s): $*" | tee -a "$OUT/summary.txt"
  if [ -n "${DRY:-}" ]; then return 0; fi
  local t0=$SECONDS
  timeout "$limit" "$@" > "$OUT/$name.txt" 2>&1
  local rc=$?
  echo "   rc=$rc, $((SECONDS - t0)) s" | tee -a "$OUT/summary.txt"
  grep -E "^\||^ratio|many / hand|lock-step" "$OUT/$name.txt" | tee -a "$OUT/summary.txt" || true
}

# speed: >= 1000 steps/s at 512^2 through train(), test PSNR within 0.2 dB of the fp32 hand-written loop
check protocol_512 240 python scripts/bench.py --device cuda --size 512 --steps 2000 --levers defaults,defaults/kept,keep_features=false,compile=step,cuda_graph
# speed: >= 200 M coordinates/s with 2^20 random coordinates a step at 2048^2
check batch_2048 90 python scripts/bench.py --case batch --device cuda --steps 200 --levers defaults
# memory: peak device memory of an 8192^2 fit with random batches (bounded by the batch)
check memory_8192 90 python scripts/bench.py --case memory --device cuda --sizes 8192 --batches 1048576 --steps 20
# many fields: 16 images at 512^2, one encoding, 2000 steps, as one run against single runs (4 timed: a rate per image)
if [ -n "$ROOT" ]; then
  check many_512 200 python scripts/bench.py --case many_protocol --device cuda --root "$ROOT/div2k/test" --size 512 --steps 2000 --loop-images 4
else
  check many_512 200 python scripts/bench.py --case many_protocol --device cuda --size 512 --steps 2000 --loop-images 4
fi
echo "summary: $OUT/summary.txt"
