#!/usr/bin/env bash
# The one test command (README, CI): installs the Debian peers the tests talk to when they are
# missing, then runs every test suite in the repo. Tests start the servers they need themselves.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages whose binaries the tests run for real (one per line to keep merges trivial).
packages=(
    prometheus                  # promtool check metrics/rules, Prometheus for end-to-end tests
    prometheus-node-exporter    # benchmark anchor
    prometheus-process-exporter # processes collector: side-by-side test and benchmark anchor
    prometheus-blackbox-exporter # probes: HTTP, TCP, ICMP and DNS probes compared side by side
    dnsmasq-base                # DNS server the DNS probe test queries
    redis-server
    memcached
    python3
    python3-yaml                # tests/ops: rule coverage and dashboard lint scripts
    prometheus-alertmanager     # amtool check-config on the compose Alertmanager config; alert push test
    python3-aiosmtpd            # SMTP server the analyzer's email channel test delivers to
    python3-grpcio              # gRPC server (health service) the gRPC probe test calls
    iproute2                    # ip: the ICMP fragmentation test sets its own namespace's loopback MTU
    tinyproxy-bin               # HTTP proxy the HTTP probes reach their targets through (proxy_url)
    docker-compose              # docker-compose config on docker-compose.yml (no engine needed)
    chromium                    # report --format pdf (headless print to PDF); web console browser test
    chromium-driver             # WebDriver for the web console tests that click through the page
    poppler-utils               # pdfinfo/pdftoppm: the PDF report has pages that are not blank
    bsdutils                    # script: a real pty for the `watch` live-view test
    btrfs-progs                 # mkfs.btrfs: the btrfs collector read on a real loop-mounted filesystem
    xfsprogs                    # mkfs.xfs: the same for the xfs collector
)
missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" ||
        missing+=("$package")
done
if ((${#missing[@]})); then
    echo "tests/run.sh: installing ${missing[*]}" >&2
    sudo_cmd=()
    [[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)
    export DEBIAN_FRONTEND=noninteractive
    "${sudo_cmd[@]}" apt-get update -qq
    "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    # Debian starts packaged daemons on install; tests run their own instances on private ports.
    for service in prometheus prometheus-node-exporter prometheus-process-exporter prometheus-blackbox-exporter prometheus-alertmanager redis-server memcached; do
        "${sudo_cmd[@]}" systemctl stop "$service" 2>/dev/null || true
    done
fi

step() { printf '\n==> %s\n' "$*" >&2; }

step "cargo test (workspace)"
cargo test --workspace --locked

step "forecast accuracy table (README: Forecasting)"
cargo run --release --locked -q -p pulse-timeseries --example forecast_compare

for suite in tests/*/check.sh; do
    [[ -e $suite ]] || continue
    step "$suite"
    "$suite"
done
step "all tests passed"
