#!/usr/bin/env bash
# Issue 13's long run: 20,000 training steps of every method at tiny size, each method in a process
# of its own (so no method inherits another's allocator state), RSS and live tensors sampled every
# 1,000 steps. Usage: bash bench/long-run.sh [steps] [methods...]   (records go to runs/long-run/)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
steps=${1:-20000}
shift || true
methods=("$@")
[ ${#methods[@]} -gt 0 ] || methods=(lora adalora dylora sora sara mosara tied_lora)
out=runs/long-run
mkdir -p "$out"
dotnet build bench/PeftSharp.Bench -c Release --nologo -v q > /dev/null
for method in "${methods[@]}"; do
  dotnet bench/PeftSharp.Bench/bin/Release/net10.0/PeftSharp.Bench.dll memory --steps "$steps" --methods "$method" --batch-size 4 --max-length 32 \
    | tee "$out/$method.txt" | grep -E "^(RSS|live)"
done
