#!/usr/bin/env bash
# bench/startup: berth's start-up without a daemon (issue 16), side by side with its anchors in
# one run: Node's own floor (`node -e 0`), and optionally another build of berth (-B: "before").
#
#   bash bench/startup/run.sh [-r RUNS] [-c CYCLES] [-B OTHER_REPO] [-q PCT] [-o DIR] [--no-cni]
#     -r  hyperfine runs per command (default 30)
#     -c  CNI ADD+DEL cycles per backend (default 20; bench/cni/run.js -n 1 -c CYCLES)
#     -B  a second built checkout (e.g. main before a change): its rows run in the same hyperfine
#     -q  quiet gate: before each phase wait (max 60 s) until machine CPU busy < PCT % (default 35)
#     -o  output directory (default bench/startup/results/<UTC timestamp>)
#     --no-cni   skip phase 3
#   bash bench/startup/run.sh --cleanup    # remove leftover lab namespaces / temp dirs after a crash
#
# Phases (the code under test is a frozen copy of each build's dist/, bin/, package.json, with its
# native client dist/berth compiled again for the copy, as native/build.sh does):
#   1. hyperfine in the machine's namespace (nothing touches the network): `node -e 0`,
#      `berth --version`, `berth version --format json` (bin/berth: node and the bundle with its
#      code cache), and `client: berth --version` (dist/berth, the native client: no daemon answers,
#      so it execs node, from the CLI's startup snapshot where the build has one)
#   2. hyperfine in a lab "host" namespace per build (bs-after, bs-before; own BERTH_ROOT/RUN):
#      `berth run --rm --network none|bridge -- true` (bin/berth) and `client: berth run --rm
#      --network bridge -- true` (dist/berth), no daemon, plus `node -e 0` in the same run; then 10
#      runs of the client with BERTH_TRACE=cpu (where the time goes: wall and CPU ms since process start)
#   3. daemonless berth-cni ADD/DEL against netavark: bench/cni/run.js -n 1 -b nodaemon,warm,cold,netavark
#      (nodaemon: the warm engine off, a Node process per call; warm: served by the warm CNI
#      engine; cold: the first call, no engine yet)
#      (its own lab; this runs the live build of this checkout: the plugin finds its package there)
# Safety: only the bs-* namespaces are created and deleted; nothing is killed (no daemon here).
set -u
export LC_ALL=C
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
TMP_GLOB=/tmp/bs-startup.
RUNS=30 CYCLES=20 BEFORE= QUIET_PCT=35 QUIET_MAX_S=60 OUT= CNI=1

log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "FATAL: $*"; exit 1; }

while (($#)); do
  case $1 in
    -r) RUNS=$2; shift ;;
    -c) CYCLES=$2; shift ;;
    -B) BEFORE=$(cd "$2" && pwd) || die "-B: no such directory $2"; shift ;;
    -q) QUIET_PCT=$2; shift ;;
    -o) OUT=$2; shift ;;
    --no-cni) CNI=0 ;;
    --cleanup) CLEANUP_ONLY=1 ;;
    -h | --help) sed -n '2,23p' "$0"; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
  shift
done

[[ $(id -u) == 0 ]] || die "must run as root"
[[ -z $(ip netns identify $$) ]] || die "start in the machine's own network namespace (the script makes its labs)"

cleanup() {
  local d m ns
  for d in "$TMP_GLOB"*; do
    [[ -d $d ]] || continue
    # berth's netns bind mounts under our BERTH_RUN, if a container was left behind
    findmnt -rn -o TARGET | grep -F "$d/" | sort -r | while read -r m; do umount -l "$m" 2>/dev/null; done
    rm -rf "$d"
  done
  for ns in bs-after bs-before; do [[ -e /run/netns/$ns ]] && ip netns del "$ns"; done
  return 0
}
if [[ ${CLEANUP_ONLY:-0} == 1 ]]; then cleanup; log "cleaned"; exit 0; fi

for t in hyperfine nsenter node findmnt; do command -v "$t" >/dev/null || die "missing tool: $t"; done
for r in "$REPO" ${BEFORE:+"$BEFORE"}; do
  [[ -f $r/dist/berth.mjs && -x $r/dist/berth-init ]] || die "$r is not built: cd $r && npm run build"
done
for ns in bs-after bs-before; do [[ -e /run/netns/$ns ]] && die "$ns exists: run '$0 --cleanup' first"; done
compgen -G "$TMP_GLOB*" >/dev/null && die "leftover $TMP_GLOB* exists: run '$0 --cleanup' first"

OUT=${OUT:-$HERE/results/$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT"; OUT=$(cd "$OUT" && pwd)
log "results -> $OUT"
trap cleanup EXIT
trap 'exit 130' INT TERM
TMP=$(mktemp -d "${TMP_GLOB}XXXXXX")

# freeze <repo> <name>: a copy of the build that other work cannot rebuild under the run
freeze() {
  mkdir -p "$TMP/$2"
  cp -a "$1/dist" "$1/bin" "$1/package.json" "$TMP/$2/"
  ln -s "$1/node_modules" "$TMP/$2/node_modules"
  # the client finds its package where it was compiled for (native/build.sh): compile it for the copy
  if [[ -f $1/native/berth-client.c ]]; then
    cc -std=c11 -O2 -DBERTH_NODE="\"$(command -v node)\"" -DBERTH_PACKAGE="\"$TMP/$2\"" -o "$TMP/$2/dist/berth" "$1/native/berth-client.c" || die "cannot compile $1/native/berth-client.c"
  fi
  "$TMP/$2/bin/berth" --version >/dev/null || die "the build in $1 does not load (a rebuild in progress?): try again"
}
freeze "$REPO" after
[[ -n $BEFORE ]] && freeze "$BEFORE" before
BUILDS=(after ${BEFORE:+before})

busy_pct() { # whole-machine CPU busy % over 2 s (read-only /proc/stat)
  local _c u n sy id io irq sirq st b0 t0 b1 t1
  read -r _c u n sy id io irq sirq st _ </proc/stat
  b0=$((u + n + sy + irq + sirq + st)) t0=$((u + n + sy + id + io + irq + sirq + st))
  sleep 2
  read -r _c u n sy id io irq sirq st _ </proc/stat
  b1=$((u + n + sy + irq + sirq + st)) t1=$((u + n + sy + id + io + irq + sirq + st))
  echo $((t1 > t0 ? 100 * (b1 - b0) / (t1 - t0) : 0))
}
quiet_gate() { # <phase>
  local waited=0 busy
  busy=$(busy_pct)
  while ((busy >= QUIET_PCT && waited < QUIET_MAX_S)); do sleep 3; waited=$((waited + 5)); busy=$(busy_pct); done
  echo "$1,$busy,$waited,$(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/load.csv"
  log "$1: machine busy ${busy}% (waited ${waited}s), load $(cut -d' ' -f1-3 /proc/loadavg)"
}
echo "phase,busy_pct_before,waited_s,loadavg" >"$OUT/load.csv"
{
  echo "date_utc: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "kernel: $(uname -r); cpu: $(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo) x $(nproc); node: $(node --version)"
  echo "after: $REPO at $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null) ($(git -C "$REPO" status --porcelain 2>/dev/null | grep -vc '^?? bench/') changed paths)"
  [[ -n $BEFORE ]] && echo "before: $BEFORE at $(git -C "$BEFORE" rev-parse --short HEAD 2>/dev/null)"
  echo "command: $0 -r $RUNS -c $CYCLES ${BEFORE:+-B $BEFORE} -q $QUIET_PCT"
} >"$OUT/machine.txt"

# ---- 1. the CLI's start: no engine needed --------------------------------------------------
rows=(-n 'node -e 0' 'node -e 0')
for b in "${BUILDS[@]}"; do
  rows+=(-n "$b: berth --version" "$TMP/$b/bin/berth --version" -n "$b: berth version --format json" "$TMP/$b/bin/berth version --format json")
  rows+=(-n "$b: client: berth --version" "$TMP/$b/dist/berth --version")
done
quiet_gate version
# no daemon answers the client here: an empty BERTH_RUN of our own
BERTH_RUN=$TMP/no-daemon hyperfine -N -w 3 -r "$RUNS" --style basic "${rows[@]}" --export-json "$OUT/version.json" >"$OUT/version.txt" 2>&1 || log "hyperfine failed (see $OUT/version.txt)"

# ---- 2. berth run --rm without a daemon, one lab host per build ------------------------------
for b in "${BUILDS[@]}"; do
  ns=bs-$b
  ip netns add "$ns"
  ip -n "$ns" link set lo up
  export BERTH_ROOT=$TMP/$b/state/root BERTH_RUN=$TMP/$b/state/run
  IN=(nsenter "--net=/run/netns/$ns")
  # warm-up: the first run creates the store, the default network and berth's nft table
  for _ in 1 2; do "${IN[@]}" "$TMP/$b/bin/berth" run --rm --network bridge -- true || die "$b: berth run --rm failed"; done
  quiet_gate "run-$b"
  "${IN[@]}" hyperfine -N -w 2 -r "$RUNS" --style basic \
    -n 'node -e 0' 'node -e 0' \
    -n "$b: berth run --rm --network none -- true" "$TMP/$b/bin/berth run --rm --network none -- true" \
    -n "$b: berth run --rm --network bridge -- true" "$TMP/$b/bin/berth run --rm --network bridge -- true" \
    -n "$b: client: berth run --rm --network bridge -- true" "$TMP/$b/dist/berth run --rm --network bridge -- true" \
    --export-json "$OUT/run-$b.json" >"$OUT/run-$b.txt" 2>&1 || log "hyperfine failed (see $OUT/run-$b.txt)"
  for i in $(seq 10); do
    # label,wall ms,CPU ms (a build without BERTH_TRACE=cpu leaves the CPU column empty)
    BERTH_TRACE=cpu "${IN[@]}" "$TMP/$b/dist/berth" run --rm --network bridge -- true 2>&1 >/dev/null |
      sed -n -e 's/^\[trace \([0-9.]*\) ms\] \(.*\) (cpu \([0-9.]*\) ms)$/\2,\1,\3/p' -e t -e 's/^\[trace \([0-9.]*\) ms\] \(.*\)$/\2,\1,/p' >"$OUT/trace-$b-$i.csv"
  done
  echo "$b: containers left: $("${IN[@]}" "$TMP/$b/bin/berth" ps -a -q | wc -l)" >>"$OUT/leftovers.txt"
  unset BERTH_ROOT BERTH_RUN
done

# ---- 3. daemonless berth-cni against netavark ------------------------------------------------
if ((CNI)); then
  quiet_gate cni
  (cd "$REPO" && node dist/bench/cni/run.js -n 1 -c "$CYCLES" -b nodaemon,warm,cold,netavark) >"$OUT/cni.md" 2>"$OUT/cni.log" || log "bench/cni failed (see $OUT/cni.log)"
fi

# ---- summary: p50 (hyperfine's median) and p50 / the floor of the same hyperfine run ----------
node --input-type=module - "$OUT" >"$OUT/summary.md" <<'JS'
import { readFileSync, readdirSync } from 'node:fs';
const out = process.argv[2];
const lines = ['| command | p50 ms | mean ms | user+sys ms | p50 - floor p50 | p50 / floor p50 |', '|---|---:|---:|---:|---:|---:|'];
for (const f of readdirSync(out).filter((f) => /^(version|run-.*)\.json$/.test(f)).sort().reverse()) {
  const { results } = JSON.parse(readFileSync(`${out}/${f}`, 'utf8'));
  const floor = results.find((r) => r.command === 'node -e 0');
  for (const r of results) {
    const ms = (x) => (x * 1000).toFixed(1);
    lines.push(`| ${r.command}${r === floor ? ` (${f})` : ''} | ${ms(r.median)} | ${ms(r.mean)} | ${ms(r.user + r.system)} | ${r === floor ? '' : ms(r.median - floor.median)} | ${r === floor ? '' : (r.median / floor.median).toFixed(2)} |`);
  }
}
console.log(lines.join('\n'));
JS
[[ -f $OUT/cni.md ]] && { echo; cat "$OUT/cni.md"; } >>"$OUT/summary.md"
cat "$OUT/summary.md"
