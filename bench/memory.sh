#!/usr/bin/env bash
# Measured memory per rank by kind (summary.json ranks[i].memory_measured, from the allocator)
# for single, ddp, zero 1/2/3, model and pipeline (GPipe and 1F1B, M=8), beside the memory model's
# prediction (`parallax plan --memory`) and the ZeRO paper's rule, with the issue's targets
# checked. ResNet-50 on 32x32 random data, batch 32 per data-parallel rank (32 through the
# pipeline), SGD with momentum, fp32; ZeRO at 2 and 4 ranks. Two steps per run (the memory probe
# reads the first two). Usage: bench/memory.sh [BUILD]  Env: MODEL (resnet50), OUT (bench/results)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
model=${MODEL:-resnet50}
out_dir=${OUT:-bench/results}
[ -x "$build/parallax" ] || { echo "bench: $build/parallax missing; build it (scripts/build.sh)"; exit 2; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
common=(--model "$model" --dataset synthetic --synthetic-kind random --image-size 32
        --synthetic-test 16 --epochs 1 --threads 1 --lr 0.05 --lr-schedule constant --no-augment
        --no-checkpoint --balance params)
run() {  # name global_batch args...
  local name=$1 batch=$2; shift 2
  echo "bench: $name" >&2
  "$build/parallax" train "${common[@]}" --batch-size "$batch" --synthetic-train $((2 * batch)) \
    --timing-warmup 0 --out "$tmp/$name" "$@" >"$tmp/$name.log" 2>&1 || { cat "$tmp/$name.log"; exit 1; }
}
run single 32 --strategy single
run ddp-2 64 --strategy ddp --nproc 2
for n in 2 4; do
  # One whole gradient bucket at a time at stages 2 and 3: the ZeRO paper's gradient memory.
  for s in 1 2 3; do
    run "zero$s-$n" $((32 * n)) --strategy zero --zero-stage $s --nproc $n --buckets-in-flight 1
  done
done
run model-2 32 --strategy model --nproc 2
run gpipe-2 32 --strategy pipeline --pipeline-schedule gpipe --micro-batches 8 --nproc 2
run 1f1b-2 32 --strategy pipeline --pipeline-schedule 1f1b --micro-batches 8 --nproc 2
plan() {  # name world batch
  "$build/parallax" plan --memory "${common[@]}" --world "$2" --batch-size "$3" --micro-batches 8 \
    --buckets-in-flight 1 \
    --json "$tmp/plan-$1.json" >/dev/null
}
plan 1 1 32; plan 2 2 64; plan 4 4 128; plan p2 2 32
# Speed: ddp and zero 1/2/3 on 2 ranks, rounds alternating so that noise hits all alike.
steps=${STEPS:-12} warmup=${WARMUP:-3}
: >"$tmp/speed.txt"
for ((round = 0; round < ${ROUNDS:-2}; round++)); do
  for v in ddp zero1 zero2 zero3; do
    args=(--strategy ddp); [ "$v" != ddp ] && args=(--strategy zero --zero-stage "${v#zero}")
    rm -rf "$tmp/speed"
    "$build/parallax" train "${common[@]}" --batch-size 64 --synthetic-train 1024 --nproc 2 \
      --steps $((warmup + steps)) --timing-warmup "$warmup" --out "$tmp/speed" "${args[@]}" \
      >/dev/null 2>&1
    echo "$v $(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['images_per_sec'])" \
      "$tmp/speed/summary.json")" >>"$tmp/speed.txt"
  done
done
mkdir -p "$out_dir"
python3 bench/memory_table.py "$tmp" "$out_dir/memory.json"
