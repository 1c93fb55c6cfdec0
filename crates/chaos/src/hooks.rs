//! Faults only a particular service can produce, through a trait the service implements:
//! trading-api lengthens its book critical section (`lock-contention`) and delays its journal's
//! fsync (`slow-journal`). The chaos crate validates parameters, times the fault and undoes it.

use service_kit::ApiError;

use crate::scenario::{LockContentionParams, SlowJournalParams};

/// Undoes a started fault; called exactly once, when the fault expires or is deleted.
pub type Undo = Box<dyn FnOnce() + Send + 'static>;

/// A service's own faults. Each method starts the fault and returns how to undo it; the default
/// answers that the service does not support the scenario.
pub trait ServiceFaults: Send + Sync + 'static {
    /// Serialize the books behind one lock (when `params.global`), hold the book lock
    /// `params.hold_us` longer per command, and run `params.contenders` background lockers; or,
    /// with `params.design = coarse`, switch to one lock across the whole order path.
    fn lock_contention(&self, params: &LockContentionParams) -> Result<Undo, ApiError> {
        let _ = params;
        Err(unsupported("lock-contention"))
    }

    /// Delay every journal fsync by `params.delay_ms`.
    fn slow_journal(&self, params: &SlowJournalParams) -> Result<Undo, ApiError> {
        let _ = params;
        Err(unsupported("slow-journal"))
    }
}

/// 400 `unsupported_scenario` naming the field `scenario`.
pub fn unsupported(scenario: &str) -> ApiError {
    ApiError::new(
        axum::http::StatusCode::BAD_REQUEST,
        "unsupported_scenario",
        format!("scenario {scenario} is not supported by this service"),
    )
    .with_field("scenario")
}
