#!/usr/bin/env bash
# The image, end to end (make image-test, after make image): inside IMAGE_TAG (default rrs:cpu), as the image's own
# non-root user, with --network none and host folders mounted on /out and /cache:
#   0. the OCI labels (revision, created, version, licenses, source) and tini as the init process;
#   1. `check` (no arguments, no make)   passes on the published artifacts the image holds;
#   2. `reproduce spec/tiny.yaml`        with no host folder on /out is refused in one line (exit 2), nothing run;
#                                        with one, writes /out/tiny into it and prints that host folder (whose files
#                                        they are is said);
#   3. rrs score                         reads mounted files (tests/fixtures/image/) and gives the known answer.
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

# --- 0. labels and init -----------------------------------------------------------------------------------------------
echo "== 0. OCI labels and the init process"
for key in revision created version licenses source; do
  value="$(docker image inspect -f "{{index .Config.Labels \"org.opencontainers.image.$key\"}}" "$tag")"
  [[ -n "$value" && "$value" != unknown ]] || fail "step 0: label org.opencontainers.image.$key is '$value'"
  echo "  org.opencontainers.image.$key=$value"
done
entrypoint="$(docker image inspect -f '{{json .Config.Entrypoint}}' "$tag")"
[[ "$entrypoint" == '["/usr/bin/tini","--",'* ]] || fail "step 0: the entrypoint $entrypoint does not start with tini"
echo "  entrypoint $entrypoint"

# --- 1. check on the published artifacts ---------------------------------------------------------------------------
echo "== 1. check (no arguments: rrs check --all): the published artifacts inside the image"
in_image "$work/check.log" -- check || fail "step 1: check failed in $tag (log above)"

# --- 2. reproduce: refused without a host folder on /out, into it with one --------------------------------------------
echo "== 2. reproduce spec/tiny.yaml, first with no host folder on /out"
rc=0
docker run --rm --network none "$tag" reproduce spec/tiny.yaml > "$work/unmounted.log" 2>&1 || rc=$?
sed 's/^/  | /' "$work/unmounted.log"
[[ "$rc" == 2 && "$(wc -l < "$work/unmounted.log")" == 1 ]] && grep -q '/out is not mounted' "$work/unmounted.log" \
  || fail "step 2: reproduce without a mounted /out gave exit $rc and not the one-line refusal"
echo "== 2. reproduce spec/tiny.yaml with $work/out on /out (default --out /out/tiny)"
start=$SECONDS
TAIL=4 in_image "$work/reproduce.log" -- reproduce spec/tiny.yaml \
  || fail "step 2: rrs reproduce spec/tiny.yaml failed in $tag (log above)"
grep -q "on the host" "$work/reproduce.log" || fail "step 2: the run did not say where its results are on the host"
grep "on the host" "$work/reproduce.log" | sed 's/^/  /' 
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
