#!/usr/bin/env python3
"""Side-by-side cost of pulse-exporter's redis collector and probers (HTTP, HTTPS, TCP, ICMP, DNS,
gRPC)
against the Go anchors (redis_exporter, blackbox_exporter), in one run, plus the CPU cost of
background probes.

1. redis: both exporters scrape the same local redis-server; CPU ms per /metrics scrape.
2. probe: both answer `/probe?target=<local HTTP server>` (one live HTTP probe per request),
   then the same for an HTTPS server (self-signed, trusted as the CA file), a TCP connect, an
   ICMP echo of 127.0.0.1, a DNS query to a local dnsmasq and a gRPC health check of a local
   python3-grpcio server (each when installed).
3. background: pulse-exporter probing N targets every second for a fixed time, no scrapes;
   CPU ms per probe.
Requests 1 and 2 are each measured as Prometheus sends them and plain (see `compare.REQUESTS`).
Prints Markdown tables; nothing here is a pass/fail timer.
"""

import argparse
import http.client
import http.server
import os
import shutil
import ssl
import subprocess
import tempfile
import threading
import time

from compare import Target, cpu_seconds, free_port, measure, print_table, status_kib


def report(title, targets, scrapes):
    try:
        rows = measure(targets, scrapes)
    finally:
        for t in targets:
            t.stop()
    print(f"\n### {title} ({scrapes} requests each)\n")
    print_table(rows, unit="request")


def report_probes(args, title, pulse_config, pulse_path, blackbox_config, blackbox_path):
    """Both exporters answering /probe, each with its own config file and request path."""
    pp, ap = free_port(), free_port()
    report(title, [
        Target("pulse-exporter", [args.pulse, f"--web.listen-address=127.0.0.1:{pp}",
                                  "--log.level=error", f"--config.file={pulse_config}",
                                  "--collector.disable-defaults"], pp, pulse_path),
        Target("blackbox_exporter", [args.blackbox_exporter, f"--config.file={blackbox_config}",
                                     f"--web.listen-address=127.0.0.1:{ap}",
                                     "--log.level=error"], ap, blackbox_path),
    ], args.scrapes)


class Quiet(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"status: healthy\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def https_server(tmp):
    """The `Quiet` server over TLS, its certificate for localhost signed by a CA written to
    tmp/ca.pem (both exporters trust it as their CA file)."""
    ca, ca_key = os.path.join(tmp, "ca.pem"), os.path.join(tmp, "ca-key.pem")
    cert, key = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
    csr, ext = os.path.join(tmp, "cert.csr"), os.path.join(tmp, "cert.ext")
    with open(ext, "w") as f:
        f.write("subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\n")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    for command in (
        ["req", "-x509", *ec, "-keyout", ca_key, "-out", ca, "-days", "30",
         "-subj", "/CN=Pulse bench CA"],
        ["req", *ec, "-keyout", key, "-out", csr, "-subj", "/CN=localhost"],
        ["x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
         "-out", cert, "-days", "30", "-extfile", ext],
    ):
        subprocess.run(["openssl", *command], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pulse", required=True)
    parser.add_argument("--redis-exporter", required=True)
    parser.add_argument("--blackbox-exporter", required=True)
    parser.add_argument("--scrapes", type=int, default=300)
    parser.add_argument("--background-targets", type=int, default=20)
    parser.add_argument("--background-seconds", type=int, default=30)
    args = parser.parse_args()
    tmp = tempfile.mkdtemp()

    # 1. redis
    redis_port = free_port()
    redis = subprocess.Popen(["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1",
                              "--save", "", "--appendonly", "no"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.5)
        subprocess.run(["redis-cli", "-p", str(redis_port), "DEBUG", "POPULATE", "10000"],
                       check=True, stdout=subprocess.DEVNULL)
        cfg = os.path.join(tmp, "redis.yml")
        with open(cfg, "w") as f:
            f.write(f"redis:\n  targets:\n    - address: 127.0.0.1:{redis_port}\n")
        pp, ap = free_port(), free_port()
        report("redis: /metrics against one redis-server", [
            Target("pulse-exporter", [args.pulse, f"--web.listen-address=127.0.0.1:{pp}",
                                      "--log.level=error", f"--config.file={cfg}",
                                      "--collector.disable-defaults", "--collector.redis"], pp),
            Target("redis_exporter", [args.redis_exporter, f"-web.listen-address=127.0.0.1:{ap}",
                                      f"-redis.addr=redis://127.0.0.1:{redis_port}"], ap),
        ], args.scrapes)
    finally:
        redis.terminate()
        redis.wait()

    # 2. /probe, one live probe per request
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/health"
    cfg = os.path.join(tmp, "probe.yml")
    with open(cfg, "w") as f:
        f.write("probes:\n  modules:\n    http_2xx: {timeout: 5s}\n    quick: {timeout: 1s}\n"
                "  targets:\n"
                f"    - {{name: web, url: '{url}', module: http_2xx}}\n")
        for i in range(args.background_targets):
            f.write(f"    - {{name: bg{i}, url: '{url}?n={i}', module: quick, interval: 1s}}\n")
    bb = os.path.join(tmp, "blackbox.yml")
    with open(bb, "w") as f:
        f.write("modules:\n  http_2xx:\n    prober: http\n    timeout: 5s\n")
    report_probes(args, "probe: /probe?target=<local HTTP server>",
                  cfg, "/probe?target=web&module=http_2xx", bb, f"/probe?target={url}&module=http_2xx")

    # 2b. /probe with the other probers: HTTPS (a TLS handshake and the certificate chain
    # read on every probe), TCP connect to the HTTP server's port, ICMP echo of 127.0.0.1, and
    # a DNS query to a local dnsmasq (when Debian's dnsmasq-base is there). Each is (name,
    # Pulse's module, blackbox's module, target field, target).
    port = server.server_address[1]
    https = https_server(tmp)
    ca = os.path.join(tmp, "ca.pem")
    others = [
        ("https", f"{{timeout: 5s, tls: {{ca_file: '{ca}'}}}}",
         f"{{prober: http, timeout: 5s, http: {{tls_config: {{ca_file: '{ca}'}}}}}}",
         "url", f"https://localhost:{https.server_address[1]}/health"),
        ("tcp", "{prober: tcp, timeout: 5s}", None, "address", f"127.0.0.1:{port}"),
        ("icmp", "{prober: icmp, timeout: 5s}", None, "host", "127.0.0.1"),
    ]
    dnsmasq = None
    if shutil.which("dnsmasq") or os.path.exists("/usr/sbin/dnsmasq"):
        dns_port = free_port()
        dnsmasq = subprocess.Popen(
            [shutil.which("dnsmasq") or "/usr/sbin/dnsmasq", "--no-daemon", f"--port={dns_port}",
             "--listen-address=127.0.0.1", "--bind-interfaces", "--no-resolv", "--no-hosts",
             "--conf-file=/dev/null", "--host-record=ok.pulse.test,192.0.2.10"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        others.append(("dns", "{prober: dns, timeout: 5s, dns: {query_name: ok.pulse.test, query_type: A}}",
                       None, "address", f"127.0.0.1:{dns_port}"))
    # The gRPC probe test's health server; blackbox applies its address-family defaults only
    # when `grpc:` is given.
    grpc_server = None
    if subprocess.run(["/usr/bin/python3", "-c", "import grpc"], capture_output=True).returncode == 0:
        grpc_port = free_port()
        grpc_server = subprocess.Popen(
            ["/usr/bin/python3", os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures",
                                             "grpc", "health_server.py"), str(grpc_port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1.0)
        others.append(("grpc", "{prober: grpc, timeout: 5s}",
                       "{prober: grpc, timeout: 5s, grpc: {preferred_ip_protocol: ip4}}",
                       "address", f"127.0.0.1:{grpc_port}"))
    try:
        for prober, module, blackbox_module, field, target in others:
            prober_cfg = os.path.join(tmp, f"{prober}.yml")
            with open(prober_cfg, "w") as f:
                f.write(f"probes:\n  modules:\n    m: {module}\n  targets:\n"
                        f"    - {{name: t, {field}: '{target}', module: m}}\n")
            prober_bb = os.path.join(tmp, f"blackbox-{prober}.yml")
            with open(prober_bb, "w") as f:
                f.write(f"modules:\n  m: {blackbox_module or module}\n")
            report_probes(args, f"probe: /probe with the {prober} prober ({target})",
                          prober_cfg, "/probe?target=t&module=m",
                          prober_bb, f"/probe?target={target}&module=m")
    finally:
        https.shutdown()
        for process in (dnsmasq, grpc_server):
            if process:
                process.terminate()
                process.wait()

    # 3. background probes: CPU per probe with no scrapes at all
    pp = free_port()
    bg = Target("pulse-exporter", [args.pulse, f"--web.listen-address=127.0.0.1:{pp}",
                                   "--log.level=error", f"--config.file={cfg}",
                                   "--collector.disable-defaults", "--collector.probe"], pp)
    try:
        time.sleep(2)
        before = cpu_seconds(bg.proc.pid)
        time.sleep(args.background_seconds)
        cpu = cpu_seconds(bg.proc.pid) - before
        rss = status_kib(bg.proc.pid, "VmHWM") / 1024
        conn = http.client.HTTPConnection("127.0.0.1", pp, timeout=30)
        conn.request("GET", "/metrics")
        text = conn.getresponse().read().decode()
        checks = sum(float(l.rsplit(" ", 1)[1]) for l in text.splitlines()
                     if l.startswith("pulse_probe_checks_total{"))
    finally:
        bg.stop()
        server.shutdown()
    probes = args.background_targets * args.background_seconds
    print(f"\n### background: {args.background_targets} targets every 1s for "
          f"{args.background_seconds}s, no scrapes\n")
    print(f"CPU {cpu * 1000:.0f} ms for ~{probes} probes = {cpu * 1000 / probes:.3f} ms/probe; "
          f"{checks:.0f} probes run since start; peak RSS {rss:.1f} MiB")


if __name__ == "__main__":
    main()
