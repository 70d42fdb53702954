#!/usr/bin/env bash
# (Copied unchanged but for this comment from /work/shared/anchors-bench/lib/adapter-cli.sh.)
# One adapter call as a standalone command (for hyperfine and for debugging):
#   nsenter --net=/run/netns/ba-host lib/adapter-cli.sh <backend> describe|init|setup|teardown|fini [i]
# State persists in $BA_STATE_ROOT/<backend> between calls (not wiped here).
set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=lib/common.sh
source "$HERE/lib/common.sh"
BACKEND=$1 OP=$2 I=${3:-1}
LABEL=$BACKEND
[[ $BACKEND == cmd ]] && LABEL=${BA_CMD_LABEL:-cmd}
export BA_BACKEND=$LABEL BA_STATE=$BA_STATE_ROOT/$LABEL
mkdir -p "$BA_STATE"
# shellcheck disable=SC1090
source "$HERE/backends/$BACKEND.sh"
case $OP in
  describe) be_describe; echo ;;
  init) be_init ;;
  setup) be_setup "$I" ;;
  teardown) be_teardown "$I" ;;
  fini) be_fini ;;
  *) echo "unknown op $OP" >&2; exit 2 ;;
esac
