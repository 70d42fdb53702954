#!/usr/bin/env bash
# Copied from /work/shared/anchors-bench/lib/inner.sh (the project's own research harness) and
# changed for berth's bench/attach: run.sh enters ba-host with `nsenter --net` instead of
# `ip netns exec`; a backend may report its own in-process time per call (BE_REPORTS_TIME=1,
# BE_US, BE_CPU_US: berth-engine); lat.csv gains a wall_us column (the harness's own clock);
# berth's table (inet berth) is counted separately; the gateway pinged is read from each
# container's default route (berth allocates its own subnet).
# Runs INSIDE the ba-host netns (run.sh calls: nsenter --net=/run/netns/ba-host lib/inner.sh ...).
#   inner.sh bench <backend> <N> <cycles> <outdir>
#   inner.sh iperf <backend> <outdir> <seconds>
# Container netns ba-c1..N, ba-ext and the uplink veth already exist.
set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=lib/common.sh
source "$HERE/lib/common.sh"

MODE=$1 BACKEND=$2
[[ $(ip netns identify $$) == "$BA_HOST_NS" ]] || ba_die "inner.sh must run inside $BA_HOST_NS"
LABEL=$BACKEND
[[ $BACKEND == cmd ]] && LABEL=${BA_CMD_LABEL:-cmd}
export BA_BACKEND=$LABEL BA_STATE=$BA_STATE_ROOT/$LABEL
rm -rf "$BA_STATE"; mkdir -p "$BA_STATE"
# shellcheck disable=SC1090
source "$HERE/backends/$BACKEND.sh"

PIDS=()
cleanup_pids() { local p; for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done; for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done; PIDS=(); }
on_inner_exit() {
  cleanup_pids
  # a long-lived driver process started by the backend (berth-engine), by its PID
  [[ -n ${BERTH_ENG_PID_SAVED:-} ]] && kill "$BERTH_ENG_PID_SAVED" 2>/dev/null
  return 0
}
trap on_inner_exit EXIT

# children's user+sys CPU time in microseconds, from bash's `times` builtin
# (2nd line, "XmS.sss"). Must run in this shell, not a subshell: a forked
# subshell starts with zero child rusage. Result in global CPU_US.
child_cpu_us() {
  local u s mu su
  times >"$BA_STATE/.times"
  { read -r _ _; read -r u s; } <"$BA_STATE/.times"
  mu=${u%%m*} su=${s%%m*}; u=${u#*m} s=${s#*m}; u=${u%s} s=${s%s}
  CPU_US=$(( (mu * 60000 + 10#${u/./} + su * 60000 + 10#${s/./}) * 1000 ))
}

# whole-machine CPU counters from /proc/stat (read-only, not namespaced):
# sets STAT_BUSY and STAT_TOTAL (jiffies). No fork.
proc_stat() {
  local _c u n sy id io irq sirq st
  read -r _c u n sy id io irq sirq st _ </proc/stat
  STAT_BUSY=$((u + n + sy + irq + sirq + st)) STAT_TOTAL=$((u + n + sy + id + io + irq + sirq + st))
}
pct() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b > 0) printf "%.0f", 100*a/b; else print "-" }'; }

count_rules() { # <prefix> -> sets <prefix>_IPT_RULES etc.
  local p=$1 save js
  save=$(iptables-save 2>/dev/null)
  printf -v "${p}_IPT_RULES" '%s' "$(grep -c '^-A' <<<"$save")"
  printf -v "${p}_IPT_CHAINS" '%s' "$(grep -c '^:' <<<"$save")"
  js=$(nft -j list ruleset 2>/dev/null)
  [[ -n $js ]] || js='{"nftables":[]}'
  printf -v "${p}_NFT_RULES" '%s' "$(jq '[.nftables[]|select(.rule)]|length' <<<"$js")"
  printf -v "${p}_NFT_CHAINS" '%s' "$(jq '[.nftables[]|select(.chain)]|length' <<<"$js")"
  printf -v "${p}_NFT_ELEMS" '%s' "$(jq '[.nftables[]|(.map // .set // empty)|(.elem // [])|length]|add // 0' <<<"$js")"
  printf -v "${p}_LINKS" '%s' "$(ip -o link | wc -l)"
  # berth's own table: rules / chains / set+map elements in table inet berth
  printf -v "${p}_BERTH_RULES" '%s' "$(jq '[.nftables[]|select(.rule and .rule.family=="inet" and .rule.table=="berth")]|length' <<<"$js")"
  printf -v "${p}_BERTH_CHAINS" '%s' "$(jq '[.nftables[]|select(.chain and .chain.family=="inet" and .chain.table=="berth")]|length' <<<"$js")"
  printf -v "${p}_BERTH_ELEMS" '%s' "$(jq '[.nftables[]|(.map // .set // empty)|select(.family=="inet" and .table=="berth")|(.elem // [])|length]|add // 0' <<<"$js")"
}

verify() { # <N> -> V_* = "ok/total"
  # Changed from the original: (1) a check that fails for the first 3 containers in a row is not
  # tried on the others (reported "0/3 tried of N"): a broken path would otherwise cost ~5 s of
  # timeouts per container and check; (2) with N > BA_VERIFY_MAX (default 25) an evenly spread
  # sample of containers is checked (always the first and the last), reported "ok/checked of N";
  # (3) commands enter the container namespaces with `nsenter --net` (no mount namespace to
  # build, unlike `ip netns exec`). On a loaded 2-vCPU machine checking all 200 took 3-4 min per
  # backend.
  local n=$1 i j ip out port gwip step=1 max=${BA_VERIFY_MAX:-25}
  local -A ok=() tried=()
  local -a sample=()
  ((n > max)) && step=$(((n + max - 1) / max))
  for ((i = 1; i <= n; i += step)); do sample+=("$i"); done
  ((${sample[-1]} != n)) && sample+=("$n")
  nsx() { local ns=$1; shift; nsenter --net="/run/netns/$ns" "$@"; }
  chk() { # <name> <cmd...>
    local k=$1; shift
    ((${tried[$k]:-0} >= 3 && ${ok[$k]:-0} == 0)) && return 0
    tried[$k]=$((${tried[$k]:-0} + 1))
    "$@" && ok[$k]=$((${ok[$k]:-0} + 1))
    return 0
  }
  res() { # <name> -> "ok/n" or "0/3 tried of n"
    if ((${tried[$1]:-0} < $2)); then echo "${ok[$1]:-0}/${tried[$1]:-0} tried of $2"; else echo "${ok[$1]:-0}/$2"; fi
  }
  for i in "${sample[@]}"; do
    # the gateway the backend configured (berth allocates its own subnet), else the harness's
    gwip=$(ip -n "ba-c$i" -4 route show default 2>/dev/null | awk '{print $3; exit}')
    [[ -z $gwip ]] && gwip=$(ip -n "ba-c$i" -4 -o addr show dev eth0 2>/dev/null | awk '{split($4,a,"/"); split(a[1],o,"."); print o[1]"."o[2]".0.1"; exit}')
    chk gw nsx "ba-c$i" ping -c1 -W1 -q "${gwip:-$BA_GATEWAY}" >/dev/null 2>&1
    if ((n > 1)); then
      j=$((i % n + 1)); ip=$(ba_ctr_ip "$j")
      chk c2c eval '[[ -n $ip ]] && nsx "ba-c$i" ping -c1 -W1 -q "$ip" >/dev/null 2>&1'
    fi
    # ba-ext has no route to the containers' subnet: a reply proves SNAT/masquerade
    chk masq nsx "ba-c$i" ping -c1 -W1 -q "$BA_EXT_IP" >/dev/null 2>&1
  done
  for i in "${sample[@]}"; do
    nsx "ba-c$i" socat TCP-LISTEN:"$BA_CPORT",reuseaddr,fork SYSTEM:"echo ba-c$i" 2>/dev/null &
    PIDS+=($!)
  done
  sleep 1
  try() { # <expect> <cmd...>: one retry for slow listener start
    local e=$1; shift
    out=$("$@" 2>/dev/null </dev/null); [[ $out == "$e" ]] && return 0
    sleep 0.5; out=$("$@" 2>/dev/null </dev/null); [[ $out == "$e" ]]
  }
  for i in "${sample[@]}"; do
    port=$((BA_HOSTPORT_BASE + i))
    chk pmh try "ba-c$i" socat -T3 - "TCP:$BA_HOST_IP:$port,connect-timeout=2"
    chk pme try "ba-c$i" nsx "$BA_EXT_NS" socat -T3 - "TCP:$BA_HOST_IP:$port,connect-timeout=2"
    chk pml try "ba-c$i" socat -T3 - "TCP:127.0.0.1:$port,connect-timeout=2"
  done
  cleanup_pids
  local m=${#sample[@]}
  V_GW=$(res gw "$m"); V_MASQ=$(res masq "$m"); V_PM_HOST=$(res pmh "$m"); V_PM_EXT=$(res pme "$m"); V_PM_LO=$(res pml "$m")
  if ((n > 1)); then V_C2C=$(res c2c "$m"); else V_C2C="n/a"; fi
  if ((m < n)); then
    local v
    for v in V_GW V_MASQ V_PM_HOST V_PM_EXT V_PM_LO V_C2C; do printf -v "$v" '%s (sample of %s)' "${!v}" "$n"; done
  fi
}

bench() {
  local N=$1 CYCLES=$2 OUT=$3 c i t0 t1 rc s e cpu0 cpu1
  local LAT=$OUT/lat.csv ERR=$OUT/errors-$LABEL-$N.log
  export BA_N=$N BA_TRACE_FILE=$OUT/trace.csv
  [[ -f $LAT ]] || echo "backend,n,cycle,i,op,us,rc,wall_us" >"$LAT"
  [[ -f $BA_TRACE_FILE ]] || echo "backend,n,op,step,us" >"$BA_TRACE_FILE"
  local LOAD0; LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
  count_rules BASE
  t0=$(ba_us); be_init 2>>"$ERR" || ba_die "be_init failed for $LABEL (see $ERR)"; t1=$(ba_us)
  local INIT_US=$((t1 - t0)) SETUP_WALL_US=0 TEARDOWN_WALL_US=0 SETUP_CPU_US=0 TEARDOWN_CPU_US=0
  local SFAIL=0 TFAIL=0 cold_us='' SB=0 ST=0 TB=0 TT=0 sb0 st0 ncpu us wall
  local SELF_SETUP_US=0 SELF_TEARDOWN_US=0 SELF_SETUP_CPU=0 SELF_TEARDOWN_CPU=0
  ncpu=$(nproc)
  for ((c = 1; c <= CYCLES; c++)); do
    export BA_CUR_OP=setup
    proc_stat; sb0=$STAT_BUSY st0=$STAT_TOTAL
    child_cpu_us; cpu0=$CPU_US; t0=$(ba_us)
    for ((i = 1; i <= N; i++)); do
      BE_US='' BE_CPU_US=0
      s=$EPOCHREALTIME; be_setup "$i" 2>>"$ERR"; rc=$?; e=$EPOCHREALTIME
      ((rc != 0)) && ((SFAIL++))
      wall=$((${e/./} - ${s/./})); us=$wall
      [[ ${BE_REPORTS_TIME:-0} == 1 && -n $BE_US ]] && us=$BE_US
      ((SELF_SETUP_US += us, SELF_SETUP_CPU += BE_CPU_US))
      printf '%s,%s,%s,%s,setup,%s,%s,%s\n' "$LABEL" "$N" "$c" "$i" "$us" "$rc" "$wall" >>"$LAT"
      [[ -z $cold_us ]] && cold_us=$us
    done
    t1=$(ba_us); child_cpu_us; cpu1=$CPU_US
    proc_stat; ((SB += STAT_BUSY - sb0, ST += STAT_TOTAL - st0))
    ((SETUP_WALL_US += t1 - t0, SETUP_CPU_US += cpu1 - cpu0))
    if ((c == 1)); then
      count_rules SETUP
      nft list ruleset >"$OUT/ruleset-$LABEL-$N.nft" 2>&1
      iptables-save >"$OUT/iptables-save-$LABEL-$N.txt" 2>&1
      if [[ ${BE_SKIP_VERIFY:-0} == 1 ]]; then
        V_GW=skip V_C2C=skip V_MASQ=skip V_PM_HOST=skip V_PM_EXT=skip V_PM_LO=skip
      else
        ba_log "$LABEL N=$N: verifying connectivity"
        verify "$N"
      fi
      IPFWD=$(sysctl -n net.ipv4.ip_forward); BRNF=$(sysctl -n net.bridge.bridge-nf-call-iptables 2>/dev/null)
    fi
    export BA_CUR_OP=teardown
    proc_stat; sb0=$STAT_BUSY st0=$STAT_TOTAL
    child_cpu_us; cpu0=$CPU_US; t0=$(ba_us)
    for ((i = 1; i <= N; i++)); do
      BE_US='' BE_CPU_US=0
      s=$EPOCHREALTIME; be_teardown "$i" 2>>"$ERR"; rc=$?; e=$EPOCHREALTIME
      ((rc != 0)) && ((TFAIL++))
      wall=$((${e/./} - ${s/./})); us=$wall
      [[ ${BE_REPORTS_TIME:-0} == 1 && -n $BE_US ]] && us=$BE_US
      ((SELF_TEARDOWN_US += us, SELF_TEARDOWN_CPU += BE_CPU_US))
      printf '%s,%s,%s,%s,teardown,%s,%s,%s\n' "$LABEL" "$N" "$c" "$i" "$us" "$rc" "$wall" >>"$LAT"
    done
    t1=$(ba_us); child_cpu_us; cpu1=$CPU_US
    proc_stat; ((TB += STAT_BUSY - sb0, TT += STAT_TOTAL - st0))
    ((TEARDOWN_WALL_US += t1 - t0, TEARDOWN_CPU_US += cpu1 - cpu0))
    ((c == 1)) && count_rules DOWN
  done
  be_fini 2>>"$ERR"
  if [[ ${BE_REPORTS_TIME:-0} == 1 ]]; then
    # in-process backend: its own clock and CPU (the harness's children did not do the work)
    SETUP_WALL_US=$SELF_SETUP_US TEARDOWN_WALL_US=$SELF_TEARDOWN_US
    SETUP_CPU_US=$SELF_SETUP_CPU TEARDOWN_CPU_US=$SELF_TEARDOWN_CPU
  fi
  local LEFT_IPAM=0
  [[ -d $BA_STATE/ipam ]] && LEFT_IPAM=$(find "$BA_STATE/ipam" -type f ! -name lock ! -name 'last_reserved_ip*' | wc -l)
  cat >"$OUT/run-$LABEL-$N.env" <<EOF
R_BACKEND='$LABEL'
R_DESCRIBE='$(be_describe 2>/dev/null | tr -d "'")'
R_N=$N
R_CYCLES=$CYCLES
R_INIT_MS=$(awk -v u="$INIT_US" 'BEGIN{printf "%.1f", u/1000}')
R_COLD_MS=$(awk -v u="${cold_us:-0}" 'BEGIN{printf "%.1f", u/1000}')
R_SETUP_WALL_S=$(awk -v u="$SETUP_WALL_US" -v c="$CYCLES" 'BEGIN{printf "%.2f", u/1e6/c}')
R_TEARDOWN_WALL_S=$(awk -v u="$TEARDOWN_WALL_US" -v c="$CYCLES" 'BEGIN{printf "%.2f", u/1e6/c}')
R_SETUP_CPU_MS_PER_OP=$(awk -v u="$SETUP_CPU_US" -v n=$((N * CYCLES)) 'BEGIN{printf "%.1f", u/1000/n}')
R_TEARDOWN_CPU_MS_PER_OP=$(awk -v u="$TEARDOWN_CPU_US" -v n=$((N * CYCLES)) 'BEGIN{printf "%.1f", u/1000/n}')
R_SETUP_HOST_BUSY_PCT=$(pct "$SB" "$ST")
R_SETUP_OUR_PCT=$(awk -v c="$SETUP_CPU_US" -v w="$SETUP_WALL_US" -v n="$ncpu" 'BEGIN{ if (w > 0) printf "%.0f", 100*c/(w*n); else print "-" }')
R_TEARDOWN_HOST_BUSY_PCT=$(pct "$TB" "$TT")
R_TEARDOWN_OUR_PCT=$(awk -v c="$TEARDOWN_CPU_US" -v w="$TEARDOWN_WALL_US" -v n="$ncpu" 'BEGIN{ if (w > 0) printf "%.0f", 100*c/(w*n); else print "-" }')
R_SETUP_FAILS=$SFAIL
R_TEARDOWN_FAILS=$TFAIL
R_BASE_IPT_RULES=$BASE_IPT_RULES
R_BASE_NFT_RULES=$BASE_NFT_RULES
R_SETUP_IPT_RULES=$SETUP_IPT_RULES
R_SETUP_IPT_CHAINS=$SETUP_IPT_CHAINS
R_SETUP_NFT_RULES=$SETUP_NFT_RULES
R_SETUP_NFT_CHAINS=$SETUP_NFT_CHAINS
R_SETUP_NFT_ELEMS=$SETUP_NFT_ELEMS
R_SETUP_LINKS=$SETUP_LINKS
R_DOWN_IPT_RULES=$DOWN_IPT_RULES
R_DOWN_NFT_RULES=$DOWN_NFT_RULES
R_DOWN_NFT_CHAINS=$DOWN_NFT_CHAINS
R_DOWN_LINKS=$DOWN_LINKS
R_BASE_LINKS=$BASE_LINKS
R_BASE_BERTH_RULES=$BASE_BERTH_RULES
R_SETUP_BERTH_RULES=$SETUP_BERTH_RULES
R_SETUP_BERTH_CHAINS=$SETUP_BERTH_CHAINS
R_SETUP_BERTH_ELEMS=$SETUP_BERTH_ELEMS
R_DOWN_BERTH_RULES=$DOWN_BERTH_RULES
R_DOWN_BERTH_ELEMS=$DOWN_BERTH_ELEMS
R_LEFT_IPAM=$LEFT_IPAM
R_V_GW='$V_GW'
R_V_C2C='$V_C2C'
R_V_MASQ='$V_MASQ'
R_V_PM_HOST='$V_PM_HOST'
R_V_PM_EXT='$V_PM_EXT'
R_V_PM_LO='$V_PM_LO'
R_IP_FORWARD='$IPFWD'
R_BR_NF_CALL_IPTABLES='$BRNF'
R_PRE_BUSY_PCT='${BA_PRE_BUSY:-}'
R_QUIET_WAITED_S='${BA_QUIET_WAITED:-}'
R_LOAD_START='$LOAD0'
R_LOAD_END='$(cut -d' ' -f1-3 /proc/loadavg)'
EOF
  ba_log "$LABEL N=$N: setup fails=$SFAIL teardown fails=$TFAIL verify gw=$V_GW c2c=$V_C2C masq=$V_MASQ port host=$V_PM_HOST ext=$V_PM_EXT lo=$V_PM_LO"
}

iperf_one() { # <name> <server-ns> <server-port> <client-ns> <target> <target-port> <secs> <out>
  local name=$1 sns=$2 sport=$3 cns=$4 tgt=$5 tport=$6 secs=$7 out=$8 spid
  ip netns exec "$sns" iperf3 -s -1 -p "$sport" >/dev/null 2>&1 &
  spid=$!; PIDS+=("$spid")
  sleep 0.5
  ip netns exec "$cns" iperf3 -c "$tgt" -p "$tport" -t "$secs" -J >"$out/iperf-$LABEL-$name.json" 2>&1
  wait "$spid" 2>/dev/null
  jq -r '(.end.sum_received.bits_per_second // 0)/1e9 | . * 100 | round / 100' "$out/iperf-$LABEL-$name.json" 2>/dev/null || echo fail
}

iperf_run() {
  local OUT=$1 SECS=$2 ip2 c2c dnat snat
  local ERR=$OUT/errors-$LABEL-iperf.log
  export BA_N=2 BA_TRACE_FILE=
  be_init 2>>"$ERR" || ba_die "be_init failed"
  if ! be_setup 1 2>>"$ERR" || ! be_setup 2 2>>"$ERR"; then ba_die "setup failed for iperf (see $ERR)"; fi
  ip2=$(ba_ctr_ip 2)
  ba_log "$LABEL iperf: container->container over the bridge"
  c2c=$(iperf_one c2c ba-c2 5201 ba-c1 "$ip2" 5201 "$SECS" "$OUT")
  ba_log "$LABEL iperf: ba-ext -> host IP:published port (DNAT) -> container"
  dnat=$(iperf_one dnat ba-c1 "$BA_CPORT" "$BA_EXT_NS" "$BA_HOST_IP" $((BA_HOSTPORT_BASE + 1)) "$SECS" "$OUT")
  ba_log "$LABEL iperf: container -> ba-ext (masquerade)"
  snat=$(iperf_one snat "$BA_EXT_NS" 5202 ba-c1 "$BA_EXT_IP" 5202 "$SECS" "$OUT")
  { be_teardown 2; be_teardown 1; be_fini; } 2>>"$ERR"
  cat >"$OUT/iperf-$LABEL.env" <<EOF
I_BACKEND='$LABEL'
I_SECS=$SECS
I_C2C_GBPS=$c2c
I_DNAT_GBPS=$dnat
I_SNAT_GBPS=$snat
I_BR_NF_CALL_IPTABLES='$(sysctl -n net.bridge.bridge-nf-call-iptables 2>/dev/null)'
EOF
  ba_log "$LABEL iperf: c2c=$c2c dnat=$dnat snat=$snat Gbit/s"
}

case $MODE in
  bench) bench "$3" "$4" "$5" ;;
  iperf) iperf_run "$3" "$4" ;;
  *) ba_die "unknown mode $MODE" ;;
esac
