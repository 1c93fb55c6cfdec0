//! Profiled locks and blocking waits, recorded the way Go's runtime records its mutex and block
//! profiles, so `go tool pprof` can read them after `http-pprof` encodes them.
//!
//! - [`stack`]: cheap capture of the caller's return addresses by walking frame pointers.
//! - [`profile`]: [`ContentionProfile`], contention events aggregated per stack, with sampling.
//! - [`mutex`]: [`ProfiledRawMutex`], a `lock_api::RawMutex` over parking_lot's that records
//!   sampled contended acquisitions into [`mutex_profile`].
//! - [`block`]: [`blocked`] and [`blocked_sync`], timers around our own waits (channel receive,
//!   condvar) that record into [`block_profile`].
//!
//! Architecture invariant: this crate knows nothing about HTTP, protobuf or symbolisation; it
//! hands out raw return addresses and lets the reader of a profile name them.

pub mod block;
pub mod mutex;
pub mod profile;
pub mod stack;

pub use block::{block_profile, blocked, blocked_sync, set_block_profile_rate};
pub use mutex::{
    const_mutex, mutex_profile, set_mutex_profile_fraction, Mutex, MutexGuard, ProfiledRawMutex,
};
pub use profile::{ContentionProfile, ContentionRecord, ContentionSnapshot};
pub use stack::RawStack;
