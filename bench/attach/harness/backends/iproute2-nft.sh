# shellcheck shell=bash
# (Copied unchanged from /work/shared/anchors-bench/backends/iproute2-nft.sh.)
# Backend adapter: hand-written REFERENCE FLOOR, not a product. Plain iproute2
# + one nftables table, i.e. roughly the minimum process/netlink work a
# CLI-per-call implementation has to do. Also the worked example of how to
# add a backend (see README.md).
#   init     : bridge ba-br0 10.88.0.1/16, ip_forward=1, route_localnet on the
#              bridge, table "ip ba" with masquerade and ONE dnat rule that
#              looks host ports up in a map (so rules do not grow with N).
#   setup i  : 3 processes -- `ip -batch` (veth pair, peer straight into the
#              container netns as eth0, enslave, up), `ip -n ba-ci -batch`
#              (addr, links up, default route), `nft add element` (hostport).
#   teardown : `nft delete element` + `ip link del` (2 processes).
# IPs come from the harness (ba_ip_for), like netavark.

BR=ba-br0

be_describe() {
  printf 'iproute2 %s + %s (reference floor, map-based DNAT)' \
    "$(ip -V | sed -E 's/.*(iproute2-[^,]*).*/\1/')" "$(nft --version)"
}

be_init() {
  ip link add "$BR" type bridge
  ip addr add "$BA_GATEWAY/$BA_PREFIXLEN" dev "$BR"
  ip link set "$BR" up
  sysctl -qw net.ipv4.ip_forward=1                      # ba-host netns only
  sysctl -qw "net.ipv4.conf.$BR.route_localnet=1"        # 127.0.0.1:hostport
  nft -f - <<EOF
table ip ba {
  map hostports { type inet_service : ipv4_addr . inet_service; }
  chain prerouting {
    type nat hook prerouting priority dstnat; policy accept;
    fib daddr type local meta l4proto tcp dnat ip addr . port to tcp dport map @hostports
  }
  chain output {
    type nat hook output priority -100; policy accept;
    fib daddr type local meta l4proto tcp dnat ip addr . port to tcp dport map @hostports
  }
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    ip saddr $BA_SUBNET ip daddr != $BA_SUBNET ip daddr != 224.0.0.0/4 masquerade
    ct status dnat ip saddr 127.0.0.0/8 masquerade
  }
}
EOF
}

be_setup() {
  local i=$1 ip t0=$EPOCHREALTIME t1 t2
  ba_ip_for_v ip "$i"
  ip -batch - <<EOF || return 1
link add bav$i type veth peer name eth0 netns ba-c$i
link set bav$i master $BR up
EOF
  t1=$EPOCHREALTIME; ba_trace ip-veth+bridge "$t0" "$t1"
  ip -n "ba-c$i" -batch - <<EOF || return 1
addr add $ip/$BA_PREFIXLEN dev eth0
link set eth0 up
link set lo up
route add default via $BA_GATEWAY
EOF
  t2=$EPOCHREALTIME; ba_trace ip-in-container "$t1" "$t2"
  nft add element ip ba hostports "{ $((BA_HOSTPORT_BASE + i)) : $ip . $BA_CPORT }" || return 1
  ba_trace nft-add-element "$t2" "$EPOCHREALTIME"
}

be_teardown() {
  local i=$1 rc=0 t0=$EPOCHREALTIME t1
  nft delete element ip ba hostports "{ $((BA_HOSTPORT_BASE + i)) }" || rc=1
  t1=$EPOCHREALTIME; ba_trace nft-delete-element "$t0" "$t1"
  ip link del "bav$i" || rc=1
  ba_trace ip-link-del-veth "$t1" "$EPOCHREALTIME"
  return $rc
}

be_fini() { :; }   # everything dies with the ba-host netns
