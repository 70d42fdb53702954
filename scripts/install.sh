#!/usr/bin/env bash
# Installs what berth and its tests need on a Debian 12 machine (as root), then builds berth.
# Idempotent: only missing Debian packages are installed; npm ci only when the lock changed.
#   bash scripts/install.sh [--bench]
set -euo pipefail
cd "$(dirname "$0")/.."

need_node_major=20
if ! command -v node >/dev/null || [ "$(node -p 'process.versions.node.split(".")[0]')" -lt "$need_node_major" ]; then
  echo "berth needs Node.js >= $need_node_major (found: $(node --version 2>/dev/null || echo none))." >&2
  echo "Debian 12's own nodejs is 18; install Node.js 20 first, then run this again." >&2
  exit 1
fi

# Debian packages: kernel tools used by berth (nft, nsenter) and by the tests (ip, ping), a C
# compiler for berth-init and better-sqlite3, docker.io for its docker CLI, which the API
# tests drive (its dockerd runs only inside labs: the Docker plugin tests, with busybox-static's
# image), etcd (the overlay's cluster store, started by the
# tests inside their labs), wireguard-go + wg (encrypted overlays on kernels without WireGuard),
# iperf3 and tcpdump for the benchmarks and the wire checks, openssl (test certificates) and curl
# (the API auth tests: HTTP and TLS clients run as nobody), chromium (the topology page's tests, headless).
packages=(iproute2 nftables util-linux iputils-ping procps python3 make gcc g++ libc6-dev docker.io
  etcd-server etcd-client wireguard-go wireguard-tools iperf3 tcpdump openssl curl python3-docker
  golang-go golang-github-appc-cni-dev podman runc containerd busybox-static containernetworking-plugins # CNI runtimes (test/e2e/cni-*)
  chromium) # the topology page's tests, headless
# --bench: also what bench/ compares berth with and measures with (the anchors netavark,
# aardvark-dns and the CNI reference plugins; dnsperf, hyperfine, jq, socat).
if [ "${1:-}" = "--bench" ]; then
  packages+=(netavark aardvark-dns containernetworking-plugins dnsperf hyperfine jq socat)
fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing Debian packages: ${missing[*]}"
  apt-get update -q
  # docker.io and etcd-server would start dockerd and etcd as host services on a systemd machine
  # (dockerd programs the host's own network): a policy-rc.d that refuses every start for the
  # length of this install (honoured by invoke-rc.d and deb-systemd-invoke). The tests start
  # their own etcd inside labs and never start dockerd.
  policy=/usr/sbin/policy-rc.d
  own_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy"
    chmod 0755 "$policy"
    own_policy=1
    trap 'rm -f "$policy"' EXIT
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
  if [ "$own_policy" = 1 ]; then
    rm -f "$policy"
    trap - EXIT
  fi
fi

# npm dependencies, reinstalled only when package-lock.json changed since the last install.
stamp=node_modules/.berth-lock-stamp
if [ ! -f "$stamp" ] || ! cmp -s package-lock.json "$stamp"; then
  npm ci --no-audit --no-fund
  cp package-lock.json "$stamp"
fi

npm run --silent build
