#!/usr/bin/env python3
"""Side-by-side scrape cost of pulse-exporter and a Go anchor exporter, in one run.

Starts both exporters on free loopback ports with the same collector set, scrapes each one
`--scrapes` times (alternating, so both see the same machine state), and prints a Markdown table:
CPU time per scrape (utime+stime delta from /proc/PID/stat), scrape latency percentiles, peak RSS
(VmHWM) and the number of samples served. Nothing here is a pass/fail timer: it prints numbers.
"""

import argparse
import http.client
import os
import socket
import statistics
import subprocess
import sys
import time

TICKS = os.sysconf("SC_CLK_TCK")


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
    def __init__(self, name: str, argv: list[str], port: int):
        self.name, self.port = name, port
        self.proc = subprocess.Popen(
            argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        self.latencies: list[float] = []
        self.samples = 0
        deadline = time.time() + 30
        while True:
            try:
                self.scrape()
                break
            except OSError:
                if time.time() > deadline or self.proc.poll() is not None:
                    sys.exit(f"{name} did not start: {' '.join(argv)}")
                time.sleep(0.1)

    def scrape(self) -> float:
        start = time.perf_counter()
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        conn.request("GET", "/metrics", headers={"Accept": "text/plain"})
        response = conn.getresponse()
        body = response.read()
        conn.close()
        elapsed = time.perf_counter() - start
        if response.status != 200:
            raise RuntimeError(f"{self.name}: HTTP {response.status}")
        self.samples = sum(
            1 for line in body.splitlines() if line and not line.startswith(b"#")
        )
        return elapsed

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)


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
        for _ in range(args.warmup):
            for t in targets:
                t.scrape()
        cpu_before = {t.name: cpu_seconds(t.proc.pid) for t in targets}
        for _ in range(args.scrapes):
            for t in targets:
                t.latencies.append(t.scrape())
        rows = []
        for t in targets:
            cpu = (cpu_seconds(t.proc.pid) - cpu_before[t.name]) / args.scrapes
            lat = sorted(t.latencies)
            rows.append(
                (
                    t.name,
                    cpu * 1000,
                    statistics.median(lat) * 1000,
                    lat[int(len(lat) * 0.95) - 1] * 1000,
                    status_kib(t.proc.pid, "VmHWM") / 1024,
                    t.samples,
                )
            )
    finally:
        for t in targets:
            t.stop()

    print(f"\n{args.scrapes} scrapes each, collectors: {args.collectors}\n")
    print("| exporter | CPU ms/scrape | p50 latency ms | p95 latency ms | peak RSS MiB | samples |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, cpu, p50, p95, rss, samples in rows:
        print(f"| {name} | {cpu:.2f} | {p50:.2f} | {p95:.2f} | {rss:.1f} | {samples} |")
    pulse, anchor = rows[0], rows[1]
    print(
        f"\nratios pulse/{anchor[0]}: CPU {pulse[1] / anchor[1]:.3f}, "
        f"p50 latency {pulse[2] / anchor[2]:.3f}, peak RSS {pulse[4] / anchor[4]:.3f}"
    )


if __name__ == "__main__":
    main()
