#!/usr/bin/env bash
# Benchmark: pulse-exporter's redis collector and probers vs Debian's redis_exporter and
# blackbox_exporter, side by side in one run, plus the CPU cost of background probes.
# Usage: exporter/bench/remote.sh [requests]
#   (needs: apt-get install redis-server prometheus-redis-exporter prometheus-blackbox-exporter
#    openssl; dnsmasq-base for the DNS prober, python3-grpcio for the gRPC prober)
set -euo pipefail
cd "$(dirname "$0")/../.."

redis_exporter=${REDIS_EXPORTER:-/usr/bin/prometheus-redis-exporter}
blackbox=${BLACKBOX_EXPORTER:-/usr/bin/prometheus-blackbox-exporter}
for binary in "$redis_exporter" "$blackbox" "$(command -v redis-server)"; do
    [[ -x $binary ]] || { echo "remote.sh: $binary missing" >&2; exit 1; }
done
cargo build --release --quiet -p pulse-exporter
echo "redis_exporter: $("$redis_exporter" -version 2>&1 | head -1)"
echo "blackbox_exporter: $("$blackbox" --version 2>&1 | head -1)"
echo "pulse-exporter: $(target/release/pulse-exporter --version)"
echo "host: $(nproc) cores, $(uname -r)"
exec python3 exporter/bench/remote.py \
    --pulse target/release/pulse-exporter \
    --redis-exporter "$redis_exporter" \
    --blackbox-exporter "$blackbox" \
    --scrapes "${1:-300}"
