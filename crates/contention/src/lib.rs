//! Profiled locks and blocking waits, recorded the way Go's runtime records its mutex, block and
//! threadcreate profiles, so `go tool pprof` can read them after `http-pprof` encodes them.
//!
//! - [`stack`]: cheap capture of the caller's return addresses by walking frame pointers.
//! - [`profile`]: [`ContentionProfile`], contention events aggregated per stack, with sampling.
//! - [`mutex`]: [`ProfiledRawMutex`], a `lock_api::RawMutex` over parking_lot's that charges
//!   waiting to the unlocker in [`mutex_profile`] and to the waiter in [`block_profile`].
//! - [`condvar`]: [`Condvar`] for [`Mutex`], waits timed into [`block_profile`].
//! - [`block`]: [`blocked`] and [`blocked_sync`], timers around any other wait (channel send and
//!   receive, semaphore acquire, oneshot) that record into [`block_profile`].
//! - [`threads`]: [`threadcreate_profile`], the stack that created each thread.
//!
//! Architecture invariant: this crate knows nothing about HTTP, protobuf or symbolisation; it
//! hands out raw return addresses and lets the reader of a profile name them.

pub mod block;
pub mod condvar;
pub mod mutex;
pub mod profile;
pub mod stack;
pub mod threads;

pub use block::{block_profile, blocked, blocked_sync, set_block_profile_rate};
pub use condvar::{Condvar, WaitTimeoutResult};
pub use mutex::{
    const_mutex, mutex_profile, set_mutex_profile_fraction, Mutex, MutexGuard, ProfiledRawMutex,
};
pub use profile::{ContentionProfile, ContentionRecord, ContentionSnapshot};
pub use stack::RawStack;
pub use threads::threadcreate_profile;

/// Unit tests change the process-wide sampling settings: one at a time.
#[cfg(test)]
pub(crate) static TEST_SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
