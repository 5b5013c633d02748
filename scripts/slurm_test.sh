#!/usr/bin/env bash
# make slurm-test: a throwaway single-node SLURM cluster (scripts/slurm_cluster.sh), the reduced study and its faults
# run through it (scripts/slurm_test.py), then the cluster stopped by PID -- also when a check fails or on Ctrl-C.
# Everything (cluster state, munge key, caches, outputs, job logs) lives in one temp folder, removed at the end
# (KEEP=1 keeps it). Needs root; installs slurm-wlm and munge with apt-get if they are missing.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
dir=$(mktemp -d /tmp/rrs-slurm-test.XXXXXX)

finish() {
  local rc=$?
  trap - EXIT INT TERM
  local pids
  pids=$(awk '{print $2}' "$dir/pids" 2>/dev/null | tr '\n' ' ' || true)
  if [[ ${KEEP:-0} == 1 ]]; then cp -a "$dir" "$dir.kept"; echo "slurm-test: kept a copy in $dir.kept" >&2; fi
  scripts/slurm_cluster.sh stop "$dir" || rc=1
  local pid left=""
  for pid in $pids; do kill -0 "$pid" 2>/dev/null && left+=" $pid"; done
  if [[ -n $left ]]; then echo "slurm-test: daemons still running:$left" >&2; rc=1
  else echo "slurm-test: cluster stopped; none of its daemons ($pids) is running"; fi
  exit "$rc"
}
trap finish EXIT
trap 'exit 130' INT TERM

nice scripts/slurm_cluster.sh start "$dir"  # daemons, hence jobs, niced: the machine may be shared
SLURM_CONF="$dir/slurm.conf" nice "$PY" scripts/slurm_test.py --work "$dir/work"
