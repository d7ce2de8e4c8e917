#!/usr/bin/env bash
# The README's main job: install what is missing, build, run the `quick` suite (every strategy on
# a fixed subset of Debian's Fashion-MNIST, or learnable synthetic data generated from the seed
# where it is absent: no download, no GPU) and write its report.
# --torch2 first: the pip torch 2.x flavour. Other arguments go to `parallax bench` (e.g. --runs
# DIR). Runs already finished are kept.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/flavour.sh
flag=()
[ "$FLAVOUR" = torch2 ] && { flag=(--torch2); shift; }
scripts/install-deps.sh "${flag[@]}"
scripts/build.sh "${flag[@]}" --target parallax  # not the tests: the demo never runs them
exec "$BUILD_DIR/parallax" bench --preset quick "$@"
