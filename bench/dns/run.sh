#!/usr/bin/env bash
# bench/dns: queries per second and latency of berth's embedded DNS (`berth daemon`) side by side
# with aardvark-dns on the same network, and a do-nothing reference responder, in one run.
# Root only; everything happens in a lab (namespaces bt<tag>-*) that the run creates and deletes.
#
#   bash bench/dns/run.sh                 # full run: results in bench/dns/results/<UTC>/summary.md
#   bash bench/dns/run.sh --build         # npm run build first
#   bash bench/dns/run.sh --rounds 1 --seconds 3 --out /tmp/x    # a smoke run
#   any option of dist/bench/dns/run.js works: --containers N --rounds R --seconds S
#   --scenarios local-2k,local-max,fwd-max,nx-max --no-reference --cpu-prof
#   --aardvark PATH --aardvark-port PORT --out DIR
#
# Needs: dnsperf (Debian package `dnsperf`), aardvark-dns (Debian package `aardvark-dns`, at
# /usr/lib/podman/aardvark-dns), nsenter, ss. The code under test is a frozen copy of the build
# (dist/, bin/, package.json; node_modules linked) in /tmp/bd-snap.*, taken at the start: other
# work rebuilds dist/ while a run lasts. After a crash: `node dist/test/lab/sweep-cli.js` (or the
# suite's sweep) removes leftover lab namespaces.
set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
args=()
out=
while (($#)); do
  case $1 in
    --build) (cd "$REPO" && npm run build) || exit 1 ;;
    --out | -o) out=$2; shift ;;
    *) args+=("$1") ;;
  esac
  shift
done
[[ $(id -u) == 0 ]] || { echo "bench/dns: must run as root" >&2; exit 1; }
for t in dnsperf nsenter ss; do command -v "$t" >/dev/null || { echo "bench/dns: missing $t (apt-get install dnsperf)" >&2; exit 1; }; done
for f in dist/bench/dns/run.js dist/bench/dns/responder.js dist/bench/dns/check.js dist/berth.mjs; do
  [[ -f $REPO/$f ]] || { echo "bench/dns: missing $f: build berth first (cd $REPO && npm run build)" >&2; exit 1; }
done
SNAP=$(mktemp -d /tmp/bd-snap.XXXXXX)
trap 'rm -rf "$SNAP"' EXIT
cp -a "$REPO/dist" "$REPO/bin" "$REPO/package.json" "$SNAP/"
ln -s "$REPO/node_modules" "$SNAP/node_modules"
node "$SNAP/bin/berth" --version >/dev/null || { echo "bench/dns: the build in $REPO/dist does not load (a rebuild in progress?): try again" >&2; exit 1; }
out=${out:-$HERE/results/$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$out"
{
  echo "berth work tree: HEAD $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null), $(git -C "$REPO" status --porcelain 2>/dev/null | grep -vc '^?? bench/') other changed/untracked paths"
  echo "dist built: $(date -u -r "$SNAP/dist/berth.mjs" +%Y-%m-%dT%H:%M:%SZ)"
  echo "uptime at start: $(uptime)"
} >"$out/machine.txt"
node "$SNAP/dist/bench/dns/run.js" --out "$out" "${args[@]}"
rc=$?
echo "uptime at end: $(uptime)" >>"$out/machine.txt"
exit $rc
