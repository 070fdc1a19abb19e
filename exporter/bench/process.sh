#!/usr/bin/env bash
# Side-by-side cost of the processes collector against Debian's process-exporter.
#
# Spawns EXTRA (default 500) sleeping processes, then starts
#   - prometheus-process-exporter with every process grouped by {{.Comm}} (its defaults:
#     -threads and -gather-smaps on), and again with -threads=false -gather-smaps=false;
#   - a release pulse-exporter with only the processes collector (io off, the default),
#     and again with processes.io: true;
# scrapes each SCRAPES (default 50) times and prints, per exporter: CPU ms per scrape
# (utime+stime delta from /proc/PID/stat over the scrapes), p50 scrape latency, peak RSS
# (VmHWM) and the number of series. Last, the read floor: CPU ms to read
# /proc/PID/{stat,status} for every pid once (examples/proc_read_floor.rs).
#
# Usage: exporter/bench/process.sh [SCRAPES] [EXTRA]   (from the repository root)
set -euo pipefail

SCRAPES=${1:-50}
EXTRA=${2:-500}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PE=/usr/bin/prometheus-process-exporter
[ -x "$PE" ] || { echo "needs $PE (apt-get install prometheus-process-exporter)" >&2; exit 1; }

cargo build --quiet --release --manifest-path "$ROOT/Cargo.toml" -p pulse-exporter \
    --bin pulse-exporter --example proc_read_floor
TARGET=$(cargo metadata --format-version 1 --no-deps --manifest-path "$ROOT/Cargo.toml" |
    sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
PULSE=$TARGET/release/pulse-exporter
FLOOR=$TARGET/release/examples/proc_read_floor

WORK=$(mktemp -d)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

for _ in $(seq "$EXTRA"); do
    sleep 3600 &
    PIDS+=($!)
done

cat >"$WORK/pe.yml" <<'YAML'
process_names:
  - name: "{{.Comm}}"
    cmdline: ['.*']
YAML
printf 'processes:\n  io: true\n' >"$WORK/pulse-io.yml"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cpu_ticks() { awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }

# run NAME URL PID: warm up, scrape SCRAPES times, print one table row.
run() {
    local name=$1 url=$2 pid=$3
    for _ in $(seq 50); do curl -sf -o /dev/null "$url" && break; sleep 0.1; done
    curl -sf -o "$WORK/out.txt" "$url"
    curl -sf -o /dev/null "$url"
    local before after hz series
    hz=$(getconf CLK_TCK)
    before=$(cpu_ticks "$pid")
    : >"$WORK/lat.txt"
    for _ in $(seq "$SCRAPES"); do
        curl -sf -o /dev/null -w '%{time_total}\n' "$url" >>"$WORK/lat.txt"
    done
    after=$(cpu_ticks "$pid")
    series=$(grep -vc '^#' "$WORK/out.txt")
    local groups
    groups=$(grep -c '^namedprocess_namegroup_num_procs{' "$WORK/out.txt" || true)
    printf '%-44s %10.2f %10.1f %9d %7d %7d\n' "$name" \
        "$(echo "($after - $before) * 1000 / $hz / $SCRAPES" | bc -l)" \
        "$(sort -n "$WORK/lat.txt" | awk '{a[NR]=$1} END {print a[int((NR+1)/2)] * 1000}')" \
        "$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")" "$series" "$groups"
}

start_pe() {
    local port
    port=$(free_port)
    "$PE" -config.path "$WORK/pe.yml" -web.listen-address "127.0.0.1:$port" "$@" >"$WORK/pe.log" 2>&1 &
    PIDS+=($!)
    pid=$!
    url="http://127.0.0.1:$port/metrics"
}
start_pulse() {
    local port
    port=$(free_port)
    "$PULSE" --web.listen-address "127.0.0.1:$port" --collector.disable-defaults \
        --collector.processes --web.disable-exporter-metrics "$@" >"$WORK/pulse.log" 2>&1 &
    PIDS+=($!)
    pid=$!
    url="http://127.0.0.1:$port/metrics"
}
stop_last() { kill "${PIDS[-1]}"; wait "${PIDS[-1]}" 2>/dev/null || true; unset 'PIDS[-1]'; }

echo "processes: $(ls /proc | grep -c '^[0-9]') (incl. $EXTRA extra sleep), scrapes per exporter: $SCRAPES"
printf '%-44s %10s %10s %9s %7s %7s\n' exporter cpu_ms/scr p50_ms rss_kB series groups
pid= url=
start_pe; run "process-exporter 0.7.10 (Debian defaults)" "$url" "$pid"; stop_last
start_pe -threads=false -gather-smaps=false
run "process-exporter -threads=false -gather-smaps=false" "$url" "$pid"; stop_last
start_pulse; run "pulse-exporter processes (io off, default)" "$url" "$pid"; stop_last
start_pulse --config.file "$WORK/pulse-io.yml"
run "pulse-exporter processes (io on)" "$url" "$pid"; stop_last
echo "read floor (stat+status, all pids): $("$FLOOR" "$((SCRAPES * 2))")"
