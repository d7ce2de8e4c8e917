#!/usr/bin/env bash
# parallax's tensor parallelism against PyTorch's own side by side in one run (bench/tp_peers.py):
# DTensor's parallelize_module (ColwiseParallel / RowwiseParallel, SequenceParallel LayerNorms,
# loss_parallel) on the same gpt (bench/torch_tp.py), 2 gloo ranks of 1 thread on the CPU;
# gpt-mini and gpt-char at tp 2 and tp 2 + sequence parallelism, fp32. A correctness check goes
# first: the same weights (--init-from) and batches; each step's loss within 1e-5 and gradient
# norm within 1e-5 relative.
# Usage: bench/tp_peers.sh [BUILD_DIR (build-torch2)] [--check | --no-check]
# Env: ROUNDS (3), STEPS (10), WARMUP (3), CHECK_STEPS (3), OUT (bench/results), ROWS (names to
# keep, e.g. "gpt-char": the rows whose name contains one; all by default).
set -euo pipefail
cd "$(dirname "$0")/.."
build=build-torch2
if [ $# -gt 0 ] && [ "${1#--}" = "$1" ]; then build=$1; shift; fi
[ -x .venv/bin/python ] || scripts/install-deps.sh --torch2
if [ ! -x "$build/parallax" ]; then
  if [ "$build" = build-torch2 ]; then scripts/build.sh --torch2; else scripts/build.sh; fi
fi
exec .venv/bin/python bench/tp_peers.py "$build" "$@"
