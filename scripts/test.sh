#!/usr/bin/env bash
# The README's test command: install what is missing, build, run the whole GoogleTest suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
cd build
ctest --output-on-failure --timeout 900 -j 1
