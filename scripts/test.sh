#!/usr/bin/env bash
# The whole test suite: type-check + build, lint, then unit, integration and end-to-end tests
# in one node:test run. Root tests build their own lab namespaces; the last test checks the
# machine's own network namespace against a snapshot taken here, before anything ran.
set -euo pipefail
cd "$(dirname "$0")/.."

npm run --silent build
npm run --silent lint

if [ "$(id -u)" -ne 0 ]; then
  echo "the integration and end-to-end tests need root (they create lab network namespaces)" >&2
  exit 1
fi

# Leftovers from a crashed earlier run (our prefix only), then the root-namespace snapshot.
node dist/test/lab/sweep-cli.js
snapshot=$(mktemp /tmp/berth-root-snapshot.XXXXXX)
trap 'rm -f "$snapshot"' EXIT
node dist/test/lab/root-snapshot.js save "$snapshot"
export BERTH_TEST_ROOT_SNAPSHOT="$snapshot"

mapfile -t unit < <(find dist/test/unit -name '*.test.js' | sort)
mapfile -t integration < <(find dist/test/integration -name '*.test.js' ! -name 'zz-*' | sort)
mapfile -t e2e < <(find dist/test/e2e -name '*.test.js' 2>/dev/null | sort)
mapfile -t last < <(find dist/test/integration -name 'zz-*.test.js' | sort)

# Files in this order, one at a time: lab tests share the machine's kernel.
status=0
node --test --test-concurrency=1 --test-reporter=spec "${unit[@]}" "${integration[@]}" "${e2e[@]}" || status=$?

# The same end-to-end tests the second way (issue 5: "both paths give the same results"): berth
# commands through the thin client to a daemon on each lab host. The daemon's own tests, which
# start daemons themselves, ran above.
via_daemon=()
for f in bridge lifecycle modes networks-badinput networks-connect networks-dualstack networks-hostile networks-isolation; do
  via_daemon+=("dist/test/e2e/$f.test.js")
done
echo "# the end-to-end tests again, via the daemon: ${via_daemon[*]}"
BERTH_E2E_VIA=daemon node --test --test-concurrency=1 --test-reporter=spec "${via_daemon[@]}" || status=$?

node --test --test-concurrency=1 --test-reporter=spec "${last[@]}" || status=$?
exit "$status"
