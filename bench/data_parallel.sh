#!/usr/bin/env bash
# Data-parallel throughput side by side in one run: ResNet-50, 32x32 random data, batch 32 per
# rank, 1 thread per rank: parallax single rank, ddp on 2 ranks with and without overlap, and
# PyTorch's DistributedDataParallel (with tcmalloc preloaded, and as installed). Rounds alternate
# the contenders; each figure is the best round. Usage: bench/data_parallel.sh [BUILD_DIR]
# Env: ROUNDS (2), STEPS (20 timed), WARMUP (5), MODEL (resnet50), OUT (bench/results).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
rounds=${ROUNDS:-2} steps=${STEPS:-20} warmup=${WARMUP:-5} model=${MODEL:-resnet50}
out_dir=${OUT:-bench/results}
py=/usr/bin/python3
tcmalloc=/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4
[ -x "$build/parallax" ] || scripts/build.sh
have_torch=0; $py -c 'import torch, torchvision' 2>/dev/null && have_torch=1
[ $have_torch = 1 ] || echo "bench: no python3-torch here (apt-get install python3-torch python3-torchvision): parallax side only"

tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
field() { $py -c "import json,sys; s=json.load(open(sys.argv[1])); print(s[sys.argv[2]] if s[sys.argv[2]] is not None else 0)" "$@"; }

parallax_run() {  # nproc strategy extra-args...
  local n=$1 strategy=$2; shift 2
  rm -rf "$tmp/run"
  "$build/parallax" train --model "$model" --dataset synthetic --synthetic-kind random \
    --image-size 32 --synthetic-train 2048 --synthetic-test 32 --batch-size $((32 * n)) \
    --steps $((warmup + steps)) --timing-warmup "$warmup" --threads 1 --lr 0.05 \
    --lr-schedule constant --no-augment --no-checkpoint --strategy "$strategy" --nproc "$n" \
    --out "$tmp/run" "$@" >/dev/null 2>&1
  echo "$(field "$tmp/run/summary.json" images_per_sec) $(field "$tmp/run/summary.json" comm_hidden_fraction)"
}
torch_ddp() {  # [preload]
  LD_PRELOAD=${1:-} $py bench/torch_ddp.py --model "$model" --nproc 2 --threads 1 --batch-size 32 \
    --steps "$steps" --warmup "$warmup" 2>/dev/null | tail -1 |
    $py -c 'import json,sys; print(json.load(sys.stdin)["images_per_sec"])'
}
best() { $py -c "import sys; print(max(float(x) for x in sys.argv[1:]))" "$@"; }

single=(); overlap=(); plain=(); tdp=(); tdp_tc=(); hidden=0
for ((i = 0; i < rounds; i++)); do
  single+=("$(parallax_run 1 single | cut -d' ' -f1)")
  read -r ips hidden < <(parallax_run 2 ddp --overlap); overlap+=("$ips")
  plain+=("$(parallax_run 2 ddp --no-overlap | cut -d' ' -f1)")
  if [ $have_torch = 1 ]; then tdp_tc+=("$(torch_ddp "$tcmalloc")"); tdp+=("$(torch_ddp)"); fi
done
s=$(best "${single[@]}") o=$(best "${overlap[@]}") p=$(best "${plain[@]}")
t=$([ $have_torch = 1 ] && best "${tdp_tc[@]}" || echo 0)
tg=$([ $have_torch = 1 ] && best "${tdp[@]}" || echo 0)
mkdir -p "$out_dir"
$py - "$s" "$o" "$p" "$t" "$tg" "$hidden" "$model" "$out_dir/data_parallel.json" <<'PY'
import json, sys
s, o, p, t, tg, hidden = map(float, sys.argv[1:7])
ratio = lambda a, b: f"{a / b:.2f}x" if b > 0 else "n/a"
rows = [("parallax single rank (1 thread)", s), ("parallax ddp 2 ranks, overlap", o),
        ("parallax ddp 2 ranks, no overlap", p), ("pytorch DDP 2 ranks + tcmalloc", t),
        ("pytorch DDP 2 ranks (glibc)", tg)]
for name, v in rows:
    print(f"{name:<36} {v:8.1f} img/s")
print(f"ddp overlap / no overlap            {ratio(o, p)}")
print(f"ddp overlap / pytorch DDP+tcmalloc  {ratio(o, t)}")
print(f"ddp overlap / pytorch DDP (glibc)   {ratio(o, tg)}")
print(f"ddp 2 ranks / single rank           {ratio(o, s)} (ideal 2.00x)")
print(f"comm_hidden_fraction (overlap)      {hidden:.2f}")
json.dump({"model": sys.argv[7], "single": s, "ddp_overlap": o, "ddp_no_overlap": p,
           "pytorch_ddp_tcmalloc": t, "pytorch_ddp": tg, "comm_hidden_fraction": hidden},
          open(sys.argv[8], "w"))
print("wrote", sys.argv[8])
PY
