# shellcheck shell=bash
# Backend adapter: berth's native CNI plugin dist/berth-cni, one process per ADD/DEL, handing
# each call to a warm `berth daemon` running in ba-host (added for berth's bench/attach; not
# part of the original anchors harness). Same calls and config as backends/berth-cni.sh, whose
# functions this file reuses; only the plugin binary differs, and be_init/be_fini start and
# stop the daemon (by PID).

# shellcheck source=berth-cni.sh
source "$(dirname "${BASH_SOURCE[0]}")/berth-cni.sh"
BERTH_CNI_BIN=$BERTH_REPO/dist/berth-cni

be_describe() {
  printf 'berth-cni native client %s (%s) -> berth daemon (Node %s), one client process per call' \
    "$(node "$BERTH_REPO/dist/berth.mjs" --version 2>/dev/null)" "$BERTH_CNI_BIN" "$(node --version)"
}

be_init() {
  mkdir -p "$BERTH_ROOT" "$BERTH_RUN" "$BA_STATE/out"
  node "$BERTH_REPO/bin/berth" daemon >"$BA_STATE/berth-daemon.log" 2>&1 &
  echo $! >"$BA_STATE/berth-daemon.pid"
  local i
  for ((i = 0; i < 200; i++)); do
    grep -q 'listening on' "$BA_STATE/berth-daemon.log" && return 0
    sleep 0.05
  done
  echo "berth daemon did not start: $(cat "$BA_STATE/berth-daemon.log")" >&2
  return 1
}

be_fini() {
  local pid
  pid=$(cat "$BA_STATE/berth-daemon.pid" 2>/dev/null) || return 0
  # only our daemon: the PID must still be a node process
  [[ -r /proc/$pid/comm && $(</proc/"$pid"/comm) == node ]] && kill -TERM "$pid"
  while [[ -e /proc/$pid ]]; do sleep 0.05; done
}
