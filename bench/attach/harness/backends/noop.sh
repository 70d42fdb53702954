# shellcheck shell=bash
# (Copied unchanged from /work/shared/anchors-bench/backends/noop.sh.)
# Backend adapter: does nothing. Measures the harness's own per-call overhead
# (and, via lib/adapter-cli.sh + hyperfine, the cost of one bash start).
# Verification is expected to fail; run.sh skips it (BE_SKIP_VERIFY=1).
# shellcheck disable=SC2034  # read by lib/inner.sh
BE_SKIP_VERIFY=1
be_describe() { printf 'noop (harness overhead calibration)'; }
be_init()     { :; }
be_setup()    { :; }
be_teardown() { :; }
be_fini()     { :; }
