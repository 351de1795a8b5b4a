//! `--dry-run`: the LM calls per phase, printed without calling any model.

use assert_cmd::Command;
use std::path::Path;

#[test]
fn dry_run_prints_calls_per_phase_and_bounds_the_real_run() {
    let spec = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/quickstart/quickstart.simba");
    let out = std::env::temp_dir().join(format!("simba-dry-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let o = Command::cargo_bin("simba-run")
        .unwrap()
        .arg(&spec)
        .arg("--dry-run")
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success());
    let text = String::from_utf8_lossy(&o.stdout);
    // 8 steps, 6 variants, bsize 15, 7 candidates, 30 train, 15 dev, 1 call each.
    assert!(
        text.contains("at most 1856 LM calls (1 per program execution)"),
        "{text}"
    );
    for (phase, n) in [
        ("sampling", 720),
        ("advice", 56),
        ("evaluation", 840),
        ("final selection", 210),
        ("devset", 30),
    ] {
        let line = text
            .lines()
            .find(|l| l.trim_start().starts_with(phase))
            .unwrap();
        assert!(line.trim_end().ends_with(&n.to_string()), "{line}");
    }
    assert!(!out.exists(), "a dry run writes nothing");
    // The real run stays within the estimate.
    Command::cargo_bin("simba-run")
        .unwrap()
        .arg(&spec)
        .args(["--quiet", "--out"])
        .arg(&out)
        .assert()
        .success();
    let run: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("run.json")).unwrap()).unwrap();
    let calls = run["usage"]["lm_calls"].as_u64().unwrap();
    assert!(calls <= 1856 && calls > 1500, "{calls}");
    let _ = std::fs::remove_dir_all(&out);
}
