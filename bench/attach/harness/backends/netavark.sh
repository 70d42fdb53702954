# shellcheck shell=bash
# (Copied unchanged from /work/shared/anchors-bench/backends/netavark.sh.)
# Backend adapter: netavark (podman's network backend), Debian 12 build 1.4.0.
#   netavark [--config DIR] setup|teardown <netns path>   with JSON on stdin.
# The JSON is what podman passes (types.rs NetworkOptions):
#   { container_id, container_name, port_mappings[], networks{name:{static_ips,
#     interface_name}}, network_info{name:{name,id,driver,network_interface,
#     subnets[{subnet,gateway}],ipv6_enabled,internal,dns_enabled,ipam_options}}}
# netavark does NOT allocate IPs: podman's IPAM does and passes static_ips,
# so the harness allocates (ba_ip_for) -- IPAM cost is not in these numbers.
# Teardown needs the same JSON as setup. Teardown of the last container on a
# bridge deletes the bridge and the per-network firewall rules.
# Firewall driver: forced with NETAVARK_FW=iptables. 1.4.0 knows iptables and
# firewalld only ("nftables support presently not available"); `iptables` is
# iptables-nft on Debian 12, so rules land in nf_tables via the xt compat layer.

: "${NETAVARK_BIN:=/usr/lib/podman/netavark}"
: "${NETAVARK_FW:=iptables}"
export NETAVARK_FW
NV_BRIDGE_NAME=ba-nv0

be_describe() {
  printf '%s (NETAVARK_FW=%s, %s)' "$("$NETAVARK_BIN" --version)" "$NETAVARK_FW" \
    "$(iptables --version 2>/dev/null)"
}

# network id: 64 chars like podman's; netavark hashes it into chain names
printf -v NV_NETID 'ba%062d' 0

be_init() { mkdir -p "$BA_STATE/config" "$BA_STATE/out"; }

nv_json() { # <i> -> sets NV_JSON (printf -v: no fork inside the timed region)
  local i=$1 ip
  ba_ip_for_v ip "$i"
  printf -v NV_JSON '{"container_id":"ba-c%s","container_name":"ba-c%s","port_mappings":[{"host_ip":"","container_port":%s,"host_port":%s,"range":1,"protocol":"tcp"}],"networks":{"%s":{"static_ips":["%s"],"interface_name":"eth0"}},"network_info":{"%s":{"name":"%s","id":"%s","driver":"bridge","network_interface":"%s","subnets":[{"subnet":"%s","gateway":"%s"}],"ipv6_enabled":false,"internal":false,"dns_enabled":false,"ipam_options":{"driver":"host-local"}}}}' \
    "$i" "$i" "$BA_CPORT" $((BA_HOSTPORT_BASE + i)) "$BA_NETNAME" "$ip" \
    "$BA_NETNAME" "$BA_NETNAME" "$NV_NETID" "$NV_BRIDGE_NAME" "$BA_SUBNET" "$BA_GATEWAY"
}

be_setup() {
  nv_json "$1"
  "$NETAVARK_BIN" --config "$BA_STATE/config" setup "/run/netns/ba-c$1" \
    <<<"$NV_JSON" >"$BA_STATE/out/ba-c$1.json"
}

be_teardown() {
  nv_json "$1"
  "$NETAVARK_BIN" --config "$BA_STATE/config" teardown "/run/netns/ba-c$1" <<<"$NV_JSON"
}

be_fini() { :; }
