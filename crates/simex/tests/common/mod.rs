//! Helpers shared by simex's integration tests (each test file uses a subset).

#![allow(dead_code)]

pub mod server;
pub mod services;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// True when `tool` runs. When it does not: under CI (env `CI` set) the test fails, because CI
/// must have every tool; elsewhere it prints SKIP and the caller returns.
pub fn tool_available(tool: &str, probe: &[&str]) -> bool {
    if Command::new(tool).args(probe).output().is_ok() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "`{tool}` is not installed, and CI is set: install it (make deps)"
    );
    eprintln!("SKIP: `{tool}` is not installed");
    false
}

/// A committed real profile from `crates/profile-tools/tests/data/`.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../profile-tools/tests/data")
        .join(name)
}

/// A fresh directory under the system temp dir, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// Creates `simex-{tag}-{pid}` in the temp dir, empty.
    pub fn new(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("simex-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create temp dir");
        Self(dir)
    }

    /// The file names in the directory, sorted (empty if it does not exist).
    pub fn names_in(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .map(|entries| {
                entries
                    .map(|e| {
                        e.expect("dir entry")
                            .file_name()
                            .into_string()
                            .expect("utf-8")
                    })
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs the simex binary built for this test.
pub fn simex(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_simex"))
        .args(args)
        .output()
        .expect("run simex")
}

/// Lossy UTF-8.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
