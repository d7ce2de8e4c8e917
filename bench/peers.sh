#!/usr/bin/env bash
# parallax against the peers people pick today, side by side in one run (bench/peers.py): PyTorch
# 2.x eager (fp32, and bf16 autocast + channels-last), DDP, ZeroRedundancyOptimizer, FSDP2,
# fairscale OSS + ShardedDataParallel, torch.distributed.pipelining, torchgpipe, and Debian's
# PyTorch 1.13 where installed. Peers come pinned from bench/peers-requirements.txt into .venv/.
# Usage: bench/peers.sh [BUILD_DIR (build-torch2)]   Env: ROUNDS (2), STEPS (20), WARMUP (5),
# MODEL (resnet50), ROWS (all, or a comma list of: single, ddp, zero, pipeline), OUT (bench/results).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-torch2}
[ -x .venv/bin/python ] || scripts/install-deps.sh --torch2
.venv/bin/python -c 'import torchvision, fairscale, torchgpipe' 2>/dev/null ||
  .venv/bin/pip install -q --no-deps -r bench/peers-requirements.txt
if [ ! -x "$build/parallax" ]; then
  if [ "$build" = build-torch2 ]; then scripts/build.sh --torch2; else scripts/build.sh; fi
fi
exec .venv/bin/python bench/peers.py --build "$build"
