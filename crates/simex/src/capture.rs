//! `simex profile`: capture a profile from a running service and turn it into files at once.
//!
//! A capture is a GET of the service's `/debug/pprof/<name>` endpoint (the same URLs as Go's
//! `net/http/pprof`). The answer, a gzip'd pprof protobuf, is checked to be a profile before
//! anything is written, then lands in `flamegraphs/{type}_profile_{service}_{timestamp}.pb.gz`,
//! followed by its flamegraph (`.svg`), its top functions (`_top.txt`) and, for CPU profiles,
//! the analysis (`_analysis.md`). Every file is written to a temporary name and renamed, so an
//! interrupted or failed capture leaves nothing half-written.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{bail, Context, Result};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use profile_tools::files::{self, ArtifactName};
use profile_tools::{Profile, SampleIndex};

use crate::services::{port_hint, Ports};

/// Largest profile accepted from a service; real ones are a few MB.
const MAX_PROFILE_BYTES: u64 = 256 * 1024 * 1024;

/// The profile types a service serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ProfileType {
    /// CPU time (`/debug/pprof/profile`), sampled over `--seconds` (default 30).
    Cpu,
    /// Live heap (`/debug/pprof/heap`): a snapshot of what is allocated now.
    Heap,
    /// Allocations (`/debug/pprof/allocs`): made during `--seconds` (default 30; 0 = since start).
    Allocs,
    /// Tokio tasks by stack (`/debug/pprof/goroutine`): a snapshot.
    Goroutine,
    /// Time blocked waiting (`/debug/pprof/block`): since start, or over `--seconds`.
    Block,
    /// Time waiting for contended mutexes (`/debug/pprof/mutex`): since start, or over `--seconds`.
    Mutex,
}

impl ProfileType {
    /// Every type, in the order `--all` captures them.
    pub const ALL: [ProfileType; 6] = [
        ProfileType::Cpu,
        ProfileType::Heap,
        ProfileType::Allocs,
        ProfileType::Goroutine,
        ProfileType::Block,
        ProfileType::Mutex,
    ];

    /// The name used in file names and by `make profile-<name>`.
    pub fn name(self) -> &'static str {
        match self {
            ProfileType::Cpu => "cpu",
            ProfileType::Heap => "heap",
            ProfileType::Allocs => "allocs",
            ProfileType::Goroutine => "goroutine",
            ProfileType::Block => "block",
            ProfileType::Mutex => "mutex",
        }
    }

    /// The capture length when `--seconds` is not given: CPU and allocations are measured over
    /// time, the others are snapshots (0).
    pub fn default_seconds(self) -> u64 {
        match self {
            ProfileType::Cpu | ProfileType::Allocs => 30,
            _ => 0,
        }
    }

    /// The path and query that capture this type over `seconds` (0: a snapshot). A CPU profile
    /// always needs a duration, so 0 means one second.
    pub fn endpoint(self, seconds: u64) -> String {
        match (self, seconds) {
            (ProfileType::Cpu, s) => format!("/debug/pprof/profile?seconds={}", s.max(1)),
            (other, 0) => format!("/debug/pprof/{}", other.name()),
            (other, s) => format!("/debug/pprof/{}?seconds={s}", other.name()),
        }
    }

    /// How long the capture takes.
    fn duration(self, seconds: u64) -> u64 {
        match self {
            ProfileType::Cpu => seconds.max(1),
            _ => seconds,
        }
    }
}

/// What to capture and where to put it.
#[derive(Debug, Clone)]
pub struct CaptureRequest {
    /// Which profile.
    pub profile_type: ProfileType,
    /// Capture length; 0 for a snapshot.
    pub seconds: u64,
    /// Host the service runs on.
    pub host: String,
    /// Its port.
    pub port: u16,
    /// Our services' ports, to name the service when it does not say and in messages.
    pub ports: Ports,
    /// Directory for the files (created if missing).
    pub out_dir: PathBuf,
    /// Lines in the `_top.txt` file.
    pub top: usize,
    /// Bearer token for services that are not on loopback (their pprof endpoints answer
    /// loopback clients, and others only with the token).
    pub token: Option<String>,
    /// Say "capturing ..." when a capture without a progress bar starts (`--all` does not: its
    /// captures run side by side and each says what it wrote when it ends).
    pub announce: bool,
}

/// Files one capture wrote.
#[derive(Debug, Clone)]
pub struct Captured {
    /// The `.pb.gz`.
    pub profile: PathBuf,
    /// The flamegraph; `None` when the profile has no samples (an idle mutex profile).
    pub svg: Option<PathBuf>,
    /// The top-N text.
    pub top: PathBuf,
    /// The analysis (CPU captures).
    pub analysis: Option<PathBuf>,
    /// Why there is no flamegraph, when there is none.
    pub no_flamegraph: Option<String>,
}

impl Captured {
    /// Every file written, for printing.
    pub fn paths(&self) -> Vec<&Path> {
        let mut paths = vec![self.profile.as_path()];
        paths.extend(self.svg.as_deref());
        paths.push(&self.top);
        paths.extend(self.analysis.as_deref());
        paths
    }
}

fn agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        .build()
        .into()
}

/// The service's name from its `/debug/pprof/cmdline` (the binary's file name), else the name of
/// our service on that port, else `port{N}`. File names must not contain `_`.
fn service_name(base: &str, port: u16, ports: Ports, token: Option<&str>) -> String {
    let from_cmdline = authorized(
        agent(Duration::from_secs(2)).get(format!("{base}/debug/pprof/cmdline")),
        token,
    )
    .call()
    .ok()
    .filter(|r| r.status().is_success())
    .and_then(|mut r| r.body_mut().read_to_string().ok())
    .and_then(|text| {
        let argv0 = text.split(['\0', '\n']).next()?.trim().to_owned();
        let name = Path::new(&argv0).file_name()?.to_str()?.replace('_', "-");
        (!name.is_empty()).then_some(name)
    });
    from_cmdline
        .or_else(|| ports.service_on(port).map(str::to_owned))
        .unwrap_or_else(|| format!("port{port}"))
}

/// Adds the bearer token, when there is one.
fn authorized(
    request: ureq::RequestBuilder<ureq::typestate::WithoutBody>,
    token: Option<&str>,
) -> ureq::RequestBuilder<ureq::typestate::WithoutBody> {
    match token {
        Some(token) => request.header("Authorization", format!("Bearer {token}")),
        None => request,
    }
}

/// Checks that something answers at `base` before a long capture starts.
fn check_reachable(base: &str, ports: Ports) -> Result<()> {
    match agent(Duration::from_secs(3)).get(format!("{base}/health")).call() {
        Ok(_) => Ok(()),
        Err(err) => bail!(
            "no service answers at {base} ({err}).\n  Start the services with `make up` (check with \
             `make status`), or pick the right port: {}",
            port_hint(ports)
        ),
    }
}

/// A stem no other file in `dir` has: two captures of one type and service in the same second
/// would otherwise overwrite each other, so wait for the next second.
fn fresh_stem(dir: &Path, type_name: &str, service: &str) -> String {
    loop {
        let stem = ArtifactName::capture_stem(type_name, service, SystemTime::now());
        if !dir.join(format!("{stem}.pb.gz")).exists() {
            return stem;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// How often a capture without a terminal says how far it is: often enough that a log or a CI
/// job shows it is alive, rarely enough that `--all` stays readable.
const PLAIN_PROGRESS_EVERY: Duration = Duration::from_secs(10);

/// Where a running capture reports its progress.
enum Progress<'a> {
    /// A bar on a terminal.
    Bar(&'a ProgressBar),
    /// Plain lines on stderr (no terminal), prefixed with what is captured.
    Lines(&'a str),
}

/// What a service answered.
struct Answer {
    status: u16,
    body: Vec<u8>,
    /// The service said it is a pprof endpoint (`X-Go-Pprof: 1`, as Go's handlers do on errors),
    /// so a failure is the profile's, not a wrong port's.
    is_pprof: bool,
}

/// Downloads the profile body, showing progress on the capture's clock meanwhile.
fn fetch(url: &str, seconds: u64, token: Option<&str>, progress: Progress<'_>) -> Result<Answer> {
    // Generous: the service answers only after the capture, then encodes and compresses.
    let timeout = Duration::from_secs(seconds + 60);
    let started = Instant::now();
    let request = std::thread::spawn({
        let url = url.to_owned();
        let token = token.map(str::to_owned);
        move || -> Result<Answer> {
            let mut resp = authorized(agent(timeout).get(&url), token.as_deref())
                .call()
                .with_context(|| format!("GET {url} failed"))?;
            let status = resp.status().as_u16();
            let is_pprof = resp
                .headers()
                .get("x-go-pprof")
                .is_some_and(|v| v.as_bytes() == b"1");
            let body = resp
                .body_mut()
                .with_config()
                .limit(MAX_PROFILE_BYTES)
                .read_to_vec()
                .with_context(|| format!("reading the answer of {url}"))?;
            Ok(Answer {
                status,
                body,
                is_pprof,
            })
        }
    });
    let mut next_line = PLAIN_PROGRESS_EVERY;
    while !request.is_finished() {
        let elapsed = started.elapsed();
        match progress {
            Progress::Bar(bar) => bar.set_position(elapsed.as_secs().min(seconds)),
            Progress::Lines(what) if elapsed >= next_line && elapsed.as_secs() < seconds => {
                eprintln!("  {what}: {}/{seconds} s", elapsed.as_secs());
                next_line += PLAIN_PROGRESS_EVERY;
            }
            Progress::Lines(_) => {}
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    request
        .join()
        .map_err(|_| anyhow::anyhow!("the capture thread panicked"))?
}

/// Captures one profile and writes the profile, its flamegraph, its top list and (CPU) analysis.
/// With `progress`, a bar shows the capture (added to the given [`MultiProgress`]).
pub fn capture(req: &CaptureRequest, progress: Option<&MultiProgress>) -> Result<Captured> {
    let base = format!("http://{}:{}", req.host, req.port);
    check_reachable(&base, req.ports)?;
    let token = req.token.as_deref();
    let service = service_name(&base, req.port, req.ports, token);
    let kind = req.profile_type.name();
    let url = format!("{base}{}", req.profile_type.endpoint(req.seconds));
    let seconds = req.profile_type.duration(req.seconds);

    let bar = match progress {
        Some(multi) if seconds > 0 => {
            let bar = multi.add(ProgressBar::new(seconds));
            let style =
                ProgressStyle::with_template("{spinner} {msg:<28} [{bar:30}] {pos:>3}/{len} s")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> ");
            bar.set_style(style);
            bar.set_message(format!("{kind} profile of {service}"));
            bar.enable_steady_tick(Duration::from_millis(120));
            Some(bar)
        }
        _ => {
            let over = if seconds > 0 {
                format!(" over {seconds} s")
            } else {
                String::new()
            };
            if req.announce {
                eprintln!("capturing {kind} profile of {service}{over}: {url}");
            }
            None
        }
    };
    let what = format!("{kind} profile of {service}");
    let fetched = fetch(
        &url,
        seconds,
        token,
        match &bar {
            Some(bar) => Progress::Bar(bar),
            None => Progress::Lines(&what),
        },
    );
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let Answer {
        status,
        body,
        is_pprof,
    } = fetched?;
    if status == 404 {
        bail!(
            "{base} has no {} (HTTP 404): not a simex service, or one built without the pprof \
             endpoints (rebuild with `make build`). Ports: {}",
            req.profile_type.endpoint(req.seconds),
            port_hint(req.ports)
        );
    }
    if status == 401 || status == 403 {
        bail!(
            "{url} answered HTTP {status}: profiles are served to loopback clients, others need \
             the service's pprof token (--token or SIMEX_PPROF_TOKEN)"
        );
    }
    if status != 200 {
        let text = String::from_utf8_lossy(&body);
        let text: String = text.trim().chars().take(300).collect();
        // A pprof endpoint's own refusal ("cpu profiling already in use", a bad parameter) is
        // the whole story; the port hint helps only when something else answered.
        if is_pprof {
            bail!("{url} answered HTTP {status}: {text}");
        }
        bail!(
            "{url} answered HTTP {status}: {text}\n  Is port {} a simex service? ({})",
            req.port,
            port_hint(req.ports)
        );
    }
    // Check it is a profile before keeping it: a wrong port may answer 200 with HTML.
    Profile::decode(&body).map_err(|err| {
        anyhow::anyhow!(
            "{url} did not answer a pprof profile ({err}); is port {} a simex service? ({})",
            req.port,
            port_hint(req.ports)
        )
    })?;

    std::fs::create_dir_all(&req.out_dir)
        .with_context(|| format!("creating {}", req.out_dir.display()))?;
    let stem = fresh_stem(&req.out_dir, kind, &service);
    let profile_path = req.out_dir.join(format!("{stem}.pb.gz"));
    files::write_atomically(&profile_path, &body)?;
    finish(&profile_path, req).inspect_err(|_| {
        // The profile itself is whole and worth keeping; say what is missing.
        eprintln!(
            "kept {}; derived files failed (`simex flamegraph` / `simex analyze` can retry)",
            profile_path.display()
        );
    })
}

/// The files made from a captured profile.
fn finish(profile_path: &Path, req: &CaptureRequest) -> Result<Captured> {
    let index = SampleIndex::default();
    let top = crate::toolkit::write_top(profile_path, req.top, &index)?;
    // An idle service can give an empty profile (no blocking, no contention): keep the profile
    // and the top list and say so, rather than failing the capture.
    let svg_path = files::sibling(profile_path, ".svg");
    let (svg, no_flamegraph) =
        match crate::toolkit::render_flamegraph(profile_path, &svg_path, &index, None) {
            Ok(()) => (Some(svg_path), None),
            // The root cause alone ("no samples with a non-zero delay ..."): the path is printed
            // with it.
            Err(err) => (None, Some(err.root_cause().to_string())),
        };
    let analysis = if req.profile_type == ProfileType::Cpu {
        Some(crate::toolkit::write_analysis(
            profile_path,
            None,
            &index,
            false,
        )?)
    } else {
        None
    };
    Ok(Captured {
        profile: profile_path.to_path_buf(),
        svg,
        top,
        analysis,
        no_flamegraph,
    })
}

/// Prints what a capture wrote to stdout, with progress bars (if any) moved out of the way
/// meanwhile: one path per line, or with `compact` one line for the whole capture (the profile's
/// path and the suffixes of the files made from it), as `--all` prints them.
pub fn report(captured: &Captured, progress: Option<&MultiProgress>, compact: bool) {
    let print = || {
        if compact {
            println!("{}", compact_line(captured));
            return;
        }
        if let Some(why) = &captured.no_flamegraph {
            eprintln!("no flamegraph for {}: {why}", captured.profile.display());
        }
        for path in captured.paths() {
            println!("{}", path.display());
        }
    };
    match progress {
        Some(multi) => multi.suspend(print),
        None => print(),
    }
}

/// `flamegraphs/cpu_profile_x_T.pb.gz (+ .svg _top.txt _analysis.md)`.
fn compact_line(captured: &Captured) -> String {
    let profile = captured.profile.display().to_string();
    let stem = profile.strip_suffix(".pb.gz").unwrap_or(&profile);
    let derived: Vec<String> = captured.paths()[1..]
        .iter()
        .map(|p| {
            let p = p.display().to_string();
            p.strip_prefix(stem).map(str::to_owned).unwrap_or(p)
        })
        .collect();
    match &captured.no_flamegraph {
        Some(why) => format!("{profile} (+ {}; no flamegraph: {why})", derived.join(" ")),
        None => format!("{profile} (+ {})", derived.join(" ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_line_names_the_profile_and_the_suffixes_of_the_rest() {
        let captured = Captured {
            profile: "out/cpu_profile_svc_T.pb.gz".into(),
            svg: Some("out/cpu_profile_svc_T.svg".into()),
            top: "out/cpu_profile_svc_T_top.txt".into(),
            analysis: None,
            no_flamegraph: None,
        };
        assert_eq!(
            compact_line(&captured),
            "out/cpu_profile_svc_T.pb.gz (+ .svg _top.txt)"
        );
    }

    #[test]
    fn endpoints_match_go_net_http_pprof() {
        assert_eq!(
            ProfileType::Cpu.endpoint(30),
            "/debug/pprof/profile?seconds=30"
        );
        assert_eq!(
            ProfileType::Cpu.endpoint(0),
            "/debug/pprof/profile?seconds=1"
        );
        assert_eq!(ProfileType::Heap.endpoint(0), "/debug/pprof/heap");
        assert_eq!(
            ProfileType::Allocs.endpoint(30),
            "/debug/pprof/allocs?seconds=30"
        );
        assert_eq!(ProfileType::Goroutine.endpoint(0), "/debug/pprof/goroutine");
        assert_eq!(ProfileType::Cpu.default_seconds(), 30);
        assert_eq!(ProfileType::Mutex.default_seconds(), 0);
    }
}
