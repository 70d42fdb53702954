# shellcheck shell=bash
# Backend adapter: berth's CNI plugin, one `bin/berth-cni` process per ADD/DEL (added for berth's
# bench/attach; not part of the original anchors harness). Executed like the CNI plugins in
# backends/cni.sh: CNI_COMMAND/CNI_CONTAINERID/CNI_NETNS/CNI_IFNAME/CNI_PATH and the network
# config on stdin, from inside ba-host. berth-cni does the whole job in one exec (address
# allocation, veth, masquerade, published port: no loopback/portmap chain), so the result is
# not cached for DEL (berth keeps its own state in BERTH_ROOT).
# berth allocates addresses itself (default network "bridge", 172.17.0.0/16 here).

: "${BERTH_REPO:?BERTH_REPO unset (run through bench/attach/run.sh)}"
: "${BERTH_CNI_BIN:=$BERTH_REPO/bin/berth-cni}"
export BERTH_ROOT=$BA_STATE/berth/root BERTH_RUN=$BA_STATE/berth/run

be_describe() {
  printf 'berth-cni %s (%s, one Node %s process per call, nft via libnftables)' \
    "$(node "$BERTH_REPO/dist/berth.mjs" --version 2>/dev/null)" "$BERTH_CNI_BIN" "$(node --version)"
}

BERTH_CNI_HEAD='{"cniVersion":"1.0.0","name":"bridge","type":"berth","runtimeConfig":{"portMappings":[{"hostPort":'

be_init() { mkdir -p "$BERTH_ROOT" "$BERTH_RUN" "$BA_STATE/out"; }

berth_cni() { # <COMMAND> <i>
  local i=$2 conf rc
  printf -v conf '%s%s,"containerPort":%s,"protocol":"tcp"}]}}' "$BERTH_CNI_HEAD" $((BA_HOSTPORT_BASE + i)) "$BA_CPORT"
  CNI_COMMAND=$1 CNI_CONTAINERID="ba-c$i" CNI_NETNS="/run/netns/ba-c$i" CNI_IFNAME=eth0 \
    CNI_PATH=/usr/lib/cni "$BERTH_CNI_BIN" <<<"$conf" >"$BA_STATE/out/ba-c$i.$1.json"
  rc=$?
  ((rc != 0)) && printf 'berth-cni %s ba-c%s rc=%s: %s\n' "$1" "$i" "$rc" "$(<"$BA_STATE/out/ba-c$i.$1.json")" >&2
  return $rc
}

be_setup()    { berth_cni ADD "$1"; }
be_teardown() { berth_cni DEL "$1"; }
be_fini() { :; }   # like cni: the bridge berth0 and berth's nft table stay
