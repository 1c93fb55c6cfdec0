//! Regression: the CPU profile lost ~40% of the process's CPU time (trading-api: 2.05 s profiled
//! of 3.43 s used) because samples interrupted inside libc (syscall wrappers) were dropped. The
//! `pprof-demo` `syscalls` workload keeps one thread in `write(2)` and one in pure Rust; the
//! profile's total must match the CPU the process used over the same window, and the syscall
//! thread's Rust caller must be named. Skips loudly when `go` is not installed.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Seconds profiled.
const PROFILE_SECONDS: u64 = 3;

/// The demo process, killed on drop.
struct Demo(Child);

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `pprof-demo` with the `syscalls` workload; returns it and its address.
fn start_demo() -> (Demo, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_pprof-demo"))
        .env("PPROF_DEMO_ADDR", "127.0.0.1:0")
        .env("PPROF_DEMO_WORKLOAD", "syscalls")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start pprof-demo");
    let stdout = child.stdout.take().expect("piped stdout");
    let demo = Demo(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("pprof-demo reports its address within 20 s");
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    (demo, addr)
}

/// utime + stime of process `pid`, in seconds, from `/proc/PID/stat`.
fn process_cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("read /proc/PID/stat");
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let after_name = stat.rsplit(')').next().expect("stat has a command name");
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks: f64 =
        fields[11].parse::<f64>().expect("utime") + fields[12].parse::<f64>().expect("stime");
    // SAFETY: sysconf has no preconditions.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    ticks / per_second
}

/// `go tool pprof -top` of `path`.
fn pprof_top(path: &std::path::Path) -> String {
    let tmp = std::env::temp_dir().join("http-pprof-test-pprof-tmp");
    let output = Command::new("go")
        .args(["tool", "pprof", "-top", "-nodecount=100"])
        .arg(path)
        .env("PPROF_TMPDIR", &tmp)
        .env("PPROF_BINARY_PATH", &tmp)
        .output()
        .expect("run go tool pprof");
    assert!(
        output.status.success(),
        "go tool pprof failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A pprof duration such as `3.65s`, `950ms` or `0`, in seconds.
fn pprof_seconds(text: &str) -> f64 {
    let (number, scale) = if let Some(ms) = text.strip_suffix("ms") {
        (ms, 1e-3)
    } else if let Some(us) = text.strip_suffix("us") {
        (us, 1e-6)
    } else if let Some(s) = text.strip_suffix('s') {
        (s, 1.0)
    } else {
        (text, 1.0)
    };
    number
        .parse::<f64>()
        .unwrap_or_else(|e| panic!("pprof duration {text:?}: {e}"))
        * scale
}

#[tokio::test]
async fn cpu_profile_accounts_for_syscall_time() {
    let have_go = Command::new("go")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !have_go {
        eprintln!("\n!!!!!!!! SKIPPING cpu coverage test: `go` is not installed !!!!!!!!\n");
        return;
    }
    let (demo, addr) = start_demo();
    let pid = demo.0.id();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("http client");
    let url = format!("http://{addr}/debug/pprof/profile?seconds={PROFILE_SECONDS}");
    // CPU over the profiled window only: symbolising and encoding after it also costs CPU.
    let cpu_before = process_cpu_seconds(pid);
    let window = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(PROFILE_SECONDS)).await;
        process_cpu_seconds(pid)
    });
    let response = client.get(url).send().await.expect("GET profile");
    assert_eq!(response.status().as_u16(), 200);
    let body = response.bytes().await.expect("profile body");
    let cpu_used = window.await.expect("cpu reading") - cpu_before;
    let path = std::env::temp_dir().join(format!(
        "http-pprof-test-{}-cpu-coverage.pb.gz",
        std::process::id()
    ));
    std::fs::write(&path, &body).expect("write profile");
    let top = pprof_top(&path);
    let _ = std::fs::remove_file(&path);

    let total = top
        .lines()
        .find_map(|l| l.split("Total samples = ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .map(pprof_seconds)
        .unwrap_or_else(|| panic!("no total in {top}"));
    let coverage = total / cpu_used;
    eprintln!(
        "profile total {total:.2} s of {cpu_used:.2} s CPU used: {:.0}%",
        coverage * 100.0
    );
    assert!(
        cpu_used > 0.5,
        "demo threads barely ran ({cpu_used} s): {top}"
    );
    assert!(
        (0.75..=1.25).contains(&coverage),
        "profile total {total} s vs {cpu_used} s of process CPU:\n{top}"
    );
    // The syscall thread's time is charged to its Rust caller, not just to a bare libc leaf.
    let caller = top
        .lines()
        .find(|l| {
            l.trim_end()
                .ends_with("pprof_demo::demo_write_small_buffers")
        })
        .unwrap_or_else(|| panic!("demo_write_small_buffers missing:\n{top}"));
    let cum = caller
        .split_whitespace()
        .nth(3)
        .map(pprof_seconds)
        .expect("cum column");
    assert!(
        cum >= 0.15 * total,
        "syscall thread's caller has only {cum} s of {total} s:\n{caller}"
    );
}
