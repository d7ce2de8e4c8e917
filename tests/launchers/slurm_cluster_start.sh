#!/usr/bin/env bash
# A throw-away one-node Slurm cluster for the launcher tests (munge + slurmctld + slurmd, no systemd).
# Usage: eval "$(slurm_cluster_start.sh DIR)"     # DIR: fresh/empty dir, short path (unix socket paths < 108 chars)
# Needs: root; packages slurm-wlm munge (Debian 12: slurm 22.05).
# Env overrides: SLURM_CPUS (default: nproc; larger values allowed -> oversubscription),
#                SLURM_CTLD_PORT / SLURM_D_PORT (default: first free port pair from 16817 upward),
#                START_TIMEOUT (seconds to wait for node idle, default 30).
# Only the `export SLURM_CONF=...` line goes to stdout; diagnostics go to stderr.
set -euo pipefail

[ $# -eq 1 ] || { echo "usage: $0 DIR" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || { echo "must run as root" >&2; exit 2; }
for b in munged mungekey slurmctld slurmd sinfo scontrol srun; do
  command -v "$b" >/dev/null || { echo "missing $b (apt-get install slurm-wlm munge)" >&2; exit 2; }
done

mkdir -p "$1"
D=$(cd "$1" && pwd)
H=$(hostname -s)
NCPU=${SLURM_CPUS:-$(nproc)}
TIMEOUT=${START_TIMEOUT:-30}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
if [ -z "${SLURM_CTLD_PORT:-}" ]; then
  p=16817
  while ! port_free "$p" || ! port_free $((p + 1)); do p=$((p + 2)); done
  SLURM_CTLD_PORT=$p
fi
SLURM_D_PORT=${SLURM_D_PORT:-$((SLURM_CTLD_PORT + 1))}

# munge: key dir must be private, socket dir must be a+x; parents of both must not be
# group/other-writable unless sticky (/tmp is fine).
mkdir -p "$D/munge_key" "$D/munge_run" "$D/state" "$D/spool" "$D/log"
chmod 700 "$D/munge_key"
chmod 755 "$D" "$D/munge_run"
[ -f "$D/munge_key/munge.key" ] || mungekey --create --keyfile="$D/munge_key/munge.key"
chmod 600 "$D/munge_key/munge.key"
MSOCK="$D/munge_run/munge.socket"

cat > "$D/slurm.conf" <<EOF
ClusterName=ci
SlurmctldHost=$H(127.0.0.1)
SlurmctldPort=$SLURM_CTLD_PORT
SlurmdPort=$SLURM_D_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$MSOCK
StateSaveLocation=$D/state
SlurmdSpoolDir=$D/spool
SlurmctldPidFile=$D/slurmctld.pid
SlurmdPidFile=$D/slurmd.pid
SlurmctldLogFile=$D/log/slurmctld.log
SlurmdLogFile=$D/log/slurmd.log
SlurmdParameters=config_overrides
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/builtin
ReturnToService=2
MpiDefault=none
MailProg=/bin/true
SwitchType=switch/none
JobCompType=jobcomp/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
NodeName=$H NodeAddr=127.0.0.1 CPUs=$NCPU State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF="$D/slurm.conf"

dump_logs() {
  for f in "$D/munge_key/munged.log" "$D/log/slurmctld.log" "$D/log/slurmd.log"; do
    [ -f "$f" ] && { echo "== $f" >&2; tail -n 30 "$f" >&2; }
  done
}
cleanup_on_failure() {
  local rc=$?
  [ $rc -eq 0 ] && return 0
  echo "start_cluster: failed (rc=$rc); logs and cleanup follow" >&2
  dump_logs
  for f in "$D/slurmd.pid" "$D/slurmctld.pid" "$D/munge_run/munged.pid"; do
    [ -f "$f" ] && kill -TERM "$(cat "$f")" 2>/dev/null || true
  done
  exit $rc
}
trap cleanup_on_failure EXIT

munged --socket="$MSOCK" --key-file="$D/munge_key/munge.key" \
  --pid-file="$D/munge_run/munged.pid" --log-file="$D/munge_key/munged.log" \
  --seed-file="$D/munge_key/munged.seed" >&2
munge -n -S "$MSOCK" | unmunge -S "$MSOCK" >/dev/null

# Both daemonize; pid files are written to $D.
slurmctld -f "$SLURM_CONF" >&2
slurmd -f "$SLURM_CONF" -N "$H" >&2

deadline=$((SECONDS + TIMEOUT))
until [ "$(sinfo -h -n "$H" -o %t 2>/dev/null)" = idle ]; do
  if [ $SECONDS -ge $deadline ]; then
    echo "node $H not idle after ${TIMEOUT}s: $(sinfo -h -N -o '%N %t %E' 2>&1)" >&2
    exit 1
  fi
  sleep 0.2
done
echo "slurm cluster up in $D (node $H, CPUs=$NCPU, ctld port $SLURM_CTLD_PORT)" >&2
echo "export SLURM_CONF=$SLURM_CONF"
