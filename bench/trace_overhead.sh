#!/usr/bin/env bash
# What tracing (--trace, the default) costs a step, side by side in one run: single and ddp on 2
# ranks, ResNet-20 on 16x16 images (short steps, where a fixed per-step cost shows most), with and
# without trace/rank<R>.json. Rounds alternate the contenders; each figure is the median round.
# Usage: bench/trace_overhead.sh [BUILD_DIR]. Env: ROUNDS (5), STEPS (60 timed), WARMUP (5),
# MODEL (resnet20), OUT (bench/results).
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-5} STEPS=${STEPS:-60} MODEL=${MODEL:-resnet20}
source bench/common.sh "$@"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

run() {  # nproc strategy trace-flag: the median timed step seconds
  local n=$1 strategy=$2 flag=$3
  rm -rf "$tmp/run"
  "$build/parallax" train --model "$model" --dataset synthetic --synthetic-kind random \
    --image-size 16 --synthetic-train 4096 --synthetic-test 32 --batch-size 64 \
    --steps $((warmup + steps)) --timing-warmup "$warmup" --threads 1 --lr-schedule constant \
    --no-augment --no-checkpoint --strategy "$strategy" --nproc "$n" "$flag" \
    --out "$tmp/run" >/dev/null 2>&1
  $py -c "import json,sys; print(json.load(open(sys.argv[1]))['step_time_s']['median'])" \
    "$tmp/run/summary.json"
}

declare -A t
for ((i = 0; i < rounds; i++)); do
  for c in "1 single" "2 ddp"; do
    for flag in --trace --no-trace; do t["$c $flag"]+="$(run $c $flag) "; done
  done
done
mkdir -p "$out_dir"
$py - "$out_dir/trace_overhead.json" "$model" "${t[1 single --trace]}" "${t[1 single --no-trace]}" \
  "${t[2 ddp --trace]}" "${t[2 ddp --no-trace]}" <<'PY'
import json, statistics, sys
path, model = sys.argv[1:3]
st, sn, dt, dn = ([float(x) for x in a.split()] for a in sys.argv[3:7])
rows = {}
for name, on, off in (("single", st, sn), ("ddp-nproc2", dt, dn)):
    m_on, m_off = statistics.median(on), statistics.median(off)
    rows[name] = {"step_s_trace": m_on, "step_s_no_trace": m_off, "overhead": m_on / m_off - 1,
                  "rounds_trace": on, "rounds_no_trace": off}
    print(f"{name:11s} step {m_on * 1e3:7.2f} ms traced, {m_off * 1e3:7.2f} ms untraced: "
          f"overhead {100 * (m_on / m_off - 1):+.1f}% (median of {len(on)} alternating rounds)")
json.dump({"model": model, "configs": rows}, open(path, "w"), indent=2)
PY
