//! The report rendered from recorded runs: the plot, the tables and the
//! sections match the artifacts; runs stopped early; bad folders; escaping.

mod report_support;

use report_support::*;
use std::path::Path;

use simba_run::artifacts::{CANDIDATES_JSON, PROGRAM_JSON, RUN_JSON, TRIALS_JSONL};
use simba_run::report::{ReportError, ReportInputs, format, render_report, write_report};

fn load(dir: &Path) -> ReportInputs {
    ReportInputs::load(dir).unwrap()
}

#[test]
fn quickstart_report_structure_matches_the_fixture() {
    let dir = copy_fixture("quickstart");
    let inputs = load(dir.path());
    let run = inputs.run.clone().unwrap();
    let cands = inputs.candidates.clone().unwrap();
    assert_eq!(inputs.trials.len(), 8);

    let path = write_report(dir.path()).unwrap();
    assert_eq!(path, dir.path().join("report.html"));
    let page = std::fs::read_to_string(&path).unwrap();

    // One inline SVG plot with one marker per candidate built.
    assert_eq!(page.matches("<svg").count(), 1);
    assert_eq!(page.matches("</svg>").count(), 1);
    let svg = slice(&page, "<svg", "</svg>");
    let built = built_candidates(&inputs.trials);
    assert_eq!(built, 56, "the recorded run built 7 candidates per step");
    assert_eq!(candidate_markers(svg), built);
    // Axes and legend.
    for label in [
        "mini-batch baseline (mean)",
        "candidate (mini-batch score)",
        "best candidate of the step",
        "running best (mini-batch)",
        "final candidate (full trainset)",
        "step (0 = the baseline program)",
        "score (correct)",
    ] {
        assert!(svg.contains(label), "plot lacks `{label}`");
    }
    // The baseline line has one vertex per step.
    let baseline = svg
        .lines()
        .find(|l| l.starts_with("<polyline") && l.contains("stroke=\"#4C78A8\""))
        .unwrap();
    let points = baseline.split("points=\"").nth(1).unwrap();
    assert_eq!(points.split_whitespace().count() - 1, 8, "{baseline}"); // + the closing quote token

    // Header.
    assert!(page.contains(&format!(
        "<span class=\"kpi-value\" id=\"best-train\">{}</span>",
        format::opt_score(run.best.train)
    )));
    assert_eq!(format::opt_score(run.best.train), "0.700");
    assert!(page.contains("<span id=\"stop-reason\">max_steps</span>"));
    assert!(page.contains("1,827 (0 failed, 0 from the cache)"));
    assert!(page.contains("356,931 prompt + 25,287 completion = 382,218"));

    // Final candidates table: one row per candidate, scores in order, the
    // winner marked once and at `best`.
    let table = slice(&page, "<table id=\"candidates-table\">", "</table>");
    let cand_rows = rows(table, "<tr class=\"cand-row");
    assert_eq!(cand_rows.len(), cands.candidates.len());
    assert_eq!(cand_rows.len(), 7);
    for (row, cand) in cand_rows.iter().zip(&cands.candidates) {
        assert_eq!(row[3], format::opt_score(cand.train_score));
        assert_eq!(row[4], format::opt_score(cand.dev_score));
    }
    assert_eq!(table.matches("cand-row winner").count(), 1);
    assert_eq!(cand_rows[cands.best].last().unwrap(), "returned");
    assert_eq!(cand_rows[0][1], "baseline");
    assert_eq!(cand_rows[6][1], "step 8");

    // The returned program: the diff marks the added advice, the demo shows.
    let program = slice(&page, "<section id=\"program\">", "</section>");
    let diff = slice(program, "<div class=\"text instructions diff\">", "</div>");
    assert!(diff.starts_with(
        "<div class=\"text instructions diff\">Answer the trivia question with a short factoid.<ins>\n\nWhen the input is about planets"
    ));
    assert!(!diff.contains("<del>"), "nothing was removed: {diff}");
    assert!(program.contains("42 word(s) added, 0 removed"));
    assert!(program.contains("<h4>Demos (1)</h4>"));
    assert!(program.contains("<dd class=\"text\">Who painted The Scream?</dd>"));

    // Steps table: one row per trial, in order, with the recorded numbers.
    let steps = slice(&page, "<table id=\"steps-table\">", "</table>");
    let step_rows = rows(steps, "<tr class=\"step-row\"");
    assert_eq!(step_rows.len(), inputs.trials.len());
    for (row, t) in step_rows.iter().zip(&inputs.trials) {
        assert_eq!(row[0], t.step.to_string());
        let s = &t.batch_stats;
        assert_eq!(
            row[1],
            format!(
                "{} ({}–{})",
                format::score(s.mean),
                format::score(s.p10),
                format::score(s.p90)
            )
        );
        assert_eq!(
            row[3],
            format!("{} of {}", t.candidates.len(), t.buckets.len())
        );
        assert_eq!(row[7], format::opt_score(t.best_candidate_score));
        assert_eq!(row[8], format::opt_score(t.best_so_far));
        assert_eq!(row[6], "none", "no skips in the recorded run");
        assert_eq!(row[9], format::count(t.usage.lm_calls));
    }
    assert_eq!(step_rows[0][5], "append_demo ×3, append_rule ×4");
    assert_eq!(step_rows[0][10], "172 ms", "step time from run.json");
    assert_eq!(page.matches("<tr class=\"bucket-row\">").count(), 56);

    // Self-contained: no script, no external resource, only the SVG namespace URL.
    assert!(!page.to_lowercase().contains("<script"));
    assert!(!page.contains(" src="));
    assert!(!page.contains(" href="));
    assert_eq!(
        page.matches("http").count(),
        page.matches("xmlns=\"http://www.w3.org/2000/svg\"").count()
    );

    // Written atomically, nothing left behind, readable by others.
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "candidates.json",
            "program.json",
            "report.html",
            "run.json",
            "trials.jsonl"
        ]
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o644);
    }
}

#[test]
fn rendering_is_a_pure_function_of_the_artifacts() {
    let inputs = load(&fixture("quickstart"));
    let a = render_report(&inputs).unwrap();
    let b = render_report(&inputs).unwrap();
    assert_eq!(a, b);
    // Rewriting gives the same file.
    let dir = copy_fixture("quickstart");
    let first = std::fs::read(write_report(dir.path()).unwrap()).unwrap();
    let second = std::fs::read(write_report(dir.path()).unwrap()).unwrap();
    assert_eq!(first, second);
    assert_eq!(first, a.as_bytes());
}

#[test]
fn a_run_stopped_before_the_final_evaluation_still_gets_a_report() {
    let dir = copy_fixture("quickstart");
    std::fs::remove_file(dir.path().join(CANDIDATES_JSON)).unwrap();
    std::fs::remove_file(dir.path().join(PROGRAM_JSON)).unwrap();
    let trials = std::fs::read_to_string(dir.path().join(TRIALS_JSONL)).unwrap();
    let three: String = trials.lines().take(3).map(|l| format!("{l}\n")).collect();
    std::fs::write(dir.path().join(TRIALS_JSONL), three).unwrap();

    let inputs = load(dir.path());
    assert_eq!(inputs.trials.len(), 3);
    let page = std::fs::read_to_string(write_report(dir.path()).unwrap()).unwrap();
    assert!(page.contains("id=\"no-candidates\""));
    assert!(page.contains("stopped after 3 step(s)"));
    assert!(page.contains("Neither candidates.json nor program.json was written"));
    assert!(!page.contains("cand-row"));
    assert!(!page.contains("id=\"best-train\""));
    let best = inputs.trials[2].best_so_far.unwrap();
    assert!(page.contains(&format!(
        "id=\"best-minibatch\">{}</span>",
        format::score(best)
    )));
    assert_eq!(page.matches("<tr class=\"step-row\">").count(), 3);
    let svg = slice(&page, "<svg", "</svg>");
    assert_eq!(candidate_markers(svg), built_candidates(&inputs.trials));
    assert_eq!(candidate_markers(svg), 21);

    // Without run.json as well: the trials alone make a report.
    std::fs::remove_file(dir.path().join(RUN_JSON)).unwrap();
    let page = std::fs::read_to_string(write_report(dir.path()).unwrap()).unwrap();
    assert!(page.contains("id=\"no-run-json\""));
    assert_eq!(page.matches("<tr class=\"step-row\">").count(), 3);
}

#[test]
fn program_json_alone_gives_the_winner_without_a_diff() {
    let dir = copy_fixture("quickstart");
    std::fs::remove_file(dir.path().join(CANDIDATES_JSON)).unwrap();
    let page = render_report(&load(dir.path())).unwrap();
    let program = slice(&page, "<section id=\"program\">", "</section>");
    assert!(program.contains("so no diff"));
    assert!(program.contains("When the input is about painters"));
    assert!(program.contains("<h4>Demos (1)</h4>"));
    assert!(program.contains("from the program's own run"));
}

fn err_of(dir: &Path) -> ReportError {
    write_report(dir).unwrap_err()
}

#[test]
fn missing_and_malformed_artifacts_are_errors_naming_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("nope");
    let e = err_of(&missing);
    assert!(matches!(e, ReportError::NoFolder { .. }));
    assert!(
        e.to_string().contains(&missing.display().to_string()),
        "{e}"
    );

    let e = err_of(tmp.path());
    assert!(matches!(e, ReportError::NoArtifacts { .. }));
    assert!(
        e.to_string().contains(&tmp.path().display().to_string()),
        "{e}"
    );
    assert!(e.is_input_error());

    let dir = copy_fixture("quickstart");
    let trials = std::fs::read_to_string(dir.path().join(TRIALS_JSONL)).unwrap();
    let mut lines: Vec<&str> = trials.lines().collect();
    lines[1] = "{\"step\": 2, \"batch\": ";
    std::fs::write(dir.path().join(TRIALS_JSONL), lines.join("\n")).unwrap();
    let e = err_of(dir.path());
    let msg = e.to_string();
    assert!(
        msg.contains("trials.jsonl:2: malformed trial record"),
        "{msg}"
    );

    let dir = copy_fixture("quickstart");
    std::fs::write(dir.path().join(CANDIDATES_JSON), "{\"schema\": 1}").unwrap();
    let msg = err_of(dir.path()).to_string();
    assert!(msg.contains("candidates.json: malformed artifact"), "{msg}");
    assert!(msg.contains("missing field"), "{msg}");

    let dir = copy_fixture("quickstart");
    let text = std::fs::read_to_string(dir.path().join(CANDIDATES_JSON)).unwrap();
    std::fs::write(
        dir.path().join(CANDIDATES_JSON),
        text.replacen("\"best\": 6", "\"best\": 60", 1),
    )
    .unwrap();
    let msg = err_of(dir.path()).to_string();
    assert!(
        msg.contains("candidates.json: `best` is 60 but there are only 7 candidates"),
        "{msg}"
    );
    assert!(!dir.path().join("report.html").exists());
}

#[test]
fn the_report_command_writes_the_page_or_exits_1_naming_the_problem() {
    let dir = copy_fixture("quickstart");
    assert_cmd::Command::cargo_bin("simba-run")
        .unwrap()
        .arg("report")
        .arg(dir.path())
        .assert()
        .code(0)
        .stdout(predicates::str::contains("report.html"));
    assert!(dir.path().join("report.html").is_file());

    let empty = tempfile::tempdir().unwrap();
    assert_cmd::Command::cargo_bin("simba-run")
        .unwrap()
        .arg("report")
        .arg(empty.path())
        .assert()
        .code(1)
        .stderr(predicates::str::contains(
            empty.path().display().to_string(),
        ))
        .stderr(predicates::str::contains("no run artifacts"));

    std::fs::write(dir.path().join(RUN_JSON), "not json").unwrap();
    assert_cmd::Command::cargo_bin("simba-run")
        .unwrap()
        .arg("report")
        .arg(dir.path())
        .assert()
        .code(1)
        .stderr(predicates::str::contains("run.json: malformed artifact"));
}

#[test]
fn injected_markup_in_data_is_escaped_everywhere() {
    let inputs = load(&fixture("injection"));
    let page = render_report(&inputs).unwrap();
    // Nothing from the data became markup: the page has no script and no
    // image element at all, one title, one SVG.
    assert!(!page.to_lowercase().contains("<script"));
    assert!(!page.contains("<img"));
    assert!(!page.contains("<b>"));
    assert!(!page.contains("<i>"));
    assert!(!page.contains("<!--"));
    assert_eq!(page.matches("<title>").count(), 1);
    assert_eq!(page.matches("</title>").count(), 1);
    assert_eq!(page.matches("<svg").count(), 1);
    assert_eq!(page.matches("</svg>").count(), 1);
    // ... but is there as text, escaped.
    for escaped in [
        "&lt;script&gt;console.error(&quot;INJECTED-demo&quot;)&lt;/script&gt;",
        "&lt;img src=x onerror=&quot;console.error(&#39;INJECTED-img&#39;)&quot;&gt; &amp; done",
        "q&lt;i&gt;key&lt;/i&gt;",
        "&lt;/svg&gt;&lt;/div&gt;&#39;&quot;&amp;amp;",
        "qa&lt;/title&gt;&lt;script&gt;",
        "specs/&lt;evil&gt;&amp;&quot;x&quot;.simba",
        "&lt;/td&gt;&lt;/tr&gt;&lt;/table&gt;&lt;script&gt;console.error(&quot;INJECTED-skip&quot;)",
        "&lt;b&gt;ghost&lt;/b&gt;",
        "&amp;amp; &amp;lt;script&amp;gt;",
        "&lt;!-- unclosed comment",
        "Use &#39;quotes&#39; &amp; &lt;b&gt;bold&lt;/b&gt;.",
    ] {
        assert!(page.contains(escaped), "page lacks `{escaped}`");
    }
    // The metric name reaches the SVG axis label escaped by plotters.
    let svg = slice(&page, "<svg", "</svg>");
    assert!(svg.contains("score (m&lt;/svg&gt;&lt;script&gt;console.error(&quot;INJECTED-svg"));
    // Skips and failures are listed with their reasons.
    let steps = slice(&page, "<table id=\"steps-table\">", "</table>");
    let step_rows = rows(steps, "<tr class=\"step-row\"");
    assert_eq!(step_rows.len(), 2);
    assert!(step_rows[0][6].contains("append_demo skipped: no demo: every trajectory failed"));
    assert!(step_rows[1][6].contains("append_demo failed: prompt model error"));
    assert!(step_rows[1][6].contains("append_rule skipped: advice named no predictor"));
    assert_eq!(step_rows[1][4], "6", "one bucket of 7 built no candidate");
    assert_eq!(candidate_markers(svg), built_candidates(&inputs.trials));
    assert_eq!(candidate_markers(svg), 13);
}

#[test]
fn a_selection_on_a_valset_says_which_split_decided_and_shows_its_scores() {
    use simba_run::artifacts::{CandidatesJson, RaceEnd, RaceSummary, RunJson};
    let dir = copy_fixture("quickstart");
    let cpath = dir.path().join(CANDIDATES_JSON);
    let mut c: CandidatesJson =
        serde_json::from_str(&std::fs::read_to_string(&cpath).unwrap()).unwrap();
    c.selected_on = Some("valset".into());
    for (i, cand) in c.candidates.iter_mut().enumerate() {
        cand.val_score = Some(0.125 * i as f64);
    }
    std::fs::write(&cpath, serde_json::to_string(&c).unwrap()).unwrap();
    let rpath = dir.path().join(RUN_JSON);
    let mut run: RunJson = serde_json::from_str(&std::fs::read_to_string(&rpath).unwrap()).unwrap();
    run.valset_size = Some(12);
    std::fs::write(&rpath, serde_json::to_string(&run).unwrap()).unwrap();

    // A full selection: both splits' columns, the valset marked as deciding.
    let page = std::fs::read_to_string(write_report(dir.path()).unwrap()).unwrap();
    let table = slice(&page, "id=\"candidates\"", "</table>");
    assert!(table.contains("<th class=\"num\">Trainset score</th>"));
    assert!(
        table.contains("<th class=\"num\">Valset score (decided)</th>"),
        "{table}"
    );
    assert!(table.contains("on the full trainset (30 examples) and on the full valset (12 examples). The best on the valset is returned."), "{table}");
    assert!(
        table.contains("<td class=\"num score\">0.750</td>"),
        "{table}"
    );
    let svg = slice(&page, "<svg", "</svg>");
    assert!(svg.contains("final candidate (full valset)"));
    assert!(!svg.contains("full trainset"));

    // Raced on the valset: no train scores, so no trainset column.
    for cand in &mut c.candidates {
        cand.train_score = None;
        cand.train_scores = Vec::new();
    }
    c.race = Some(RaceSummary {
        on: "valset".into(),
        set_size: 12,
        round_size: 8,
        rounds: 2,
        delta: 0.05,
        alpha: 0.05 / 6.0,
        end: RaceEnd::Exhausted,
        executions: 80,
        reused: 0,
        full_executions: 84,
    });
    std::fs::write(&cpath, serde_json::to_string(&c).unwrap()).unwrap();
    let page = std::fs::read_to_string(write_report(dir.path()).unwrap()).unwrap();
    let table = slice(&page, "id=\"candidates\"", "</table>");
    assert!(!table.contains("Trainset score"));
    assert!(
        table.contains(
            "raced with <code>correct</code> on the valset (12 examples): a score is the mean"
        ),
        "{table}"
    );
    assert!(table.contains("the valset decided which program is returned"));
    assert!(slice(&page, "<svg", "</svg>").contains("final candidate (valset, raced)"));
}
