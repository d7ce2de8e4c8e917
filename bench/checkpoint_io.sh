#!/usr/bin/env bash
# Checkpoint save and load per rank, sharded against consolidated (bench/checkpoint_io.py):
# ResNet-50 ZeRO-3 on 4 ranks. Usage: bench/checkpoint_io.sh [BUILD_DIR (build-torch2)]
# Env: ROUNDS (2), NPROC (4), MODEL (resnet50), OUT (bench/results).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-torch2}
if [ ! -x "$build/parallax" ]; then
  if [ "$build" = build-torch2 ]; then scripts/build.sh --torch2; else scripts/build.sh; fi
fi
exec /usr/bin/python3 bench/checkpoint_io.py "$build"
