#!/usr/bin/env python3
"""Renders the Grafana dashboards in this directory from the definitions below.

Dashboards are code here for the same reason node-mixin renders them from jsonnet: every
dashboard gets the same variables, datasource handling and selectors, and a reviewer reads a
panel as one line (title, unit, query) instead of 60 lines of JSON. The JSON files are committed
so Grafana provisioning needs nothing but the files; `tests/ops/check.sh` runs
`generate.py --check` so they never drift from this script.

Conventions every panel follows (tests/ops/lint_dashboards.py enforces them on the JSON):
- the datasource is the `${datasource}` variable, never a fixed uid or id;
- every query is narrowed by the dashboard's `$job`/`$instance` variables;
- every panel has a unit;
- a panel that can be legitimately empty says why in a description starting with
  `needs-event:` (something must happen first) or `needs-hardware:` (sensors that VMs lack);
  the end-to-end test skips those and asserts data for all others.

Usage: generate.py            rewrite the JSON files
       generate.py --check    exit 1 if a JSON file differs from what would be generated
"""
import json
import pathlib
import sys

HERE = pathlib.Path(__file__).resolve().parent
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
# Exporter series; pulse-exporter runs under job "pulse" in the compose demo but any job works.
SEL = 'job=~"$job", instance=~"$instance"'


def ts(title, unit, *queries, description="", stack=False, w=12, h=8, kind="timeseries"):
    """A panel; each query is (expr, legend). Placement is done by `layout`."""
    return {
        "kind": kind,
        "title": title,
        "unit": unit,
        "queries": queries,
        "description": description,
        "stack": stack,
        "w": w,
        "h": h,
    }


def stat(title, unit, *queries, description="", w=6, h=4):
    return ts(title, unit, *queries, description=description, w=w, h=h, kind="stat")


def table(title, unit, *queries, description="", w=24, h=8):
    return ts(title, unit, *queries, description=description, w=w, h=h, kind="table")


def row(title):
    return {"kind": "row", "title": title}


def query_variable(name, label, query, multi=True):
    return {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": DATASOURCE,
        "query": {"query": query, "refId": f"{name}-variable"},
        "definition": query,
        "refresh": 2,
        "sort": 1,
        "multi": multi,
        "includeAll": True,
        "allValue": ".*",
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "options": [],
        "hide": 0,
    }


def variables(component="exporter", extra=()):
    """The datasource, job and instance variables every dashboard has."""
    build = f'pulse_build_info{{component="{component}"}}'
    return [
        {
            "name": "datasource",
            "label": "Data source",
            "type": "datasource",
            "query": "prometheus",
            "current": {},
            "hide": 0,
            "options": [],
            "refresh": 1,
            "regex": "",
        },
        query_variable("job", "Job", f"label_values({build}, job)"),
        query_variable(
            "instance", "Instance", f'label_values(pulse_build_info{{component="{component}", job=~"$job"}}, instance)'
        ),
        *extra,
    ]


def render_panel(spec, panel_id, x, y):
    if spec["kind"] == "row":
        return {
            "id": panel_id,
            "type": "row",
            "title": spec["title"],
            "collapsed": False,
            "gridPos": {"x": 0, "y": y, "w": 24, "h": 1},
            "panels": [],
        }
    targets = []
    for index, (expr, legend) in enumerate(spec["queries"]):
        target = {
            "datasource": DATASOURCE,
            "expr": expr,
            "legendFormat": legend,
            "refId": chr(ord("A") + index),
        }
        if spec["kind"] == "table":
            target.update({"instant": True, "range": False, "format": "table"})
        targets.append(target)
    defaults = {"unit": spec["unit"]}
    options = {}
    if spec["kind"] == "timeseries":
        defaults["custom"] = {
            "drawStyle": "line",
            "lineWidth": 1,
            "fillOpacity": 20 if spec["stack"] else 0,
            "showPoints": "never",
            "spanNulls": False,
            "stacking": {"mode": "normal" if spec["stack"] else "none", "group": "A"},
        }
        options = {
            "legend": {"displayMode": "table", "placement": "bottom", "calcs": ["lastNotNull", "max"]},
            "tooltip": {"mode": "multi", "sort": "desc"},
        }
    elif spec["kind"] == "stat":
        options = {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "colorMode": "value",
            "graphMode": "area",
            "textMode": "auto",
        }
    elif spec["kind"] == "table":
        options = {"showHeader": True}
    return {
        "id": panel_id,
        "type": spec["kind"],
        "title": spec["title"],
        "description": spec["description"],
        "datasource": DATASOURCE,
        "gridPos": {"x": x, "y": y, "w": spec["w"], "h": spec["h"]},
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": options,
        "targets": targets,
    }


def layout(specs):
    """Left-to-right, top-to-bottom placement on Grafana's 24-column grid."""
    panels, x, y, row_height = [], 0, 0, 0
    for panel_id, spec in enumerate(specs, start=1):
        if spec["kind"] == "row":
            if x:
                y, x = y + row_height, 0
            panels.append(render_panel(spec, panel_id, 0, y))
            y, row_height = y + 1, 0
            continue
        if x + spec["w"] > 24:
            y, x, row_height = y + row_height, 0, 0
        panels.append(render_panel(spec, panel_id, x, y))
        x += spec["w"]
        row_height = max(row_height, spec["h"])
    return panels


def dashboard(uid, title, description, specs, templating, annotations=()):
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["pulse"],
        "editable": True,
        "graphTooltip": 1,
        "refresh": "30s",
        "schemaVersion": 39,
        "time": {"from": "now-3h", "to": "now"},
        "timezone": "",
        "annotations": {
            "list": [
                {
                    "builtIn": 1,
                    "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                    "enable": True,
                    "hide": True,
                    "iconColor": "rgba(0, 211, 255, 1)",
                    "name": "Annotations & Alerts",
                    "type": "dashboard",
                },
                *annotations,
            ]
        },
        "links": [{"type": "dashboards", "tags": ["pulse"], "asDropdown": True, "title": "Pulse"}],
        "templating": {"list": templating},
        "panels": layout(specs),
    }


def host():
    return dashboard(
        "pulse-host",
        "Pulse / Host overview",
        "CPU, memory, disks, network, pressure and temperatures of hosts running pulse-exporter.",
        [
            stat("Uptime", "s", (f"time() - node_boot_time_seconds{{{SEL}}}", "{{instance}}")),
            stat("CPUs", "short", (f"instance:node_num_cpu:sum{{{SEL}}}", "{{instance}}")),
            stat("Memory", "bytes", (f"node_memory_MemTotal_bytes{{{SEL}}}", "{{instance}}")),
            stat(
                "OOM kills in range",
                "short",
                (f"increase(node_vmstat_oom_kill{{{SEL}}}[$__range])", "{{instance}}"),
            ),
            row("CPU"),
            ts(
                "CPU utilisation",
                "percentunit",
                (f"instance:node_cpu_utilisation:rate5m{{{SEL}}}", "{{instance}}"),
                description="Share of CPU time not idle, iowait or steal, averaged over CPUs (recording rule).",
            ),
            ts(
                "CPU time by mode",
                "percentunit",
                (
                    f'avg by (instance, mode) (rate(node_cpu_seconds_total{{{SEL}, mode!="idle"}}[$__rate_interval]))',
                    "{{instance}} {{mode}}",
                ),
                stack=True,
            ),
            ts(
                "Load average",
                "short",
                (f"node_load1{{{SEL}}}", "{{instance}} 1m"),
                (f"node_load5{{{SEL}}}", "{{instance}} 5m"),
                (f"node_load15{{{SEL}}}", "{{instance}} 15m"),
            ),
            ts(
                "Load per CPU",
                "short",
                (f"instance:node_load1_per_cpu:ratio{{{SEL}}}", "{{instance}}"),
                description="1-minute load divided by the number of CPUs; above 1 means a run queue.",
            ),
            row("Memory"),
            ts(
                "Memory utilisation",
                "percentunit",
                (f"instance:node_memory_utilisation:ratio{{{SEL}}}", "{{instance}}"),
                description="1 - MemAvailable / MemTotal: memory in use, not counting reclaimable cache.",
            ),
            ts(
                "Memory",
                "bytes",
                (f"node_memory_MemTotal_bytes{{{SEL}}}", "{{instance}} total"),
                (f"node_memory_MemAvailable_bytes{{{SEL}}}", "{{instance}} available"),
                (f"node_memory_Cached_bytes{{{SEL}}}", "{{instance}} page cache"),
                (f"node_memory_SwapTotal_bytes{{{SEL}}} - node_memory_SwapFree_bytes{{{SEL}}}", "{{instance}} swap used"),
            ),
            row("Disks and filesystems"),
            ts(
                "Filesystem space used",
                "percentunit",
                (f"1 - instance_mountpoint:node_filesystem_avail:ratio{{{SEL}}}", "{{instance}} {{mountpoint}}"),
            ),
            ts(
                "Filesystem space available",
                "bytes",
                (f'node_filesystem_avail_bytes{{{SEL}, fstype!=""}}', "{{instance}} {{mountpoint}}"),
            ),
            ts(
                "Disk throughput",
                "Bps",
                (f"rate(node_disk_read_bytes_total{{{SEL}}}[$__rate_interval])", "{{instance}} {{device}} read"),
                (f"rate(node_disk_written_bytes_total{{{SEL}}}[$__rate_interval])", "{{instance}} {{device}} written"),
            ),
            ts(
                "Software RAID disks missing",
                "short",
                (
                    f'node_md_disks_required{{{SEL}}} - ignoring (state) node_md_disks{{{SEL}, state="active"}}',
                    "{{instance}} {{device}} missing",
                ),
                (
                    f'node_md_disks{{{SEL}, state="failed"}}',
                    "{{instance}} {{device}} failed",
                ),
                description="needs-hardware: only hosts with md arrays report them. Active disks an "
                "array lacks (degraded above 0) and members marked failed.",
            ),
            ts(
                "Disk busy time",
                "percentunit",
                (f"instance_device:node_disk_io_time_seconds:rate5m{{{SEL}}}", "{{instance}} {{device}}"),
                description="Share of time the device had I/O in flight (recording rule).",
            ),
            row("Network"),
            ts(
                "Network throughput (excluding lo)",
                "Bps",
                (f"instance:node_network_receive_bytes_excluding_lo:rate5m{{{SEL}}}", "{{instance}} received"),
                (f"instance:node_network_transmit_bytes_excluding_lo:rate5m{{{SEL}}}", "{{instance}} sent"),
            ),
            ts(
                "Network errors",
                "pps",
                (
                    f"rate(node_network_receive_errs_total{{{SEL}}}[$__rate_interval])",
                    "{{instance}} {{device}} receive",
                ),
                (
                    f"rate(node_network_transmit_errs_total{{{SEL}}}[$__rate_interval])",
                    "{{instance}} {{device}} transmit",
                ),
            ),
            ts(
                "Connection tracking table",
                "percentunit",
                (
                    f"node_nf_conntrack_entries{{{SEL}}} / node_nf_conntrack_entries_limit{{{SEL}}}",
                    "{{instance}} used",
                ),
                description="needs-event: only hosts whose firewall, NAT or container networking "
                "loaded nf_conntrack have the table. Entries over nf_conntrack_max; at 100 % new "
                "connections are dropped (alert at 75 %).",
            ),
            ts(
                "Packet processing drops and squeezes",
                "pps",
                (
                    f"sum by (instance) (rate(node_softnet_dropped_total{{{SEL}}}[$__rate_interval]))",
                    "{{instance}} dropped (backlog full)",
                ),
                (
                    f"sum by (instance) (rate(node_softnet_times_squeezed_total{{{SEL}}}[$__rate_interval]))",
                    "{{instance}} squeezed (budget ran out)",
                ),
                description="Receive-side packet processing per second over all CPUs: drops mean "
                "net.core.netdev_max_backlog is too small, squeezes net.core.netdev_budget.",
            ),
            row("Clock"),
            ts(
                "Clock offset",
                "s",
                (f"node_timex_offset_seconds{{{SEL}}}", "{{instance}} offset"),
                (f"node_timex_maxerror_seconds{{{SEL}}}", "{{instance}} maximum error"),
                description="Offset from the time source as the kernel's clock discipline sees it "
                "(adjtimex), and its error bound (16 s when nothing synchronises the clock).",
            ),
            ts(
                "Clock synchronised",
                "bool_yes_no",
                (f"node_timex_sync_status{{{SEL}}}", "{{instance}}"),
                description="1 while NTP, chrony or PTP keeps the kernel clock synchronised.",
            ),
            row("Storage, fabrics and power"),
            ts(
                "ZFS ARC size",
                "bytes",
                (f"node_zfs_arc_size{{{SEL}}}", "{{instance}} size"),
                (f"node_zfs_arc_c{{{SEL}}}", "{{instance}} target"),
                (f"node_zfs_arc_c_max{{{SEL}}}", "{{instance}} maximum"),
                description="needs-hardware: only hosts with the ZFS module report it. The ARC is "
                "ZFS's cache outside the page cache: memory that MemAvailable does not count but "
                "that ZFS gives back under pressure, down to its minimum.",
            ),
            ts(
                "ZFS ARC hit ratio and pools not online",
                "percentunit",
                (
                    f"rate(node_zfs_arc_hits{{{SEL}}}[$__rate_interval]) / (rate(node_zfs_arc_hits{{{SEL}}}[$__rate_interval]) + rate(node_zfs_arc_misses{{{SEL}}}[$__rate_interval]))",
                    "{{instance}} ARC hit ratio",
                ),
                (
                    f'node_zfs_zpool_state{{{SEL}, state!="online"}} == 1',
                    "{{instance}} pool {{zpool}} {{state}}",
                ),
                description="needs-hardware: only hosts with the ZFS module report it. A pool line "
                "at 1 is a pool in that state (alert HostZfsPoolDegraded).",
            ),
            ts(
                "Btrfs space used per block-group type",
                "percentunit",
                (
                    f"node_btrfs_used_bytes{{{SEL}}} / node_btrfs_size_bytes{{{SEL}}}",
                    "{{instance}} {{uuid}} {{block_group_type}} {{mode}}",
                ),
                description="needs-hardware: only hosts with a btrfs filesystem report it. Used "
                "over allocated per type and profile: btrfs fails writes when metadata fills even "
                "while df shows free space.",
            ),
            ts(
                "Device, fabric and HBA errors",
                "short",
                (
                    f"increase(node_btrfs_device_errors_total{{{SEL}}}[$__rate_interval])",
                    "{{instance}} btrfs {{uuid}} device {{devid}} {{type}}",
                ),
                (
                    f"increase(node_infiniband_symbol_error_total{{{SEL}}}[$__rate_interval])",
                    "{{instance}} InfiniBand {{device}} port {{port}} symbol errors",
                ),
                (
                    f"increase(node_infiniband_link_downed_total{{{SEL}}}[$__rate_interval])",
                    "{{instance}} InfiniBand {{device}} port {{port}} link down",
                ),
                (
                    f"increase(node_fibrechannel_invalid_crc_total{{{SEL}}}[$__rate_interval])",
                    "{{instance}} FC {{fc_host}} CRC errors",
                ),
                (
                    f"increase(node_fibrechannel_link_failure_total{{{SEL}}}[$__rate_interval])",
                    "{{instance}} FC {{fc_host}} link failures",
                ),
                description="needs-hardware: only hosts with btrfs, InfiniBand or Fibre Channel "
                "report them. Any error is a disk, cable or optic to look at.",
            ),
            ts(
                "NFS calls and retransmissions",
                "ops",
                (f"rate(node_nfs_rpcs_total{{{SEL}}}[$__rate_interval])", "{{instance}} client calls"),
                (
                    f"rate(node_nfs_rpc_retransmissions_total{{{SEL}}}[$__rate_interval])",
                    "{{instance}} client retransmissions",
                ),
                (f"rate(node_nfsd_server_rpcs_total{{{SEL}}}[$__rate_interval])", "{{instance}} server calls"),
                description="needs-hardware: only hosts with the NFS client or server module report "
                "it. Retransmissions above a few percent of calls are a slow or unreachable server "
                "(alert HostNfsClientRetransmitting).",
            ),
            ts(
                "Power draw (RAPL)",
                "watt",
                (
                    f"rate(node_rapl_package_joules_total{{{SEL}}}[$__rate_interval])",
                    "{{instance}} package {{index}}",
                ),
                (
                    f"rate(node_rapl_dram_joules_total{{{SEL}}}[$__rate_interval])",
                    "{{instance}} DRAM {{index}}",
                ),
                description="needs-hardware: only bare-metal hosts whose CPUs have RAPL energy "
                "counters report it (root-only since Linux 5.10).",
            ),
            row("Pressure and temperature"),
            ts(
                "Pressure stall",
                "percentunit",
                (f"rate(node_pressure_cpu_waiting_seconds_total{{{SEL}}}[$__rate_interval])", "{{instance}} cpu some"),
                (
                    f"rate(node_pressure_memory_waiting_seconds_total{{{SEL}}}[$__rate_interval])",
                    "{{instance}} memory some",
                ),
                (
                    f"rate(node_pressure_memory_stalled_seconds_total{{{SEL}}}[$__rate_interval])",
                    "{{instance}} memory full",
                ),
                (f"rate(node_pressure_io_waiting_seconds_total{{{SEL}}}[$__rate_interval])", "{{instance}} io some"),
                (f"rate(node_pressure_io_stalled_seconds_total{{{SEL}}}[$__rate_interval])", "{{instance}} io full"),
                description="Share of wall time tasks waited (some) or all tasks stalled (full) on a resource (PSI).",
            ),
            ts(
                "Temperatures",
                "celsius",
                (f"node_hwmon_temp_celsius{{{SEL}}}", "{{instance}} {{chip}} {{sensor}}"),
                description="needs-hardware: only hosts with hwmon sensors report temperatures; VMs usually have none.",
            ),
        ],
        variables(),
    )


def processes():
    return dashboard(
        "pulse-processes",
        "Pulse / Processes & cgroups",
        "Process groups (process-exporter names) and cgroups (cAdvisor names) from pulse-exporter.",
        [
            row("Process groups"),
            ts(
                "Top groups by CPU",
                "percentunit",
                (
                    f"topk(10, instance_groupname:namedprocess_namegroup_cpu_seconds:rate5m{{{SEL}}})",
                    "{{instance}} {{groupname}}",
                ),
                description="CPU seconds per second (1 = one full CPU), user + system.",
            ),
            ts(
                "Top groups by resident memory",
                "bytes",
                (
                    f'topk(10, namedprocess_namegroup_memory_bytes{{{SEL}, memtype="resident"}})',
                    "{{instance}} {{groupname}}",
                ),
            ),
            ts(
                "Processes per group",
                "short",
                (f"namedprocess_namegroup_num_procs{{{SEL}}}", "{{instance}} {{groupname}}"),
            ),
            ts(
                "Zombie processes",
                "short",
                (f'namedprocess_namegroup_states{{{SEL}, state="Zombie"}}', "{{instance}} {{groupname}}"),
            ),
            ts(
                "Open file descriptors",
                "short",
                (f"namedprocess_namegroup_open_filedesc{{{SEL}}}", "{{instance}} {{groupname}}"),
            ),
            ts(
                "Worst file descriptor usage",
                "percentunit",
                (f"namedprocess_namegroup_worst_fd_ratio{{{SEL}}}", "{{instance}} {{groupname}}"),
                description="Open fds / soft limit of the group's worst process.",
            ),
            row("cgroups"),
            ts(
                "Top cgroups by CPU",
                "percentunit",
                (
                    f"topk(10, rate(container_cpu_usage_seconds_total{{{SEL}}}[$__rate_interval]))",
                    "{{instance}} {{id}}",
                ),
                description="CPU seconds per second (1 = one full CPU).",
            ),
            ts(
                "Top cgroups by working set",
                "bytes",
                (f"topk(10, container_memory_working_set_bytes{{{SEL}}})", "{{instance}} {{id}}"),
            ),
            ts(
                "CFS throttling",
                "percentunit",
                (
                    f"topk(10, rate(container_cpu_cfs_throttled_seconds_total{{{SEL}}}[$__rate_interval]))",
                    "{{instance}} {{id}}",
                ),
                description="Seconds per second the cgroup was throttled by its CPU quota.",
                w=24,
            ),
        ],
        variables(),
    )


def probes():
    target = 'target=~"$target"'
    probe_job = 'job=~"$probe_job"'
    return dashboard(
        "pulse-probes",
        "Pulse / Probes & SLIs",
        "Availability and latency SLIs of the exporter's continuous checks, and blackbox-style /probe results.",
        [
            row("Continuous checks (pulse_probe_*)"),
            stat(
                "Availability over range",
                "percentunit",
                (
                    f'sum by (target) (increase(pulse_probe_checks_total{{{SEL}, {target}, result="success"}}[$__range]))'
                    f" / sum by (target) (increase(pulse_probe_checks_total{{{SEL}, {target}}}[$__range]))",
                    "{{target}}",
                ),
                w=8,
            ),
            stat(
                "p95 latency now",
                "s",
                (f"target:pulse_probe_duration_seconds:p95_rate5m{{{SEL}, {target}}}", "{{target}}"),
                w=8,
            ),
            stat(
                "Checks per second",
                "ops",
                (f"sum(rate(pulse_probe_checks_total{{{SEL}, {target}}}[$__rate_interval]))", "all targets"),
                w=8,
            ),
            ts(
                "Availability",
                "percentunit",
                (f"target:pulse_probe_availability:ratio_rate5m{{{SEL}, {target}}}", "{{target}}"),
                description="Share of successful checks over 5 minutes (recording rule).",
            ),
            ts(
                "p95 latency",
                "s",
                (f"target:pulse_probe_duration_seconds:p95_rate5m{{{SEL}, {target}}}", "{{target}}"),
                description="95th percentile check duration over 5 minutes (recording rule).",
            ),
            ts(
                "Checks by result",
                "ops",
                (
                    f"sum by (target, result) (rate(pulse_probe_checks_total{{{SEL}, {target}}}[$__rate_interval]))",
                    "{{target}} {{result}}",
                ),
                stack=True,
                w=24,
            ),
            ts(
                "ICMP round trip",
                "s",
                (f'probe_icmp_duration_seconds{{{SEL}, {target}, phase="rtt"}}', "{{target}}"),
                description="Echo request to reply of the icmp probes (one ping per check).",
            ),
            ts(
                "DNS answer time",
                "s",
                (f'probe_dns_duration_seconds{{{SEL}, {target}, phase="request"}}', "{{target}}"),
                description="Query sent to answer read of the dns probes; probe_success says whether the answer passed its checks.",
            ),
            ts(
                "gRPC health check",
                "none",
                (f"probe_grpc_status_code{{{SEL}, {target}}}", "{{target}} status code"),
                (
                    f'probe_grpc_healthcheck_response{{{SEL}, {target}, serving_status="SERVING"}}',
                    "{{target}} serving",
                ),
                description="needs-event: only grpc probes report it; the health call's gRPC status code (0 OK, 5 unknown service, 14 unreachable, 4 timed out) and whether it answered SERVING (1).",
                w=24,
            ),
            row("Blackbox-style probes (/probe)"),
            ts(
                "Probe success",
                "percentunit",
                (f"instance:probe_success:avg_over_time5m{{{probe_job}}}", "{{instance}}"),
            ),
            ts("Probe duration", "s", (f"probe_duration_seconds{{{probe_job}}}", "{{instance}}")),
            ts(
                "HTTP phase breakdown",
                "s",
                (f"probe_http_duration_seconds{{{probe_job}}}", "{{instance}} {{phase}}"),
                stack=True,
            ),
            ts("HTTP status code", "none", (f"probe_http_status_code{{{probe_job}}}", "{{instance}}")),
            table(
                "TLS certificate expiry",
                "s",
                (f"probe_ssl_earliest_cert_expiry{{{probe_job}}} - time()", "{{instance}}"),
                description="needs-event: only HTTPS targets have certificates; time left until the earliest expiry.",
            ),
        ],
        variables(
            extra=(
                query_variable("target", "Check target", f"label_values(pulse_probe_checks_total{{{SEL}}}, target)"),
                query_variable("probe_job", "Probe job", "label_values(probe_success, job)"),
            )
        ),
    )


def caches():
    redis = f'{SEL}, target=~"$redis"'
    memcached = f'{SEL}, target=~"$memcached"'
    return dashboard(
        "pulse-caches",
        "Pulse / Caches",
        "Redis (redis_exporter names) and memcached (memcached_exporter names) as seen by pulse-exporter.",
        [
            row("Redis"),
            stat("Redis up", "bool_yes_no", (f"redis_up{{{redis}}}", "{{target}}"), w=8),
            stat("Redis clients", "short", (f"redis_connected_clients{{{redis}}}", "{{target}}"), w=8),
            stat(
                "Redis hit ratio now",
                "percentunit",
                (f"target:redis_keyspace_hit_ratio:rate5m{{{redis}}}", "{{target}}"),
                w=8,
            ),
            ts(
                "Redis hit ratio",
                "percentunit",
                (f"target:redis_keyspace_hit_ratio:rate5m{{{redis}}}", "{{target}}"),
                description="Share of key lookups that found the key over 5 minutes (recording rule).",
            ),
            ts(
                "Redis lookups",
                "ops",
                (f"rate(redis_keyspace_hits_total{{{redis}}}[$__rate_interval])", "{{target}} hits"),
                (f"rate(redis_keyspace_misses_total{{{redis}}}[$__rate_interval])", "{{target}} misses"),
                stack=True,
            ),
            ts(
                "Redis memory vs limit",
                "bytes",
                (f"redis_memory_used_bytes{{{redis}}}", "{{target}} used"),
                (f"redis_memory_max_bytes{{{redis}}} > 0", "{{target}} maxmemory"),
                description="maxmemory is drawn only when one is set.",
            ),
            ts(
                "Redis evictions",
                "ops",
                (f"rate(redis_evicted_keys_total{{{redis}}}[$__rate_interval])", "{{target}}"),
            ),
            row("memcached"),
            stat("memcached up", "bool_yes_no", (f"memcached_up{{{memcached}}}", "{{target}}"), w=12),
            stat(
                "memcached hit ratio now",
                "percentunit",
                (f"target:memcached_get_hit_ratio:rate5m{{{memcached}}}", "{{target}}"),
                w=12,
            ),
            ts(
                "memcached memory vs limit",
                "bytes",
                (f"memcached_current_bytes{{{memcached}}}", "{{target}} used"),
                (f"memcached_limit_bytes{{{memcached}}}", "{{target}} limit"),
            ),
            ts(
                "memcached evictions",
                "ops",
                (f"rate(memcached_items_evicted_total{{{memcached}}}[$__rate_interval])", "{{target}}"),
            ),
        ],
        variables(
            extra=(
                query_variable("redis", "Redis", f"label_values(redis_up{{{SEL}}}, target)"),
                query_variable("memcached", "memcached", f"label_values(memcached_up{{{SEL}}}, target)"),
            )
        ),
    )


def analyzer():
    anomalies = {
        "name": "Anomalies",
        "datasource": DATASOURCE,
        "enable": True,
        "iconColor": "red",
        "expr": f"pulse_anomaly_active{{{SEL}}} == 1",
        "step": "60s",
        "titleFormat": "Anomaly: {{series}}",
        "textFormat": "{{instance}}",
        "useValueForTime": False,
    }
    return dashboard(
        "pulse-analyzer",
        "Pulse / Analyzer",
        "pulse-analyzer health and findings: anomalies, forecasts, recommendations and alerts.",
        [
            stat("Series stored", "short", (f"sum(pulse_analyzer_series{{{SEL}}})", "series")),
            stat("History size", "bytes", (f"sum(pulse_analyzer_db_size_bytes{{{SEL}}})", "database")),
            stat(
                "Active anomalies",
                "short",
                (f"sum(pulse_anomaly_active{{{SEL}}})", "active"),
            ),
            stat(
                "Analyzer alerts open",
                "short",
                (f"sum by (severity) (pulse_analyzer_alerts{{{SEL}}})", "{{severity}}"),
            ),
            row("Anomalies"),
            ts(
                "Anomaly scores",
                "short",
                (f"pulse_anomaly_score{{{SEL}}}", "{{instance}} {{series}}"),
                description="Detector score per series; red annotations mark active anomalies.",
                w=24,
            ),
            row("Forecasts"),
            ts(
                "Time to exhaustion",
                "s",
                (f"pulse_forecast_exhaustion_seconds{{{SEL}}}", "{{instance}} {{resource}} {{series}}"),
                description="needs-event: published only while a forecast reaches a resource's limit.",
            ),
            table(
                "Forecast exhaustion time",
                "dateTimeAsIso",
                (f"pulse_forecast_exhaustion_timestamp_seconds{{{SEL}}} * 1000", "{{resource}} {{series}}"),
                description="needs-event: published only while a forecast reaches a resource's limit.",
                w=12,
            ),
            row("Recommendations and notifications"),
            table(
                "Active recommendations",
                "none",
                (f"pulse_recommendation_info{{{SEL}}}", "{{rule}}"),
                description="needs-event: a recommendation exists only while its rule matches.",
            ),
            ts(
                "Notifications failed",
                "ops",
                (
                    f"rate(pulse_analyzer_notifications_failed_total{{{SEL}}}[$__rate_interval])",
                    "{{instance}} {{channel}}",
                ),
                description="needs-event: series exist once a notification channel is configured.",
                w=24,
            ),
            row("Analyzer health"),
            ts(
                "Scrape success",
                "bool_yes_no",
                (f"pulse_analyzer_scrape_success{{{SEL}}}", "{{instance}} {{target}}"),
            ),
            ts(
                "Scrape duration",
                "s",
                (f"pulse_analyzer_scrape_duration_seconds{{{SEL}}}", "{{instance}} {{target}}"),
            ),
            ts(
                "Samples ingested",
                "cps",
                (f"rate(pulse_analyzer_samples_ingested_total{{{SEL}}}[$__rate_interval])", "{{instance}}"),
            ),
            ts(
                "History size",
                "bytes",
                (f"pulse_analyzer_db_size_bytes{{{SEL}}}", "{{instance}}"),
            ),
        ],
        variables(component="analyzer"),
        annotations=(anomalies,),
    )


DASHBOARDS = {
    "host.json": host,
    "processes.json": processes,
    "probes.json": probes,
    "caches.json": caches,
    "analyzer.json": analyzer,
}


def render(build):
    return json.dumps(build(), indent=2, sort_keys=False) + "\n"


def main(argv):
    check = argv[1:] == ["--check"]
    if argv[1:] and not check:
        sys.exit(__doc__)
    stale = []
    for name, build in DASHBOARDS.items():
        path = HERE / name
        text = render(build)
        if check:
            if not path.exists() or path.read_text() != text:
                stale.append(name)
        else:
            path.write_text(text)
    if stale:
        print(f"dashboards out of date (run dashboards/generate.py): {', '.join(stale)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
