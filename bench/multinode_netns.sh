#!/usr/bin/env bash
# Multi-node data-parallel training for real, on one machine: two Linux network namespaces joined
# by a veth pair act as two nodes (10.77.0.1 and 10.77.0.2), one rank each, and `parallax train
# --strategy ddp --nnodes 2` trains ResNet-20 (20 steps, synthetic data) over that link: the
# TCPStore rendezvous and Gloo's all-reduce both cross the veth. Checks that rank 0's summary.json
# says world_size 2 and prints its throughput and communication figures.
# Usage (as root, needs iproute2): bench/multinode_netns.sh [--netem DELAY] [BUILD_DIR]
#   --netem 5ms  adds `tc netem delay 5ms` on both veth ends (a slower link; needs tc).
# Env: STEPS (20), MODEL (resnet20), TIMEOUT (300 s for the whole run). Skips (exit 0) where
# namespaces cannot be made. Namespaces and veth are removed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
netem=""
if [ "${1:-}" = --netem ]; then netem=${2:?--netem needs a delay, e.g. 5ms}; shift 2; fi
build=${1:-build}
steps=${STEPS:-20} model=${MODEL:-resnet20} limit=${TIMEOUT:-300}
py=/usr/bin/python3
[ -x "$build/parallax" ] || { echo "multinode_netns: no $build/parallax (build it first)" >&2; exit 1; }

ns=(pxn0-$$ pxn1-$$) veth=(pxv0-$$ pxv1-$$) addr=(10.77.0.1 10.77.0.2)
tmp=$(mktemp -d)
cleanup() {
  for n in "${ns[@]}"; do ip netns del "$n" 2>/dev/null || true; done
  ip link del "${veth[0]}" 2>/dev/null || true  # only if it never reached its namespace
  rm -rf "$tmp"
}
trap cleanup EXIT
skip() { echo "multinode_netns: skipped: cannot create network namespaces (needs root and iproute2)"; exit 0; }
[ "$(id -u)" = 0 ] && command -v ip >/dev/null || skip
ip netns add "${ns[0]}" 2>/dev/null && ip netns add "${ns[1]}" 2>/dev/null || skip

ip link add "${veth[0]}" type veth peer name "${veth[1]}"
for i in 0 1; do
  ip link set "${veth[i]}" netns "${ns[i]}"
  ip -n "${ns[i]}" addr add "${addr[i]}/24" dev "${veth[i]}"
  ip -n "${ns[i]}" link set lo up
  ip -n "${ns[i]}" link set "${veth[i]}" up
  if [ -n "$netem" ] && ! { command -v tc >/dev/null &&
      ip netns exec "${ns[i]}" tc qdisc add dev "${veth[i]}" root netem delay "$netem"; }; then
    echo "multinode_netns: no tc, or no netem qdisc in this kernel: --netem ignored"; netem=""
  fi
done

# Each node its own --out (local paths may differ between nodes; only rank 0 writes). parallax
# binds Gloo to the address that routes to the master (or to GLOO_SOCKET_IFNAME).
run_dir=$tmp/run
pids=()
for i in 0 1; do
  ip netns exec "${ns[i]}" "$build/parallax" train --strategy ddp --nnodes 2 --node-rank "$i" \
    --nproc 1 --master-addr "${addr[0]}" --master-port 29555 --model "$model" --steps "$steps" \
    --batch-size 32 --epochs 1 --synthetic-train 640 --synthetic-test 128 --threads 1 \
    --comm-timeout 60 --out "$run_dir$i" >"$tmp/node$i.log" 2>&1 &
  pids+=($!)  # `ip netns exec` execs parallax itself: this is the launcher's pid
done
# Watchdog: a node that cannot reach the other must not hang the script.
start=$SECONDS timed_out=0
while kill -0 "${pids[0]}" 2>/dev/null || kill -0 "${pids[1]}" 2>/dev/null; do
  sleep 1
  if ((SECONDS - start > limit && !timed_out)); then
    echo "multinode_netns: still running after ${limit}s: stopping both nodes" >&2
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    timed_out=1
  fi
done
rc=(0 0)
for i in 0 1; do wait "${pids[i]}" || rc[i]=$?; done
for i in 0 1; do echo "--- node $i (${ns[i]}, ${addr[i]}), exit ${rc[i]}"; tail -n 4 "$tmp/node$i.log"; done
if [ "${rc[0]}" != 0 ] || [ "${rc[1]}" != 0 ] || [ $timed_out = 1 ]; then
  echo "multinode_netns: FAILED (node exit codes ${rc[0]} ${rc[1]}, timed out: $timed_out)" >&2; exit 1
fi

$py - "${run_dir}0/summary.json" "$netem" "$((SECONDS - start))" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
if s.get("world_size") != 2:
    sys.exit(f"multinode_netns: FAILED: world_size is {s.get('world_size')}, expected 2")
model = s["model"]["name"] if isinstance(s["model"], dict) else s["model"]
fig = lambda k, f="{:.3f}": f.format(s[k]) if s.get(k) is not None else "n/a"
print(f"multinode_netns: ok: 2 nodes over veth{' (netem ' + sys.argv[2] + ')' if sys.argv[2] else ''},"
      f" {s['strategy']} {model}, {s['steps']} steps, {sys.argv[3]}s wall")
print(f"  world_size {s['world_size']}  images_per_sec {fig('images_per_sec', '{:.1f}')}"
      f"  median step {((s.get('step_time_s') or {}).get('median') or 0) * 1000:.1f} ms")
print(f"  comm_s {fig('comm_s')}  comm_busy_s {fig('comm_busy_s')}"
      f"  comm_hidden_fraction {fig('comm_hidden_fraction', '{:.2f}')}  compute_s {fig('compute_s')}")
PY
