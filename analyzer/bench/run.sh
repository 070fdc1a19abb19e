#!/usr/bin/env bash
# Ingest cost of pulse-analyzer: SERIES series from a synthetic exporter every INTERVAL,
# measured over DURATION seconds after one warm-up scrape.
#
#   analyzer/bench/run.sh                                   # 5,000 series every 15 s for 300 s
#   SERIES=5000 INTERVAL=1s DURATION=120 analyzer/bench/run.sh   # dense: DB bytes per sample
#
# Reports CPU (utime+stime from /proc/PID/stat) as % of one core, peak and current RSS,
# and database bytes per sample and per series-day (at the given interval and at 15 s).
set -euo pipefail
cd "$(dirname "$0")/../.."

SERIES=${SERIES:-5000}
INTERVAL=${INTERVAL:-15s}
DURATION=${DURATION:-300}

cargo build --release -p pulse-analyzer >&2
bin=target/release/pulse-analyzer

tmp=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT

python3 analyzer/bench/synthetic_exporter.py --series "$SERIES" >"$tmp/port" &
pids+=($!)
for _ in $(seq 50); do [[ -s $tmp/port ]] && break; sleep 0.1; done
port=$(cat "$tmp/port")

cat >"$tmp/analyzer.yml" <<YAML
targets:
  - url: http://127.0.0.1:$port/metrics
    interval: $INTERVAL
    timeout: 10s
YAML
# A timeout must not exceed the interval.
interval_s=$(python3 -c "
import re,sys
m=re.fullmatch(r'(\d+(?:\.\d+)?)(ms|s|m)', '$INTERVAL')
v=float(m[1]); print(v/1000 if m[2]=='ms' else v*60 if m[2]=='m' else v)")
if python3 -c "import sys; sys.exit(0 if $interval_s < 10 else 1)"; then
    sed -i "s/timeout: 10s/timeout: $INTERVAL/" "$tmp/analyzer.yml"
fi

"$bin" --config.file "$tmp/analyzer.yml" --storage.path "$tmp/h.db" \
    --web.listen-address 127.0.0.1:0 --log.level warn 2>"$tmp/analyzer.log" &
pid=$!
pids+=("$pid")

ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
hz=$(getconf CLK_TCK)

# Warm-up: the first scrape creates every series (a one-off cost).
for _ in $(seq 300); do
    [[ -s $tmp/h.db ]] && "$bin" status --storage.path "$tmp/h.db" 2>/dev/null | grep -q ": up at" && break
    sleep 0.1
done
start_ticks=$(ticks)
start_time=$(date +%s.%N)
sleep "$DURATION"
end_ticks=$(ticks)
end_time=$(date +%s.%N)

status=$("$bin" status --storage.path "$tmp/h.db")
samples=$(awk '/samples ingested/ {print $3}' <<<"$status")
series=$(awk '/^series:/ {print $2}' <<<"$status")
db_bytes=$(( $(stat -c %s "$tmp/h.db") + $(stat -c %s "$tmp/h.db-wal" 2>/dev/null || echo 0) ))
hwm_kb=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
rss_kb=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")

python3 - "$start_ticks" "$end_ticks" "$hz" "$start_time" "$end_time" "$samples" "$series" \
    "$db_bytes" "$hwm_kb" "$rss_kb" "$interval_s" "$SERIES" <<'PY'
import sys
t0, t1, hz, s0, s1, samples, series, db, hwm, rss, interval, wanted = map(float, sys.argv[1:])
elapsed = s1 - s0
cpu = (t1 - t0) / hz
scrapes = elapsed / interval
per_sample = db / samples
print(f"series scraped     {int(wanted)} (+derived/up) -> {int(series)} in the database")
print(f"interval           {interval:g} s, measured over {elapsed:.0f} s (~{scrapes:.0f} scrapes)")
print(f"CPU                {cpu:.2f} s = {100 * cpu / elapsed:.3f} % of one core")
print(f"CPU per scrape     {1000 * cpu / scrapes:.1f} ms")
print(f"  at 15 s interval {100 * cpu / scrapes / 15:.3f} % of one core")
print(f"RSS                peak {hwm / 1024:.1f} MiB, now {rss / 1024:.1f} MiB")
print(f"database           {db / 2**20:.1f} MiB for {int(samples)} samples = {per_sample:.1f} bytes/sample")
print(f"per series-day     {per_sample * 86400 / interval / 1024:.0f} KiB at {interval:g} s, "
      f"{per_sample * 86400 / 15 / 1024:.0f} KiB at 15 s (raw samples; rollups add 288 rows)")
PY
if grep -q ERROR "$tmp/analyzer.log"; then
    echo "analyzer logged errors:" >&2
    cat "$tmp/analyzer.log" >&2
    exit 1
fi
