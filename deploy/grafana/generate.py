#!/usr/bin/env python3
"""Writes deploy/grafana/dashboards/*.json (Grafana dashboard JSON). Every expression uses only
metrics the services export (crates/simex/tests/deploy.rs checks this against running services).
Run it after editing: python3 deploy/grafana/generate.py"""
import json
import os

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "dashboards")
DS = {"type": "prometheus", "uid": "prometheus"}


def panel(pid, title, exprs, unit="short", x=0, y=0, w=12, h=8, kind="timeseries"):
    return {
        "id": pid, "type": kind, "title": title, "datasource": DS,
        "gridPos": {"x": x, "y": y, "w": w, "h": h},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "targets": [{"refId": chr(65 + i), "datasource": DS, "expr": e, "legendFormat": legend}
                    for i, (e, legend) in enumerate(exprs)],
    }


def dashboard(uid, title, panels, tags):
    for i, p in enumerate(panels):
        p["id"] = i + 1
        p["gridPos"]["x"] = (i % 2) * 12
        p["gridPos"]["y"] = (i // 2) * 8
    return {
        "uid": uid, "title": title, "tags": ["simex", *tags], "timezone": "utc",
        "schemaVersion": 39, "version": 1, "refresh": "5s",
        "time": {"from": "now-15m", "to": "now"}, "panels": panels,
        "templating": {"list": []}, "annotations": {"list": []},
    }


def q(expr, legend):
    return (expr, legend)


P99 = 'histogram_quantile(0.99, sum by ({by}) (rate({metric}_bucket{sel}[1m])))'

overview = dashboard("simex-overview", "simex: exchange overview", [
    panel(0, "Orders per second by result", [q('sum by (result) (rate(simex_orders_total[1m]))', "{{result}}")], "ops"),
    panel(0, "Trades per second", [q('sum(rate(simex_trades_total[1m]))', "trades")], "ops"),
    panel(0, "HTTP requests per second by service", [q('sum by (job) (rate(http_requests_total[1m]))', "{{job}}")], "reqps"),
    panel(0, "HTTP 5xx ratio by service", [q('sum by (job) (rate(http_requests_total{status=~"5.."}[1m])) / sum by (job) (rate(http_requests_total[1m]))', "{{job}}")], "percentunit"),
    panel(0, "Book levels", [q('sum by (symbol, side) (simex_book_levels)', "{{symbol}} {{side}}")]),
    panel(0, "Market makers' resting quotes", [q('sum(marketsim_resting_quotes)', "quotes")]),
    panel(0, "order-flow orders per second by population", [q('sum by (population) (rate(orderflow_orders_total[1m]))', "{{population}}")], "ops"),
    panel(0, "WebSocket clients", [q('sum(simex_ws_clients)', "clients"), q('sum(rate(simex_ws_slow_consumer_disconnects_total[5m]))', "slow consumers dropped/s")]),
], ["overview"])

latency = dashboard("simex-latency", "simex: latency", [
    panel(0, "HTTP p99 by route (trading-api)", [q(P99.format(by="le, route", metric="http_request_duration_seconds", sel='{job="trading-api"}'), "{{route}}")], "s"),
    panel(0, "HTTP p50 by route (trading-api)", [q('histogram_quantile(0.5, sum by (le, route) (rate(http_request_duration_seconds_bucket{job="trading-api"}[1m])))', "{{route}}")], "s"),
    panel(0, "Matching engine command p99", [q(P99.format(by="le", metric="simex_engine_command_seconds", sel=""), "p99")], "s"),
    panel(0, "Journal append and fsync p99", [q(P99.format(by="le", metric="simex_journal_append_seconds", sel=""), "append"), q(P99.format(by="le", metric="simex_journal_fsync_seconds", sel=""), "fsync")], "s"),
    panel(0, "order-flow round trip p99 by population", [q(P99.format(by="le, population", metric="orderflow_order_roundtrip_seconds", sel=""), "{{population}}")], "s"),
    panel(0, "market-sim exchange request p99", [q(P99.format(by="le", metric="marketsim_exchange_request_seconds", sel=""), "p99")], "s"),
], ["latency"])

chaos = dashboard("simex-chaos", "simex: chaos", [
    panel(0, "Active faults", [q('sum by (job, scenario) (chaos_active) > 0', "{{job}} {{scenario}}")]),
    panel(0, "HTTP 5xx per second by service", [q('sum by (job, status) (rate(http_requests_total{status=~"5.."}[1m]))', "{{job}} {{status}}")], "reqps"),
    panel(0, "trading-api HTTP p99", [q(P99.format(by="le", metric="http_request_duration_seconds", sel='{job="trading-api"}'), "p99")], "s"),
    panel(0, "Journal fsync p99 (slow-journal)", [q(P99.format(by="le", metric="simex_journal_fsync_seconds", sel=""), "fsync p99")], "s"),
    panel(0, "Resident memory (memory-leak)", [q('process_resident_memory_bytes', "{{job}}")], "bytes"),
    panel(0, "CPU (cpu-burn and the work scenarios)", [q('rate(process_cpu_seconds_total[1m])', "{{job}}")], "percentunit"),
    panel(0, "Restarts (kill): process start time", [q('process_start_time_seconds * 1000', "{{job}}")], "dateTimeAsIso"),
    panel(0, "order-flow reconnects and market-sim reconnects", [q('sum(rate(orderflow_reconnects_total[1m]))', "order-flow"), q('sum(rate(marketsim_reconnects_total[1m]))', "market-sim")], "ops"),
], ["chaos"])

profiling = dashboard("simex-profiling", "simex: profiling", [
    panel(0, "CPU seconds per second by service", [q('rate(process_cpu_seconds_total[1m])', "{{job}}")], "percentunit"),
    panel(0, "Resident memory by service", [q('process_resident_memory_bytes', "{{job}}")], "bytes"),
    panel(0, "OS threads by service", [q('process_threads', "{{job}}")]),
    panel(0, "Open file descriptors", [q('process_open_fds', "{{job}} open"), q('process_max_fds', "{{job}} max")]),
    panel(0, "order-flow in flight and target rate", [q('sum(orderflow_in_flight)', "in flight"), q('sum(orderflow_target_rate)', "target rate")]),
    panel(0, "Requests per second vs CPU (cost per request)", [q('sum by (job) (rate(process_cpu_seconds_total[1m])) / sum by (job) (rate(http_requests_total[1m]))', "{{job}} CPU s/request")], "s"),
], ["profiling"])
profiling["links"] = [
    {"title": "Parca (docker compose --profile parca)", "url": "http://localhost:7070", "type": "link"},
    {"title": "trading-api /debug/pprof", "url": "http://localhost:8080/debug/pprof/", "type": "link"},
]

os.makedirs(OUT, exist_ok=True)
for name, d in [("exchange-overview", overview), ("latency", latency), ("chaos", chaos), ("profiling", profiling)]:
    with open(os.path.join(OUT, f"{name}.json"), "w") as f:
        json.dump(d, f, indent=2)
        f.write("\n")
