# shellcheck shell=bash
# Backend adapter: berth's engine called IN-PROCESS (added for berth's bench/attach; not part of
# the original anchors harness). One long-lived Node process (dist/bench/attach/engine.js) runs
# inside ba-host for the whole phase; each be_setup/be_teardown sends it one request over a pipe
# and reads back the time the engine call took, measured inside the process (BE_US) and its CPU
# time (BE_CPU_US). lib/inner.sh records those instead of its own wall clock around the call
# (which it keeps in lat.csv's wall_us column: request + pipe round trip + bash).
# berth allocates addresses itself (default network "bridge", 172.17.0.0/16 here); the harness's
# {ip} is ignored. State: BERTH_ROOT/BERTH_RUN under $BA_STATE (fresh per phase).
# Not usable per call from lib/adapter-cli.sh (no CLI): run.sh skips it in the hyperfine phase.

: "${BERTH_REPO:?BERTH_REPO unset (run through bench/attach/run.sh)}"
export BERTH_ROOT=$BA_STATE/berth/root BERTH_RUN=$BA_STATE/berth/run
BE_REPORTS_TIME=1
BE_NO_CLI=1

be_describe() {
  printf 'berth %s engine in-process (attachSandbox/detachSandbox from dist/src/engine/sandboxes.js, one Node %s process, nft via libnftables)' \
    "$(node "$BERTH_REPO/dist/berth.mjs" --version 2>/dev/null)" "$(node --version)"
}

be_init() {
  mkdir -p "$BERTH_ROOT" "$BERTH_RUN"
  # BA_BERTH_ENGINE_ARGS: extra driver arguments, e.g. "--network-opt allow_spoofing=true"
  # shellcheck disable=SC2086
  coproc BERTH_ENG { exec node "$BERTH_REPO/dist/bench/attach/engine.js" --netns-prefix ba-c \
    --hostport-base "$BA_HOSTPORT_BASE" --container-port "$BA_CPORT" ${BA_BERTH_ENGINE_ARGS:-}; }
  BERTH_ENG_PID_SAVED=$BERTH_ENG_PID
  local line
  read -r -t 30 -u "${BERTH_ENG[0]}" line || { echo "berth-engine: no answer from the driver" >&2; return 1; }
  [[ $line == ready ]] || { echo "berth-engine: driver said '$line'" >&2; return 1; }
}

berth_eng_call() { # <op> <i>
  local rc us cpu msg
  printf '%s %s\n' "$1" "$2" >&"${BERTH_ENG[1]}" || return 1
  read -r -u "${BERTH_ENG[0]}" rc us cpu msg || return 1
  BE_US=$us BE_CPU_US=$cpu
  [[ -n $msg ]] && printf 'berth-engine %s %s: %s\n' "$1" "$2" "$msg" >&2
  return "$rc"
}

be_setup()    { berth_eng_call add "$1"; }
be_teardown() { berth_eng_call del "$1"; }

be_fini() {
  [[ -n ${BERTH_ENG_PID_SAVED:-} ]] || return 0
  printf 'quit\n' >&"${BERTH_ENG[1]}" 2>/dev/null
  wait "$BERTH_ENG_PID_SAVED" 2>/dev/null
  BERTH_ENG_PID_SAVED=
}
