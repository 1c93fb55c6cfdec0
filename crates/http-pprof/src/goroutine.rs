//! Goroutine profile: a tokio task dump (`Handle::dump`, tokio's `taskdump` feature, built with
//! `--cfg tokio_unstable`), one stack per task, aggregated per distinct stack for the protobuf
//! and `debug=1` forms, listed task by task for `debug=2`.
//!
//! A dump asks every worker to stop at a yield point, so it is always bounded by a timeout: a
//! worker stuck in CPU-bound code would otherwise hold the request forever.

use std::fmt::Write as _;
use std::time::Duration;

use crate::error::PprofError;
use crate::raw_profile::{merge_samples, offset_in_function, RawProfile, RawSample, TextLayout};
use crate::symbolize::{symbolize_stack, Frame};

/// One task of a dump.
#[derive(Debug, Clone)]
pub struct TaskStack {
    /// Tokio's task id.
    pub id: String,
    /// The task's stack(s), innermost first: one per leaf future being polled (a `join!` has
    /// several).
    pub stacks: Vec<Vec<usize>>,
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

/// Dumps every task of `runtime`, or fails after `timeout`.
pub async fn dump_tasks(
    runtime: &tokio::runtime::Handle,
    timeout: Duration,
) -> Result<Vec<TaskStack>, PprofError> {
    let dump = tokio::time::timeout(timeout, runtime.dump())
        .await
        .map_err(|_| PprofError::TaskDumpTimeout)?;
    // Resolving walks DWARF: keep it off the async workers.
    tokio::task::spawn_blocking(move || {
        dump.tasks()
            .iter()
            .map(|task| TaskStack {
                id: task.id().to_string(),
                stacks: task
                    .trace()
                    .resolve_backtraces()
                    .iter()
                    .map(|bt| bt.frames().map(|f| f.ip() as usize).collect())
                    .collect(),
            })
            .collect()
    })
    .await
    .map_err(|e| PprofError::Collect(format!("task dump: {e}")))
}

/// The goroutine profile: `goroutine/count`, one sample per distinct stack. A task's first
/// stack stands for it (most tasks have exactly one).
pub fn profile(tasks: &[TaskStack]) -> RawProfile {
    let mut profile = RawProfile::new(
        "goroutine",
        vec![("goroutine", "count")],
        ("goroutine", "count"),
        1,
        TextLayout::Count,
    );
    profile.trim = Some(is_dump_frame);
    profile.samples = merge_samples(
        tasks
            .iter()
            .map(|t| RawSample {
                stack: t.stacks.first().cloned().unwrap_or_default(),
                values: vec![1],
                labels: Vec::new(),
            })
            .collect(),
    );
    profile
}

/// Go's `debug=2` form: every task with its full stack(s).
pub fn full_dump_text(tasks: &[TaskStack]) -> String {
    let mut out = String::new();
    for task in tasks {
        let _ = writeln!(out, "goroutine {} [waiting]:", task.id);
        for (i, stack) in task.stacks.iter().enumerate() {
            if i > 0 {
                let _ = writeln!(out, "-- leaf future {}:", i + 1);
            }
            for entry in symbolize_stack(stack, Some(is_dump_frame)) {
                for frame in entry.kept() {
                    let offset = offset_in_function(entry.ip, frame.entry);
                    let _ = writeln!(out, "{}(...)", frame.function);
                    let _ = writeln!(out, "\t{}:{} +{:#x}", frame.file, frame.line, offset);
                }
            }
        }
        out.push('\n');
    }
    out
}
