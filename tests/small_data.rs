//! Small data, through the real binary on the offline `sim` model: a
//! returned program that loses to the baseline on the devset is flagged in
//! the summary, the event stream, run.json and report.html; `valset = auto`
//! holds a seeded share of the trainset out for the final selection.

use assert_cmd::Command;
use serde_json::Value;
use std::path::Path;

fn simba() -> Command {
    Command::cargo_bin("simba-run").unwrap()
}

/// `n` rows of `topic`, numbered from `from`; every row has its own answer.
fn rows(topic: &str, n: usize, from: usize) -> String {
    (from..from + n)
        .map(|i| {
            serde_json::json!({
                "question": format!("{topic} question number {i}"),
                "answer": format!("answer {topic} {i}"),
                "topic": topic,
            })
            .to_string()
                + "\n"
        })
        .collect()
}

/// A project whose sim model is helped by demos of a row's own topic and
/// hurt by every demo (overload from the first one on): what SIMBA learns
/// on a trainset of `train` rows helps those topics and costs the devset's
/// music rows. With `extra` lines in the optimize block.
fn project(dir: &Path, train: &str, extra: &str) -> std::path::PathBuf {
    std::fs::create_dir_all(dir.join("data")).unwrap();
    std::fs::write(dir.join("data/train.jsonl"), train).unwrap();
    std::fs::write(dir.join("data/dev.jsonl"), rows("music", 30, 100)).unwrap();
    let spec = format!(
        r#"
model sim {{
  provider = "sim"  oracle = facts  skill = 0.5
  demo_gain = 0.4  overload_free_demos = 0  overload_penalty = 0.15
}}
dataset facts {{
  train  = jsonl("data/train.jsonl")
  dev    = jsonl("data/dev.jsonl")
  inputs = [question]
}}
signature Answer {{
  in  question: string
  out answer: string
}}
program qa {{ lm = sim  step answer = predict(Answer)  out answer = answer.answer }}
metric correct = exact_match(pred.answer, gold.answer)
optimize qa with simba {{
  trainset = facts.train
  devset = facts.dev
  metric = correct
  strategies = [append_demo]
  bsize = 10  num_candidates = 4  max_steps = 4
  cache = false
  {extra}
}}
"#
    );
    let path = dir.join("spec.simba");
    std::fs::write(&path, spec).unwrap();
    path
}

fn json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn a_train_winner_that_loses_on_dev_is_flagged_with_the_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let spec = project(dir.path(), &rows("sport", 30, 0), "");
    let out = dir.path().join("out");
    let o = simba().arg(&spec).arg("--out").arg(&out).output().unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
    );
    assert!(o.status.success(), "{stderr}");
    let run = json(&out.join("run.json"));
    let (base_dev, best_dev) = (
        run["baseline"]["dev"].as_f64().unwrap(),
        run["best"]["dev"].as_f64().unwrap(),
    );
    let (base_train, best_train) = (
        run["baseline"]["train"].as_f64().unwrap(),
        run["best"]["train"].as_f64().unwrap(),
    );
    // The setup does what it is for: better on train, worse on dev.
    assert!(best_train > base_train, "{run}");
    assert!(best_dev < base_dev, "{run}");
    let expected = format!(
        "optimize `qa`: the returned program scores {best_dev:.3} on the devset, below the \
         baseline's {base_dev:.3} ({:+.3}); it was chosen by its trainset score ({best_train:.3} \
         vs the baseline's {base_train:.3}), which small trainsets and small models overfit: \
         consider `valset = auto` (docs/optimizer.md, \"Small data, small models\")",
        best_dev - base_dev
    );
    // The summary on stdout, the run's warning line on stderr, run.json.
    assert!(
        stdout.contains(&format!("warning: {expected}\n")),
        "{stdout}"
    );
    assert!(
        stderr.contains(&format!("warning: {expected}\n")),
        "{stderr}"
    );
    let warnings: Vec<&str> = run["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap())
        .collect();
    assert_eq!(warnings, vec![expected.as_str()]);
    // The report's warnings section, HTML-escaped.
    let html = String::from_utf8(read(&out.join("report.html"))).unwrap();
    let escaped = expected.replace('\'', "&#39;").replace('"', "&quot;");
    let section = &html[html
        .find("<section id=\"warnings\">")
        .expect("a warnings section")..];
    assert!(section.contains(&escaped), "{section}");

    // --json: a warning event before run_finished.
    let out2 = dir.path().join("out2");
    let o = simba()
        .arg(&spec)
        .args(["--json", "--out"])
        .arg(&out2)
        .output()
        .unwrap();
    assert!(o.status.success());
    let events: Vec<Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let at = |pred: &dyn Fn(&Value) -> bool| events.iter().position(pred).unwrap();
    let warning = at(&|e| e["event"] == "warning" && e["message"] == expected.as_str());
    let finished = at(&|e| e["event"] == "run_finished");
    assert_eq!(warning + 1, finished);
}

#[test]
fn a_returned_program_not_below_the_baseline_gives_no_warning() {
    // The quickstart gains on dev (0.400 to 0.533).
    let quickstart = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/quickstart");
    let out = tempfile::tempdir().unwrap();
    let o = simba()
        .arg(quickstart.join("quickstart.simba"))
        .arg("--out")
        .arg(out.path())
        .output()
        .unwrap();
    assert!(o.status.success());
    let run = json(&out.path().join("run.json"));
    assert!(run["best"]["dev"].as_f64() > run["baseline"]["dev"].as_f64());
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(!stdout.contains("below the baseline"), "{stdout}");
    assert_eq!(run["warnings"], serde_json::json!([]));
}

/// Half sport, half music: the held-out rows and the rest each mix both.
fn mixed() -> String {
    (0..30)
        .map(|i| rows(if i % 2 == 0 { "sport" } else { "music" }, 1, i))
        .collect()
}

#[test]
fn valset_auto_holds_out_thirty_percent_and_chooses_there() {
    let dir = tempfile::tempdir().unwrap();
    // Seed 9: the trainset and the held-out rows prefer different programs.
    let spec = project(dir.path(), &mixed(), "valset = auto  seed = 9");
    let out = dir.path().join("out");
    let o = simba()
        .arg(&spec)
        .args(["--quiet", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let run = json(&out.join("run.json"));
    // 30% of 30 rows is 9, below the floor of 10: 10 held out, 20 trained on.
    assert_eq!(run["trainset_size"], 20);
    assert_eq!(run["valset_size"], 10);
    assert_eq!(run["config"]["valset_auto"], true);
    assert_eq!(run["config"]["select_on"], "valset");
    let c = json(&out.join("candidates.json"));
    assert_eq!(c["selected_on"], "valset");
    let list = c["candidates"].as_array().unwrap();
    assert!(list.len() > 2);
    let val: Vec<f64> = list
        .iter()
        .map(|x| x["val_score"].as_f64().unwrap())
        .collect();
    let train: Vec<f64> = list
        .iter()
        .map(|x| x["train_score"].as_f64().unwrap())
        .collect();
    for x in list {
        assert_eq!(x["train_scores"].as_array().unwrap().len(), 20);
    }
    // Scores on 10 rows are multiples of 0.1.
    assert!(
        val.iter()
            .all(|v| ((v * 10.0).round() - v * 10.0).abs() < 1e-9),
        "{val:?}"
    );
    let first_max = |xs: &[f64]| {
        let m = xs.iter().cloned().fold(f64::MIN, f64::max);
        xs.iter().position(|&x| x == m).unwrap()
    };
    let best = c["best"].as_u64().unwrap() as usize;
    assert_eq!(best, first_max(&val), "{val:?}");
    assert_ne!(best, first_max(&train), "train {train:?} val {val:?}");

    // The same seed at another concurrency: the same cut, the same run.
    let again = dir.path().join("again");
    let o = simba()
        .arg(&spec)
        .args(["--quiet", "--set", "qa.concurrency=1", "--out"])
        .arg(&again)
        .output()
        .unwrap();
    assert!(o.status.success());
    for f in ["program.json", "candidates.json", "trials.jsonl"] {
        assert_eq!(read(&out.join(f)), read(&again.join(f)), "{f}");
    }
    // Another seed draws other rows: other train scores for the baseline
    // (the same program) on a trainset of the same size.
    let other = dir.path().join("other");
    let o = simba()
        .arg(&spec)
        .args(["--quiet", "--seed", "1", "--out"])
        .arg(&other)
        .output()
        .unwrap();
    assert!(o.status.success());
    let c1 = json(&other.join("candidates.json"));
    assert_eq!(
        c1["candidates"][0]["train_scores"]
            .as_array()
            .unwrap()
            .len(),
        20
    );
    assert_ne!(
        c1["candidates"][0]["train_scores"],
        c["candidates"][0]["train_scores"]
    );

    // The dry run counts the cut: 5 picks x (20 train + 10 held-out rows).
    let o = simba().arg(&spec).arg("--dry-run").output().unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    let line = text
        .lines()
        .find(|l| l.contains("final selection"))
        .unwrap();
    assert!(line.ends_with(" 150"), "{text}");
}

#[test]
fn valset_auto_refuses_a_trainset_too_small_to_cut() {
    let dir = tempfile::tempdir().unwrap();
    let spec = project(dir.path(), &rows("sport", 19, 0), "valset = auto");
    let out = dir.path().join("out");
    let o = simba().arg(&spec).arg("--out").arg(&out).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains(
            "`valset = auto` needs at least 20 rows in the trainset `facts.train` (10 held out, \
             10 to train on), but it has 19"
        ),
        "{stderr}"
    );
    assert!(!out.join("run.json").exists());
    // The dry run says the same.
    let o = simba().arg(&spec).arg("--dry-run").output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("but it has 19"));
}
