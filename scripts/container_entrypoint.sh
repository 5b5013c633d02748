#!/bin/bash
# The image's entrypoint (run under tini, PID 1): `rrs ARGS`, with what a reviewer without make needs.
#
#   docker run --rm IMAGE check                        → rrs check --all (the published artifacts in the image)
#   docker run --rm -v "$PWD/out:/out" IMAGE reproduce → rrs reproduce spec/smoke.yaml --out /out/smoke
#   docker run --rm -v "$PWD/out:/out" IMAGE run spec/tiny.yaml  → … --out /out/tiny
#
# A run whose --out lies under /out needs /out mounted from the host: otherwise its results would stay in the
# container and vanish with it, so it is refused in one line (exit 2) before any compute. When /out is mounted, the
# host folder the results land in is printed (as the mount table names it). Every other command goes to rrs as is.
set -euo pipefail

mount_root() {  # the source path of the mount at $1 (/proc/self/mountinfo: field 5 the mount point, 4 its root)
  awk -v m="$1" '$5 == m {print $4; found = 1; exit} END {exit !found}' /proc/self/mountinfo
}

case "${1:-}" in
  check)
    shift
    if [[ $# -eq 0 ]]; then set -- --all; fi
    exec rrs check "$@"
    ;;
  run | reproduce)
    verb="$1"
    shift
    # the spec, when given, comes first (rrs run SPEC [OPTIONS]); else the embedded study's
    if [[ $# -eq 0 || "$1" == -* ]]; then set -- spec/smoke.yaml "$@"; fi
    spec="$1"
    out=""
    prev=""
    for arg in "$@"; do
      case "$arg" in
        --out=*) out="${arg#--out=}" ;;
        *) if [[ "$prev" == --out ]]; then out="$arg"; fi ;;
      esac
      prev="$arg"
    done
    if [[ -z "$out" ]]; then
      name="$(basename "$spec")"
      out="/out/${name%.*}"
      set -- "$@" --out "$out"
    fi
    if [[ "$out" == /out || "$out" == /out/* ]]; then
      if ! host="$(mount_root /out)"; then
        echo "rrs: error: /out is not mounted from the host, so the results would vanish with the container:" \
          "add -v \"\$PWD/out:/out\" (a folder uid 1000 can write, or --user \"\$(id -u):\$(id -g)\")" >&2
        exit 2
      fi
      echo "rrs: results go to $out in the container, ${host%/}${out#/out} on the host" >&2
    fi
    exec rrs "$verb" "$@"
    ;;
  *)
    exec rrs "$@"
    ;;
esac
