# shellcheck shell=bash
# (Copied unchanged from /work/shared/anchors-bench/lib/common.sh.)
# Shared constants and helpers for the anchor benchmark harness.
# Sourced by run.sh (root netns, outer), lib/inner.sh (inside ba-host) and
# lib/adapter-cli.sh. Nothing here touches the root network namespace.

export LC_ALL=C

# ---- topology -------------------------------------------------------------
# ba-host   : plays "the host". Bridges, NAT, firewall rules live here.
# ba-ext    : an "outside" client, wired to ba-host by a veth pair
#             (ba-up0 192.168.77.1 <-> ba-ext0 192.168.77.2). 192.168.77.1 is
#             "the host IP" used for published ports.
# ba-c<i>   : container network namespaces, i = 1..N.
# ba-raw1/2 : two namespaces joined by a bare veth pair (kernel baseline).
: "${BA_HOST_NS:=ba-host}"
: "${BA_EXT_NS:=ba-ext}"
: "${BA_HOST_IP:=192.168.77.1}"
: "${BA_EXT_IP:=192.168.77.2}"
: "${BA_SUBNET:=10.88.0.0/16}"
: "${BA_GATEWAY:=10.88.0.1}"
: "${BA_PREFIXLEN:=16}"
: "${BA_BRIDGE:=ba-br0}"          # suggestion; backends may use their own name
: "${BA_NETNAME:=ba-net}"         # network name handed to backends
: "${BA_HOSTPORT_BASE:=30000}"    # container i publishes host port BASE+i
: "${BA_CPORT:=8080}"             # ... to container port 8080/tcp
: "${BA_STATE_ROOT:=/tmp/ba-state}"
export BA_HOST_NS BA_EXT_NS BA_HOST_IP BA_EXT_IP BA_SUBNET BA_GATEWAY \
  BA_PREFIXLEN BA_BRIDGE BA_NETNAME BA_HOSTPORT_BASE BA_CPORT BA_STATE_ROOT

ba_ctr()        { printf 'ba-c%s' "$1"; }
ba_netns_path() { printf '/run/netns/ba-c%s' "$1"; }
ba_hostport()   { printf '%s' $((BA_HOSTPORT_BASE + $1)); }
# Harness-side IPAM for backends that do not allocate addresses themselves
# (netavark expects the caller, i.e. podman, to pass static IPs).
# i=1 -> 10.88.0.2, i=254 -> 10.88.0.255, i=255 -> 10.88.1.0 ... (valid in a /16)
ba_ip_for() {
  local n=$(($1 + 1))
  printf '10.88.%d.%d' $((n / 256)) $((n % 256))
}
ba_ip_for_v() { # <varname> <i>: same, without a subshell (for timed code)
  local n=$(($2 + 1))
  printf -v "$1" '10.88.%d.%d' $((n / 256)) $((n % 256))
}
# Actual IPv4 of the container's eth0 (backend-agnostic; used by checks).
ba_ctr_ip() {
  ip -n "ba-c$1" -4 -o addr show dev eth0 2>/dev/null | awk '{split($4,a,"/"); print a[1]; exit}'
}

# microsecond timestamps without forking: EPOCHREALTIME is "sec.usec"
ba_us() { local t=$EPOCHREALTIME; printf '%s' "${t/./}"; }

# Per-step trace from inside an adapter (e.g. one CNI plugin exec).
# usage: ba_trace <label> <t0_EPOCHREALTIME> <t1_EPOCHREALTIME>
ba_trace() {
  [[ -n ${BA_TRACE_FILE:-} ]] || return 0
  local a=${2/./} b=${3/./}
  printf '%s,%s,%s,%s,%s\n' "${BA_BACKEND:-?}" "${BA_N:-?}" "${BA_CUR_OP:-?}" "$1" $((b - a)) >>"$BA_TRACE_FILE"
}

# Whole-machine CPU busy % over <secs> (from /proc/stat; read-only).
ba_busy_pct() {
  local _c u n sy id io irq sirq st b0 t0 b1 t1
  read -r _c u n sy id io irq sirq st _ </proc/stat
  b0=$((u + n + sy + irq + sirq + st)) t0=$((u + n + sy + id + io + irq + sirq + st))
  sleep "${1:-2}"
  read -r _c u n sy id io irq sirq st _ </proc/stat
  b1=$((u + n + sy + irq + sirq + st)) t1=$((u + n + sy + id + io + irq + sirq + st))
  echo $((t1 > t0 ? 100 * (b1 - b0) / (t1 - t0) : 0))
}

ba_log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
ba_die() { ba_log "FATAL: $*"; exit 1; }

# Only names with our prefix are ever created or deleted.
ba_netns_exists() { [[ -e /run/netns/$1 ]]; }
ba_netns_del() {
  [[ $1 == ba-* ]] || ba_die "refusing to delete non-ba netns '$1'"
  ba_netns_exists "$1" && ip netns del "$1"
  return 0
}
