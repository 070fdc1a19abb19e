#!/usr/bin/env python3
"""Lints the Grafana dashboards (dashboards/*.json) for the rules the issue sets:
a datasource variable plus job/instance variables on every dashboard, no hard-coded datasource
uid or id anywhere, a unit on every panel, every query narrowed by a dashboard variable,
recording rules that exist in alert-rules/, and well-formed `needs-event:`/`needs-hardware:`
markers (the end-to-end test relies on them).

Usage: lint_dashboards.py DASHBOARD_DIR RULES_DIR          lint; exit 1 listing every problem
       lint_dashboards.py --queries DASHBOARD_DIR          print one JSON object per panel query
                                                           (for tests/e2e/check.sh)
"""
import json
import pathlib
import re
import sys

import yaml

DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
# Grafana unit ids we use; an unknown id renders as a plain number, so a typo is a bug.
UNITS = {
    "Bps", "bool_yes_no", "bytes", "celsius", "cps", "dateTimeAsIso", "none", "ops", "percent",
    "percentunit", "pps", "reqps", "s", "short", "watt",
}
MARKERS = ("needs-event:", "needs-hardware:")
BUILTIN_VARIABLES = {"__rate_interval", "__range", "__interval", "__range_s"}
STRING_LITERAL = re.compile(r'"(?:[^"\\]|\\.)*"')
RECORDED_NAME = re.compile(r"\b[a-zA-Z_][a-zA-Z0-9_]*:[a-zA-Z0-9_:]+")
VARIABLE = re.compile(r"\$\{?([a-zA-Z_][a-zA-Z0-9_]*)")


def panels_of(dashboard):
    """Every panel, including those nested in collapsed rows."""
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def needs_marker(panel):
    description = panel.get("description", "")
    for marker in MARKERS:
        if description.startswith(marker):
            return marker.rstrip(":")
    return None


def recorded_names(rules_dir):
    names = set()
    for path in pathlib.Path(rules_dir).glob("*.rules.yml"):
        for group in yaml.safe_load(path.read_text()).get("groups", []):
            names.update(rule["record"] for rule in group.get("rules", []) if "record" in rule)
    return names


def walk_datasources(node, where, problems):
    """No datasource may be pinned by uid, name or numeric id."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "datasourceId":
                problems.append(f"{where}: hard-coded datasourceId")
            elif key == "datasource":
                if isinstance(value, str) or (
                    isinstance(value, dict) and value.get("uid") not in ("${datasource}", "-- Grafana --")
                ):
                    problems.append(f"{where}: hard-coded datasource {value!r}")
            else:
                walk_datasources(value, where, problems)
    elif isinstance(node, list):
        for item in node:
            walk_datasources(item, where, problems)


def lint(path, recorded, problems):
    name = path.name
    try:
        dashboard = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        problems.append(f"{name}: invalid JSON: {error}")
        return
    for key in ("uid", "title"):
        if not dashboard.get(key):
            problems.append(f"{name}: no {key}")
    walk_datasources(dashboard, name, problems)
    variables = {v.get("name"): v for v in dashboard.get("templating", {}).get("list", [])}
    source = variables.get("datasource", {})
    if source.get("type") != "datasource" or source.get("query") != "prometheus":
        problems.append(f"{name}: no `datasource` variable of type datasource for prometheus")
    for required in ("job", "instance"):
        if variables.get(required, {}).get("type") != "query":
            problems.append(f"{name}: no `{required}` query variable")
    for variable in variables.values():
        if variable.get("type") == "query" and variable.get("datasource") != DATASOURCE:
            problems.append(f"{name}: variable {variable.get('name')} does not use ${{datasource}}")
    ids = set()
    for panel in panels_of(dashboard):
        title = f"{name}: panel {panel.get('title')!r}"
        if panel.get("id") in ids:
            problems.append(f"{title}: duplicate id {panel.get('id')}")
        ids.add(panel.get("id"))
        if "gridPos" not in panel:
            problems.append(f"{title}: no gridPos")
        if panel.get("type") in ("row", "text"):
            continue
        if panel.get("datasource") != DATASOURCE:
            problems.append(f"{title}: datasource must be {DATASOURCE}")
        unit = panel.get("fieldConfig", {}).get("defaults", {}).get("unit")
        if not unit:
            problems.append(f"{title}: no unit (fieldConfig.defaults.unit)")
        elif unit not in UNITS:
            problems.append(f"{title}: unknown unit {unit!r} (known: {sorted(UNITS)})")
        description = panel.get("description", "")
        if description.startswith("needs") and not needs_marker(panel):
            problems.append(f"{title}: marker must start with one of {MARKERS}")
        if needs_marker(panel) and len(description.split(":", 1)[1].strip()) < 10:
            problems.append(f"{title}: a needs-… marker must say why the panel can be empty")
        targets = panel.get("targets") or []
        if not targets:
            problems.append(f"{title}: no queries")
        for target in targets:
            expr = target.get("expr", "")
            if not expr.strip():
                problems.append(f"{title}: empty query {target.get('refId')}")
                continue
            used = set(VARIABLE.findall(expr)) - BUILTIN_VARIABLES
            if not used:
                problems.append(f"{title}: query {target.get('refId')} uses no dashboard variable: {expr}")
            for unknown in sorted(used - set(variables)):
                problems.append(f"{title}: query uses undefined variable ${unknown}")
            for metric in RECORDED_NAME.findall(STRING_LITERAL.sub('""', expr)):
                if metric not in recorded:
                    problems.append(f"{title}: recording rule {metric} is not defined in alert-rules/")


def queries(dashboard_dir):
    for path in sorted(pathlib.Path(dashboard_dir).glob("*.json")):
        dashboard = json.loads(path.read_text())
        variables = {
            v["name"]: v.get("definition") or v.get("query")
            for v in dashboard.get("templating", {}).get("list", [])
        }
        for panel in panels_of(dashboard):
            for target in panel.get("targets") or []:
                print(
                    json.dumps(
                        {
                            "dashboard": path.name,
                            "panel": panel.get("title"),
                            "needs": needs_marker(panel),
                            "expr": target["expr"],
                            "variables": {k: v for k, v in variables.items() if k != "datasource"},
                        }
                    )
                )


def main(argv):
    if len(argv) == 3 and argv[1] == "--queries":
        queries(argv[2])
        return 0
    if len(argv) != 3:
        sys.exit(__doc__)
    dashboard_dir, rules_dir = map(pathlib.Path, argv[1:])
    recorded = recorded_names(rules_dir)
    problems = []
    files = sorted(dashboard_dir.glob("*.json"))
    if not files:
        problems.append(f"{dashboard_dir}: no dashboards")
    for path in files:
        lint(path, recorded, problems)
    for problem in problems:
        print(f"dashboard lint: {problem}", file=sys.stderr)
    print(f"dashboard lint: {len(files)} dashboards, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
