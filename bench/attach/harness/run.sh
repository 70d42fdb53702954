#!/usr/bin/env bash
# Anchor benchmark for container-network setup/teardown, with berth's rows. See ../README.md.
#
#   sudo ./run.sh [-b berth-engine,berth-cni,berth-daemon,netavark,cni,noop] [-n 1,50,200] [-c 20]
#                 [-t 5] [-r 20] [--iperf] [--no-hyperfine] [-o DIR]
#   -b backends (files in backends/)   -n endpoint counts   -c cycles at N=1
#   -t iperf3 seconds   -r hyperfine runs   -q quiet gate: wait (max -Q s, default 10) until
#   whole-machine CPU busy < this % before each measured phase (default 35, 100=off)
#   --hyperfine-backends: also hyperfine each backend's adapter CLI at N=1 (off: the reference
#   single-process costs only)
#   sudo ./run.sh --cleanup      # remove leftover ba-* namespaces and state
#
# Everything happens in network namespaces named ba-*; the root network
# namespace is only read (before/after snapshot, diffed into safety.diff).
#
# Copied from /work/shared/anchors-bench/run.sh (the project's own research harness) and changed
# for berth: berth backends; ba-host is entered with `nsenter --net` (DESIGN.md: `ip netns exec`
# makes a private mount namespace) for every backend alike; the phases run N-major (for each N,
# every backend) so the rows of one N are measured minutes apart, not the whole run apart;
# iperf is off by default; the quiet gate waits at most 10 s; hyperfine of each backend is off by
# default (--hyperfine-backends; it skips backends without a CLI, berth-engine) and berth's
# start-up floors are added to the reference costs. The connectivity checks stop trying a check
# that failed for the first 3 containers (lib/inner.sh).
set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib/common.sh
source "$HERE/lib/common.sh"

BACKENDS=berth-engine,berth-cni,berth-daemon,netavark,cni,noop
SIZES=1,50,200
CYCLES_N1=20          # N=1 is repeated (setup all, teardown all) this many times
IPERF=0 IPERF_SECS=5
HYPERFINE=1 HF_RUNS=20
OUT=
SETTLE_S=2            # pause after deleting namespaces (netns cleanup is async)
QUIET_PCT=${BA_QUIET_PCT:-35}      # wait until the machine is below this CPU busy %
QUIET_MAX_S=${BA_QUIET_MAX_S:-10}  # ... but never longer than this per phase (the machine is shared)
HF_BACKENDS=0         # hyperfine of each backend's adapter CLI (the N=1 cycles measure the same)
# berth under test: bench/attach/run.sh passes a frozen copy of the build (BERTH_REPO) and the
# repository it came from (BERTH_SOURCE)
BERTH_SOURCE=${BERTH_SOURCE:-$(cd "$HERE/../../.." && pwd)}
BERTH_REPO=${BERTH_REPO:-$BERTH_SOURCE}
export BERTH_REPO BERTH_SOURCE

usage() { sed -n '2,16p' "$0"; exit "${1:-0}"; }
while (($#)); do
  case $1 in
    -b) BACKENDS=$2; shift ;;
    -n) SIZES=$2; shift ;;
    -c) CYCLES_N1=$2; shift ;;
    -t) IPERF_SECS=$2; shift ;;
    -r) HF_RUNS=$2; shift ;;
    -q) QUIET_PCT=$2; shift ;;
    -Q) QUIET_MAX_S=$2; shift ;;
    --iperf) IPERF=1 ;;
    -o) OUT=$2; shift ;;
    --no-iperf) IPERF=0 ;;
    --no-hyperfine) HYPERFINE=0 ;;
    --hyperfine-backends) HF_BACKENDS=1 ;;
    --cleanup) CLEANUP_ONLY=1 ;;
    -h|--help) usage ;;
    *) echo "unknown arg $1" >&2; usage 2 ;;
  esac
  shift
done

[[ $(id -u) == 0 ]] || ba_die "must run as root"
[[ $(ip netns identify $$) == "" ]] || ba_die "run.sh must start in the root netns"

cleanup_all() { # only ba-* names, never anything else
  local ns
  for ns in $(ip netns list | awk '{print $1}' | grep '^ba-'); do ba_netns_del "$ns"; done
  [[ $BA_STATE_ROOT == /tmp/ba-* ]] && rm -rf "$BA_STATE_ROOT"
}
if [[ ${CLEANUP_ONLY:-0} == 1 ]]; then cleanup_all; ba_log "cleaned"; exit 0; fi

for t in ip nft iptables-save jq socat ping awk nsenter node; do
  command -v "$t" >/dev/null || ba_die "missing tool: $t"
done
for f in dist/bench/attach/engine.js dist/berth-cni.cjs dist/berth.mjs bin/berth-cni; do
  [[ -e $BERTH_REPO/$f ]] || ba_die "missing $BERTH_REPO/$f: build berth first (cd $BERTH_REPO && npm run build)"
done
if ip netns list | awk '{print $1}' | grep -q '^ba-'; then
  ba_die "leftover ba-* namespaces exist; run '$0 --cleanup' first"
fi

DIST_T0=$(date -u -r "$BERTH_REPO/dist/berth-cni.cjs" +%Y-%m-%dT%H:%M:%SZ)
OUT=${OUT:-$HERE/results/$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
ba_log "results -> $OUT"

CREATED=()
on_exit() {
  local ns
  for ns in "${CREATED[@]}"; do ba_netns_del "$ns"; done
  # also after an interrupted run (the original removed it only at the end of a complete one)
  [[ $BA_STATE_ROOT == /tmp/ba-* ]] && rm -rf "$BA_STATE_ROOT"
  return 0
}
trap on_exit EXIT
trap 'exit 130' INT TERM

ns_add() { ip netns add "$1" && CREATED+=("$1"); }

# Shared machines: wait for other load to calm down before a measured phase.
# Exports BA_PRE_BUSY (busy % just before the phase) and BA_QUIET_WAITED (s).
quiet_gate() {
  local waited=0 busy
  busy=$(ba_busy_pct 2)
  while ((busy >= QUIET_PCT && waited < QUIET_MAX_S)); do
    ((waited == 0)) && ba_log "machine busy ${busy}% >= ${QUIET_PCT}%: waiting (max ${QUIET_MAX_S}s)"
    sleep 3; waited=$((waited + 5))
    busy=$(ba_busy_pct 2)
  done
  ((waited > 0)) && ba_log "quiet gate: busy ${busy}% after ${waited}s"
  export BA_PRE_BUSY=$busy BA_QUIET_WAITED=$waited
  echo "$1,$busy,$waited" >>"$OUT/quiet.csv"
}

# ---- root-netns safety snapshot (read-only) -------------------------------
root_snapshot() {
  ip -d link show | sed -E 's/ (ifindex|link-netnsid) [0-9]+//g'
  ip addr show | grep -v 'valid_lft'
  ip route show table all
  ip rule
  nft list ruleset
  sysctl net.ipv4.ip_forward net.ipv4.conf.all.forwarding net.ipv4.conf.all.route_localnet \
    net.ipv6.conf.all.forwarding net.bridge.bridge-nf-call-iptables 2>&1
}
root_snapshot >"$OUT/root-before.txt" 2>&1

# ---- machine info ----------------------------------------------------------
{
  echo "date_utc: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "kernel: $(uname -r)"
  echo "os: $(. /etc/os-release; echo "$PRETTY_NAME")"
  echo "cpu: $(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo) x $(nproc)"
  echo "mem: $(awk '/MemTotal/{printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
  echo "iproute2: $(ip -V)"
  echo "nftables: $(nft --version)"
  echo "iptables: $(iptables --version)"
  echo "containernetworking-plugins: $(dpkg-query -W -f='${Version}' containernetworking-plugins 2>/dev/null)"
  echo "netavark: $(/usr/lib/podman/netavark --version 2>/dev/null)"
  echo "iperf3: $(iperf3 --version | head -1)"
  echo "hyperfine: $(hyperfine --version 2>/dev/null)"
  echo "node: $(node --version 2>/dev/null)"
  echo "berth: $(node "$BERTH_REPO/dist/berth.mjs" --version 2>/dev/null) (code under test: $BERTH_REPO, a copy of the build of $BERTH_SOURCE; work tree at run time: HEAD $(git -C "$BERTH_SOURCE" rev-parse --short HEAD 2>/dev/null), $(git -C "$BERTH_SOURCE" status --porcelain 2>/dev/null | grep -vc '^?? bench/') other changed/untracked paths in the work tree; dist built $(date -u -r "$BERTH_REPO/dist/berth-cni.cjs" +%Y-%m-%dT%H:%M:%SZ))"
  echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "other namespaces present at start (not ours): $(ip netns list | awk '{print $1}' | grep -vc '^ba-')"
  echo "command: $0 -b $BACKENDS -n $SIZES -c $CYCLES_N1 -t $IPERF_SECS iperf=$IPERF hyperfine=$HYPERFINE"
} >"$OUT/machine.txt"

# ---- topology ----------------------------------------------------------------
env_up() { # <N>
  local n=$1 i t0 t1
  ns_add "$BA_HOST_NS"; ip -n "$BA_HOST_NS" link set lo up
  ns_add "$BA_EXT_NS"; ip -n "$BA_EXT_NS" link set lo up
  ip -n "$BA_HOST_NS" link add ba-up0 type veth peer name ba-ext0 netns "$BA_EXT_NS"
  ip -n "$BA_HOST_NS" addr add "$BA_HOST_IP/24" dev ba-up0
  ip -n "$BA_HOST_NS" link set ba-up0 up
  ip -n "$BA_EXT_NS" addr add "$BA_EXT_IP/24" dev ba-ext0
  ip -n "$BA_EXT_NS" link set ba-ext0 up
  t0=$(ba_us)
  for ((i = 1; i <= n; i++)); do ns_add "ba-c$i"; done
  t1=$(ba_us)
  NS_CREATE_US=$((t1 - t0))
}
env_down() { # <N>
  local n=$1 i t0 t1
  t0=$(ba_us)
  for ((i = 1; i <= n; i++)); do ba_netns_del "ba-c$i"; done
  t1=$(ba_us)
  NS_DELETE_US=$((t1 - t0))
  ba_netns_del "$BA_EXT_NS"; ba_netns_del "$BA_HOST_NS"
  CREATED=()
  sleep "$SETTLE_S"
}

IFS=, read -ra BL <<<"$BACKENDS"
IFS=, read -ra NL <<<"$SIZES"
T_START=$(ba_us)
echo "n,create_ms_total,delete_ms_total" >"$OUT/netns.csv"
echo "phase,busy_pct_before,waited_s" >"$OUT/quiet.csv"

# ---- 1. setup/teardown latency, rules, correctness ----------------------------
for b in "${BL[@]}"; do [[ -f $HERE/backends/$b.sh ]] || ba_die "no adapter backends/$b.sh"; done
for n in "${NL[@]}"; do
  for b in "${BL[@]}"; do
    cycles=1; ((n == 1)) && cycles=$CYCLES_N1
    ba_log "== $b N=$n cycles=$cycles"
    env_up "$n"
    quiet_gate "bench-$b-$n"
    nsenter --net="/run/netns/$BA_HOST_NS" "$HERE/lib/inner.sh" bench "$b" "$n" "$cycles" "$OUT" ||
      ba_log "inner bench failed for $b N=$n (continuing)"
    env_down "$n"
    echo "$n,$((NS_CREATE_US / 1000)),$((NS_DELETE_US / 1000))" >>"$OUT/netns.csv"
  done
done

# ---- 2. throughput -------------------------------------------------------------
if ((IPERF)); then
  ba_log "== iperf baseline: bare veth pair between two namespaces"
  quiet_gate iperf-raw
  ns_add ba-raw1; ns_add ba-raw2
  ip -n ba-raw1 link add ba-raw1v type veth peer name ba-raw2v netns ba-raw2
  ip -n ba-raw1 addr add 10.99.0.1/30 dev ba-raw1v; ip -n ba-raw1 link set ba-raw1v up
  ip -n ba-raw2 addr add 10.99.0.2/30 dev ba-raw2v; ip -n ba-raw2 link set ba-raw2v up
  ip netns exec ba-raw2 iperf3 -s -1 -p 5201 >/dev/null 2>&1 &
  spid=$!; sleep 0.5
  ip netns exec ba-raw1 iperf3 -c 10.99.0.2 -p 5201 -t "$IPERF_SECS" -J >"$OUT/iperf-raw-veth.json" 2>&1
  wait "$spid" 2>/dev/null
  echo "I_RAW_VETH_GBPS=$(jq -r '(.end.sum_received.bits_per_second // 0)/1e9*100|round/100' "$OUT/iperf-raw-veth.json")" >"$OUT/iperf-raw.env"
  ba_netns_del ba-raw1; ba_netns_del ba-raw2; CREATED=()
  for b in "${BL[@]}"; do
    [[ $b == noop ]] && continue
    ba_log "== iperf $b"
    env_up 2
    quiet_gate "iperf-$b"
    nsenter --net="/run/netns/$BA_HOST_NS" "$HERE/lib/inner.sh" iperf "$b" "$OUT" "$IPERF_SECS" ||
      ba_log "iperf failed for $b"
    env_down 2
  done
fi

# ---- 3. hyperfine: one endpoint, many repetitions, per-process view -------------
if ((HYPERFINE)) && command -v hyperfine >/dev/null; then
  for b in "${BL[@]}"; do
    ((HF_BACKENDS)) || break
    grep -q '^BE_NO_CLI=1' "$HERE/backends/$b.sh" && continue
    ba_log "== hyperfine $b (N=1, $HF_RUNS runs)"
    env_up 1
    cli=("$HERE/lib/adapter-cli.sh" "$b"); clis="${cli[*]}"
    label=$b; [[ $b == cmd ]] && label=${BA_CMD_LABEL:-cmd}
    rm -rf "${BA_STATE_ROOT:?}/$label"
    nsenter --net="/run/netns/$BA_HOST_NS" "${cli[@]}" init
    quiet_gate "hyperfine-$label"
    nsenter --net="/run/netns/$BA_HOST_NS" hyperfine -w 2 -r "$HF_RUNS" --style basic \
      --prepare "$clis teardown 1 >/dev/null 2>&1 || true" -n "$label setup" "$clis setup 1" \
      --export-json "$OUT/hyperfine-$label-setup.json" >"$OUT/hyperfine-$label-setup.txt" 2>&1
    nsenter --net="/run/netns/$BA_HOST_NS" "${cli[@]}" teardown 1 >/dev/null 2>&1
    nsenter --net="/run/netns/$BA_HOST_NS" hyperfine -w 2 -r "$HF_RUNS" --style basic \
      --prepare "$clis setup 1 >/dev/null 2>&1" -n "$label teardown" "$clis teardown 1" \
      --export-json "$OUT/hyperfine-$label-teardown.json" >"$OUT/hyperfine-$label-teardown.txt" 2>&1
    nsenter --net="/run/netns/$BA_HOST_NS" "${cli[@]}" fini
    env_down 1
  done
  ba_log "== hyperfine: single-process reference costs (inside an empty ba-host)"
  env_up 0
  quiet_gate hyperfine-reference
  nsenter --net="/run/netns/$BA_HOST_NS" hyperfine -N -w 3 -r 30 --style basic \
    -n 'ip link show lo' 'ip link show lo' \
    -n 'nft list tables' 'nft list tables' \
    -n 'iptables -t nat -S' 'iptables -t nat -S' \
    -n 'node -e 0' 'node -e 0' \
    -n 'berth --version' "$BERTH_REPO/bin/berth --version" \
    -n 'berth-cni VERSION' "env CNI_COMMAND=VERSION $BERTH_REPO/bin/berth-cni" \
    -n 'bash adapter-cli noop' "$HERE/lib/adapter-cli.sh noop setup 1" \
    --export-json "$OUT/hyperfine-reference.json" >"$OUT/hyperfine-reference.txt" 2>&1
  env_down 0
fi

T_END=$(ba_us)
echo "total_wall_s: $(awk -v a="$T_START" -v b="$T_END" 'BEGIN{printf "%.0f", (b-a)/1e6}')" >>"$OUT/machine.txt"
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/machine.txt"
# others may rebuild berth while this runs: say so if dist changed under us
if [[ $(date -u -r "$BERTH_REPO/dist/berth-cni.cjs" +%Y-%m-%dT%H:%M:%SZ) != "$DIST_T0" ]]; then
  echo "WARNING: dist/berth-cni.cjs was rebuilt during the run (now $(date -u -r "$BERTH_REPO/dist/berth-cni.cjs" +%Y-%m-%dT%H:%M:%SZ))" >>"$OUT/machine.txt"
fi

root_snapshot >"$OUT/root-after.txt" 2>&1
if diff -u "$OUT/root-before.txt" "$OUT/root-after.txt" >"$OUT/safety.diff"; then
  ba_log "root netns unchanged (safety.diff empty)"
else
  ba_log "WARNING: root netns snapshot differs, see $OUT/safety.diff"
fi
[[ $BA_STATE_ROOT == /tmp/ba-* ]] && rm -rf "$BA_STATE_ROOT"

"$HERE/lib/summarize.sh" "$OUT" >"$OUT/summary.md"
# keep result dirs small: drop empty stderr logs, compress firewall dumps
find "$OUT" -name 'errors-*.log' -empty -delete
gzip -9f "$OUT"/ruleset-*.nft "$OUT"/iptables-save-*.txt 2>/dev/null
ba_log "done: $OUT/summary.md"
