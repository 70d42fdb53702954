#!/usr/bin/env bash
# bench/daemon-idle: CPU of an idle `berth daemon` against the number of published ports (issue 11
# item 15). In a lab "host" network namespace (bi-host) with its own BERTH_ROOT/BERTH_RUN: start
# the daemon, create one network, then for each N publish ports until N are published (one
# container per 5,000, `-p A-B:A-B/udp` from port 1024 up: at most 64,512) and read the daemon's
# utime+stime+cutime+cstime from /proc/PID/stat over a window with nothing happening.
#
#   bash bench/daemon-idle/run.sh [-n 0,5000,15000] [-w SECONDS] [--build]
#   bash bench/daemon-idle/run.sh --cleanup     # remove a leftover bi-host netns / temp dir
#
# Safety: only bi-host is created and deleted (the machine's own namespace is never touched); only
# processes this script started (the daemon, by PID; the containers, through `berth rm -f`) are
# stopped. Published ports are map elements only: no packet is sent.
set -u
export LC_ALL=C
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
NS=bi-host
STATE=/tmp/bi-state
SIZES=0,5000,15000
WINDOW=10
while [[ $# -gt 0 ]]; do
  case $1 in
    -n) SIZES=$2; shift ;;
    -w) WINDOW=$2; shift ;;
    --build) (cd "$REPO" && npm run build) || exit 1 ;;
    --cleanup) CLEANUP_ONLY=1 ;;
    *) sed -n '2,14p' "$0"; exit 2 ;;
  esac
  shift
done

DAEMON_PID=
cleanup() {
  if [[ -d $STATE ]] && ip netns list | grep -qw "$NS"; then
    for c in $(BERTH_ROOT=$STATE/root BERTH_RUN=$STATE/run nsenter --net=/run/netns/$NS node "$REPO/bin/berth" ps -a -q 2>/dev/null); do
      BERTH_ROOT=$STATE/root BERTH_RUN=$STATE/run nsenter --net=/run/netns/$NS node "$REPO/bin/berth" rm -f "$c" >/dev/null 2>&1
    done
  fi
  [[ -n $DAEMON_PID ]] && kill "$DAEMON_PID" 2>/dev/null && wait "$DAEMON_PID" 2>/dev/null
  if [[ -d $STATE/run/netns ]]; then
    for m in "$STATE"/run/netns/*; do [[ -e $m ]] && umount --lazy "$m" 2>/dev/null; done
  fi
  ip netns del "$NS" 2>/dev/null
  rm -rf "$STATE"
}
trap cleanup EXIT
cleanup
[[ ${CLEANUP_ONLY:-0} == 1 ]] && exit 0

ip netns add "$NS"
ip -n "$NS" link set lo up
mkdir -p "$STATE/root" "$STATE/run"
export BERTH_ROOT=$STATE/root BERTH_RUN=$STATE/run
berth() { nsenter --net=/run/netns/$NS node "$REPO/bin/berth" "$@"; }
nsenter --net=/run/netns/$NS node "$REPO/bin/berth" daemon >"$STATE/daemon.log" 2>&1 &
DAEMON_PID=$!
for _ in $(seq 100); do grep -q 'listening on' "$STATE/daemon.log" 2>/dev/null && break; sleep 0.1; done
berth network create --subnet 10.250.0.0/16 idle >/dev/null || exit 1

ticks() { awk '{print $14+$15+$16+$17}' "/proc/$DAEMON_PID/stat"; }
published=0
next=1024
printf '| published ports | daemon CPU, %% of one core (%s s idle) | RSS MB |\n|---:|---:|---:|\n' "$WINDOW"
IFS=, read -ra sizes <<<"$SIZES"
for n in "${sizes[@]}"; do
  while (( published < n )); do
    step=$(( n - published > 5000 ? 5000 : n - published ))
    last=$(( next + step - 1 ))
    berth run -d --network idle -p "$next-$last:$next-$last/udp" -- sleep 3600 >/dev/null || { echo "publishing $next-$last failed" >&2; exit 1; }
    published=$(( published + step )); next=$(( last + 1 ))
  done
  sleep 2
  t0=$(ticks); s0=$(date +%s.%N)
  sleep "$WINDOW"
  t1=$(ticks); s1=$(date +%s.%N)
  rss=$(awk '/VmRSS/{printf "%.0f", $2/1024}' "/proc/$DAEMON_PID/status")
  awk -v d=$(( t1 - t0 )) -v a="$s0" -v b="$s1" -v n="$n" -v r="$rss" 'BEGIN{printf "| %d | %.2f | %s |\n", n, d/(b-a), r}'
done
