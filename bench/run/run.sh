#!/usr/bin/env bash
# bench/run: end-to-end `berth run` latency and the memory of the detached-container supervisor,
# inside a lab "host" network namespace (bb-host) with its own BERTH_ROOT/BERTH_RUN.
#
#   bash bench/run/run.sh [-r RUNS] [-d DETACHED] [-k ROUNDS] [-q PCT] [-o DIR]
#     -r  hyperfine runs per command (default 40)
#     -d  detached containers started per round (default 20)
#     -k  rounds of detached start / memory / rm -f (default 2)
#     -q  quiet gate: before each phase wait (max 60 s) until machine CPU busy < PCT % (default 35; 100 = off)
#     -o  output directory (default bench/run/results/<UTC timestamp>)
#   bash bench/run/run.sh --cleanup    # remove a leftover bb-host namespace / temp dir after a crash
#   --build                             # npm run build first
#
# The code under test is a frozen copy of the build (dist/, bin/, package.json; node_modules
# linked) in the run's temp dir, taken at the start: other work rebuilds dist/ while a run lasts.
#
# Phases (all in bb-host, entered with `nsenter --net`, never `ip netns exec`):
#   1. hyperfine, same run: `node -e 0` (floor), `berth --version` (CLI start-up),
#      `berth run --rm --network none -- true`, `berth run --rm --network bridge -- true`
#   2. per round: start D detached `sleep` containers (`berth run -d --network bridge`, each timed),
#      read the supervisor (berth-init shim = parent of `.State.Pid`) memory from /proc, then
#      `berth rm -f` each (timed)
# Safety: only the bb-host netns is created and deleted (the machine's own network namespace is
# never touched); only processes this script started (the containers and their shims, recorded by
# PID) are killed, by PID, after checking their command name.
set -u
export LC_ALL=C
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
NS=bb-host
TMP_GLOB=/tmp/bb-run.
RUNS=40 DETACHED=20 ROUNDS=2 QUIET_PCT=35 QUIET_MAX_S=60 OUT=

log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "FATAL: $*"; exit 1; }

while (($#)); do
  case $1 in
    -r) RUNS=$2; shift ;;
    -d) DETACHED=$2; shift ;;
    -k) ROUNDS=$2; shift ;;
    -q) QUIET_PCT=$2; shift ;;
    -o) OUT=$2; shift ;;
    --cleanup) CLEANUP_ONLY=1 ;;
    --build) BUILD=1 ;;
    -h | --help) sed -n '2,24p' "$0"; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
  shift
done

[[ $(id -u) == 0 ]] || die "must run as root"
[[ -z $(ip netns identify $$) ]] || die "start in the machine's own network namespace (the script makes its lab)"

# ---- processes we started, recorded as "pid comm"; killed by PID only -----------------------
PIDFILE=
kill_recorded() {
  [[ -n $PIDFILE && -f $PIDFILE ]] || return 0
  local pid comm
  while read -r pid comm; do
    # only if that PID still runs the same program (no PID reuse surprises)
    [[ -r /proc/$pid/comm && $(</proc/"$pid"/comm) == "$comm" ]] && kill -KILL "$pid" 2>/dev/null
  done <"$PIDFILE"
  return 0
}

cleanup() {
  local d m
  kill_recorded
  for d in "$TMP_GLOB"*; do
    [[ -d $d ]] || continue
    # berth's netns bind mounts under our BERTH_RUN, if a container was left behind
    findmnt -rn -o TARGET | grep -F "$d/" | sort -r | while read -r m; do umount -l "$m" 2>/dev/null; done
    rm -rf "$d"
  done
  [[ -e /run/netns/$NS ]] && ip netns del "$NS"
  return 0
}
if [[ ${CLEANUP_ONLY:-0} == 1 ]]; then cleanup; log "cleaned"; exit 0; fi

[[ ${BUILD:-0} == 1 ]] && { (cd "$REPO" && npm run build) || die "build failed"; }
for f in dist/berth.mjs dist/berth-init; do
  [[ -e $REPO/$f ]] || die "missing $REPO/$f: build berth first (cd $REPO && npm run build)"
done
for t in hyperfine jq nsenter node findmnt; do command -v "$t" >/dev/null || die "missing tool: $t"; done
[[ -e /run/netns/$NS ]] && die "$NS exists: run '$0 --cleanup' first"
compgen -G "$TMP_GLOB*" >/dev/null && die "leftover $TMP_GLOB* exists: run '$0 --cleanup' first"

OUT=${OUT:-$HERE/results/$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT"; OUT=$(cd "$OUT" && pwd)
log "results -> $OUT"
trap cleanup EXIT
trap 'exit 130' INT TERM

TMP=$(mktemp -d "${TMP_GLOB}XXXXXX")
PIDFILE=$TMP/pids
: >"$PIDFILE"
# freeze the code under test (see the header)
SNAP=$TMP/berth
mkdir -p "$SNAP"
cp -a "$REPO/dist" "$REPO/bin" "$REPO/package.json" "$SNAP/"
ln -s "$REPO/node_modules" "$SNAP/node_modules"
BERTH=$SNAP/bin/berth
"$BERTH" --version >/dev/null || die "the build in $REPO/dist does not load (a rebuild in progress?): try again"
ip netns add "$NS"
ip -n "$NS" link set lo up
export BERTH_ROOT=$TMP/root BERTH_RUN=$TMP/run
IN=(nsenter "--net=/run/netns/$NS")   # the lab host: berth sees it as "the host"

busy_pct() { # whole-machine CPU busy % over 2 s (read-only /proc/stat)
  local _c u n sy id io irq sirq st b0 t0 b1 t1
  read -r _c u n sy id io irq sirq st _ </proc/stat
  b0=$((u + n + sy + irq + sirq + st)) t0=$((u + n + sy + id + io + irq + sirq + st))
  sleep 2
  read -r _c u n sy id io irq sirq st _ </proc/stat
  b1=$((u + n + sy + irq + sirq + st)) t1=$((u + n + sy + id + io + irq + sirq + st))
  echo $((t1 > t0 ? 100 * (b1 - b0) / (t1 - t0) : 0))
}
quiet_gate() { # <phase>: wait (bounded) for the machine to calm down, record busy %
  local waited=0 busy
  busy=$(busy_pct)
  while ((busy >= QUIET_PCT && waited < QUIET_MAX_S)); do
    sleep 3; waited=$((waited + 5)); busy=$(busy_pct)
  done
  echo "$1,$busy,$waited,$(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/load.csv"
  log "$1: machine busy ${busy}% (waited ${waited}s), load $(cut -d' ' -f1-3 /proc/loadavg)"
}
echo "phase,busy_pct_before,waited_s,loadavg" >"$OUT/load.csv"

{
  echo "date_utc: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "kernel: $(uname -r)"
  echo "cpu: $(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo) x $(nproc)"
  echo "node: $(node --version)"
  echo "berth: $("$BERTH" --version 2>/dev/null) (code under test: a copy of the build of $REPO; work tree at run time: HEAD $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null), $(git -C "$REPO" status --porcelain 2>/dev/null | grep -vc '^?? bench/') other changed/untracked paths in the work tree; dist built $(date -u -r "$SNAP/dist/berth.mjs" +%Y-%m-%dT%H:%M:%SZ))"
  echo "hyperfine: $(hyperfine --version)"
  echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "command: $0 -r $RUNS -d $DETACHED -k $ROUNDS -q $QUIET_PCT"
} >"$OUT/machine.txt"

# ---- 1. end-to-end latency -------------------------------------------------------------------
log "warm-up: creates the default network, berth's nft table and the store"
for _ in 1 2; do "${IN[@]}" "$BERTH" run --rm --network bridge -- true || die "berth run --rm --network bridge -- true failed"; done
quiet_gate hyperfine
"${IN[@]}" hyperfine -N -w 3 -r "$RUNS" --style basic \
  -n 'node -e 0' 'node -e 0' \
  -n 'berth --version' "$BERTH --version" \
  -n 'berth run --rm --network none -- true' "$BERTH run --rm --network none -- true" \
  -n 'berth run --rm --network bridge -- true' "$BERTH run --rm --network bridge -- true" \
  --export-json "$OUT/hyperfine-run.json" >"$OUT/hyperfine-run.txt" 2>&1 || log "hyperfine failed (see $OUT/hyperfine-run.txt)"
echo "$(cut -d' ' -f1-3 /proc/loadavg)" >"$OUT/load-after-hyperfine.txt"

# ---- 1b. the same through the warm daemon: the thin client dist/berth -------------------------
CLIENT=$SNAP/dist/berth
"${IN[@]}" "$BERTH" daemon >"$TMP/daemon.log" 2>&1 &
DAEMON_PID=$!
echo "$DAEMON_PID node" >>"$PIDFILE"
for _ in $(seq 100); do grep -q 'listening on' "$TMP/daemon.log" && break; sleep 0.1; done
"${IN[@]}" "$CLIENT" system info | grep -q 'Served by: *daemon' || die "the thin client is not served by the daemon: $(cat "$TMP/daemon.log")"
for _ in 1 2; do "${IN[@]}" "$CLIENT" run --rm --network bridge -- true || die "client run failed"; done
quiet_gate hyperfine-daemon
"${IN[@]}" hyperfine -N -w 3 -r "$RUNS" --style basic \
  -n 'node -e 0' 'node -e 0' \
  -n 'client: berth version' "$CLIENT version" \
  -n 'client: berth ps' "$CLIENT ps" \
  -n 'client: berth run --rm --network none -- true' "$CLIENT run --rm --network none -- true" \
  -n 'client: berth run --rm --network bridge -- true' "$CLIENT run --rm --network bridge -- true" \
  --export-json "$OUT/hyperfine-daemon.json" >"$OUT/hyperfine-daemon.txt" 2>&1 || log "hyperfine (daemon) failed (see $OUT/hyperfine-daemon.txt)"
kill -TERM "$DAEMON_PID"; wait "$DAEMON_PID" 2>/dev/null
# where the time goes: berth's own trace points (BERTH_TRACE=1: ms since process start)
TRACE_RUNS=10
for ((i = 1; i <= TRACE_RUNS; i++)); do
  s=$EPOCHREALTIME
  BERTH_TRACE=1 "${IN[@]}" "$BERTH" run --rm --network bridge -- true 2>&1 >/dev/null |
    sed -n 's/^\[trace \([0-9.]*\) ms\] \(.*\)$/\2,\1/p' >"$OUT/trace-$i.csv"
  e=$EPOCHREALTIME
  echo "exit (wall clock around the CLI),$(((${e/./} - ${s/./}) / 1000))" >>"$OUT/trace-$i.csv"
done
left=$("${IN[@]}" "$BERTH" ps -a -q | wc -l)
echo "containers left after the --rm runs: $left" >"$OUT/leftovers.txt"
"${IN[@]}" ip -o link show | awk -F': ' '{print $2}' >>"$OUT/leftovers.txt"

st() { awk -v k="$2:" '$1==k{print $2}' "/proc/$1/status"; }   # <pid> <field of /proc/pid/status>

# ---- 2. detached containers: start latency, supervisor memory, rm -f latency -----------------
echo "round,i,op,us,rc" >"$OUT/detached.csv"
echo "round,id,ctr_pid,shim_pid,shim_comm,shim_ppid,shim_vmrss_kb,shim_rssanon_kb,shim_rssfile_kb,shim_pss_kb,ctr_vmrss_kb" >"$OUT/memory.csv"
for ((r = 1; r <= ROUNDS; r++)); do
  quiet_gate "detached-round-$r"
  ids=()
  for ((i = 1; i <= DETACHED; i++)); do
    s=$EPOCHREALTIME
    id=$("${IN[@]}" "$BERTH" run -d --network bridge -- sleep 600); rc=$?
    e=$EPOCHREALTIME
    echo "$r,$i,run-d,$((${e/./} - ${s/./})),$rc" >>"$OUT/detached.csv"
    ((rc == 0)) && [[ -n $id ]] || { log "berth run -d failed (rc=$rc)"; continue; }
    ids+=("$id")
    pid=$("${IN[@]}" "$BERTH" inspect "$id" | jq -r '.[0].State.Pid')
    ppid=$(awk '/^PPid:/{print $2}' "/proc/$pid/status" 2>/dev/null)
    # the shim first: killed before its container, it cannot turn into the on-exit hook
    [[ -n $ppid && -r /proc/$ppid/comm ]] && echo "$ppid $(<"/proc/$ppid/comm")" >>"$PIDFILE"
    [[ -n $pid && -r /proc/$pid/comm ]] && echo "$pid $(<"/proc/$pid/comm")" >>"$PIDFILE"
  done
  sleep 1   # let every shim settle after its detach
  for id in "${ids[@]}"; do
    pid=$("${IN[@]}" "$BERTH" inspect "$id" | jq -r '.[0].State.Pid')
    ppid=$(awk '/^PPid:/{print $2}' "/proc/$pid/status")
    pss=$(awk '/^Pss:/{print $2}' "/proc/$ppid/smaps_rollup")
    echo "$r,$id,$pid,$ppid,$(<"/proc/$ppid/comm"),$(st "$ppid" PPid),$(st "$ppid" VmRSS),$(st "$ppid" RssAnon),$(st "$ppid" RssFile),$pss,$(st "$pid" VmRSS)" >>"$OUT/memory.csv"
  done
  # every process of ours at this moment: what else lives per container?
  ps -eo pid,ppid,rss,comm,args --sort=pid | awk -v t="$TMP" 'NR==1 || index($0, t) || $4=="berth-init" || $4=="sleep"' >"$OUT/ps-round-$r.txt"
  i=0
  for id in "${ids[@]}"; do
    i=$((i + 1))
    s=$EPOCHREALTIME
    "${IN[@]}" "$BERTH" rm -f "$id" >/dev/null; rc=$?
    e=$EPOCHREALTIME
    echo "$r,$i,rm-f,$((${e/./} - ${s/./})),$rc" >>"$OUT/detached.csv"
  done
done
echo "containers left after rm -f: $("${IN[@]}" "$BERTH" ps -a -q | wc -l)" >>"$OUT/leftovers.txt"
echo "processes of ours still alive: $(while read -r p c; do [[ -r /proc/$p/comm && $(<"/proc/$p/comm") == "$c" ]] && echo -n "$p($c) "; done <"$PIDFILE")" >>"$OUT/leftovers.txt"
echo "mounts left under $TMP: $(findmnt -rn -o TARGET | grep -cF "$TMP/")" >>"$OUT/leftovers.txt"
"${IN[@]}" nft -j list table inet berth 2>/dev/null |
  jq -r '"inet berth after all: \([.nftables[]|select(.rule)]|length) rules, \([.nftables[]|(.map // .set // empty)|(.elem // [])|length]|add // 0) set/map elements"' >>"$OUT/leftovers.txt"

# ---- summary -------------------------------------------------------------------------------------
latency_rows() { # <hyperfine json>: one markdown row per command, p50 also relative to `node -e 0`
  jq -r '
    def pct(p): (sort) as $s | $s[(((p * ($s|length)) | ceil) - 1)];
    ([.results[] | select(.command == "node -e 0") | .times | pct(0.5)][0] // 0) as $floor |
    .results[] | .times as $t |
    "| \(.command) | \($t|length) | \(($t|pct(0.5))*1000*10|round/10) | \(($t|pct(0.95))*1000*10|round/10) | \(.mean*1000*10|round/10) | \(.min*1000*10|round/10) | \(.max*1000*10|round/10) | \((($t|pct(0.5)) - $floor)*1000*10|round/10) |"' \
    "$1"
}
{
  echo "# bench/run summary"
  echo
  echo '```'; cat "$OUT/machine.txt"; echo '```'
  echo
  echo "## End-to-end latency (hyperfine -N, $RUNS runs + 3 warm-up, inside $NS), ms"
  echo
  echo "| command | runs | p50 | p95 | mean | min | max | p50 − node floor |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|"
  latency_rows "$OUT/hyperfine-run.json"
  echo
  echo "Through the warm daemon (\`berth daemon\` in $NS, the thin client \`dist/berth\`), same hyperfine settings:"
  echo
  echo "| command | runs | p50 | p95 | mean | min | max | p50 − node floor |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|"
  latency_rows "$OUT/hyperfine-daemon.json" 2>/dev/null
  echo
  echo "## Where the time goes: \`BERTH_TRACE=1 berth run --rm --network bridge -- true\`, $TRACE_RUNS runs"
  echo
  echo "Median ms since the process started (Node's performance.now(), so Node's own start-up before the"
  echo "first line of berth is in the first point), at each of berth's trace points."
  echo
  echo "| trace point | median ms since start | median ms since previous point |"
  echo "|---|---:|---:|"
  cat "$OUT"/trace-*.csv | awk -F, '!seen[$1]++ {order[++n]=$1} {v[$1]=v[$1] " " $2} END {for (i=1;i<=n;i++) print order[i] "\t" v[order[i]]}' |
    while IFS=$'\t' read -r label vals; do
      m=$(tr ' ' '\n' <<<"$vals" | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
      printf '%s\t%s\n' "$label" "$m"
    done | awk -F'\t' '{d=(NR>1)?$2-p:$2; printf "| %s | %.1f | %.1f |\n", $1, $2, d; p=$2}'
  echo
  echo "## Detached containers ($ROUNDS rounds of $DETACHED), ms (bash wall clock around the CLI, incl. one \$(...) fork)"
  echo
  echo "| operation | samples | p50 | p95 | max | failed |"
  echo "|---|---:|---:|---:|---:|---:|"
  for op in run-d rm-f; do
    fails=$(awk -F, -v op="$op" 'NR>1 && $3==op && $5!=0' "$OUT/detached.csv" | wc -l)
    label="berth rm -f"; [[ $op == run-d ]] && label="berth run -d --network bridge -- sleep 600"
    awk -F, -v op="$op" 'NR>1 && $3==op && $5==0 {print $4}' "$OUT/detached.csv" | sort -n |
      awk -v label="$label" -v f="$fails" '{v[++k]=$1} END {
        p50=v[int(0.5*k)+(0.5*k>int(0.5*k))]; p95=v[int(0.95*k)+(0.95*k>int(0.95*k))]
        printf "| %s | %d | %.1f | %.1f | %.1f | %d |\n", label, k, p50/1000, p95/1000, v[k]/1000, f }'
  done
  echo
  echo "## Supervisor memory (berth-init shim = parent of the container's PID), per container, kB"
  echo
  echo "| round | containers | shim comm | sum VmRSS | VmRSS per container | RssAnon per container | RssFile per container | Pss per container | container (sleep) VmRSS per container |"
  echo "|---:|---:|---|---:|---:|---:|---:|---:|---:|"
  awk -F, 'NR>1 {r=$1; n[r]++; c[r]=$5; rss[r]+=$7; an[r]+=$8; fi[r]+=$9; pss[r]+=$10; cr[r]+=$11}
    END {for (r in n) printf "| %s | %d | %s | %d | %.0f | %.0f | %.0f | %.0f | %.0f |\n", r, n[r], c[r], rss[r], rss[r]/n[r], an[r]/n[r], fi[r]/n[r], pss[r]/n[r], cr[r]/n[r]}' \
    "$OUT/memory.csv" | sort
  echo
  echo "## Load before each phase"
  echo
  echo "| phase | busy % (2 s) | waited s | load average |"
  echo "|---|---:|---:|---|"
  awk -F, 'NR>1 {printf "| %s | %s | %s | %s |\n", $1, $2, $3, $4}' "$OUT/load.csv"
  echo
  echo "Load average after hyperfine: $(cat "$OUT/load-after-hyperfine.txt")"
  echo
  echo "## Leftovers"
  echo
  echo '```'; cat "$OUT/leftovers.txt"; echo '```'
} >"$OUT/summary.md"
log "done: $OUT/summary.md"
