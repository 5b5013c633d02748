# Shared by scripts/image.sh and scripts/image_test.sh (sourced, not run): one-line failures, echoed commands, and a
# Docker daemon when none runs.

# fail MESSAGE: the one line a failed step leaves, then exit 1.
fail() {
  echo "$(basename "$0"): FAILED: $*" >&2
  exit 1
}

# at_exit COMMAND: run COMMAND (a string, eval'd) when the script exits, after those registered before it.
_exit_actions=()
at_exit() {
  _exit_actions+=("$1")
  trap _run_exit_actions EXIT
}
_run_exit_actions() {
  local action
  for action in "${_exit_actions[@]}"; do eval "$action"; done
}

# show CMD...: print the command as it will run, then run it.
show() {
  echo "+ $*"
  "$@"
}

# ensure_dockerd: use the daemon that answers; else start one as this project's machines allow it (root, vfs storage,
# no iptables, no bridge: builds use --network host, containers --network none), at nice 19 so that builds and runs
# yield the CPUs to other work, and stop it, by its PID, when the script exits. KEEP_DOCKERD=1 leaves it running.
ensure_dockerd() {
  command -v docker > /dev/null || fail "no docker CLI (apt-get install -y docker.io)"
  if docker info > /dev/null 2>&1; then
    return
  fi
  command -v dockerd > /dev/null || fail "no Docker daemon answers and dockerd is not installed (apt-get install -y docker.io)"
  [[ "$(id -u)" == 0 ]] || fail "no Docker daemon answers, and only root can start one here"
  DOCKERD_LOG="$(mktemp -t rrs-dockerd.XXXXXX)"
  nice -n 19 dockerd --storage-driver=vfs --iptables=false --ip6tables=false --bridge=none > "$DOCKERD_LOG" 2>&1 &
  DOCKERD_PID=$!
  echo "no Docker daemon was running: started dockerd (pid $DOCKERD_PID, log $DOCKERD_LOG)"
  if [[ "${KEEP_DOCKERD:-0}" != 1 ]]; then
    at_exit stop_dockerd
  fi
  local _
  for _ in $(seq 60); do
    if docker info > /dev/null 2>&1; then
      return
    fi
    kill -0 "$DOCKERD_PID" 2> /dev/null || fail "dockerd exited while starting; see $DOCKERD_LOG"
    sleep 1
  done
  fail "dockerd did not answer within 60 s; see $DOCKERD_LOG"
}

stop_dockerd() {
  kill "$DOCKERD_PID" 2> /dev/null || true
  wait "$DOCKERD_PID" 2> /dev/null || true
  echo "stopped dockerd (pid $DOCKERD_PID), which this script had started"
}
