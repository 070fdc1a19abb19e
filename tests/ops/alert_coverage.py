#!/usr/bin/env python3
"""Keeps alert-rules/ honest where promtool cannot: every alert is shaped the way the
runbook and the dashboards expect, every alert (at every severity) has a promtool case where it
fires and one where it must not, and every recording rule is checked by a promql_expr_test.
Without this, a new rule without tests would pass `promtool test rules` silently.

Usage: alert_coverage.py ALERT_RULES_DIR   (exit 1 and one line per problem on failure)
"""
import pathlib
import re
import sys

import yaml

SEVERITIES = {"warning", "critical"}

# Alerts whose value is a 0/1 state flag, with nothing to quantify: their description names
# the state instead of showing {{ $value }}.
STATE_ALERTS = {"HostZfsPoolDegraded"}


def heading_anchors(markdown):
    """GitHub-style anchors of the level-2 headings of runbook.md."""
    anchors = set()
    for line in markdown.splitlines():
        if line.startswith("## "):
            title = line[3:].strip().lower()
            anchors.add(re.sub(r"[^a-z0-9 _-]", "", title).replace(" ", "-"))
    return anchors


def main(root):
    root = pathlib.Path(root)
    problems = []
    runbook = root / "runbook.md"
    anchors = heading_anchors(runbook.read_text()) if runbook.exists() else set()
    if not anchors:
        problems.append(f"{runbook}: missing or has no '## <AlertName>' sections")

    rule_files = sorted(root.glob("*.rules.yml"))
    expected = set()  # (alertname, severity)
    recorded = set()
    for path in rule_files:
        doc = yaml.safe_load(path.read_text())
        for group in doc.get("groups", []):
            for rule in group.get("rules", []):
                name = rule.get("alert")
                if not name:
                    recorded.add(rule["record"])
                    continue
                where = f"{path.name}: alert {name}"
                labels = rule.get("labels") or {}
                notes = rule.get("annotations") or {}
                severity = labels.get("severity")
                if severity not in SEVERITIES:
                    problems.append(f"{where}: severity label must be one of {sorted(SEVERITIES)}, got {severity!r}")
                if not rule.get("for"):
                    problems.append(f"{where}: no 'for'")
                if not notes.get("summary"):
                    problems.append(f"{where}: no summary annotation")
                description = notes.get("description", "")
                if name in STATE_ALERTS:
                    if "$labels.state" not in description:
                        problems.append(f"{where}: description does not name {{{{ $labels.state }}}}")
                elif "$value" not in description:
                    problems.append(f"{where}: description does not show {{{{ $value }}}}")
                anchor = name.lower()
                if notes.get("runbook_url") != f"alert-rules/runbook.md#{anchor}":
                    problems.append(f"{where}: runbook_url must be alert-rules/runbook.md#{anchor}")
                if anchors and anchor not in anchors:
                    problems.append(f"{where}: runbook.md has no '## {name}' section")
                expected.add((name, severity))

    fires = set()
    quiet = set()
    tested_exprs = []
    tested_files = set()
    for path in sorted((root / "tests").glob("*.test.yml")):
        doc = yaml.safe_load(path.read_text())
        for rule_file in doc.get("rule_files", []):
            tested_files.add((path.parent / rule_file).resolve())
        for test in doc.get("tests", []):
            tested_exprs.extend(case["expr"] for case in test.get("promql_expr_test") or [] if case.get("exp_samples"))
            for case in test.get("alert_rule_test") or []:
                name = case["alertname"]
                alerts = case.get("exp_alerts") or []
                if not alerts:
                    quiet.add(name)
                for alert in alerts:
                    fires.add((name, (alert.get("exp_labels") or {}).get("severity")))

    for path in rule_files:
        if path.resolve() not in tested_files:
            problems.append(f"{path.name}: no tests/*.test.yml lists it in rule_files")
    for name, severity in sorted(expected, key=str):
        if (name, severity) not in fires:
            problems.append(f"{name} (severity {severity}): no test case where it fires")
    for name in sorted({name for name, _ in expected}):
        if name not in quiet:
            problems.append(f"{name}: no test case where it must not fire (exp_alerts: [])")
    for record in sorted(recorded):
        if not any(re.search(rf"(?<![\w:]){re.escape(record)}(?![\w:])", expr) for expr in tested_exprs):
            problems.append(f"recording rule {record}: no promql_expr_test with exp_samples evaluates it")
    extra = {name for name, _ in fires | {(n, None) for n in quiet}} - {name for name, _ in expected}
    for name in sorted(extra):
        problems.append(f"tests name alert {name}, which no rule file defines")

    for problem in problems:
        print(f"alert coverage: {problem}", file=sys.stderr)
    alerts = len({name for name, _ in expected})
    print(
        f"alert coverage: {alerts} alerts, {len(expected)} alert/severity pairs, "
        f"{len(recorded)} recording rules, {len(problems)} problems"
    )
    return 1 if problems else 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1]))
