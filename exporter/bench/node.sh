#!/usr/bin/env bash
# Benchmark: pulse-exporter vs Debian's node_exporter, same collector set, one run, side by side.
# Usage: exporter/bench/node.sh [scrapes]     (needs: apt-get install prometheus-node-exporter)
set -euo pipefail
cd "$(dirname "$0")/../.."

# The system collectors both exporters implement (names are node_exporter's).
collectors=arp,bcache,bonding,btrfs,conntrack,cpu,cpufreq,diskstats,dmi,edac,entropy,fibrechannel,filefd,filesystem,hwmon,infiniband,ipvs,loadavg,mdadm,meminfo,netclass,netdev,netstat,nfs,nfsd,nvme,os,powersupplyclass,pressure,rapl,schedstat,selinux,sockstat,softnet,stat,tapestats,thermal_zone,time,timex,udp_queues,uname,vmstat,xfs,zfs

anchor=${NODE_EXPORTER:-/usr/bin/prometheus-node-exporter}
[[ -x $anchor ]] || { echo "node.sh: $anchor missing (apt-get install prometheus-node-exporter)" >&2; exit 1; }
cargo build --release --quiet -p pulse-exporter
echo "node_exporter: $("$anchor" --version 2>&1 | head -1)"
echo "pulse-exporter: $(target/release/pulse-exporter --version)"
echo "host: $(nproc) cores, $(uname -r)"
exec python3 exporter/bench/compare.py \
    --pulse target/release/pulse-exporter \
    --anchor "$anchor" \
    --collectors "$collectors" \
    --scrapes "${1:-300}"
