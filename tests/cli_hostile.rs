//! The release binary against a hostile server (issue 14): an error body
//! that echoes the key across the snippet cut and carries terminal escapes
//! reaches neither the terminal raw nor any artifact with the key.

mod hostile_support;

use hostile_support::{Answer, Hostile, KEY, echo_body, key_pieces, raw_controls};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const KEY_VAR: &str = "SIMBA_HOSTILE_TEST_KEY";

/// A spec whose program runs on `program_url` and whose `append_rule`
/// advice comes from `advice_url`, over six yes/no questions.
fn write_spec(dir: &Path, program_url: &str, advice_url: &str) -> PathBuf {
    let rows: String = (0..6)
        .map(|i| format!("{{\"question\": \"Is {i} a number?\", \"answer\": \"yes\"}}\n"))
        .collect();
    std::fs::write(dir.join("train.jsonl"), rows).unwrap();
    let spec = format!(
        r#"
model program_lm {{
  base_url = "{program_url}"
  api_key  = env("{KEY_VAR}")
  retries  = 0
  timeout  = 20s
}}

model advice_lm {{
  base_url = "{advice_url}"
  api_key  = env("{KEY_VAR}")
  retries  = 0
  timeout  = 20s
}}

dataset yesno {{
  train  = jsonl("train.jsonl")
  inputs = [question]
}}

signature Answer = "question -> answer"

program qa {{
  lm = program_lm
  step answer = predict(Answer)
  out answer = answer.answer
}}

metric correct = exact_match(pred.answer, gold.answer)

optimize qa with simba {{
  trainset       = yesno.train
  metric         = correct
  bsize          = 4
  num_candidates = 2
  max_steps      = 2
  strategies     = [append_rule]
  prompt_model   = advice_lm
  seed           = 3
  output         = "out"
  cache          = false
}}
"#
    );
    let path = dir.join("hostile.simba");
    std::fs::write(&path, spec).unwrap();
    path
}

/// `simba-run SPEC` (human mode) with the key in the environment.
async fn run_cli(spec: &Path) -> Output {
    let spec = spec.to_path_buf();
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_simba-run"))
            .arg(&spec)
            .current_dir(spec.parent().unwrap())
            .env(KEY_VAR, KEY)
            .env("NO_COLOR", "1")
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Finding 9 (and 1): every call fails with a body that holds a terminal
/// attack and the key across the 400-character cut; the final error quotes
/// the body, escaped and without the key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_run_prints_the_body_escaped_and_without_the_key() {
    let evil = Hostile::start(Answer::Status(401, echo_body(400 - KEY.len() / 2))).await;
    let dir = tempfile::tempdir().unwrap();
    let spec = write_spec(dir.path(), &evil.base_url, &evil.base_url);
    let output = run_cli(&spec).await;
    let stderr = text(&output.stderr);
    let stdout = text(&output.stdout);
    assert_eq!(output.status.code(), Some(3), "stderr:\n{stderr}");
    assert!(evil.requests() > 0);
    assert!(stderr.contains("answered HTTP 401"), "{stderr}");
    for (name, out) in [("stderr", &stderr), ("stdout", &stdout)] {
        assert!(
            raw_controls(out).is_empty(),
            "raw control characters {:?} on {name}: {out:?}",
            raw_controls(out)
        );
        assert!(
            key_pieces(out).is_empty(),
            "key pieces {:?} on {name}: {out}",
            key_pieces(out)
        );
    }
}

/// Finding 1: a run that completes while every `append_rule` call fails
/// with the key echoed across the cut: the failures are in trials.jsonl and
/// report.html, the key is not, in any file or output.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_advice_calls_leave_no_key_in_the_artifacts() {
    let program = Hostile::start(Answer::YesNo).await;
    // The key starts 20 characters before the cut: 20 of its characters
    // used to survive in the quoted body.
    let evil = Hostile::start(Answer::Status(400, echo_body(400 - 20))).await;
    let dir = tempfile::tempdir().unwrap();
    let spec = write_spec(dir.path(), &program.base_url, &evil.base_url);
    let output = run_cli(&spec).await;
    let stderr = text(&output.stderr);
    assert!(output.status.success(), "stderr:\n{stderr}");
    assert!(evil.requests() > 0, "the advice model was asked");
    let trials = std::fs::read_to_string(dir.path().join("out/trials.jsonl")).unwrap();
    assert!(trials.contains("answered HTTP 400"), "{trials}");
    assert!(trials.contains("<redacted>"), "{trials}");
    let mut outputs = vec![stderr, text(&output.stdout)];
    let out = dir.path().join("out");
    // The output folder's files, and those of its candidates/ folder.
    for folder in [out.clone(), out.join("candidates")] {
        for entry in std::fs::read_dir(folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_file() {
                outputs.push(text(&std::fs::read(path).unwrap()));
            }
        }
    }
    for out in &outputs {
        assert!(key_pieces(out).is_empty(), "{:?}", key_pieces(out));
        assert!(!out.contains('\x1b'), "raw ESC in an output");
    }
}

/// Finding 9 at the CLI's own boundary: text from a data file (here a CSV
/// column name) reaches the final error of `run` and `eval`; it is printed
/// with its control characters escaped.
#[test]
fn a_data_value_in_an_error_is_printed_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let spec = write_spec(dir.path(), "http://127.0.0.1:9/v1", "http://127.0.0.1:9/v1");
    let column = format!("x{}", hostile_support::TERMINAL_ATTACK);
    std::fs::write(
        dir.path().join("train.csv"),
        format!("question,answer,\"{column}\",\"{column}\"\nq,yes,1,2\n"),
    )
    .unwrap();
    let text = std::fs::read_to_string(&spec)
        .unwrap()
        .replace("jsonl(\"train.jsonl\")", "csv(\"train.csv\")");
    std::fs::write(&spec, text).unwrap();
    for args in [vec!["--dry-run"], vec!["eval"]] {
        let mut command = Command::new(env!("CARGO_BIN_EXE_simba-run"));
        if args[0] == "eval" {
            command.arg("eval").arg(&spec);
        } else {
            command.arg(&spec).args(&args);
        }
        let output = command.env(KEY_VAR, KEY).output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(
            stderr.contains("duplicate column `x\\u{1b}]0;pwned\\u{7}"),
            "{args:?}: {stderr:?}"
        );
        assert!(raw_controls(&stderr).is_empty(), "{args:?}: {stderr:?}");
    }
}

/// Round two, finding 6: `check` (and `fmt`) quoted the spec's line in the
/// diagnostic with its control characters raw; they are escaped like every
/// other outside text.
#[test]
fn control_characters_in_a_spec_excerpt_are_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("evil.simba");
    // A right-to-left override and isolate too: not controls to Unicode,
    // yet a terminal would show the rest of the line reversed.
    let attack = "\x1b]0;PWNED\x07\x1b[2J\0\u{202e}1 = bogus\u{2066}";
    // An unknown setting (a compile error) and an unclosed string (a parse
    // error), each on a line carrying the attack.
    std::fs::write(
        &spec,
        format!("model m {{\n  provider = \"sim\"\n  bogus = 1 # {attack}\n}}\n"),
    )
    .unwrap();
    let broken = dir.path().join("broken.simba");
    std::fs::write(
        &broken,
        format!("model m {{ # {attack}\n  provider = \"sim\n"),
    )
    .unwrap();
    for (args, path) in [(["check"], &spec), (["check"], &broken), (["fmt"], &broken)] {
        let output = Command::new(env!("CARGO_BIN_EXE_simba-run"))
            .args(args)
            .arg(path)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(
            stderr.contains("\\u{1b}]0;PWNED\\u{7}\\u{1b}[2J\\u{0}\\u{202e}1 = bogus\\u{2066}"),
            "{args:?} {path:?}: {stderr:?}"
        );
        assert!(raw_controls(&stderr).is_empty(), "{args:?}: {stderr:?}");
    }
}
