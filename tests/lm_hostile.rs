//! The `openai` provider against a hostile server (issue 14): keys echoed
//! across the error-snippet cut or inside a successful reply, endless and
//! oversized bodies, blank bodies and terminal escapes in error bodies.

mod hostile_support;
mod lm_support;

use hostile_support::{
    Answer, Hostile, KEY, Redirector, TERMINAL_ATTACK, echo_body, key_pieces, raw_controls,
};
use lm_support::{ask, decl, fast_backoff};
use simba_run::compile::compile_source;
use simba_run::ir::{ModelDecl, Setting};
use simba_run::lm::openai::OpenAiProvider;
use simba_run::lm::{Lm, LmError, ModelSet, Models, ModelsOptions};
use simba_run::retrieve::{Corpora, CorporaOptions, CorpusSet};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// An openai model item on `server` sending [`KEY`], with no retries.
fn keyed(server: &Hostile) -> ModelDecl {
    let mut d = decl("hostile", &[&server.base_url]);
    d.api_key = Some(Setting::Literal(KEY.into()));
    d.retries = 0;
    d.timeout = Duration::from_secs(20);
    d
}

/// Every file under `dir`, read as text.
fn texts_under(dir: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(texts_under(&path));
        } else {
            let text = String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned();
            out.push((path.display().to_string(), text));
        }
    }
    out
}

fn message(e: &LmError) -> &str {
    match e {
        LmError::Transient { message, .. } | LmError::Fatal { message, .. } => message,
    }
}

/// Finding 1: the 400-character cut used to come before the redaction, so a
/// key straddling it survived all but its last characters.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_echoed_across_the_snippet_cut_leaves_no_piece() {
    for offset in (400 - KEY.len() - 2..=402).step_by(3) {
        let server = Hostile::start(Answer::Status(401, echo_body(offset))).await;
        let provider = OpenAiProvider::new(&keyed(&server)).unwrap();
        let err = provider.complete(&ask("hostile", "q")).await.unwrap_err();
        assert!(matches!(err, LmError::Fatal { .. }), "{err:?}");
        assert!(message(&err).contains("HTTP 401"), "{err}");
        for text in [err.to_string(), format!("{err:?}")] {
            assert!(
                key_pieces(&text).is_empty(),
                "offset {offset}: {:?} in {text}",
                key_pieces(&text)
            );
        }
    }
}

/// Finding 1: a key inside a 200 reply is stored redacted, so the cache and
/// everything built from the reply never hold it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_echoed_in_a_successful_reply_is_redacted_before_the_cache() {
    let partial = &KEY[3..17];
    let server = Hostile::start(Answer::Completion(format!(
        "Your key is {KEY}; its middle is {partial}. Answer: yes"
    )))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let d = keyed(&server);
    let mut models = Models::new(ModelsOptions {
        cache_dir: Some(dir.path().to_path_buf()),
    });
    models.insert(&d, Arc::new(OpenAiProvider::new(&d).unwrap()));
    let lm = models.lm("hostile").unwrap();
    let first = lm.complete(&ask("hostile", "q")).await.unwrap();
    let second = lm.complete(&ask("hostile", "q")).await.unwrap();
    assert!(second.cached, "the second call is served from the cache");
    assert_eq!(server.requests(), 1);
    for reply in [&first, &second] {
        assert_eq!(
            reply.text,
            "Your key is <redacted>; its middle is <redacted>. Answer: yes"
        );
    }
    // Everything committed: the database (and its WAL) hold the reply.
    models.cache().expect("a cache").flush();
    let files = texts_under(dir.path());
    let all: String = files.iter().map(|(_, text)| text.as_str()).collect();
    assert!(
        all.contains("<redacted>"),
        "the stored reply is in the cache files"
    );
    for (path, text) in files {
        // The database's binary records can put a length byte of 0x2d ('-')
        // before the model name "hostile", which reads as the key's
        // non-secret prefix; the secret part must never appear.
        let leaked: Vec<&str> = key_pieces(&text)
            .into_iter()
            .filter(|piece| !"sk-hostile-".contains(piece))
            .collect();
        assert!(leaked.is_empty(), "{path} holds the key: {leaked:?}");
    }
}

/// Finding 2: an endless chunked body fails the call at the default cap
/// (8 MiB) instead of filling memory until the timeout; not retried.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_body_fails_at_the_default_cap() {
    let server = Hostile::start(Answer::Endless(200)).await;
    let mut d = decl("endless", &[&server.base_url]);
    d.timeout = Duration::from_secs(30);
    let mut models = Models::new(ModelsOptions::default());
    models.set_backoff(fast_backoff());
    models.insert(&d, Arc::new(OpenAiProvider::new(&d).unwrap()));
    let started = Instant::now();
    let err = models
        .lm("endless")
        .unwrap()
        .complete(&ask("endless", "q"))
        .await
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    assert!(matches!(err, LmError::Fatal { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.starts_with("model `endless`: "), "{text}");
    assert!(
        text.contains("more than max_response_bytes = 8388608 bytes"),
        "{text}"
    );
    assert_eq!(server.requests(), 1, "not retried");
}

/// Finding 2: `max_response_bytes` in the spec's model block sets the cap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_spec_sets_max_response_bytes() {
    let server = Hostile::start(Answer::Endless(200)).await;
    let spec = compile_model(&format!(
        "model m {{ base_url = \"{}\" timeout = 30s max_response_bytes = 65_536 }}",
        server.base_url
    ))
    .unwrap();
    let d = &spec.models["m"];
    assert_eq!(d.max_response_bytes, 65_536);
    let started = Instant::now();
    let err = OpenAiProvider::new(d)
        .unwrap()
        .complete(&ask("m", "q"))
        .await
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(
        err.to_string()
            .contains("more than max_response_bytes = 65536 bytes"),
        "{err}"
    );
}

#[test]
fn max_response_bytes_is_checked_and_openai_only() {
    let plain = compile_model("model m { base_url = \"http://h/v1\" }").unwrap();
    assert_eq!(plain.models["m"].max_response_bytes, 8 * 1024 * 1024);
    assert!(plain.models["m"].extra.is_empty());
    for bad in ["0", "-5", "\"8MiB\"", "1.5"] {
        let err = compile_model(&format!(
            "model m {{ base_url = \"http://h/v1\" max_response_bytes = {bad} }}"
        ))
        .unwrap_err();
        assert!(err.contains("max_response_bytes"), "{bad}: {err}");
    }
    // Round two, finding 8: one past the top names the whole range.
    let err = compile_model(
        "model m { base_url = \"http://h/v1\" max_response_bytes = 18446744073709551616 }",
    )
    .unwrap_err();
    assert!(
        err.contains("must be between 1 and 18446744073709551615, found 18446744073709551616"),
        "{err}"
    );
    let err =
        compile_model("model s { provider = \"sim\" oracle = trivia max_response_bytes = 1024 }")
            .unwrap_err();
    assert!(err.contains("unknown key"), "{err}");
}

/// Finding 2: a `Content-Length` over the cap is refused before the body is
/// read (the server here never sends it; waiting would hit the timeout).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_announced_length_over_the_cap_is_refused_before_reading() {
    let server = Hostile::start(Answer::Announce(10 << 30)).await;
    let mut d = decl("big", &[&server.base_url]);
    d.timeout = Duration::from_secs(30);
    let started = Instant::now();
    let err = OpenAiProvider::new(&d)
        .unwrap()
        .complete(&ask("big", "q"))
        .await
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(matches!(err, LmError::Fatal { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains("announced a reply of 10737418240 bytes, over max_response_bytes = 8388608"),
        "{err}"
    );
}

/// An endless error body: only its start is read, and the status still
/// decides whether the call is retried.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_error_body_is_quoted_from_its_start() {
    let server = Hostile::start(Answer::Endless(503)).await;
    let mut d = decl("busy", &[&server.base_url]);
    d.timeout = Duration::from_secs(30);
    let err = OpenAiProvider::new(&d)
        .unwrap()
        .complete(&ask("busy", "q"))
        .await
        .unwrap_err();
    assert!(err.is_retryable(), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("answered HTTP 503 Service Unavailable: xxx"),
        "{text}"
    );
    assert!(text.ends_with("x..."), "{text}");
    assert!(text.len() < 600, "{} chars", text.len());
}

/// Finding 2: a blank 200 body is a malformed reply, not a body cut short:
/// it fails at once instead of being retried.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blank_body_is_malformed_not_retried() {
    let server = Hostile::start(Answer::Raw("  \n\t \r\n".into())).await;
    let d = decl("blank", &[&server.base_url]);
    let mut models = Models::new(ModelsOptions::default());
    models.set_backoff(fast_backoff());
    models.insert(&d, Arc::new(OpenAiProvider::new(&d).unwrap()));
    let err = models
        .lm("blank")
        .unwrap()
        .complete(&ask("blank", "q"))
        .await
        .unwrap_err();
    assert!(matches!(err, LmError::Fatal { .. }), "{err:?}");
    assert!(err.to_string().contains("blank reply"), "{err}");
    assert_eq!(server.requests(), 1, "not retried");
}

/// Finding 9: control characters of an error body are escaped where the
/// body enters the error message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_characters_of_an_error_body_are_escaped() {
    let server = Hostile::start(Answer::Status(
        400,
        format!("bad request{TERMINAL_ATTACK}\u{9b}2J done"),
    ))
    .await;
    let err = OpenAiProvider::new(&decl("esc", &[&server.base_url]))
        .unwrap()
        .complete(&ask("esc", "q"))
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(raw_controls(&text).is_empty(), "{text:?}");
    assert!(
        text.ends_with("bad request\\u{1b}]0;pwned\\u{7}\\r\\u{9b}2J done"),
        "{text:?}"
    );
}

/// Compiles a spec holding `model` plus a minimal program around it.
fn compile_model(model: &str) -> Result<simba_run::ir::Spec, String> {
    let src = format!(
        "{model}\n{}",
        r#"
dataset trivia {
  train  = jsonl("train.jsonl")
  inputs = [question]
}
signature Answer = "question -> answer"
program qa = predict(Answer)
metric correct = exact_match(pred.answer, gold.answer)
optimize qa with simba {
  trainset = trivia.train
  metric   = correct
}
"#
    );
    compile_source(Path::new("t.simba"), &src, &[])
        .map(|(spec, _)| spec)
        .map_err(|d| format!("{d:?}"))
}

/// Round two, finding 1: a redirect to another origin used to keep the key
/// off the first foreign hop only; a foreign server redirecting to itself
/// got it back on every later hop. Now a redirect is followed only within
/// the origin of the model's base_url, and the call fails naming the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_never_follows_a_redirect_off_its_origin() {
    // Plain http:// takes the direct client; reqwest (https, proxies) the
    // same rule.
    redirect_refused(true).await;
    redirect_refused(false).await;
}

async fn redirect_refused(direct: bool) {
    let foreign = Redirector::start(None).await;
    let origin = Redirector::start(Some(format!("{}/steal?token=s3cret", foreign.url))).await;
    // `/hop/chat/completions` -> `/next/...` on the same origin (followed),
    // -> the foreign server (refused).
    let mut d = decl("hostile", &[&format!("{}/hop", origin.url)]);
    d.api_key = Some(Setting::Literal(KEY.into()));
    d.retries = 2;
    d.timeout = Duration::from_secs(20);
    let provider = OpenAiProvider::new(&d).unwrap();
    let provider = if direct {
        provider
    } else {
        provider.without_direct()
    };
    let err = provider.complete(&ask("hostile", "q")).await.unwrap_err();
    assert!(matches!(err, LmError::Fatal { .. }), "not retried: {err:?}");
    let text = err.to_string();
    assert!(text.contains("hostile"), "names the model: {text}");
    assert!(
        text.contains(&foreign.url),
        "names the target origin: {text}"
    );
    assert!(!text.contains("s3cret"), "no path or query: {text}");
    let bearer = format!("Bearer {KEY}");
    assert_eq!(
        origin.authorizations(),
        vec![Some(bearer.clone()), Some(bearer)],
        "the same-origin hop is followed, with the key"
    );
    assert_eq!(foreign.authorizations(), Vec::<Option<String>>::new());
}

/// Round two, finding 1, for a remote corpus: the same rule.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_corpus_never_follows_a_redirect_off_its_origin() {
    let foreign = Redirector::start(None).await;
    let origin = Redirector::start(Some(format!("{}/search", foreign.url))).await;
    let text = format!(
        "corpus remote {{\n  url = \"{}/search\"\n  api_key = \"{KEY}\"\n  retries = 2\n}}\n",
        origin.url
    );
    let (spec, _) =
        compile_source(Path::new("remote.simba"), &text, &[]).unwrap_or_else(|d| panic!("{d:?}"));
    let options = CorporaOptions {
        index_root: None,
        cache: None,
        backoff: fast_backoff(),
    };
    let corpora = Corpora::build(&spec, &["remote".to_string()], &options).unwrap();
    let err = corpora
        .corpus("remote")
        .unwrap()
        .search("q", 3)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("remote"), "names the corpus: {err}");
    assert!(err.contains(&foreign.url), "names the target origin: {err}");
    assert_eq!(origin.authorizations(), vec![Some(format!("Bearer {KEY}"))]);
    assert_eq!(foreign.authorizations(), Vec::<Option<String>>::new());
}

/// Round two, finding 7: a 401 body spelling the key with a `\u` escape
/// every 7th character passed the redactor; it is decoded, then redacted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_spelled_with_json_escapes_is_redacted() {
    let spelled: String = KEY
        .chars()
        .enumerate()
        .map(|(i, c)| match i % 7 {
            0 => format!("\\u{:04x}", c as u32),
            _ => c.to_string(),
        })
        .collect();
    let body = format!(r#"{{"error":{{"message":"Incorrect API key provided: {spelled}"}}}}"#);
    let server = Hostile::start(Answer::Status(401, body)).await;
    let provider = OpenAiProvider::new(&keyed(&server)).unwrap();
    let err = provider.complete(&ask("hostile", "q")).await.unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains(r#""Incorrect API key provided: <redacted>"}}"#),
        "{text}"
    );
    // Nothing of the key is left, decoded or as sent.
    let decoded = text.replace("\\u", "");
    assert!(
        key_pieces(&text).is_empty() && !text.contains(&spelled[7..14]),
        "{text}"
    );
    assert!(key_pieces(&decoded).is_empty(), "{text}");
}
