#!/usr/bin/env bash
# A private single-node Slurm on this machine, for testing the job scripts (jobs/*.slurm).
#
#   tools/slurm_local.sh start DIR    # munged, slurmctld, slurmd with everything under DIR
#   export SLURM_CONF=DIR/slurm.conf  # then sbatch / srun / squeue / scontrol talk to it
#   tools/slurm_local.sh stop DIR     # stops exactly the daemons that `start DIR` started
#
# Needs root (slurmd runs as root; munged runs as user munge), the slurm-wlm and munge packages.
# Everything is private: its own munge key and socket, its own ports (derived from DIR, or
# SLURM_LOCAL_PORT), state, spool and logs under DIR, so it does not touch a system Slurm. This host
# is the only node, with its real CPUs and memory. Process tracking by /proc (proctrack/linuxproc)
# and no task plugin: no cgroups needed. MPI: `srun --mpi=pmix` (pmi2 does not work with Debian's
# Open MPI). Exit code: 0 up / stopped, 1 failed (the reason on stderr), 2 usage.
set -euo pipefail

usage() { echo "usage: $0 start|stop|status DIR" >&2; exit 2; }
[ $# -eq 2 ] || usage
cmd=$1
dir=$(mkdir -p "$2" && cd "$2" && pwd)

die() { echo "slurm_local: $*" >&2; exit 1; }

stop_pidfile() {  # stop the process named by a pid file we wrote, if it is still that daemon
  local f=$1 name=$2 pid
  [ -f "$f" ] || return 0
  pid=$(cat "$f" 2>/dev/null || true)
  if [ -n "$pid" ] && [ -r "/proc/$pid/comm" ] && [ "$(cat "/proc/$pid/comm")" = "$name" ]; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$f"
}

do_stop() {
  stop_pidfile "$dir/run/slurmd.pid" slurmd
  stop_pidfile "$dir/run/slurmctld.pid" slurmctld
  stop_pidfile "$dir/munge/munged.pid" munged
}

do_start() {
  [ "$(id -u)" = 0 ] || die "needs root (slurmd runs as root)"
  for b in munged slurmctld slurmd sbatch srun; do
    command -v "$b" >/dev/null || die "$b not found (apt-get install slurm-wlm munge)"
  done
  id munge >/dev/null 2>&1 || die "no user 'munge' (apt-get install munge)"
  do_stop  # a previous start in the same DIR

  local host port
  host=$(hostname -s)
  port=${SLURM_LOCAL_PORT:-$((20000 + $(printf '%s' "$dir" | cksum | cut -d' ' -f1) % 20000))}
  mkdir -p "$dir"/{state,spool,log,run,munge}
  chmod 755 "$dir"

  # munge: a private key (made once) and socket, run as user munge.
  chown munge:munge "$dir/munge"
  chmod 700 "$dir/munge"
  if [ ! -s "$dir/munge/munge.key" ]; then
    dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 status=none
  fi
  chown munge:munge "$dir/munge/munge.key"
  chmod 400 "$dir/munge/munge.key"
  runuser -u munge -- munged --force \
    --socket="$dir/munge/munge.socket" --key-file="$dir/munge/munge.key" \
    --pid-file="$dir/munge/munged.pid" --log-file="$dir/munge/munged.log" \
    --seed-file="$dir/munge/munged.seed" ||
    die "munged did not start: $(tail -n 3 "$dir/munge/munged.log" 2>/dev/null)"
  for _ in $(seq 50); do [ -S "$dir/munge/munge.socket" ] && break; sleep 0.1; done
  [ -S "$dir/munge/munge.socket" ] || die "munged socket did not appear"

  local cpus mem
  cpus=$(nproc --all)
  mem=$(slurmd -C | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p')
  cat >"$dir/slurm.conf" <<EOF
# Written by tools/slurm_local.sh: a private single-node cluster.
ClusterName=prospect-local
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SrunPortRange=$((port + 2))-$((port + 200))
AuthType=auth/munge
CredType=cred/munge
# cred_expire also sets how long a requeued job waits before it may start again (default 120 s).
AuthInfo=socket=$dir/munge/munge.socket,cred_expire=${SLURM_LOCAL_CRED_EXPIRE:-10}
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/run/slurmctld.pid
SlurmdPidFile=$dir/run/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
SchedulerType=sched/backfill
SwitchType=switch/none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
ReturnToService=2
KillWait=10
MinJobAge=600
SlurmdTimeout=60
InactiveLimit=0
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=local Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:4
EOF
  export SLURM_CONF="$dir/slurm.conf"
  slurmctld -f "$SLURM_CONF" || die "slurmctld did not start: $(tail -n 5 "$dir/log/slurmctld.log" 2>/dev/null)"
  slurmd -f "$SLURM_CONF" -N "$host" || die "slurmd did not start: $(tail -n 5 "$dir/log/slurmd.log" 2>/dev/null)"
  local state=""
  for _ in $(seq 100); do
    state=$(sinfo -h -N -o '%t' 2>/dev/null | head -n 1 || true)
    case $state in idle* | mix* | alloc*) break ;; esac
    sleep 0.2
  done
  case $state in
    idle* | mix* | alloc*) ;;
    *) die "node not ready (state '$state'): $(tail -n 5 "$dir/log/slurmd.log" 2>/dev/null)" ;;
  esac
  echo "slurm_local: up on port $port; export SLURM_CONF=$SLURM_CONF"
}

case $cmd in
  start) do_start ;;
  stop) do_stop; echo "slurm_local: stopped" ;;
  status) SLURM_CONF="$dir/slurm.conf" sinfo ;;
  *) usage ;;
esac
