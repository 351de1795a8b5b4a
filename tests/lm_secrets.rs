//! The API key never shows up in errors, Debug output, logs or the cache.

mod lm_support;

use lm_support::{Act, Server, ask, decl, fast_backoff, refused_url};
use simba_run::ir::{ModelDecl, Setting};
use simba_run::lm::openai::OpenAiProvider;
use simba_run::lm::{ModelError, ModelSet, Models, ModelsOptions};
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const KEY: &str = "sk-Zq81-distinctive-4f0c9b7e2a";

fn keyed(name: &str, var: &str, urls: &[&str]) -> ModelDecl {
    // SAFETY: each test uses its own variable name.
    unsafe { std::env::set_var(var, KEY) };
    let mut d = decl(name, urls);
    d.api_key = Some(Setting::Env {
        var: var.into(),
        default: None,
    });
    d
}

/// Log lines, captured.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn assert_no_key_under(dir: &Path) -> usize {
    let mut checked = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            checked += assert_no_key_under(&path);
        } else {
            let bytes = std::fs::read(&path).unwrap();
            assert!(
                !String::from_utf8_lossy(&bytes).contains(KEY),
                "{} holds the key",
                path.display()
            );
            checked += 1;
        }
    }
    checked
}

#[tokio::test]
async fn the_key_stays_out_of_errors_debug_logs_and_the_cache() {
    let logs = Logs::default();
    let sink = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || sink.clone())
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let server = Server::start().await;
    // A server that echoes the key in its complaint, after a retryable error
    // that echoes it too (so it reaches the retry log).
    server.script([
        Act::Status(503, None, format!("overloaded for key {KEY}")),
        Act::Status(401, None, format!("Incorrect API key provided: {KEY}")),
        Act::Hang(Duration::from_secs(3)),
        Act::Hang(Duration::from_secs(3)),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let mut d = keyed("fast", "SIMBA_TEST_SECRET_KEY_A", &[&server.base_url]);
    d.timeout = Duration::from_millis(150);
    d.retries = 1;
    let dead = keyed("dead", "SIMBA_TEST_SECRET_KEY_A", &[&refused_url()]);
    let mut models = Models::new(ModelsOptions {
        cache_dir: Some(dir.path().to_path_buf()),
    });
    models.set_backoff(fast_backoff());
    let provider = OpenAiProvider::new(&d).unwrap();
    let provider_debug = format!("{provider:?}");
    models.insert(&d, Arc::new(provider));
    models.insert(&dead, Arc::new(OpenAiProvider::new(&dead).unwrap()));
    let lm = models.lm("fast").unwrap();

    let mut errors = Vec::new();
    errors.push(lm.complete(&ask("fast", "a")).await.unwrap_err()); // 503, 401
    errors.push(lm.complete(&ask("fast", "b")).await.unwrap_err()); // two timeouts
    errors.push(
        models
            .lm("dead")
            .unwrap()
            .complete(&ask("dead", "c"))
            .await
            .unwrap_err(),
    );
    for _ in 0..2 {
        lm.complete(&ask("fast", "d")).await.unwrap(); // sent, then cached
    }
    // The key really was sent, so the checks below are not vacuous.
    let bearer = format!("Bearer {KEY}");
    assert!(
        server
            .seen()
            .iter()
            .all(|s| s.authorization.as_deref() == Some(bearer.as_str()))
    );
    assert!(
        errors[0]
            .to_string()
            .contains("Incorrect API key provided: <redacted>"),
        "{}",
        errors[0]
    );

    let mut outputs = vec![
        provider_debug,
        format!("{models:?}"),
        format!("{:?}", models.usage()),
    ];
    for e in &errors {
        outputs.push(e.to_string());
        outputs.push(format!("{e:?}"));
    }
    outputs.push(String::from_utf8(logs.0.lock().unwrap().clone()).unwrap());
    assert!(
        outputs.last().unwrap().contains("retrying"),
        "the retry was logged"
    );
    for text in &outputs {
        assert!(!text.contains(KEY), "key leaked in: {text}");
    }
    // Closing the cache commits and checkpoints: one database file holds
    // every answer (so reading it is not a vacuous check).
    drop(lm);
    drop(models);
    assert_eq!(assert_no_key_under(dir.path()), 1);
    let db = std::fs::read(dir.path().join(simba_run::lm::cache::DB_FILE)).unwrap();
    assert!(String::from_utf8_lossy(&db).contains("reply to: d"));
}

#[test]
fn a_missing_key_variable_is_named_without_values() {
    let mut d = decl("fast", &["http://127.0.0.1:9/v1"]);
    d.api_key = Some(Setting::Env {
        var: "SIMBA_TEST_SECRET_UNSET_VAR".into(),
        default: None,
    });
    let err = OpenAiProvider::new(&d).unwrap_err();
    assert!(matches!(
        err,
        ModelError::Setting {
            field: "api_key",
            ..
        }
    ));
    assert_eq!(
        err.to_string(),
        "model `fast`: api_key: environment variable `SIMBA_TEST_SECRET_UNSET_VAR` is not set and has no default"
    );
}

#[test]
fn the_api_key_debug_is_redacted() {
    let key = simba_run::lm::openai::ApiKey::new(KEY);
    assert_eq!(format!("{key:?}"), "ApiKey(<redacted>)");
}
