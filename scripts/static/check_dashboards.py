#!/usr/bin/env python3
"""The Grafana dashboards and provisioning, and the metric names of every PromQL expression
(dashboards and deploy/prometheus/alerts.yml).

    check_dashboards.py [--self-test]

- each dashboard is JSON with a unique uid, every panel's data source is the provisioned one,
  every target has an expression, and panels do not overlap;
- every metric an expression names exists: a sampark_* name is one the Swift sources register
  (a histogram's _bucket, _sum and _count included), a rabbitmq_* or erlang_* name one
  RabbitMQ 3.10 serves (scripts/static/rabbitmq-3.10-metrics.txt);
- every expression parses as PromQL: they are written, with Grafana's variables replaced, as
  recording rules into a temporary file that `promtool check rules` reads.
"""
import glob
import json
import os
import re
import subprocess
import sys
import tempfile

import common

METRIC = re.compile(r"\b((?:sampark|rabbitmq|erlang)_[A-Za-z0-9_]+)\b")
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1d", "$queue": ".*"}


def known_metrics():
    swift = set()
    for f in glob.glob(common.path("Sources", "**", "*.swift"), recursive=True):
        swift |= set(re.findall(r'"(sampark_[a-z0-9_]+)"', open(f, encoding="utf-8").read()))
    rabbitmq = {line.strip() for line in open(common.path("scripts", "static", "rabbitmq-3.10-metrics.txt"))
                if line.strip() and not line.startswith("#")}
    return swift, rabbitmq


def expressions(dashboards, alerts):
    """(where, PromQL) of every expression."""
    out = []
    for file, dashboard in dashboards.items():
        for panel in all_panels(dashboard):
            for target in panel.get("targets", []):
                out.append((f"{file}: panel {panel.get('title')!r}", target.get("expr", "")))
        for variable in dashboard.get("templating", {}).get("list", []):
            query = variable.get("query")
            query = query.get("query") if isinstance(query, dict) else query
            m = re.fullmatch(r"label_values\((.+),\s*\w+\)", query or "")
            if m:
                out.append((f"{file}: variable {variable.get('name')}", m.group(1)))
    for group in alerts.get("groups", []):
        for rule in group.get("rules", []):
            out.append((f"alerts.yml: {rule.get('alert') or rule.get('record')}", rule["expr"]))
    return out


def all_panels(dashboard):
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def check(inputs):
    dashboards, datasources, alerts = inputs["dashboards"], inputs["datasources"], inputs["alerts"]
    swift, rabbitmq = inputs["metrics"]
    errors = []
    uids = set()
    source_uids = {d.get("uid") for d in datasources}
    for file, dashboard in dashboards.items():
        uid = dashboard.get("uid")
        if not uid or uid in uids:
            errors.append(f"{file}: needs a uid of its own")
        uids.add(uid)
        cells = set()
        for panel in all_panels(dashboard):
            where = f"{file}: panel {panel.get('title')!r}"
            g = panel.get("gridPos", {})
            for x in range(g.get("x", 0), g.get("x", 0) + g.get("w", 0)):
                for y in range(g.get("y", 0), g.get("y", 0) + g.get("h", 0)):
                    if (x, y) in cells:
                        errors.append(f"{where}: overlaps another panel")
                        break
                    cells.add((x, y))
                else:
                    continue
                break
            if panel.get("type") == "row":
                continue
            if panel.get("datasource", {}).get("uid") not in source_uids:
                errors.append(f"{where}: its data source is not a provisioned one ({sorted(source_uids)})")
            if not panel.get("targets"):
                errors.append(f"{where}: no query")
            for target in panel.get("targets", []):
                if not target.get("expr"):
                    errors.append(f"{where}: a target without an expression")
                if target.get("datasource", panel.get("datasource", {})).get("uid") not in source_uids:
                    errors.append(f"{where}: a target's data source is not a provisioned one")
    exprs = expressions(dashboards, alerts)
    for where, expr in exprs:
        for name in METRIC.findall(expr):
            if name.startswith("sampark_"):
                base = next((name[: -len(s)] for s in HISTOGRAM_SUFFIXES if name.endswith(s) and name[: -len(s)] in swift), name)
                if base not in swift:
                    errors.append(f"{where}: {name} is not a metric the Swift sources register")
            elif name not in rabbitmq:
                errors.append(f"{where}: {name} is not a metric RabbitMQ 3.10 serves")
    errors += inputs["promql_check"](exprs)
    return errors


def promtool_parses(exprs):
    rules = {"groups": [{"name": "dashboards", "rules": []}]}
    for i, (where, expr) in enumerate(exprs):
        for variable, value in GRAFANA_VARIABLES.items():
            expr = expr.replace(variable, value)
        rules["groups"][0]["rules"].append({"record": f"check:expression_{i}", "expr": expr})
    with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as f:
        json.dump(rules, f)   # JSON is YAML
        name = f.name
    try:
        result = subprocess.run(["promtool", "check", "rules", name], capture_output=True, text=True)
        if result.returncode != 0:
            return [f"an expression does not parse (promtool): {line}" for line in (result.stdout + result.stderr).splitlines()
                    if "expression_" in line or "parse error" in line] or [result.stdout + result.stderr]
        return []
    finally:
        os.unlink(name)


def inputs():
    dashboards = {os.path.relpath(f, common.ROOT): common.load_json(f)
                  for f in sorted(glob.glob(common.path("deploy", "grafana", "dashboards", "*.json")))}
    datasources = []
    for f in sorted(glob.glob(common.path("deploy", "grafana", "provisioning", "datasources", "*.yml"))):
        datasources += common.load_yaml(f).get("datasources", [])
    for f in sorted(glob.glob(common.path("deploy", "grafana", "provisioning", "dashboards", "*.yml"))):
        for provider in common.load_yaml(f).get("providers", []):
            if provider.get("options", {}).get("path") != "/etc/grafana/dashboards":
                raise SystemExit(f"{f}: the provider must read /etc/grafana/dashboards, where compose.yaml mounts deploy/grafana/dashboards")
    return {"dashboards": dashboards, "datasources": datasources,
            "alerts": common.load_yaml(common.path("deploy", "prometheus", "alerts.yml")),
            "metrics": known_metrics(), "promql_check": promtool_parses}


def broken_copies(data):
    def with_change(what, change):
        copy = {**data, "dashboards": common.deep(data["dashboards"]), "alerts": common.deep(data["alerts"])}
        change(copy)
        return what, copy
    def first_target(d):
        dashboard = next(iter(d["dashboards"].values()))
        return next(t for p in all_panels(dashboard) for t in p.get("targets", []))
    def first_panel(d):
        return next(p for p in all_panels(next(iter(d["dashboards"].values()))) if p.get("type") != "row")
    return [
        with_change("a misspelt Sampark metric", lambda d: first_target(d).update({"expr": "sum(rate(sampark_messages_handle_total[5m]))"})),
        with_change("a RabbitMQ metric that does not exist", lambda d: first_target(d).update({"expr": "rabbitmq_queue_depth"})),
        with_change("an expression that does not parse", lambda d: first_target(d).update({"expr": "sum(rate(sampark_messages_handled_total[5m])"})),
        with_change("another data source", lambda d: first_panel(d).update({"datasource": {"type": "prometheus", "uid": "other"}})),
        with_change("overlapping panels", lambda d: first_panel(d).update({"gridPos": {"x": 0, "y": 7, "w": 24, "h": 8}})),
        with_change("an alert on a metric nobody serves", lambda d: d["alerts"]["groups"][0]["rules"][0].update({"expr": "sampark_workers_up == 0"})),
    ]


def main():
    data = inputs()
    if "--self-test" in sys.argv[1:]:
        common.self_test("check_dashboards", check, broken_copies(data))
    report = common.Report("dashboards")
    for e in check(data):
        report.fail(e)
    n = len(expressions(data["dashboards"], data["alerts"]))
    report.ok(f"{len(data['dashboards'])} dashboard(s) on the provisioned data source; {n} expressions (panels, variables, "
              "alerts) parse and name only metrics the sources register or RabbitMQ 3.10 serves")
    report.done()


if __name__ == "__main__":
    main()
