#!/usr/bin/env bash
# parallax's gpt against PyTorch's side by side in one run (bench/gpt_peers.py): a nanoGPT-style
# model in PyTorch 2.x eager (fp32 and bf16 autocast), DDP and FSDP2, Hugging Face's
# GPT2LMHeadModel where transformers is installed; gpt-mini and gpt-char at 1 and 2 threads, and
# full recomputation against none. Usage: bench/gpt_peers.sh [BUILD_DIR (build-torch2)]
# Env: ROUNDS (2), STEPS (10), WARMUP (3), OUT (bench/results), ROWS (names to keep, e.g.
# "gpt-char": the rows whose name contains one; all by default).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-torch2}
[ -x .venv/bin/python ] || scripts/install-deps.sh --torch2
if [ ! -x "$build/parallax" ]; then
  if [ "$build" = build-torch2 ]; then scripts/build.sh --torch2; else scripts/build.sh; fi
fi
exec .venv/bin/python bench/gpt_peers.py "$build"
