//! Goroutine profile: a tokio task dump (`Handle::dump`, tokio's `taskdump` feature, built with
//! `--cfg tokio_unstable`), presented as Go presents goroutines.
//!
//! **Branches.** Tokio traces a task by polling it in a tracing mode in which every tokio leaf
//! future (a channel, a timer, a socket...) records a backtrace and returns `Pending`. A task
//! that awaits one thing gives one backtrace; a `select!`/`join!` gives one per pending branch.
//! Every axum connection is such a task: one branch waits for the shutdown signal, the other
//! serves the request. Go has one stack per goroutine, so we choose a *primary* branch per task,
//! the one with the most frames of application code (crates that are not the runtime, the HTTP
//! stack or the standard library; ties: the deepest), and keep the others as:
//! - proto: two sample types, `goroutine/count` (the default; one per task on its primary
//!   branch, so the total is the number of tasks) and `branch/count` (one per pending branch,
//!   primary or not, so `-sample_index=branch` shows every leaf); labels `state`, `branch`
//!   (`primary`/`secondary`) and `created_by`;
//! - `debug=1`: the primary branches only (totals equal the task count, as Go's), each record
//!   with a `# labels:` line for `state` and `created_by`;
//! - `debug=2`: every branch of every task, the primary first.
//!
//! **States**, Go's words where tokio has the same thing, read from the leaf frames of the
//! primary branch (see [`wait_state`]); `running` for tasks a worker was polling when the dump
//! was requested (from the poll hooks of [`crate::task_hooks`]).
//!
//! **Created by**: the spawn site recorded by the spawn hook, printed as Go does:
//! `created by f in goroutine N` and the `file:line` of the `spawn` call.
//!
//! **Safety** (why [`dump_tasks`] looks the way it does): in tokio 1.54 a multi-thread dump
//! sets a flag; each worker, at its next maintenance tick, enters a barrier
//! (`trace_start.wait_timeout(250 ms)`); the last to arrive traces every task while the others
//! wait at a second barrier (`trace_end.wait()`, *no* timeout). When a worker is inside one long
//! poll (blocking code in a task: a synchronous fsync, a spin, a std lock held by another
//! thread), the others time out at the first barrier, and tokio's `Barrier::wait_timeout` does
//! not take back their arrival (tokio-rs/tokio PR #8370). The stale count lets a later dump
//! elect a leader before all workers arrived: it traces while other workers still run tasks
//! (tokio issue #6185's `next.is_notified()` panic) and then waits at `trace_end` for workers
//! that will never come: a worker thread parks forever, with whatever sits in its LIFO slot
//! (a timer task, a signal handler). That is how a goroutine dump during `slow-journal` left
//! trading-api deaf to its chaos timer and to SIGTERM. Besides, cancelling `Handle::dump` (our
//! timeout) does not cancel it: tokio's own request thread keeps asking until some later
//! trace succeeds, so every worker keeps stopping at the barrier for up to 250 ms at every
//! maintenance tick meanwhile (the p99 jump of polled dumps). Hence:
//! 1. one dump at a time, and a finished dump is reused by concurrent callers for [`CACHE_FOR`],
//!    or ten times the last dump's duration if longer (workers stand still ≤ 10% of the time);
//! 2. no new dump while an abandoned one is still pending in tokio (answer 503 instead);
//! 3. no dump while a worker has been inside one poll for [`LONG_POLL`] (wait for it up to the
//!    timeout, then answer 503): that is the precondition of the barrier timeout. This needs
//!    the poll hooks; a runtime built without them is dumped with guards 1 and 2 only;
//! 4. the request runs on its own thread with its own small runtime, never on a worker.
//!
//! Guard 3 removes the common cause (a task blocking its worker) but not every one: a worker
//! descheduled by an overloaded machine, or slow through 61 polls between maintenance ticks,
//! can still miss the 250 ms barrier. The soak test saw the remaining failure once: the other
//! worker kept serving (health fine) while one stayed parked, and the process then hung on exit
//! after SIGTERM, waiting for that thread. `make chaos-flamegraph` on a loaded two-core
//! machine saw it in 3 of 36 phases: a worker left at `trace_end` (gdb), every request queued
//! on it (a `heap?seconds=2` among them) waiting a minute for the next dump to release it. So:
//! 5. after every dump, [`heal_after_dump`] watches the workers for [`STUCK_AFTER`]: one that is
//!    neither parked nor inside a poll and makes no progress is standing at `trace_end`, and
//!    one more dump releases it (the stuck worker polls nothing, so that dump's trace is safe;
//!    its own first arrival may time out, the retry completes the barrier);
//! 6. the services shut their runtime down with a timeout (`service_kit::runtime`), so a worker
//!    that stays stuck cannot keep the process alive after SIGTERM.
//!
//! Only a tokio with the barrier fixed (PR #8370) removes the root cause; upgrade and drop
//! guards 3 and 5 when it is released.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use tokio::runtime::{Handle, RuntimeFlavor};
use tokio::task::Id;

use crate::error::PprofError;
use crate::raw_profile::{merge_samples, offset_in_function, RawProfile, RawSample, TextLayout};
use crate::symbolize::{symbolize, symbolize_stack, Frame};
use crate::task_hooks::{self, id_number, PollSnapshot, SpawnSite};

/// How long a finished dump answers further requests: pollers hitting the endpoint in a loop
/// cost one dump per second at most.
pub const CACHE_FOR: Duration = Duration::from_secs(1);

/// A worker inside one poll for this long blocks a dump from starting. Well under tokio's
/// 250 ms barrier timeout, well over a normal poll.
pub const LONG_POLL: Duration = Duration::from_millis(40);

/// A worker that makes no progress for this long after a dump, while neither parked nor inside
/// a poll, is taken to stand at tokio's `trace_end` barrier (guard 5).
pub const STUCK_AFTER: Duration = Duration::from_secs(1);

/// Heal dumps after one dump: each can itself leave the barrier uneven, the next one fixes it.
const MAX_HEALS: usize = 3;

/// One task as the dump gives it, before symbolisation.
#[derive(Debug, Clone)]
pub struct TaskStack {
    /// Tokio's task id.
    pub id: Id,
    /// One stack per pending leaf future, innermost first, in tokio's order.
    pub branches: Vec<Vec<usize>>,
    /// A worker was polling the task when the dump was requested.
    pub running: bool,
    /// Where it was spawned, if the runtime has the spawn hook.
    pub spawn: Option<SpawnSite>,
}

/// One pending branch of a task.
#[derive(Debug, Clone)]
pub struct Branch {
    /// Addresses, innermost first (dump machinery included; trimmed when rendered).
    pub stack: Vec<usize>,
    /// What this branch waits on.
    pub state: &'static str,
}

/// A task as presented: the primary branch first.
#[derive(Debug, Clone)]
pub struct Goroutine {
    /// Tokio's task id, as a number.
    pub id: u64,
    /// Pending branches, primary first; empty when no tokio leaf was reached.
    pub branches: Vec<Branch>,
    /// Go-style state of the task.
    pub state: &'static str,
    /// Go's `created by` line.
    pub created_by: Option<CreatedBy>,
}

/// Where a task was spawned, resolved.
#[derive(Debug, Clone)]
pub struct CreatedBy {
    /// The function containing the `spawn` call ("" when not found on the recorded stack).
    pub function: String,
    /// File of the `spawn` call.
    pub file: &'static str,
    /// Line of the `spawn` call.
    pub line: u32,
    /// Return address in the spawner, for Go's `+0xoff` (0 when unknown).
    pub ip: usize,
    /// The spawning task.
    pub parent: Option<u64>,
}

impl CreatedBy {
    /// `function file:line`, the `created_by` label.
    fn label(&self) -> String {
        let function = if self.function.is_empty() {
            "?"
        } else {
            &self.function
        };
        format!("{function} {}:{}", self.file, self.line)
    }
}

/// Frames of the dump machinery itself, above the task's own code.
pub fn is_dump_frame(frame: &Frame) -> bool {
    // By source file too, for release builds whose inlined frames carry short names.
    let file = frame.file.as_str();
    if file.contains("/backtrace-0.") || file.contains("/src/runtime/task/trace/") {
        return true;
    }
    let function = frame.function.as_str();
    function.starts_with("backtrace::")
        || function.starts_with("<backtrace::")
        || function.starts_with("tokio::runtime::task::trace::")
        || function.starts_with("<tokio::runtime::task::trace::")
        || function.starts_with("tokio::runtime::dump::")
}

/// The crate a demangled function path belongs to: `<tokio::time::Sleep as Future>::poll` is
/// tokio's, `trading_api::api::create_order::{{closure}}` trading_api's.
fn crate_of(function: &str) -> &str {
    let f = function.trim_start_matches(['<', '&', '*', '(']);
    let f = f
        .strip_prefix("mut ")
        .or_else(|| f.strip_prefix("dyn "))
        .or_else(|| f.strip_prefix("const "))
        .unwrap_or(f);
    f.split("::").next().unwrap_or(f)
}

/// Crates that are the runtime, the HTTP stack or the standard library: a branch's frames in
/// them say nothing about what the service is doing. The profiler is one of them.
fn is_library_crate(krate: &str) -> bool {
    matches!(
        krate,
        "core"
            | "std"
            | "alloc"
            | "tokio"
            | "tokio_util"
            | "tokio_stream"
            | "tokio_tungstenite"
            | "tungstenite"
            | "hyper"
            | "hyper_util"
            | "h2"
            | "http_body"
            | "http_body_util"
            | "axum"
            | "axum_core"
            | "tower"
            | "tower_http"
            | "tower_layer"
            | "tower_service"
            | "futures"
            | "futures_util"
            | "futures_core"
            | "futures_channel"
            | "pin_project_lite"
            | "tracing"
            | "tracing_futures"
            | "backtrace"
            | "http_pprof"
    )
}

/// The kept (untrimmed) frames of a branch, innermost first.
fn branch_frames(stack: &[usize]) -> Vec<Frame> {
    symbolize_stack(stack, Some(is_dump_frame))
        .iter()
        .flat_map(|e| e.kept().to_vec())
        .collect()
}

/// What a branch waits on, from its frames: Go's state names where tokio has the same
/// primitive (`chan receive`, `chan send`, `select`, `sleep`, `IO wait`, `sync.Mutex.Lock`,
/// `sync.RWMutex.RLock`/`Lock`, `semacquire`), tokio's own otherwise (`notify`, `join`,
/// `barrier`), `runnable` for a task that yielded, `waiting` when no known leaf is recognised.
/// Checked in this order over all frames, because the innermost leaf of a bounded channel's
/// send is the semaphore that implements it.
pub fn wait_state(frames: &[Frame]) -> &'static str {
    const RULES: &[(&[&str], &str)] = &[
        (
            &[
                "mpsc::bounded::Sender<",
                "mpsc::bounded::Permit",
                "mpsc::bounded::OwnedPermit",
            ],
            "chan send",
        ),
        (
            &[
                "sync::mpsc::",
                "sync::broadcast::Receiver",
                "sync::watch::Receiver",
                "sync::watch::Sender<",
                "sync::oneshot::",
            ],
            "chan receive",
        ),
        (&["sync::rwlock::RwLock<"], "sync.RWMutex.Lock"),
        (&["sync::mutex::Mutex<"], "sync.Mutex.Lock"),
        (&["sync::barrier::"], "barrier"),
        (&["batch_semaphore::", "sync::semaphore::"], "semacquire"),
        (&["sync::notify::"], "notify"),
        (&["tokio::time::", "runtime::time::"], "sleep"),
        (
            &["runtime::task::join::JoinHandle", "task::join_set::"],
            "join",
        ),
        (
            &[
                "tokio::io::",
                "tokio::net::",
                "runtime::io::",
                "tokio::process::",
                "tokio::fs::",
                "tokio::signal::",
            ],
            "IO wait",
        ),
        (
            &["task::yield_now", "task::coop::", "runtime::coop::"],
            "runnable",
        ),
    ];
    for (needles, state) in RULES {
        for frame in frames {
            if crate_of(&frame.function) != "tokio" {
                continue;
            }
            if needles.iter().any(|n| frame.function.contains(n)) {
                // A read lock shows Go's RLock.
                if *state == "sync.RWMutex.Lock" && frame.function.contains("::read") {
                    return "sync.RWMutex.RLock";
                }
                return state;
            }
        }
    }
    "waiting"
}

/// Application frames in a branch, and all of them: the primary branch maximises this.
fn branch_score(frames: &[Frame]) -> (usize, usize) {
    let app = frames
        .iter()
        .filter(|f| !is_library_crate(crate_of(&f.function)))
        .count();
    (app, frames.len())
}

/// The frame of the spawner at the recorded `spawn` call site: the first of the spawner's
/// stack at that file and line, else the first outside tokio and the hooks.
fn resolve_created_by(site: &SpawnSite) -> CreatedBy {
    let mut found: Option<(String, usize)> = None;
    let mut fallback: Option<(String, usize)> = None;
    for &ip in &site.stack {
        let frames = symbolize(ip);
        for frame in frames.iter() {
            if frame.line == site.location.line() && frame.file.ends_with(site.location.file()) {
                found = Some((frame.function.clone(), ip));
                break;
            }
            let krate = crate_of(&frame.function);
            if fallback.is_none()
                && !matches!(
                    krate,
                    "tokio" | "contention" | "http_pprof" | "core" | "std"
                )
                && !frame.function.starts_with("0x")
            {
                fallback = Some((frame.function.clone(), ip));
            }
        }
        if found.is_some() {
            break;
        }
    }
    let (function, ip) = found.or(fallback).unwrap_or_default();
    CreatedBy {
        function,
        file: site.location.file(),
        line: site.location.line(),
        ip,
        parent: site.parent.map(id_number),
    }
}

/// Symbolises the dump, chooses each task's primary branch and names its state.
pub fn analyze(tasks: &[TaskStack]) -> Vec<Goroutine> {
    let mut out: Vec<Goroutine> = tasks
        .iter()
        .map(|task| {
            let mut branches: Vec<(Branch, (usize, usize))> = task
                .branches
                .iter()
                .map(|stack| {
                    let frames = branch_frames(stack);
                    let branch = Branch {
                        stack: stack.clone(),
                        state: wait_state(&frames),
                    };
                    (branch, branch_score(&frames))
                })
                .collect();
            // Stable: among equals, tokio's first branch stays first.
            if let Some(best) = (0..branches.len()).max_by_key(|&i| (branches[i].1, usize::MAX - i))
            {
                branches[..=best].rotate_right(1);
            }
            let branches: Vec<Branch> = branches.into_iter().map(|(b, _)| b).collect();
            let state = if task.running {
                "running"
            } else {
                branches.first().map_or("runnable", |b| b.state)
            };
            Goroutine {
                id: id_number(task.id),
                branches,
                state,
                created_by: task.spawn.as_ref().map(resolve_created_by),
            }
        })
        .collect();
    out.sort_by_key(|g| g.id);
    out
}

/// Labels of a task's samples.
fn labels(g: &Goroutine, primary: bool) -> Vec<(String, String)> {
    let mut labels = vec![
        ("state".to_owned(), g.state.to_owned()),
        (
            "branch".to_owned(),
            if primary { "primary" } else { "secondary" }.to_owned(),
        ),
    ];
    if let Some(c) = &g.created_by {
        labels.push(("created_by".to_owned(), c.label()));
    }
    labels
}

/// The goroutine profile: `goroutine/count` (one per task, on its primary branch; the default)
/// and `branch/count` (one per pending branch).
pub fn profile(goroutines: &[Goroutine]) -> RawProfile {
    let mut profile = RawProfile::new(
        "goroutine",
        vec![("goroutine", "count"), ("branch", "count")],
        ("goroutine", "count"),
        1,
        TextLayout::Count,
    );
    profile.default_sample_type = Some("goroutine");
    profile.trim = Some(is_dump_frame);
    profile.comments.push(
        "goroutine: one per tokio task, on its primary pending branch (most application \
         frames); branch: one per pending leaf future (select!/join! branches)"
            .to_owned(),
    );
    let mut samples = Vec::new();
    for g in goroutines {
        if g.branches.is_empty() {
            samples.push(RawSample {
                stack: Vec::new(),
                values: vec![1, 0],
                labels: labels(g, true),
            });
        }
        for (i, b) in g.branches.iter().enumerate() {
            samples.push(RawSample {
                stack: b.stack.clone(),
                values: vec![i64::from(i == 0), 1],
                labels: labels(g, i == 0),
            });
        }
    }
    profile.samples = merge_samples(samples);
    profile
}

/// Go's `debug=1` form: `goroutine profile: total N`, then one record per distinct primary
/// stack (and state, spawn site) with its count, a `# labels:` line and the frames.
pub fn count_text(goroutines: &[Goroutine]) -> String {
    let mut groups: HashMap<(Vec<usize>, &'static str, String), i64> = HashMap::new();
    for g in goroutines {
        let stack = g
            .branches
            .first()
            .map(|b| b.stack.clone())
            .unwrap_or_default();
        let created = g
            .created_by
            .as_ref()
            .map(CreatedBy::label)
            .unwrap_or_default();
        *groups.entry((stack, g.state, created)).or_default() += 1;
    }
    let mut groups: Vec<_> = groups.into_iter().collect();
    groups.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let mut out = String::new();
    let _ = writeln!(out, "goroutine profile: total {}", goroutines.len());
    for ((stack, state, created), count) in groups {
        let entries = symbolize_stack(&stack, Some(is_dump_frame));
        let _ = write!(out, "{count} @");
        for e in &entries {
            let _ = write!(out, " {:#x}", e.ip);
        }
        out.push('\n');
        let mut labels = format!("{{\"state\":{:?}", state);
        if !created.is_empty() {
            let _ = write!(labels, ", \"created_by\":{created:?}");
        }
        labels.push('}');
        let _ = writeln!(out, "# labels: {labels}");
        for e in &entries {
            for f in e.kept() {
                let offset = offset_in_function(e.ip, f.entry);
                let _ = writeln!(
                    out,
                    "#\t{:#x}\t{}+{:#x}\t{}:{}",
                    e.ip, f.function, offset, f.file, f.line
                );
            }
        }
        out.push('\n');
    }
    out
}

/// Go's `debug=2` form: every task, `goroutine N [state]:`, its primary branch, then each other
/// pending branch after a `-- branch i of n [state]:` line, then `created by`.
pub fn full_dump_text(goroutines: &[Goroutine]) -> String {
    let mut out = String::new();
    for g in goroutines {
        let _ = writeln!(out, "goroutine {} [{}]:", g.id, g.state);
        let n = g.branches.len();
        for (i, branch) in g.branches.iter().enumerate() {
            if i > 0 {
                let _ = writeln!(out, "-- branch {} of {n} [{}]:", i + 1, branch.state);
            }
            for entry in symbolize_stack(&branch.stack, Some(is_dump_frame)) {
                for frame in entry.kept() {
                    let offset = offset_in_function(entry.ip, frame.entry);
                    let _ = writeln!(out, "{}(...)", frame.function);
                    let _ = writeln!(out, "\t{}:{} +{:#x}", frame.file, frame.line, offset);
                }
            }
        }
        if let Some(c) = &g.created_by {
            let function = if c.function.is_empty() {
                "?"
            } else {
                &c.function
            };
            match c.parent {
                Some(parent) => {
                    let _ = writeln!(out, "created by {function} in goroutine {parent}");
                }
                None => {
                    let _ = writeln!(out, "created by {function}");
                }
            }
            let offset = symbolize(c.ip)
                .last()
                .map_or(0, |f| offset_in_function(c.ip, f.entry));
            let _ = writeln!(out, "\t{}:{} +{:#x}", c.file, c.line, offset);
        }
        out.push('\n');
    }
    out
}

/// The last finished dump, reused for [`CACHE_FOR`].
type Cached = Option<(Instant, Arc<Vec<Goroutine>>)>;

/// Serialises dumps; holds the last result.
fn gate() -> &'static tokio::sync::Mutex<Cached> {
    static GATE: OnceLock<tokio::sync::Mutex<Cached>> = OnceLock::new();
    GATE.get_or_init(|| tokio::sync::Mutex::new(None))
}

/// How long the last dump took from request to result, nanoseconds.
static LAST_PAUSE_NANOS: AtomicU64 = AtomicU64::new(0);

/// Set while tokio still works on a dump we asked for, including one we stopped waiting for.
static PENDING: AtomicBool = AtomicBool::new(false);

/// Clears [`PENDING`] when the dump thread ends, however it ends.
struct PendingGuard;

impl Drop for PendingGuard {
    fn drop(&mut self) {
        PENDING.store(false, Ordering::Release);
    }
}

/// Dumps every task of `runtime`, analysed, or fails after `timeout`; see the module docs for
/// the guards. Concurrent and repeated callers within [`CACHE_FOR`] share one dump.
pub async fn dump_tasks(
    runtime: &Handle,
    timeout: Duration,
) -> Result<Arc<Vec<Goroutine>>, PprofError> {
    dump_tasks_since(runtime, timeout, None).await
}

/// [`dump_tasks`], but a cached dump older than `not_before` is not reused: the second dump of a
/// `goroutine?seconds=N` delta must be taken after the window began, or the delta is empty.
pub async fn dump_tasks_since(
    runtime: &Handle,
    timeout: Duration,
    not_before: Option<Instant>,
) -> Result<Arc<Vec<Goroutine>>, PprofError> {
    let deadline = Instant::now() + timeout;
    let gate = tokio::time::timeout(timeout, gate().lock())
        .await
        .map_err(|_| PprofError::TaskDumpTimeout)?;
    let mut gate = gate;
    if let Some((at, cached)) = gate.as_ref() {
        // Reused for a second, and longer after a long pause: the workers stand still for at
        // most a tenth of the time, however often the endpoint is polled.
        let pause = Duration::from_nanos(LAST_PAUSE_NANOS.load(Ordering::Relaxed));
        let fresh_enough = not_before.is_none_or(|t| *at >= t);
        if fresh_enough && at.elapsed() < CACHE_FOR.max(pause * 10) {
            return Ok(Arc::clone(cached));
        }
    }
    if PENDING.load(Ordering::Acquire) {
        return Err(PprofError::TaskDumpRefused(
            "an earlier dump that timed out is still pending in the runtime".into(),
        ));
    }
    wait_for_short_polls(deadline).await?;
    let running = task_hooks::running_tasks();
    let asked = Instant::now();
    let dump = request_dump(runtime, deadline).await?;
    // From the request to the result: an upper bound of the time the workers stood still.
    let pause = asked.elapsed();
    LAST_PAUSE_NANOS.store(
        u64::try_from(pause.as_nanos()).unwrap_or(u64::MAX),
        Ordering::Relaxed,
    );
    tracing::debug!(pause_ms = pause.as_millis() as u64, "pprof: task dump");
    heal_after_dump(runtime);
    let spawns = task_hooks::spawn_sites();
    // Resolving walks DWARF: keep it off the async workers, and out of the heap profile (the
    // profiler's own allocations must not show up as the service's).
    let goroutines = tokio::task::spawn_blocking(move || {
        crate::symbolize::unsampled(|| resolve_dump(&dump, &running, &spawns))
    })
    .await
    .map_err(|e| PprofError::Collect(format!("task dump: {e}")))?;
    let goroutines = Arc::new(goroutines);
    *gate = Some((Instant::now(), Arc::clone(&goroutines)));
    Ok(goroutines)
}

/// The dump's tasks with their stacks resolved to addresses, analysed.
fn resolve_dump(
    dump: &tokio::runtime::Dump,
    running: &[Id],
    spawns: &HashMap<Id, SpawnSite>,
) -> Vec<Goroutine> {
    let tasks: Vec<TaskStack> = dump
        .tasks()
        .iter()
        .map(|task| TaskStack {
            id: task.id(),
            branches: task
                .trace()
                .resolve_backtraces()
                .iter()
                .map(|bt| bt.frames().map(|f| f.ip() as usize).collect())
                .collect(),
            running: running.contains(&task.id()),
            spawn: spawns.get(&task.id()).cloned(),
        })
        .collect();
    analyze(&tasks)
}

/// Workers that are unparked, made no progress during `window` (no poll seen by the poll hooks,
/// no change in tokio's poll and park counts) and are not inside a poll: standing in the
/// runtime's own code, which after a dump means tokio's `trace_end` barrier.
pub fn stuck_workers(runtime: &Handle, window: Duration) -> Vec<usize> {
    let metrics = runtime.metrics();
    let progress = |i: usize| {
        (
            metrics.worker_poll_count(i),
            metrics.worker_park_unpark_count(i),
        )
    };
    let workers = metrics.num_workers();
    let before: Vec<(u64, u64)> = (0..workers).map(progress).collect();
    let polls = PollSnapshot::take();
    std::thread::sleep(window);
    if !polls.long_polls().is_empty() {
        // A task holds its worker: that is guard 3's case, and no dump may start now.
        return Vec::new();
    }
    let active = polls.active_workers();
    (0..workers)
        .filter(|&i| {
            let now = progress(i);
            // tokio publishes an odd park/unpark count while the worker is parked.
            let parked = now.1 % 2 == 1;
            now == before[i] && !parked && !active.contains(&i)
        })
        .collect()
}

/// Guard 5 (module docs): after a dump, on a thread of its own (a stuck worker may hold tasks
/// this would otherwise wait behind), releases a worker left at the `trace_end` barrier by
/// asking for further dumps, at most [`MAX_HEALS`]. Needs the poll hooks to tell a stuck worker
/// from one inside a long poll; without them it does nothing.
fn heal_after_dump(runtime: &Handle) {
    if !task_hooks::installed() || runtime.runtime_flavor() != RuntimeFlavor::MultiThread {
        return;
    }
    let handle = runtime.clone();
    let _ = std::thread::Builder::new()
        .name("pprof-dump-heal".into())
        .spawn(move || {
            for _ in 0..MAX_HEALS {
                let stuck = stuck_workers(&handle, STUCK_AFTER);
                if stuck.is_empty() {
                    return;
                }
                tracing::warn!(
                    ?stuck,
                    "pprof: a task dump left worker(s) at tokio's trace barrier; dumping again \
                     to release them (tokio PR #8370)"
                );
                if PENDING.swap(true, Ordering::AcqRel) {
                    return;
                }
                let _pending = PendingGuard;
                let Ok(rt) = tokio::runtime::Builder::new_current_thread().build() else {
                    return;
                };
                // Not cancelled on a timeout: tokio would go on asking (guard 2); PENDING
                // refuses other dumps until this one is done.
                drop(rt.block_on(handle.dump()));
            }
        });
}

/// Guard 3: waits until no worker has been inside one poll for [`LONG_POLL`].
async fn wait_for_short_polls(deadline: Instant) -> Result<(), PprofError> {
    if !task_hooks::installed() {
        return Ok(());
    }
    loop {
        let before = PollSnapshot::take();
        tokio::time::sleep(LONG_POLL).await;
        let long = before.long_polls();
        if long.is_empty() {
            return Ok(());
        }
        if Instant::now() + LONG_POLL >= deadline {
            let ids: Vec<String> = long.iter().map(|id| id.to_string()).collect();
            return Err(PprofError::TaskDumpRefused(format!(
                "task(s) {} kept a worker in one poll for over {} ms; a dump now could wedge \
                 the runtime",
                ids.join(", "),
                LONG_POLL.as_millis()
            )));
        }
    }
}

/// Guards 2 and 4: asks tokio for the dump from a thread of our own and waits until `deadline`.
async fn request_dump(
    runtime: &Handle,
    deadline: Instant,
) -> Result<tokio::runtime::Dump, PprofError> {
    let remaining = deadline.saturating_duration_since(Instant::now());
    if runtime.runtime_flavor() == RuntimeFlavor::CurrentThread {
        // A current-thread runtime can only be dumped from inside itself; there is no barrier.
        return tokio::time::timeout(remaining, runtime.dump())
            .await
            .map_err(|_| PprofError::TaskDumpTimeout);
    }
    let (tx, rx) = tokio::sync::oneshot::channel();
    let handle = runtime.clone();
    PENDING.store(true, Ordering::Release);
    let spawned = std::thread::Builder::new()
        .name("pprof-task-dump".into())
        .spawn(move || {
            let _pending = PendingGuard;
            let Ok(rt) = tokio::runtime::Builder::new_current_thread().build() else {
                return;
            };
            let dump = rt.block_on(handle.dump());
            let _ = tx.send(dump);
        });
    if let Err(e) = spawned {
        PENDING.store(false, Ordering::Release);
        return Err(PprofError::Collect(format!("task dump thread: {e}")));
    }
    match tokio::time::timeout(remaining, rx).await {
        Ok(Ok(dump)) => Ok(dump),
        Ok(Err(_)) => Err(PprofError::Collect("task dump thread ended early".into())),
        Err(_) => Err(PprofError::TaskDumpTimeout),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An instrumented two-worker runtime whose first worker to unpark after `hold` is set
    /// stands still for `hold_for` outside any poll, as a worker left at `trace_end` does.
    fn runtime_with_a_holdable_worker(
        hold: Arc<AtomicBool>,
        hold_for: Duration,
    ) -> tokio::runtime::Runtime {
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        builder.worker_threads(2).enable_all();
        task_hooks::instrument(&mut builder)
            .on_thread_unpark(move || {
                if hold.swap(false, Ordering::AcqRel) {
                    std::thread::sleep(hold_for);
                }
            })
            .build()
            .expect("runtime")
    }

    #[test]
    fn a_delta_window_never_ends_on_a_dump_cached_before_it_began() {
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        builder.worker_threads(2).enable_all();
        let rt = task_hooks::instrument(&mut builder)
            .build()
            .expect("runtime");
        let handle = rt.handle().clone();
        let timeout = Duration::from_secs(10);
        let first = rt
            .block_on(dump_tasks(&handle, timeout))
            .expect("first dump");
        let window_start = Instant::now();
        let (tx, rx) = tokio::sync::watch::channel(());
        let waiting: Vec<_> = (0..5)
            .map(|_| {
                let mut rx = rx.clone();
                rt.spawn(async move {
                    let _ = rx.changed().await;
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(50));
        // Within CACHE_FOR the plain call answers from the cache: the five are not there.
        let cached = rt.block_on(dump_tasks(&handle, timeout)).expect("cached");
        assert_eq!(cached.len(), first.len());
        let fresh = rt
            .block_on(dump_tasks_since(&handle, timeout, Some(window_start)))
            .expect("fresh dump");
        assert!(
            fresh.len() >= first.len() + 5,
            "{} tasks before, {} after spawning five",
            first.len(),
            fresh.len()
        );
        drop(tx);
        for task in waiting {
            rt.block_on(task).expect("task");
        }
    }

    #[test]
    fn a_worker_standing_still_outside_a_poll_is_stuck_and_idle_or_busy_ones_are_not() {
        let hold = Arc::new(AtomicBool::new(false));
        let rt = runtime_with_a_holdable_worker(Arc::clone(&hold), Duration::from_secs(2));
        let handle = rt.handle().clone();
        // Every worker polls once, then the runtime idles: parked workers are not stuck.
        for _ in 0..8 {
            rt.block_on(rt.spawn(async { tokio::task::yield_now().await }))
                .expect("task");
        }
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(
            stuck_workers(&handle, Duration::from_millis(300)),
            Vec::<usize>::new()
        );

        // A task blocking its worker is guard 3's case, never "stuck".
        let blocker = rt.spawn(async { std::thread::sleep(Duration::from_millis(900)) });
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(
            stuck_workers(&handle, Duration::from_millis(300)),
            Vec::<usize>::new()
        );
        rt.block_on(blocker).expect("blocker");

        // A worker woken and then held in the runtime's own code: stuck.
        std::thread::sleep(Duration::from_millis(100));
        hold.store(true, Ordering::Release);
        let woken = rt.spawn(async {});
        std::thread::sleep(Duration::from_millis(150));
        let stuck = stuck_workers(&handle, Duration::from_millis(500));
        assert_eq!(stuck.len(), 1, "{stuck:?}");
        rt.block_on(woken).expect("woken");
    }

    fn frame(function: &str) -> Frame {
        Frame {
            function: function.to_owned(),
            system_name: String::new(),
            file: String::new(),
            line: 0,
            entry: 0,
        }
    }

    #[test]
    fn crates_of_paths_and_trait_impls() {
        assert_eq!(
            crate_of("trading_api::api::create_order::{{closure}}"),
            "trading_api"
        );
        assert_eq!(
            crate_of("<tokio::time::sleep::Sleep as core::future::future::Future>::poll"),
            "tokio"
        );
        assert_eq!(
            crate_of("<&mut F as core::future::Future>::poll"),
            "F as core"
        );
    }

    #[test]
    fn states_from_leaf_frames() {
        let cases: &[(&[&str], &str)] = &[
            (
                &[
                    "tokio::sync::batch_semaphore::Acquire::poll",
                    "tokio::sync::mpsc::bounded::Sender<T>::send::{{closure}}",
                    "app::produce",
                ],
                "chan send",
            ),
            (
                &[
                    "tokio::sync::mpsc::chan::Rx<T,S>::recv::{{closure}}",
                    "app::consume",
                ],
                "chan receive",
            ),
            (
                &["<tokio::sync::oneshot::Receiver<T> as core::future::future::Future>::poll"],
                "chan receive",
            ),
            (
                &["tokio::sync::batch_semaphore::Acquire::poll", "tokio::sync::mutex::Mutex<T>::lock::{{closure}}"],
                "sync.Mutex.Lock",
            ),
            (
                &["tokio::sync::batch_semaphore::Acquire::poll", "tokio::sync::rwlock::RwLock<T>::read::{{closure}}"],
                "sync.RWMutex.RLock",
            ),
            (
                &["tokio::sync::batch_semaphore::Acquire::poll", "tokio::sync::semaphore::Semaphore::acquire::{{closure}}"],
                "semacquire",
            ),
            (
                &["<tokio::sync::notify::Notified as core::future::future::Future>::poll"],
                "notify",
            ),
            (
                &["<tokio::time::sleep::Sleep as core::future::future::Future>::poll"],
                "sleep",
            ),
            (
                &["tokio::runtime::io::registration::Registration::poll_ready"],
                "IO wait",
            ),
            (
                &["<tokio::runtime::task::join::JoinHandle<T> as core::future::future::Future>::poll"],
                "join",
            ),
            (&["tokio::task::yield_now::yield_now::{{closure}}"], "runnable"),
            (&["app::custom_future::poll"], "waiting"),
            // A function of ours named like a tokio path is not a tokio leaf.
            (&["app::sync::mpsc::thing"], "waiting"),
        ];
        for (functions, want) in cases {
            let frames: Vec<Frame> = functions.iter().map(|f| frame(f)).collect();
            assert_eq!(wait_state(&frames), *want, "{functions:?}");
        }
    }

    #[test]
    fn primary_branch_has_most_application_frames() {
        let shutdown = [
            "tokio::sync::watch::Receiver<T>::changed::{{closure}}",
            "axum::serve::Serve::run::{{closure}}",
        ];
        let request = [
            "tokio::sync::batch_semaphore::Acquire::poll",
            "trading_api::venue::Venue::wait_durable::{{closure}}",
            "trading_api::api::create_order::{{closure}}",
            "hyper::server::conn::http1::Connection::poll",
        ];
        let s: Vec<Frame> = shutdown.iter().map(|f| frame(f)).collect();
        let r: Vec<Frame> = request.iter().map(|f| frame(f)).collect();
        assert!(branch_score(&r) > branch_score(&s));
        let idle_io: Vec<Frame> = [
            "tokio::runtime::io::registration::Registration::poll_ready",
            "hyper::proto::h1::io::Buffered::poll_read_from_io",
            "hyper::proto::h1::conn::Conn::poll_read",
            "hyper::server::conn::http1::Connection::poll",
        ]
        .iter()
        .map(|f| frame(f))
        .collect();
        // Neither has application frames: the deeper one (the connection) wins.
        assert!(branch_score(&idle_io) > branch_score(&s));
    }

    #[test]
    fn profile_counts_tasks_once_and_branches_all() {
        let g = |id, branches: usize| Goroutine {
            id,
            branches: (0..branches)
                .map(|i| Branch {
                    stack: vec![0x1000 + i],
                    state: "IO wait",
                })
                .collect(),
            state: "IO wait",
            created_by: None,
        };
        let goroutines = vec![g(1, 2), g(2, 1), g(3, 0), g(4, 3)];
        let p = profile(&goroutines);
        let total = |i: usize| p.samples.iter().map(|s| s.values[i]).sum::<i64>();
        assert_eq!(total(0), 4, "one goroutine per task");
        assert_eq!(total(1), 6, "one branch per pending leaf");
        let text = count_text(&goroutines);
        assert!(text.starts_with("goroutine profile: total 4\n"), "{text}");
        let counted: i64 = text
            .lines()
            .filter_map(|l| l.split_once(" @"))
            .filter_map(|(n, _)| n.parse::<i64>().ok())
            .sum();
        assert_eq!(counted, 4);
    }
}
