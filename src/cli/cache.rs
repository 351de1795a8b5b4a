//! `simba-run cache stats|clear|prune`: look after a response cache folder.
//! Also the commands' side of a run's cache: reporting its warnings and
//! flushing it before the artifacts are written.

use super::exit;
use crate::lm::cache::admin::{self, CacheStats};
use clap::{Args, Subcommand};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The cache folder a spec gets when it names none (beside the spec; here,
/// in the current folder).
const DEFAULT_DIR: &str = ".simba-cache";

/// `simba-run cache ACTION [--cache DIR]`.
#[derive(Debug, Args)]
pub struct CacheArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: CacheAction,
    /// The cache folder (default: `.simba-cache` in the current folder).
    #[arg(long, global = true, value_name = "DIR")]
    pub cache: Option<PathBuf>,
}

/// The `cache` actions.
#[derive(Debug, Subcommand)]
pub enum CacheAction {
    /// Entries, size on disk, and hits per model.
    Stats,
    /// Delete every entry (and a damaged database, and the old layout's files).
    Clear,
    /// Delete the entries neither stored nor served within an age.
    Prune {
        /// The age: a number and a unit, `s`, `m`, `h`, `d` or `w` (`30d`).
        #[arg(long, value_name = "AGE", value_parser = parse_age)]
        older_than: Duration,
    },
}

/// Runs a `cache` action; returns the exit code.
pub fn run(args: CacheArgs) -> i32 {
    let dir = args.cache.unwrap_or_else(|| PathBuf::from(DEFAULT_DIR));
    let done = match args.action {
        CacheAction::Stats => admin::stats(&dir).map(|s| print_stats(&dir, &s)),
        CacheAction::Clear => admin::clear(&dir).map(|c| {
            let mut line = format!(
                "cleared {}: {} entries, {} freed",
                dir.display(),
                c.entries,
                human_bytes(c.bytes)
            );
            if c.was_damaged {
                line.push_str(" (the damaged database was deleted)");
            }
            if c.old_layout_folders > 0 {
                line.push_str(&format!(
                    "; {} folders of the old layout removed",
                    c.old_layout_folders
                ));
            }
            outln!("{line}");
        }),
        CacheAction::Prune { older_than } => admin::prune(&dir, older_than).map(|p| {
            outln!(
                "pruned {}: {} entries unused for {}, {} left, {} freed",
                dir.display(),
                p.removed,
                age_text(older_than),
                p.left,
                human_bytes(p.bytes)
            );
        }),
    };
    match done {
        Ok(()) => exit::OK,
        Err(e) => {
            errln!("error: {e}");
            exit::INPUT
        }
    }
}

fn print_stats(dir: &Path, stats: &CacheStats) {
    if !stats.exists {
        outln!("no response cache in {}", dir.display());
    } else {
        outln!(
            "{}: {} entries, {} hits, {} on disk",
            stats.path.display(),
            stats.entries(),
            stats.hits(),
            human_bytes(stats.bytes)
        );
        if !stats.models.is_empty() {
            let width = stats
                .models
                .iter()
                .map(|m| m.provider.len() + 1 + m.model.len())
                .max()
                .unwrap_or(0)
                .max("model".len());
            outln!(
                "  {:<width$}  {:>8}  {:>8}  last used (UTC)",
                "model",
                "entries",
                "hits"
            );
            for m in &stats.models {
                outln!(
                    "  {:<width$}  {:>8}  {:>8}  {}",
                    format!("{}/{}", m.provider, m.model),
                    m.entries,
                    m.hits,
                    m.last_used
                );
            }
        }
    }
    if stats.old_layout_folders > 0 {
        outln!(
            "note: {} folders of the old one-file-per-entry layout are ignored (`simba-run cache clear` removes them)",
            stats.old_layout_folders
        );
    }
}

/// `30d` -> 30 days. Units: `s`, `m`, `h`, `d`, `w`.
fn parse_age(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("`{text}` has no unit (write e.g. `30d`)"))?;
    let (number, unit) = text.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` does not start with a whole number"))?;
    let unit_secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return Err(format!("unknown unit `{unit}` (use s, m, h, d or w)")),
    };
    n.checked_mul(unit_secs)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("`{text}` is too long an age"))
}

/// An age as the user would write it (the largest whole unit).
fn age_text(age: Duration) -> String {
    let secs = age.as_secs();
    for (unit, size) in [("w", 7 * 86_400), ("d", 86_400), ("h", 3_600), ("m", 60)] {
        if secs >= size && secs.is_multiple_of(size) {
            return format!("{}{unit}", secs / size);
        }
    }
    format!("{secs}s")
}

/// `1234567` -> `1.2 MB`.
fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KB", "MB", "GB", "TB"];
    if bytes < 1000 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64;
    let mut unit = "B";
    for u in UNITS {
        if value < 1000.0 {
            break;
        }
        value /= 1000.0;
        unit = u;
    }
    format!("{value:.1} {unit}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_parse_in_every_unit_and_read_back() {
        assert_eq!(parse_age("30d"), Ok(Duration::from_secs(30 * 86_400)));
        assert_eq!(parse_age("2w"), Ok(Duration::from_secs(14 * 86_400)));
        assert_eq!(parse_age("12h"), Ok(Duration::from_secs(12 * 3_600)));
        assert_eq!(parse_age("90m"), Ok(Duration::from_secs(5_400)));
        assert_eq!(parse_age("45s"), Ok(Duration::from_secs(45)));
        assert!(parse_age("30").unwrap_err().contains("no unit"));
        assert!(parse_age("30y").unwrap_err().contains("unknown unit `y`"));
        assert!(parse_age("d").is_err());
        assert_eq!(age_text(Duration::from_secs(30 * 86_400)), "30d");
        assert_eq!(age_text(Duration::from_secs(14 * 86_400)), "2w");
        assert_eq!(age_text(Duration::from_secs(5_400)), "90m");
        assert_eq!(age_text(Duration::from_secs(45)), "45s");
    }

    #[test]
    fn sizes_read_in_decimal_units() {
        assert_eq!(human_bytes(999), "999 B");
        assert_eq!(human_bytes(1_000), "1.0 KB");
        assert_eq!(human_bytes(1_234_567), "1.2 MB");
        assert_eq!(human_bytes(32_000_000_000), "32.0 GB");
    }
}
