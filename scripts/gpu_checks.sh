#!/usr/bin/env bash
# Every pending GPU measurement of BENCHMARKS.md, in one run that fits a 10-minute device call:
#   speed: the protocol at 512^2 through train() with each lever against the hand-written loop (fp32,
#             compiled, CUDA graph), the 2048^2 random-batch case (2^20 coordinates a step), the 8192^2 peak;
#   many fields: model=many on the protocol's images at 512^2 against single runs;
#   COIN (KODAK=<folder of kodim01..24.png>): one Kodak image at 5x20, 50,000 steps, nfields beside the reference.
#
#   bash scripts/gpu_checks.sh [FFN_ROOT]     # FFN_ROOT: the Fourier-features images (<root>/div2k/test/*.png)
#   DRY=1 bash scripts/gpu_checks.sh          # print the commands only
#   KODAK=<dir> COIN_FULL=1 bash scripts/gpu_checks.sh   # COIN's whole protocol only (5 x 24 fits: hours)
#   SDF_FULL=1 bash scripts/gpu_checks.sh     # SIREN's and FINER's SDF protocols only, nfields beside the reference
#                                             # (scripts/sdf_repro.py --full: 6 cases, 200,000 steps for FINER's: hours)
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

# COIN: experiment=coin's best.ckpt through compress.py --bits 16 (the decoded 8-bit render), the reference with
# nfields' settings on the same whole 768x512 image (experiment=coin: data.crop=null), and the reference as COIN
# runs it (COIN's grid and biases, its half model, unclamped, as its results.json). One row: | LxW | image | ... |
coin_run() {  # coin_run IMAGE LAYERS WIDTH
  local img=$1 L=$2 W=$3 dir="$OUT/coin/$1_$2x$3" ref="python scripts/baselines/coin.py $KODAK/$1.png --layers $2 --width $3"
  python train.py experiment=coin "data.image=$KODAK/$img.png" "network.n_hidden_layers=$L" "network.n_neurons=$W" \
    logger=none "hydra.run.dir=$dir" > "$dir.train.txt" 2>&1
  local ours crop full
  ours=$(python scripts/compress.py "$dir/checkpoints/best.ckpt" --out "$dir.nfc" --bits 16 | awk '/^decoded PSNR/ {print $3}')
  crop=$($ref --grid cells --bias torch | awk '/^fp16:/ {print $2}')
  full=$($ref | tee "$dir.reference.txt" | awk '/^fp16:/ {print $8}')
  echo "| ${L}x$W | $img | $ours | $crop | $full |"
}
export -f coin_run
export OUT KODAK
[ -n "${KODAK:-}" ] && mkdir -p "$OUT/coin"
if [ -n "${KODAK:-}" ] && [ -n "${COIN_FULL:-}" ]; then  # every architecture on every image, then means per architecture
  for arch in "5 20" "5 30" "10 28" "10 40" "13 49"; do
    for i in $(seq -w 1 24); do
      check "coin_kodim${i}_${arch/ /x}" 3600 bash -c "coin_run kodim$i $arch"
    done
  done
  grep -h "^| [0-9]" "$OUT"/coin_kodim*.txt | awk -F'|' '{n[$2]++; a[$2]+=$4; b[$2]+=$5; c[$2]+=$6}
    END {for (k in n) printf "| %s | mean of %d | %.2f | %.2f | %.2f |\n", k, n[k], a[k]/n[k], b[k]/n[k], c[k]/n[k]}' \
    | tee -a "$OUT/summary.txt"
  exit 0
fi

if [ -n "${SDF_FULL:-}" ]; then  # ../shared/data/shapes (NFIELDS_SHARED_DATA): kitten, bunny00, armadillo
  check sdf_repro_full 86400 python scripts/sdf_repro.py --full --out "$OUT/sdf_repro_full"
  exit 0
fi

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
if [ -n "${KODAK:-}" ]; then
  check coin_kodim15_5x20 600 bash -c "coin_run kodim15 5 20"
fi
echo "summary: $OUT/summary.txt"
