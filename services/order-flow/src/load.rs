//! The open-model load generator core: a constant arrival rate that does not slow down when the
//! server does, and latencies measured from each request's *intended* send time.
//!
//! Request `i` is due at `start + i / rate`. `connections` workers each take the next due request,
//! wait for its time if it is in the future, send it and wait for the answer (one request in
//! flight per connection, as in wrk2). When the server stalls, every worker is stuck, due times
//! pile up, and the requests sent after the stall are charged from when they *should* have gone
//! out: the stall shows in the percentiles instead of being hidden by the generator politely
//! waiting (coordinated omission). The service time (from the actual send) is kept alongside, so
//! the difference between the two is visible.

use std::collections::BTreeMap;
use std::future::Future;
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// What a run does.
#[derive(Debug, Clone, Copy)]
pub struct LoadPlan {
    /// Requests per second to send, whatever the server does.
    pub rate: f64,
    /// How long to send; `None` runs until cancelled.
    pub duration: Option<Duration>,
    /// Concurrent connections (workers), each with one request in flight at most.
    pub connections: usize,
    /// Print a progress line to stderr every second.
    pub progress: bool,
}

/// How one request ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// An HTTP answer with this status; `success` says whether it counts as a success.
    Answered {
        /// HTTP status code.
        status: u16,
        /// 2xx, or whatever the caller counts as success.
        success: bool,
    },
    /// No HTTP answer: refused, reset or timed out. The string is a short category for the report.
    Failed(&'static str),
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Percentiles {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p99_9: f64,
    /// Largest.
    pub max: f64,
    /// Mean.
    pub mean: f64,
}

impl Percentiles {
    fn of(h: &Histogram<u64>) -> Percentiles {
        if h.is_empty() {
            return Percentiles::default();
        }
        let ms = |us: u64| us as f64 / 1000.0;
        Percentiles {
            p50: ms(h.value_at_quantile(0.50)),
            p90: ms(h.value_at_quantile(0.90)),
            p99: ms(h.value_at_quantile(0.99)),
            p99_9: ms(h.value_at_quantile(0.999)),
            max: ms(h.max()),
            mean: h.mean() / 1000.0,
        }
    }
}

/// The result of a run, also its `--json` output.
#[derive(Debug, Clone, Serialize)]
pub struct LoadReport {
    /// Requests per second asked for.
    pub requested_rate: f64,
    /// Connections used.
    pub connections: usize,
    /// Seconds from the first due time to the last answer.
    pub elapsed_secs: f64,
    /// Requests whose due time fell inside the run.
    pub scheduled: u64,
    /// Requests actually sent.
    pub sent: u64,
    /// Requests answered or failed (= sent once the run drained).
    pub completed: u64,
    /// Successful answers.
    pub ok: u64,
    /// Everything else, by HTTP status or failure category (`connect`, `timeout`, ...).
    pub errors: BTreeMap<String, u64>,
    /// Completed requests per second over the run.
    pub achieved_rate: f64,
    /// `ok / completed`.
    pub success_ratio: f64,
    /// Latency from the intended send time (coordinated-omission corrected), successes and
    /// failures alike.
    pub latency_ms: Percentiles,
    /// Latency from the actual send time (what a closed-loop tool would report).
    pub service_time_ms: Percentiles,
}

/// Counters and histograms the workers share.
struct Stats {
    /// Microseconds from the due time to the answer.
    corrected: Histogram<u64>,
    /// Microseconds from the actual send to the answer.
    service: Histogram<u64>,
    /// Corrected latencies since the last progress line (reset by it).
    interval: Histogram<u64>,
    /// Successful answers.
    ok: u64,
    /// Answers and failures.
    completed: u64,
    /// Failures by status or category.
    errors: BTreeMap<String, u64>,
}

fn histogram() -> Histogram<u64> {
    // 1 us to 1 hour at 3 significant digits; the bounds are constants, so this cannot fail.
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("constant histogram bounds are valid")
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1)
}

/// Releases request `seq` at its intended time `start + seq / rate` from a plain thread.
///
/// Why a thread: tokio's timer has millisecond granularity, so pacing with `sleep_until` sends
/// each request up to a millisecond late, and that lateness would be charged to the server in
/// the corrected latency (about +1 ms at p50 on loopback). `std::thread::sleep` wakes within
/// tens of microseconds. Requests that fall due together are released together, so high rates
/// do not cost one wake-up each.
fn spawn_pacer(
    start: Instant,
    end: Option<Instant>,
    rate: f64,
    cancel: CancellationToken,
) -> tokio::sync::mpsc::UnboundedReceiver<(u64, Instant)> {
    let (release, due_requests) = tokio::sync::mpsc::unbounded_channel();
    let (start, end) = (start.into_std(), end.map(Instant::into_std));
    std::thread::Builder::new()
        .name("load-pacer".into())
        .spawn(move || {
            let mut seq: u64 = 0;
            while !cancel.is_cancelled() {
                let due = start + Duration::from_secs_f64(seq as f64 / rate);
                if end.is_some_and(|e| due >= e) {
                    break;
                }
                let now = std::time::Instant::now();
                if due > now {
                    // Short naps so a cancel is noticed even at very low rates.
                    std::thread::sleep((due - now).min(Duration::from_millis(50)));
                    continue;
                }
                if release.send((seq, Instant::from_std(due))).is_err() {
                    break;
                }
                seq += 1;
            }
        })
        .expect("spawning the load pacer thread");
    due_requests
}

/// Runs `plan`, calling `send(connection, sequence)` for each request, until the duration ends
/// or `cancel` fires. `send` must not retry: one call is one request.
pub async fn run_load<F, Fut>(plan: LoadPlan, send: F, cancel: CancellationToken) -> LoadReport
where
    F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Outcome> + Send + 'static,
{
    let rate = plan.rate.max(1e-9);
    let connections = plan.connections.max(1);
    let stats = Arc::new(Mutex::new(Stats {
        corrected: histogram(),
        service: histogram(),
        interval: histogram(),
        ok: 0,
        completed: 0,
        errors: BTreeMap::new(),
    }));
    let sent = Arc::new(AtomicU64::new(0));
    let send = Arc::new(send);
    let start = Instant::now();
    let end = plan.duration.map(|d| start + d);
    let schedule = Arc::new(tokio::sync::Mutex::new(spawn_pacer(
        start,
        end,
        rate,
        cancel.clone(),
    )));

    let mut workers = Vec::with_capacity(connections);
    for conn in 0..connections {
        let (stats, schedule, sent, send, cancel) = (
            Arc::clone(&stats),
            Arc::clone(&schedule),
            Arc::clone(&sent),
            Arc::clone(&send),
            cancel.clone(),
        );
        workers.push(tokio::spawn(async move {
            loop {
                // The next request that is due, released by the pacer at its intended time; an
                // idle connection takes it at once, so a busy server makes requests wait here and
                // that wait counts in the corrected latency.
                let next = {
                    // Timed for /debug/pprof/block: connections queue here for the next request.
                    let mut due_requests = contention::blocked(schedule.lock()).await;
                    tokio::select! {
                        () = cancel.cancelled() => None,
                        next = contention::blocked(due_requests.recv()) => next,
                    }
                };
                let Some((seq, due)) = next else { break };
                // A backlog left when the duration ends is not sent (it shows as scheduled but
                // not sent), so an overloaded run still ends on time.
                if end.is_some_and(|e| Instant::now() >= e) {
                    break;
                }
                let sent_at = Instant::now();
                sent.fetch_add(1, Ordering::Relaxed);
                let outcome = send(conn, seq).await;
                let done = Instant::now();
                let corrected = micros(done.duration_since(due));
                let service = micros(done.duration_since(sent_at));
                let mut s = stats.lock().unwrap_or_else(|p| p.into_inner());
                s.corrected.saturating_record(corrected);
                s.service.saturating_record(service);
                s.interval.saturating_record(corrected);
                s.completed += 1;
                match outcome {
                    Outcome::Answered { success: true, .. } => s.ok += 1,
                    Outcome::Answered { status, .. } => {
                        *s.errors.entry(status.to_string()).or_default() += 1
                    }
                    Outcome::Failed(kind) => *s.errors.entry(kind.to_string()).or_default() += 1,
                }
            }
        }));
    }

    let progress = {
        let (stats, sent, cancel) = (Arc::clone(&stats), Arc::clone(&sent), cancel.clone());
        let show = plan.progress;
        tokio::spawn(async move {
            let tty = std::io::stderr().is_terminal();
            let mut tick =
                tokio::time::interval_at(start + Duration::from_secs(1), Duration::from_secs(1));
            loop {
                tokio::select! {
                    () = cancel.cancelled() => break,
                    _ = tick.tick() => {}
                }
                if !show {
                    continue;
                }
                let line = {
                    let mut s = stats.lock().unwrap_or_else(|p| p.into_inner());
                    let p = Percentiles::of(&s.interval);
                    s.interval.reset();
                    let elapsed = start.elapsed().as_secs_f64();
                    let errors: u64 = s.errors.values().sum();
                    format!(
                        "[{elapsed:6.1}s] sent {} ({:.0}/s) ok {} err {} | last 1s: p50 {:.2}ms p99 {:.2}ms max {:.2}ms",
                        sent.load(Ordering::Relaxed),
                        s.completed as f64 / elapsed.max(1e-9),
                        s.ok,
                        errors,
                        p.p50,
                        p.p99,
                        p.max
                    )
                };
                let mut err = std::io::stderr().lock();
                let _ = if tty {
                    write!(err, "\r\x1b[2K{line}")
                } else {
                    writeln!(err, "{line}")
                };
                let _ = err.flush();
            }
            if show && tty {
                let _ = writeln!(std::io::stderr());
            }
        })
    };

    for w in workers {
        let _ = w.await;
    }
    let elapsed = start.elapsed();
    // The progress task loops until cancelled; a run that ended by its duration stops it here.
    progress.abort();
    let _ = progress.await;

    let s = stats.lock().unwrap_or_else(|p| p.into_inner());
    let run_for = match plan.duration {
        Some(d) => d.min(elapsed),
        None => elapsed,
    };
    let scheduled = (run_for.as_secs_f64() * rate).ceil() as u64;
    LoadReport {
        requested_rate: plan.rate,
        connections,
        elapsed_secs: elapsed.as_secs_f64(),
        scheduled,
        sent: sent.load(Ordering::Relaxed),
        completed: s.completed,
        ok: s.ok,
        errors: s.errors.clone(),
        achieved_rate: s.completed as f64 / elapsed.as_secs_f64().max(1e-9),
        success_ratio: if s.completed == 0 {
            0.0
        } else {
            s.ok as f64 / s.completed as f64
        },
        latency_ms: Percentiles::of(&s.corrected),
        service_time_ms: Percentiles::of(&s.service),
    }
}

/// The report as the human-readable summary printed without `--json`.
pub fn render_text(r: &LoadReport) -> String {
    let row = |name: &str, p: &Percentiles| {
        format!(
            "  {name:<14} p50 {:>9.3}  p90 {:>9.3}  p99 {:>9.3}  p99.9 {:>9.3}  max {:>9.3}  (ms)\n",
            p.p50, p.p90, p.p99, p.p99_9, p.max
        )
    };
    let mut out = format!(
        "requested {:.1}/s over {} connections for {:.1}s\nsent {} of {} scheduled, completed {}, ok {} ({:.2}%), achieved {:.1}/s\n",
        r.requested_rate,
        r.connections,
        r.elapsed_secs,
        r.sent,
        r.scheduled,
        r.completed,
        r.ok,
        100.0 * r.success_ratio,
        r.achieved_rate
    );
    out += &row("latency", &r.latency_ms);
    out += &row("service time", &r.service_time_ms);
    if !r.errors.is_empty() {
        out += "errors:";
        for (k, v) in &r.errors {
            out += &format!(" {k}={v}");
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;

    /// A tiny HTTP/1.1 server on 127.0.0.1 that answers at once, except that the request arriving
    /// after `stall_after` requests is held for `stall`. It serves one connection at a time in
    /// order, like a single-threaded server that blocks.
    async fn stalling_server(
        stall_after: u64,
        stall: Duration,
    ) -> (String, tokio::task::JoinHandle<()>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let handle = tokio::spawn(async move {
            let count = Arc::new(AtomicU64::new(0));
            let stalled = Arc::new(AtomicBool::new(false));
            while let Ok((mut sock, _)) = listener.accept().await {
                let (count, stalled) = (Arc::clone(&count), Arc::clone(&stalled));
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 4096];
                    loop {
                        let Ok(n) = sock.read(&mut buf).await else {
                            return;
                        };
                        if n == 0 {
                            return;
                        }
                        let seen = count.fetch_add(1, Ordering::SeqCst);
                        if seen >= stall_after && !stalled.swap(true, Ordering::SeqCst) {
                            tokio::time::sleep(stall).await;
                        }
                        let body = b"{\"ok\":true}";
                        let head = format!(
                            "HTTP/1.1 201 Created\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                            body.len()
                        );
                        if sock.write_all(head.as_bytes()).await.is_err()
                            || sock.write_all(body).await.is_err()
                        {
                            return;
                        }
                    }
                });
            }
        });
        (format!("http://{addr}/"), handle)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_server_stall_shows_in_corrected_percentiles_only() {
        let stall = Duration::from_millis(1000);
        let (url, server) = stalling_server(50, stall).await;
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(1)
            .timeout(Duration::from_secs(10))
            .build()
            .expect("client");
        let plan = LoadPlan {
            rate: 200.0,
            duration: Some(Duration::from_millis(2500)),
            connections: 1,
            progress: false,
        };
        let report = run_load(
            plan,
            move |_, _| {
                let (http, url) = (http.clone(), url.clone());
                async move {
                    match http.post(&url).body("{}").send().await {
                        Ok(r) => Outcome::Answered {
                            status: r.status().as_u16(),
                            success: r.status().is_success(),
                        },
                        Err(_) => Outcome::Failed("connect"),
                    }
                }
            },
            CancellationToken::new(),
        )
        .await;
        server.abort();
        assert_eq!(report.errors, BTreeMap::new(), "{report:?}");
        assert!(
            report.ok >= 300,
            "most of the 500 scheduled were sent: {report:?}"
        );
        // About 200 requests were due during the one-second stall: with a charge from the due
        // time, well over 10% of all requests waited hundreds of milliseconds.
        assert!(
            report.latency_ms.p90 >= 300.0,
            "corrected p90 shows the stall: {report:?}"
        );
        assert!(report.latency_ms.max >= 900.0, "{report:?}");
        // From the actual send, only the one stalled request was slow.
        assert!(
            report.service_time_ms.p99 < 300.0,
            "uncorrected hides it: {report:?}"
        );
        assert!(report.service_time_ms.max >= 900.0, "{report:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn schedule_and_error_accounting() {
        let plan = LoadPlan {
            rate: 400.0,
            duration: Some(Duration::from_millis(500)),
            connections: 4,
            progress: false,
        };
        let report = run_load(
            plan,
            |_, seq| async move {
                if seq % 10 == 0 {
                    Outcome::Answered {
                        status: 429,
                        success: false,
                    }
                } else if seq % 10 == 1 {
                    Outcome::Failed("connect")
                } else {
                    Outcome::Answered {
                        status: 201,
                        success: true,
                    }
                }
            },
            CancellationToken::new(),
        )
        .await;
        assert_eq!(report.scheduled, 200);
        assert_eq!(report.sent, report.completed);
        assert!(report.sent <= 200 && report.sent >= 190, "{report:?}");
        let errors: u64 = report.errors.values().sum();
        assert_eq!(report.ok + errors, report.completed);
        assert!(report.errors.contains_key("429") && report.errors.contains_key("connect"));
        assert!(render_text(&report).contains("errors: 429="));
        // The `--json` shape scripts rely on.
        let json = serde_json::to_value(&report).expect("serializable");
        for key in [
            "requested_rate",
            "achieved_rate",
            "sent",
            "ok",
            "errors",
            "success_ratio",
        ] {
            assert!(json.get(key).is_some(), "{key} in {json}");
        }
        for key in ["p50", "p90", "p99", "p99_9", "max", "mean"] {
            assert!(json["latency_ms"][key].is_number(), "latency_ms.{key}");
            assert!(
                json["service_time_ms"][key].is_number(),
                "service_time_ms.{key}"
            );
        }
        assert!(json["errors"]["429"].is_u64());
    }
}
