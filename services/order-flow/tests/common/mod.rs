//! Helpers shared by the integration tests that run real service binaries: free ports, a
//! temporary directory, a trading-api with a seeded book, and the load generator.

#![allow(dead_code, clippy::unwrap_used)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Kills and reaps the server whatever the test outcome.
pub struct Server(pub Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A workspace binary beside order-flow's (built with cargo if missing).
pub fn sibling_binary(name: &str) -> PathBuf {
    let order_flow = PathBuf::from(env!("CARGO_BIN_EXE_order-flow"));
    let exe = order_flow.parent().unwrap().join(name);
    if !exe.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args(["build", "-p", name, "--bin", name]);
        if let Some(target) = order_flow.parent().and_then(Path::parent) {
            cmd.env("CARGO_TARGET_DIR", target);
        }
        let status = cmd
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .unwrap();
        assert!(status.success(), "building {name} failed");
    }
    exe
}

pub fn tool_available(tool: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "{tool} is missing and CI is set (scripts/install-deps.sh installs it)"
        );
        eprintln!("SKIP: {tool} not installed");
    }
    found
}

/// A running trading-api with demo accounts and a seeded BTC-USD book.
pub struct Exchange {
    pub server: Server,
    pub base: String,
    pub keys: PathBuf,
    pub dir: tempdir::Dir,
}

pub mod tempdir {
    /// A temporary directory removed on drop.
    pub struct Dir(pub std::path::PathBuf);
    impl Dir {
        pub fn new(tag: &str) -> Dir {
            let path = std::env::temp_dir().join(format!(
                "simex-{tag}-{}-{}",
                std::process::id(),
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos()
            ));
            std::fs::create_dir_all(&path).unwrap();
            Dir(path)
        }
    }
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// Starts trading-api with `extra_args` and seeds its book.
pub fn start_exchange(extra_args: &[&str]) -> Exchange {
    let dir = tempdir::Dir::new("load-truth");
    let port = free_port();
    let keys = dir.0.join("keys.json");
    let log = std::fs::File::create(dir.0.join("trading-api.log")).unwrap();
    let child = Command::new(sibling_binary("trading-api"))
        .args([
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
            &dir.0.join("data").display().to_string(),
            "--demo-accounts",
            "12",
            "--demo-keys-file",
            &keys.display().to_string(),
        ])
        .args(extra_args)
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let server = Server(child);
    let base = format!("http://127.0.0.1:{port}");
    let start = Instant::now();
    loop {
        let ready = Command::new("curl")
            .args(["-fs", "-o", "/dev/null", &format!("{base}/ready")])
            .status()
            .is_ok_and(|s| s.success());
        if ready && keys.exists() {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "trading-api not ready"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let ex = Exchange {
        server,
        base,
        keys,
        dir,
    };
    seed_book(&ex);
    ex
}

/// Rests a deep two-sided BTC-USD book from two demo accounts (the load generator uses others),
/// so the generated orders have prices to go near and liquidity to take.
pub fn seed_book(ex: &Exchange) {
    let keys: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&ex.keys).unwrap()).unwrap();
    for level in 1..=5 {
        for (side, account, price) in [
            ("buy", 0, 60_000 - 10 * level),
            ("sell", 1, 60_000 + 10 * level),
        ] {
            let key = keys["accounts"][account]["api_key"].as_str().unwrap();
            let body = format!(
                r#"{{"symbol":"BTC-USD","side":"{side}","type":"limit","price":"{price}.00","quantity":"8","time_in_force":"gtc"}}"#
            );
            let status = Command::new("curl")
                .args(["-fs", "-o", "/dev/null", "-X", "POST", "-H"])
                .arg("Content-Type: application/json")
                .arg("-H")
                .arg(format!("X-API-Key: {key}"))
                .args(["-d", &body, &format!("{}/api/v1/orders", ex.base)])
                .status()
                .unwrap();
            assert!(status.success(), "seeding the book failed: {body}");
        }
    }
}

/// Runs `order-flow load` and returns its JSON report.
pub fn run_load(
    base: &str,
    keys: &Path,
    rate: u32,
    seconds: u32,
    connections: u32,
) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_order-flow"))
        .args([
            "load",
            "--target",
            base,
            "--keys",
            &keys.display().to_string(),
            "--rate",
            &rate.to_string(),
            "--duration",
            &format!("{seconds}s"),
            "--connections",
            &connections.to_string(),
            "--symbols",
            "BTC-USD",
            "--json",
            "--quiet",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "load generator failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

pub fn f64_at(v: &serde_json::Value, path: &[&str]) -> f64 {
    let mut cur = v;
    for key in path {
        cur = &cur[*key];
    }
    cur.as_f64()
        .unwrap_or_else(|| panic!("no number at {path:?} in {v}"))
}

/// Starts a simulator against `exchange` on a free port and waits for `/health`.
pub fn start_simulator(name: &str, exchange: &Exchange, extra: &[&str]) -> (Server, String) {
    let port = free_port();
    let log = std::fs::File::create(exchange.dir.0.join(format!("{name}.log"))).unwrap();
    let child = Command::new(sibling_binary(name))
        .args([
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--trading-api",
            &exchange.base,
            "--keys-file",
            &exchange.keys.display().to_string(),
        ])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let server = Server(child);
    let base = format!("http://127.0.0.1:{port}");
    let start = Instant::now();
    while !Command::new("curl")
        .args(["-fs", "-o", "/dev/null", &format!("{base}/health")])
        .status()
        .is_ok_and(|s| s.success())
    {
        assert!(start.elapsed() < Duration::from_secs(60), "{name} not up");
        std::thread::sleep(Duration::from_millis(100));
    }
    (server, base)
}
