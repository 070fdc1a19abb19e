#!/usr/bin/env bash
# Benchmark: the tcpstat collector on a host with many TCP sockets, pulse-exporter vs Debian's
# node_exporter, one run, side by side. A helper process holds CONNECTIONS loopback connections
# open (two sockets each, plus the listener) while both exporters are scraped.
# Usage: exporter/bench/tcpstat.sh [connections] [scrapes]   (needs prometheus-node-exporter)
set -euo pipefail
cd "$(dirname "$0")/../.."

anchor=${NODE_EXPORTER:-/usr/bin/prometheus-node-exporter}
[[ -x $anchor ]] || { echo "tcpstat.sh: $anchor missing (apt-get install prometheus-node-exporter)" >&2; exit 1; }
connections=${1:-9000}
# Each connection is two descriptors in the holder.
ulimit -n "$(ulimit -Hn)"
(( 2 * connections + 100 <= $(ulimit -n) )) || { echo "tcpstat.sh: fd limit $(ulimit -n) is too low for $connections connections" >&2; exit 1; }
cargo build --release --quiet -p pulse-exporter

ready=$(mktemp)
python3 - "$connections" >"$ready" <<'PY' &
import socket, sys, time
listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen(4096)
held = []
for _ in range(int(sys.argv[1])):
    held.append(socket.create_connection(listener.getsockname()))
    held.append(listener.accept()[0])
print("ready", flush=True)
time.sleep(3600)
PY
holder=$!
trap 'kill $holder 2>/dev/null; rm -f "$ready"' EXIT
until grep -q ready "$ready"; do
    kill -0 $holder 2>/dev/null || { echo "tcpstat.sh: the connection holder died" >&2; exit 1; }
    sleep 0.2
done
echo "node_exporter: $("$anchor" --version 2>&1 | head -1)"
echo "pulse-exporter: $(target/release/pulse-exporter --version)"
echo "host: $(nproc) cores, $(uname -r), $(($(wc -l </proc/net/tcp) - 1)) lines in /proc/net/tcp"
python3 exporter/bench/compare.py \
    --pulse target/release/pulse-exporter \
    --anchor "$anchor" \
    --collectors tcpstat \
    --scrapes "${2:-100}" --warmup 5
