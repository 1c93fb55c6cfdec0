//! The real service binaries for end-to-end tests, and free ports to run them on.

use std::net::TcpListener;
use std::path::PathBuf;

/// The three services.
pub const SERVICES: [&str; 3] = ["trading-api", "market-sim", "order-flow"];

/// Offsets from the base port `simex up` uses beyond the three services: fault-proxy's API
/// (base + 394) and the proxy network experiments put in front of trading-api (base + 395).
pub const FAULT_PROXY_OFFSETS: [u16; 2] = [394, 395];

/// `SIMEX_TEST_BIN_DIR`, else this build's profile directory, else its `release` sibling.
pub fn service_bins() -> Option<PathBuf> {
    let mut candidates: Vec<PathBuf> = std::env::var_os("SIMEX_TEST_BIN_DIR")
        .map(PathBuf::from)
        .into_iter()
        .collect();
    let profile_dir = PathBuf::from(env!("CARGO_BIN_EXE_simex"))
        .parent()
        .expect("the test binary's directory")
        .to_path_buf();
    candidates.push(profile_dir.clone());
    if let Some(target) = profile_dir.parent() {
        candidates.push(target.join("release"));
    }
    candidates
        .into_iter()
        // `simex up` also runs fault-proxy (`-p chaos`).
        .find(|dir| {
            SERVICES
                .iter()
                .chain(&["fault-proxy"])
                .all(|s| dir.join(s).is_file())
        })
}

/// A base port with it, the next two and the fault proxy's two free (bounded retries).
pub fn free_base_port() -> u16 {
    for _ in 0..50 {
        let first = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
        let base = first.local_addr().expect("bound address").port();
        if base > u16::MAX - FAULT_PROXY_OFFSETS[1] {
            continue;
        }
        let offsets = [1, 2].into_iter().chain(FAULT_PROXY_OFFSETS);
        let rest: Vec<_> = offsets
            .clone()
            .filter_map(|i| TcpListener::bind(("127.0.0.1", base + i)).ok())
            .collect();
        if rest.len() == offsets.count() {
            return base;
        }
    }
    panic!("no three consecutive free ports found");
}

/// The three services (and fault-proxy) under `simex up`, in their own temporary folder and on free ports; `simex
/// down` runs when this is dropped, whatever the test outcome, before the folder is removed.
pub struct Deployment {
    /// Holds `run/`, `logs/` and `data/`.
    pub dir: super::TempDir,
    /// trading-api's port; market-sim and order-flow take the next two.
    pub base: u16,
    /// The layout flags every `simex up/down/status/logs` call takes.
    flags: Vec<String>,
}

impl Deployment {
    /// Lays out the folder and picks the ports; nothing runs until `run("up", ..)`.
    pub fn new(tag: &str, bins: &std::path::Path) -> Self {
        let dir = super::TempDir::new(tag);
        let base = free_base_port();
        let flags = [
            ("--state-dir", "run"),
            ("--log-dir", "logs"),
            ("--data-dir", "data"),
        ]
        .iter()
        .flat_map(|(flag, sub)| [(*flag).to_owned(), dir.0.join(sub).display().to_string()])
        .chain([
            "--bin-dir".to_owned(),
            bins.display().to_string(),
            "--base-port".to_owned(),
            base.to_string(),
        ])
        .collect();
        Self { dir, base, flags }
    }

    /// `simex CMD EXTRA... <layout flags>` (`logs` takes the service before the flags).
    pub fn run(&self, cmd: &str, extra: &[&str]) -> std::process::Output {
        let mut args: Vec<&str> = vec![cmd];
        args.extend_from_slice(extra);
        args.extend(self.flags.iter().map(String::as_str));
        super::simex(&args)
    }
}

impl Drop for Deployment {
    fn drop(&mut self) {
        let _ = self.run("down", &[]);
    }
}
