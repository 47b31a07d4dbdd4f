#!/usr/bin/env bash
# The GPU benchmarks of diagnosis (benchmarks/patching_random.py) and tuning
# (benchmarks/tuning.py) in one run on one CUDA GPU, at the shapes docs/results.md reports: random
# Llama-2-7B, bf16, T=256, B=8 and B=1; SPT vs its floor, SPT through the bridge and SFT (ours,
# plain HF, and at 7B FSDP2 with CPU offload: about 54 GB of host memory in bf16) at 7B, 13B
# (MHA; no FSDP offload: about 104 GB of host memory) and 1B (GQA), B=8, T=256, and at 7B with
# gradient checkpointing.
# Each benchmark has its own time limit, writes its whole output to OUT_DIR/NAME.log and prints
# its last lines, so one that fails or hangs costs only its own limit.
#
#     bash benchmarks/gpu.sh [OUT_DIR [NAME...]]
#
# runs every benchmark, or only those NAMEs (patching-7b-b8 tuning-7b tuning-13b patching-7b-b1
# tuning-1b tuning-7b-checkpointed; and patching-7b-b1-fp32, the same in float32 to check the
# fast paths' agreement without bf16 rounding), in the order given.
# Run from the repository root. Where sycolens is not installed, the repository root goes on
# PYTHONPATH; wheels in .whl/ (say, transformer-lens and its missing dependencies on a machine
# with no network) are installed into a scratch folder first.
set -u
out=${1:-gpu-results}
shift $(($# > 0 ? 1 : 0))
mkdir -p "$out"
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false PYTHONUNBUFFERED=1
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
if compgen -G ".whl/*.whl" > /dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/sycolens-site .whl/*.whl || exit 1
    export PYTHONPATH="/tmp/sycolens-site:$PYTHONPATH"
fi

run() {  # run NAME SECONDS ARGS...: one benchmark under its own limit
    local name=$1 limit=$2
    shift 2
    echo "== $name ($*)"
    timeout "$limit" python3 "$@" > "$out/$name.log" 2>&1
    local status=$?
    grep -v '%|' "$out/$name.log" | tail -n 16
    echo "   $name: exit $status, ${SECONDS}s since the start"
}

{
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
    python3 -c "import sys, torch, transformers, transformer_lens, accelerate
print(sys.version.split()[0], 'torch', torch.__version__, 'transformers', transformers.__version__,
      'accelerate', accelerate.__version__, 'cuda', torch.version.cuda)"
} > "$out/environment.log" 2>&1 || { cat "$out/environment.log"; exit 1; }
cat "$out/environment.log"

diagnosis=(benchmarks/patching_random.py --device cuda --dtype bfloat16 --seq 256)
tuning=(benchmarks/tuning.py --device cuda --dtype bfloat16 --batch 8 --seq 256
        --warmup 2 --steps 5)
declare -A benchmarks=(
    [patching-7b-b8]="150 ${diagnosis[*]} --batch 8"
    [tuning-7b]="420 ${tuning[*]} --shape 7b"
    [tuning-13b]="240 ${tuning[*]} --shape 13b --contenders spt,spt-bridge,floor,sft,sft-hf"
    [patching-7b-b1]="100 ${diagnosis[*]} --batch 1"
    [tuning-1b]="150 ${tuning[*]} --shape 1b"
    [tuning-7b-checkpointed]="200 ${tuning[*]} --shape 7b --gradient-checkpointing --contenders spt,floor,sft-hf"
    [patching-7b-b1-fp32]="100 ${diagnosis[*]/bfloat16/float32} --batch 1"
)
names=("$@")
[ $# -gt 0 ] || names=(patching-7b-b8 tuning-7b tuning-13b patching-7b-b1 tuning-1b
                       tuning-7b-checkpointed)
for name in "${names[@]}"; do
    [ -n "${benchmarks[$name]:-}" ] || { echo "no benchmark $name: pick from ${!benchmarks[*]}"; exit 2; }
    # shellcheck disable=SC2086  # the table's entries are word lists
    run "$name" ${benchmarks[$name]}
done
