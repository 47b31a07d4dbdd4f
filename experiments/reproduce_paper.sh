#!/usr/bin/env bash
# The paper's 7B experiments (Chen et al. 2024, Tables 13/14) on a GPU, from local checkpoints:
# Llama-2-7B-Chat (MHA) and Mistral-7B-Instruct-v0.2 (GQA), each walked through the whole
# pipeline (diagnose, verify, SPT on K=32 top heads vs 32 random heads vs SFT, evaluate) into
# OUT/<name>/report.html. Extra flags go to every pipeline run: --smoke checks both checkpoints
# end to end at the smallest sizes first; --device cuda:1 picks a GPU. SFT in fp32 with AdamW
# needs more than one 80 GB GPU holds (docs/paper-7b.md).
# Usage: experiments/reproduce_paper.sh LLAMA2_7B_CHAT_DIR MISTRAL_7B_INSTRUCT_V02_DIR [OUT] [FLAGS...]
set -euo pipefail
if [ $# -lt 2 ]; then
  sed -n '2,8p' "$0" >&2
  exit 2
fi
LLAMA=$1
MISTRAL=$2
shift 2
OUT=out/paper
if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then
  OUT=$1
  shift
fi
PY=${PY:-.venv/bin/python}
HERE=$(dirname "$0")
export HF_HUB_OFFLINE=${HF_HUB_OFFLINE:-1}
for run in "llama2-7b-chat:$LLAMA" "mistral-7b-instruct-v0.2:$MISTRAL"; do
  name=${run%%:*}
  "$PY" -m sycolens.pipeline --config "$HERE/$name.json" --model "${run#*:}" \
    --out "$OUT/$name" "$@"
done
