//! The goroutine profile shows every task once, on the branch that does the application's
//! work, with its state and where it was spawned; `go tool pprof` reads the proto.
//!
//! In-process: a runtime built with `task_hooks::instrument` (as the services build theirs)
//! serves the pprof router on 127.0.0.1:0, and runs tasks of known shape: a `select!` whose
//! first branch is a shutdown-style `Notify` and whose second waits on a channel deep in
//! "application" code (the shape of every axum connection), a `join!` of a timer and a
//! semaphore, and tasks queued on a tokio Mutex.

#![allow(clippy::unwrap_used)]

mod go_tool;
use go_tool::go_pprof;

use std::net::SocketAddr;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, Mutex, Notify, Semaphore};

fn tool_available(tool: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "{tool} missing and CI set"
        );
        eprintln!("SKIP: {tool} not installed");
    }
    found
}

fn curl(url: &str, out: Option<&std::path::Path>) -> String {
    let mut cmd = Command::new("curl");
    cmd.args(["-fsS", "-m", "20"]);
    if let Some(path) = out {
        cmd.arg("-o").arg(path);
    }
    let output = cmd.arg(url).output().unwrap();
    assert!(
        output.status.success(),
        "GET {url}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The "application" side of the select: two frames of our own above the channel.
#[inline(never)]
async fn wait_for_order(rx: &mut mpsc::Receiver<u32>) -> Option<u32> {
    settle_order(rx).await
}

#[inline(never)]
async fn settle_order(rx: &mut mpsc::Receiver<u32>) -> Option<u32> {
    rx.recv().await
}

#[inline(never)]
async fn hold_book_lock(book: Arc<Mutex<()>>) {
    let _guard = book.lock().await;
}

#[inline(never)]
async fn nap_then_permit(permits: Arc<Semaphore>) {
    let _ = tokio::join!(
        tokio::time::sleep(Duration::from_secs(3600)),
        permits.acquire()
    );
}

/// `N total` from `go tool pprof -top`'s "of N total".
fn pprof_total(out: &str) -> i64 {
    out.split(" of ")
        .nth(1)
        .and_then(|rest| rest.split(" total").next())
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no total in\n{out}"))
}

/// `N` from `go tool pprof -top`'s "accounting for N,": what the filters kept.
fn pprof_shown(out: &str) -> i64 {
    out.split("accounting for ")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no 'accounting for' in\n{out}"))
}

#[test]
fn every_task_once_on_its_working_branch_with_state_and_creator() {
    if !tool_available("curl") || !tool_available("go") {
        return;
    }
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.worker_threads(2).enable_all();
    let rt = http_pprof::task_hooks::instrument(&mut builder)
        .build()
        .unwrap();
    let dir = std::env::temp_dir().join(format!("goroutine-branches-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();

    let shutdown = Arc::new(Notify::new());
    let (_tx, mut rx) = mpsc::channel::<u32>(1);
    let book = Arc::new(Mutex::new(()));
    let permits = Arc::new(Semaphore::new(0));
    let (addr, select_id, select_line, join_id, lock_ids, _holder) = rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = http_pprof::router::<()>(http_pprof::PprofConfig::default());
        tokio::spawn(async move {
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await
            .ok();
        });
        let signal = Arc::clone(&shutdown);
        let select_line = line!() + 1;
        let select = tokio::spawn(async move {
            tokio::select! {
                _ = signal.notified() => None,
                got = wait_for_order(&mut rx) => got,
            }
        });
        let join = tokio::spawn(nap_then_permit(Arc::clone(&permits)));
        // One task holds the lock forever; five queue behind it.
        let holder = Arc::clone(&book).lock_owned().await;
        let lock_ids: Vec<_> = (0..5)
            .map(|_| tokio::spawn(hold_book_lock(Arc::clone(&book))).id())
            .collect();
        tokio::time::sleep(Duration::from_millis(200)).await;
        (
            addr,
            select.id().to_string(),
            select_line,
            join.id().to_string(),
            lock_ids,
            holder,
        )
    });
    let base = format!("http://{addr}/debug/pprof");

    // debug=2: every branch, the application's first, state and `created by`.
    let full = curl(&format!("{base}/goroutine?debug=2"), None);
    let task = full
        .split("\n\n")
        .find(|t| t.starts_with(&format!("goroutine {select_id} [")))
        .unwrap_or_else(|| panic!("task {select_id} missing:\n{full}"));
    assert!(
        task.starts_with(&format!("goroutine {select_id} [chan receive]:")),
        "{task}"
    );
    let (primary, secondary) = task
        .split_once("-- branch 2 of 2 [notify]:")
        .unwrap_or_else(|| panic!("second branch missing:\n{task}"));
    assert!(primary.contains("settle_order"), "{task}");
    assert!(!secondary.contains("settle_order"), "{task}");
    assert!(
        task.contains(&format!("goroutine_branches.rs:{select_line} +")),
        "spawn site missing:\n{task}"
    );
    assert!(
        task.contains("created by goroutine_branches::every_task_once"),
        "{task}"
    );
    let join_task = full
        .split("\n\n")
        .find(|t| t.starts_with(&format!("goroutine {join_id} [")))
        .unwrap();
    assert!(join_task.contains("-- branch 2 of 2 ["), "{join_task}");
    for id in &lock_ids {
        assert!(
            full.contains(&format!("goroutine {id} [sync.Mutex.Lock]:")),
            "{id} not waiting on the mutex:\n{full}"
        );
    }
    let tasks_in_full = full.matches("\ngoroutine ").count() + 1;

    // debug=1 (served from the same dump, cached for a second): counts add up to the tasks.
    let grouped = curl(&format!("{base}/goroutine?debug=1"), None);
    assert!(
        grouped.starts_with(&format!("goroutine profile: total {tasks_in_full}\n")),
        "{grouped}"
    );
    // Records are blank-line separated; the first follows the header line.
    let body = grouped.split_once('\n').unwrap().1;
    let records: Vec<&str> = body.split("\n\n").collect();
    let mutex_record = records
        .iter()
        .find(|r| r.contains("hold_book_lock"))
        .unwrap_or_else(|| panic!("{grouped}"));
    assert!(mutex_record.starts_with("5 @"), "{mutex_record}");
    assert!(
        mutex_record.contains(r#"# labels: {"state":"sync.Mutex.Lock""#),
        "{mutex_record}"
    );
    assert!(grouped.contains("settle_order"), "{grouped}");

    // The proto, read by go tool pprof.
    let file = dir.join("goroutine.pb.gz");
    curl(&format!("{base}/goroutine"), Some(&file));
    let top = go_pprof(&["-top"], &file);
    assert_eq!(pprof_total(&top), tasks_in_full as i64, "{top}");
    let branches = go_pprof(&["-top", "-sample_index=branch"], &file);
    assert!(
        pprof_total(&branches) >= tasks_in_full as i64 + 2,
        "the select and the join each have a second branch:\n{branches}"
    );
    let traces = go_pprof(&["-traces", "-tagfocus=state=chan receive"], &file);
    assert!(traces.contains("settle_order"), "{traces}");
    let locked = go_pprof(&["-top", "-tagfocus=state=sync.Mutex.Lock"], &file);
    assert_eq!(pprof_shown(&locked), 5, "{locked}");
    let tags = go_pprof(&["-tags"], &file);
    assert!(tags.contains("created_by"), "{tags}");

    drop(rt);
    let _ = std::fs::remove_dir_all(&dir);
}
