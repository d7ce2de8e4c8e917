#!/usr/bin/env bash
# The README's test command: install what is missing, build, run the whole GoogleTest suite.
# --torch2: the same against the pip torch 2.x flavour (build-torch2/).
# Tests run two at a time (one per core): those that must not share the machine with another say
# so in tests/serial_tests.cmake (RUN_SERIAL). Prints each phase's seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/flavour.sh
t=$SECONDS
scripts/install-deps.sh "$@"
echo "test.sh: $FLAVOUR install-deps $((SECONDS - t)) s"
t=$SECONDS
scripts/build.sh "$@"
echo "test.sh: $FLAVOUR build $((SECONDS - t)) s"
t=$SECONDS
cd "$BUILD_DIR"
status=0
ctest --output-on-failure --timeout 900 -j "$(nproc)" || status=$?
echo "test.sh: $FLAVOUR tests $((SECONDS - t)) s"
exit $status
