//! The scenarios, their parameters (with defaults and limits) and the request that starts one:
//!
//! ```json
//! {"scenario": "cpu-burn", "params": {"threads": 2, "duty_cycle": 0.5}, "duration_secs": 30}
//! ```
//!
//! Parameters are validated here, once; bad input becomes a 400 naming `params.<field>`.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use service_kit::ApiError;

/// Longest fault accepted, seconds: an hour is a long experiment; more is probably a typo.
pub const MAX_DURATION_SECS: f64 = 3600.0;

/// Every fault the admin API knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scenario {
    /// Threads spinning at a duty cycle.
    CpuBurn,
    /// Heap growing at a set rate, freed when the fault ends.
    MemoryLeak,
    /// Tasks that never finish (the goroutine leak), ended when the fault ends.
    TaskLeak,
    /// Delay injected into request handling.
    Latency,
    /// 5xx answers injected into request handling.
    Errors,
    /// Many short-lived allocations.
    AllocChurn,
    /// serde_json round trips of a large value.
    JsonHeavy,
    /// A regex compiled for every use.
    RegexHot,
    /// `format!`/`to_string` churn through `dyn Display`.
    FmtHeavy,
    /// SipHash of large keys in `HashMap` inserts.
    HashHeavy,
    /// Service hook: a longer, serialized book critical section.
    LockContention,
    /// Service hook: slow journal fsync.
    SlowJournal,
}

impl Scenario {
    /// Every scenario, for pre-registering the gauge's label values.
    pub const ALL: [Scenario; 12] = [
        Scenario::CpuBurn,
        Scenario::MemoryLeak,
        Scenario::TaskLeak,
        Scenario::Latency,
        Scenario::Errors,
        Scenario::AllocChurn,
        Scenario::JsonHeavy,
        Scenario::RegexHot,
        Scenario::FmtHeavy,
        Scenario::HashHeavy,
        Scenario::LockContention,
        Scenario::SlowJournal,
    ];

    /// The kebab-case name used in the API and the metric label.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::CpuBurn => "cpu-burn",
            Scenario::MemoryLeak => "memory-leak",
            Scenario::TaskLeak => "task-leak",
            Scenario::Latency => "latency",
            Scenario::Errors => "errors",
            Scenario::AllocChurn => "alloc-churn",
            Scenario::JsonHeavy => "json-heavy",
            Scenario::RegexHot => "regex-hot",
            Scenario::FmtHeavy => "fmt-heavy",
            Scenario::HashHeavy => "hash-heavy",
            Scenario::LockContention => "lock-contention",
            Scenario::SlowJournal => "slow-journal",
        }
    }
}

/// The body of `POST /admin/chaos`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultRequest {
    /// Which fault.
    pub scenario: Scenario,
    /// Scenario parameters; omitted fields take their defaults.
    #[serde(default)]
    pub params: Option<serde_json::Value>,
    /// Seconds until the fault removes itself; fractions allowed (tests use short ones).
    pub duration_secs: f64,
}

/// `cpu-burn` parameters.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CpuBurnParams {
    /// Burning threads (1..=64).
    #[serde(default = "one")]
    pub threads: u32,
    /// Fraction of each 20 ms period spent burning (0 < d <= 1).
    #[serde(default = "full")]
    pub duty_cycle: f64,
}

/// `memory-leak` parameters.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemoryLeakParams {
    /// Heap growth, bytes per second (1 KiB ..= 1 GiB).
    #[serde(default = "mib")]
    pub bytes_per_sec: u64,
    /// Growth stops here, so a forgotten fault cannot take the machine down (<= 16 GiB).
    #[serde(default = "gib")]
    pub max_bytes: u64,
}

/// `task-leak` parameters.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskLeakParams {
    /// Tasks spawned per second (1..=100 000).
    #[serde(default = "hundred")]
    pub tasks_per_sec: u32,
    /// Spawning stops at this many live leaked tasks (<= 1 000 000).
    #[serde(default = "hundred_thousand")]
    pub max_tasks: u32,
}

/// `latency` parameters.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LatencyParams {
    /// Added delay, milliseconds (<= 60 000).
    #[serde(default = "hundred_u64")]
    pub delay_ms: u64,
    /// Uniform jitter around the delay, +- milliseconds (<= delay_ms).
    #[serde(default)]
    pub jitter_ms: u64,
    /// Fraction of requests delayed (0..=1).
    #[serde(default = "full")]
    pub probability: f64,
}

/// `errors` parameters.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorsParams {
    /// Fraction of requests answered with an error (0..=1).
    #[serde(default = "tenth")]
    pub probability: f64,
    /// The status to answer with (500..=599).
    #[serde(default = "service_unavailable")]
    pub status: u16,
}

/// Where a work pattern (`alloc-churn`, `json-heavy`, ...) runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum WorkMode {
    /// Dedicated threads looping at a duty cycle.
    #[default]
    Background,
    /// Inside the request path, before the handler: it shows under the request's stack.
    Request,
}

/// Parameters of the work patterns.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkParams {
    /// Background threads or per request.
    #[serde(default)]
    pub mode: WorkMode,
    /// Background threads (1..=64).
    #[serde(default = "one")]
    pub threads: u32,
    /// Background fraction of each period spent working (0 < d <= 1).
    #[serde(default = "full")]
    pub duty_cycle: f64,
    /// Iterations per request in `request` mode (1..=1000).
    #[serde(default = "one")]
    pub iterations: u32,
    /// Size of one iteration (elements, keys, alternatives); 0 means the pattern's default
    /// (<= 1 000 000).
    #[serde(default)]
    pub size: u32,
}

/// `lock-contention` parameters (service hook).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockContentionParams {
    /// Extra time each command holds its book lock, microseconds (<= 100 000).
    #[serde(default = "two_hundred")]
    pub hold_us: u64,
    /// Background threads taking the book locks in a loop (0..=32).
    #[serde(default = "two")]
    pub contenders: u32,
    /// Serialize every book behind one lock, as `LockingMode::Global` does.
    #[serde(default = "yes")]
    pub global: bool,
    /// `contenders` (default): the knobs above. `coarse`: switch the service to the lock-heavy
    /// design a first version has, one lock held across the whole order path including the
    /// journal sync; the other knobs are then ignored.
    #[serde(default)]
    pub design: LockDesign,
}

/// How `lock-contention` makes locks hot.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LockDesign {
    /// Longer holds, background lockers and an extra global lock in front of the books.
    #[default]
    Contenders,
    /// One lock around risk, journal append, matching, settlement and the journal sync.
    Coarse,
}

/// `slow-journal` parameters (service hook).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlowJournalParams {
    /// Added to every fsync, milliseconds (1..=10 000).
    #[serde(default = "twenty")]
    pub delay_ms: u64,
}

fn one() -> u32 {
    1
}
fn two() -> u32 {
    2
}
fn full() -> f64 {
    1.0
}
fn tenth() -> f64 {
    0.1
}
fn mib() -> u64 {
    1 << 20
}
fn gib() -> u64 {
    1 << 30
}
fn hundred() -> u32 {
    100
}
fn hundred_u64() -> u64 {
    100
}
fn hundred_thousand() -> u32 {
    100_000
}
fn service_unavailable() -> u16 {
    503
}
fn two_hundred() -> u64 {
    200
}
fn yes() -> bool {
    true
}
fn twenty() -> u64 {
    20
}

/// A validated fault: the scenario with its parameters.
#[derive(Debug, Clone)]
pub enum FaultSpec {
    /// `cpu-burn`.
    CpuBurn(CpuBurnParams),
    /// `memory-leak`.
    MemoryLeak(MemoryLeakParams),
    /// `task-leak`.
    TaskLeak(TaskLeakParams),
    /// `latency`.
    Latency(LatencyParams),
    /// `errors`.
    Errors(ErrorsParams),
    /// One of the work patterns.
    Work(crate::scenarios::WorkPattern, WorkParams),
    /// `lock-contention`.
    LockContention(LockContentionParams),
    /// `slow-journal`.
    SlowJournal(SlowJournalParams),
}

fn parse<T: DeserializeOwned>(params: &Option<serde_json::Value>) -> Result<T, ApiError> {
    let bytes = match params {
        None | Some(serde_json::Value::Null) => b"{}".to_vec(),
        Some(value @ serde_json::Value::Object(_)) => value.to_string().into_bytes(),
        Some(_) => {
            return Err(ApiError::invalid_field(
                "params",
                "params must be an object",
            ))
        }
    };
    service_kit::error::parse_json(&bytes).map_err(|mut err| {
        err.field = Some(match err.field.take() {
            Some(f) => format!("params.{f}"),
            None => "params".to_owned(),
        });
        err
    })
}

fn range_u64(field: &str, value: u64, min: u64, max: u64) -> Result<(), ApiError> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(ApiError::invalid_field(
            format!("params.{field}"),
            format!("{field} must be between {min} and {max}"),
        ))
    }
}

fn fraction(field: &str, value: f64, zero_ok: bool) -> Result<(), ApiError> {
    let ok = value.is_finite() && value <= 1.0 && (value > 0.0 || (zero_ok && value == 0.0));
    if ok {
        Ok(())
    } else {
        let low = if zero_ok { "0 <= " } else { "0 < " };
        Err(ApiError::invalid_field(
            format!("params.{field}"),
            format!("{field} must satisfy {low}{field} <= 1"),
        ))
    }
}

impl FaultSpec {
    /// Validates `request`'s parameters for its scenario.
    pub fn parse(request: &FaultRequest) -> Result<FaultSpec, ApiError> {
        let d = request.duration_secs;
        if !(d.is_finite() && d > 0.0 && d <= MAX_DURATION_SECS) {
            return Err(ApiError::invalid_field(
                "duration_secs",
                format!("duration_secs must satisfy 0 < duration_secs <= {MAX_DURATION_SECS}"),
            ));
        }
        let params = &request.params;
        use crate::scenarios::WorkPattern as W;
        let spec = match request.scenario {
            Scenario::CpuBurn => {
                let p: CpuBurnParams = parse(params)?;
                range_u64("threads", p.threads.into(), 1, 64)?;
                fraction("duty_cycle", p.duty_cycle, false)?;
                FaultSpec::CpuBurn(p)
            }
            Scenario::MemoryLeak => {
                let p: MemoryLeakParams = parse(params)?;
                range_u64("bytes_per_sec", p.bytes_per_sec, 1024, 1 << 30)?;
                range_u64("max_bytes", p.max_bytes, 1, 16 << 30)?;
                FaultSpec::MemoryLeak(p)
            }
            Scenario::TaskLeak => {
                let p: TaskLeakParams = parse(params)?;
                range_u64("tasks_per_sec", p.tasks_per_sec.into(), 1, 100_000)?;
                range_u64("max_tasks", p.max_tasks.into(), 1, 1_000_000)?;
                FaultSpec::TaskLeak(p)
            }
            Scenario::Latency => {
                let p: LatencyParams = parse(params)?;
                range_u64("delay_ms", p.delay_ms, 0, 60_000)?;
                range_u64("jitter_ms", p.jitter_ms, 0, p.delay_ms)?;
                fraction("probability", p.probability, true)?;
                FaultSpec::Latency(p)
            }
            Scenario::Errors => {
                let p: ErrorsParams = parse(params)?;
                fraction("probability", p.probability, true)?;
                range_u64("status", p.status.into(), 500, 599)?;
                FaultSpec::Errors(p)
            }
            Scenario::AllocChurn
            | Scenario::JsonHeavy
            | Scenario::RegexHot
            | Scenario::FmtHeavy
            | Scenario::HashHeavy => {
                let p: WorkParams = parse(params)?;
                range_u64("threads", p.threads.into(), 1, 64)?;
                fraction("duty_cycle", p.duty_cycle, false)?;
                range_u64("iterations", p.iterations.into(), 1, 1000)?;
                range_u64("size", p.size.into(), 0, 1_000_000)?;
                let pattern = match request.scenario {
                    Scenario::AllocChurn => W::AllocChurn,
                    Scenario::JsonHeavy => W::JsonHeavy,
                    Scenario::RegexHot => W::RegexHot,
                    Scenario::FmtHeavy => W::FmtHeavy,
                    _ => W::HashHeavy,
                };
                FaultSpec::Work(pattern, p)
            }
            Scenario::LockContention => {
                let p: LockContentionParams = parse(params)?;
                range_u64("hold_us", p.hold_us, 0, 100_000)?;
                range_u64("contenders", p.contenders.into(), 0, 32)?;
                FaultSpec::LockContention(p)
            }
            Scenario::SlowJournal => {
                let p: SlowJournalParams = parse(params)?;
                range_u64("delay_ms", p.delay_ms, 1, 10_000)?;
                FaultSpec::SlowJournal(p)
            }
        };
        Ok(spec)
    }

    /// The parameters with defaults filled in, as reported back to clients.
    pub fn params_json(&self) -> serde_json::Value {
        let value = match self {
            FaultSpec::CpuBurn(p) => serde_json::to_value(p),
            FaultSpec::MemoryLeak(p) => serde_json::to_value(p),
            FaultSpec::TaskLeak(p) => serde_json::to_value(p),
            FaultSpec::Latency(p) => serde_json::to_value(p),
            FaultSpec::Errors(p) => serde_json::to_value(p),
            FaultSpec::Work(_, p) => serde_json::to_value(p),
            FaultSpec::LockContention(p) => serde_json::to_value(p),
            FaultSpec::SlowJournal(p) => serde_json::to_value(p),
        };
        value.unwrap_or(serde_json::Value::Null)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(scenario: Scenario, params: serde_json::Value) -> FaultRequest {
        FaultRequest {
            scenario,
            params: Some(params),
            duration_secs: 1.0,
        }
    }

    #[test]
    fn bad_params_name_their_field() {
        let cases = [
            (
                Scenario::CpuBurn,
                serde_json::json!({"threads": 0}),
                "params.threads",
            ),
            (
                Scenario::CpuBurn,
                serde_json::json!({"duty_cycle": 1.5}),
                "params.duty_cycle",
            ),
            (
                Scenario::CpuBurn,
                serde_json::json!({"thread": 2}),
                "params.thread",
            ),
            (
                Scenario::Latency,
                serde_json::json!({"delay_ms": 10, "jitter_ms": 20}),
                "params.jitter_ms",
            ),
            (
                Scenario::Errors,
                serde_json::json!({"status": 404}),
                "params.status",
            ),
            (
                Scenario::Errors,
                serde_json::json!({"probability": "x"}),
                "params.probability",
            ),
            (
                Scenario::MemoryLeak,
                serde_json::json!({"bytes_per_sec": 1}),
                "params.bytes_per_sec",
            ),
            (
                Scenario::RegexHot,
                serde_json::json!({"mode": "sideways"}),
                "params.mode",
            ),
            (
                Scenario::SlowJournal,
                serde_json::json!({"delay_ms": 0}),
                "params.delay_ms",
            ),
            (Scenario::TaskLeak, serde_json::json!([1]), "params"),
        ];
        for (scenario, params, field) in cases {
            let err = FaultSpec::parse(&request(scenario, params.clone())).expect_err("invalid");
            assert_eq!(err.status.as_u16(), 400, "{params}");
            assert_eq!(
                err.field.as_deref(),
                Some(field),
                "{params}: {}",
                err.message
            );
        }
        let mut zero = request(Scenario::CpuBurn, serde_json::json!({}));
        zero.duration_secs = 0.0;
        let err = FaultSpec::parse(&zero).expect_err("zero duration");
        assert_eq!(err.field.as_deref(), Some("duration_secs"));
    }

    #[test]
    fn defaults_are_filled_in() {
        let spec = FaultSpec::parse(&FaultRequest {
            scenario: Scenario::Latency,
            params: None,
            duration_secs: 2.0,
        })
        .expect("valid");
        assert_eq!(
            spec.params_json(),
            serde_json::json!({"delay_ms": 100, "jitter_ms": 0, "probability": 1.0})
        );
        for scenario in Scenario::ALL {
            let name = serde_json::to_value(scenario).expect("serializes");
            assert_eq!(name, scenario.name());
        }
    }
}
