//! Task metadata for the goroutine profile, from tokio's runtime hooks (`tokio_unstable`).
//!
//! A task dump alone says where each task is waiting, not where it came from nor whether a worker
//! is stuck in one poll. [`instrument`] adds four hooks to a runtime builder:
//! - spawn/terminate keep, per live task, where it was spawned (`#[track_caller]` location, the
//!   spawning task, the spawner's return addresses) for Go's `created by f in goroutine N`;
//! - before/after poll keep, per worker thread, which task it is polling and a poll counter, so a
//!   dump can tell which tasks were running and, before it starts, whether a worker has been
//!   inside one poll for long (see `goroutine::dump_tasks` for why that matters).
//!
//! Costs: a spawn walks the frame-pointer chain (a few dozen loads) and inserts into a mutexed
//! map; a poll does two uncontended lock/unlock pairs on the worker's own slot. The map is
//! bounded ([`MAX_TRACKED`]); tasks beyond it simply have no `created by`.

use std::collections::HashMap;
use std::panic::Location;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use tokio::task::Id;

/// Most live tasks whose spawn site is remembered; a service with more keeps serving, its newest
/// tasks just lack `created by`.
pub const MAX_TRACKED: usize = 100_000;

/// Return addresses kept from the spawner's stack: enough to get past tokio's spawn functions
/// to the caller.
const SPAWN_FRAMES: usize = 12;

/// Where a task was spawned.
#[derive(Clone, Debug)]
pub struct SpawnSite {
    /// The `tokio::spawn` call site, as tokio reports it (`#[track_caller]`).
    pub location: &'static Location<'static>,
    /// The task that spawned this one; `None` when spawned from outside any task.
    pub parent: Option<Id>,
    /// Return addresses of the spawning thread, innermost first (tokio's spawn functions, then
    /// the spawner); the goroutine profile names the frame at `location` from them.
    pub stack: Vec<usize>,
}

/// A worker thread's current poll: written by the poll hooks, read by the dump.
struct PollSlot {
    /// Odd while a poll is in progress; +1 at every poll start and end.
    seq: AtomicU64,
    /// The task being polled.
    task: Mutex<Option<Id>>,
    /// The runtime worker (tokio's index, as in its metrics) of the latest poll; `usize::MAX`
    /// before the first poll or off a worker.
    worker: AtomicUsize,
}

impl Default for PollSlot {
    fn default() -> Self {
        Self {
            seq: AtomicU64::new(0),
            task: Mutex::new(None),
            worker: AtomicUsize::new(usize::MAX),
        }
    }
}

fn spawns() -> &'static Mutex<HashMap<Id, SpawnSite>> {
    static SPAWNS: OnceLock<Mutex<HashMap<Id, SpawnSite>>> = OnceLock::new();
    SPAWNS.get_or_init(|| Mutex::new(HashMap::new()))
}

/// Every thread that has polled a task (worker threads; a handful per runtime).
fn slots() -> &'static Mutex<Vec<Arc<PollSlot>>> {
    static SLOTS: OnceLock<Mutex<Vec<Arc<PollSlot>>>> = OnceLock::new();
    SLOTS.get_or_init(|| Mutex::new(Vec::new()))
}

thread_local! {
    static SLOT: Arc<PollSlot> = {
        let slot = Arc::new(PollSlot::default());
        if let Ok(mut all) = slots().lock() {
            all.push(Arc::clone(&slot));
        }
        slot
    };
}

static INSTALLED: AtomicBool = AtomicBool::new(false);

/// Adds the spawn, terminate and poll hooks to `builder`. Services build their runtime through
/// `service_kit::runtime`, which calls this.
pub fn instrument(builder: &mut tokio::runtime::Builder) -> &mut tokio::runtime::Builder {
    INSTALLED.store(true, Ordering::Relaxed);
    builder
        .on_task_spawn(|meta| {
            let site = SpawnSite {
                location: meta.spawned_at(),
                parent: tokio::task::try_id(),
                stack: spawner_stack(),
            };
            if let Ok(mut map) = spawns().lock() {
                if map.len() < MAX_TRACKED {
                    map.insert(meta.id(), site);
                }
            }
        })
        .on_task_terminate(|meta| {
            if let Ok(mut map) = spawns().lock() {
                map.remove(&meta.id());
            }
        })
        .on_before_task_poll(|meta| {
            SLOT.with(|slot| {
                if let Ok(mut task) = slot.task.lock() {
                    *task = Some(meta.id());
                }
                let worker = tokio::runtime::worker_index().unwrap_or(usize::MAX);
                slot.worker.store(worker, Ordering::Relaxed);
                slot.seq.fetch_add(1, Ordering::Release);
            });
        })
        .on_after_task_poll(|_| {
            SLOT.with(|slot| {
                slot.seq.fetch_add(1, Ordering::Release);
                if let Ok(mut task) = slot.task.lock() {
                    *task = None;
                }
            });
        })
}

/// Whether some runtime of this process was built with [`instrument`]. Without it the dump has
/// no spawn sites and cannot see long polls.
pub fn installed() -> bool {
    INSTALLED.load(Ordering::Relaxed)
}

#[inline(never)]
fn spawner_stack() -> Vec<usize> {
    let mut ips = contention::RawStack::capture().ips().to_vec();
    ips.truncate(SPAWN_FRAMES);
    ips
}

/// The spawn site of every live task that has one.
pub fn spawn_sites() -> HashMap<Id, SpawnSite> {
    spawns().lock().map(|m| m.clone()).unwrap_or_default()
}

/// Tasks being polled right now.
pub fn running_tasks() -> Vec<Id> {
    let slots = slots().lock().map(|s| s.clone()).unwrap_or_default();
    slots
        .iter()
        .filter(|s| s.seq.load(Ordering::Acquire) % 2 == 1)
        .filter_map(|s| s.task.lock().ok().and_then(|t| *t))
        .collect()
}

/// A snapshot of every worker's poll counter; [`PollSnapshot::long_polls`] compares two.
#[derive(Clone, Debug)]
pub struct PollSnapshot(Vec<(Arc<PollSlotRef>, u64)>);

/// Opaque handle on one worker's slot (keeps the slot alive between two snapshots).
pub struct PollSlotRef(Arc<PollSlot>);

impl std::fmt::Debug for PollSlotRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PollSlotRef")
    }
}

impl PollSnapshot {
    /// Reads every worker's poll counter now.
    pub fn take() -> Self {
        let slots = slots().lock().map(|s| s.clone()).unwrap_or_default();
        PollSnapshot(
            slots
                .into_iter()
                .map(|s| {
                    let seq = s.seq.load(Ordering::Acquire);
                    (Arc::new(PollSlotRef(s)), seq)
                })
                .collect(),
        )
    }

    /// Workers (tokio's indices) that started or finished a poll since `self`, or are inside one
    /// now: alive, whatever their metrics (submitted only every 61 polls) say yet.
    pub fn active_workers(&self) -> Vec<usize> {
        self.0
            .iter()
            .filter(|(slot, seq)| {
                let now = slot.0.seq.load(Ordering::Acquire);
                now != *seq || now % 2 == 1
            })
            .map(|(slot, _)| slot.0.worker.load(Ordering::Relaxed))
            .filter(|&w| w != usize::MAX)
            .collect()
    }

    /// Tasks that were inside one and the same poll at `self` and are still in it now: their
    /// worker has not reached a yield point in between.
    pub fn long_polls(&self) -> Vec<Id> {
        self.0
            .iter()
            .filter(|(slot, seq)| seq % 2 == 1 && slot.0.seq.load(Ordering::Acquire) == *seq)
            .filter_map(|(slot, _)| slot.0.task.lock().ok().and_then(|t| *t))
            .collect()
    }
}

/// Tokio's task id as the number it prints.
pub fn id_number(id: Id) -> u64 {
    id.to_string().parse().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn records_spawn_sites_and_forgets_finished_tasks() {
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        builder.worker_threads(2).enable_all();
        let rt = instrument(&mut builder).build().expect("runtime");
        let (id, line, parent, seen_while_alive) = rt.block_on(async {
            let (tx, rx) = tokio::sync::oneshot::channel::<()>();
            let outer = tokio::spawn(async move {
                let parent = tokio::task::id();
                let line = line!() + 1;
                let inner = tokio::spawn(async move { rx.await.ok() });
                (inner, line, parent)
            });
            let (inner, line, parent) = outer.await.expect("outer");
            let id = inner.id();
            let seen = spawn_sites().get(&id).cloned();
            tx.send(()).ok();
            inner.await.expect("inner");
            (id, line, parent, seen)
        });
        let site = seen_while_alive.expect("spawn site recorded");
        assert_eq!(site.location.line(), line);
        assert!(site.location.file().ends_with("task_hooks.rs"));
        assert_eq!(site.parent, Some(parent));
        assert!(!site.stack.is_empty());
        // The terminate hook ran by the time the JoinHandle resolved, or shortly after.
        let mut gone = false;
        for _ in 0..100 {
            if !spawn_sites().contains_key(&id) {
                gone = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(gone, "finished task still tracked");
    }

    #[test]
    fn a_blocking_poll_is_seen_as_long() {
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        builder.worker_threads(2).enable_all();
        let rt = instrument(&mut builder).build().expect("runtime");
        let (started_tx, started_rx) = std::sync::mpsc::channel();
        let blocker = rt.spawn(async move {
            started_tx.send(()).ok();
            // Deliberately blocks its worker, as a synchronous fsync or a spin would.
            std::thread::sleep(Duration::from_millis(300));
        });
        started_rx.recv().expect("started");
        let before = PollSnapshot::take();
        std::thread::sleep(Duration::from_millis(50));
        let long = before.long_polls();
        assert_eq!(long, vec![blocker.id()]);
        assert!(running_tasks().contains(&blocker.id()));
        rt.block_on(blocker).expect("blocker");
        let before = PollSnapshot::take();
        std::thread::sleep(Duration::from_millis(20));
        assert!(before.long_polls().is_empty());
    }
}
