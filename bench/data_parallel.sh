#!/usr/bin/env bash
# Data-parallel throughput side by side in one run: ResNet-50, 32x32 random data, batch 32 per
# rank, 1 thread per rank: parallax single rank, ddp on 2 ranks with and without overlap, zero
# stage 1 and 2, PyTorch's DistributedDataParallel (with tcmalloc preloaded, and as installed) and
# PyTorch's ZeroRedundancyOptimizer under DDP (tcmalloc preloaded). Rounds alternate
# the contenders; each figure is the best round. Usage: bench/data_parallel.sh [BUILD_DIR]
# Env: ROUNDS (2), STEPS (20 timed), WARMUP (5), MODEL (resnet50), OUT (bench/results).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/common.sh "$@"
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
  $py -c "import json,sys; s=json.load(open(sys.argv[1])); print(s['images_per_sec'],
      s['comm_hidden_fraction'] or 0, s['ranks'][0]['optimizer_state_bytes'])" "$tmp/run/summary.json"
}
torch_ddp() {  # preload [--zero]: images/s, or 0 with a warning when the run failed (tried twice)
  local line
  for _ in 1 2; do
    line=$(LD_PRELOAD=${1:-} $py bench/torch_ddp.py --model "$model" --nproc 2 --threads 1 \
      --batch-size 32 --steps "$steps" --warmup "$warmup" ${2:-} 2>"$tmp/torch.err" | tail -1)
    if [ -n "$line" ]; then
      $py -c 'import json,sys; print(json.loads(sys.argv[1])["images_per_sec"])' "$line"; return
    fi
  done
  echo "bench: pytorch run ${2:-ddp} failed: $(tail -1 "$tmp/torch.err")" >&2; echo 0
}
best() { $py -c "import sys; print(max(float(x) for x in sys.argv[1:]))" "$@"; }

single=(); overlap=(); plain=(); z1=(); z2=(); tdp=(); tdp_tc=(); tz=(); hidden=0
for ((i = 0; i < rounds; i++)); do
  single+=("$(parallax_run 1 single | cut -d' ' -f1)")
  read -r ips hidden ddp_state < <(parallax_run 2 ddp --overlap); overlap+=("$ips")
  plain+=("$(parallax_run 2 ddp --no-overlap | cut -d' ' -f1)")
  read -r ips _ z1_state < <(parallax_run 2 zero --zero-stage 1); z1+=("$ips")
  read -r ips _ z2_state < <(parallax_run 2 zero --zero-stage 2); z2+=("$ips")
  if [ $have_torch = 1 ]; then
    tdp_tc+=("$(torch_ddp "$tcmalloc")"); tdp+=("$(torch_ddp)"); tz+=("$(torch_ddp "$tcmalloc" --zero)")
  fi
done
bt() { [ $have_torch = 1 ] && best "$@" || echo 0; }
mkdir -p "$out_dir"
$py - "$model" "$out_dir/data_parallel.json" "$hidden" "$ddp_state" "$z1_state" "$z2_state" \
  "$(best "${single[@]}")" "$(best "${overlap[@]}")" "$(best "${plain[@]}")" "$(best "${z1[@]}")" \
  "$(best "${z2[@]}")" "$(bt "${tdp_tc[@]}")" "$(bt "${tdp[@]}")" "$(bt "${tz[@]}")" <<'PY'
import json, sys
model, path = sys.argv[1:3]
hidden, ddp_state, z1_state, z2_state = map(float, sys.argv[3:7])
s, o, p, z1, z2, t, tg, tz = map(float, sys.argv[7:15])
ratio = lambda a, b: f"{a / b:.2f}x" if b > 0 else "n/a"
rows = [("parallax single rank (1 thread)", s), ("parallax ddp 2 ranks, overlap", o),
        ("parallax ddp 2 ranks, no overlap", p), ("parallax zero-1 2 ranks", z1),
        ("parallax zero-2 2 ranks", z2), ("pytorch DDP 2 ranks + tcmalloc", t),
        ("pytorch DDP 2 ranks (glibc)", tg), ("pytorch DDP+ZeroRedundancyOpt + tcmalloc", tz)]
for name, v in rows:
    print(f"{name:<42} {v:8.1f} img/s")
print(f"ddp overlap / no overlap                   {ratio(o, p)}")
print(f"ddp overlap / pytorch DDP+tcmalloc         {ratio(o, t)}")
print(f"ddp overlap / pytorch DDP (glibc)          {ratio(o, tg)}")
print(f"zero-1 / ddp overlap                       {ratio(z1, o)} (target >= 0.90x)")
print(f"zero-2 / ddp overlap                       {ratio(z2, o)}")
print(f"zero-1 / pytorch ZeroRedundancyOptimizer   {ratio(z1, tz)}")
print(f"ddp 2 ranks / single rank                  {ratio(o, s)} (ideal 2.00x)")
print(f"optimizer state per rank: ddp {ddp_state / 2**20:.1f} MiB, zero-1 {z1_state / 2**20:.1f} MiB"
      f" ({ratio(z1_state, ddp_state)}), zero-2 {z2_state / 2**20:.1f} MiB")
print(f"comm_hidden_fraction (ddp overlap)         {hidden:.2f}")
json.dump({"model": model, "single": s, "ddp_overlap": o, "ddp_no_overlap": p, "zero1": z1,
           "zero2": z2, "pytorch_ddp_tcmalloc": t, "pytorch_ddp": tg,
           "pytorch_zero_tcmalloc": tz, "comm_hidden_fraction": hidden,
           "optimizer_state_bytes_per_rank": {"ddp": ddp_state, "zero1": z1_state,
                                              "zero2": z2_state}},
          open(path, "w"))
print("wrote", path)
PY
