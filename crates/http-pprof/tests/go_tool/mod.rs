//! `go tool pprof`, the reader these tests check our profiles with: whether it can run here, and
//! running it; and the `pprof-demo` service they read profiles from.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// True when `go` runs. Without it a test skips loudly, except under `CI`, where `make test`
/// installs it (scripts/install-deps.sh) and its absence is a failure.
pub fn have_go() -> bool {
    let ok = Command::new("go")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "`go` is required in CI (scripts/install-deps.sh)"
        );
        eprintln!("\n!!!!!!!! SKIP: `go` is not installed; go tool pprof cannot read the profiles !!!!!!!!\n");
    }
    ok
}

/// `go tool pprof <args> <profile>`, its stdout; fails the test if pprof fails. Its temporary
/// files and the binaries it fetches stay in one scratch folder.
pub fn go_pprof(args: &[&str], profile: &Path) -> String {
    let tmp = std::env::temp_dir().join("http-pprof-test-pprof-tmp");
    let output = Command::new("go")
        .args(["tool", "pprof"])
        .args(args)
        .arg(profile)
        .env("PPROF_TMPDIR", &tmp)
        .env("PPROF_BINARY_PATH", &tmp)
        .output()
        .expect("run go tool pprof");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "go tool pprof {args:?} {} failed: {}\n{stdout}",
        profile.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// Starts `pprof-demo` on a free loopback port with `env` added; returns the child and its base
/// URL (`http://127.0.0.1:N`). The caller kills the child.
pub fn start_pprof_demo(env: &[(&str, &str)]) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_pprof-demo"))
        .env("PPROF_DEMO_ADDR", "127.0.0.1:0")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start pprof-demo");
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let Ok(line) = rx.recv_timeout(Duration::from_secs(20)) else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("pprof-demo did not report its address within 20 s");
    };
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    (child, format!("http://{addr}"))
}
