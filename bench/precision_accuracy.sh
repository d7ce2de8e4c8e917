#!/usr/bin/env bash
# Accuracy is part of speed: resnet20 on Fashion-MNIST (Debian's dataset-fashion-mnist, all 60000
# training and 10000 test images) for 3 epochs in fp32, bf16 and fp16 (loss-scaled), one device,
# the same seed and schedule; prints each run's final test accuracy, its difference from fp32 in
# points, images/s and the fp16 run's skipped steps. fp16 on a CPU needs LibTorch 2.x.
# Usage: bench/precision_accuracy.sh [BUILD_DIR (build-torch2)]   Env: EPOCHS (3), THREADS (2),
# OUT (bench/results).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-torch2}
epochs=${EPOCHS:-3} threads=${THREADS:-2} out_dir=${OUT:-bench/results}
py=/usr/bin/python3
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
for p in fp32 bf16 fp16; do
  LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4 "$build/parallax" train \
    --model resnet20 --dataset fashion-mnist --epochs "$epochs" --batch-size 128 --lr 0.1 \
    --lr-schedule cosine --threads "$threads" --precision "$p" --no-checkpoint \
    --out "$tmp/$p" >/dev/null
done
mkdir -p "$out_dir"
$py - "$tmp" "$out_dir/precision_accuracy.json" "$epochs" <<'PY'
import json, os, sys
tmp, out, epochs = sys.argv[1], sys.argv[2], int(sys.argv[3])
runs = {p: json.load(open(os.path.join(tmp, p, "summary.json"))) for p in ("fp32", "bf16", "fp16")}
base = runs["fp32"]["test_accuracy"]
rows = []
print(f"{'precision':<10} {'test acc':>9} {'vs fp32':>9} {'img/s':>8} {'skipped':>8}")
for p, s in runs.items():
    d = 100 * (s["test_accuracy"] - base)
    rows.append({"precision": p, "test_accuracy": s["test_accuracy"], "points_vs_fp32": d,
                 "images_per_sec": s["images_per_sec"], "skipped_steps": s["skipped_steps"],
                 "within_half_a_point": abs(d) <= 0.5})
    print(f"{p:<10} {100 * s['test_accuracy']:8.2f}% {d:+8.2f} {s['images_per_sec']:8.1f} "
          f"{s['skipped_steps']:>8}")
json.dump({"model": "resnet20", "dataset": "fashion-mnist", "epochs": epochs, "rows": rows},
          open(out + ".tmp", "w"), indent=1)
os.replace(out + ".tmp", out)
print("wrote", out)
PY
