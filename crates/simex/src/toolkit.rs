//! The file-based subcommands: flamegraph, diff, analyze, top and serve. Each loads its inputs,
//! calls `profile-tools`, and writes outputs atomically (temp file, then rename), printing the
//! paths it wrote so scripts can pick them up. [`render_flamegraph`], [`write_analysis`] and
//! [`write_top`] are also what `simex profile` uses after a capture, so a file is made one way.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use profile_tools::analyze::{self, Input};
use profile_tools::diff::{CompareOptions, Comparison, Normalize};
use profile_tools::files::{self, ArtifactName};
use profile_tools::flamegraph::{self, FlamegraphConfig};
use profile_tools::{Profile, SampleIndex};

/// A loaded profile with the sample type resolved.
struct Loaded {
    profile: Profile,
    index: usize,
}

fn load(path: &Path, index: &SampleIndex) -> Result<Loaded> {
    let profile = Profile::from_path(path)?;
    let index = profile.resolve_index(index)?;
    Ok(Loaded { profile, index })
}

fn service_of(path: &Path) -> Option<String> {
    path.file_name()
        .and_then(|n| n.to_str())
        .and_then(ArtifactName::parse)
        .and_then(|a| a.service)
}

/// `simex flamegraph`.
pub fn flamegraph(
    input: &Path,
    output: Option<PathBuf>,
    index: SampleIndex,
    title: Option<String>,
    full_stacks: bool,
) -> Result<()> {
    let output = output.unwrap_or_else(|| files::sibling(input, ".svg"));
    render_flamegraph_with(input, &output, &index, title, full_stacks)?;
    println!("{}", output.display());
    Ok(())
}

/// Renders the profile at `input` as a flamegraph SVG at `output` (written atomically), runtime
/// plumbing collapsed. The profile is read from its path so our file name decides its kind
/// (heap and allocs, mutex and block are identical on the wire).
pub fn render_flamegraph(
    input: &Path,
    output: &Path,
    index: &SampleIndex,
    title: Option<String>,
) -> Result<()> {
    render_flamegraph_with(input, output, index, title, false)
}

/// [`render_flamegraph`], with every frame drawn when `full_stacks` is set.
pub fn render_flamegraph_with(
    input: &Path,
    output: &Path,
    index: &SampleIndex,
    title: Option<String>,
    full_stacks: bool,
) -> Result<()> {
    let loaded = load(input, index)?;
    let config = FlamegraphConfig {
        title,
        service: service_of(input),
        full_stacks,
    };
    let svg = flamegraph::render(&loaded.profile, loaded.index, &config)
        .with_context(|| format!("flamegraph of {}", input.display()))?;
    files::write_atomically(output, &svg)?;
    Ok(())
}

/// Analyzes the profile at `profile` (against `base` when given) and writes `{stem}_analysis.md` beside it; returns its path.
pub fn write_analysis(
    profile: &Path,
    base: Option<&Path>,
    index: &SampleIndex,
    verbose: bool,
) -> Result<PathBuf> {
    let analysis = analyze(profile, base, index, verbose)?;
    let output = files::sibling(profile, "_analysis.md");
    files::write_atomically(&output, analysis.to_markdown().as_bytes())?;
    Ok(output)
}

/// Writes the `go tool pprof -top`-style listing of `n` functions to `{stem}_top.txt`.
pub fn write_top(profile: &Path, n: usize, index: &SampleIndex) -> Result<PathBuf> {
    let loaded = load(profile, index)?;
    let output = files::sibling(profile, "_top.txt");
    let text = profile_tools::top::top_text(&loaded.profile, loaded.index, n);
    files::write_atomically(&output, text.as_bytes())?;
    Ok(output)
}

/// The default name of a diff: conventional when both inputs are captures of the same type and
/// service, so the gallery files it under that service.
fn diff_stem(base: &Path, new: &Path) -> String {
    let name = |p: &Path| {
        p.file_name()
            .and_then(|n| n.to_str())
            .and_then(ArtifactName::parse)
    };
    if let (Some(b), Some(n)) = (name(base), name(new)) {
        if let (Some(bt), Some(nt), Some(bs), Some(ns), Some(bts), Some(nts)) = (
            &b.type_name,
            &n.type_name,
            &b.service,
            &n.service,
            &b.timestamp,
            &n.timestamp,
        ) {
            if bt == nt && bs == ns {
                return format!("diff_{nt}_profile_{ns}_{bts}_vs_{nts}");
            }
        }
    }
    format!(
        "diff_{}_vs_{}",
        files::profile_stem(base),
        files::profile_stem(new)
    )
}

/// `simex diff`: the differential flamegraph and the per-function changes, absolute unless
/// `normalize` says otherwise (the text says which).
pub fn diff(
    base: &Path,
    new: &Path,
    output: Option<PathBuf>,
    index: SampleIndex,
    normalize: Normalize,
) -> Result<()> {
    let b = load(base, &index)?;
    let n = load(new, &index)?;
    let base_type = &b.profile.sample_types[b.index];
    let new_type = &n.profile.sample_types[n.index];
    if base_type != new_type {
        anyhow::bail!(
            "the profiles measure different things ({}/{} vs {}/{}); pick one with --sample-index",
            base_type.name,
            base_type.unit,
            new_type.name,
            new_type.unit
        );
    }
    let comparison = Comparison::of_profiles(
        &b.profile,
        b.index,
        &n.profile,
        n.index,
        &CompareOptions {
            normalize,
            limit: 15,
        },
    )?;
    let output = output.unwrap_or_else(|| {
        let dir = new.parent().unwrap_or(Path::new(""));
        dir.join(format!("{}.svg", diff_stem(base, new)))
    });
    let title = format!(
        "Differential {} · {} → {}",
        flamegraph::default_title(&n.profile, service_of(new).as_deref()),
        files::profile_stem(base),
        files::profile_stem(new)
    );
    let svg = flamegraph::render_diff(&b.profile, b.index, &n.profile, n.index, &title)?;
    let text = format!(
        "simex diff {} {}\n{}",
        base.display(),
        new.display(),
        comparison.to_text()
    );
    let text_path = output.with_extension("txt");
    files::write_atomically(&output, &svg)?;
    files::write_atomically(&text_path, text.as_bytes())?;
    print!("{text}");
    println!(
        "\nwrote {}\nwrote {}",
        output.display(),
        text_path.display()
    );
    Ok(())
}

/// `simex analyze` over one or more profiles. With `--json`, one profile prints an object and
/// several print an array. Every profile is attempted; the first failure is returned.
pub fn analyze_all(
    profiles: &[PathBuf],
    base: Option<&Path>,
    index: &SampleIndex,
    json: bool,
    verbose: bool,
) -> Result<()> {
    let mut reports = Vec::new();
    let mut first_error = None;
    for profile in profiles {
        let outcome = if json {
            analyze(profile, base, index, verbose).and_then(|analysis| {
                reports.push(serde_json::to_value(&analysis).context("encoding JSON")?);
                Ok(())
            })
        } else {
            write_analysis(profile, base, index, verbose).map(|output| {
                if verbose {
                    eprintln!("analyze: wrote {}", output.display());
                }
                println!("{}", output.display());
            })
        };
        match outcome {
            Ok(()) => {}
            Err(e) if profiles.len() > 1 => {
                eprintln!("simex: error: {e:#}");
                first_error.get_or_insert(e);
            }
            Err(e) => return Err(e),
        }
    }
    if json {
        let value = if reports.len() == 1 {
            reports.remove(0)
        } else {
            serde_json::Value::Array(reports)
        };
        println!("{}", serde_json::to_string_pretty(&value)?);
    }
    match first_error {
        Some(e) => Err(e.context("some profiles could not be analyzed")),
        None => Ok(()),
    }
}

/// Analyzes one profile (optionally against a base).
fn analyze(
    profile: &Path,
    base: Option<&Path>,
    index: &SampleIndex,
    verbose: bool,
) -> Result<analyze::Analysis> {
    let say = |msg: String| {
        if verbose {
            eprintln!("analyze: {msg}");
        }
    };
    say(format!("reading {}", profile.display()));
    let loaded = load(profile, index)?;
    let t = &loaded.profile.sample_types[loaded.index];
    say(format!(
        "{} profile, {} samples, sample type {}/{}, {} distinct frames",
        loaded.profile.kind.as_str(),
        loaded.profile.stacks.len(),
        t.name,
        t.unit,
        loaded.profile.frame_names.len()
    ));
    let base_loaded = match base {
        Some(path) => {
            say(format!("reading base {}", path.display()));
            let b = load(path, index)?;
            if b.profile.sample_types[b.index] != *t {
                anyhow::bail!(
                    "the base profile measures {}/{}, this one {}/{}",
                    b.profile.sample_types[b.index].name,
                    b.profile.sample_types[b.index].unit,
                    t.name,
                    t.unit
                );
            }
            Some((b, path))
        }
        None => None,
    };
    say("attributing samples to categories".to_owned());
    let analysis = analyze::analyze(
        Input {
            profile: &loaded.profile,
            index: loaded.index,
            path: profile,
        },
        base_loaded.as_ref().map(|(b, path)| Input {
            profile: &b.profile,
            index: b.index,
            path,
        }),
    );
    say(format!(
        "{} hotspots, {} categories, {} high-priority findings",
        analysis.hotspots.len(),
        analysis.categories.len(),
        analysis.summary.high_findings
    ));
    Ok(analysis)
}

/// `simex top`.
pub fn top(profile: &Path, n: usize, index: SampleIndex) -> Result<()> {
    let loaded = load(profile, &index)?;
    print!(
        "{}",
        profile_tools::top::top_text(&loaded.profile, loaded.index, n)
    );
    Ok(())
}

/// `simex serve`: runs until Ctrl-C or SIGTERM.
pub fn serve(bind: IpAddr, port: u16, dir: &Path) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let addr = SocketAddr::new(bind, port);
        let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| {
            format!("cannot listen on {addr} (is another gallery running? try --port)")
        })?;
        let shown = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
        eprintln!(
            "serving {} at http://{} (Ctrl-C to stop)",
            shown.display(),
            listener.local_addr()?
        );
        profile_tools::gallery::serve(listener, dir, shutdown_signal())
            .await
            .with_context(|| format!("serving {}", dir.display()))
    })
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
