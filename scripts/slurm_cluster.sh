#!/usr/bin/env bash
# A throwaway single-node SLURM cluster that lives in one folder (used by `make slurm-test`).
#
#   scripts/slurm_cluster.sh start DIR   # installs slurm-wlm + munge if missing, writes DIR/slurm.conf, starts munged,
#                                        # slurmctld and slurmd, records their PIDs in DIR/pids, waits for the node
#   scripts/slurm_cluster.sh stop DIR    # cancels every job, kills the recorded daemons by PID and every process that
#                                        # still holds a file under DIR (job steps), then removes DIR
#
# Client commands need `SLURM_CONF=DIR/slurm.conf` (the munge socket, ports, state and spool are all under DIR, so it
# never touches a system SLURM or munge). Needs root. No accounting (no slurmdbd): `sacct` does not work here,
# as on some real clusters.
set -euo pipefail

usage() { echo "usage: $0 start|stop DIR" >&2; exit 2; }
[[ $# -eq 2 ]] || usage
cmd=$1
dir=$2

log() { echo "slurm_cluster: $*" >&2; }

install_packages() {
  if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v munged >/dev/null \
     && command -v sbatch >/dev/null; then
    return
  fi
  if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
    log "needs slurmctld, slurmd, sbatch and munged: install the packages slurm-wlm and munge (as root)"; exit 1
  fi
  log "installing slurm-wlm and munge (apt-get)"
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q slurm-wlm munge >/dev/null
}

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

wait_for() {  # wait_for SECONDS WHAT COMMAND...
  local limit=$1 what=$2; shift 2
  for _ in $(seq $((limit * 5))); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.2
  done
  log "$what did not come up within ${limit}s; logs in $dir/log"; return 1
}

record_pid() {  # record_pid NAME PIDFILE
  local pid
  wait_for 20 "$1 (pid file)" test -s "$2"
  pid=$(cat "$2")
  echo "$1 $pid" >> "$dir/pids"
}

start() {
  [[ $(id -u) -eq 0 ]] || { log "start needs root (munged runs as the munge user, slurmd as root)"; exit 1; }
  install_packages
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  chmod 755 "$dir"  # the munge user must reach its folder
  mkdir -p "$dir/munge" "$dir/state" "$dir/spool" "$dir/log"
  : > "$dir/pids"

  # munge: a fresh key (owner munge, mode 0400) and a daemon on its own socket, as the munge user
  dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 status=none
  chown -R munge:munge "$dir/munge"
  chmod 755 "$dir/munge"  # munged wants the socket folder reachable by all
  chmod 400 "$dir/munge/munge.key"
  local sock="$dir/munge/munge.socket.2"
  runuser -u munge -- munged --key-file="$dir/munge/munge.key" --socket="$sock" \
    --pid-file="$dir/munge/munged.pid" --log-file="$dir/munge/munged.log" --seed-file="$dir/munge/munged.seed"
  record_pid munged "$dir/munge/munged.pid"
  wait_for 10 munged test -S "$sock"

  local host mem
  host=$(hostname -s)
  mem=$(awk '/MemTotal/ {print int($2 / 1024) - 1024}' /proc/meminfo)
  cat > "$dir/slurm.conf" <<EOF
# Written by scripts/slurm_cluster.sh: one node, this host, everything under $dir.
ClusterName=rrs-test
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$(free_port)
SlurmdPort=$(free_port)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
# cred_expire also sets how long a requeued job waits before it may start again (default 120 s)
AuthInfo=socket=$sock,cred_expire=5
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
PlugStackConfig=$dir/plugstack.conf
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/builtin
SchedulerParameters=sched_interval=2
MpiDefault=none
ReturnToService=2
KillWait=5
InactiveLimit=0
NodeName=$host NodeAddr=127.0.0.1 CPUs=2 RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
  : > "$dir/plugstack.conf"
  export SLURM_CONF="$dir/slurm.conf"
  slurmctld -i -f "$SLURM_CONF"
  record_pid slurmctld "$dir/slurmctld.pid"
  slurmd -f "$SLURM_CONF"
  record_pid slurmd "$dir/slurmd.pid"
  wait_for 60 "the node" node_idle
  log "up: SLURM_CONF=$SLURM_CONF ($(tr '\n' ' ' < "$dir/pids"))"
}

node_idle() { [[ $(sinfo -h -o %t 2>/dev/null) == idle ]]; }

holders() {  # PIDs (other than this shell) whose cwd or an open file is under $dir
  local p
  for p in /proc/[0-9]*; do
    p=${p#/proc/}
    [[ $p == "$$" || $p == "$BASHPID" ]] && continue
    if [[ $(readlink "/proc/$p/cwd" 2>/dev/null) == "$dir"* ]] \
       || find "/proc/$p/fd" -maxdepth 1 -lname "$dir/*" 2>/dev/null | grep -q .; then
      echo "$p"
    fi
  done
}

kill_pids() {  # kill_pids PID... : TERM, wait up to 10 s, then KILL
  local pid alive
  [[ $# -gt 0 ]] || return 0
  kill -TERM "$@" 2>/dev/null || true
  for _ in $(seq 50); do
    alive=0
    for pid in "$@"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [[ $alive -eq 0 ]] && return 0
    sleep 0.2
  done
  kill -KILL "$@" 2>/dev/null || true
}

stop() {
  [[ -d $dir ]] || { log "$dir: no such folder, nothing to stop"; return 0; }
  dir=$(cd "$dir" && pwd)
  if [[ -f $dir/slurm.conf ]]; then
    export SLURM_CONF="$dir/slurm.conf"
    if scancel --full --quiet --user="$(id -un)" 2>/dev/null; then
      for _ in $(seq 50); do [[ -z $(squeue -h 2>/dev/null) ]] && break; sleep 0.2; done
    fi
  fi
  local name pid daemons=()
  if [[ -f $dir/pids ]]; then
    while read -r name pid; do
      if kill -0 "$pid" 2>/dev/null; then daemons+=("$pid"); fi
    done < <(tac "$dir/pids")  # slurmd, slurmctld, then munged
  fi
  kill_pids "${daemons[@]}"
  mapfile -t left < <(holders)
  if [[ ${#left[@]} -gt 0 ]]; then
    log "killing leftover processes under $dir: ${left[*]}"
    kill_pids "${left[@]}"
  fi
  rm -rf "$dir"
  log "stopped (${#daemons[@]} daemon(s))"
}

case $cmd in
  start) start ;;
  stop) stop ;;
  *) usage ;;
esac
