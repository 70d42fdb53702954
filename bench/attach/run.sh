#!/usr/bin/env bash
# bench/attach: attach/detach latency of one bridge endpoint (masquerade, one published TCP port)
# at N = 1, 50, 200, for berth's engine in-process, berth-cni (one process per call), netavark
# and the CNI bridge+portmap plugins, side by side in one run. Root only; everything happens in
# ba-* network namespaces that the harness creates and deletes. See bench/attach/README.md.
#
#   bash bench/attach/run.sh                    # the full run (results in bench/attach/results/<UTC>)
#   bash bench/attach/run.sh --build            # npm run build first
#   bash bench/attach/run.sh -n 1 -c 5          # a smoke run; any option of harness/run.sh works
#   bash bench/attach/run.sh --cleanup          # remove leftover ba-* namespaces after a crash
#
# The code under test is a frozen copy of the build (dist/, bin/, package.json; node_modules
# linked) in /tmp/ba-snap.*, taken at the start: other work rebuilds dist/ while a run lasts.
set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
args=()
for a in "$@"; do
  if [[ $a == --build ]]; then (cd "$REPO" && npm run build) || exit 1; else args+=("$a"); fi
done
if [[ " ${args[*]-} " == *" --cleanup "* ]]; then
  exec "$HERE/harness/run.sh" "${args[@]}"
fi
for f in dist/bench/attach/engine.js dist/berth-cni.cjs dist/berth.mjs; do
  [[ -f $REPO/$f ]] || { echo "bench/attach: missing $f: build berth first (cd $REPO && npm run build)" >&2; exit 1; }
done
SNAP=$(mktemp -d /tmp/ba-snap.XXXXXX)
trap 'rm -rf "$SNAP"' EXIT
cp -a "$REPO/dist" "$REPO/bin" "$REPO/package.json" "$SNAP/"
ln -s "$REPO/node_modules" "$SNAP/node_modules"
# the copy must load: a rebuild in progress leaves dist/ half written
node --input-type=module -e "await import('$SNAP/dist/src/engine/sandboxes.js'); await import('$SNAP/dist/src/engine/context.js')" &&
  node "$SNAP/dist/berth.mjs" --version >/dev/null ||
  { echo "bench/attach: the build in $REPO/dist does not load (a rebuild in progress?): try again" >&2; exit 1; }
export BERTH_REPO=$SNAP BERTH_SOURCE=$REPO
if [[ " ${args[*]-} " != *" -o "* ]]; then
  args+=(-o "$HERE/results/$(date -u +%Y%m%dT%H%M%SZ)")
fi
"$HERE/harness/run.sh" "${args[@]}"
