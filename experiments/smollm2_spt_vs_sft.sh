#!/usr/bin/env bash
# SmolLM2-135M-Instruct on this CPU: SPT on the top heads of its direct-effect ranking and on
# random heads, vs SFT, evaluated with the judge on held-out bundled questions.
# Usage: experiments/smollm2_spt_vs_sft.sh [OUT]   (about 50 minutes on 2 CPU cores)
# Each step is the same CLI a user runs; peak memory comes from /usr/bin/time -v in each log.
set -euo pipefail
OUT=${1:-out/smollm2-tuning}
PY=${PY:-.venv/bin/python}
M=smollm2-135m-instruct
K=16
TRAIN="--n-questions 96 --seed 0 --steps 30 --batch-size 8"
export HF_HUB_OFFLINE=1
mkdir -p "$OUT"
timed() { local log=$1; shift; /usr/bin/time -v "$@" >"$OUT/$log" 2>&1; }

timed patch-direct.log $PY -m sycolens.patch --model $M --mode direct --pairs 32 --top-k $K \
  --out "$OUT/heads-direct.json"
timed spt-direct.log $PY -m sycolens.tune --model $M --heads "$OUT/heads-direct.json" --top-k $K \
  $TRAIN --out "$OUT/spt-direct"
timed spt-random.log $PY -m sycolens.tune --model $M --random-heads 0 --top-k $K \
  $TRAIN --out "$OUT/spt-random"
timed sft.log $PY -m sycolens.tune --model $M --mode sft $TRAIN --out "$OUT/sft"
timed evaluate.log $PY -m sycolens.evaluate --model $M \
  --deltas "$OUT/spt-direct/deltas.safetensors" \
  --deltas "$OUT/spt-random/deltas.safetensors" --tuned "$OUT/sft/model" \
  --n-questions 48 --n-general 32 --n-texts 16 --batch-size 16 \
  --out "$OUT/evaluation.json" --html "$OUT/evaluation.html"
tail -n 30 "$OUT/evaluate.log" | grep -v "Command being timed" || true
