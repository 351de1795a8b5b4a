//! Example simba-run model plugin: `replay` answers from a recorded JSONL
//! transcript, so a run can be repeated offline.
//!
//! Config (the `model { .. }` block's keys):
//! - `transcript` (required): JSONL file, one record per line:
//!   `{"messages": [{"role": "user", "content": ".."}], "text": "..",
//!     "usage": {"prompt_tokens": 1, "completion_tokens": 2}}`
//!   (`usage` optional). A record may also carry `temperature`,
//!   `rollout_id` and `seed`: when present they must equal the request's too,
//!   so sampled variants of one prompt replay faithfully. Relative paths
//!   resolve against `spec_dir`.
//! - `match`: `"messages"` (default: the record whose messages equal the
//!   request's; a miss is a non-retryable error) or `"sequential"` (records
//!   in file order, wrapping around).

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde::Deserialize;
use simba_plugin_sdk::{
    ConfigKey, Host, Message, Model, ModelError, ModelRequest, ModelResponse, Usage, export_plugin,
};

#[derive(Deserialize)]
struct Record {
    messages: Vec<Message>,
    text: String,
    #[serde(default)]
    usage: Option<Usage>,
    #[serde(default)]
    temperature: Option<f64>,
    #[serde(default)]
    rollout_id: Option<u64>,
    #[serde(default)]
    seed: Option<u64>,
}

impl Record {
    fn matches(&self, request: &ModelRequest) -> bool {
        self.messages == request.messages
            && self
                .temperature
                .is_none_or(|t| request.temperature == Some(t))
            && self
                .rollout_id
                .is_none_or(|r| request.rollout_id == Some(r))
            && self.seed.is_none_or(|s| request.seed == Some(s))
    }
}

#[derive(PartialEq)]
enum Match {
    Messages,
    Sequential,
}

/// The replay model.
pub struct Replay {
    records: Vec<Record>,
    mode: Match,
    next: AtomicUsize,
}

fn estimate_tokens(text: &str) -> u64 {
    text.split_whitespace().count() as u64
}

impl Model for Replay {
    fn config_keys() -> Option<Vec<ConfigKey>> {
        Some(vec![
            ConfigKey::new(
                "transcript",
                "string",
                "the JSONL transcript to serve, relative to the spec's folder",
            ),
            ConfigKey::new(
                "match",
                "string",
                "\"messages\" (the default: by conversation) or \"sequential\" (in order)",
            ),
        ])
    }

    fn new(config: &serde_json::Value) -> Result<Self, String> {
        let transcript = config
            .get("transcript")
            .and_then(|v| v.as_str())
            .ok_or("replay needs `transcript = \"path.jsonl\"`")?;
        let mut path = PathBuf::from(transcript);
        if path.is_relative() {
            if let Some(dir) = config.get("spec_dir").and_then(|v| v.as_str()) {
                path = PathBuf::from(dir).join(path);
            }
        }
        let mode = match config.get("match").and_then(|v| v.as_str()) {
            None | Some("messages") => Match::Messages,
            Some("sequential") => Match::Sequential,
            Some(other) => {
                return Err(format!(
                    "`match` must be \"messages\" or \"sequential\", got {other:?}"
                ));
            }
        };
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read transcript {}: {e}", path.display()))?;
        let mut records = Vec::new();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let rec: Record = serde_json::from_str(line)
                .map_err(|e| format!("{}:{}: {e}", path.display(), i + 1))?;
            records.push(rec);
        }
        if records.is_empty() {
            return Err(format!("transcript {} has no records", path.display()));
        }
        Ok(Replay {
            records,
            mode,
            next: AtomicUsize::new(0),
        })
    }

    fn complete(&self, request: ModelRequest, _host: &Host) -> Result<ModelResponse, ModelError> {
        let rec = match self.mode {
            Match::Sequential => {
                let i = self.next.fetch_add(1, Ordering::Relaxed) % self.records.len();
                &self.records[i]
            }
            Match::Messages => self
                .records
                .iter()
                .find(|r| r.matches(&request))
                .ok_or_else(|| {
                    let last = request
                        .messages
                        .last()
                        .map(|m| m.content.as_str())
                        .unwrap_or("");
                    let head: String = last.chars().take(60).collect();
                    ModelError::fatal(format!(
                        "no recorded response for a request ending {head:?}"
                    ))
                })?,
        };
        let usage = rec.usage.unwrap_or_else(|| Usage {
            prompt_tokens: request
                .messages
                .iter()
                .map(|m| estimate_tokens(&m.content))
                .sum(),
            completion_tokens: estimate_tokens(&rec.text),
        });
        Ok(ModelResponse {
            text: rec.text.clone(),
            usage,
        })
    }
}

export_plugin! {
    name: "replay",
    strategies: [],
    models: ["replay" => Replay],
}
