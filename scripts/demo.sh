#!/usr/bin/env bash
# The README's main job: install what is missing, build, run the `quick` suite (every strategy on
# learnable synthetic data generated from the seed: no download, no GPU) and write its report.
# Extra arguments go to `parallax bench` (e.g. --runs DIR). Runs already finished are kept.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
exec build/parallax bench --preset quick "$@"
