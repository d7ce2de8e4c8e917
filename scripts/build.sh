#!/usr/bin/env bash
# Configures and builds parallax (Release, Ninja) into build/; extra arguments go to CMake.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
# Each LibTorch translation unit needs ~1.5 GiB to compile: one job per core is the ceiling.
ninja -C build -j "$(nproc)"
