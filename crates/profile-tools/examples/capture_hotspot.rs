//! Captures a real CPU profile of one known Rust hotspot with the pprof crate and writes it
//! gzip'd. This is how `tests/data/rust_cpu_*.pb.gz` were made:
//!
//! ```text
//! cargo run -p profile-tools --example capture_hotspot -- serialization tests/data/rust_cpu_serialization.pb.gz
//! ```
//!
//! Hotspots: serialization, regex, lock, memory, formatting, hashing, io, runtime, logging.

#[path = "../tests/common/hotspots.rs"]
mod hotspots;

use std::time::Duration;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(name), Some(out)) = (args.next(), args.next()) else {
        return Err("usage: capture_hotspot HOTSPOT OUTPUT.pb.gz".into());
    };
    let (_, work, _) = hotspots::HOTSPOTS
        .iter()
        .find(|(n, _, _)| *n == name)
        .ok_or_else(|| format!("unknown hotspot {name}"))?;
    let bytes = hotspots::capture_cpu(*work, Duration::from_secs(2));
    profile_tools::files::write_atomically(std::path::Path::new(&out), &bytes)?;
    println!("{out}: {} bytes", bytes.len());
    Ok(())
}
