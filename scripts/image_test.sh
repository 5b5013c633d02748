#!/usr/bin/env bash
# The image, end to end (make image-test, after make image): inside IMAGE_TAG (default rrs:cpu), as the image's own
# non-root user, with --network none and host folders mounted on /out and /cache:
#   1. rrs check --all              passes on the published artifacts the image holds;
#   2. rrs reproduce spec/tiny.yaml  writes a finished run into the mounted host folder (whose files they are is said);
#   3. rrs score                    reads mounted files (tests/fixtures/image/) and gives the known answer.
# Starts a Docker daemon when none answers (and stops it at the end; scripts/docker_lib.sh). Each failed step ends
# the script with one line naming it. KEEP_OUT=1 keeps the host folders (printed) instead of deleting them.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/docker_lib.sh
source scripts/docker_lib.sh

tag="${IMAGE_TAG:-rrs:cpu}"
fixtures="$PWD/tests/fixtures/image"

ensure_dockerd
docker image inspect "$tag" > /dev/null 2>&1 || fail "no image $tag: run make image first"

# The image's user: numeric and not root.
user="$(docker image inspect -f '{{.Config.User}}' "$tag")"
uid="${user%%:*}"
[[ "$uid" =~ ^[0-9]+$ && "$uid" != 0 ]] || fail "$tag runs as '${user:-root}', not as a numeric non-root user"
echo "$tag runs as uid:gid $user"

# Host folders for /out and /cache, writable by that user: as root, give them to it; otherwise open them to all.
work="$(mktemp -d -t rrs-image-test.XXXXXX)"
if [[ "${KEEP_OUT:-0}" == 1 ]]; then
  echo "host folders kept in $work"
else
  at_exit 'rm -rf "$work" 2> /dev/null || echo "could not delete $work (files of uid $uid): delete it as root"'
fi
mkdir -p "$work/out" "$work/cache"
if [[ "$(id -u)" == 0 ]]; then chown "$user" "$work/out" "$work/cache"; else chmod a+rwx "$work/out" "$work/cache"; fi

in_image() {  # in_image LOG [docker run options...] -- rrs arguments...: run rrs in the image, output to LOG and tail
  local log="$1" opts=()
  shift
  while [[ "$1" != -- ]]; do opts+=("$1"); shift; done
  shift
  echo "+ docker run --rm --network none -v $work/out:/out -v $work/cache:/cache ${opts[*]} $tag $*"
  local rc=0
  docker run --rm --network none -v "$work/out:/out" -v "$work/cache:/cache" "${opts[@]}" "$tag" "$@" > "$log" 2>&1 \
    || rc=$?
  tr '\r' '\n' < "$log" | grep -v '^[[:space:]]*$' | tail -n "${TAIL:-6}" | cut -c1-160 | sed 's/^/  | /'
  return "$rc"
}

# --- 1. rrs check on the published artifacts ----------------------------------------------------------------------------
echo "== 1. rrs check --all: the published artifacts inside the image"
in_image "$work/check.log" -- check --all || fail "step 1: rrs check --all failed in $tag (log above)"

# --- 2. rrs reproduce into a mounted host folder -----------------------------------------------------------------------
echo "== 2. rrs reproduce spec/tiny.yaml --out /out/tiny"
start=$SECONDS
TAIL=4 in_image "$work/reproduce.log" -- reproduce spec/tiny.yaml --out /out/tiny \
  || fail "step 2: rrs reproduce spec/tiny.yaml failed in $tag (log above)"
for file in results_grid.csv manifest.json spec.resolved.yaml; do
  [[ -s "$work/out/tiny/$file" ]] || fail "step 2: the run left no $file in the mounted folder $work/out/tiny"
done
rows=$(($(wc -l < "$work/out/tiny/results_grid.csv") - 1))
owner="$(stat -c '%u:%g' "$work/out/tiny/results_grid.csv")"
mode="$(stat -c '%a' "$work/out/tiny/results_grid.csv")"
[[ "$owner" == "$user" ]] || fail "step 2: files in the mounted folder belong to $owner, not to the image's user $user"
echo "  $((SECONDS - start)) s; $work/out/tiny holds results_grid.csv ($rows rows), manifest.json, samples/, figures/;"
echo "  its files belong to uid:gid $owner (mode $mode), the image's user, not to the host user who ran this" \
  "($(id -u):$(id -g)); to get files of your own, run with --user \"\$(id -u):\$(id -g)\""

# --- 3. rrs score on mounted files --------------------------------------------------------------------------------------
echo "== 3. rrs score on mounted files (tests/fixtures/image: 4 responses, 2 of them refusals, and a baseline)"
TAIL=1 in_image "$work/score.log" -v "$fixtures:/in:ro" -- \
  score /in/responses.csv --baseline /in/baseline.csv --judge keyword:bigger-safer --json \
  || fail "step 3: rrs score failed in $tag (log above)"
grep -q '"refusals": 2' "$work/score.log" && grep -q '"rrr": 0.5,' "$work/score.log" && grep -q '"rd_valid_n": 4' "$work/score.log" \
  || fail "step 3: rrs score did not give refusals 2, rrr 0.5 and 4 drift pairs for tests/fixtures/image"

echo "image-test passed: $tag, as uid $uid, --network none: check, reproduce (into a host folder), score (mounted files)"
