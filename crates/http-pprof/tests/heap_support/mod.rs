//! Shared by the `heap_*` tests: the `pprof-demo` service on a free port, its RSS, and
//! `go tool pprof -raw` read back into samples.

#![allow(clippy::unwrap_used, dead_code)]

use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// True when `go` runs; otherwise prints SKIP, and fails when `CI` is set (CI must have it).
#[path = "../go_tool/mod.rs"]
mod go_tool;
pub use go_tool::{go_pprof, have_go};

/// A running `pprof-demo`, killed on drop.
pub struct Demo {
    child: Child,
    pub base: String,
    client: reqwest::Client,
}

impl Demo {
    pub fn start() -> Demo {
        let (child, base) = go_tool::start_pprof_demo(&[]);
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .expect("http client");
        Demo {
            child,
            base,
            client,
        }
    }

    /// GET `path`, asserting 200; the body.
    pub async fn get(&self, path: &str) -> Vec<u8> {
        let response = self
            .client
            .get(format!("{}{}", self.base, path))
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        let status = response.status();
        let body = response.bytes().await.expect("body").to_vec();
        assert!(
            status.is_success(),
            "GET {path}: {status} {}",
            String::from_utf8_lossy(&body)
        );
        body
    }

    /// Resident set size of the service, bytes (`VmRSS` of /proc/PID/status).
    pub fn rss_bytes(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("read /proc status");
        let kb: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .expect("VmRSS line");
        kb * 1024
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A file in the temp dir, removed when dropped.
pub struct TempFile(pub PathBuf);

impl TempFile {
    pub fn write(name: &str, bytes: &[u8]) -> TempFile {
        static SEQ: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "http-pprof-heap-test-{}-{}-{name}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::write(&path, bytes).expect("write temp file");
        TempFile(path)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// One sample of `go tool pprof -raw`: its values and its functions, leaf first (inlined
/// functions included).
#[derive(Debug)]
pub struct RawSample {
    pub values: Vec<i64>,
    pub functions: Vec<String>,
}

/// The sample types and samples of a profile as `go tool pprof -raw` prints them.
pub fn pprof_raw(profile: &Path) -> (Vec<String>, Vec<RawSample>) {
    let out = go_pprof(&["-raw"], profile);
    let mut lines = out.lines().peekable();
    let mut types = Vec::new();
    let mut samples: Vec<(Vec<i64>, Vec<u64>)> = Vec::new();
    let mut locations: std::collections::HashMap<u64, Vec<String>> = Default::default();
    let mut section = "";
    let mut current_location = None;
    while let Some(line) = lines.next() {
        match line.trim_end() {
            "Samples:" => {
                section = "samples";
                if let Some(header) = lines.next() {
                    types = header.split_whitespace().map(str::to_owned).collect();
                }
                continue;
            }
            "Locations" => {
                section = "locations";
                continue;
            }
            "Mappings" => {
                section = "";
                continue;
            }
            _ => {}
        }
        match section {
            "samples" => {
                let Some((values, locs)) = line.split_once(':') else {
                    continue;
                };
                let values: Result<Vec<i64>, _> =
                    values.split_whitespace().map(str::parse).collect();
                let Ok(values) = values else { continue };
                if values.is_empty() {
                    continue;
                }
                let locs = locs
                    .split_whitespace()
                    .filter_map(|l| l.parse().ok())
                    .collect();
                samples.push((values, locs));
            }
            "locations" => {
                // `    12: 0x1234 M=1 func file:line s=0`, inlined callers on following lines
                // as `             func file:line s=0`.
                let trimmed = line.trim_start();
                let (id, rest) = match trimmed.split_once(": ") {
                    Some((id, rest)) if id.parse::<u64>().is_ok() => (id.parse::<u64>().ok(), rest),
                    _ => (None, trimmed),
                };
                let mut words = rest.split_whitespace();
                if let Some(id) = id {
                    current_location = Some(id);
                    words.next(); // address
                    words.next(); // M=
                }
                if let (Some(loc), Some(function)) = (current_location, words.next()) {
                    locations.entry(loc).or_default().push(function.to_owned());
                }
            }
            _ => {}
        }
    }
    let samples = samples
        .into_iter()
        .map(|(values, locs)| RawSample {
            values,
            functions: locs
                .iter()
                .flat_map(|l| locations.get(l).cloned().unwrap_or_default())
                .collect(),
        })
        .collect();
    (types, samples)
}

/// Index of `name` (e.g. `inuse_space`) among the `-raw` sample types (`inuse_space/bytes`).
pub fn type_index(types: &[String], name: &str) -> usize {
    types
        .iter()
        .position(|t| t.split('/').next() == Some(name))
        .unwrap_or_else(|| panic!("no sample type {name} in {types:?}"))
}

/// Frames that belong to the profiler rather than the service.
pub fn is_profiler_function(function: &str) -> bool {
    let f = function.trim_start_matches('<');
    [
        "http_pprof::",
        "backtrace::",
        "gimli::",
        "addr2line::",
        "object::",
    ]
    .iter()
    .any(|p| f.starts_with(p))
}
