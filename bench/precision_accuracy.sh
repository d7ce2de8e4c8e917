#!/usr/bin/env bash
# Accuracy is part of speed: resnet20 on Fashion-MNIST (Debian's dataset-fashion-mnist: its first
# TRAIN_IMAGES training images, all 10000 test images) for 3 epochs in each of PRECISIONS (fp32,
# bf16, loss-scaled fp16), one device, the same seed and schedule; prints each run's final test
# accuracy, its difference from fp32 in points, images/s and skipped steps. fp16 on a CPU needs
# LibTorch 2.x, and without AVX512-FP16 runs through reference kernels, 10-20x slower than fp32:
# hence TRAIN_IMAGES. Usage: bench/precision_accuracy.sh [BUILD_DIR (build-torch2)]
# Env: EPOCHS (3), THREADS (2), TRAIN_IMAGES (60000), PRECISIONS ("fp32 bf16 fp16"), OUT.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-torch2}
epochs=${EPOCHS:-3} threads=${THREADS:-2} out_dir=${OUT:-bench/results}
train_images=${TRAIN_IMAGES:-60000} precisions=${PRECISIONS:-fp32 bf16 fp16}
src=/usr/share/datasets/fashion-mnist
py=/usr/bin/python3
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
# The first N training images and labels, as IDX files (header count rewritten), test split whole.
mkdir -p "$tmp/data"
$py - "$src" "$tmp/data" "$train_images" <<'PY'
import gzip, shutil, struct, sys
src, dst, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
for name, item in (("train-images-idx3-ubyte", 28 * 28), ("train-labels-idx1-ubyte", 1)):
    raw = gzip.open(f"{src}/{name}.gz").read()
    dims = raw[3]
    head = bytearray(raw[:4 + 4 * dims])
    count = min(n, struct.unpack(">I", head[4:8])[0])
    head[4:8] = struct.pack(">I", count)
    open(f"{dst}/{name}", "wb").write(bytes(head) + raw[len(head):len(head) + count * item])
for name in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
    shutil.copy(f"{src}/{name}.gz", dst)
PY
for p in $precisions; do
  LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4 "$build/parallax" train \
    --model resnet20 --dataset fashion-mnist --data-dir "$tmp/data" --epochs "$epochs" \
    --batch-size 128 --lr 0.1 --lr-schedule cosine --threads "$threads" --precision "$p" \
    --no-checkpoint --out "$tmp/$p" >/dev/null
done
mkdir -p "$out_dir"
$py - "$tmp" "$out_dir/precision_accuracy_$train_images.json" "$epochs" "$train_images" $precisions <<'PY'
import json, os, sys
tmp, out, epochs, train_images = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
runs = {p: json.load(open(os.path.join(tmp, p, "summary.json"))) for p in sys.argv[5:]}
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
json.dump({"model": "resnet20", "dataset": "fashion-mnist", "train_images": train_images,
           "epochs": epochs, "rows": rows},
          open(out + ".tmp", "w"), indent=1)
os.replace(out + ".tmp", out)
print("wrote", out)
PY
