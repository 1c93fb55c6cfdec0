//! Whether `go tool pprof`, the reader these tests check our profiles with, can run here.

use std::process::Command;

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
