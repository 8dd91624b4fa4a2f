#!/usr/bin/env bash
# The prepared GPU check: PassUntil sampling against batched generate, the trainer against the fair
# HF loop at 125M and 350M, and a short real training run at 350M, on one GPU in under 8 minutes.
# Each part appends its figures to $OUT/figures.txt (and JSON lines to $OUT/*.jsonl) as it ends, so a
# timeout still leaves what finished. Parts run in order of importance, each under what is left of
# the time budget (BUDGET seconds, default 470).
#
#   OUT=/tmp/out bash benchmarks/gpu_check.sh           # on the GPU machine (python3 has torch + transformers)
#   OUT=/tmp/out bash benchmarks/gpu_check.sh --tiny    # the same script on CPU, tiny sizes, to check it runs
set -u
OUT=${OUT:-gpu_check_out}
mkdir -p "$OUT"
PY=${PYTHON:-python3}
BUDGET=${BUDGET:-470}
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
START=$(date +%s)
FIG="$OUT/figures.txt"

if [ "${1:-}" = "--tiny" ]; then
  DEV=cpu; PREC=fp32; SHAPES="64x2x2"; RUN_SHAPE="64x2x2"; PU_SHAPE="128x2x2"; PU_VOCAB=1024
  TRAIN_ARGS="--vocab 2048 --seq-len 128 --batch 8 --steps 4 --rounds 1"; COMPILE=none
  RUN_ARGS="--vocab 2048 --seq-len 128 --global-batch 8 --micro-batch 4 --steps 6 --log-interval 2 --no-compile"
  PU_ARGS="--samples 32 --prompt-tokens 64 --new-tokens 16 --rounds 1 --naive-samples 2"
else
  DEV=cuda; PREC=bf16; SHAPES="768x12x12 1024x24x16"; RUN_SHAPE="1024x24x16"; PU_SHAPE="768x12x12"; PU_VOCAB=32000
  TRAIN_ARGS="--vocab 32000 --seq-len 2048 --batch 16 --steps 10 --rounds 2"; COMPILE=model
  RUN_ARGS="--vocab 32000 --seq-len 2048 --global-batch 32 --micro-batch 16 --steps 40 --log-interval 5"
  PU_ARGS="--samples 256 --prompt-tokens 256 --new-tokens 64 --rounds 3 --naive-samples 4"
fi

left() { echo $(( BUDGET - ($(date +%s) - START) )); }

part() {  # part NAME MAX_SECONDS COMMAND...: run under min(MAX, time left), log everything, keep the figures
  local name=$1 max=$2; shift 2
  local limit; limit=$(left); [ "$limit" -gt "$max" ] && limit=$max
  if [ "$limit" -lt 30 ]; then echo "== $name: skipped, ${limit}s left" | tee -a "$FIG"; return; fi
  echo "== $name (limit ${limit}s): $*" | tee -a "$FIG"
  local t0; t0=$(date +%s)
  timeout --signal=KILL "$limit" "$@" > "$OUT/$name.log" 2>&1
  local rc=$?
  grep -v -e "Loading weights" -e "it/s\]" -e "Warning" -e "warn(" "$OUT/$name.log" | tail -n 14 | tee -a "$FIG"
  echo "== $name: exit $rc after $(( $(date +%s) - t0 ))s" | tee -a "$FIG"
}

{
  echo "gpu_check $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(hostname)"
  if [ "$DEV" = cuda ]; then nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm --format=csv,noheader; fi
  $PY -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__)"
} 2>&1 | tee -a "$FIG"

part passuntil 130 $PY benchmarks/passuntil_throughput.py --device $DEV --shape $PU_SHAPE --vocab $PU_VOCAB $PU_ARGS \
  --skip-efficiency --json "$OUT/passuntil.jsonl"
part real_run 150 $PY benchmarks/real_run.py --shape $RUN_SHAPE $RUN_ARGS --json "$OUT/real_run.jsonl"
part train 200 $PY benchmarks/train_throughput.py --device $DEV --precision $PREC --compile $COMPILE --shapes $SHAPES \
  $TRAIN_ARGS --sides ours,hf --json "$OUT/train.jsonl"
part train_blocks 120 $PY benchmarks/train_throughput.py --device $DEV --precision $PREC --shapes ${SHAPES%% *} \
  $TRAIN_ARGS --sides ours,hf-blocks,ours-blocks,ours-eager --compile $COMPILE --json "$OUT/train_blocks.jsonl"
echo "gpu_check done in $(( $(date +%s) - START ))s" | tee -a "$FIG"
