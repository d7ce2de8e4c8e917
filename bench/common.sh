# Shared set-up of the throughput benchmarks (sourced from the repository root): build folder,
# round/step counts from the environment, the reference Python and tcmalloc, a build if missing.
build=${1:-build}
rounds=${ROUNDS:-2} steps=${STEPS:-20} warmup=${WARMUP:-5} model=${MODEL:-resnet50}
out_dir=${OUT:-bench/results}
py=/usr/bin/python3
tcmalloc=/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4
[ -x "$build/parallax" ] || scripts/build.sh
