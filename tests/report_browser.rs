//! The report in a real browser: headless Chromium loads report.html from a
//! file URL without console errors, shows the best score, takes a screenshot,
//! and shows injected markup from the data as literal text.
//!
//! Needs Chromium (`.ci/install-chromium.sh`); without it these tests fail
//! unless SIMBA_SKIP_BROWSER=1.

mod report_support;

use report_support::*;
use std::path::Path;

use simba_run::report::{ReportInputs, format, write_report};

/// Candidate markers in the browser's DOM (serialized, so attribute order and
/// line breaks may differ from ours).
fn dom_candidate_markers(dom: &str) -> usize {
    let circle = regex::Regex::new(r"<circle[^>]*>").unwrap();
    let r = format!("r=\"{}\"", simba_run::report::plot::CANDIDATE_RADIUS);
    let fill = format!("fill=\"{}\"", simba_run::report::plot::CANDIDATE_FILL);
    circle
        .find_iter(dom)
        .filter(|m| m.as_str().contains(&r) && m.as_str().contains(&fill))
        .count()
}

/// Take a screenshot of `page`, check it is a 1280x2000 PNG with content, and
/// keep a copy under the target dir for people to look at.
fn screenshot(chromium: &Path, page: &Path, keep_as: &str) {
    let shots = tempfile::tempdir().unwrap();
    let png = shots.path().join("shot.png");
    let run = run_chromium(
        chromium,
        page,
        &[
            format!("--screenshot={}", png.display()),
            "--window-size=1280,2000".into(),
            "--hide-scrollbars".into(),
        ],
    );
    assert!(
        run.console_lines().is_empty(),
        "console output while taking the screenshot: {:?}",
        run.console_lines()
    );
    let bytes = std::fs::read(&png)
        .unwrap_or_else(|e| panic!("no screenshot written ({e}); stderr:\n{}", run.stderr));
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    let width = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
    let height = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
    assert_eq!((width, height), (1280, 2000));
    // A blank page compresses to a few KB; the report has text and a plot.
    assert!(
        bytes.len() > 40_000,
        "screenshot only {} bytes",
        bytes.len()
    );
    let keep = Path::new(env!("CARGO_TARGET_TMPDIR")).join(keep_as);
    std::fs::write(&keep, &bytes).unwrap();
    eprintln!("screenshot: {}", keep.display());
}

#[test]
fn a_missing_chromium_fails_unless_skipping_is_asked_for() {
    let absent = vec![std::path::PathBuf::from("/nonexistent/chromium")];
    let msg = find_chromium(&absent, false).unwrap_err();
    assert!(msg.contains("/nonexistent/chromium"), "{msg}");
    assert!(msg.contains("SIMBA_SKIP_BROWSER=1"), "{msg}");
    assert!(msg.contains(".ci/install-chromium.sh"), "{msg}");
    assert_eq!(find_chromium(&absent, true).unwrap(), None);
    let present = std::env::current_exe().unwrap();
    assert_eq!(
        find_chromium(&[absent[0].clone(), present.clone()], false).unwrap(),
        Some(present)
    );
}

#[test]
fn console_errors_are_detected() {
    // The control for the tests below: a page that logs an error and throws
    // must show up in what we scan, or "no console errors" proves nothing.
    let Some(chromium) = chromium_or_skip() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("control.html");
    std::fs::write(
        &page,
        "<!DOCTYPE html><p>control</p><script>console.error('CONTROL-ERROR'); notDefined();</script>",
    )
    .unwrap();
    let run = run_chromium(&chromium, &page, &["--dump-dom".into()]);
    let lines = run.console_lines();
    assert!(
        lines.iter().any(|l| l.contains("CONTROL-ERROR")),
        "console.error not seen; stderr:\n{}",
        run.stderr
    );
    assert!(lines.iter().any(|l| l.contains("Uncaught")), "{lines:?}");
}

#[test]
fn the_report_loads_in_headless_chromium_and_shows_the_best_score() {
    let Some(chromium) = chromium_or_skip() else {
        return;
    };
    let dir = copy_fixture("quickstart");
    let inputs = ReportInputs::load(dir.path()).unwrap();
    let page = write_report(dir.path()).unwrap();
    let run = run_chromium(&chromium, &page, &["--dump-dom".into()]);
    assert!(
        run.console_lines().is_empty(),
        "console output: {:?}",
        run.console_lines()
    );
    let dom = &run.stdout;
    assert!(dom.contains("<svg"), "no SVG in the DOM:\n{dom}");
    assert_eq!(dom_candidate_markers(dom), built_candidates(&inputs.trials));

    let text = dom_text(dom);
    let best = format::opt_score(inputs.run.as_ref().unwrap().best.train);
    assert_eq!(best, "0.700");
    assert!(
        text.contains(&format!("Best (trainset){best}")),
        "best score not in the page text:\n{text}"
    );
    assert!(text.contains("SIMBA run report: qa"));
    assert!(text.contains("Who painted The Scream?"));
    assert!(text.contains("mini-batch baseline (mean)"), "legend text");

    screenshot(&chromium, &page, "report-quickstart.png");
}

#[test]
fn injected_markup_shows_as_text_in_the_browser() {
    let Some(chromium) = chromium_or_skip() else {
        return;
    };
    let dir = copy_fixture("injection");
    let page = write_report(dir.path()).unwrap();
    let run = run_chromium(&chromium, &page, &["--dump-dom".into()]);
    // Any executed payload would log INJECTED-... on the console.
    assert!(
        run.console_lines().is_empty(),
        "console output: {:?}",
        run.console_lines()
    );
    assert!(!run.stderr.contains("INJECTED"), "{}", run.stderr);
    let dom = &run.stdout;
    assert!(
        !dom.to_lowercase().contains("<script"),
        "a script element in the DOM"
    );
    assert!(!dom.contains("<img"), "an img element in the DOM");
    assert!(!dom.contains("<b>"), "a b element in the DOM");
    assert_eq!(dom.matches("<svg").count(), 1);

    let text = dom_text(dom);
    for literal in [
        r#"<script>console.error("INJECTED-demo")</script>"#,
        r#"<img src=x onerror="console.error('INJECTED-img')"> & done"#,
        r#"</svg></div>'"&amp;"#,
        r#"q<i>key</i>"#,
        r#"Use 'quotes' & <b>bold</b>."#,
        r#"SIMBA run report: qa</title><script>console.error("INJECTED-title")</script>"#,
        r#"specs/<evil>&"x".simba"#,
        r#"</td></tr></table><script>console.error("INJECTED-skip")</script>"#,
        r#"&amp; &lt;script&gt; <script>console.error("INJECTED-advice")</script>"#,
        r#"score (m</svg><script>console.error("INJECTED-svg")"#,
    ] {
        assert!(
            text.contains(literal),
            "page text lacks `{literal}`:\n{text}"
        );
    }

    screenshot(&chromium, &page, "report-injection.png");
}
