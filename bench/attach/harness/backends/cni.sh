# shellcheck shell=bash
# (Copied unchanged from /work/shared/anchors-bench/backends/cni.sh.)
# Backend adapter: CNI reference plugins (containernetworking-plugins),
# invoked directly per the CNI 1.0.0 protocol, the way libcni/containerd do:
#   ADD:  network "ba-lo"  = [loopback]              (separate net, like containerd)
#         network "ba-net" = conflist [bridge, portmap]
#               bridge  : isGateway, ipMasq, hairpin, host-local IPAM
#               portmap : hostPort BASE+i -> 8080/tcp, prevResult = bridge result
#   DEL:  reverse chain order (portmap, bridge), then loopback; the cached ADD
#         result is passed as prevResult (libcni behaviour for cniVersion>=0.4.0).
# Firewall: bridge(ipMasq) and portmap shell out to `iptables`, which on
# Debian 12 is iptables-nft (rules land in nf_tables "ip nat"/"ip filter").
#
# Adapter contract (see README.md): be_describe, be_init, be_setup i,
# be_teardown i, be_fini. Runs inside the ba-host netns.

: "${CNI_BIN_DIR:=/usr/lib/cni}"
CNI_BRIDGE_NAME=ba-cni0

be_describe() {
  local v
  v=$(dpkg-query -W -f='${Version}' containernetworking-plugins 2>/dev/null)
  printf 'CNI plugins %s (%s: loopback + bridge/host-local + portmap), firewall via %s' \
    "${v:-?}" "$CNI_BIN_DIR" "$(iptables --version 2>/dev/null)"
}

# Sourcing must be side-effect free (lib/adapter-cli.sh sources this file for
# every single call); BA_STATE is set by the harness before sourcing.
# Compact one-line configs; prevResult is spliced in with string ops so no
# jq/python runs inside the timed region.
CNI_LO_CONF='{"cniVersion":"1.0.0","name":"ba-lo","type":"loopback"}'
CNI_BR_CONF='{"cniVersion":"1.0.0","name":"'"$BA_NETNAME"'","type":"bridge","bridge":"'"$CNI_BRIDGE_NAME"'","isGateway":true,"ipMasq":true,"hairpinMode":true,"ipam":{"type":"host-local","dataDir":"'"$BA_STATE/ipam"'","ranges":[[{"subnet":"'"$BA_SUBNET"'","gateway":"'"$BA_GATEWAY"'"}]],"routes":[{"dst":"0.0.0.0/0"}]}}'
CNI_PM_HEAD='{"cniVersion":"1.0.0","name":"'"$BA_NETNAME"'","type":"portmap","capabilities":{"portMappings":true},"snat":true,"runtimeConfig":{"portMappings":[{"hostPort":'

be_init() { mkdir -p "$BA_STATE/ipam" "$BA_STATE/results"; }

# cni_exec <COMMAND> <plugin> <ifname> <container-id> <netns-path> <config-json>
# stdout of the plugin goes to the global CNI_OUT
cni_exec() {
  local t0=$EPOCHREALTIME rc
  CNI_OUT=$(CNI_COMMAND=$1 CNI_CONTAINERID=$4 CNI_NETNS=$5 CNI_IFNAME=$3 \
    CNI_PATH=$CNI_BIN_DIR "$CNI_BIN_DIR/$2" <<<"$6")
  rc=$?
  ba_trace "cni-$2" "$t0" "$EPOCHREALTIME"
  if ((rc != 0)); then printf 'cni %s %s failed rc=%s: %s\n' "$1" "$2" "$rc" "$CNI_OUT" >&2; fi
  return $rc
}

be_setup() {
  local i=$1 cid="ba-c$1" ns="/run/netns/ba-c$1" res pm
  cni_exec ADD loopback lo "$cid" "$ns" "$CNI_LO_CONF" || return 1
  cni_exec ADD bridge eth0 "$cid" "$ns" "$CNI_BR_CONF" || return 1
  res=$CNI_OUT
  printf -v pm '%s%s,"containerPort":%s,"protocol":"tcp"}]},"prevResult":%s}' \
    "$CNI_PM_HEAD" $((BA_HOSTPORT_BASE + i)) "$BA_CPORT" "$res"
  cni_exec ADD portmap eth0 "$cid" "$ns" "$pm" || return 1
  # libcni caches the final result of the chain for DEL/CHECK
  printf '%s' "$CNI_OUT" >"$BA_STATE/results/$cid.json"
}

be_teardown() {
  local i=$1 cid="ba-c$1" ns="/run/netns/ba-c$1" prev="null" pm rc=0
  [[ -f $BA_STATE/results/$cid.json ]] && prev=$(<"$BA_STATE/results/$cid.json")
  printf -v pm '%s%s,"containerPort":%s,"protocol":"tcp"}]},"prevResult":%s}' \
    "$CNI_PM_HEAD" $((BA_HOSTPORT_BASE + i)) "$BA_CPORT" "$prev"
  cni_exec DEL portmap eth0 "$cid" "$ns" "$pm" || rc=1
  cni_exec DEL bridge eth0 "$cid" "$ns" "${CNI_BR_CONF%\}},\"prevResult\":$prev}" || rc=1
  cni_exec DEL loopback lo "$cid" "$ns" "$CNI_LO_CONF" || rc=1
  rm -f "$BA_STATE/results/$cid.json"
  return $rc
}

be_fini() { :; }   # the bridge and global CNI-HOSTPORT-* chains are left behind
