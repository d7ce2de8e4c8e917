#!/usr/bin/env bash
# Single-device throughput, parallax vs PyTorch, measured side by side in one run.
# ResNet-50, 32x32 random data, batch 32, 1 and 2 threads; PyTorch as installed (glibc malloc)
# and with tcmalloc preloaded. Rounds alternate the contenders so machine noise hits all alike;
# each figure is the best round. Usage: bench/single_device.sh [BUILD_DIR]
# Env: ROUNDS (2), STEPS (20 timed), WARMUP (5 untimed), MODEL (resnet50), OUT (bench/results).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/common.sh "$@"
if ! $py -c 'import torch, torchvision' 2>/dev/null; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get install -y -qq --no-install-recommends python3-torch python3-torchvision >/dev/null 2>&1 ||
    echo "bench: python3-torch/torchvision not installable here: parallax side only"
fi
have_torch=0; $py -c 'import torch, torchvision' 2>/dev/null && have_torch=1

tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
json_get() { $py -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$@"; }

parallax_ips() {  # threads
  rm -rf "$tmp/run"
  "$build/parallax" train --model "$model" --dataset synthetic --synthetic-kind random \
    --image-size 32 --synthetic-train 1024 --synthetic-test 32 --batch-size 32 \
    --steps $((warmup + steps)) --timing-warmup "$warmup" --threads "$1" --lr 0.05 \
    --lr-schedule constant --no-augment --no-checkpoint --out "$tmp/run" 2>/dev/null >/dev/null
  json_get "$tmp/run/summary.json" images_per_sec
}
torch_ips() {  # threads [preload]
  LD_PRELOAD=${2:-} $py bench/torch_resnet.py --model "$model" --threads "$1" --batch-size 32 \
    --steps "$steps" --warmup "$warmup" | $py -c 'import json,sys; print(json.load(sys.stdin)["images_per_sec"])'
}
best() { $py -c "import sys; print(max(float(x) for x in sys.argv[1:]))" "$@"; }

mkdir -p "$out_dir"
rows=()
printf "%-8s %14s %14s %18s %10s %12s\n" threads "parallax" "pytorch" "pytorch+tcmalloc" "vs torch" "vs torch+tc"
for t in 1 2; do
  p=(); q=(); r=()
  for ((i = 0; i < rounds; i++)); do
    p+=("$(parallax_ips "$t")")
    if [ $have_torch = 1 ]; then q+=("$(torch_ips "$t")"); r+=("$(torch_ips "$t" "$tcmalloc")"); fi
  done
  bp=$(best "${p[@]}")
  bq=$([ $have_torch = 1 ] && best "${q[@]}" || echo 0)
  br=$([ $have_torch = 1 ] && best "${r[@]}" || echo 0)
  line=$($py -c "
import sys; p,q,r=map(float,sys.argv[1:4]); t=sys.argv[4]
ratio=lambda a,b: f'{a/b:.2f}x' if b>0 else 'n/a'
print(f'{t:<8} {p:14.1f} {q:14.1f} {r:18.1f} {ratio(p,q):>10} {ratio(p,r):>12}')" "$bp" "$bq" "$br" "$t")
  echo "$line"
  rows+=("{\"threads\":$t,\"parallax\":$bp,\"pytorch\":$bq,\"pytorch_tcmalloc\":$br}")
done
printf '{"model":"%s","batch_size":32,"image_size":32,"steps":%s,"rounds":%s,"rows":[%s]}\n' \
  "$model" "$steps" "$rounds" "$(IFS=,; echo "${rows[*]}")" > "$out_dir/single_device.json"
echo "wrote $out_dir/single_device.json"
