//! `simex chaos`: runs experiments written in Chaos Toolkit's format and writes a journal in its
//! shape plus a markdown report.
//!
//! The flow is Chaos Toolkit's: the steady-state hypothesis before, the method, the hypothesis
//! after, then the rollbacks, which run whatever happened (failure, deviation, Ctrl-C), so no
//! fault is left behind. When the hypothesis runs is chaostoolkit's `--hypothesis-strategy`
//! ([`HypothesisStrategy`]); with `during-method-only` or `continuously` a background thread checks
//! it every `--hypothesis-frequency` seconds while the method runs, into `steady_states.during`.
//! As in chaostoolkit-lib, a deviation during the method is recorded but changes the verdict only
//! with `--fail-fast`, which stops the method (see [`run`] for the verdicts). Two provider types are implemented natively, `http` and `process`, so
//! the same files stay valid for `chaostoolkit run`. `${name}` in strings is replaced from the
//! experiment's `configuration` (plain values or `{"type":"env","key":..,"default":..}`).
//!
//! Tolerances: a boolean, a number (an HTTP status or exit code), a list of allowed values,
//! `{"type":"range","range":[lo,hi],"target":..}` and `{"type":"jsonpath","path":..,"expect":..,
//! "target":..}` with dotted paths and one trailing filter `[?(@.a.b <= 500)]`.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, TryRecvError};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use serde_json::{json, Map, Value};

/// Default timeout of an HTTP provider call, in seconds.
const HTTP_TIMEOUT_SECS: f64 = 30.0;

/// At most this many checks during one method: a zero frequency with instant probes must not
/// grow the journal without bound.
const MAX_DURING_CHECKS: usize = 10_000;

/// When the steady-state hypothesis runs: chaostoolkit's `--hypothesis-strategy`, same names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum HypothesisStrategy {
    /// Before the method (a gate: nothing is injected unless it holds) and after it.
    #[default]
    Default,
    /// Only before the method.
    BeforeMethodOnly,
    /// Only after the method.
    AfterMethodOnly,
    /// Only while the method runs, every `frequency`.
    DuringMethodOnly,
    /// Before, while the method runs (every `frequency`), and after.
    #[value(alias = "continously")]
    Continuously,
}

impl HypothesisStrategy {
    /// The name on the command line and in the journal.
    pub fn name(self) -> &'static str {
        match self {
            Self::Default => "default",
            Self::BeforeMethodOnly => "before-method-only",
            Self::AfterMethodOnly => "after-method-only",
            Self::DuringMethodOnly => "during-method-only",
            Self::Continuously => "continuously",
        }
    }

    fn before(self) -> bool {
        matches!(
            self,
            Self::Default | Self::BeforeMethodOnly | Self::Continuously
        )
    }

    fn during(self) -> bool {
        matches!(self, Self::DuringMethodOnly | Self::Continuously)
    }

    fn after(self) -> bool {
        matches!(
            self,
            Self::Default | Self::AfterMethodOnly | Self::Continuously
        )
    }
}

/// How a run checks its steady state.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RunOptions {
    /// When the hypothesis runs.
    pub strategy: HypothesisStrategy,
    /// The wait between the end of one check during the method and the start of the next
    /// (chaostoolkit's `--hypothesis-frequency`: a check's own duration is not subtracted).
    pub frequency: Duration,
    /// Stop the method at the first check during it that deviates; the verdict is `failed`.
    pub fail_fast: bool,
}

impl Default for RunOptions {
    /// chaostoolkit's defaults: before and after, 1 s, no fail-fast.
    fn default() -> Self {
        Self {
            strategy: HypothesisStrategy::Default,
            frequency: Duration::from_secs(1),
            fail_fast: false,
        }
    }
}

impl RunOptions {
    /// Validates the command line's values (`frequency_secs` in seconds, 0 to one hour).
    pub fn new(strategy: HypothesisStrategy, frequency_secs: f64, fail_fast: bool) -> Result<Self> {
        if !(0.0..=3600.0).contains(&frequency_secs) {
            bail!("--hypothesis-frequency must be 0 to 3600 seconds, not {frequency_secs}");
        }
        if fail_fast && !strategy.during() {
            eprintln!(
                "[chaos] --fail-fast only applies to during-method-only and continuously; ignored"
            );
        }
        Ok(Self {
            strategy,
            frequency: Duration::from_secs_f64(frequency_secs),
            fail_fast,
        })
    }
}

/// Verdict of a run, as Chaos Toolkit spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Steady state held before and after.
    Completed,
    /// The hypothesis did not hold after the method: the system did not cope.
    Deviated,
    /// The experiment could not run as written (hypothesis not met before, an action failed),
    /// or fail-fast stopped the method.
    Failed,
    /// Interrupted (Ctrl-C, SIGTERM).
    Aborted,
}

impl Verdict {
    /// The journal's `status` string.
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Completed => "completed",
            Verdict::Deviated => "deviated",
            Verdict::Failed => "failed",
            Verdict::Aborted => "aborted",
        }
    }
}

/// What `run` produced.
#[derive(Debug)]
pub struct Outcome {
    /// The verdict.
    pub verdict: Verdict,
    /// The whole journal.
    pub journal: Value,
}

/// A loaded experiment with its configuration resolved.
struct Experiment {
    doc: Value,
    config: BTreeMap<String, String>,
    /// Set by Ctrl-C / SIGTERM: stops whatever runs, then the rollbacks run.
    stop: Arc<AtomicBool>,
    /// Set by a check during the method under fail-fast: stops the method's activities only,
    /// never a check or a rollback.
    halt_method: AtomicBool,
}

/// Which part of a run an activity belongs to; fail-fast cuts only the method short.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Hypothesis,
    Method,
    Rollback,
}

fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

fn iso(t: f64) -> String {
    // Seconds since the epoch as an RFC 3339 UTC time, without a date crate.
    let secs = t.floor() as i64;
    let millis = ((t - t.floor()) * 1000.0) as i64;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Reads and validates an experiment file.
pub fn load(path: &Path) -> Result<Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let doc: Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?;
    for key in ["title", "description", "method"] {
        if doc.get(key).is_none() {
            bail!("{}: missing `{key}`", path.display());
        }
    }
    if !doc["method"].is_array() {
        bail!("{}: `method` must be a list of activities", path.display());
    }
    Ok(doc)
}

fn resolve_config(doc: &Value) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    if let Some(Value::Object(cfg)) = doc.get("configuration") {
        for (name, v) in cfg {
            let value = match v {
                Value::String(s) => s.clone(),
                Value::Object(o) if o.get("type").and_then(Value::as_str) == Some("env") => {
                    let key = o.get("key").and_then(Value::as_str).unwrap_or(name);
                    std::env::var(key).unwrap_or_else(|_| {
                        o.get("default")
                            .map(|d| d.as_str().map_or_else(|| d.to_string(), str::to_owned))
                            .unwrap_or_default()
                    })
                }
                other => other.to_string(),
            };
            out.insert(name.clone(), value);
        }
    }
    out
}

/// Replaces `${name}` in every string of `v`.
fn substitute(v: &Value, config: &BTreeMap<String, String>) -> Value {
    match v {
        Value::String(s) => {
            // A whole-string reference to a numeric value becomes a number (`duration_secs`).
            if let Some(name) = s.strip_prefix("${").and_then(|r| r.strip_suffix('}')) {
                if let Some(n) = config.get(name).and_then(|v| v.parse::<f64>().ok()) {
                    return json!(n);
                }
            }
            let mut s = s.clone();
            for (k, val) in config {
                s = s.replace(&format!("${{{k}}}"), val);
            }
            Value::String(s)
        }
        Value::Array(a) => Value::Array(a.iter().map(|x| substitute(x, config)).collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, x)| (k.clone(), substitute(x, config)))
                .collect(),
        ),
        other => other.clone(),
    }
}

impl Experiment {
    fn interrupted(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    fn halted(&self) -> bool {
        self.halt_method.load(Ordering::Relaxed)
    }

    /// True when an activity of `part` should stop now.
    fn cancelled(&self, part: Part) -> bool {
        self.interrupted() || (part == Part::Method && self.halted())
    }

    /// Sleeps up to `secs`, waking early on Ctrl-C (and fail-fast, in the method).
    fn pause(&self, secs: f64, part: Part) {
        let end = Instant::now() + Duration::from_secs_f64(secs.clamp(0.0, 86_400.0));
        while Instant::now() < end && !self.cancelled(part) {
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Runs one activity (probe or action) and returns its run record.
    fn run_activity(&self, activity: &Value, part: Part) -> Value {
        let act = substitute(activity, &self.config);
        if let Some(before) = act.pointer("/pauses/before").and_then(Value::as_f64) {
            self.pause(before, part);
        }
        let start = now_secs();
        let result = match act.pointer("/provider/type").and_then(Value::as_str) {
            Some("http") => self.http(&act["provider"]),
            Some("process") => self.process(&act["provider"], part),
            other => Err(anyhow::anyhow!("unsupported provider type {other:?}")),
        };
        let end = now_secs();
        if let Some(after) = act.pointer("/pauses/after").and_then(Value::as_f64) {
            self.pause(after, part);
        }
        let mut record = Map::new();
        record.insert("activity".into(), activity.clone());
        record.insert("start".into(), json!(iso(start)));
        record.insert("end".into(), json!(iso(end)));
        record.insert("duration".into(), json!(end - start));
        match result {
            Ok(output) => {
                let failed = provider_failed(&act["provider"], &output);
                record.insert(
                    "status".into(),
                    json!(if failed.is_some() {
                        "failed"
                    } else {
                        "succeeded"
                    }),
                );
                if let Some(why) = failed {
                    record.insert("exception".into(), json!([why]));
                }
                record.insert("output".into(), output);
            }
            Err(e) => {
                record.insert("status".into(), json!("failed"));
                record.insert("output".into(), Value::Null);
                record.insert("exception".into(), json!([format!("{e:#}")]));
            }
        }
        if let Some(tolerance) = act.get("tolerance") {
            let met = record["status"] == "succeeded"
                && tolerance_met(tolerance, &record["output"], &act["provider"]);
            record.insert("tolerance_met".into(), json!(met));
        }
        Value::Object(record)
    }

    fn http(&self, p: &Value) -> Result<Value> {
        let url = p["url"].as_str().context("http provider without `url`")?;
        let method = p["method"].as_str().unwrap_or("GET").to_ascii_uppercase();
        let timeout = p["timeout"].as_f64().unwrap_or(HTTP_TIMEOUT_SECS);
        let agent = crate::supervisor::agent(Duration::from_secs_f64(timeout.clamp(0.1, 3600.0)));
        let body = p.get("arguments").filter(|a| !a.is_null());
        let headers: Vec<(String, String)> = p["headers"]
            .as_object()
            .map(|h| {
                h.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                    .collect()
            })
            .unwrap_or_default();
        let payload = body.map(Value::to_string);
        let builder = ureq::http::Request::builder()
            .method(method.as_str())
            .uri(url);
        let builder = headers
            .iter()
            .fold(builder, |b, (k, v)| b.header(k.as_str(), v.as_str()));
        let request = match &payload {
            Some(text) => builder
                .header("content-type", "application/json")
                .body(text.clone())?,
            None => builder.body(String::new())?,
        };
        let mut resp = agent
            .run(request)
            .with_context(|| format!("{method} {url}"))?;
        let status = resp.status().as_u16();
        let text = resp.body_mut().read_to_string().unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Ok(json!({"status": status, "headers": {}, "body": body}))
    }

    fn process(&self, p: &Value, part: Part) -> Result<Value> {
        let path = p["path"]
            .as_str()
            .context("process provider without `path`")?;
        let args: Vec<String> = match &p["arguments"] {
            Value::Array(a) => a
                .iter()
                .map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_owned))
                .collect(),
            Value::String(s) => s.split_whitespace().map(str::to_owned).collect(),
            _ => Vec::new(),
        };
        let timeout = p["timeout"].as_f64().unwrap_or(600.0);
        let mut child = Command::new(path)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {path}"))?;
        // Read the pipes on threads so a chatty child never blocks on a full pipe.
        let read = |pipe: Option<Box<dyn std::io::Read + Send>>| {
            std::thread::spawn(move || {
                let mut s = String::new();
                if let Some(mut r) = pipe {
                    let _ = r.read_to_string(&mut s);
                }
                s
            })
        };
        let out = read(child.stdout.take().map(|p| Box::new(p) as _));
        let err = read(child.stderr.take().map(|p| Box::new(p) as _));
        let deadline = Instant::now() + Duration::from_secs_f64(timeout.clamp(0.1, 86_400.0));
        let status = loop {
            if let Some(status) = child.try_wait()? {
                break status;
            }
            let why = if self.interrupted() {
                Some("interrupted".to_owned())
            } else if self.cancelled(part) {
                Some("the method was stopped (fail-fast)".to_owned())
            } else if Instant::now() > deadline {
                Some(format!("past its {timeout} s timeout"))
            } else {
                None
            };
            if let Some(why) = why {
                let _ = child.kill();
                let _ = child.wait();
                bail!("{path} stopped: {why}");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let stdout = out.join().unwrap_or_default();
        let stderr = err.join().unwrap_or_default();
        Ok(json!({"status": status.code().unwrap_or(-1), "stdout": stdout, "stderr": stderr}))
    }

    /// Runs the hypothesis' probes: `{steady_state_met, probes}`.
    fn hypothesis(&self) -> Value {
        let probes = self.doc["steady-state-hypothesis"]["probes"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let mut runs = Vec::new();
        let mut met = true;
        for probe in &probes {
            if self.interrupted() {
                met = false;
                break;
            }
            let run = self.run_activity(probe, Part::Hypothesis);
            met &= run["tolerance_met"]
                .as_bool()
                .unwrap_or(run["status"] == "succeeded");
            runs.push(run);
            if !met {
                break;
            }
        }
        json!({"steady_state_met": met, "probes": runs})
    }

    /// Runs the method's activities in order: their run records and how the method ended
    /// (`Completed` when every activity ran).
    fn method(&self) -> (Vec<Value>, Verdict) {
        let mut runs = Vec::new();
        let mut verdict = Verdict::Completed;
        for activity in self.doc["method"].as_array().into_iter().flatten() {
            if self.cancelled(Part::Method) {
                break;
            }
            eprintln!(
                "[chaos] {}: {}",
                activity["type"].as_str().unwrap_or("activity"),
                activity["name"].as_str().unwrap_or("?")
            );
            let run = self.run_activity(activity, Part::Method);
            let failed = run["status"] == "failed" && activity["type"] == "action";
            runs.push(run);
            if failed {
                verdict = Verdict::Failed;
                break;
            }
        }
        // Ctrl-C wins over fail-fast, which wins over the failure it may have caused.
        if self.interrupted() {
            verdict = Verdict::Aborted;
        } else if self.halted() {
            verdict = Verdict::Failed;
        }
        (runs, verdict)
    }

    /// The checks during the method, on their own thread: the hypothesis, then a wait of
    /// `frequency`, until `method_done` is dropped (a check under way is finished, as
    /// chaostoolkit does), Ctrl-C, or, with fail-fast, the first deviation, which halts the method.
    fn check_during(&self, opts: RunOptions, method_done: &mpsc::Receiver<()>) -> Vec<Value> {
        let mut states = Vec::new();
        while states.len() < MAX_DURING_CHECKS && !self.interrupted() {
            if let Err(TryRecvError::Disconnected) = method_done.try_recv() {
                break;
            }
            let state = self.hypothesis();
            let met = state["steady_state_met"] == true;
            states.push(state);
            if !met && !self.interrupted() {
                eprintln!(
                    "[chaos] steady state deviated during the method (check {})",
                    states.len()
                );
                if opts.fail_fast {
                    eprintln!("[chaos] fail-fast: stopping the method");
                    self.halt_method.store(true, Ordering::Relaxed);
                    break;
                }
            }
            match method_done.recv_timeout(opts.frequency) {
                Err(RecvTimeoutError::Timeout) => {}
                Ok(()) | Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        states
    }

    /// The method, with the checks during it on a second thread when `opts` asks for them.
    fn method_with_checks(&self, opts: RunOptions) -> (Vec<Value>, Verdict, Vec<Value>) {
        if !opts.strategy.during() || !self.has_hypothesis() {
            let (runs, verdict) = self.method();
            return (runs, verdict, Vec::new());
        }
        eprintln!(
            "[chaos] checking the steady state during the method, {:.1} s between checks{}",
            opts.frequency.as_secs_f64(),
            if opts.fail_fast { ", fail-fast" } else { "" }
        );
        let (method_done, done_rx) = mpsc::channel::<()>();
        std::thread::scope(|scope| {
            let checker = scope.spawn(move || self.check_during(opts, &done_rx));
            let (runs, verdict) = self.method();
            drop(method_done);
            // A panicked checker loses its records, not the run: the rollbacks must still run.
            let during = checker.join().unwrap_or_default();
            (runs, verdict, during)
        })
    }

    /// True when the experiment has a hypothesis with at least one probe (chaostoolkit skips an
    /// empty one).
    fn has_hypothesis(&self) -> bool {
        self.doc["steady-state-hypothesis"]["probes"]
            .as_array()
            .is_some_and(|p| !p.is_empty())
    }
}

/// Why a provider's answer is a failure regardless of tolerance: an unexpected HTTP status
/// (`expected_status`, default any < 400) or a non-zero exit code.
fn provider_failed(p: &Value, output: &Value) -> Option<String> {
    let status = output["status"].as_i64()?;
    match p["type"].as_str() {
        Some("http") => match p.get("expected_status").and_then(Value::as_i64) {
            Some(want) if want != status => Some(format!("HTTP {status}, expected {want}")),
            None if status >= 400 => Some(format!("HTTP {status}: {}", output["body"])),
            _ => None,
        },
        Some("process") if status != 0 => Some(format!(
            "exit {status}: {}",
            output["stderr"].as_str().unwrap_or_default().trim()
        )),
        _ => None,
    }
}

/// The value a tolerance looks at: `target` (`body`, `stdout`, `status`...) or the natural one.
fn tolerance_value<'a>(tol: &'a Value, output: &'a Value, provider: &Value) -> &'a Value {
    let target = tol
        .get("target")
        .and_then(Value::as_str)
        .unwrap_or_else(|| {
            if provider["type"] == "process" {
                "stdout"
            } else {
                "body"
            }
        });
    &output[target]
}

/// True when `output` satisfies `tol`.
pub fn tolerance_met(tol: &Value, output: &Value, provider: &Value) -> bool {
    match tol {
        Value::Bool(b) => output.as_bool() == Some(*b) || output["status"] == json!(*b),
        Value::Number(n) => output["status"].as_f64() == n.as_f64() || output == tol,
        Value::String(_) => output == tol || tolerance_value(&json!({}), output, provider) == tol,
        Value::Array(allowed) => allowed
            .iter()
            .any(|a| a == &output["status"] || a == output),
        Value::Object(o) => {
            let value = tolerance_value(tol, output, provider);
            let parsed;
            let value = match value {
                Value::String(s) => {
                    parsed = serde_json::from_str(s).unwrap_or(Value::Null);
                    &parsed
                }
                v => v,
            };
            match o.get("type").and_then(Value::as_str) {
                Some("range") => {
                    let range = o.get("range").and_then(Value::as_array);
                    let (Some(lo), Some(hi)) = (
                        range.and_then(|r| r.first()).and_then(Value::as_f64),
                        range.and_then(|r| r.get(1)).and_then(Value::as_f64),
                    ) else {
                        return false;
                    };
                    value.as_f64().is_some_and(|v| lo <= v && v <= hi)
                }
                Some("jsonpath") => {
                    let path = o.get("path").and_then(Value::as_str).unwrap_or("$");
                    let found = jsonpath(value, path);
                    match o.get("expect") {
                        Some(expect) => !found.is_empty() && found.iter().all(|f| *f == expect),
                        None => !found.is_empty(),
                    }
                }
                _ => false,
            }
        }
        Value::Null => false,
    }
}

/// A small JSONPath: `$.a.b`, `$.a[0]`, and a trailing filter `[?(@.x.y OP number and ...)]` (OP one
/// of `< <= > >= == !=`) kept when the comparison holds, on an object or each item of a list.
pub fn jsonpath<'a>(root: &'a Value, path: &str) -> Vec<&'a Value> {
    let path = path.trim().trim_start_matches('$');
    let (plain, filter) = match path.find("[?(") {
        Some(i) => (&path[..i], Some(&path[i + 3..])),
        None => (path, None),
    };
    let mut node = Some(root);
    for seg in plain.split('.').filter(|s| !s.is_empty()) {
        let (key, index) = match seg.split_once('[') {
            Some((k, rest)) => (k, rest.trim_end_matches(']').parse::<usize>().ok()),
            None => (seg, None),
        };
        node = node.and_then(|n| if key.is_empty() { Some(n) } else { n.get(key) });
        if let Some(i) = index {
            node = node.and_then(|n| n.get(i));
        }
    }
    let Some(node) = node else {
        return Vec::new();
    };
    let Some(filter) = filter else {
        return vec![node];
    };
    let expr = filter.trim_end_matches(']').trim_end_matches(')').trim();
    // Conditions joined by `and` (jsonpath2, which chaostoolkit uses) or `&` must all hold.
    let ops = ["<=", ">=", "==", "!=", "<", ">"];
    let mut conditions = Vec::new();
    let expr = expr.replace(" and ", " & ");
    for cond in expr.split('&').map(str::trim).filter(|c| !c.is_empty()) {
        let Some((lhs, op, rhs)) = ops.iter().find_map(|op| {
            cond.split_once(op)
                .map(|(l, r)| (l.trim().trim_start_matches('@'), *op, r.trim()))
        }) else {
            return Vec::new();
        };
        let Ok(want) = rhs.parse::<f64>() else {
            return Vec::new();
        };
        conditions.push((lhs, op, want));
    }
    let keep = |item: &Value| {
        conditions.iter().all(|&(field, op, want)| {
            let got = jsonpath(item, &format!("${field}"))
                .first()
                .and_then(|v| v.as_f64());
            got.is_some_and(|g| match op {
                "<=" => g <= want,
                ">=" => g >= want,
                "==" => g == want,
                "!=" => g != want,
                "<" => g < want,
                _ => g > want,
            })
        })
    };
    match node {
        Value::Array(items) => items.iter().filter(|i| keep(i)).collect(),
        other if keep(other) => vec![other],
        _ => Vec::new(),
    }
}

/// Runs an experiment; rollbacks always run. `stop` set by a signal handler aborts it.
///
/// Verdicts, as chaostoolkit-lib 1.44's: the hypothesis not met before the method is `failed`
/// and nothing is injected; an action that fails is `failed`; the hypothesis not met after the
/// method is `deviated`; a check during the method that deviates is only recorded, unless
/// fail-fast is on: then the method stops, the check after it still runs (when the strategy
/// has one), and the verdict is `deviated` if that check fails too, else `failed`; Ctrl-C is
/// `aborted`.
pub fn run(doc: Value, stop: Arc<AtomicBool>, opts: &RunOptions) -> Outcome {
    let config = resolve_config(&doc);
    let exp = Experiment {
        doc,
        config,
        stop,
        halt_method: AtomicBool::new(false),
    };
    let start = now_secs();
    let mut verdict = Verdict::Completed;
    let mut runs = Vec::new();
    let mut during = Vec::new();
    let has_hypothesis = exp.has_hypothesis();
    eprintln!(
        "[chaos] {} (hypothesis: {})",
        exp.doc["title"].as_str().unwrap_or("experiment"),
        opts.strategy.name()
    );
    let before = (has_hypothesis && opts.strategy.before()).then(|| exp.hypothesis());
    if before
        .as_ref()
        .is_some_and(|b| b["steady_state_met"] != true)
    {
        verdict = if exp.interrupted() {
            Verdict::Aborted
        } else {
            Verdict::Failed
        };
        eprintln!("[chaos] steady state not met before the method: not injecting anything");
    }
    let mut after = None;
    if verdict == Verdict::Completed {
        (runs, verdict, during) = exp.method_with_checks(*opts);
        // chaostoolkit checks after a fail-fast stop too: `deviated` if the fault is still felt.
        let fail_fast_stop = verdict == Verdict::Failed && exp.halted();
        if (verdict == Verdict::Completed || fail_fast_stop)
            && has_hypothesis
            && opts.strategy.after()
        {
            let a = exp.hypothesis();
            if a["steady_state_met"] != true {
                verdict = if exp.interrupted() {
                    Verdict::Aborted
                } else {
                    Verdict::Deviated
                };
            }
            after = Some(a);
        }
    }
    // Rollbacks run on every path, even after Ctrl-C: a second signal must not skip them.
    exp.stop.store(false, Ordering::Relaxed);
    let rollbacks: Vec<Value> = exp.doc["rollbacks"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| {
            eprintln!("[chaos] rollback: {}", a["name"].as_str().unwrap_or("?"));
            exp.run_activity(a, Part::Rollback)
        })
        .collect();
    let end = now_secs();
    eprintln!("[chaos] verdict: {}", verdict.name());
    let journal = json!({
        "chaoslib-version": null,
        "platform": std::env::consts::OS,
        "node": std::fs::read_to_string("/etc/hostname").unwrap_or_default().trim(),
        "experiment": exp.doc,
        "start": iso(start),
        "end": iso(end),
        "duration": end - start,
        "status": verdict.name(),
        "deviated": verdict == Verdict::Deviated,
        "steady_states": {"before": before, "after": after, "during": during},
        "run": runs,
        "rollbacks": rollbacks,
        // Not in chaostoolkit's journal (it keeps these in its settings): how the run checked.
        "runtime": {"hypothesis": {
            "strategy": opts.strategy.name(),
            "frequency": opts.frequency.as_secs_f64(),
            "fail_fast": opts.fail_fast,
        }},
    });
    Outcome { verdict, journal }
}

/// A markdown account of a journal.
pub fn report(journal: &Value) -> String {
    let mut md = String::new();
    let title = journal["experiment"]["title"]
        .as_str()
        .unwrap_or("experiment");
    md.push_str(&format!("# Chaos experiment: {title}\n\n"));
    md.push_str(&format!(
        "{}\n\n**Verdict: {}** ({} to {}, {:.1} s)\n\n",
        journal["experiment"]["description"].as_str().unwrap_or(""),
        journal["status"].as_str().unwrap_or("?"),
        journal["start"].as_str().unwrap_or(""),
        journal["end"].as_str().unwrap_or(""),
        journal["duration"].as_f64().unwrap_or(0.0)
    ));
    let table = |md: &mut String, heading: &str, runs: &[Value]| {
        md.push_str(&format!("## {heading}\n\n"));
        if runs.is_empty() {
            md.push_str("(none run)\n\n");
            return;
        }
        md.push_str("| activity | type | status | tolerance met | duration (s) | output |\n");
        md.push_str("|---|---|---|---|---|---|\n");
        for r in runs {
            let output = summarize(&r["output"]);
            md.push_str(&format!(
                "| {} | {} | {} | {} | {:.2} | {} |\n",
                r["activity"]["name"].as_str().unwrap_or("?"),
                r["activity"]["type"].as_str().unwrap_or("?"),
                r["status"].as_str().unwrap_or("?"),
                r.get("tolerance_met").map_or("-".into(), Value::to_string),
                r["duration"].as_f64().unwrap_or(0.0),
                output
            ));
        }
        md.push('\n');
    };
    let list = |v: &Value| v.as_array().cloned().unwrap_or_default();
    let ss = &journal["steady_states"];
    let hyp = &journal["runtime"]["hypothesis"];
    if let Some(strategy) = hyp["strategy"].as_str() {
        md.push_str(&format!(
            "Hypothesis strategy: {strategy}, {} s between checks during the method, fail-fast {}.\n\n",
            hyp["frequency"].as_f64().unwrap_or(0.0),
            if hyp["fail_fast"] == true { "on" } else { "off" }
        ));
    }
    table(
        &mut md,
        "Steady state before",
        &list(&ss["before"]["probes"]),
    );
    table(&mut md, "Method", &list(&journal["run"]));
    during_table(&mut md, &list(&ss["during"]));
    table(&mut md, "Steady state after", &list(&ss["after"]["probes"]));
    table(&mut md, "Rollbacks", &list(&journal["rollbacks"]));
    md
}

/// The checks during the method: one row per check, with the probe that broke it.
fn during_table(md: &mut String, checks: &[Value]) {
    md.push_str("## Steady state during the method\n\n");
    if checks.is_empty() {
        md.push_str("(none run)\n\n");
        return;
    }
    let met = checks
        .iter()
        .filter(|c| c["steady_state_met"] == true)
        .count();
    md.push_str(&format!(
        "{met} of {} checks met the steady state.\n\n",
        checks.len()
    ));
    md.push_str(
        "| check | started | steady state met | probes run | first probe out of tolerance |\n",
    );
    md.push_str("|---|---|---|---|---|\n");
    for (i, check) in checks.iter().enumerate() {
        let probes = check["probes"].as_array().map_or(&[][..], Vec::as_slice);
        let broken = probes
            .iter()
            .find(|p| p["tolerance_met"] == false || p["status"] != "succeeded")
            .map_or_else(
                || "-".to_owned(),
                |p| {
                    let what = match p["exception"][0].as_str() {
                        Some(e) if p["output"].is_null() => summarize(&json!(e)),
                        _ => summarize(&p["output"]),
                    };
                    format!("{}: {what}", p["activity"]["name"].as_str().unwrap_or("?"))
                },
            );
        md.push_str(&format!(
            "| {} | {} | {} | {} | {broken} |\n",
            i + 1,
            probes
                .first()
                .and_then(|p| p["start"].as_str())
                .unwrap_or("-"),
            check["steady_state_met"],
            probes.len(),
        ));
    }
    md.push('\n');
}

/// One short line of an activity's output for the report's tables.
fn summarize(output: &Value) -> String {
    let text = match output {
        Value::Object(o) if o.contains_key("stdout") => {
            let stdout = o["stdout"].as_str().unwrap_or_default();
            match serde_json::from_str::<Value>(stdout) {
                Ok(v) if v.get("success_ratio").is_some() => format!(
                    "exit {}, success {:.4}, p50 {:.1} ms, p99 {:.1} ms, {:.0}/s",
                    o["status"],
                    v["success_ratio"].as_f64().unwrap_or(0.0),
                    v["latency_ms"]["p50"].as_f64().unwrap_or(0.0),
                    v["latency_ms"]["p99"].as_f64().unwrap_or(0.0),
                    v["achieved_rate"].as_f64().unwrap_or(0.0)
                ),
                _ => format!("exit {}: {}", o["status"], stdout.trim()),
            }
        }
        Value::Object(o) if o.contains_key("body") => {
            format!("HTTP {}: {}", o["status"], o["body"])
        }
        other => other.to_string(),
    };
    let one_line: String = text.replace(['\n', '|'], " ");
    if one_line.chars().count() > 120 {
        format!("{}…", one_line.chars().take(120).collect::<String>())
    } else {
        one_line
    }
}

/// `simex chaos run`: runs, writes the journal and report, and fails unless `completed`.
pub fn run_file(
    file: &Path,
    journal_path: &Path,
    report_path: Option<&Path>,
    opts: &RunOptions,
) -> Result<()> {
    let doc = load(file)?;
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, Arc::clone(&stop))
            .context("installing the Ctrl-C handler")?;
    }
    let outcome = run(doc, stop, opts);
    std::fs::write(journal_path, serde_json::to_vec_pretty(&outcome.journal)?)
        .with_context(|| format!("writing {}", journal_path.display()))?;
    eprintln!("[chaos] journal: {}", journal_path.display());
    if let Some(path) = report_path {
        std::fs::write(path, report(&outcome.journal))
            .with_context(|| format!("writing {}", path.display()))?;
        eprintln!("[chaos] report: {}", path.display());
    }
    if outcome.verdict != Verdict::Completed {
        bail!("experiment {}", outcome.verdict.name());
    }
    Ok(())
}

/// `simex chaos list`: each experiment file in `dir` with its title.
pub fn list(dir: &Path) -> Result<()> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    for f in files {
        let title = load(&f)
            .map(|d| d["title"].as_str().unwrap_or("").to_owned())
            .unwrap_or_else(|e| format!("INVALID: {e:#}"));
        println!("{:<40} {title}", f.display());
    }
    Ok(())
}

/// `simex chaos signal`: sends `signal` to a supervised service's current pid.
pub fn signal(status_file: &Path, service: &str, signal: &str) -> Result<()> {
    let status = crate::supervisor::SupervisorStatus::read(status_file)
        .with_context(|| format!("no supervisor status in {}", status_file.display()))?;
    let pid = status
        .services
        .iter()
        .find(|s| s.name == service)
        .and_then(|s| s.pid)
        .with_context(|| format!("{service} is not running"))?;
    let number = match signal.trim_start_matches("SIG") {
        "KILL" => libc::SIGKILL,
        "STOP" => libc::SIGSTOP,
        "CONT" => libc::SIGCONT,
        "TERM" => libc::SIGTERM,
        other => bail!("unsupported signal {other}: KILL, STOP, CONT or TERM"),
    };
    let pid = libc::pid_t::try_from(pid)?;
    // SAFETY: plain kill(2) on a pid the supervisor owns.
    if unsafe { libc::kill(pid, number) } != 0 {
        bail!("kill({pid}, {signal}): {}", std::io::Error::last_os_error());
    }
    println!(
        "sent SIG{} to {service} (pid {pid})",
        signal.trim_start_matches("SIG")
    );
    Ok(())
}

/// Best bid and ask of one symbol's book (`None` for an empty side).
fn top_of_book(agent: &ureq::Agent, url: &str, symbol: &str) -> Result<(Option<f64>, Option<f64>)> {
    let endpoint = format!("{url}/api/v1/orderbook/{symbol}?depth=1");
    let mut resp = agent
        .get(&endpoint)
        .call()
        .with_context(|| format!("GET {endpoint}"))?;
    if !resp.status().is_success() {
        bail!("GET {endpoint}: HTTP {}", resp.status());
    }
    let book: Value = serde_json::from_str(&resp.body_mut().read_to_string()?)?;
    let best = |side: &str| {
        book[side][0][0]
            .as_str()
            .and_then(|p| p.parse::<f64>().ok())
    };
    Ok((best("bids"), best("asks")))
}

/// `simex chaos check-book`: fails if any symbol's best bid is at or above its best ask.
pub fn check_book(url: &str, symbols: &str) -> Result<()> {
    let agent = crate::supervisor::agent(Duration::from_secs(10));
    let mut books = Map::new();
    let mut crossed = Vec::new();
    for symbol in symbols.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (bid, ask) = top_of_book(&agent, url, symbol)?;
        if let (Some(b), Some(a)) = (bid, ask) {
            if b >= a {
                crossed.push(symbol.to_owned());
            }
        }
        books.insert(symbol.to_owned(), json!({"best_bid": bid, "best_ask": ask}));
    }
    println!("{}", json!({"books": books, "crossed": crossed}));
    if !crossed.is_empty() {
        bail!("crossed book(s): {}", crossed.join(", "));
    }
    Ok(())
}

/// `simex chaos check-acked`: every order in order-flow's `acked-orders.log` (lines
/// `order_id symbol key_index`; the last `limit`) must be known to trading-api, asked as its owner.
pub fn check_acked(url: &str, log: &Path, keys: &Path, limit: usize) -> Result<()> {
    let text =
        std::fs::read_to_string(log).with_context(|| format!("reading {}", log.display()))?;
    let keys: Value = serde_json::from_str(
        &std::fs::read_to_string(keys).with_context(|| format!("reading {}", keys.display()))?,
    )?;
    let accounts = keys["accounts"]
        .as_array()
        .context("key file without `accounts`")?;
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let agent = crate::supervisor::agent(Duration::from_secs(10));
    let (mut checked, mut missing) = (0usize, Vec::new());
    for line in lines.iter().skip(lines.len().saturating_sub(limit)) {
        let mut parts = line.split_whitespace();
        let (Some(id), Some(_symbol), Some(Ok(key_index))) = (
            parts.next(),
            parts.next(),
            parts.next().map(str::parse::<usize>),
        ) else {
            bail!("malformed line in {}: {line:?}", log.display());
        };
        let key = accounts
            .get(key_index % accounts.len().max(1))
            .and_then(|a| a["api_key"].as_str())
            .context("key index outside the key file")?;
        let resp = agent
            .get(&format!("{url}/api/v1/orders/{id}"))
            .header("x-api-key", key)
            .call()
            .with_context(|| format!("GET order {id}"))?;
        checked += 1;
        if resp.status().as_u16() == 404 {
            missing.push(id.to_owned());
        } else if !resp.status().is_success() {
            bail!("GET order {id}: HTTP {}", resp.status());
        }
    }
    println!(
        "{}",
        json!({"checked": checked, "missing": missing.len(), "missing_ids": missing.iter().take(20).collect::<Vec<_>>()})
    );
    if !missing.is_empty() {
        bail!(
            "{} of {checked} acknowledged orders are missing",
            missing.len()
        );
    }
    Ok(())
}

/// `simex chaos wait-ready`: polls `url/ready` until it answers 2xx or `timeout` passes.
pub fn wait_ready(url: &str, timeout: Duration) -> Result<()> {
    let start = Instant::now();
    let ready = format!("{url}/ready");
    while start.elapsed() < timeout {
        if crate::supervisor::http_ok(&ready, Duration::from_secs(1)) {
            println!(
                "{}",
                json!({"ready": true, "waited_secs": start.elapsed().as_secs_f64()})
            );
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    bail!("{ready} not ready after {} s", timeout.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_output(p99: f64, success: f64) -> Value {
        let stdout = json!({"latency_ms": {"p99": p99}, "success_ratio": success}).to_string();
        json!({"status": 0, "stdout": stdout, "stderr": ""})
    }

    #[test]
    fn jsonpath_filter_with_and_checks_both_conditions() {
        let tol = json!({"type": "jsonpath", "target": "stdout",
            "path": "$[?(@.latency_ms.p99 <= 250 and @.success_ratio >= 0.99)]"});
        let process = json!({"type": "process"});
        assert!(tolerance_met(&tol, &load_output(12.5, 1.0), &process));
        assert!(!tolerance_met(&tol, &load_output(300.0, 1.0), &process));
        assert!(!tolerance_met(&tol, &load_output(12.5, 0.9), &process));
        assert!(!tolerance_met(
            &tol,
            &json!({"status": 0, "stdout": "not json"}),
            &process
        ));
    }

    #[test]
    fn status_range_and_expect_tolerances() {
        let http = json!({"type": "http"});
        let ok = json!({"status": 200, "body": {"faults": [], "n": 3}});
        assert!(tolerance_met(&json!(200), &ok, &http));
        assert!(!tolerance_met(&json!(201), &ok, &http));
        assert!(tolerance_met(&json!([200, 204]), &ok, &http));
        let range = json!({"type": "range", "range": [1, 5], "target": "body"});
        assert!(
            !tolerance_met(&range, &ok, &http),
            "an object is not in a range"
        );
        let expect = json!({"type": "jsonpath", "path": "$.n", "expect": 3});
        assert!(tolerance_met(&expect, &ok, &http));
        let empty = json!({"type": "jsonpath", "path": "$.faults", "expect": []});
        assert!(tolerance_met(&empty, &ok, &http));
    }

    #[test]
    fn configuration_substitutes_numbers_and_text() {
        let config: BTreeMap<String, String> = [
            ("secs".to_owned(), "20".to_owned()),
            ("url".to_owned(), "http://h:1".to_owned()),
        ]
        .into_iter()
        .collect();
        let v = substitute(
            &json!({"d": "${secs}", "u": "${url}/admin", "n": 1}),
            &config,
        );
        assert_eq!(v, json!({"d": 20.0, "u": "http://h:1/admin", "n": 1}));
    }

    #[test]
    fn iso_times_are_utc_rfc3339() {
        assert_eq!(iso(0.0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso(1_700_000_000.5), "2023-11-14T22:13:20.500Z");
    }

    #[test]
    fn a_failing_action_fails_the_run_and_rollbacks_still_run() {
        let doc = json!({
            "title": "t", "description": "d",
            "method": [{"type": "action", "name": "false",
                        "provider": {"type": "process", "path": "false"}}],
            "rollbacks": [{"type": "action", "name": "true",
                           "provider": {"type": "process", "path": "true"}}]
        });
        let outcome = run(
            doc,
            Arc::new(AtomicBool::new(false)),
            &RunOptions::default(),
        );
        assert_eq!(outcome.verdict, Verdict::Failed);
        assert_eq!(outcome.journal["rollbacks"][0]["status"], "succeeded");
    }

    #[test]
    fn an_interrupted_run_is_aborted_and_rolls_back() {
        let doc = json!({
            "title": "t", "description": "d",
            "method": [{"type": "action", "name": "x",
                        "provider": {"type": "process", "path": "true"}}],
            "rollbacks": [{"type": "action", "name": "undo",
                           "provider": {"type": "process", "path": "true"}}]
        });
        let outcome = run(doc, Arc::new(AtomicBool::new(true)), &RunOptions::default());
        assert_eq!(outcome.verdict, Verdict::Aborted);
        assert!(outcome.journal["run"].as_array().is_some_and(Vec::is_empty));
        assert_eq!(outcome.journal["rollbacks"][0]["status"], "succeeded");
    }

    /// A process activity running `sh -c script`; probes get tolerance 0 (exit code).
    fn sh(kind: &str, name: &str, script: &str, pause_after: f64) -> Value {
        let mut a = json!({"type": kind, "name": name,
            "provider": {"type": "process", "path": "sh", "arguments": ["-c", script]},
            "pauses": {"after": pause_after}});
        if kind == "probe" {
            a["tolerance"] = json!(0);
        }
        a
    }

    /// A scratch folder for one test, removed on drop.
    struct Scratch(std::path::PathBuf);

    impl Scratch {
        fn new(tag: &str) -> Self {
            let dir =
                std::env::temp_dir().join(format!("simex-chaos-{}-{tag}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).expect("scratch dir");
            Self(dir)
        }

        fn file(&self, name: &str) -> String {
            self.0.join(name).display().to_string()
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn opts(strategy: HypothesisStrategy, fail_fast: bool) -> RunOptions {
        RunOptions {
            strategy,
            frequency: Duration::from_millis(50),
            fail_fast,
        }
    }

    /// Steady while `flag` is absent; the method creates it, holds it `hold` s, removes it.
    fn flag_experiment(flag: &str, hold: f64) -> Value {
        json!({
            "title": "flag", "description": "the method raises a flag the hypothesis forbids",
            "steady-state-hypothesis": {"title": "no flag",
                "probes": [sh("probe", "no-flag", &format!("test ! -e {flag}"), 0.0)]},
            "method": [sh("action", "raise-flag", &format!("touch {flag}"), hold),
                       sh("action", "lower-flag", &format!("rm -f {flag}"), 0.0)],
            "rollbacks": [sh("action", "lower-flag", &format!("rm -f {flag}"), 0.0)]
        })
    }

    #[test]
    fn each_strategy_checks_the_hypothesis_where_chaostoolkit_does() {
        let doc = json!({
            "title": "t", "description": "d",
            "steady-state-hypothesis": {"title": "h", "probes": [sh("probe", "ok", "true", 0.0)]},
            "method": [sh("action", "wait", "true", 0.3)]
        });
        use HypothesisStrategy as S;
        for (strategy, before, during, after) in [
            (S::Default, true, false, true),
            (S::BeforeMethodOnly, true, false, false),
            (S::AfterMethodOnly, false, false, true),
            (S::DuringMethodOnly, false, true, false),
            (S::Continuously, true, true, true),
        ] {
            let outcome = run(
                doc.clone(),
                Arc::new(AtomicBool::new(false)),
                &opts(strategy, false),
            );
            let ss = &outcome.journal["steady_states"];
            assert_eq!(outcome.verdict, Verdict::Completed, "{strategy:?}");
            assert_eq!(ss["before"].is_object(), before, "{strategy:?}: {ss}");
            assert_eq!(ss["after"].is_object(), after, "{strategy:?}: {ss}");
            let checks = ss["during"].as_array().expect("during is a list");
            assert_eq!(!checks.is_empty(), during, "{strategy:?}: {ss}");
            for check in checks {
                assert_eq!(check["steady_state_met"], true, "{check}");
                assert_eq!(check["probes"][0]["activity"]["name"], "ok");
                assert_eq!(check["probes"][0]["tolerance_met"], true);
            }
            assert_eq!(
                outcome.journal["runtime"]["hypothesis"]["strategy"],
                strategy.name()
            );
        }
    }

    #[test]
    fn a_deviation_during_the_method_is_recorded_and_reported_without_changing_the_verdict() {
        let scratch = Scratch::new("during");
        let doc = flag_experiment(&scratch.file("flag"), 0.5);
        let outcome = run(
            doc,
            Arc::new(AtomicBool::new(false)),
            &opts(HypothesisStrategy::Continuously, false),
        );
        // chaostoolkit-lib sets `deviated` only from the check after the method.
        assert_eq!(outcome.verdict, Verdict::Completed);
        let ss = &outcome.journal["steady_states"];
        assert_eq!(ss["before"]["steady_state_met"], true);
        assert_eq!(ss["after"]["steady_state_met"], true);
        let checks = ss["during"].as_array().expect("during is a list");
        let deviated = checks
            .iter()
            .filter(|c| c["steady_state_met"] == false)
            .count();
        assert!(deviated >= 1, "a check saw the flag: {checks:#?}");
        let md = report(&outcome.journal);
        assert!(md.contains("## Steady state during the method"), "{md}");
        assert!(
            md.contains(&format!(
                "{} of {} checks met the steady state.",
                checks.len() - deviated,
                checks.len()
            )),
            "{md}"
        );
        assert!(md.contains("| false | 1 | no-flag: exit 1"), "{md}");
        assert!(md.contains("Hypothesis strategy: continuously"), "{md}");
    }

    #[test]
    fn fail_fast_stops_the_method_at_the_first_deviation_and_rolls_back() {
        // As chaostoolkit: `failed`, or `deviated` when the check after the method (continuously)
        // still sees the fault.
        for (strategy, verdict) in [
            (HypothesisStrategy::DuringMethodOnly, Verdict::Failed),
            (HypothesisStrategy::Continuously, Verdict::Deviated),
        ] {
            let scratch = Scratch::new(&format!("fail-fast-{}", strategy.name()));
            let (flag, marker) = (scratch.file("flag"), scratch.file("marker"));
            let mut doc = flag_experiment(&flag, 0.0);
            doc["method"] = json!([
                sh("action", "raise-flag", &format!("touch {flag}"), 0.0),
                sh("action", "long-action", "sleep 30", 0.0),
                sh("action", "never-reached", &format!("touch {marker}"), 0.0),
            ]);
            let started = Instant::now();
            let outcome = run(doc, Arc::new(AtomicBool::new(false)), &opts(strategy, true));
            assert!(
                started.elapsed() < Duration::from_secs(15),
                "the 30 s action was cut short: {:?}",
                started.elapsed()
            );
            assert_eq!(outcome.verdict, verdict, "{strategy:?}");
            let j = &outcome.journal;
            let runs = j["run"].as_array().expect("runs");
            assert_eq!(runs.len(), 2, "{runs:#?}");
            assert_eq!(runs[1]["status"], "failed");
            assert!(
                runs[1]["exception"][0]
                    .as_str()
                    .is_some_and(|e| e.contains("fail-fast")),
                "{}",
                runs[1]
            );
            assert!(!Path::new(&marker).exists(), "the third action never ran");
            let during = j["steady_states"]["during"].as_array().expect("during");
            assert_eq!(during.last().expect("a check")["steady_state_met"], false);
            let after = &j["steady_states"]["after"];
            match strategy {
                HypothesisStrategy::Continuously => assert_eq!(after["steady_state_met"], false),
                _ => assert!(after.is_null()),
            }
            assert_eq!(j["rollbacks"][0]["status"], "succeeded");
            assert!(!Path::new(&flag).exists(), "the rollback lowered the flag");
        }
    }

    #[test]
    fn ctrl_c_stops_the_checks_and_the_method_and_still_rolls_back() {
        let scratch = Scratch::new("ctrl-c");
        let undone = scratch.file("undone");
        let doc = json!({
            "title": "t", "description": "d",
            "steady-state-hypothesis": {"title": "h", "probes": [sh("probe", "ok", "true", 0.0)]},
            "method": [sh("action", "long-action", "sleep 30", 0.0)],
            "rollbacks": [sh("action", "undo", &format!("touch {undone}"), 0.0)]
        });
        let stop = Arc::new(AtomicBool::new(false));
        let signal = Arc::clone(&stop);
        let ctrl_c = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(400));
            signal.store(true, Ordering::Relaxed);
        });
        let started = Instant::now();
        let outcome = run(doc, stop, &opts(HypothesisStrategy::Continuously, false));
        ctrl_c.join().expect("signal thread");
        assert!(started.elapsed() < Duration::from_secs(15));
        assert_eq!(outcome.verdict, Verdict::Aborted);
        assert!(outcome.journal["steady_states"]["after"].is_null());
        assert!(!outcome.journal["steady_states"]["during"]
            .as_array()
            .expect("during")
            .is_empty());
        assert!(Path::new(&undone).exists(), "the rollback ran");
    }

    #[test]
    fn hypothesis_frequency_is_validated() {
        assert!(RunOptions::new(HypothesisStrategy::Continuously, -1.0, false).is_err());
        assert!(RunOptions::new(HypothesisStrategy::Continuously, f64::NAN, false).is_err());
        let o = RunOptions::new(HypothesisStrategy::Continuously, 2.5, true).expect("valid");
        assert_eq!(o.frequency, Duration::from_millis(2500));
    }
}
