//! The OpenAI chat-completions wire format around a `sim` model: a request
//! body read into a [`Request`], a reply written back as a completion body.
//! Shared by servers that answer with sim replies (tests/cache_cli.rs,
//! benches/http/instant_openai.rs) through `#[path]`.

use indexmap::IndexMap;
use serde_json::{Value, json};
use simba_run::lm::{Message, Request, ResponseFormat, Usage};

/// The request a `/v1/chat/completions` body asks for, addressed to model
/// item `model`; an error message when `messages` is malformed.
pub fn request_from_body(body: &Value, model: &str) -> Result<Request, String> {
    let messages: Vec<Message> =
        serde_json::from_value(body["messages"].clone()).map_err(|e| e.to_string())?;
    Ok(Request {
        model: model.to_string(),
        messages,
        temperature: body["temperature"].as_f64().unwrap_or(0.0),
        max_tokens: body["max_tokens"].as_u64().map(|n| n as u32),
        seed: body["seed"].as_u64(),
        rollout_id: None,
        response_format: if body["response_format"]["type"] == "json_object" {
            ResponseFormat::JsonObject
        } else {
            ResponseFormat::Text
        },
        params: IndexMap::new(),
    })
}

/// A chat-completion body with one choice holding `text`, echoing the
/// request's `model`.
pub fn completion_body(body: &Value, text: &str, usage: &Usage) -> Value {
    json!({
        "id": "chatcmpl-sim",
        "object": "chat.completion",
        "model": body["model"],
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
            "total_tokens": usage.total()
        }
    })
}
