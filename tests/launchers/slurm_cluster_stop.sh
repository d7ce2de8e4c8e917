#!/usr/bin/env bash
# Stops a cluster that slurm_cluster_start.sh DIR started. Idempotent; leaves DIR (logs, state) in place.
# Usage: slurm_cluster_stop.sh DIR
set -uo pipefail
[ $# -eq 1 ] || { echo "usage: $0 DIR" >&2; exit 2; }
D=$(cd "$1" 2>/dev/null && pwd) || { echo "no such dir $1" >&2; exit 0; }

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
wait_gone() {  # pidfile, timeout(s): wait, then TERM, then KILL
  local f=$1 t=$2 i pid
  [ -f "$f" ] || return 0
  pid=$(cat "$f")
  for ((i = 0; i < t * 10; i++)); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -TERM "$pid" 2>/dev/null
  for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null
}

if [ -f "$D/slurm.conf" ] && { alive "$D/slurmctld.pid" || alive "$D/slurmd.pid"; }; then
  # Stops slurmctld and all registered slurmd.
  SLURM_CONF="$D/slurm.conf" timeout 10 scontrol shutdown >/dev/null 2>&1 || true
fi
wait_gone "$D/slurmd.pid" 10
wait_gone "$D/slurmctld.pid" 10
if alive "$D/munge_run/munged.pid"; then
  munged --socket="$D/munge_run/munge.socket" --stop >/dev/null 2>&1 || true
  wait_gone "$D/munge_run/munged.pid" 5
fi
rm -f "$D/slurmd.pid" "$D/slurmctld.pid" "$D/munge_run/munged.pid"
echo "slurm cluster in $D stopped" >&2
