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

# One run, files in this order, one at a time: lab tests share the machine's kernel.
exec node --test --test-concurrency=1 --test-reporter=spec \
  "${unit[@]}" "${integration[@]}" "${e2e[@]}" "${last[@]}"
