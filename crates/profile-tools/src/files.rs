//! File names and file writing shared by the CLI and the gallery.
//!
//! Our captures are named `{type}_profile_{service}_{timestamp}` followed by `.pb.gz` (the
//! profile), `.svg` (its flamegraph), `_analysis.md` (the report) or `_top.txt` (top-N text).
//! Diffs are `diff_{…}.svg` / `diff_{…}.txt`. Service names never contain `_`; the timestamp is
//! `YYYYMMDD_HHMMSS` in UTC, so names sort by time.
//!
//! A chaos run (`chaos/chaos-flamegraph.sh`) writes a directory `chaos_{scenario}_{ts}/` (`ts` is
//! `YYYYMMDDTHHMMSSZ`) with one sub-directory of captures per phase and its diffs, and its
//! report beside it as `chaos_{scenario}_{ts}_report.md`; [`ChaosRunName`] reads both.
//!
//! Every write goes to a temporary file in the same directory and is renamed into place, so an
//! interrupted run never leaves a half-written artifact behind.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::profile::ProfileKind;
use crate::Error;

/// What a file in the flamegraphs directory is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ArtifactKind {
    /// A pprof profile (`.pb.gz`, `.pprof`, `.pb`).
    Profile,
    /// A flamegraph SVG.
    Flamegraph,
    /// An analysis report (`_analysis.md`).
    Report,
    /// A top-N text listing (`_top.txt`).
    Top,
    /// A differential flamegraph or diff text (`diff_…`).
    Diff,
}

impl ArtifactKind {
    /// The lowercase name used in filters.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Profile => "profile",
            Self::Flamegraph => "flamegraph",
            Self::Report => "report",
            Self::Top => "top",
            Self::Diff => "diff",
        }
    }
}

/// What a file name tells us about an artifact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactName {
    /// The artifact kind, from the suffix.
    pub artifact: ArtifactKind,
    /// The profile type, when the name follows our convention.
    pub kind: Option<ProfileKind>,
    /// The `{type}` word as written in the name (kept even when unknown to [`ProfileKind`]).
    pub type_name: Option<String>,
    /// The service, when the name follows our convention.
    pub service: Option<String>,
    /// The timestamp part (`YYYYMMDD_HHMMSS`), when present.
    pub timestamp: Option<String>,
}

impl ArtifactName {
    /// Parses a bare file name (no directories). Returns `None` for files that are not
    /// profiles, flamegraphs, reports, top listings or diffs.
    pub fn parse(file_name: &str) -> Option<Self> {
        const SUFFIXES: [(&str, ArtifactKind); 8] = [
            ("_analysis.md", ArtifactKind::Report),
            ("_report.md", ArtifactKind::Report),
            ("_top.txt", ArtifactKind::Top),
            (".pb.gz", ArtifactKind::Profile),
            (".pprof", ArtifactKind::Profile),
            (".pb", ArtifactKind::Profile),
            (".svg", ArtifactKind::Flamegraph),
            (".txt", ArtifactKind::Diff),
        ];
        let (stem, mut artifact) = SUFFIXES
            .iter()
            .find_map(|(suffix, kind)| file_name.strip_suffix(suffix).map(|s| (s, *kind)))?;
        let is_diff = stem.starts_with("diff_");
        if is_diff {
            artifact = ArtifactKind::Diff;
        } else if artifact == ArtifactKind::Diff {
            // A plain `.txt` that is neither a top listing nor a diff is not ours.
            return None;
        }
        let conventional = stem.strip_prefix("diff_").unwrap_or(stem);
        let mut name = Self {
            artifact,
            kind: None,
            type_name: None,
            service: None,
            timestamp: None,
        };
        if let Some((type_name, rest)) = conventional.split_once("_profile_") {
            let (service, timestamp) = match rest.split_once('_') {
                Some((service, ts)) => (service, Some(ts)),
                None => (rest, None),
            };
            if !type_name.is_empty() && !service.is_empty() {
                name.kind = ProfileKind::from_type_name(type_name);
                name.type_name = Some(type_name.to_owned());
                name.service = Some(service.to_owned());
                name.timestamp = timestamp.map(|t| {
                    // A diff name carries `…_{base}_vs_{new}`; show the newer capture's time.
                    t.rsplit("_vs_").next().unwrap_or(t).to_owned()
                });
            }
        }
        Some(name)
    }

    /// The name without its artifact suffix: every artifact of one capture (profile,
    /// flamegraph, report, top listing) shares it, and so do a diff's `.svg` and `.txt`.
    pub fn group_stem(file_name: &str) -> Option<&str> {
        ArtifactName::parse(file_name)?;
        [
            "_analysis.md",
            "_report.md",
            "_top.txt",
            ".pb.gz",
            ".pprof",
            ".pb",
            ".svg",
            ".txt",
        ]
        .iter()
        .find_map(|suffix| file_name.strip_suffix(suffix))
    }

    /// Seconds since the Unix epoch of the name's timestamp, when it has a valid one.
    pub fn epoch(&self) -> Option<i64> {
        self.timestamp.as_deref().and_then(timestamp_epoch)
    }

    /// The conventional capture file stem: `{type}_profile_{service}_{YYYYMMDD_HHMMSS}`.
    pub fn capture_stem(type_name: &str, service: &str, at: SystemTime) -> String {
        format!("{type_name}_profile_{service}_{}", utc_timestamp(at))
    }
}

/// The stem of a profile path: its file name without `.pb.gz`, `.pprof` or `.pb`.
pub fn profile_stem(path: &Path) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "profile".to_owned());
    for suffix in [".pb.gz", ".pprof.gz", ".pprof", ".pb", ".gz"] {
        if let Some(stem) = name.strip_suffix(suffix) {
            if !stem.is_empty() {
                return stem.to_owned();
            }
        }
    }
    name
}

/// A sibling of `profile` named `{stem}{suffix}` (e.g. `_analysis.md`, `.svg`).
pub fn sibling(profile: &Path, suffix: &str) -> PathBuf {
    let name = format!("{}{suffix}", profile_stem(profile));
    match profile.parent() {
        Some(dir) => dir.join(name),
        None => PathBuf::from(name),
    }
}

/// Writes `contents` to `path` atomically: a temporary file in the same directory, flushed, then
/// renamed over `path`. On any error the temporary file is removed.
pub fn write_atomically(path: &Path, contents: &[u8]) -> Result<(), Error> {
    write_atomically_with(path, |w| w.write_all(contents))
}

/// Like [`write_atomically`] but streams the contents through `fill`.
pub fn write_atomically_with(
    path: &Path,
    fill: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<(), Error> {
    let write_err = |source| Error::Write {
        path: path.to_path_buf(),
        source,
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let tmp = dir.join(format!(".{file_name}.{}.{nanos}.tmp", std::process::id()));
    let result = (|| {
        let file = std::fs::File::create(&tmp)?;
        let mut writer = std::io::BufWriter::new(file);
        fill(&mut writer)?;
        let file = writer.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(write_err(e));
    }
    Ok(())
}

/// A chaos run's name: `chaos_{scenario}_{YYYYMMDDTHHMMSSZ}` (its directory), optionally
/// followed by `_report.md` (its report).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChaosRunName {
    /// `chaos_{scenario}_{ts}`: the directory name, and the key that joins a run's report to it.
    pub run: String,
    /// The injected scenario (`cpu-burn`, `lock-contention`, …).
    pub scenario: String,
    /// Seconds since the Unix epoch of the run's start.
    pub epoch: i64,
}

impl ChaosRunName {
    /// Parses a chaos directory name or report file name; `None` for anything else.
    pub fn parse(name: &str) -> Option<Self> {
        let run = name.strip_suffix("_report.md").unwrap_or(name);
        let rest = run.strip_prefix("chaos_")?;
        let (scenario, ts) = rest.rsplit_once('_')?;
        if scenario.is_empty()
            || !scenario
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return None;
        }
        // `20261202T130000Z`, as `date -u +%Y%m%dT%H%M%SZ` writes it.
        let digits = ts.strip_suffix('Z')?;
        let (date, time) = digits.split_once('T')?;
        let epoch = timestamp_epoch(&format!("{date}_{time}"))?;
        Some(Self {
            run: run.to_owned(),
            scenario: scenario.to_owned(),
            epoch,
        })
    }
}

/// `YYYYMMDD_HHMMSS` (UTC) to seconds since the Unix epoch; `None` when malformed.
pub fn timestamp_epoch(ts: &str) -> Option<i64> {
    let b = ts.as_bytes();
    if b.len() != 15 || b[8] != b'_' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let s = ts.get(r)?;
        if s.bytes().all(|c| c.is_ascii_digit()) {
            s.parse().ok()
        } else {
            None
        }
    };
    let (y, mo, d) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (h, mi, s) = (num(9..11)?, num(11..13)?, num(13..15)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    Some(days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + s)
}

/// `YYYY-MM-DD HH:MM:SS` for seconds since the Unix epoch (UTC).
pub fn epoch_display(epoch: i64) -> String {
    let at = if epoch >= 0 {
        UNIX_EPOCH + std::time::Duration::from_secs(epoch as u64)
    } else {
        UNIX_EPOCH
    };
    utc_display(at)
}

/// Days since 1970-01-01 of a calendar date (Howard Hinnant's days-from-civil).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `YYYYMMDD_HHMMSS` in UTC.
pub fn utc_timestamp(at: SystemTime) -> String {
    let (y, mo, d, h, mi, s) = civil(at);
    format!("{y:04}{mo:02}{d:02}_{h:02}{mi:02}{s:02}")
}

/// `YYYY-MM-DD HH:MM:SS` in UTC.
pub fn utc_display(at: SystemTime) -> String {
    let (y, mo, d, h, mi, s) = civil(at);
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}")
}

/// Calendar fields of a UTC time (Howard Hinnant's days-to-civil algorithm), so we need no date
/// crate for file names.
fn civil(at: SystemTime) -> (i64, u32, u32, u32, u32, u32) {
    let secs = at
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400) as u32;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day, rem / 3600, rem / 60 % 60, rem % 60)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn parses_capture_names() {
        let n = ArtifactName::parse("cpu_profile_trading-api_20261125_192233.pb.gz")
            .expect("conventional name");
        assert_eq!(n.artifact, ArtifactKind::Profile);
        assert_eq!(n.kind, Some(ProfileKind::Cpu));
        assert_eq!(n.service.as_deref(), Some("trading-api"));
        assert_eq!(n.timestamp.as_deref(), Some("20261125_192233"));
        let r = ArtifactName::parse("heap_profile_market-sim_20261125_192233_analysis.md")
            .expect("report");
        assert_eq!(r.artifact, ArtifactKind::Report);
        assert_eq!(r.kind, Some(ProfileKind::Heap));
        let t =
            ArtifactName::parse("mutex_profile_order-flow_20261125_192233_top.txt").expect("top");
        assert_eq!(t.artifact, ArtifactKind::Top);
        assert_eq!(t.timestamp.as_deref(), Some("20261125_192233"));
        let d = ArtifactName::parse(
            "diff_cpu_profile_trading-api_20261125_100000_vs_20261125_110000.svg",
        )
        .expect("diff");
        assert_eq!(d.artifact, ArtifactKind::Diff);
        assert_eq!(d.service.as_deref(), Some("trading-api"));
        assert_eq!(d.timestamp.as_deref(), Some("20261125_110000"));
        assert_eq!(ArtifactName::parse("notes.txt"), None);
        assert_eq!(ArtifactName::parse("index.html"), None);
        let plain = ArtifactName::parse("cpu.pprof").expect("any profile");
        assert_eq!(plain.service, None);
    }

    #[test]
    fn groups_and_chaos_runs_are_named_by_convention() {
        for name in [
            "cpu_profile_trading-api_20261125_192233.pb.gz",
            "cpu_profile_trading-api_20261125_192233.svg",
            "cpu_profile_trading-api_20261125_192233_analysis.md",
            "cpu_profile_trading-api_20261125_192233_top.txt",
        ] {
            assert_eq!(
                ArtifactName::group_stem(name),
                Some("cpu_profile_trading-api_20261125_192233"),
                "{name}"
            );
        }
        assert_eq!(
            ArtifactName::group_stem("diff_a_vs_b.txt"),
            Some("diff_a_vs_b")
        );
        assert_eq!(ArtifactName::group_stem("baseline_load.json"), None);
        let run = ChaosRunName::parse("chaos_cpu-burn_20261125T192233Z").expect("dir");
        assert_eq!(run.scenario, "cpu-burn");
        assert_eq!(
            utc_timestamp(UNIX_EPOCH + Duration::from_secs(run.epoch as u64)),
            "20261125_192233"
        );
        let report =
            ChaosRunName::parse("chaos_cpu-burn_20261125T192233Z_report.md").expect("report");
        assert_eq!(report.run, run.run);
        assert_eq!(
            ArtifactName::parse("chaos_cpu-burn_20261125T192233Z_report.md").map(|a| a.artifact),
            Some(ArtifactKind::Report)
        );
        for bad in [
            "chaos_x",
            "chaos__20261125T192233Z",
            "chaos_a_20261325T192233Z",
            "cpu_profile_x_1.svg",
            "chaos_a/b_20261125T192233Z",
        ] {
            assert_eq!(ChaosRunName::parse(bad), None, "{bad}");
        }
        assert_eq!(timestamp_epoch("20261125_192223"), Some(1_795_634_543));
        assert_eq!(epoch_display(1_795_634_543), "2026-11-25 19:22:23");
    }

    #[test]
    fn stems_strip_profile_suffixes() {
        assert_eq!(profile_stem(Path::new("a/b/cpu_x.pb.gz")), "cpu_x");
        assert_eq!(profile_stem(Path::new("cpu.pprof")), "cpu");
        assert_eq!(profile_stem(Path::new("heap.pb")), "heap");
        assert_eq!(
            sibling(Path::new("dir/cpu.pb.gz"), "_analysis.md"),
            PathBuf::from("dir/cpu_analysis.md")
        );
    }

    #[test]
    fn timestamps_are_utc_calendar_times() {
        // 2026-11-25 19:22:23 UTC.
        let at = UNIX_EPOCH + Duration::from_secs(1_795_634_543);
        assert_eq!(utc_timestamp(at), "20261125_192223");
        assert_eq!(utc_display(UNIX_EPOCH), "1970-01-01 00:00:00");
        assert_eq!(
            ArtifactName::capture_stem("cpu", "trading-api", at),
            "cpu_profile_trading-api_20261125_192223"
        );
    }

    #[test]
    fn atomic_write_leaves_no_temporary_on_failure() {
        let dir = std::env::temp_dir().join(format!("pt-files-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let target = dir.join("out.svg");
        let err = write_atomically_with(&target, |w| {
            w.write_all(b"half")?;
            Err(std::io::Error::other("interrupted"))
        });
        assert!(err.is_err());
        assert!(!target.exists());
        let leftovers = std::fs::read_dir(&dir).expect("list").count();
        assert_eq!(leftovers, 0, "temporary file left behind");
        write_atomically(&target, b"whole").expect("write");
        assert_eq!(std::fs::read(&target).expect("read"), b"whole");
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }
}
