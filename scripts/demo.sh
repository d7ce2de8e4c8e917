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
t=$SECONDS
scripts/install-deps.sh "${flag[@]}"
echo "demo: install-deps $((SECONDS - t)) s"
t=$SECONDS
scripts/build.sh "${flag[@]}" --target parallax  # not the tests: the demo never runs them
echo "demo: build $((SECONDS - t)) s"
t=$SECONDS
status=0
"$BUILD_DIR/parallax" bench --preset quick "$@" || status=$?
echo "demo: quick suite $((SECONDS - t)) s"
exit $status
