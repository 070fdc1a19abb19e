#!/usr/bin/env python3
"""End-to-end test of the shipped dashboards and rules against real processes.

Starts, each on a free local port: pulse-exporter (or, with E2E_EXPORTER=anchors, Debian's
node_exporter + process-exporter, to check the queries against the Go anchors' names), the
pulse-analyzer, redis-server, memcached, an HTTP server to probe, and a real Prometheus whose
configuration is tests/compose/prometheus.yml with only the addresses replaced and the rules
from alert-rules/. Once a few scrapes and rule evaluations have happened it asserts that
  1. every rule group loads and every alert and recording rule evaluates with health "ok";
  2. every dashboard variable resolves to at least one value;
  3. every panel query returns data, except panels marked `needs-event:`/`needs-hardware:`;
  4. the analyzer's own series are visible in Prometheus.
Failures name the dashboard, panel and query, plus the metric names that have no series at all
(usually: not exported yet). Parts the analyzer binary cannot serve yet (no /metrics) are
skipped and reported, never counted as passed.

Environment: PULSE_EXPORTER, PULSE_ANALYZER (binary paths, default target/debug/…),
E2E_EXPORTER=pulse|anchors, E2E_SETTLE_SECONDS (default 40).
Exit status: 0 all assertions passed, 1 some failed, 2 the setup itself failed.
"""
import json
import os
import pathlib
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
SCRAPE_INTERVAL = "2s"
RATE_WINDOW = "30s"  # stands in for $__rate_interval: several scrapes at SCRAPE_INTERVAL
VARIABLE = re.compile(r"\$\{?([a-zA-Z_][a-zA-Z0-9_]*)\}?")
METRIC_NAME = re.compile(r"(?<![\w:$])([a-zA-Z_][a-zA-Z0-9_:]*)\s*(?=\{|\[|\)|$|\s[-*/+<>=]|\s(?:and|or|unless)\b)")
# Metric-name prefixes that only one collector exports, for explaining a panel without data.
COLLECTOR_OF_PREFIX = {"container_": "cgroups"}
PROMQL_WORDS = {
    "sum", "avg", "min", "max", "count", "topk", "bottomk", "rate", "increase", "irate", "by",
    "without", "on", "ignoring", "time", "and", "or", "unless", "histogram_quantile", "label_values",
    "predict_linear", "round", "avg_over_time", "bool", "offset",
}


class SetupError(Exception):
    pass


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http_get(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.status, response.read().decode()


def wait_http(url, seconds, process=None):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            return False
        try:
            status, _ = http_get(url, timeout=2)
            if status == 200:
                return True
        except (urllib.error.URLError, ConnectionError, OSError):
            pass
        time.sleep(0.3)
    return False


def wait_tcp(port, seconds, process):
    """Whether `process` accepts connections on `port` within `seconds` (False once it exits)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            time.sleep(0.1)
    return False


class Stack:
    """The processes of one run; `close` stops every one of them."""

    def __init__(self, workdir):
        self.workdir = workdir
        self.processes = []
        self.notes = []  # skipped parts, reported at the end

    def start(self, name, args):
        log = open(self.workdir / f"{name}.log", "w")
        process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.processes.append((name, process))
        return process

    def start_server(self, name, args_for_port, attempts=3):
        """Starts a TCP server on a free port and returns the port once it accepts connections.

        A port free_port() found free can be taken before the server binds it (by another
        test's server, or as the source port of an outgoing connection); the server then
        exits, and it is started again on another port."""
        for _ in range(attempts):
            port = free_port()
            process = self.start(name, args_for_port(port))
            if wait_tcp(port, 15, process):
                return port
            if process.poll() is None:
                break
        raise SetupError(f"{name} did not accept connections:\n{self.log_tail(name)}")

    def log_tail(self, name, lines=15):
        path = self.workdir / f"{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    def close(self):
        for _, process in reversed(self.processes):
            if process.poll() is None:
                process.terminate()
        for _, process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


class Web(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's naming)
        body = b"pulse e2e web target\n"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def cache_traffic(redis_port, memcached_port, stop):
    """Hits and misses on both caches, so hit ratios and lookup rates have data."""
    while not stop.is_set():
        for port, commands in (
            (redis_port, b"SET k v\r\nGET k\r\nGET k\r\nGET missing\r\nQUIT\r\n"),
            (memcached_port, b"set k 0 0 1\r\nv\r\nget k\r\nget missing\r\nquit\r\n"),
        ):
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
                    sock.sendall(commands)
                    while sock.recv(4096):
                        pass
            except OSError:
                pass
        stop.wait(0.5)


def binary(env, default):
    path = pathlib.Path(os.environ.get(env, ROOT / default))
    if not path.is_file():
        raise SetupError(f"{path} not found (build it, or set {env})")
    return path


def start_pulse_exporter(stack, port, redis_port, memcached_port, web_port, dns_port):
    """pulse-exporter with the compose demo's configuration, pointed at the local servers."""
    exporter = binary("PULSE_EXPORTER", "target/debug/pulse-exporter")
    config = yaml.safe_load((ROOT / "tests/compose/exporter.yml").read_text())
    config["redis"]["targets"][0]["address"] = f"127.0.0.1:{redis_port}"
    config["memcached"]["targets"][0]["address"] = f"127.0.0.1:{memcached_port}"
    config["probes"]["modules"]["http_2xx"]["timeout"] = SCRAPE_INTERVAL
    config["probes"]["targets"][0].update(url=f"http://127.0.0.1:{web_port}/", interval=SCRAPE_INTERVAL)
    config["probes"]["modules"]["redis_ping"]["timeout"] = SCRAPE_INTERVAL
    config["probes"]["targets"][1].update(address=f"127.0.0.1:{redis_port}", interval=SCRAPE_INTERVAL)
    config["probes"]["modules"]["ping"]["timeout"] = SCRAPE_INTERVAL
    config["probes"]["targets"][2].update(host="127.0.0.1", interval=SCRAPE_INTERVAL)
    config["probes"]["modules"]["resolver"]["timeout"] = SCRAPE_INTERVAL
    config["probes"]["targets"][3].update(address=f"127.0.0.1:{dns_port}", interval=SCRAPE_INTERVAL)
    path = stack.workdir / "exporter.yml"
    path.write_text(yaml.safe_dump(config))
    process = stack.start("exporter", [str(exporter), f"--web.listen-address=127.0.0.1:{port}", f"--config.file={path}"])
    if not wait_http(f"http://127.0.0.1:{port}/metrics", 30, process):
        raise SetupError(f"pulse-exporter did not serve /metrics:\n{stack.log_tail('exporter')}")
    return [f"127.0.0.1:{port}"]


def start_anchor_exporters(stack):
    node, process = free_port(), free_port()
    proc_config = stack.workdir / "process-exporter.yml"
    proc_config.write_text('process_names:\n  - name: "{{.Comm}}"\n    cmdline: [".+"]\n')
    started = [
        stack.start("node-exporter", ["prometheus-node-exporter", f"--web.listen-address=127.0.0.1:{node}"]),
        stack.start(
            "process-exporter",
            ["prometheus-process-exporter", f"-web.listen-address=127.0.0.1:{process}", f"-config.path={proc_config}"],
        ),
    ]
    for port, proc in zip((node, process), started):
        if not wait_http(f"http://127.0.0.1:{port}/metrics", 30, proc):
            raise SetupError(f"anchor exporter on port {port} did not start")
    stack.notes.append("E2E_EXPORTER=anchors: node_exporter + process-exporter stand in for pulse-exporter")
    return [f"127.0.0.1:{node}", f"127.0.0.1:{process}"]


def start_analyzer(stack, port, exporter_target):
    """Returns the analyzer's address, or None (with a note) when it cannot serve /metrics."""
    try:
        analyzer = binary("PULSE_ANALYZER", "target/debug/pulse-analyzer")
    except SetupError as error:
        stack.notes.append(f"analyzer skipped: {error}")
        return None
    config = yaml.safe_load((ROOT / "tests/compose/analyzer.yml").read_text())
    config["targets"][0]["url"] = f"http://{exporter_target}/metrics"
    config["targets"][0]["interval"] = SCRAPE_INTERVAL
    config["storage"]["path"] = str(stack.workdir / "history.db")
    config["web"]["listen_address"] = f"127.0.0.1:{port}"
    path = stack.workdir / "analyzer.yml"
    path.write_text(yaml.safe_dump(config))
    process = stack.start("analyzer", [str(analyzer), f"--config.file={path}"])
    if not wait_http(f"http://127.0.0.1:{port}/metrics", 20, process):
        stack.notes.append(
            "analyzer skipped: it does not serve /metrics with tests/compose/analyzer.yml "
            f"(last log lines: {stack.log_tail('analyzer', 3)!r}); analyzer dashboard and series checks not run"
        )
        return None
    return f"127.0.0.1:{port}"


def prometheus_config(exporter_targets, analyzer_target, web_port, prom_port):
    """tests/compose/prometheus.yml with local addresses, faster intervals and the repo's rules."""
    config = yaml.safe_load((ROOT / "tests/compose/prometheus.yml").read_text())
    config["global"].update(scrape_interval=SCRAPE_INTERVAL, evaluation_interval=SCRAPE_INTERVAL, scrape_timeout=SCRAPE_INTERVAL)
    config["rule_files"] = [str(ROOT / "alert-rules" / "*.rules.yml")]
    config.pop("alerting", None)
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    jobs["pulse"]["static_configs"] = [{"targets": exporter_targets}]
    if analyzer_target:
        jobs["pulse-analyzer"]["static_configs"] = [{"targets": [analyzer_target]}]
    else:
        config["scrape_configs"].remove(jobs["pulse-analyzer"])
    jobs["probe"]["static_configs"] = [{"targets": [f"http://127.0.0.1:{web_port}/"]}]
    for relabel in jobs["probe"]["relabel_configs"]:
        if relabel.get("target_label") == "__address__":
            relabel["replacement"] = exporter_targets[0]
    jobs["prometheus"]["static_configs"] = [{"targets": [f"127.0.0.1:{prom_port}"]}]
    return config


class Prometheus:
    def __init__(self, port):
        self.base = f"http://127.0.0.1:{port}"

    def api(self, path, **params):
        url = f"{self.base}/api/v1/{path}?{urllib.parse.urlencode(params, doseq=True)}"
        try:
            _, body = http_get(url, timeout=20)
        except urllib.error.HTTPError as error:
            body = error.read().decode()
        return json.loads(body)

    def query(self, expr):
        return self.api("query", query=expr)


def resolve_variables(prom, variables):
    """Evaluates `label_values(selector, label)` variables in order, as Grafana does."""
    values, problems = {}, []
    for name, definition in variables.items():
        match = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", definition or "")
        if not match:
            problems.append(f"variable ${name}: unsupported definition {definition!r}")
            continue
        selector = substitute(match.group(1), values)
        result = prom.api(f"label/{match.group(2)}/values", **{"match[]": selector})
        found = result.get("data") or []
        # Regex-escaped, then backslash-escaped for the PromQL string, as Grafana does.
        values[name] = "|".join(re.escape(v).replace("\\", "\\\\") for v in found) if found else None
        if not found:
            problems.append(f"variable ${name}: {definition} has no values")
    return values, problems


def substitute(expr, values):
    builtins = {"__rate_interval": RATE_WINDOW, "__range": "5m", "__interval": SCRAPE_INTERVAL}

    def replace(match):
        name = match.group(1)
        if name in builtins:
            return builtins[name]
        value = values.get(name)
        return value if value else ".*"

    return VARIABLE.sub(replace, expr)


def missing_metrics(prom, expr):
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    names = {n for n in METRIC_NAME.findall(text) if n not in PROMQL_WORDS}
    missing = []
    for name in sorted(names):
        result = prom.query(f'count({{__name__="{name}"}})')
        if not result.get("data", {}).get("result"):
            missing.append(name)
    return missing


def run(workdir):
    stack = Stack(workdir)
    stop = threading.Event()
    web = ThreadingHTTPServer(("127.0.0.1", 0), Web)
    threading.Thread(target=web.serve_forever, daemon=True).start()
    try:
        redis_port = stack.start_server("redis", lambda port: [
            "redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--maxmemory", "64mb", "--maxmemory-policy", "allkeys-lru",
        ])
        # memcached refuses to run as root without naming a user to switch to (CI runs as root).
        as_user = ["-u", "nobody"] if os.geteuid() == 0 else []
        memcached_port = stack.start_server("memcached", lambda port: [
            "memcached", "-p", str(port), "-U", "0", "-l", "127.0.0.1", "-m", "16", *as_user,
        ])
        threading.Thread(target=cache_traffic, args=(redis_port, memcached_port, stop), daemon=True).start()

        if os.environ.get("E2E_EXPORTER", "pulse") == "anchors":
            exporter_targets = start_anchor_exporters(stack)
        else:
            # The demo's DNS probe asks Docker's resolver for `web`; here a dnsmasq that knows it.
            dns_port = stack.start_server("dnsmasq", lambda port: [
                shutil.which("dnsmasq") or "/usr/sbin/dnsmasq", "--no-daemon", f"--port={port}", "--listen-address=127.0.0.1", "--bind-interfaces",
                "--no-resolv", "--no-hosts", "--conf-file=/dev/null", "--host-record=web,127.0.0.1",
            ])
            exporter_targets = start_pulse_exporter(
                stack, free_port(), redis_port, memcached_port, web.server_port, dns_port
            )
        analyzer_target = start_analyzer(stack, free_port(), exporter_targets[0])

        prom_port = free_port()
        config_path = workdir / "prometheus.yml"
        config_path.write_text(yaml.safe_dump(prometheus_config(exporter_targets, analyzer_target, web.server_port, prom_port)))
        prometheus = stack.start(
            "prometheus",
            [
                "prometheus",
                f"--config.file={config_path}",
                f"--storage.tsdb.path={workdir / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{prom_port}",
            ],
        )
        if not wait_http(f"http://127.0.0.1:{prom_port}/-/ready", 60, prometheus):
            raise SetupError(f"prometheus did not become ready:\n{stack.log_tail('prometheus')}")
        prom = Prometheus(prom_port)
        settle = float(os.environ.get("E2E_SETTLE_SECONDS", "40"))
        print(f"e2e: waiting {settle:.0f}s for scrapes and rule evaluations", file=sys.stderr)
        time.sleep(settle)
        return assertions(prom, stack, analyzer_target)
    finally:
        stop.set()
        web.shutdown()
        stack.close()


def assertions(prom, stack, analyzer_target):
    failures, skipped, passed = [], [], 0
    absent = set()  # metric names without any series, summarised at the end

    # 1. Rules: every group loaded, every rule evaluated without error.
    groups = prom.api("rules").get("data", {}).get("groups", [])
    loaded = {pathlib.Path(group["file"]).name for group in groups}
    for path in sorted((ROOT / "alert-rules").glob("*.rules.yml")):
        if path.name not in loaded:
            failures.append(f"rules: {path.name} not loaded by Prometheus")
    for group in groups:
        for rule in group["rules"]:
            label = f"rules: {group['name']}/{rule['name']}"
            if rule.get("health") != "ok":
                failures.append(f"{label}: health {rule.get('health')!r} {rule.get('lastError', '')}")
            else:
                passed += 1

    # 2 and 3. Dashboards: variables resolve; every panel query returns data.
    listing = subprocess.run(
        [sys.executable, str(ROOT / "tests/ops/lint_dashboards.py"), "--queries", str(ROOT / "dashboards")],
        capture_output=True, text=True, check=True,
    )
    panels = [json.loads(line) for line in listing.stdout.splitlines()]
    # A collector that cannot run on this host (its kernel interface is missing)
    # says so with pulse_collector_success 0; its panels are skipped with that reason, never
    # passed.
    down = {
        series["metric"]["collector"]
        for series in prom.query("pulse_collector_success == 0").get("data", {}).get("result", [])
    }
    resolved = {}
    for panel in panels:
        dashboard = panel["dashboard"]
        if dashboard == "analyzer.json" and not analyzer_target:
            skipped.append(f"{dashboard}: {panel['panel']} (no analyzer)")
            continue
        if dashboard not in resolved:
            resolved[dashboard], problems = resolve_variables(prom, panel["variables"])
            failures.extend(f"{dashboard}: {problem}" for problem in problems)
        expr = substitute(panel["expr"], resolved[dashboard])
        label = f"{dashboard}: panel {panel['panel']!r}"
        result = prom.query(expr)
        if result.get("status") != "success":
            failures.append(f"{label}: query error {result.get('error')}: {expr}")
        elif result["data"]["result"]:
            passed += 1
        elif panel["needs"]:
            skipped.append(f"{label} ({panel['needs']}, no data)")
        else:
            missing = missing_metrics(prom, expr)
            owners = {COLLECTOR_OF_PREFIX.get(name.split("_", 1)[0] + "_") for name in missing}
            if missing and owners <= down:
                skipped.append(f"{label} (collector {', '.join(sorted(owners))} reports success 0 on this host)")
                continue
            absent.update(name for name in missing if ":" not in name)  # raw names, not rule outputs
            why = f" - no series for {', '.join(missing)}" if missing else ""
            failures.append(f"{label}: no data{why}: {expr}")

    # 4. The analyzer's series reach Prometheus.
    if analyzer_target:
        result = prom.query('count({job="pulse-analyzer", __name__=~"pulse_analyzer_.+"})')
        if result.get("data", {}).get("result"):
            passed += 1
        else:
            failures.append("analyzer: no pulse_analyzer_* series in Prometheus")

    for note in stack.notes:
        print(f"e2e: note: {note}")
    for item in skipped:
        print(f"e2e: skipped: {item}")
    for failure in failures:
        print(f"e2e: FAIL: {failure}")
    if absent:
        print(f"e2e: metrics with no series at all (not exported yet?): {' '.join(sorted(absent))}")
    print(f"e2e: {passed} passed, {len(failures)} failed, {len(skipped)} skipped")
    return 1 if failures else 0


def main():
    for tool in ("prometheus", "redis-server", "memcached"):
        if not shutil.which(tool):
            print(f"e2e: {tool} not on PATH", file=sys.stderr)
            return 2
    workdir = pathlib.Path(tempfile.mkdtemp(prefix="pulse-e2e-"))
    try:
        return run(workdir)
    except SetupError as error:
        print(f"e2e: setup failed: {error}", file=sys.stderr)
        return 2
    finally:
        if os.environ.get("E2E_KEEP"):
            print(f"e2e: kept {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
