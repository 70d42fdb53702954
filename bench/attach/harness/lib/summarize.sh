#!/usr/bin/env bash
# summarize.sh <results-dir>  ->  markdown on stdout
# Copied from /work/shared/anchors-bench/lib/summarize.sh; added for berth: the "Side by side"
# section (ratios to netavark's p50 at the same N, growth N=200 vs N=1) and the inet berth
# rule counts.
# Percentiles are nearest-rank over successful calls: pX = sorted[ceil(X/100*n)].
set -u
D=$1
export LC_ALL=C
cd "$D" || exit 1

echo "# Anchor benchmark summary"
echo
echo '```'
cat machine.txt
echo '```'
echo

[[ -f lat.csv ]] || { echo "(no lat.csv)"; exit 0; }

# backend order = order of first appearance
mapfile -t BACKENDS < <(awk -F, 'NR>1 && !s[$1]++ {print $1}' lat.csv)

# stats per backend,n,op over rc==0 samples
STATS=$(awk -F, 'NR>1 && $7==0 {print $1","$2","$5","$6}' lat.csv |
  sort -t, -k1,1 -k2,2n -k3,3 -k4,4n |
  awk -F, '
    function flush(   p50, p95) {
      if (n == 0) return
      p50 = v[int(0.50*n) + (0.50*n > int(0.50*n))]
      p95 = v[int(0.95*n) + (0.95*n > int(0.95*n))]
      printf "%s %d %.1f %.1f %.1f %.1f\n", key, n, p50/1000, p95/1000, v[n]/1000, sum/n/1000
    }
    { k = $1","$2","$3
      if (k != key) { flush(); key = k; n = 0; sum = 0 }
      v[++n] = $4; sum += $4 }
    END { flush() }')
st() { # <backend> <n> <op> <field: 2=count 3=p50 4=p95 5=max 6=mean>
  awk -v k="$1,$2,$3" -v f="$4" '$1==k {print $f; found=1} END{if(!found) print "-"}' <<<"$STATS"
}

runfiles() { # <backend> -> run-<backend>-<N>.env sorted by N
  local f
  for f in run-"$1"-[0-9]*.env; do [[ -f $f ]] && echo "$f"; done |
    sed -E 's/.*-([0-9]+)\.env$/\1 &/' | sort -n | cut -d' ' -f2
}

envval() { # <file> <VAR>
  [[ -f $1 ]] || { echo "-"; return; }
  ( # shellcheck disable=SC1090
    source "$1"; eval "printf '%s' \"\${$2:--}\"" )
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (a != "-" && b != "-" && b > 0) printf "%.2f", a/b; else print "-" }'; }
mapfile -t SIZES < <(awk -F, 'NR>1 {print $2}' lat.csv | sort -nu)
if printf '%s\n' "${BACKENDS[@]}" | grep -qx netavark; then
  echo "## Side by side: p50/p95 per operation and ratio to netavark's p50 at the same N"
  echo
  echo "ms; ratio = backend p50 / netavark p50 (lower is faster). berth-engine times the engine call inside its"
  echo "Node process; every other row is the harness's wall clock around one adapter call (process execs included)."
  echo
  echo "| backend | N | ADD p50 | ADD p95 | DEL p50 | DEL p95 | ADD p50 / netavark | DEL p50 / netavark | failed ADD/DEL |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
  for n in "${SIZES[@]}"; do
    nva=$(st netavark "$n" setup 3) nvd=$(st netavark "$n" teardown 3)
    for b in "${BACKENDS[@]}"; do
      [[ $(st "$b" "$n" setup 2) == - && $(st "$b" "$n" teardown 2) == - ]] && [[ ! -f run-$b-$n.env ]] && continue
      a=$(st "$b" "$n" setup 3) d=$(st "$b" "$n" teardown 3)
      printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s/%s |\n' "$b" "$n" "$a" "$(st "$b" "$n" setup 4)" \
        "$d" "$(st "$b" "$n" teardown 4)" "$(ratio "$a" "$nva")" "$(ratio "$d" "$nvd")" \
        "$(envval "run-$b-$n.env" R_SETUP_FAILS)" "$(envval "run-$b-$n.env" R_TEARDOWN_FAILS)"
    done
  done
  echo
  lo=${SIZES[0]} hi=${SIZES[-1]}
  echo "Growth: p50 at N=$hi divided by p50 at N=$lo"
  echo
  echo "| backend | ADD | DEL |"
  echo "|---|---:|---:|"
  for b in "${BACKENDS[@]}"; do
    printf '| %s | %s | %s |\n' "$b" "$(ratio "$(st "$b" "$hi" setup 3)" "$(st "$b" "$lo" setup 3)")" \
      "$(ratio "$(st "$b" "$hi" teardown 3)" "$(st "$b" "$lo" teardown 3)")"
  done
  echo
fi

echo "## Setup (ADD) / teardown (DEL) latency per endpoint, ms"
echo
echo "Sequential calls, one endpoint at a time. N=1 rows aggregate all cycles (each cycle = 1 ADD + 1 DEL)."
echo "'cold' = the very first ADD in a fresh ba-host (creates bridge / base chains). CPU = user+sys of the"
echo "backend's child processes per call (less sensitive to other load than wall time). 'host busy' = whole-machine"
echo "CPU busy % during the ADD loop (/proc/stat, all cores); 'ours' = the backend's own share of all cores; the gap"
echo "is other load on the machine (incl. kernel workers). 'pre' = busy % in the 2 s before the phase (quiet gate)."
echo
echo "| backend | N | samples | ADD p50 | ADD p95 | ADD max | DEL p50 | DEL p95 | DEL max | cold ADD | ADD wall s | DEL wall s | CPU ms/ADD | CPU ms/DEL | host busy % / ours (ADD loop) / pre | failed ADD/DEL |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for b in "${BACKENDS[@]}"; do
  for f in $(runfiles "$b"); do
    n=$(envval "$f" R_N)
    printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s / %s / %s | %s/%s |\n' \
      "$b" "$n" "$(st "$b" "$n" setup 2)" \
      "$(st "$b" "$n" setup 3)" "$(st "$b" "$n" setup 4)" "$(st "$b" "$n" setup 5)" \
      "$(st "$b" "$n" teardown 3)" "$(st "$b" "$n" teardown 4)" "$(st "$b" "$n" teardown 5)" \
      "$(envval "$f" R_COLD_MS)" "$(envval "$f" R_SETUP_WALL_S)" "$(envval "$f" R_TEARDOWN_WALL_S)" \
      "$(envval "$f" R_SETUP_CPU_MS_PER_OP)" "$(envval "$f" R_TEARDOWN_CPU_MS_PER_OP)" \
      "$(envval "$f" R_SETUP_HOST_BUSY_PCT)" "$(envval "$f" R_SETUP_OUR_PCT)" "$(envval "$f" R_PRE_BUSY_PCT)" \
      "$(envval "$f" R_SETUP_FAILS)" "$(envval "$f" R_TEARDOWN_FAILS)"
  done
done
echo

echo "## Latency growth with N (cycle 1): mean ADD / DEL ms of the first vs last 10% of endpoints"
echo
echo "| backend | N | ADD first 10% | ADD last 10% | DEL first 10% | DEL last 10% |"
echo "|---|---:|---:|---:|---:|---:|"
awk -F, 'NR>1 && $3==1 && $2>=10 && $7==0 {
    k=$1","$2","$5; n=$2; c=int(n/10); i=$4
    if (i<=c) {fs[k]+=$6; fc[k]++}
    if (i>n-c) {ls[k]+=$6; lc[k]++}
    if (!(k in seen)) {seen[k]=1; order[++m]=k}
  }
  END { for (j=1;j<=m;j++) { k=order[j]; split(k,a,",")
          r[a[1]","a[2]] = r[a[1]","a[2]] sprintf("%s=%.1f/%.1f ", a[3], fs[k]/fc[k]/1000, ls[k]/lc[k]/1000)
          if (!(a[1]","a[2] in s2)) {s2[a[1]","a[2]]=1; o2[++m2]=a[1]","a[2]} }
        for (j=1;j<=m2;j++) { split(o2[j],a,","); x=r[o2[j]]
          match(x,/setup=[^ ]*/); su=substr(x,RSTART+6,RLENGTH-6); split(su,S,"/")
          match(x,/teardown=[^ ]*/); td=substr(x,RSTART+9,RLENGTH-9); split(td,T,"/")
          printf "| %s | %s | %s | %s | %s | %s |\n", a[1], a[2], S[1], S[2], T[1], T[2] } }' lat.csv
echo

echo "## Firewall rules, links and correctness after ADD of all N endpoints"
echo
echo "iptables = \`iptables-save | grep -c '^-A'\` (iptables-nft); nft = rules/chains in \`nft -j list ruleset\` (includes the"
echo "iptables-nft ones); elems = set/map elements. 'after DEL' = the same counts once every endpoint was torn down."
echo "Checks (ok/total): ping gateway, ping next container, ping ba-ext (only works through masquerade),"
echo "published port via host IP from ba-host (OUTPUT DNAT), from ba-ext (PREROUTING DNAT), via 127.0.0.1."
echo
echo "| backend | N | iptables rules | nft rules | nft chains | elems | inet berth rules / chains / elems | links in ba-host | after DEL: nft rules / chains / links | after DEL: inet berth rules / elems | leftover IPAM | gw | c2c | masq | port host | port ext | port lo |"
echo "|---|---:|---:|---:|---:|---:|---|---:|---|---|---:|---|---|---|---|---|---|"
for b in "${BACKENDS[@]}"; do
  for f in $(runfiles "$b"); do
    # shellcheck disable=SC1090
    ( source "$f"
      printf '| %s | %s | %s | %s | %s | %s | %s / %s / %s | %s | %s / %s / %s | %s / %s | %s | %s | %s | %s | %s | %s | %s |\n' \
        "$R_BACKEND" "$R_N" "$R_SETUP_IPT_RULES" "$R_SETUP_NFT_RULES" "$R_SETUP_NFT_CHAINS" "$R_SETUP_NFT_ELEMS" \
        "${R_SETUP_BERTH_RULES:--}" "${R_SETUP_BERTH_CHAINS:--}" "${R_SETUP_BERTH_ELEMS:--}" \
        "$R_SETUP_LINKS" "$R_DOWN_NFT_RULES" "$R_DOWN_NFT_CHAINS" "$R_DOWN_LINKS" \
        "${R_DOWN_BERTH_RULES:--}" "${R_DOWN_BERTH_ELEMS:--}" "$R_LEFT_IPAM" \
        "$R_V_GW" "$R_V_C2C" "$R_V_MASQ" "$R_V_PM_HOST" "$R_V_PM_EXT" "$R_V_PM_LO" )
  done
done
echo
echo "Backend descriptions:"
echo
for b in "${BACKENDS[@]}"; do
  f=$(runfiles "$b" | head -1)
  [[ -n $f ]] && echo "- **$b**: $(envval "$f" R_DESCRIBE) (ip_forward in ba-host after ADD: $(envval "$f" R_IP_FORWARD), bridge-nf-call-iptables: $(envval "$f" R_BR_NF_CALL_IPTABLES))"
done
echo

if [[ -s trace.csv ]] && (($(wc -l <trace.csv) > 1)); then
  echo "## Per-step breakdown (mean ms per call, all N)"
  echo
  echo "| backend | op | step | calls | mean ms |"
  echo "|---|---|---|---:|---:|"
  awk -F, 'NR>1 {k=$1","$3","$4; s[k]+=$5; c[k]++; if(!(k in o)){o[k]=1; ord[++m]=k}}
    END {for(j=1;j<=m;j++){k=ord[j]; split(k,a,","); printf "| %s | %s | %s | %d | %.1f |\n", a[1],a[2],a[3],c[k],s[k]/c[k]/1000}}' trace.csv
  echo
fi

echo "## netns create/delete (ip netns add/del, sequential), ms total"
echo
echo "| N | create total | delete total |"
echo "|---:|---:|---:|"
awk -F, 'NR>1 && !s[$1]++ {printf "| %s | %s | %s |\n", $1, $2, $3}' netns.csv 2>/dev/null
echo "(first occurrence of each N shown; all rows in netns.csv)"
echo

if ls iperf-*.env >/dev/null 2>&1; then
  echo "## Throughput (iperf3, single TCP stream, Gbit/s receiver side)"
  echo
  echo "| path | Gbit/s |"
  echo "|---|---:|"
  [[ -f iperf-raw.env ]] && echo "| bare veth pair between two namespaces (kernel baseline) | $(envval iperf-raw.env I_RAW_VETH_GBPS) |"
  for f in iperf-*.env; do
    [[ $f == iperf-raw.env ]] && continue
    b=$(envval "$f" I_BACKEND)
    echo "| $b: container -> container over the bridge | $(envval "$f" I_C2C_GBPS) |"
    echo "| $b: ba-ext -> host IP:published port (DNAT) -> container | $(envval "$f" I_DNAT_GBPS) |"
    echo "| $b: container -> ba-ext (masquerade) | $(envval "$f" I_SNAT_GBPS) |"
  done
  echo
fi

if ls hyperfine-*.json >/dev/null 2>&1; then
  echo "## hyperfine (N=1; each command is a fresh \`bash lib/adapter-cli.sh\` process, so bash start-up is included;"
  echo "compare with the 'bash adapter-cli noop' row)"
  echo
  echo "| command | runs | mean ms | stddev | median | min | max |"
  echo "|---|---:|---:|---:|---:|---:|---:|"
  for f in hyperfine-*.json; do
    jq -r '.results[] | "| \(.command) | \(.times|length) | \(.mean*1000*10|round/10) | \(.stddev*1000*10|round/10) | \(.median*1000*10|round/10) | \(.min*1000*10|round/10) | \(.max*1000*10|round/10) |"' "$f"
  done
  echo
fi

if [[ -s quiet.csv ]]; then
  echo "## Machine load before each phase (quiet gate)"
  echo
  echo "| phase | busy % before | waited s |"
  echo "|---|---:|---:|"
  awk -F, 'NR>1 {printf "| %s | %s | %s |\n", $1, $2, $3}' quiet.csv
  echo
fi

if [[ -s safety.diff ]]; then
  echo "## WARNING: root netns snapshot changed during the run"
  echo '```'; cat safety.diff; echo '```'
else
  echo "Root network namespace snapshot (links, addrs, routes, rules, nft ruleset, forwarding sysctls) identical before/after."
fi
