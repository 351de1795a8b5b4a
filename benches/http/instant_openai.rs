//! An instant OpenAI-compatible server for `benches/http_run.sh`: every
//! `/v1/chat/completions` request is answered by the `sim` model of a spec,
//! so replies are the ones `provider = "sim"` gives (SIMBA behaves as on the
//! sim model) and cost microseconds, leaving the client's own costs to be
//! measured.
//!
//!     instant_openai ORACLE_SPEC MODEL_ITEM [MAX_SECONDS]
//!
//! Prints its base URL (`http://127.0.0.1:PORT/v1`) as the first line on
//! stdout, then serves until it is killed or MAX_SECONDS (default 900) have
//! passed, whichever comes first.

#[path = "../../tests/sim_openai/mod.rs"]
mod sim_openai;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use serde_json::Value;
use simba_run::lm::{Lm, ModelSet, ModelsOptions};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// The model that answers, and its spec item name.
#[derive(Clone)]
struct Oracle {
    lm: Arc<dyn Lm>,
    item: String,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 1)]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(spec), Some(item)) = (args.first(), args.get(1)) else {
        eprintln!("usage: instant_openai ORACLE_SPEC MODEL_ITEM [MAX_SECONDS]");
        std::process::exit(2);
    };
    let max_seconds: u64 = args.get(2).map_or(900, |s| s.parse().expect("MAX_SECONDS"));
    let oracle = load(&PathBuf::from(spec), item);
    let app = Router::new()
        .route("/v1/chat/completions", post(complete))
        .with_state(oracle);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    println!("http://{}/v1", listener.local_addr().unwrap());
    std::io::stdout().flush().unwrap();
    let serve = axum::serve(listener, app);
    // Bounded in time: a bench that forgets it does not leave it running.
    let _ = tokio::time::timeout(Duration::from_secs(max_seconds), serve).await;
}

/// The spec's `item` model with its oracle data, uncached.
fn load(spec: &std::path::Path, item: &str) -> Oracle {
    let loaded = simba_run::compile::load_spec(spec, &[], None).unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(1);
    });
    let oracles = simba_run::optimize::runtime::oracles(&loaded.spec).expect("the oracle data");
    let models =
        simba_run::models::from_spec(&loaded.spec, &oracles, ModelsOptions { cache_dir: None })
            .expect("the models");
    let lm = models
        .lm(item)
        .unwrap_or_else(|| panic!("no model `{item}` in {}", spec.display()));
    Oracle {
        lm,
        item: item.to_string(),
    }
}

async fn complete(
    State(oracle): State<Oracle>,
    Json(body): Json<Value>,
) -> Result<Json<Value>, (StatusCode, String)> {
    let request = sim_openai::request_from_body(&body, &oracle.item)
        .map_err(|m| (StatusCode::BAD_REQUEST, m))?;
    let reply = oracle
        .lm
        .complete(&request)
        .await
        .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    Ok(Json(sim_openai::completion_body(
        &body,
        &reply.text,
        &reply.usage,
    )))
}
