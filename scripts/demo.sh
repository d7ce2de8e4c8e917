#!/usr/bin/env bash
# The README's main job: install what is missing, build, and train on the embedded default
# (learnable synthetic data generated from the seed: no download, no GPU). Extra args go to train.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
exec build/parallax train --model resnet20 --epochs 3 "$@"
