#!/usr/bin/env python3
"""Synthetic exporter for the analyzer benchmark: serves SERIES counters and gauges in the
Prometheus text format, values changing on every scrape, plus node_* inputs of the derived
series. Prints the bound port on stdout, then serves until killed."""
import argparse
import http.server
import sys


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--series", type=int, default=5000)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    families = max(1, args.series // 100)
    state = {"scrape": 0}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            state["scrape"] += 1
            n = state["scrape"]
            lines = []
            for f in range(families):
                kind = "counter" if f % 2 == 0 else "gauge"
                name = f"synthetic_metric_{f}" + ("_total" if kind == "counter" else "")
                lines.append(f"# HELP {name} Synthetic {kind}.")
                lines.append(f"# TYPE {name} {kind}")
                for i in range(100):
                    value = n * (i + 1) if kind == "counter" else (n * 7 + i) % 1000 / 10
                    lines.append(f'{name}{{instance="host{i % 10}",shard="{i}"}} {value}')
            lines.append(f'node_cpu_seconds_total{{cpu="0",mode="idle"}} {n * 12}')
            lines.append(f'node_cpu_seconds_total{{cpu="0",mode="user"}} {n * 3}')
            lines.append("node_memory_MemAvailable_bytes 4e9")
            lines.append("node_memory_MemTotal_bytes 8e9")
            body = ("\n".join(lines) + "\n").encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_):
            pass

    server = http.server.HTTPServer(("127.0.0.1", args.port), Handler)
    print(server.server_address[1], flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
