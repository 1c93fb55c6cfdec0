//! `simex`: the command a user types. Each subcommand is parsed here and handed to a small
//! function in [`toolkit`] that calls the `profile-tools` library; service management
//! (`up`/`down`/`status`) and capture (`profile`) will slot in as further subcommands and
//! modules beside it.
//!
//! Exit codes: 0 success, 1 runtime failure (bad input, unwritable output), 2 usage error
//! (clap).

mod toolkit;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use profile_tools::SampleIndex;

/// The simex command line.
#[derive(Debug, Parser)]
#[command(name = "simex", version, about = "Simulated exchange: profiling toolkit", long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Render a pprof profile (gzip'd or raw, any sample type) as an interactive SVG flamegraph.
    Flamegraph {
        /// The profile (`.pb.gz`, `.pprof`, `.pb`).
        input: PathBuf,
        /// Output SVG; default: next to the input, `{stem}.svg`.
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Sample type by position or name (like `go tool pprof -sample_index`); default: the
        /// profile's default, else the last.
        #[arg(long)]
        sample_index: Option<SampleIndex>,
        /// Title instead of the generated "type · service · duration".
        #[arg(long)]
        title: Option<String>,
    },
    /// Compare two profiles: a differential flamegraph plus the largest regressions and
    /// improvements (per-function share, normalised to each total).
    Diff {
        /// The earlier profile.
        base: PathBuf,
        /// The later profile.
        new: PathBuf,
        /// Output SVG; default: `diff_{base}_vs_{new}.svg` next to NEW (the text goes beside it
        /// as `.txt`).
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Sample type for both profiles (position or name).
        #[arg(long)]
        sample_index: Option<SampleIndex>,
    },
    /// Analyze profiles: writes `{stem}_analysis.md` next to each (summary, hotspots,
    /// recommendations, next steps).
    Analyze {
        /// The profile(s); a shell glob like `flamegraphs/cpu_profile_*.pb.gz` works.
        #[arg(required = true)]
        profiles: Vec<PathBuf>,
        /// Print JSON to stdout instead of writing Markdown.
        #[arg(long)]
        json: bool,
        /// Compare with this earlier profile (regressions and improvements).
        #[arg(long)]
        base: Option<PathBuf>,
        /// Print progress to stderr.
        #[arg(short, long)]
        verbose: bool,
        /// Sample type (position or name).
        #[arg(long)]
        sample_index: Option<SampleIndex>,
    },
    /// Print the top functions by flat value, like `go tool pprof -top`.
    Top {
        /// The profile.
        profile: PathBuf,
        /// How many functions.
        #[arg(short, default_value_t = 20)]
        n: usize,
        /// Sample type (position or name).
        #[arg(long)]
        sample_index: Option<SampleIndex>,
    },
    /// Serve the gallery of profiles, flamegraphs, diffs and reports.
    Serve {
        /// Port to listen on.
        #[arg(long, env = "SIMEX_GALLERY_PORT", default_value_t = 8888)]
        port: u16,
        /// Directory to show.
        #[arg(long, default_value = "flamegraphs")]
        dir: PathBuf,
        /// Address to bind (use 0.0.0.0 to view from another machine).
        #[arg(long, default_value = "127.0.0.1")]
        bind: std::net::IpAddr,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Flamegraph {
            input,
            output,
            sample_index,
            title,
        } => toolkit::flamegraph(&input, output, sample_index.unwrap_or_default(), title),
        Command::Diff {
            base,
            new,
            output,
            sample_index,
        } => toolkit::diff(&base, &new, output, sample_index.unwrap_or_default()),
        Command::Analyze {
            profiles,
            json,
            base,
            verbose,
            sample_index,
        } => toolkit::analyze_all(
            &profiles,
            base.as_deref(),
            &sample_index.unwrap_or_default(),
            json,
            verbose,
        ),
        Command::Top {
            profile,
            n,
            sample_index,
        } => toolkit::top(&profile, n, sample_index.unwrap_or_default()),
        Command::Serve { port, dir, bind } => toolkit::serve(bind, port, &dir),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("simex: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
