#!/usr/bin/env bash
# Checks the operational artefacts: alert and recording rules (promtool check + unit tests +
# coverage of every alert), dashboards (up to date with their generator, lint), and the compose
# demo's configuration (Prometheus, Alertmanager, docker-compose). Needs promtool
# (prometheus), amtool (prometheus-alertmanager), docker-compose and python3-yaml; all are in
# tests/run.sh's package list. Runs every check, then exits 1 naming each one that failed.
set -uo pipefail
cd "$(dirname "$0")/../.."

failed=()
check() {
    local name=$1
    shift
    printf -- '--- %s\n' "$name" >&2
    if ! "$@"; then
        printf 'FAILED: %s\n' "$name" >&2
        failed+=("$name")
    fi
}

check "promtool check rules" promtool check rules alert-rules/*.rules.yml
check "promtool test rules" promtool test rules alert-rules/tests/*.test.yml
check "alert coverage (fires + does-not-fire case per alert, runbook section)" \
    tests/ops/alert_coverage.py alert-rules
check "dashboards match dashboards/generate.py" dashboards/generate.py --check
check "dashboard lint" tests/ops/lint_dashboards.py dashboards alert-rules
check "grafana provisioning files are YAML" python3 -c '
import sys, yaml
for path in sys.argv[1:]:
    doc = yaml.safe_load(open(path))
    assert doc.get("apiVersion") == 1, f"{path}: apiVersion must be 1"
' dashboards/provisioning/*/*.yml
check "promtool check config (compose Prometheus)" promtool check config tests/compose/prometheus.yml
check "amtool check-config (compose Alertmanager)" amtool check-config tests/compose/alertmanager.yml
check "docker-compose config" docker-compose --file docker-compose.yml config --quiet

if ((${#failed[@]})); then
    printf '\ntests/ops: %d check(s) failed:\n' "${#failed[@]}" >&2
    printf '  - %s\n' "${failed[@]}" >&2
    exit 1
fi
printf '\ntests/ops: all checks passed\n' >&2
