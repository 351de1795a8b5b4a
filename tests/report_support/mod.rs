//! Shared helpers of the report tests: fixtures, page slicing, headless Chromium.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use simba_run::artifacts::TrialRecord;

pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/report")
        .join(name)
}

/// A temp copy of a fixture folder, so writing report.html leaves the
/// checked-in fixture alone.
pub fn copy_fixture(name: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(fixture(name)).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.path().join(entry.file_name())).unwrap();
    }
    dir
}

/// The slice of `page` from the first `start` to the end of the following `end`.
pub fn slice<'a>(page: &'a str, start: &str, end: &str) -> &'a str {
    let i = page
        .find(start)
        .unwrap_or_else(|| panic!("`{start}` not in the page"));
    let j = page[i..]
        .find(end)
        .unwrap_or_else(|| panic!("`{end}` not after `{start}`"));
    &page[i..i + j + end.len()]
}

/// Candidate markers in the plot: circles of the candidate radius and fill.
pub fn candidate_markers(svg: &str) -> usize {
    let r = format!("r=\"{}\"", simba_run::report::plot::CANDIDATE_RADIUS);
    let fill = format!("fill=\"{}\"", simba_run::report::plot::CANDIDATE_FILL);
    svg.lines()
        .filter(|l| l.starts_with("<circle") && l.contains(&r) && l.contains(&fill))
        .count()
}

/// Candidates built in the recorded steps (buckets that registered a program).
pub fn built_candidates(trials: &[TrialRecord]) -> usize {
    trials
        .iter()
        .flat_map(|t| &t.candidates)
        .filter(|c| c.score.is_some())
        .count()
}

/// The text cells (`<td>` contents, tags stripped) of each row of `table`
/// whose opening tag starts with `row_open`.
pub fn rows(table: &str, row_open: &str) -> Vec<Vec<String>> {
    let cell = regex::Regex::new(r"(?s)<td[^>]*>(.*?)</td>").unwrap();
    let tag = regex::Regex::new(r"<[^>]+>").unwrap();
    table
        .split(row_open)
        .skip(1)
        .map(|row| {
            let row = &row[..row.find("</tr>").unwrap()];
            cell.captures_iter(row)
                .map(|c| tag.replace_all(&c[1], "").trim().to_string())
                .collect()
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Headless Chromium
// ---------------------------------------------------------------------------

/// The first existing binary of `candidates`; when there is none, Ok(None)
/// if `skip` allows skipping, else Err with what to do about it.
pub fn find_chromium(candidates: &[PathBuf], skip: bool) -> Result<Option<PathBuf>, String> {
    if let Some(p) = candidates.iter().find(|p| p.is_file()) {
        return Ok(Some(p.clone()));
    }
    if skip {
        return Ok(None);
    }
    Err(format!(
        "headless Chromium not found (looked for {}; Debian package `chromium`): \
         run .ci/install-chromium.sh, point SIMBA_CHROMIUM at a binary, \
         or set SIMBA_SKIP_BROWSER=1 to skip the browser tests",
        candidates
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    ))
}

/// The Chromium binary, or None (after printing why) when it is absent and
/// SIMBA_SKIP_BROWSER=1 allows skipping. Panics when it is absent otherwise.
pub fn chromium_or_skip() -> Option<PathBuf> {
    let candidates: Vec<PathBuf> = [
        std::env::var_os("SIMBA_CHROMIUM").map(PathBuf::from),
        Some(PathBuf::from("/usr/bin/chromium")),
        Some(PathBuf::from("/usr/bin/chromium-browser")),
    ]
    .into_iter()
    .flatten()
    .collect();
    let skip = std::env::var("SIMBA_SKIP_BROWSER").as_deref() == Ok("1");
    match find_chromium(&candidates, skip) {
        Ok(Some(p)) => Some(p),
        Ok(None) => {
            eprintln!(
                "SKIPPED: headless Chromium not found (/usr/bin/chromium) and SIMBA_SKIP_BROWSER=1"
            );
            None
        }
        Err(msg) => panic!("{msg}"),
    }
}

/// What one headless Chromium run printed.
pub struct BrowserRun {
    pub stdout: String,
    pub stderr: String,
}

impl BrowserRun {
    /// Console messages and uncaught errors Chromium logged for the page.
    pub fn console_lines(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|l| l.contains(":CONSOLE") || l.contains("Uncaught"))
            .collect()
    }
}

/// Run headless Chromium on `page` with the flags the tests require, a fresh
/// profile, console logging to stderr, and `extra` flags.
pub fn run_chromium(chromium: &Path, page: &Path, extra: &[String]) -> BrowserRun {
    let profile = tempfile::tempdir().unwrap();
    let url = format!("file://{}", page.canonicalize().unwrap().display());
    let mut child = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(extra)
        .arg(&url)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", chromium.display()));
    // Drain the pipes on threads so a chatty browser cannot block on them.
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out_t = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut out, &mut s).ok();
        s
    });
    let err_t = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut err, &mut s).ok();
        s
    });
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if Instant::now() > deadline {
            child.kill().ok();
            child.wait().ok();
            panic!("headless Chromium did not finish within 90 s on {url}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    BrowserRun {
        stdout: out_t.join().unwrap(),
        stderr: err_t.join().unwrap(),
    }
}

/// The text a DOM dump shows to a reader: tags dropped (with `<style>`
/// contents), the entities a DOM serializer writes decoded.
pub fn dom_text(dom: &str) -> String {
    let style = regex::Regex::new(r"(?s)<style[^>]*>.*?</style>").unwrap();
    let tag = regex::Regex::new(r"<[^>]*>").unwrap();
    let no_style = style.replace_all(dom, " ");
    tag.replace_all(&no_style, "")
        .replace("&nbsp;", "\u{a0}")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&amp;", "&")
}
