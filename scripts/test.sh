#!/usr/bin/env bash
# The README's test command: install what is missing, build, run the whole GoogleTest suite.
# --torch2: the same against the pip torch 2.x flavour (build-torch2/).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/flavour.sh
scripts/install-deps.sh "$@"
scripts/build.sh "$@"
cd "$BUILD_DIR"
ctest --output-on-failure --timeout 900 -j 1
