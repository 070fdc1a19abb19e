#!/usr/bin/env bash
# End-to-end test: real pulse-exporter, pulse-analyzer, Prometheus (with alert-rules/ and the
# compose scrape configuration), Redis, memcached and an HTTP target; asserts every dashboard
# panel has data and every rule evaluates cleanly. See tests/e2e/e2e.py for details.
# Bounded run time: about a minute after the binaries are built.
#   tests/e2e/check.sh                      build (debug) and test pulse-exporter
#   E2E_EXPORTER=anchors tests/e2e/check.sh test the queries against node_exporter + process-exporter
set -euo pipefail
cd "$(dirname "$0")/../.."

if [[ -z ${PULSE_EXPORTER:-} && ${E2E_EXPORTER:-pulse} == pulse ]]; then
    cargo build --locked --quiet -p pulse-exporter -p pulse-analyzer
fi
exec python3 tests/e2e/e2e.py
