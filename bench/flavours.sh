#!/usr/bin/env bash
# The two LibTorch flavours side by side in one run: parallax built against Debian's LibTorch
# 1.13 (build/) and against the pip torch 2.x wheel (build-torch2/), ResNet-50 training on 32x32
# random data, batch 32, at 1 and 2 threads. Rounds alternate the builds so machine noise hits
# both alike; each figure is the best round. Usage: bench/flavours.sh [BUILD_113] [BUILD_2X]
# Env: ROUNDS (3), STEPS (20 timed), WARMUP (5 untimed), MODEL (resnet50), OUT (bench/results).
set -euo pipefail
cd "$(dirname "$0")/.."
old=${1:-build} new=${2:-build-torch2}
rounds=${ROUNDS:-3} steps=${STEPS:-20} warmup=${WARMUP:-5} model=${MODEL:-resnet50}
out_dir=${OUT:-bench/results}
for b in "$old" "$new"; do
  [ -x "$b/parallax" ] || { echo "bench: $b/parallax missing; build it (scripts/build.sh [--torch2])"; exit 2; }
done
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
ips() {  # build threads
  rm -rf "$tmp/run"
  "$1/parallax" train --model "$model" --dataset synthetic --synthetic-kind random \
    --image-size 32 --synthetic-train 1024 --synthetic-test 32 --batch-size 32 \
    --steps $((warmup + steps)) --timing-warmup "$warmup" --threads "$2" --lr 0.05 \
    --lr-schedule constant --no-augment --no-checkpoint --out "$tmp/run" >/dev/null 2>&1
  python3 -c "import json,sys; s=json.load(open(sys.argv[1])); print(s['images_per_sec'], s['torch_version'])" "$tmp/run/summary.json"
}
mkdir -p "$out_dir"
rows=()
printf "%-8s %18s %18s %10s\n" threads "$old" "$new" "new/old"
for t in 1 2; do
  a=0 b=0
  for ((i = 0; i < rounds; i++)); do
    read -r x va < <(ips "$old" "$t"); a=$(python3 -c "print(max($a, $x))")
    read -r y vb < <(ips "$new" "$t"); b=$(python3 -c "print(max($b, $y))")
  done
  printf "%-8s %11.1f (%s) %11.1f (%s) %9.2fx\n" "$t" "$a" "$va" "$b" "$vb" "$(python3 -c "print($b / $a)")"
  rows+=("{\"threads\":$t,\"old\":$a,\"new\":$b,\"old_torch\":\"$va\",\"new_torch\":\"$vb\"}")
done
printf '{"model":"%s","batch_size":32,"image_size":32,"steps":%s,"rounds":%s,"rows":[%s]}\n' \
  "$model" "$steps" "$rounds" "$(IFS=,; echo "${rows[*]}")" > "$out_dir/flavours.json"
echo "wrote $out_dir/flavours.json"
