//! Shared helpers of the plugin tests: build the example plugins (workspace
//! members) and the deliberately broken fixtures, and fake models.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use async_trait::async_trait;
use indexmap::IndexMap;
use simba_run::ir::PluginDecl;
use simba_run::lm::{Lm, LmError, ModelSet, Request, Response, ResponseFormat, Usage};

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The target dir this test was built into (`<target>/debug/deps/<test>`),
/// so plugins reuse its compiled dependencies.
pub fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    exe.ancestors()
        .nth(3)
        .expect("test executable lives in <target>/<profile>/deps")
        .to_path_buf()
}

fn dylib(dir: &Path, stem: &str) -> PathBuf {
    dir.join(format!(
        "{}{stem}{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    ))
}

fn run(cmd: &mut Command) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Builds memoised per key within one test binary (tests run in parallel).
fn once(key: &str, build: impl FnOnce() -> PathBuf) -> PathBuf {
    static BUILT: OnceLock<Mutex<BTreeMap<String, PathBuf>>> = OnceLock::new();
    let map = BUILT.get_or_init(Default::default);
    // Holding the lock while building serialises builds, which cargo would
    // do anyway (it locks the target dir).
    let mut map = map.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(p) = map.get(key) {
        return p.clone();
    }
    let p = build();
    map.insert(key.to_string(), p.clone());
    p
}

/// Builds a workspace plugin (`simba-extras`, `simba-replay`) into the
/// test's own target dir and returns the library path.
pub fn workspace_plugin(package: &str) -> PathBuf {
    once(package, || {
        let target = target_dir();
        run(Command::new(env!("CARGO"))
            .current_dir(repo())
            .args(["build", "--quiet", "-p", package])
            .env("CARGO_TARGET_DIR", &target));
        let lib = dylib(&target.join("debug"), &package.replace('-', "_"));
        assert!(lib.is_file(), "{} was not built", lib.display());
        lib
    })
}

/// Builds a fixture crate under `tests/fixtures/plugins/` (not a workspace
/// member) into the test's target dir (its own lockfile pins its dependencies).
pub fn fixture_crate(name: &str) -> PathBuf {
    once(&format!("fixture:{name}"), || {
        // Shares the workspace target dir: common dependencies are reused.
        let target = target_dir();
        let manifest = repo()
            .join("tests/fixtures/plugins")
            .join(name)
            .join("Cargo.toml");
        run(Command::new(env!("CARGO"))
            .args(["build", "--quiet", "--manifest-path"])
            .arg(&manifest)
            .env("CARGO_TARGET_DIR", &target));
        let lib = dylib(&target.join("debug"), &format!("simba_fixture_{name}"));
        assert!(lib.is_file(), "{} was not built", lib.display());
        lib
    })
}

/// Compiles a C plugin with the system C compiler against the SDK header;
/// `defines` are `-D` flags, so one source yields several variants.
pub fn c_plugin(source: &Path, name: &str, defines: &[&str]) -> PathBuf {
    once(&format!("c:{name}"), || {
        let dir = target_dir().join("plugin-c");
        std::fs::create_dir_all(&dir).unwrap();
        let lib = dylib(&dir, name);
        let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
        let mut cmd = Command::new(cc);
        cmd.args([
            "-shared", "-fPIC", "-O1", "-Wall", "-Werror", "-std=c99", "-I",
        ])
        .arg(repo().join("plugins/sdk/include"));
        for d in defines {
            cmd.arg(format!("-D{d}"));
        }
        cmd.arg("-o").arg(&lib).arg(source);
        run(&mut cmd);
        lib
    })
}

pub fn c_fixture(name: &str, defines: &[&str]) -> PathBuf {
    c_plugin(
        &repo().join("tests/fixtures/plugins/c/minimal.c"),
        name,
        defines,
    )
}

pub fn decls(list: &[(&str, &Path)]) -> IndexMap<String, PluginDecl> {
    list.iter()
        .map(|(n, p)| {
            (
                n.to_string(),
                PluginDecl {
                    name: n.to_string(),
                    path: p.to_path_buf(),
                },
            )
        })
        .collect()
}

/// A model answering with a fixed text and counting its calls.
pub struct FixedLm {
    pub text: String,
    pub calls: AtomicU64,
    pub requests: Mutex<Vec<Request>>,
}

#[async_trait]
impl Lm for FixedLm {
    async fn complete(&self, request: &Request) -> Result<Response, LmError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.requests.lock().unwrap().push(request.clone());
        Ok(Response {
            text: self.text.clone(),
            usage: Usage {
                prompt_tokens: 11,
                completion_tokens: 7,
            },
            cached: false,
        })
    }
}

/// One model named `name`.
pub struct FakeModels {
    pub name: String,
    pub lm: Arc<FixedLm>,
}

impl FakeModels {
    pub fn new(name: &str, text: &str) -> Arc<FakeModels> {
        Arc::new(FakeModels {
            name: name.to_string(),
            lm: Arc::new(FixedLm {
                text: text.to_string(),
                calls: AtomicU64::new(0),
                requests: Mutex::new(Vec::new()),
            }),
        })
    }
}

impl ModelSet for FakeModels {
    fn lm(&self, name: &str) -> Option<Arc<dyn Lm>> {
        (name == self.name).then(|| self.lm.clone() as Arc<dyn Lm>)
    }
    fn template(&self, name: &str) -> Option<Request> {
        (name == self.name).then(|| Request {
            model: name.to_string(),
            messages: Vec::new(),
            temperature: 0.7,
            max_tokens: Some(256),
            seed: None,
            rollout_id: None,
            response_format: ResponseFormat::Text,
            params: IndexMap::new(),
        })
    }
}

/// A typical strategy request: a two-step program (`draft` then `answer`),
/// `demos` demos on `answer`, and a bucket of four trajectories, best first.
pub fn sample_request(demos: usize) -> simba_run::plugin::StrategyRequest {
    let demo_list: Vec<serde_json::Value> = (0..demos)
        .map(|i| {
            serde_json::json!({
                "fields": {"question": format!("q{i}?"), "answer": format!("a{i}")},
                "augmented": i % 2 == 0
            })
        })
        .collect();
    let traj = |score: f64, q: &str, a: &str| {
        serde_json::json!({
            "score": score,
            "feedback": if score < 0.5 { serde_json::Value::from("wrong answer") } else { serde_json::Value::Null },
            "prediction": {"answer": a},
            "trace": [
                {"step": "draft", "inputs": {"question": q}, "outputs": {"draft": format!("draft of {a}")}},
                {"step": "answer", "inputs": {"question": q, "draft": format!("draft of {a}")}, "outputs": {"answer": a}}
            ]
        })
    };
    serde_json::from_value(serde_json::json!({
        "step": 3,
        "bucket": [
            traj(1.0, "What is 2+2?", "4"),
            traj(0.5, "What is 2+2?", "four-ish"),
            traj(0.0, "What is 2+2?", "5"),
            traj(0.0, "What is 2+2?", "22"),
        ],
        "program": {"predictors": [
            {"name": "draft", "instructions": "Draft an answer.", "demos": [],
             "inputs": [{"name": "question", "type": "string"}],
             "outputs": [{"name": "draft", "type": "string"}]},
            {"name": "answer", "instructions": "Answer the question.", "demos": demo_list,
             "inputs": [{"name": "question", "type": "string"}, {"name": "draft", "type": "string"}],
             "outputs": [{"name": "answer", "type": "string", "description": "a number"}]}
        ]},
        "percentiles": {"p10": 0.0, "p90": 1.0},
        "prompt_model": "prompter",
        "max_demos": 4,
        "config": {}
    }))
    .expect("sample request matches the SDK types")
}
