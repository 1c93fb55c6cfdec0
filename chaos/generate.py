#!/usr/bin/env python3
"""Writes chaos/experiments/*.json (Chaos Toolkit's experiment format) from one table, so the
shared steady-state hypothesis, configuration and rollbacks stay identical in every file.
Run it after editing: python3 chaos/generate.py

Process probes run `simex` and `order-flow` from PATH (chaostoolkit checks the path before it
substitutes configuration), so put the build's release directory on PATH."""
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))

CONFIGURATION = {
    name: {"type": "env", "key": key, "default": default}
    for name, key, default in [
        ("trading_api_url", "SIMEX_TRADING_API_URL", "http://127.0.0.1:8080"),
        ("market_sim_url", "SIMEX_MARKET_SIM_URL", "http://127.0.0.1:8081"),
        ("order_flow_url", "SIMEX_ORDER_FLOW_URL", "http://127.0.0.1:8082"),
        ("keys_file", "SIMEX_DEMO_KEYS_FILE", "data/trading-api/demo-keys.json"),
        ("acked_log", "SIMEX_ACKED_ORDERS_LOG", "data/order-flow/acked-orders.log"),
        ("state_dir", "SIMEX_STATE_DIR", "run"),
        ("load_rate", "SIMEX_CHAOS_LOAD_RATE", "200"),
        ("load_seconds", "SIMEX_CHAOS_LOAD_SECONDS", "5"),
    ]
}

SERVICES = {"trading-api": "trading_api_url", "market-sim": "market_sim_url", "order-flow": "order_flow_url"}


def load(name, tolerance=True):
    probe = {
        "type": "probe",
        "name": name,
        "provider": {
            "type": "process",
            "path": "order-flow",
            "arguments": ["load", "--rate", "${load_rate}", "--duration", "${load_seconds}s",
                          "--json", "--target", "${trading_api_url}", "--keys", "${keys_file}"],
            "timeout": 120,
        },
    }
    if tolerance:
        probe["tolerance"] = {
            "type": "jsonpath",
            "target": "stdout",
            "path": "$[?(@.latency_ms.p99 <= 250 and @.success_ratio >= 0.99)]",
        }
    return probe


HEALTH = {
    "type": "probe", "name": "trading-api-ready",
    "provider": {"type": "http", "url": "${trading_api_url}/ready", "method": "GET", "timeout": 5},
    "tolerance": 200,
}
BOOK = {
    "type": "probe", "name": "books-not-crossed",
    "provider": {"type": "process", "path": "simex",
                 "arguments": ["chaos", "check-book", "--url", "${trading_api_url}"], "timeout": 30},
    "tolerance": 0,
}
ACKED = {
    "type": "probe", "name": "every-acknowledged-order-present",
    "provider": {"type": "process", "path": "simex",
                 "arguments": ["chaos", "check-acked", "--url", "${trading_api_url}",
                               "--log", "${acked_log}", "--keys", "${keys_file}"], "timeout": 300},
    "tolerance": 0,
}


def hypothesis(extra=()):
    return {
        "title": "orders flow within the latency and error budget, books are sound",
        "probes": [HEALTH, load("order-latency-p99-and-success-ratio-within-budget"), BOOK, *extra],
    }


def clear(service):
    url = SERVICES[service]
    return {
        "type": "action", "name": f"remove-faults-{service}",
        "provider": {"type": "http", "url": "${%s}/admin/chaos" % url, "method": "DELETE",
                     "expected_status": 200, "timeout": 10},
    }


ROLLBACKS = [clear(s) for s in SERVICES]


def inject(service, scenario, params):
    return {
        "type": "action", "name": f"inject-{scenario}-{service}",
        "provider": {
            "type": "http", "url": "${%s}/admin/chaos" % SERVICES[service], "method": "POST",
            "headers": {"Content-Type": "application/json"},
            "arguments": {"scenario": scenario, "params": params, "duration_secs": 120},
            "expected_status": 201, "timeout": 10,
        },
        "pauses": {"after": 1},
    }


def signal(service, sig, pause_after):
    return {
        "type": "action", "name": f"sig{sig.lower()}-{service}",
        "provider": {"type": "process", "path": "simex",
                     "arguments": ["chaos", "signal", service, sig, "--state-dir", "${state_dir}"],
                     "timeout": 10},
        "pauses": {"after": pause_after},
    }


SCENARIOS = {
    "cpu-burn": ({"threads": 2, "duty_cycle": 0.8}, "Two threads spin 80% of the time in trading-api."),
    "memory-leak": ({"bytes_per_sec": 4194304, "max_bytes": 268435456}, "trading-api leaks 4 MiB/s (at most 256 MiB)."),
    "task-leak": ({"tasks_per_sec": 500}, "trading-api spawns 500 tasks/s that never finish."),
    "latency": ({"delay_ms": 20, "jitter_ms": 10, "probability": 0.5}, "Half of trading-api's requests wait 20 ms +- 10 ms."),
    "errors": ({"probability": 0.005, "status": 503}, "0.5% of trading-api's requests answer 503."),
    "alloc-churn": ({"threads": 1}, "A thread allocates and frees in a loop."),
    "json-heavy": ({"threads": 1}, "A thread serializes and parses a 500-order JSON document in a loop."),
    "regex-hot": ({"threads": 1}, "A thread compiles a regex per use."),
    "fmt-heavy": ({"threads": 1}, "A thread formats thousands of values per iteration."),
    "hash-heavy": ({"threads": 1}, "A thread fills SipHash maps in a loop."),
    "lock-contention": ({"hold_us": 200, "contenders": 2, "global": True}, "Every order command serializes on one lock held 200 us longer, with two contender threads."),
    "slow-journal": ({"delay_ms": 5}, "Every journal fsync waits 5 ms longer."),
}


def experiment(title, description, method, tags, extra_probes=(), rollbacks=ROLLBACKS):
    return {
        "version": "1.0.0",
        "title": title,
        "description": description,
        "tags": ["simex", *tags],
        "configuration": CONFIGURATION,
        "steady-state-hypothesis": hypothesis(extra_probes),
        "method": method,
        "rollbacks": rollbacks,
    }


def write(name, doc):
    with open(os.path.join(HERE, "experiments", f"{name}.json"), "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")


for scenario, (params, what) in SCENARIOS.items():
    write(scenario, experiment(
        f"trading-api recovers from {scenario}",
        f"{what} Orders keep flowing within budget once the fault is removed; the load run "
        "under the fault is recorded in the method.",
        [inject("trading-api", scenario, params), load("order-load-under-fault", tolerance=False),
         clear("trading-api")],
        [scenario],
    ))

write("kill-trading-api", experiment(
    "trading-api survives SIGKILL without losing an acknowledged order",
    "SIGKILL trading-api through the supervisor's pid; the supervisor restarts it, it recovers "
    "from its journal, and every order order-flow saw acknowledged is still there.",
    [signal("trading-api", "KILL", 3),
     {"type": "probe", "name": "trading-api-ready-again",
      "provider": {"type": "process", "path": "simex",
                   "arguments": ["chaos", "wait-ready", "--url", "${trading_api_url}", "--timeout", "90"],
                   "timeout": 100}}],
    ["kill"], extra_probes=[ACKED], rollbacks=[],
))

write("pause", experiment(
    "trading-api resumes after SIGSTOP",
    "SIGSTOP trading-api for 3 s, then SIGCONT; orders flow within budget again afterwards.",
    [signal("trading-api", "STOP", 3), signal("trading-api", "CONT", 1)],
    ["pause"], rollbacks=[signal("trading-api", "CONT", 0)],
))

write("cascade", experiment(
    "the exchange recovers from a cascade of faults",
    "Lock contention and latency in trading-api, a CPU burn in market-sim and errors in order-flow "
    "at once; after they are removed orders flow within budget and the books are sound.",
    [inject("trading-api", "lock-contention", {"hold_us": 200, "contenders": 2, "global": True}),
     inject("trading-api", "latency", {"delay_ms": 10, "probability": 0.3}),
     inject("market-sim", "cpu-burn", {"threads": 1, "duty_cycle": 0.5}),
     inject("order-flow", "errors", {"probability": 0.1}),
     load("order-load-under-cascade", tolerance=False),
     clear("trading-api"), clear("market-sim"), clear("order-flow")],
    ["cascade"],
))
