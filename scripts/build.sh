#!/usr/bin/env bash
# Configures and builds parallax (Release, Ninja): into build/ against Debian's LibTorch 1.13, or
# with --torch2 into build-torch2/ against the pip torch in .venv/ (CUDA and NCCL compiled in).
# --target NAME (repeatable) builds only that target and what it needs (scripts/demo.sh: the
# parallax binary alone); without it, everything. Other arguments go to CMake.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/flavour.sh
[ "$FLAVOUR" = torch2 ] && shift
args=()
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --target=*) targets+=("${1#--target=}"); shift ;;
    --target)
      [ $# -ge 2 ] || { echo "build.sh: --target needs a target name (e.g. parallax)" >&2; exit 2; }
      targets+=("$2"); shift 2 ;;
    *) args+=("$1"); shift ;;
  esac
done
[ "$FLAVOUR" = torch2 ] && args+=("-DPARALLAX_TORCH_ROOT=$(torch2_root)")
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release "${args[@]}" >/dev/null
# Each LibTorch translation unit needs ~1.5 GiB to compile: one job per core is the ceiling.
ninja -C "$BUILD_DIR" -j "$(nproc)" "${targets[@]}"
