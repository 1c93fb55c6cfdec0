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
        # Network experiments: fault-proxy's toxiproxy API (simex up starts it on base + 394),
        # where their proxy for trading-api listens (base + 395 by convention), trading-api's
        # address as the proxy's upstream (host:port, no scheme), and how long a fault lasts.
        ("fault_proxy_url", "SIMEX_FAULT_PROXY_URL", "http://127.0.0.1:8474"),
        ("proxy_listen", "SIMEX_TRADING_API_PROXY_LISTEN", "127.0.0.1:8475"),
        ("trading_api_addr", "SIMEX_TRADING_API_ADDR", "127.0.0.1:8080"),
        ("network_fault_seconds", "SIMEX_CHAOS_NETWORK_SECONDS", "10"),
    ]
}

SERVICES = {"trading-api": "trading_api_url", "market-sim": "market_sim_url", "order-flow": "order_flow_url"}


def load(name, tolerance=True, target="${trading_api_url}"):
    probe = {
        "type": "probe",
        "name": name,
        "provider": {
            "type": "process",
            "path": "order-flow",
            "arguments": ["load", "--rate", "${load_rate}", "--duration", "${load_seconds}s",
                          "--json", "--target", target, "--keys", "${keys_file}"],
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


# Network faults between the simulators and trading-api, through fault-proxy (toxiproxy's REST
# API). The method creates a proxy in front of trading-api, points both simulators at it
# (PUT /admin/upstream), applies the fault for network_fault_seconds and records what the
# simulators saw, then removes the fault and points them back. The rollbacks restore both
# simulators' upstream (idempotent) and delete the proxy, so neither a redirect nor a proxy
# outlives the run, whatever failed. The hypothesis adds to the usual one (which loads
# trading-api directly) that both simulators reach trading-api.
PROXY = "simex-trading-api"
PROXY_URL = "${fault_proxy_url}/proxies/" + PROXY
SIMULATORS = ["market-sim", "order-flow"]


def get(name, url, tolerance=None):
    probe = {"type": "probe", "name": name,
             "provider": {"type": "http", "url": url, "method": "GET", "timeout": 10}}
    if tolerance is not None:
        probe["tolerance"] = tolerance
    return probe


def expect(path, value):
    return {"type": "jsonpath", "path": path, "expect": value, "target": "body"}


def http_action(name, url, method, expected, body=None, pause_after=None):
    provider = {"type": "http", "url": url, "method": method, "expected_status": expected,
                "timeout": 10}
    if body is not None:
        provider["headers"] = {"Content-Type": "application/json"}
        provider["arguments"] = body
    action = {"type": "action", "name": name, "provider": provider}
    if pause_after is not None:
        action["pauses"] = {"after": pause_after}
    return action


# Whether the simulators reach trading-api, not where they send requests: a redirect through
# a healthy proxy is not a deviation (checks during the method would flag it, and stop the
# method under --fail-fast). The rollbacks restore the upstream whatever happened.
NETWORK_PROBES = [
    get("order-flow-reaches-trading-api", "${order_flow_url}/api/v1/status",
        expect("$.connected", True)),
    get("market-sim-maker-reaches-trading-api", "${market_sim_url}/api/v1/status",
        expect("$.makers[0].connected", True)),
]


def route(service, pause_after=None):
    return http_action(f"route-{service}-through-proxy", "${%s}/admin/upstream" % SERVICES[service],
                       "PUT", 200, {"trading_api_url": "http://${proxy_listen}"}, pause_after=pause_after)


def restore(service):
    return http_action(f"restore-{service}-upstream", "${%s}/admin/upstream" % SERVICES[service],
                       "DELETE", 200)


NETWORK_ROLLBACKS = [restore(s) for s in SIMULATORS] + [
    http_action("delete-trading-api-proxy", PROXY_URL, "DELETE", 204)]


def network_method(fault, unfault):
    return [
        http_action("create-trading-api-proxy", "${fault_proxy_url}/proxies", "POST", 201,
                    {"name": PROXY, "listen": "${proxy_listen}", "upstream": "${trading_api_addr}",
                     "enabled": True}),
        # A second of healthy traffic through the proxy first, so the fault hits live
        # connections (and the proxy's connection count shows the simulators used it).
        route("market-sim"), route("order-flow", pause_after=1),
        fault,
        # A process, not `pauses`: chaostoolkit substitutes a templated pause as a string and
        # time.sleep() refuses it; `sleep` takes the configured seconds in both runners.
        {"type": "action", "name": "hold-the-fault",
         "provider": {"type": "process", "path": "sleep",
                      "arguments": ["${network_fault_seconds}"], "timeout": 3600}},
        # Evidence, recorded in the journal: the simulators' traffic went through the proxy,
        # and what they and a load run through the proxy saw during the fault.
        get("simulator-traffic-through-proxy", PROXY_URL,
            {"type": "jsonpath", "path": "$.stats[?(@.connections_accepted >= 1)]",
             "target": "body"}),
        get("order-flow-during-fault", "${order_flow_url}/api/v1/status"),
        get("market-sim-during-fault", "${market_sim_url}/api/v1/status"),
        load("order-load-through-proxy-under-fault", tolerance=False, target="http://${proxy_listen}"),
        unfault,
        *[restore(s) for s in SIMULATORS],
    ]


def toxic(name, kind, attributes, stream="downstream"):
    return (
        http_action(f"add-{name}-toxic", PROXY_URL + "/toxics", "POST", 200,
                    {"name": name, "type": kind, "stream": stream, "toxicity": 1.0,
                     "attributes": attributes}),
        http_action(f"remove-{name}-toxic", PROXY_URL + "/toxics/" + name, "DELETE", 204),
    )


NETWORK = {
    "network-latency": (toxic("latency", "latency", {"latency": 100, "jitter": 50}),
                        "Every answer from trading-api to the simulators waits 100 ms +- 50 ms."),
    # timeout 0: at once. With a delay, hyper quietly retries requests on pooled connections
    # that died idle and the simulators barely notice (measured: 500 ms changed nothing).
    "network-reset": (toxic("reset", "reset_peer", {"timeout": 0}),
                      "Every connection between the simulators and trading-api is reset (TCP RST) "
                      "as soon as data flows."),
    # 2 KB/s: an order answer (~0.5 KB) takes a quarter second, a book snapshot seconds.
    # (16 KB/s left the load's p50 at 2 ms: the answers are too small to notice it.)
    "network-bandwidth": (toxic("bandwidth", "bandwidth", {"rate": 2}),
                          "trading-api's answers to the simulators trickle at 2 KB/s per "
                          "connection."),
    "network-limit-data": (toxic("limit_data", "limit_data", {"bytes": 4096}),
                           "Every connection from trading-api to the simulators is closed after "
                           "4 KB of answers."),
    "network-down": ((http_action("disable-trading-api-proxy", PROXY_URL, "POST", 200,
                                  {"enabled": False}),
                      http_action("enable-trading-api-proxy", PROXY_URL, "POST", 200,
                                  {"enabled": True})),
                     "The link between the simulators and trading-api is down: the proxy is "
                     "disabled, its listener and connections closed."),
}

for name, ((fault, unfault), what) in NETWORK.items():
    write(name, experiment(
        f"the simulators ride out {name}",
        f"{what} The simulators reach trading-api through fault-proxy for the fault; afterwards "
        "they talk to it directly again, reach it, and orders flow within budget.",
        network_method(fault, unfault),
        ["network", name.removeprefix("network-")],
        extra_probes=NETWORK_PROBES, rollbacks=NETWORK_ROLLBACKS,
    ))
