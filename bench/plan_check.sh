#!/usr/bin/env bash
# `parallax plan --check all` on this machine: ResNet-50 and ResNet-20 at 32x32 on 2 ranks, and
# ResNet-20 on 4 ranks (2 cores oversubscribed), every strategy and schedule run for real, 2
# rounds each; keeps each plan.json (predictions, measurements, drift) as
# bench/results/plan_<name>.json and prints the errors. Usage: bench/plan_check.sh [BUILD]
# Env: PARTS ("r50x2 r20x2 r20x4"), STEPS (10), ROUNDS (2), OUT (bench/results)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
out_dir=${OUT:-bench/results}
[ -x "$build/parallax" ] || { echo "bench: $build/parallax missing; build it (scripts/build.sh)"; exit 2; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
mkdir -p "$out_dir"
for part in ${PARTS:-r50x2 r20x2 r20x4}; do
  case $part in
    r50x2) args=(--model resnet50 --batch-size 64 --world 2) ;;
    r20x2) args=(--model resnet20 --batch-size 128 --world 2) ;;
    r20x4) args=(--model resnet20 --batch-size 128 --world 4) ;;
    *) echo "bench: unknown part $part"; exit 2 ;;
  esac
  echo "bench: plan $part" >&2
  "$build/parallax" plan "${args[@]}" --image-size 32 --check all --steps "${STEPS:-10}" \
    --check-rounds "${ROUNDS:-2}" --out "$tmp/$part" >"$tmp/$part.log" 2>&1 ||
    { tail -5 "$tmp/$part.log"; exit 1; }
  grep -E "^(plan: use|check: (step|peak|measured))" "$tmp/$part.log" | sed "s/^/$part: /"
  cp "$tmp/$part/plan.json" "$out_dir/plan_$part.json"
done
