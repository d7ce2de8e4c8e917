#!/usr/bin/env bash
# Configures and builds parallax (Release, Ninja): into build/ against Debian's LibTorch 1.13, or
# with --torch2 into build-torch2/ against the pip torch in .venv/ (CUDA and NCCL compiled in).
# Other arguments go to CMake.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/flavour.sh
[ "$FLAVOUR" = torch2 ] && shift
args=()
[ "$FLAVOUR" = torch2 ] && args+=("-DPARALLAX_TORCH_ROOT=$(torch2_root)")
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release "${args[@]}" "$@" >/dev/null
# Each LibTorch translation unit needs ~1.5 GiB to compile: one job per core is the ceiling.
ninja -C "$BUILD_DIR" -j "$(nproc)"
