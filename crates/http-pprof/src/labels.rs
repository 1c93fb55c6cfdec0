//! Profile labels: key/value pairs attached to CPU samples, like Go's `pprof.Do`, so a profile
//! can be split by request route, order symbol, tenant... (`go tool pprof -tags`,
//! `-tagfocus route=/api/v1/orders`).
//!
//! Labels follow the *task*, not the thread: [`with_labels`] (or
//! [`WithPprofLabels::with_pprof_labels`]) wraps a future, and every time it is polled the
//! task's label set becomes the current thread's, until the poll returns and the previous set is
//! put back. Wrapping inside a labelled future adds to its labels (a key set again takes the
//! inner value), as nested `pprof.Do` calls do. Work the future hands to another task (a
//! `tokio::spawn`, a channel to a worker thread) is not labelled unless that work is wrapped too.
//!
//! The CPU sampler's signal handler reads the current set as one `u32` from a thread-local
//! `Cell` (no allocation, no lock) and stores it with the sample; the collector turns ids back
//! into labels. Ids come from an intern table of at most [`MAX_LABEL_SETS`] distinct sets, so
//! a label with unbounded values (an order id) cannot grow memory without bound: once the table
//! is full, new combinations are not recorded (their samples keep the enclosing labels) and
//! [`dropped`] counts them.
//!
//! Heap and allocation samples carry no labels: jemalloc records them in its own sampling code,
//! which has no hook to read ours.

use std::cell::Cell;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{compiler_fence, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};

/// Most distinct label sets (combinations) remembered for the life of the process.
pub const MAX_LABEL_SETS: usize = 4096;

/// An interned, immutable set of labels, sorted by key. Cheap to copy; `LabelSet::default()`
/// is the empty set.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct LabelSet(u32);

type Labels = Arc<[(String, String)]>;

#[derive(Default)]
struct Registry {
    /// Index = id; id 0 is the empty set.
    sets: Vec<Labels>,
    ids: HashMap<Labels, u32>,
    /// (enclosing set, added set) -> merged set, so nested labelling costs one lookup.
    merged: HashMap<(u32, u32), u32>,
}

fn registry() -> std::sync::MutexGuard<'static, Registry> {
    static REGISTRY: OnceLock<Mutex<Registry>> = OnceLock::new();
    REGISTRY
        .get_or_init(|| {
            let empty: Labels = Arc::from(Vec::new());
            Mutex::new(Registry {
                sets: vec![empty.clone()],
                ids: HashMap::from([(empty, 0)]),
                merged: HashMap::new(),
            })
        })
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

static DROPPED: AtomicUsize = AtomicUsize::new(0);

impl Registry {
    /// The id of `labels` (sorted, keys unique), or `None` when the table is full.
    fn intern(&mut self, labels: Vec<(String, String)>) -> Option<u32> {
        if let Some(&id) = self.ids.get(labels.as_slice()) {
            return Some(id);
        }
        if self.sets.len() >= MAX_LABEL_SETS {
            DROPPED.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        let id = u32::try_from(self.sets.len()).ok()?;
        let labels: Labels = labels.into();
        self.sets.push(labels.clone());
        self.ids.insert(labels, id);
        Some(id)
    }
}

impl LabelSet {
    /// Interns `labels`; a key given twice keeps its last value. Returns the empty set (and
    /// counts it in [`dropped`]) once [`MAX_LABEL_SETS`] sets exist.
    pub fn new<K: Into<String>, V: Into<String>>(labels: impl IntoIterator<Item = (K, V)>) -> Self {
        let mut labels: Vec<(String, String)> = labels
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        // Stable sort, then keep the last of equal keys.
        labels.sort_by(|a, b| a.0.cmp(&b.0));
        labels.reverse();
        labels.dedup_by(|later, kept| later.0 == kept.0);
        labels.reverse();
        Self(registry().intern(labels).unwrap_or(0))
    }

    /// The labels of this set, sorted by key.
    pub fn labels(self) -> Vec<(String, String)> {
        resolve(self.0).to_vec()
    }

    /// `self` with `inner`'s labels added (`inner` wins on equal keys).
    fn with(self, inner: Self) -> Self {
        if self.0 == 0 || self.0 == inner.0 {
            return inner;
        }
        if inner.0 == 0 {
            return self;
        }
        let mut registry = registry();
        if let Some(&id) = registry.merged.get(&(self.0, inner.0)) {
            return Self(id);
        }
        let (outer_labels, inner_labels) = (
            registry.sets[self.0 as usize].clone(),
            registry.sets[inner.0 as usize].clone(),
        );
        let mut labels: Vec<(String, String)> = outer_labels
            .iter()
            .filter(|(k, _)| !inner_labels.iter().any(|(ik, _)| ik == k))
            .chain(inner_labels.iter())
            .cloned()
            .collect();
        labels.sort_by(|a, b| a.0.cmp(&b.0));
        // A full table keeps the enclosing labels rather than losing all of them.
        let id = registry.intern(labels).unwrap_or(self.0);
        if registry.merged.len() < MAX_LABEL_SETS {
            registry.merged.insert((self.0, inner.0), id);
        }
        Self(id)
    }
}

/// The labels of set `id` (empty for an unknown id).
pub(crate) fn resolve(id: u32) -> Labels {
    let registry = registry();
    registry
        .sets
        .get(id as usize)
        .unwrap_or(&registry.sets[0])
        .clone()
}

/// Label combinations not recorded because the intern table was full.
pub fn dropped() -> usize {
    DROPPED.load(Ordering::Relaxed)
}

thread_local! {
    /// The label set of the task being polled on this thread (0: none). A const-initialised
    /// `Cell<u32>` has no destructor, so reading it is a plain thread-local load, safe in a
    /// signal handler.
    static CURRENT: Cell<u32> = const { Cell::new(0) };
}

/// The current thread's label set id; async-signal-safe.
pub(crate) fn current_id() -> u32 {
    CURRENT.get()
}

/// The label set in effect on this thread (the polled task's, or empty).
pub fn current() -> LabelSet {
    LabelSet(current_id())
}

/// Makes `id` current and puts the previous set back when dropped, even if the poll panics.
struct Installed(u32);

impl Installed {
    fn install(id: u32) -> Self {
        let previous = CURRENT.replace(id);
        // The signal handler runs on this thread: keep the compiler from moving the store
        // past the work it labels.
        compiler_fence(Ordering::SeqCst);
        Self(previous)
    }
}

impl Drop for Installed {
    fn drop(&mut self) {
        compiler_fence(Ordering::SeqCst);
        CURRENT.set(self.0);
    }
}

/// A future whose polls run with a label set; see [`with_labels`].
#[derive(Debug)]
pub struct Labelled<F> {
    inner: Pin<Box<F>>,
    labels: LabelSet,
    /// The enclosing set seen at the last poll and the merged set installed for it.
    merged: Option<(u32, LabelSet)>,
}

/// Runs `future` with `labels` added to the labels in effect where it is polled: CPU samples
/// taken while it runs carry them.
pub fn with_labels<F: Future>(labels: LabelSet, future: F) -> Labelled<F> {
    Labelled {
        inner: Box::pin(future),
        labels,
        merged: None,
    }
}

/// `.with_pprof_labels(set)` on any future: [`with_labels`] as a method.
pub trait WithPprofLabels: Future + Sized {
    /// See [`with_labels`].
    fn with_pprof_labels(self, labels: LabelSet) -> Labelled<Self> {
        with_labels(labels, self)
    }
}

impl<F: Future> WithPprofLabels for F {}

impl<F: Future> Future for Labelled<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let outer = current_id();
        let set = match self.merged {
            Some((seen, set)) if seen == outer => set,
            _ => {
                let set = LabelSet(outer).with(self.labels);
                self.merged = Some((outer, set));
                set
            }
        };
        let _installed = Installed::install(set.0);
        self.inner.as_mut().poll(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block_on<F: Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime")
            .block_on(future)
    }

    fn pairs(set: LabelSet) -> Vec<(String, String)> {
        set.labels()
    }

    #[test]
    fn nested_labels_add_and_override_and_are_restored() {
        let route = LabelSet::new([("route", "/api/v1/orders"), ("kind", "outer")]);
        let symbol = LabelSet::new([("symbol", "BTC-USD"), ("kind", "inner")]);
        let (inside, outside_inner, after) = block_on(with_labels(route, async move {
            let inside = with_labels(symbol, async { current() }).await;
            (inside, current(), current())
        }));
        let expect = |v: &[(&str, &str)]| -> Vec<(String, String)> {
            v.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert_eq!(
            pairs(inside),
            expect(&[
                ("kind", "inner"),
                ("route", "/api/v1/orders"),
                ("symbol", "BTC-USD")
            ])
        );
        assert_eq!(
            pairs(outside_inner),
            expect(&[("kind", "outer"), ("route", "/api/v1/orders")])
        );
        assert_eq!(after, route);
        assert_eq!(current(), LabelSet::default(), "restored after the poll");
    }

    #[test]
    fn equal_label_sets_intern_to_one_id() {
        let a = LabelSet::new([("b", "2"), ("a", "1")]);
        let b = LabelSet::new([("a", "1"), ("b", "2")]);
        assert_eq!(a, b);
        assert_ne!(a, LabelSet::new([("a", "1")]));
        assert_eq!(
            LabelSet::new([("k", "old"), ("k", "new")]).labels()[0].1,
            "new"
        );
    }
}
