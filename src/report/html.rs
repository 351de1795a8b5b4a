//! The report page. Every string from the artifacts (names, paths, demos,
//! instructions, strategy details, warnings) goes through [`escape_html`];
//! the only unescaped markup is our own and the SVG plotters produced (which
//! escapes its text itself).

use std::fmt::Write as _;

use crate::artifacts::{AttemptResult, CandidateEntry, CandidatesJson, RunJson, TrialRecord};

use super::ReportError;
use super::decided::Decision;
use super::diff::word_diff;
use super::escape::escape_html as e;
use super::format;
use super::load::{ReportInputs, WinningPredictor};
use super::plot::score_plot;

const STYLE: &str = include_str!("style.css");

/// The whole page.
pub fn render(inputs: &ReportInputs) -> Result<String, ReportError> {
    let name = inputs.program_name().unwrap_or("(unnamed program)");
    let mut h = String::with_capacity(64 * 1024);
    let _ = writeln!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>SIMBA run report: {}</title>\n<style>\n{STYLE}</style>\n</head>\n<body>\n<main>",
        e(name)
    );
    header(&mut h, inputs, name);
    plot_section(&mut h, inputs)?;
    candidates_section(&mut h, inputs);
    program_section(&mut h, inputs);
    steps_section(&mut h, inputs);
    warnings_section(&mut h, inputs);
    let _ = writeln!(
        h,
        "<footer>Written by simba-run {} from the artifacts in this folder \
         (run.json, trials.jsonl, candidates.json, program.json).</footer>\n</main>\n</body>\n</html>",
        e(env!("CARGO_PKG_VERSION"))
    );
    Ok(h)
}

fn fact(h: &mut String, label: &str, value_html: &str) {
    let _ = writeln!(h, "<div><dt>{}</dt><dd>{value_html}</dd></div>", e(label));
}

fn header(h: &mut String, inputs: &ReportInputs, name: &str) {
    let _ = writeln!(
        h,
        "<header>\n<h1>SIMBA run report: <code id=\"program-name\">{}</code></h1>",
        e(name)
    );
    let Some(run) = &inputs.run else {
        unfinished_run_note(h, inputs);
        h.push_str("</header>\n");
        return;
    };
    h.push_str("<div class=\"kpis\">\n");
    kpis(h, inputs, run);
    h.push_str("</div>\n<dl class=\"facts\">\n");
    facts(h, run);
    h.push_str("</dl>\n</header>\n");
}

/// Without run.json: say so, and show the best trainset score the other
/// artifacts record.
fn unfinished_run_note(h: &mut String, inputs: &ReportInputs) {
    h.push_str(
        "<p class=\"note\" id=\"no-run-json\">run.json was not written: the run stopped \
         before it finished. Shown below is what the other artifacts record.</p>\n",
    );
    if let Some(best) = inputs.best_train_score() {
        let _ = writeln!(
            h,
            "<div class=\"kpis\"><div class=\"kpi best\"><span class=\"kpi-label\">Best \
             (trainset)</span><span class=\"kpi-value\" id=\"best-train\">{}</span></div></div>",
            e(&format::score(best))
        );
    }
}

/// One headline number.
fn kpi(h: &mut String, class: &str, label: &str, id: &str, value: String) {
    let _ = writeln!(
        h,
        "<div class=\"kpi {class}\"><span class=\"kpi-label\">{}</span>\
         <span class=\"kpi-value\" id=\"{id}\">{}</span></div>",
        e(label),
        e(&value)
    );
}

/// The headline numbers: baseline, best and gain once the run finished,
/// else the best mini-batch score so far.
fn kpis(h: &mut String, inputs: &ReportInputs, run: &RunJson) {
    let finished = inputs.candidates.is_some() || inputs.program.is_some();
    if finished {
        let (base, best) = (run.baseline.train, run.best.train);
        kpi(
            h,
            "",
            "Baseline (trainset)",
            "baseline-train",
            format::opt_score(base),
        );
        kpi(
            h,
            "best",
            "Best (trainset)",
            "best-train",
            format::opt_score(best),
        );
        let gain = match (best, base) {
            (Some(b), Some(a)) => format::delta(b - a),
            _ => "—".into(),
        };
        kpi(h, "", "Gain", "gain-train", gain);
        if let (Some(b), Some(d)) = (run.baseline.dev, run.best.dev) {
            kpi(h, "", "Baseline (devset)", "baseline-dev", format::score(b));
            kpi(h, "best", "Best (devset)", "best-dev", format::score(d));
        }
    } else if let Some(b) = inputs.trials.iter().rev().find_map(|t| t.best_so_far) {
        let label = "Best mini-batch score so far";
        kpi(h, "best", label, "best-minibatch", format::score(b));
    }
}

/// The run's facts: spec, seed, why it stopped, its cost and its settings.
fn facts(h: &mut String, run: &RunJson) {
    if let Some(spec) = &run.spec {
        let spec = e(&spec.display().to_string());
        fact(h, "Spec", &format!("<code>{spec}</code>"));
    }
    fact(h, "Seed", &e(&run.seed.to_string()));
    let stop = e(run.stop_reason.as_str());
    fact(
        h,
        "Stop reason",
        &format!("<span id=\"stop-reason\">{stop}</span>"),
    );
    let steps = format!("{} of max_steps = {}", run.steps_run, run.config.max_steps);
    fact(h, "Steps run", &e(&steps));
    fact(h, "Duration", &e(&format::duration_ms(run.duration_ms)));
    let u = &run.usage;
    let calls = format!(
        "{} ({} failed, {} from the cache)",
        format::count(u.lm_calls),
        format::count(u.failed_calls),
        format::count(run.cached_calls)
    );
    fact(h, "LM calls", &e(&calls));
    let tokens = format!(
        "{} prompt + {} completion = {}",
        format::count(u.prompt_tokens),
        format::count(u.completion_tokens),
        format::count(u.prompt_tokens + u.completion_tokens)
    );
    fact(h, "Tokens", &e(&tokens));
    fact(
        h,
        "Metric",
        &format!("<code>{}</code>", e(&run.config.metric)),
    );
    let dev = run
        .devset_size
        .map_or_else(|| "no devset".to_string(), |n| format!("devset {n}"));
    let data = format!("trainset {} examples, {dev}", run.trainset_size);
    fact(h, "Data", &e(&data));
    let c = &run.config;
    let batch = format!(
        "bsize {} (effective {}), num_candidates {}, max_demos {}",
        c.bsize, run.effective_bsize, c.num_candidates, c.max_demos
    );
    fact(h, "Mini-batch", &e(&batch));
    let strategies: Vec<String> = c.strategies.iter().map(|s| s.to_string()).collect();
    fact(h, "Strategies", &e(&strategies.join(", ")));
}

fn plot_section(h: &mut String, inputs: &ReportInputs) -> Result<(), ReportError> {
    h.push_str("<section id=\"plot\">\n<h2>Scores per step</h2>\n");
    if inputs.trials.is_empty() && inputs.candidates.is_none() {
        h.push_str(
            "<p class=\"note\">No step finished, so there is nothing to plot.</p>\n</section>\n",
        );
        return Ok(());
    }
    let svg = score_plot(inputs)?;
    h.push_str("<figure class=\"plot\">\n");
    h.push_str(&svg);
    let decided = inputs.candidates.as_ref().map_or_else(
        || "none ran".to_string(),
        |c| Decision::of(c, inputs.run.as_ref()).plot_label(),
    );
    let _ = writeln!(
        h,
        "<figcaption>Each step samples the program pool on a fresh mini-batch: the blue \
         line is the mean score of those runs (the step's baseline); red points are the \
         candidates built that step, scored on the same mini-batch; triangles mark each \
         step's best candidate; the green line is the best mini-batch score so far. Squares \
         are the final candidates' scores on the split that decided ({}), the filled one the \
         program returned.</figcaption>\n</figure>\n</section>",
        e(&decided)
    );
    Ok(())
}

fn candidates_section(h: &mut String, inputs: &ReportInputs) {
    h.push_str("<section id=\"candidates\">\n<h2>Final candidates</h2>\n");
    let Some(c) = &inputs.candidates else {
        let _ = writeln!(
            h,
            "<p class=\"note\" id=\"no-candidates\">candidates.json was not written: the run \
             stopped after {} step(s), before the final selection.</p>\n</section>",
            inputs.trials.len()
        );
        return;
    };
    let decision = Decision::of(c, inputs.run.as_ref());
    let columns = CandidateColumns::of(c, &decision);
    let _ = writeln!(
        h,
        "<p id=\"decided-by\">{}</p>",
        decided_sentence(c, &decision)
    );
    h.push_str(
        "<div class=\"wide\"><table id=\"candidates-table\">\n<thead><tr><th>#</th><th>From</th><th>Pool index</th>",
    );
    for (split, shown) in [
        ("trainset", columns.train),
        ("valset", columns.val),
        ("devset", columns.dev),
    ] {
        if shown {
            let mark = if split == decision.split {
                " (decided)"
            } else {
                ""
            };
            let _ = write!(
                h,
                "<th class=\"num\">{}{mark}</th>",
                e(&format!("{} score", capitalised(split)))
            );
        }
    }
    h.push_str("<th class=\"num\">vs baseline</th><th>Demos</th><th></th></tr></thead>\n<tbody>\n");
    let baseline = c
        .candidates
        .iter()
        .find(|x| x.step.is_none())
        .and_then(|x| decision.score(x));
    for (i, cand) in c.candidates.iter().enumerate() {
        candidate_row(h, i, i == c.best, cand, &columns, &decision, baseline);
    }
    h.push_str("</tbody>\n</table></div>\n");
    super::race::race_section(h, c);
    h.push_str("</section>\n");
}

/// Which score columns the candidates table has: the deciding split's
/// always, the others when any candidate has such a score.
struct CandidateColumns {
    train: bool,
    val: bool,
    dev: bool,
}

impl CandidateColumns {
    fn of(c: &CandidatesJson, decision: &Decision) -> Self {
        let any =
            |f: fn(&CandidateEntry) -> Option<f64>| c.candidates.iter().any(|x| f(x).is_some());
        Self {
            train: decision.split == "trainset" || any(|x| x.train_score),
            val: decision.split == "valset" || any(|x| x.val_score),
            dev: decision.split == "devset" || any(|x| x.dev_score),
        }
    }
}

/// The sentence over the table: what the candidates were scored on and
/// which split chose the returned program.
fn decided_sentence(c: &CandidatesJson, decision: &Decision) -> String {
    let metric = e(&c.metric);
    let on = e(&decision.describe());
    match (decision.raced, decision.split) {
        (true, split) => format!(
            "Programs picked from the winners of the steps, raced with <code>{metric}</code> on \
             {on}: a score is the mean over the examples a candidate was scored on (see Race \
             below), and the {split} decided which program is returned."
        ),
        (false, "trainset") => format!(
            "Programs picked from the winners of the steps, each scored with <code>{metric}</code> \
             on {on}. The best there is returned."
        ),
        (false, split) => format!(
            "Programs picked from the winners of the steps, each scored with <code>{metric}</code> \
             on the full trainset ({} examples) and on {on}. The best on the {split} is returned.",
            c.trainset_size
        ),
    }
}

fn capitalised(s: &str) -> String {
    let mut chars = s.chars();
    chars
        .next()
        .map(|f| f.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

fn candidate_row(
    h: &mut String,
    i: usize,
    best: bool,
    cand: &CandidateEntry,
    columns: &CandidateColumns,
    decision: &Decision,
    baseline: Option<f64>,
) {
    let from = match cand.step {
        None => "baseline".to_string(),
        Some(s) => format!("step {s}"),
    };
    let _ = write!(
        h,
        "<tr class=\"cand-row{}\"><td>{i}</td><td>{}</td><td>{}</td>",
        if best { " winner" } else { "" },
        e(&from),
        cand.pool_index,
    );
    for (split, shown, score) in [
        ("trainset", columns.train, cand.train_score),
        ("valset", columns.val, cand.val_score),
        ("devset", columns.dev, cand.dev_score),
    ] {
        if shown {
            let class = if split == decision.split {
                "num score"
            } else {
                "num"
            };
            let _ = write!(
                h,
                "<td class=\"{class}\">{}</td>",
                e(&format::opt_score(score))
            );
        }
    }
    let vs = match (baseline, decision.score(cand)) {
        (Some(b), Some(s)) => format::delta(s - b),
        _ => "—".into(),
    };
    let demos: Vec<String> = cand
        .predictors
        .iter()
        .map(|(step, p)| format!("{step}: {}", p.demos.len()))
        .collect();
    let _ = writeln!(
        h,
        "<td class=\"num\">{}</td><td>{}</td><td>{}</td></tr>",
        e(&vs),
        e(&demos.join(", ")),
        if best {
            "<span class=\"badge win\">returned</span>"
        } else {
            ""
        }
    );
}

fn predictor_html(h: &mut String, p: &WinningPredictor) {
    let _ = write!(
        h,
        "<article class=\"predictor\">\n<h3>Step <code>{}</code>",
        e(&p.step)
    );
    if let Some(k) = &p.key
        && k != &p.step
    {
        let _ = write!(
            h,
            " <span class=\"muted\">(program.json key <code>{}</code>)</span>",
            e(k)
        );
    }
    h.push_str("</h3>\n<h4>Instructions</h4>\n");
    match &p.original_instructions {
        Some(orig) if orig == &p.instructions => {
            let _ = writeln!(
                h,
                "<p class=\"muted\">Unchanged from the original.</p>\n<div class=\"text instructions\">{}</div>",
                e(&p.instructions)
            );
        }
        Some(orig) => {
            let d = word_diff(orig, &p.instructions);
            let _ = writeln!(
                h,
                "<p class=\"muted\">Against the original: {} word(s) added, {} removed \
                 (<ins>added</ins>, <del>removed</del>).</p>\n<div class=\"text instructions diff\">{}</div>",
                d.added, d.removed, d.html
            );
        }
        None => {
            let _ = writeln!(
                h,
                "<p class=\"muted\">The original instructions are not recorded (no candidates.json), \
                 so no diff.</p>\n<div class=\"text instructions\">{}</div>",
                e(&p.instructions)
            );
        }
    }
    let _ = writeln!(h, "<h4>Demos ({})</h4>", p.demos.len());
    if p.demos.is_empty() {
        h.push_str("<p class=\"muted\">No demos.</p>\n");
    } else {
        h.push_str("<ol class=\"demos\">\n");
        for d in &p.demos {
            let _ = writeln!(
                h,
                "<li class=\"demo\">{}<dl>",
                if d.augmented {
                    "<span class=\"badge\">from the program's own run</span>"
                } else {
                    "<span class=\"badge plain\">labelled example</span>"
                }
            );
            for (k, v) in &d.fields {
                let _ = writeln!(
                    h,
                    "<dt>{}</dt><dd class=\"text\">{}</dd>",
                    e(k),
                    e(&format::value(v))
                );
            }
            h.push_str("</dl></li>\n");
        }
        h.push_str("</ol>\n");
    }
    h.push_str("</article>\n");
}

fn program_section(h: &mut String, inputs: &ReportInputs) {
    h.push_str("<section id=\"program\">\n<h2>The returned program</h2>\n");
    match inputs.winning_program() {
        Some(preds) => {
            for p in &preds {
                predictor_html(h, p);
            }
        }
        None => h.push_str(
            "<p class=\"note\">Neither candidates.json nor program.json was written: the run \
             stopped before choosing a program.</p>\n",
        ),
    }
    h.push_str("</section>\n");
}

fn result_word(r: AttemptResult) -> &'static str {
    match r {
        AttemptResult::Applied => "applied",
        AttemptResult::Skipped => "skipped",
        AttemptResult::Failed => "failed",
    }
}

fn step_row(h: &mut String, t: &TrialRecord, ms: Option<u64>) {
    let built = t
        .candidates
        .iter()
        .filter(|c| c.pool_index.is_some())
        .count();
    // Strategies applied, counted in first-use order.
    let mut applied: Vec<(&str, usize)> = Vec::new();
    let mut problems: Vec<String> = Vec::new();
    for c in &t.candidates {
        for a in &c.attempts {
            match a.result {
                AttemptResult::Applied => match applied.iter_mut().find(|x| x.0 == a.strategy) {
                    Some(x) => x.1 += 1,
                    None => applied.push((a.strategy.as_str(), 1)),
                },
                r => problems.push(format!(
                    "bucket {} (example {}): {} {}: {}",
                    c.bucket,
                    c.example,
                    a.strategy,
                    result_word(r),
                    a.detail
                )),
            }
        }
    }
    let applied_html: Vec<String> = applied
        .iter()
        .map(|(s, n)| format!("<span class=\"nw\">{} ×{n}</span>", e(s)))
        .collect();
    let stats = &t.batch_stats;
    let _ = write!(
        h,
        "<tr class=\"step-row\"><td>{}</td><td class=\"num\">{} <span class=\"muted\">({}–{})</span></td>\
         <td class=\"num\">{}</td><td class=\"num\">{} of {}</td><td class=\"num\">{}</td><td>{}</td><td>",
        t.step,
        e(&format::score(stats.mean)),
        e(&format::score(stats.p10)),
        e(&format::score(stats.p90)),
        stats.failed_executions,
        t.candidates.len(),
        t.buckets.len(),
        built,
        applied_html.join(", "),
    );
    if problems.is_empty() {
        h.push_str("<span class=\"muted\">none</span>");
    } else {
        h.push_str("<ul class=\"skips\">");
        for p in &problems {
            let _ = write!(h, "<li>{}</li>", e(p));
        }
        h.push_str("</ul>");
    }
    let _ = writeln!(
        h,
        "</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
        e(&format::opt_score(t.best_candidate_score)),
        e(&format::opt_score(t.best_so_far)),
        e(&format::count(t.usage.lm_calls)),
        e(&ms.map_or_else(|| "—".into(), format::duration_ms)),
    );
}

fn step_details(h: &mut String, t: &TrialRecord) {
    let _ = writeln!(
        h,
        "<details class=\"step-details\"><summary>Step {}: buckets, attempts and candidates</summary>\n\
         <p class=\"muted\">Mini-batch (trainset indices): {}</p>\n\
         <div class=\"wide\"><table class=\"buckets\"><thead><tr><th>Bucket</th><th>Example</th><th class=\"num\">Max</th>\
         <th class=\"num\">Max−min</th><th>Copied from</th><th>Demos dropped</th><th>Attempts</th>\
         <th>Candidate</th><th class=\"num\">Score</th></tr></thead>\n<tbody>",
        t.step,
        e(&t.batch
            .iter()
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(", "))
    );
    for c in &t.candidates {
        let bucket = t.buckets.get(c.bucket);
        let _ = write!(
            h,
            "<tr class=\"bucket-row\"><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"nw\">program {}</td><td>{}</td><td><ul class=\"attempts\">",
            c.bucket,
            c.example,
            e(&bucket.map_or_else(|| "—".into(), |b| format::score(b.max_score))),
            e(&bucket.map_or_else(|| "—".into(), |b| format::score(b.max_to_min_gap))),
            c.source,
            e(&if c.dropped_demos.is_empty() {
                "none".to_string()
            } else {
                c.dropped_demos
                    .iter()
                    .map(|i| i.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            }),
        );
        for a in &c.attempts {
            let _ = write!(
                h,
                "<li><span class=\"res {}\">{} {}</span>: {}",
                result_word(a.result),
                e(&a.strategy),
                result_word(a.result),
                e(&a.detail)
            );
            for (name, advice) in &a.unmatched_advice {
                let _ = write!(
                    h,
                    "<div class=\"muted\">advice for unknown predictor <code>{}</code>: {}</div>",
                    e(name),
                    e(advice)
                );
            }
            h.push_str("</li>");
        }
        let _ = writeln!(
            h,
            "</ul></td><td class=\"nw\">{}</td><td class=\"num\">{}</td></tr>",
            e(&c.pool_index
                .map_or_else(|| "none".into(), |p| format!("program {p}"))),
            e(&format::opt_score(c.score))
        );
    }
    h.push_str("</tbody></table></div></details>\n");
}

fn steps_section(h: &mut String, inputs: &ReportInputs) {
    h.push_str("<section id=\"steps\">\n<h2>Steps</h2>\n");
    if inputs.trials.is_empty() {
        h.push_str("<p class=\"note\">No step finished (trials.jsonl is empty or missing).</p>\n</section>\n");
        return;
    }
    h.push_str(
        "<div class=\"wide\"><table id=\"steps-table\">\n<thead><tr><th>Step</th><th class=\"num\">Mini-batch mean (p10–p90)</th>\
         <th class=\"num\">Failed runs</th><th class=\"num\">Buckets used</th>\
         <th class=\"num\">Candidates</th><th>Strategies applied</th><th>Skips and failures</th>\
         <th class=\"num\">Best of step</th><th class=\"num\">Running best</th><th class=\"num\">LM calls</th>\
         <th class=\"num\">Time</th></tr></thead>\n<tbody>\n",
    );
    let durations = inputs.run.as_ref().map(|r| &r.step_durations_ms);
    for (i, t) in inputs.trials.iter().enumerate() {
        step_row(h, t, durations.and_then(|d| d.get(i).copied()));
    }
    h.push_str("</tbody>\n</table></div>\n");
    for t in &inputs.trials {
        step_details(h, t);
    }
    h.push_str("</section>\n");
}

fn warnings_section(h: &mut String, inputs: &ReportInputs) {
    let Some(run) = &inputs.run else { return };
    if run.warnings.is_empty() {
        return;
    }
    h.push_str("<section id=\"warnings\">\n<h2>Warnings</h2>\n<ul>\n");
    for w in &run.warnings {
        let _ = writeln!(h, "<li>{}</li>", e(w));
    }
    h.push_str("</ul>\n</section>\n");
}
