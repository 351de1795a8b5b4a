//! Plugins declared in a `.simba` spec: the compiled spec's plugin paths,
//! plugin strategies and plugin models go through the host, and a short
//! optimization writes the plugin strategies' attempts to `trials.jsonl`.

mod plugin_support;

use std::path::Path;
use std::sync::Arc;

use plugin_support::{fixture_crate, repo, workspace_plugin};
use simba_run::artifacts::TRIALS_JSONL;
use simba_run::compile::load_spec;
use simba_run::ir::{Provider, StrategyRef};
use simba_run::lm::{Message, ModelSet, Models, ModelsOptions, Request, ResponseFormat};
use simba_run::optimize::runtime::{load_data, oracles, prepare};
use simba_run::optimize::{EventSink, optimize};
use simba_run::plugin::{PluginHost, resolve_strategies};
use simba_run::sim::SimModel;

/// The library path without the platform prefix and suffix, as a user may write it.
fn bare(lib: &Path) -> String {
    let file = lib.file_name().unwrap().to_str().unwrap();
    let stem = file
        .strip_prefix(std::env::consts::DLL_PREFIX)
        .unwrap()
        .strip_suffix(std::env::consts::DLL_SUFFIX)
        .unwrap();
    lib.with_file_name(stem).display().to_string()
}

fn write_spec(dir: &Path) -> std::path::PathBuf {
    let data = repo().join("examples/quickstart/data");
    std::fs::create_dir_all(dir.join("data")).unwrap();
    for f in ["train.jsonl", "dev.jsonl"] {
        std::fs::copy(data.join(f), dir.join("data").join(f)).unwrap();
    }
    std::fs::write(
        dir.join("replay.jsonl"),
        "{\"messages\": [{\"role\": \"user\", \"content\": \"ping\"}], \"text\": \"pong\"}\n",
    )
    .unwrap();
    let spec = format!(
        r#"
plugin extras = "{extras}"
plugin faulty = "{faulty}"
plugin rp = "{replay}"

model sim {{
  provider = "sim"
  oracle   = trivia
  skill    = 0.3
}}

model recorded {{
  provider   = rp.replay
  transcript = "replay.jsonl"
}}

dataset trivia {{
  train  = jsonl("data/train.jsonl")
  dev    = jsonl("data/dev.jsonl")
  inputs = [question]
}}

signature Answer {{
  """Answer the trivia question with a short factoid."""
  in  question: string "a trivia question"
  out answer:   string "a name, often between 1 and 4 words"
}}

program qa {{
  lm = sim
  step answer = predict(Answer)
  out answer = answer.answer
}}

metric correct = exact_match(pred.answer, gold.answer)
  feedback "expected {{gold.answer}}, got {{pred.answer}}"

optimize qa with simba {{
  trainset = trivia.train
  devset   = trivia.dev
  metric   = correct
  bsize = 10
  num_candidates = 4
  max_steps = 2
  seed = 5
  strategies = [faulty.panics, extras.swap_demo, extras.shuffle_demos]
  output = "out/qa"
}}
"#,
        extras = bare(&workspace_plugin("simba-extras")),
        faulty = bare(&fixture_crate("faulty")),
        replay = bare(&workspace_plugin("simba-replay")),
    );
    let path = dir.join("plugins.simba");
    std::fs::write(&path, spec).unwrap();
    path
}

#[test]
fn a_spec_with_plugins_runs_and_logs_plugin_attempts_in_trials_jsonl() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_spec(dir.path());
    let spec = load_spec(&path, &[], None).unwrap().spec;

    // The compiled spec names the plugins, items and the model's own keys.
    assert_eq!(
        spec.plugins.keys().collect::<Vec<_>>(),
        ["extras", "faulty", "rp"]
    );
    let recorded = &spec.models["recorded"];
    assert_eq!(
        recorded.provider,
        Provider::Plugin {
            plugin: "rp".into(),
            item: "replay".into()
        }
    );
    assert_eq!(recorded.extra["transcript"], "replay.jsonl");
    let decl = spec.optimizes[0].clone();
    assert_eq!(decl.strategies.len(), 3);

    let host = PluginHost::load(&spec.plugins)
        .unwrap()
        .with_spec_dir(&spec.base_dir);
    for s in &decl.strategies {
        if let StrategyRef::Plugin { plugin, item, .. } = s {
            host.check_strategy(plugin, item).unwrap();
        }
    }
    let listing: Vec<String> = host.listings().iter().map(|l| l.to_string()).collect();
    assert!(listing[2].contains("models:\n    rp.replay"), "{listing:?}");

    // The models: sim from the registry, `recorded` from the plugin host.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let oracles = oracles(&spec).unwrap();
    let mut models = Models::new(ModelsOptions { cache_dir: None });
    let sim = &spec.models["sim"];
    models.insert(sim, Arc::new(SimModel::new(sim, oracles["trivia"].clone())));
    models.insert(recorded, host.model(recorded).unwrap());
    let models: Arc<dyn ModelSet> = Arc::new(models);
    let pong = rt
        .block_on(models.lm("recorded").unwrap().complete(&Request {
            model: "recorded".into(),
            messages: vec![Message::user("ping")],
            temperature: 0.0,
            max_tokens: None,
            seed: None,
            rollout_id: None,
            response_format: ResponseFormat::Text,
            params: Default::default(),
        }))
        .unwrap();
    assert_eq!(pong.text, "pong");

    // A short optimization with the plugin strategies.
    let (train, dev) = load_data(&spec, &decl).unwrap();
    let mut builtin = decl.clone();
    builtin.strategies = vec![StrategyRef::AppendDemo];
    let mut input = prepare(
        &spec,
        &builtin,
        models,
        train,
        dev,
        EventSink::none(),
        vec![],
    )
    .unwrap();
    input.decl.strategies = decl.strategies.clone();
    input.strategies = resolve_strategies(&decl.strategies, &host).unwrap();
    let out = rt.block_on(optimize(input)).unwrap();
    let out_dir = dir.path().join("out/qa");
    out.write(&out_dir).unwrap();

    let trials = std::fs::read_to_string(out_dir.join(TRIALS_JSONL)).unwrap();
    let attempts: Vec<serde_json::Value> = trials
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .flat_map(|t| {
            t["candidates"]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|c| c["attempts"].as_array().unwrap().clone())
                .collect::<Vec<_>>()
        })
        .collect();
    let count = |strategy: &str, result: &str| {
        attempts
            .iter()
            .filter(|a| a["strategy"] == strategy && a["result"] == result)
            .count()
    };
    assert!(count("extras.swap_demo", "applied") > 0, "{attempts:#?}");
    assert!(count("faulty.panics", "failed") > 0, "{attempts:#?}");
    assert_eq!(count("faulty.panics", "applied"), 0);
    let failed = attempts
        .iter()
        .find(|a| a["strategy"] == "faulty.panics")
        .unwrap();
    assert!(
        failed["detail"]
            .as_str()
            .unwrap()
            .contains("plugin panicked: deliberate failure at step"),
        "{failed}"
    );
}

#[test]
fn the_cli_runs_a_spec_with_plugins_and_check_lists_them() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_spec(dir.path());

    // `check` loads every plugin and lists what each provides.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_simba-run"))
        .args(["check", path.to_str().unwrap()])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("extras.swap_demo"), "{stdout}");
    assert!(stdout.contains("models:\n    rp.replay"), "{stdout}");

    // The whole command: plugin strategies resolved from the spec, plugin
    // model in the registry, attempts in the trial log.
    let out_dir = dir.path().join("cli-out");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_simba-run"))
        .args([
            path.to_str().unwrap(),
            "--quiet",
            "--out",
            out_dir.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let trials = std::fs::read_to_string(out_dir.join(TRIALS_JSONL)).unwrap();
    assert!(trials.contains("\"extras.swap_demo\""), "{trials}");
    assert!(trials.contains("plugin panicked"), "{trials}");

    // An unknown plugin item is an error naming it, exit 1.
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("extras.swap_demo", "extras.swap_demos_typo");
    std::fs::write(&path, text).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_simba-run"))
        .args(["check", path.to_str().unwrap()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("swap_demos_typo"), "{stderr}");
}

/// `[plugins] search_path` of simba.toml: a plugin declared by file name only
/// is found in a listed folder (relative to simba.toml), for `check` and for
/// a run; without the entry it is not found; an unknown key in `[plugins]`
/// is an error naming the file.
#[test]
fn simba_toml_search_path_finds_plugins_by_file_name() {
    let dir = tempfile::tempdir().unwrap();
    let lib = workspace_plugin("simba-extras");
    std::fs::create_dir_all(dir.path().join("libs")).unwrap();
    std::fs::copy(&lib, dir.path().join("libs").join(lib.file_name().unwrap())).unwrap();
    let spec_dir = dir.path().join("specs");
    std::fs::create_dir_all(&spec_dir).unwrap();
    let spec = spec_dir.join("s.simba");
    std::fs::write(
        &spec,
        r#"
plugin extras = "simba_extras"

model sim {
  provider = "sim"
  oracle   = trivia
  skill    = 0.3
}

dataset trivia {
  train  = jsonl("../data/train.jsonl")
  inputs = [question]
}

signature Answer = "question: string -> answer: string"
program qa = predict(Answer)
metric correct = exact_match(pred.answer, gold.answer)

optimize qa with simba {
  trainset   = trivia.train
  metric     = correct
  bsize      = 4
  num_candidates = 2
  max_steps  = 1
  strategies = [append_demo, extras.swap_demo]
}
"#,
    )
    .unwrap();
    std::fs::create_dir_all(dir.path().join("data")).unwrap();
    std::fs::copy(
        repo().join("examples/quickstart/data/train.jsonl"),
        dir.path().join("data/train.jsonl"),
    )
    .unwrap();
    let check = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_simba-run"))
            .args(["check", spec.to_str().unwrap()])
            .output()
            .unwrap()
    };

    // No simba.toml: the bare name is looked for beside the spec only.
    let out = check();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("plugin `extras`: no library"), "{stderr}");

    // simba.toml one folder up, its search path relative to itself.
    let toml = dir.path().join("simba.toml");
    std::fs::write(&toml, "[plugins]\nsearch_path = [\"libs\"]\n").unwrap();
    let out = check();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("extras.swap_demo"), "{stdout}");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_simba-run"))
        .args([spec.to_str().unwrap(), "--quiet", "--out"])
        .arg(dir.path().join("out"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(dir.path().join("out/program.json").is_file());

    // A misspelt key is an error naming the file and the key.
    std::fs::write(&toml, "[plugins]\nsearch_paths = [\"libs\"]\n").unwrap();
    let out = check();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("simba.toml") && stderr.contains("search_paths"),
        "{stderr}"
    );
}

#[test]
fn a_plugin_model_checks_its_block_against_the_keys_it_declares() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_spec(dir.path());
    let simba = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_simba-run"))
            .args(args)
            .output()
            .unwrap()
    };

    // `check` lists the model's declared keys with their docs.
    let out = simba(&["check", path.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains(
            "    rp.replay\n      config transcript: string - the JSONL transcript to serve"
        ),
        "{stdout}"
    );

    // A misspelt key and a mistyped value are errors at their place, in
    // `check` and in a run; a misspelt simba-run key is suggested too, and
    // simba-run's own keys (and `spec_dir`, the host's) stay accepted.
    let deep = format!("{}1{}", "{ a = ".repeat(70), " }".repeat(70));
    let src = std::fs::read_to_string(&path).unwrap().replace(
        "  transcript = \"replay.jsonl\"\n",
        &format!(
            "  transcrpt = \"replay.jsonl\"\n  match = 2\n  retires = 1\n  retries = 1\n  \
             spec_dir = \".\"\n}}\n\nmodel deep {{\n  provider = rp.replay\n  \
             transcript = \"replay.jsonl\"\n  match {deep}\n"
        ),
    );
    std::fs::write(&path, &src).unwrap();
    // Where `needle` starts, on the line holding `line_text`.
    let at = |line_text: &str, needle: &str| {
        let line = src.lines().position(|l| l.contains(line_text)).unwrap();
        let col = src.lines().nth(line).unwrap().find(needle).unwrap();
        format!("plugins.simba:{}:{}]", line + 1, col + 1)
    };
    let expected = [
        "unknown key `transcrpt` in the config of `rp.replay`".to_string(),
        "help: did you mean `transcript`?".into(),
        at("transcrpt", "transcrpt"),
        "`match` takes string, found a whole number".into(),
        at("match = 2", "2"),
        "unknown key `retires` in the config of `rp.replay`".into(),
        "help: did you mean `retries`?".into(),
        // The second model: too deep for a plugin's JSON reader.
        "`match` nests more than 64 levels deep".into(),
        "`match` takes string, found a block".into(),
    ];
    let check = simba(&["check", path.to_str().unwrap()]);
    let run = simba(&[path.to_str().unwrap(), "--quiet"]);
    let check_err = String::from_utf8_lossy(&check.stderr);
    assert!(check_err.contains("has 5 errors"), "{check_err}");
    for out in [&check, &run] {
        assert_eq!(out.status.code(), Some(1));
        let stderr = String::from_utf8_lossy(&out.stderr);
        for e in &expected {
            assert!(stderr.contains(e.as_str()), "{e} in\n{stderr}");
        }
        // Shown as context of the excerpt, never named in an error.
        assert!(!stderr.contains("key `retries`"), "{stderr}");
        assert!(!stderr.contains("key `spec_dir`"), "{stderr}");
    }
}

/// `check` on the test spec with the model `block` added before the
/// `recorded` one, which must fail: the spec's text and check's stderr.
fn failed_check_with_model(block: &str) -> (String, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = write_spec(dir.path());
    let src = std::fs::read_to_string(&path)
        .unwrap()
        .replace("model recorded {", &format!("{block}\n\nmodel recorded {{"));
    std::fs::write(&path, &src).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_simba-run"))
        .args(["check", path.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    (src, String::from_utf8_lossy(&out.stderr).into_owned())
}

/// The 1-based number of the first line of `src` holding `text`.
fn line_of(src: &str, text: &str) -> usize {
    src.lines().position(|l| l.contains(text)).unwrap() + 1
}

#[test]
fn a_plugin_model_declaring_a_key_simba_run_reads_is_refused() {
    let (src, stderr) =
        failed_check_with_model("model clash {\n  provider = faulty.collides\n  retries  = 2\n}");
    for e in [
        "plugin `faulty` declares `retries` for its model `collides`, a key simba-run reads itself",
        &format!("plugins.simba:{}:14]", line_of(&src, "faulty.collides")),
        "its value in the block is simba-run's and never reaches the plugin",
    ] {
        assert!(stderr.contains(e), "{e} in\n{stderr}");
    }
}

#[test]
fn check_draws_a_model_s_refusal_at_that_model() {
    // Two models on one plugin item: the first one's block is refused, and
    // `check` points at that block, naming its model.
    let (src, stderr) = failed_check_with_model(
        "model missing {\n  provider   = rp.replay\n  transcript = \"nowhere.jsonl\"\n}",
    );
    for e in [
        "plugin `rp` rejected model `missing`".to_string(),
        format!(
            "plugins.simba:{}:16]",
            line_of(&src, "\"nowhere.jsonl\"") - 1
        ),
        "cannot read transcript".into(),
        "the block's keys beyond simba-run's own are handed to the plugin".into(),
    ] {
        assert!(stderr.contains(e.as_str()), "{e} in\n{stderr}");
    }
    assert!(!stderr.contains("rejected model `recorded`"), "{stderr}");
}

#[test]
fn a_plugin_model_s_spec_dir_must_be_a_path_and_its_params_not_too_deep() {
    let deep = format!("{}1{}", "{ a = ".repeat(70), " }".repeat(70));
    let (src, stderr) = failed_check_with_model(&format!(
        "model odd {{\n  provider   = rp.replay\n  transcript = \"replay.jsonl\"\n  \
         spec_dir   = 5\n  params {{ a = {deep} }}\n}}"
    ));
    for e in [
        "`spec_dir` takes a path (a string)".to_string(),
        format!("plugins.simba:{}:16]", line_of(&src, "spec_dir   = 5")),
        "`params` nests more than 64 levels deep".into(),
        format!("plugins.simba:{}:3]", line_of(&src, "params {")),
    ] {
        assert!(stderr.contains(e.as_str()), "{e} in\n{stderr}");
    }
}
