//! A network chaos experiment on the real services: `simex up` (which also runs fault-proxy) on
//! free ports, then `simex chaos run chaos/experiments/network-latency.json` with short
//! durations. The run completes; the journal shows the simulators' traffic went through the
//! proxy while the latency toxic was on (the proxy counted their connections, both simulators
//! answered the redirect); afterwards both talk to trading-api directly again and the fault
//! proxy holds no proxy.
//!
//! Binaries as in `supervisor.rs` (trading-api, market-sim, order-flow and fault-proxy):
//! `SIMEX_TEST_BIN_DIR`, else this build's target directory; without them the test prints SKIP
//! (and fails when `CI` is set).

#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::Command;

use common::services::{service_bins, Deployment, FAULT_PROXY_OFFSETS};
use common::text;
use serde_json::Value;

fn get_json(url: &str) -> Value {
    let mut resp = ureq::get(url)
        .call()
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    serde_json::from_str(&resp.body_mut().read_to_string().unwrap()).unwrap()
}

/// The run record of the method activity called `name`.
fn activity<'a>(runs: &'a [Value], name: &str) -> &'a Value {
    runs.iter()
        .find(|r| r["activity"]["name"] == name)
        .unwrap_or_else(|| panic!("no activity {name} in the journal"))
}

#[test]
fn network_latency_goes_through_the_proxy_and_leaves_nothing_behind() {
    let Some(bins) = service_bins() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "service binaries not built, and CI is set: cargo build -p trading-api -p market-sim -p order-flow -p chaos"
        );
        eprintln!("SKIP: trading-api, market-sim, order-flow, fault-proxy binaries not built (or set SIMEX_TEST_BIN_DIR)");
        return;
    };
    let deployment = Deployment::new("network-chaos", &bins);
    let (dir, base) = (&deployment.dir, deployment.base);
    let out = deployment.run("up", &["--timeout", "120"]);
    assert!(out.status.success(), "up failed: {}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("fault-proxy  ready"),
        "{}",
        text(&out.stdout)
    );
    let url = |port: u16| format!("http://127.0.0.1:{port}");
    let fault_proxy = url(base + FAULT_PROXY_OFFSETS[0]);
    let proxy_listen = format!("127.0.0.1:{}", base + FAULT_PROXY_OFFSETS[1]);
    assert_eq!(
        get_json(&format!("{fault_proxy}/proxies")),
        serde_json::json!({})
    );

    let simex_dir = Path::new(env!("CARGO_BIN_EXE_simex")).parent().unwrap();
    let path = std::env::join_paths([bins.clone(), simex_dir.to_path_buf()].into_iter().chain(
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
    ))
    .unwrap();
    let experiment =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../chaos/experiments/network-latency.json");
    let journal_path = dir.0.join("network-latency-journal.json");
    let out = Command::new(env!("CARGO_BIN_EXE_simex"))
        .args(["chaos", "run"])
        .arg(&experiment)
        .arg("--journal")
        .arg(&journal_path)
        .current_dir(&dir.0)
        .env("SIMEX_TRADING_API_URL", url(base))
        .env("SIMEX_MARKET_SIM_URL", url(base + 1))
        .env("SIMEX_ORDER_FLOW_URL", url(base + 2))
        .env("SIMEX_FAULT_PROXY_URL", &fault_proxy)
        .env("SIMEX_TRADING_API_PROXY_LISTEN", &proxy_listen)
        .env("SIMEX_TRADING_API_ADDR", format!("127.0.0.1:{base}"))
        .env("SIMEX_CHAOS_NETWORK_SECONDS", "2")
        .env("SIMEX_CHAOS_LOAD_SECONDS", "1")
        .env("SIMEX_CHAOS_LOAD_RATE", "100")
        .env("PATH", &path)
        .env(
            "SIMEX_DEMO_KEYS_FILE",
            dir.0.join("data/trading-api/demo-keys.json"),
        )
        .env("SIMEX_STATE_DIR", dir.0.join("run"))
        .output()
        .expect("run simex chaos run");
    let journal: Value = serde_json::from_slice(&std::fs::read(&journal_path).unwrap())
        .unwrap_or_else(|e| panic!("no journal ({e}): {}", text(&out.stderr)));
    assert!(out.status.success(), "{}\n{journal:#}", text(&out.stderr));
    assert_eq!(journal["status"], "completed", "{journal:#}");
    assert_eq!(journal["steady_states"]["before"]["steady_state_met"], true);
    assert_eq!(journal["steady_states"]["after"]["steady_state_met"], true);

    let runs = journal["run"].as_array().unwrap();
    for r in runs {
        // The load through the proxy is evidence only; every action and probe still ran cleanly.
        assert_eq!(r["status"], "succeeded", "{r:#}");
    }
    // Both simulators were pointed at the proxy...
    for service in ["market-sim", "order-flow"] {
        let body = &activity(runs, &format!("route-{service}-through-proxy"))["output"]["body"];
        assert_eq!(
            body["trading_api_url"],
            format!("http://{proxy_listen}"),
            "{body}"
        );
        assert_eq!(body["redirected"], true);
    }
    // ...the toxic was on...
    let toxic = &activity(runs, "add-latency-toxic")["output"]["body"];
    assert_eq!(toxic["type"], "latency", "{toxic}");
    assert_eq!(toxic["attributes"]["latency"], 100);
    // ...and their requests went through it: one connection at least from each simulator
    // (the load run through the proxy comes after this probe).
    let proxy = &activity(runs, "simulator-traffic-through-proxy");
    assert_eq!(proxy["tolerance_met"], true, "{proxy:#}");
    let proxied = &proxy["output"]["body"];
    assert_eq!(proxied["upstream"], format!("127.0.0.1:{base}"));
    assert_eq!(proxied["toxics"][0]["name"], "latency", "{proxied}");
    assert!(
        proxied["stats"]["connections_accepted"].as_u64().unwrap() >= 2,
        "{proxied}"
    );
    let order_flow = &activity(runs, "order-flow-during-fault")["output"]["body"];
    assert_eq!(order_flow["ready"], true, "{order_flow}");
    let load: Value = serde_json::from_str(
        activity(runs, "order-load-through-proxy-under-fault")["output"]["stdout"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    // 100 ms +- 50 ms on every answer: no order through the proxy was faster than 50 ms.
    assert!(
        load["latency_ms"]["p50"].as_f64().unwrap() >= 50.0,
        "{load}"
    );

    let rollbacks = journal["rollbacks"].as_array().unwrap();
    assert_eq!(rollbacks.len(), 3);
    for r in rollbacks {
        assert_eq!(r["status"], "succeeded", "{r:#}");
    }
    // Nothing left behind: no proxy, both simulators talk to trading-api directly.
    assert_eq!(
        get_json(&format!("{fault_proxy}/proxies")),
        serde_json::json!({})
    );
    for port in [base + 1, base + 2] {
        let upstream = get_json(&format!("{}/admin/upstream", url(port)));
        assert_eq!(upstream["redirected"], false, "{upstream}");
        assert_eq!(upstream["trading_api_url"], url(base));
    }

    let out = deployment.run("down", &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        std::net::TcpListener::bind(("127.0.0.1", base + FAULT_PROXY_OFFSETS[0])).is_ok(),
        "fault-proxy still listening after down"
    );
}
