//! Plugin code items from a spec, through the binary: a tool step and a
//! plugin metric in a short optimization; a strategy config that changes
//! what the plugin does (seen in trials.jsonl) and its `host.log` warning
//! (seen on stderr and in `--json`); a config the plugin rejects, shown by
//! `check` at its span; the no-candidate warnings; a crashing `command`
//! metric that does not stop the run. Runs are tiny (bsize 2, 1 step).

mod plugin_support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use plugin_support::{fixture_crate, repo, workspace_plugin};

fn simba() -> Command {
    Command::new(env!("CARGO_BIN_EXE_simba-run"))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A spec over the quickstart trivia data with `program`, `metric` and the
/// block's `strategies`.
fn write_spec(dir: &Path, program: &str, metric: &str, strategies: &str) -> PathBuf {
    let data = repo().join("examples/quickstart/data");
    std::fs::create_dir_all(dir.join("data")).unwrap();
    for f in ["train.jsonl", "dev.jsonl"] {
        std::fs::copy(data.join(f), dir.join("data").join(f)).unwrap();
    }
    let spec = format!(
        r#"plugin extras = "{extras}"
plugin faulty = "{faulty}"

model sim {{
  provider = "sim"
  oracle   = trivia
  skill    = 0.5
}}

dataset trivia {{
  train  = jsonl("data/train.jsonl")
  dev    = jsonl("data/dev.jsonl")
  inputs = [question]
}}

signature Answer {{
  """Answer the trivia question with a short factoid."""
  in  question: string
  out answer:   string
}}

signature Check {{
  """Check the draft answer and give the final one."""
  in  question: string
  in  draft:    string
  out answer:   string
}}

{program}

metric m = {metric}

optimize qa with simba {{
  trainset = trivia.train
  devset   = trivia.dev
  metric   = m
  bsize = 4
  num_candidates = 2
  max_steps = 1
  seed = 3
  strategies = {strategies}
  output = "out"
}}
"#,
        extras = workspace_plugin("simba-extras").display(),
        faulty = fixture_crate("faulty").display(),
    );
    let path = dir.join("code.simba");
    std::fs::write(&path, spec).unwrap();
    path
}

const TWO_STEPS: &str = "program qa {
  lm = sim
  step draft = predict(Answer)
  step answer = predict(Check) { draft = draft.answer }
  out answer = answer.answer
}";

fn ok(out: Output) -> Output {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
    out
}

/// Every attempt's detail in trials.jsonl, in order.
fn details(out_dir: &Path, strategy: &str) -> Vec<String> {
    let trials = std::fs::read_to_string(out_dir.join("trials.jsonl")).unwrap();
    trials
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .flat_map(|t| t["candidates"].as_array().unwrap().clone())
        .flat_map(|c| c["attempts"].as_array().unwrap().clone())
        .filter(|a| a["strategy"] == strategy && a["result"] == "applied")
        .map(|a| a["detail"].as_str().unwrap().to_string())
        .collect()
}

fn run_json(out_dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(out_dir.join("run.json")).unwrap()).unwrap()
}

#[test]
fn a_tool_step_and_a_plugin_metric_run_in_a_short_optimization() {
    let dir = tempfile::tempdir().unwrap();
    let program = "program qa {
  lm = sim
  in question: string
  step hint = extras.join(a = input.question, b = input.question) { separator = \" / \" }
  step answer = predict(Check) { draft = hint.text }
  out answer = answer.answer
  out joined = hint.text
}";
    let spec = write_spec(
        dir.path(),
        program,
        "extras.rubric(pred, gold) { threshold = 0.5 }",
        "[append_demo]",
    );
    let check = ok(simba().arg("check").arg(&spec).output().unwrap());
    // Enough to write the step from: typed fields, the call, the config keys.
    let listing = text(&check.stdout);
    for line in [
        "  tools:\n    extras.join(a: string, b: string) -> text: string\n",
        "      use: step NAME = extras.join(a = <string>, b = <string>), outputs read as NAME.text\n",
        "      config separator: string - put between the two inputs (default \" | \")\n",
        "  metrics:\n    extras.rubric(pred, gold)\n      config field: string - ",
        "    extras.swap_demo\n      config max_swaps: int - how many predictors",
        "    extras.shuffle_demos\n      config: none\n",
        "    faulty.echo_config(question: string) -> config: json\n",
        "    faulty.panics\n      config: not declared (any `{ .. }` is passed as JSON)\n",
    ] {
        assert!(listing.contains(line), "{line:?} in\n{listing}");
    }

    ok(simba().arg(&spec).arg("--quiet").output().unwrap());
    let run = run_json(&dir.path().join("out"));
    assert!(run["best"]["dev"].as_f64().is_some(), "{run}");

    // The tool's output is a program output; the metric's feedback reaches the scores.
    let eval = ok(simba()
        .arg("eval")
        .arg(&spec)
        .arg("--json")
        .output()
        .unwrap());
    let lines: Vec<serde_json::Value> = text(&eval.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 15);
    for l in &lines {
        let q = l["inputs"]["question"].as_str().unwrap();
        assert_eq!(l["prediction"]["joined"], format!("{q} / {q}"));
    }
    assert!(
        lines.iter().any(|l| l["score"] == 0.0
            && l["feedback"]
                .as_str()
                .unwrap()
                .starts_with("the answer misses: ")),
        "{lines:#?}"
    );
}

#[test]
fn a_strategy_config_changes_the_plugin_and_its_log_reaches_stderr_and_json() {
    let plain = tempfile::tempdir().unwrap();
    let spec = write_spec(
        plain.path(),
        TWO_STEPS,
        "exact_match(pred.answer, gold.answer)",
        "[extras.swap_demo]",
    );
    ok(simba().arg(&spec).arg("--quiet").output().unwrap());
    let unlimited = details(&plain.path().join("out"), "extras.swap_demo");
    assert!(
        unlimited
            .iter()
            .any(|d| d == "swapped a demo in draft, answer"),
        "{unlimited:?}"
    );

    let capped = tempfile::tempdir().unwrap();
    let spec = write_spec(
        capped.path(),
        TWO_STEPS,
        "exact_match(pred.answer, gold.answer)",
        "[extras.swap_demo { max_swaps = 1 }]",
    );
    let out = ok(simba().arg(&spec).arg("--json").output().unwrap());
    let once = details(&capped.path().join("out"), "extras.swap_demo");
    assert!(!once.is_empty());
    assert!(
        once.iter().all(|d| d == "swapped a demo in draft"),
        "{once:?}"
    );

    let warning = "swap_demo: max_swaps = 1 left 1 step(s) unchanged";
    let stderr = text(&out.stderr);
    assert!(stderr.contains(warning), "{stderr}");
    let logs: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|e| e["event"] == "log")
        .collect();
    assert!(!logs.is_empty(), "no log events");
    assert_eq!(logs[0]["level"], "warn");
    assert_eq!(logs[0]["plugin"], "extras");
    assert_eq!(logs[0]["message"], warning);
}

#[test]
fn a_config_the_plugin_rejects_fails_check_at_its_span() {
    let dir = tempfile::tempdir().unwrap();
    let spec = write_spec(
        dir.path(),
        TWO_STEPS,
        "exact_match(pred.answer, gold.answer)",
        "[append_demo, extras.swap_demo { max_swaps = 0 }]",
    );
    let out = simba().arg("check").arg(&spec).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr).replace(&dir.path().display().to_string(), "<dir>");
    insta::assert_snapshot!(stderr);
}

#[test]
fn a_run_whose_every_strategy_attempt_fails_warns_in_the_summary_and_run_json() {
    let dir = tempfile::tempdir().unwrap();
    let spec = write_spec(
        dir.path(),
        TWO_STEPS,
        "exact_match(pred.answer, gold.answer)",
        "[faulty.panics]",
    );
    let out = ok(simba().arg(&spec).output().unwrap());
    let summary = text(&out.stdout);
    assert!(
        summary.contains("warning: step 1 built no candidate: all "),
        "{summary}"
    );
    assert!(
        summary.contains("warning: no strategy applied in 1 step: every attempt skipped or failed"),
        "{summary}"
    );
    let run = run_json(&dir.path().join("out"));
    let warnings: Vec<&str> = run["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap())
        .collect();
    assert!(
        warnings
            .iter()
            .any(|w| w.starts_with("step 1 built no candidate")
                && w.contains("plugin panicked: deliberate failure")),
        "{warnings:?}"
    );
    assert!(
        warnings
            .iter()
            .any(|w| w.starts_with("no strategy applied")),
        "{warnings:?}"
    );
}

#[test]
fn a_command_metric_that_crashes_mid_run_is_restarted_and_the_run_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        repo().join("tests/metric_support/score.py"),
        dir.path().join("score.py"),
    )
    .unwrap();
    let spec = write_spec(
        dir.path(),
        TWO_STEPS,
        "command(\"python3 score.py crash_once\")",
        "[append_demo]",
    );
    ok(simba().arg(&spec).arg("--quiet").output().unwrap());
    let run = run_json(&dir.path().join("out"));
    let warning = run["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|w| w.as_str())
        .find(|w| w.starts_with("metric `m` (command `python3 score.py crash_once`): 1 of "))
        .unwrap_or_else(|| panic!("{run}"))
        .to_string();
    assert!(
        warning.contains(" calls failed and scored 0; the program was started "),
        "{warning}"
    );
}

#[test]
fn a_tool_step_is_type_checked_against_the_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let program = "program qa {
  lm = sim
  in question: string
  step draft = predict(Answer)
  step hint = extras.join(a = input.question, c = draft.answer)
  step answer = predict(Check) { draft = hint.text }
  out answer = answer.answer
}";
    let spec = write_spec(
        dir.path(),
        program,
        "exact_match(pred.answer, gold.answer)",
        "[append_demo]",
    );
    let out = simba().arg("check").arg(&spec).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("tool `extras.join` has no input `c`"),
        "{stderr}"
    );
    assert!(stderr.contains("help: its inputs: a, b"), "{stderr}");
    assert!(
        stderr.contains("input `b` of step `hint` is not bound"),
        "{stderr}"
    );
    assert!(
        stderr.contains("bind it in the call (`extras.join(b = STEP.FIELD)`)"),
        "{stderr}"
    );
}

#[test]
fn a_tool_step_of_a_plugin_that_does_not_load_is_an_error_saying_why() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("spec.simba");
    std::fs::write(
        &spec,
        "plugin gone = \"no/such/libgone\"\n\
         model m { provider = \"sim\" oracle = d }\n\
         dataset d { train = jsonl(\"t.jsonl\") inputs = [question] }\n\
         signature A = \"question -> answer\"\n\
         program p {\n  in question: string\n  step t = gone.tool(a = input.question)\n  step s = predict(A)\n  out answer = s.answer\n}\n\
         metric ok = exact_match(pred.answer, gold.answer)\n\
         optimize p with simba { trainset = d.train metric = ok }\n",
    )
    .unwrap();
    let out = simba().arg("check").arg(&spec).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("cannot type-check the tool step `gone.tool`"),
        "{stderr}"
    );
    assert!(
        stderr.contains("the plugin did not load: plugin `gone`: no library at"),
        "{stderr}"
    );
}

#[test]
fn a_misspelt_or_mistyped_config_key_fails_check_and_the_run_at_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let spec = write_spec(
        dir.path(),
        TWO_STEPS,
        "extras.rubric(pred, gold) { threshold = \"high\" }",
        "[append_demo, extras.swap_demo { max_swap = 2 }, extras.shuffle_demos { seed = 1 }]",
    );
    let at = |key: &str| {
        let src = std::fs::read_to_string(&spec).unwrap();
        let line = src.lines().position(|l| l.contains(key)).unwrap();
        let col = src.lines().nth(line).unwrap().find(key).unwrap();
        format!("code.simba:{}:{}]", line + 1, col + 1)
    };
    let expected = [
        "unknown key `max_swap` in the config of `extras.swap_demo`".to_string(),
        "help: did you mean `max_swaps`?".into(),
        at("max_swap = 2"),
        "unknown key `seed` in the config of `extras.shuffle_demos`".into(),
        "help: `extras.shuffle_demos` takes no config".into(),
        "`threshold` takes float, found a string".into(),
        "help: `threshold`: the share of gold words, in [0, 1], that scores 1 (default 1)".into(),
        at("\"high\""),
    ];
    let check = simba().arg("check").arg(&spec).output().unwrap();
    assert_eq!(check.status.code(), Some(1));
    let run = simba().arg(&spec).output().unwrap();
    assert_eq!(run.status.code(), Some(1));
    assert!(text(&check.stderr).contains("has 3 errors"));
    for out in [check, run] {
        let stderr = text(&out.stderr);
        for e in &expected {
            assert!(stderr.contains(e.as_str()), "{e} in\n{stderr}");
        }
    }
    assert!(!dir.path().join("out").exists());
}

/// `simba-run eval --json` of a program whose first step is
/// `faulty.misbehaves { mode = MODE }`: the error of every example.
fn misbehaving_tool_errors(mode: &str, call_timeout: Option<&str>) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let program = "program qa {
  lm = sim
  in question: string
  step t = faulty.misbehaves(question = input.question) { mode = \"MODE\" }
  step answer = predict(Answer)
  out answer = answer.answer
  out items = t.items
}"
    .replace("MODE", mode);
    let spec = write_spec(
        dir.path(),
        &program,
        "exact_match(pred.answer, gold.answer)",
        "[append_demo]",
    );
    if let Some(t) = call_timeout {
        std::fs::write(
            dir.path().join("simba.toml"),
            format!("[plugins]\ncall_timeout = {t}\n"),
        )
        .unwrap();
    }
    let out = simba()
        .arg("eval")
        .arg(&spec)
        .arg("--json")
        .output()
        .unwrap();
    // Every execution failing is a failed evaluation (exit 3), yet each
    // example is still reported.
    let want = if mode == "ok" { 0 } else { 3 };
    assert_eq!(out.status.code(), Some(want), "{}", text(&out.stderr));
    text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .map(|l| l["error"].as_str().unwrap_or("no error").to_string())
        .collect()
}

#[test]
fn a_tool_reply_of_the_wrong_type_or_over_1_mib_fails_that_execution() {
    let wrong = misbehaving_tool_errors("wrong_type", None);
    assert_eq!(wrong.len(), 15);
    let want = "step `t` (tool `faulty.misbehaves`): output `items` is not the declared list<string>: \"one item\"";
    assert!(wrong.iter().all(|e| e == want), "{wrong:?}");
    let huge = misbehaving_tool_errors("huge", None);
    assert!(
        huge.iter().all(|e| e.ends_with(
            "`misbehaves` sent a malformed reply: the reply is 2103319 bytes, over the 1048576-byte (1 MiB) limit"
        )),
        "{huge:?}"
    );
    let fine = misbehaving_tool_errors("ok", None);
    assert!(fine.iter().all(|e| e == "no error"), "{fine:?}");
}

#[test]
fn a_tool_call_that_hangs_fails_its_execution_after_the_call_timeout() {
    let errors = misbehaving_tool_errors("hang", Some("0.2"));
    assert_eq!(errors.len(), 15);
    let want = "step `t` (tool `faulty.misbehaves`): plugin `faulty`: `misbehaves` failed: no reply within 200ms (the call's thread is abandoned)";
    assert!(errors.iter().all(|e| e == want), "{errors:?}");
}

#[test]
fn nested_blocks_and_lists_of_blocks_reach_the_plugin_as_nested_json() {
    let dir = tempfile::tempdir().unwrap();
    let program = "program qa {
  lm = sim
  in question: string
  step c = faulty.echo_config(question = input.question) {
    a = { b = 1, c = [{ d = \"x\" }, { d = \"y\", e = {} }] }
    f { g = true }
    h = env(\"SIMBA_TEST_CONFIG_VALUE\")
    i = { j = env(\"SIMBA_TEST_CONFIG_UNSET\", \"fallback\") }
  }
  step answer = predict(Answer)
  out answer = answer.answer
  out config = c.config
}";
    let spec = write_spec(
        dir.path(),
        program,
        "exact_match(pred.answer, gold.answer)",
        "[append_demo]",
    );
    // env(..) values are read when the item is built, at any depth (before,
    // the plugin got `{"env": NAME}` objects).
    let out = ok(simba()
        .arg("eval")
        .arg(&spec)
        .arg("--json")
        .env("SIMBA_TEST_CONFIG_VALUE", "from the environment")
        .env_remove("SIMBA_TEST_CONFIG_UNSET")
        .output()
        .unwrap());
    let first: serde_json::Value =
        serde_json::from_str(text(&out.stdout).lines().next().unwrap()).unwrap();
    assert_eq!(
        first["prediction"]["config"],
        serde_json::json!({
            "a": {"b": 1, "c": [{"d": "x"}, {"d": "y", "e": {}}]},
            "f": {"g": true},
            "h": "from the environment",
            "i": {"j": "fallback"}
        })
    );
    // An unset variable without a default fails creating the item, naming it.
    let out = simba()
        .arg("check")
        .arg(&spec)
        .env_remove("SIMBA_TEST_CONFIG_VALUE")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("`SIMBA_TEST_CONFIG_VALUE` is not set")
            && stderr.contains("cannot build the config of `faulty.echo_config`")
            && !stderr.contains("rejected"),
        "{stderr}"
    );
}
