//! [`Chaos`]: the faults active in one service. Starting a fault validates it, starts its code
//! (threads, tasks, a request-path rule or a service hook), and arms a timer that removes it;
//! deleting it early runs the same undo. `chaos_active{scenario}` counts active faults.
//!
//! One fault per scenario at a time: a second `cpu-burn` while one runs is a 409, so undoing one
//! fault can never undo another's settings (the service hooks set single knobs).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::http::StatusCode;
use parking_lot::{Mutex, RwLock};
use prometheus::{IntGaugeVec, Opts};
use serde::Serialize;
use service_kit::{ApiError, Metrics};
use tokio_util::sync::CancellationToken;

use crate::hooks::{unsupported, ServiceFaults, Undo};
use crate::middleware::RequestFault;
use crate::scenario::{FaultRequest, FaultSpec, Scenario, WorkMode};
use crate::scenarios::{self, PreparedWork};

/// A fault as the API reports it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FaultView {
    /// Identifier for `DELETE /admin/chaos/{id}`.
    pub id: String,
    /// The scenario.
    pub scenario: Scenario,
    /// Parameters with defaults filled in.
    pub params: serde_json::Value,
    /// Requested lifetime, seconds.
    pub duration_secs: f64,
    /// Start, milliseconds since the epoch.
    pub started_at_ms: u64,
    /// Planned end, milliseconds since the epoch.
    pub expires_at_ms: u64,
    /// Seconds left before it removes itself.
    pub remaining_secs: f64,
    /// What the fault has done so far, e.g. `{"leaked_bytes": 1048576}`.
    pub progress: BTreeMap<&'static str, u64>,
}

/// Everything about one running fault.
struct Active {
    scenario: Scenario,
    params: serde_json::Value,
    duration: Duration,
    started: Instant,
    started_at_ms: u64,
    /// Counter the fault's code advances (iterations, bytes, tasks).
    progress: Arc<AtomicU64>,
    /// What `progress` counts, as reported; `None` when there is nothing to count.
    progress_unit: Option<&'static str>,
    /// Stops the fault; taken when it is removed.
    undo: Option<Undo>,
    /// Cancels the expiry timer when the fault is deleted early.
    expiry: CancellationToken,
}

impl Active {
    fn view(&self, id: u64) -> FaultView {
        let duration_ms = u64::try_from(self.duration.as_millis()).unwrap_or(u64::MAX);
        FaultView {
            id: format_id(id),
            scenario: self.scenario,
            params: self.params.clone(),
            duration_secs: self.duration.as_secs_f64(),
            started_at_ms: self.started_at_ms,
            expires_at_ms: self.started_at_ms.saturating_add(duration_ms),
            remaining_secs: self
                .duration
                .saturating_sub(self.started.elapsed())
                .as_secs_f64(),
            progress: self
                .progress_unit
                .map(|unit| (unit, self.progress.load(Ordering::Relaxed)))
                .into_iter()
                .collect(),
        }
    }
}

fn format_id(id: u64) -> String {
    format!("chaos-{id}")
}

fn parse_id(id: &str) -> Option<u64> {
    id.strip_prefix("chaos-")?.parse().ok()
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The request-path rules with the id of the fault owning each.
pub(crate) type RequestRules = Arc<Vec<(u64, Arc<RequestFault>)>>;

struct Inner {
    /// Active faults by id.
    faults: Mutex<BTreeMap<u64, Active>>,
    /// Next fault id.
    next_id: AtomicU64,
    /// The request-path rules, copied on change so the middleware reads them without a lock
    /// held across its `.await`s.
    request_faults: RwLock<RequestRules>,
    /// The service's own faults, installed once the service can produce them.
    hooks: OnceLock<Arc<dyn ServiceFaults>>,
    /// `chaos_active{scenario}`.
    active: IntGaugeVec,
}

/// The fault injector of one service; cheap to clone.
#[derive(Clone)]
pub struct Chaos {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Chaos {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chaos")
            .field("active", &self.inner.faults.lock().len())
            .finish_non_exhaustive()
    }
}

/// How a started fault runs and stops.
struct Started {
    undo: Undo,
    progress: Arc<AtomicU64>,
    progress_unit: Option<&'static str>,
}

impl Chaos {
    /// A fault injector whose `chaos_active{scenario}` gauge lives in `metrics`' registry.
    pub fn new(metrics: &Metrics) -> Result<Self, prometheus::Error> {
        let active = metrics.register(IntGaugeVec::new(
            Opts::new(
                "chaos_active",
                "Injected faults currently active, by scenario (POST /admin/chaos).",
            ),
            &["scenario"],
        )?)?;
        // Every label from the start, so dashboards see 0 rather than no series.
        for scenario in Scenario::ALL {
            active.with_label_values(&[scenario.name()]).set(0);
        }
        Ok(Self {
            inner: Arc::new(Inner {
                faults: Mutex::new(BTreeMap::new()),
                next_id: AtomicU64::new(1),
                request_faults: RwLock::new(Arc::new(Vec::new())),
                hooks: OnceLock::new(),
                active,
            }),
        })
    }

    /// Installs the service's own faults (once; later calls are ignored).
    pub fn install_hooks(&self, hooks: Arc<dyn ServiceFaults>) {
        if self.inner.hooks.set(hooks).is_err() {
            tracing::warn!("chaos hooks installed twice; keeping the first");
        }
    }

    /// Starts a fault. Must run inside a tokio runtime (faults use tasks and timers).
    pub fn start(&self, request: FaultRequest) -> Result<FaultView, ApiError> {
        let spec = FaultSpec::parse(&request)?;
        let duration = Duration::from_secs_f64(request.duration_secs);
        let mut faults = self.inner.faults.lock();
        if faults.values().any(|f| f.scenario == request.scenario) {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "conflict",
                format!(
                    "a {} fault is already active; delete it first",
                    request.scenario.name()
                ),
            )
            .with_field("scenario"));
        }
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let started = self.run(id, request.scenario, &spec)?;
        let expiry = CancellationToken::new();
        let active = Active {
            scenario: request.scenario,
            params: spec.params_json(),
            duration,
            started: Instant::now(),
            started_at_ms: now_ms(),
            progress: started.progress,
            progress_unit: started.progress_unit,
            undo: Some(started.undo),
            expiry: expiry.clone(),
        };
        let view = active.view(id);
        faults.insert(id, active);
        drop(faults);
        self.inner
            .active
            .with_label_values(&[request.scenario.name()])
            .inc();
        tracing::warn!(id = %view.id, scenario = request.scenario.name(), params = %view.params, duration_secs = request.duration_secs, "chaos fault started");
        let chaos = self.clone();
        tokio::spawn(async move {
            tokio::select! {
                () = tokio::time::sleep(duration) => {
                    chaos.remove(id, "expired");
                }
                () = expiry.cancelled() => {}
            }
        });
        Ok(view)
    }

    /// Active faults, oldest first.
    pub fn list(&self) -> Vec<FaultView> {
        let faults = self.inner.faults.lock();
        faults.iter().map(|(id, f)| f.view(*id)).collect()
    }

    /// Stops the fault `id` (as `chaos-N`); `None` if there is no such active fault.
    pub fn stop(&self, id: &str) -> Option<FaultView> {
        self.remove(parse_id(id)?, "deleted")
    }

    /// Stops every active fault.
    pub fn stop_all(&self) -> Vec<FaultView> {
        let ids: Vec<u64> = self.inner.faults.lock().keys().copied().collect();
        ids.into_iter()
            .filter_map(|id| self.remove(id, "deleted"))
            .collect()
    }

    /// The request-path rules now in force.
    pub(crate) fn request_faults(&self) -> RequestRules {
        Arc::clone(&self.inner.request_faults.read())
    }

    fn remove(&self, id: u64, why: &str) -> Option<FaultView> {
        let mut active = self.inner.faults.lock().remove(&id)?;
        let view = active.view(id);
        active.expiry.cancel();
        if let Some(undo) = active.undo.take() {
            undo();
        }
        self.inner
            .active
            .with_label_values(&[active.scenario.name()])
            .dec();
        tracing::warn!(id = %view.id, scenario = active.scenario.name(), why, "chaos fault ended");
        Some(view)
    }

    /// Adds a request-path rule and returns the undo removing it.
    fn add_request_fault(&self, id: u64, fault: RequestFault) -> Undo {
        {
            let mut rules = self.inner.request_faults.write();
            let mut next = (**rules).clone();
            next.push((id, Arc::new(fault)));
            *rules = Arc::new(next);
        }
        let inner = Arc::clone(&self.inner);
        Box::new(move || {
            let mut rules = inner.request_faults.write();
            let next: Vec<_> = rules.iter().filter(|(i, _)| *i != id).cloned().collect();
            *rules = Arc::new(next);
        })
    }

    fn hooks(&self, scenario: Scenario) -> Result<Arc<dyn ServiceFaults>, ApiError> {
        self.inner
            .hooks
            .get()
            .cloned()
            .ok_or_else(|| unsupported(scenario.name()))
    }

    /// Starts the code of a fault.
    fn run(&self, id: u64, scenario: Scenario, spec: &FaultSpec) -> Result<Started, ApiError> {
        let progress = Arc::new(AtomicU64::new(0));
        let thread_error = |err: std::io::Error| {
            tracing::error!(%err, "cannot start chaos threads");
            ApiError::internal()
        };
        let started = match spec {
            FaultSpec::CpuBurn(p) => {
                let stop = Arc::new(AtomicBool::new(false));
                let work: Arc<dyn Fn() + Send + Sync> = Arc::new(|| {
                    scenarios::cpu_burn::spin();
                });
                scenarios::run_loops("cpu-burn", p.threads, p.duty_cycle, &stop, &progress, work)
                    .map_err(thread_error)?;
                Started {
                    undo: Box::new(move || stop.store(true, Ordering::Release)),
                    progress,
                    progress_unit: Some("iterations"),
                }
            }
            FaultSpec::MemoryLeak(p) => {
                let stop = CancellationToken::new();
                tokio::spawn(scenarios::memory_leak::run(
                    p.clone(),
                    stop.clone(),
                    Arc::clone(&progress),
                ));
                Started {
                    undo: Box::new(move || stop.cancel()),
                    progress,
                    progress_unit: Some("leaked_bytes"),
                }
            }
            FaultSpec::TaskLeak(p) => {
                let stop = CancellationToken::new();
                tokio::spawn(scenarios::task_leak::run(
                    p.clone(),
                    stop.clone(),
                    Arc::clone(&progress),
                ));
                Started {
                    undo: Box::new(move || stop.cancel()),
                    progress,
                    progress_unit: Some("leaked_tasks"),
                }
            }
            FaultSpec::Latency(p) => Started {
                undo: self.add_request_fault(
                    id,
                    RequestFault::Latency {
                        params: p.clone(),
                        delayed: Arc::clone(&progress),
                    },
                ),
                progress,
                progress_unit: Some("requests_delayed"),
            },
            FaultSpec::Errors(p) => Started {
                undo: self.add_request_fault(
                    id,
                    RequestFault::Errors {
                        params: p.clone(),
                        failed: Arc::clone(&progress),
                    },
                ),
                progress,
                progress_unit: Some("requests_failed"),
            },
            FaultSpec::Work(pattern, p) => {
                let work = PreparedWork::new(*pattern, p.size);
                match p.mode {
                    WorkMode::Background => {
                        let stop = Arc::new(AtomicBool::new(false));
                        let run: Arc<dyn Fn() + Send + Sync> = Arc::new(move || {
                            std::hint::black_box(work.run_once());
                        });
                        scenarios::run_loops(
                            scenario.name(),
                            p.threads,
                            p.duty_cycle,
                            &stop,
                            &progress,
                            run,
                        )
                        .map_err(thread_error)?;
                        Started {
                            undo: Box::new(move || stop.store(true, Ordering::Release)),
                            progress,
                            progress_unit: Some("iterations"),
                        }
                    }
                    WorkMode::Request => Started {
                        undo: self.add_request_fault(
                            id,
                            RequestFault::Work {
                                work,
                                iterations: p.iterations,
                                done: Arc::clone(&progress),
                            },
                        ),
                        progress,
                        progress_unit: Some("iterations"),
                    },
                }
            }
            FaultSpec::LockContention(p) => Started {
                undo: self.hooks(scenario)?.lock_contention(p)?,
                progress,
                progress_unit: None,
            },
            FaultSpec::SlowJournal(p) => Started {
                undo: self.hooks(scenario)?.slow_journal(p)?,
                progress,
                progress_unit: None,
            },
        };
        Ok(started)
    }
}
