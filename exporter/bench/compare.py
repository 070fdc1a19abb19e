#!/usr/bin/env python3
"""Side-by-side scrape cost of pulse-exporter and a Go anchor exporter, in one run.

Starts both exporters on free loopback ports with the same collector set, scrapes each one
`--scrapes` times (alternating, so both see the same machine state), and prints a Markdown table:
CPU time per scrape (utime+stime delta from /proc/PID/stat), scrape latency percentiles, peak RSS
(VmHWM) and the number of samples served. Nothing here is a pass/fail timer: it prints numbers.

Each exporter is measured under two kinds of request (`REQUESTS`): the one Prometheus sends
(OpenMetrics preferred, gzip, one kept-alive connection), which is what an exporter pays in
production, and a plain one (text, no compression, a new connection each time), which leaves
compression out and shows the cost of collecting and encoding alone.
"""

import argparse
import gzip
import http.client
import os
import socket
import statistics
import subprocess
import sys
import time

TICKS = os.sysconf("SC_CLK_TCK")

# Request kind -> (headers, keep the connection open). "prometheus" is what Prometheus 2.x sends
# with its default scrape_protocols, over the connection its HTTP client keeps alive.
REQUESTS = {
    "prometheus": (
        {
            "Accept": "application/openmetrics-text;version=1.0.0,"
            "application/openmetrics-text;version=0.0.1;q=0.75,"
            "text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
            "Accept-Encoding": "gzip",
        },
        True,
    ),
    "plain": ({"Accept": "text/plain"}, False),
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # fields[0] is state (field 3); utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / TICKS


def status_kib(pid: int, key: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise KeyError(key)


class Target:
    """An exporter process and the request it is asked: `path`, of the kind `request`."""

    def __init__(self, name: str, argv: list[str], port: int, path: str = "/metrics"):
        self.name, self.port, self.path = name, port, path
        self.proc = subprocess.Popen(
            argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        self.latencies: list[float] = []
        self.samples = 0
        self.conn = None
        self.request = "plain"
        deadline = time.time() + 30
        while True:
            try:
                self.scrape()
                break
            except OSError:
                if time.time() > deadline or self.proc.poll() is not None:
                    sys.exit(f"{name} did not start: {' '.join(argv)}")
                time.sleep(0.1)

    def use(self, request: str):
        """Switches to another kind of request, on a new connection."""
        self.close()
        self.request = request
        self.latencies = []

    def scrape(self) -> float:
        headers, keep_alive = REQUESTS[self.request]
        start = time.perf_counter()
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            self.conn.request("GET", self.path, headers=headers)
            response = self.conn.getresponse()
            body = response.read()
        finally:
            if not keep_alive:
                self.close()
        elapsed = time.perf_counter() - start
        if response.getheader("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        if response.status != 200:
            raise RuntimeError(f"{self.name}: HTTP {response.status} {body[:200]!r}")
        self.samples = sum(
            1 for line in body.splitlines() if line and not line.startswith(b"#")
        )
        return elapsed

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def stop(self):
        self.close()
        self.proc.terminate()
        self.proc.wait(timeout=10)


def measure(targets: list[Target], scrapes: int, warmup: int = 20) -> list[tuple]:
    """Scrapes the targets in turn under each kind of request; one row per target and kind."""
    rows = []
    for request in REQUESTS:
        for t in targets:
            t.use(request)
        for _ in range(warmup):
            for t in targets:
                t.scrape()
        cpu_before = {t.name: cpu_seconds(t.proc.pid) for t in targets}
        for _ in range(scrapes):
            for t in targets:
                t.latencies.append(t.scrape())
        for t in targets:
            cpu = (cpu_seconds(t.proc.pid) - cpu_before[t.name]) / scrapes
            lat = sorted(t.latencies)
            rows.append(
                (
                    t.name,
                    request,
                    cpu * 1000,
                    statistics.median(lat) * 1000,
                    lat[int(len(lat) * 0.95) - 1] * 1000,
                    status_kib(t.proc.pid, "VmHWM") / 1024,
                    t.samples,
                )
            )
    return rows


def print_table(rows: list[tuple], unit: str = "scrape"):
    """Markdown table of `measure`'s rows, then pulse's ratios to the anchor per kind of request."""
    print(f"| exporter | request | CPU ms/{unit} | p50 latency ms | p95 latency ms | peak RSS MiB | samples |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for name, request, cpu, p50, p95, rss, samples in rows:
        print(f"| {name} | {request} | {cpu:.3f} | {p50:.2f} | {p95:.2f} | {rss:.1f} | {samples} |")
    print()
    for pulse, anchor in zip(rows[0::2], rows[1::2]):
        print(
            f"ratios pulse/{anchor[0]} ({pulse[1]}): CPU {pulse[2] / anchor[2]:.3f}, "
            f"p50 latency {pulse[3] / anchor[3]:.3f}, peak RSS {pulse[5] / anchor[5]:.3f}"
        )


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pulse", required=True, help="pulse-exporter binary")
    parser.add_argument("--anchor", required=True, help="Go exporter binary")
    parser.add_argument("--anchor-name", default="node_exporter")
    parser.add_argument("--collectors", required=True, help="comma-separated names")
    parser.add_argument("--anchor-collectors", help="anchor's names if they differ")
    parser.add_argument("--pulse-arg", action="append", default=[])
    parser.add_argument("--anchor-arg", action="append", default=[])
    parser.add_argument("--scrapes", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=20)
    args = parser.parse_args()

    def flags(names):
        return ["--collector.disable-defaults"] + [
            f"--collector.{n}" for n in names.split(",") if n
        ]

    pulse_port, anchor_port = free_port(), free_port()
    targets = [
        Target(
            "pulse-exporter",
            [args.pulse, f"--web.listen-address=127.0.0.1:{pulse_port}", "--log.level=error"]
            + flags(args.collectors)
            + args.pulse_arg,
            pulse_port,
        ),
        Target(
            args.anchor_name,
            [args.anchor, f"--web.listen-address=127.0.0.1:{anchor_port}", "--log.level=error"]
            + flags(args.anchor_collectors or args.collectors)
            + args.anchor_arg,
            anchor_port,
        ),
    ]
    try:
        rows = measure(targets, args.scrapes, args.warmup)
    finally:
        for t in targets:
            t.stop()

    print(f"\n{args.scrapes} scrapes each, collectors: {args.collectors}\n")
    print_table(rows)


if __name__ == "__main__":
    main()
