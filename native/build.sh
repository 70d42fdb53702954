#!/usr/bin/env bash
# Compiles the native parts into dist/: berth-init (the container shim), berth and berth-cni (the
# thin client and CNI plugin that send their work to a running daemon; see each file's header). Fails, with the
# compiler's message, if they do not compile cleanly.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
mkdir -p "$root/dist"
cc="${CC:-cc}"
flags=(-std=c11 -O2 -Wall -Wextra -Werror)
"$cc" "${flags[@]}" -o "$root/dist/berth-init" "$root/native/berth-init.c" "$root/native/port-relay.c" "$root/native/relay-host.c"
# the client falls back to the in-process CLI on the node that built berth (PATH's otherwise)
node_bin="$(command -v node)"
client=(-DBERTH_NODE="\"$node_bin\"" -DBERTH_PACKAGE="\"$root\"")
"$cc" "${flags[@]}" "${client[@]}" -o "$root/dist/berth" "$root/native/berth-client.c"
# the same client as a CNI plugin (CNI_* variables and stdin instead of argv)
"$cc" "${flags[@]}" "${client[@]}" -DBERTH_CNI -o "$root/dist/berth-cni" "$root/native/berth-client.c"
# sets the socket buffers of wireguard-go's UDP sockets (see its header)
"$cc" "${flags[@]}" -o "$root/dist/berth-sockbuf" "$root/native/sockbuf.c"
