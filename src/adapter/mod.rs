//! The prompt adapter: turns a predictor call (signature fields, instructions,
//! demos, inputs) into chat messages and the model's reply back into typed
//! output fields.
//!
//! Two formats. The chat format writes each field under a `[[ ## name ## ]]`
//! header and expects the reply to end with `[[ ## completed ## ]]`. The JSON
//! format asks for one JSON object. [`predict`] uses the chat format and,
//! when the reply does not parse, retries once in JSON mode, as DSPy's
//! ChatAdapter falls back to its JSON adapter.

mod decode;
mod format;
mod parse;
mod value;

pub use decode::{DemoView, PromptView, read_prompt};
pub use format::format_messages;
pub use parse::parse_reply;
pub use value::ParseError;

use crate::ir::Field;
use crate::lm::{Lm, LmError, Request, ResponseFormat, Usage};
use crate::value::{Demo, Record};

/// What one predictor call asks for: the signature's fields (for
/// chain_of_thought, `reasoning` first among the outputs) and the
/// predictor's current instructions.
#[derive(Debug, Clone, Copy)]
pub struct PredictSpec<'a> {
    /// Empty: a default sentence built from the field names is used.
    pub instructions: &'a str,
    /// The input fields, in the order the prompt lists them.
    pub inputs: &'a [Field],
    /// The output fields the reply must fill, in the order asked for.
    pub outputs: &'a [Field],
}

/// The prompt format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// Field-marker sections: `[[ ## name ## ]]`.
    Chat,
    /// One JSON object (sent with `ResponseFormat::JsonObject`).
    Json,
}

/// Why a predictor call failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PredictError {
    /// The model call itself failed (after the provider's retries).
    #[error("model call failed: {0}")]
    Lm(LmError),
    /// Neither the chat reply nor the JSON-mode retry parsed.
    #[error("the reply did not parse: chat format: {chat}; JSON retry: {json}")]
    Parse {
        /// Why the chat-format reply failed to parse.
        chat: ParseError,
        /// Why the JSON-mode retry failed to parse.
        json: ParseError,
    },
}

/// A successful predictor call.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    /// The output fields, typed, in the spec's output order.
    pub outputs: Record,
    /// Token usage summed over the calls made.
    pub usage: Usage,
    /// 1, or 2 when the JSON retry was needed.
    pub lm_calls: u32,
}

fn add_usage(total: &mut Usage, more: Usage) {
    total.prompt_tokens += more.prompt_tokens;
    total.completion_tokens += more.completion_tokens;
}

/// Runs one predictor call: the chat format first; when the reply does not
/// parse, one retry in JSON mode (`ResponseFormat::JsonObject`), as DSPy's
/// ChatAdapter falls back to JSONAdapter. `template` carries the model,
/// temperature, seed, rollout id and params; its messages and response
/// format are replaced.
pub async fn predict(
    lm: &dyn Lm,
    template: &Request,
    spec: &PredictSpec<'_>,
    demos: &[Demo],
    inputs: &Record,
) -> Result<Prediction, PredictError> {
    let mut request = template.clone();
    request.messages = format_messages(Format::Chat, spec, demos, inputs);
    request.response_format = ResponseFormat::Text;
    let reply = lm.complete(&request).await.map_err(PredictError::Lm)?;
    let mut usage = reply.usage;
    let chat = match parse_reply(Format::Chat, spec.outputs, &reply.text) {
        Ok(outputs) => {
            return Ok(Prediction {
                outputs,
                usage,
                lm_calls: 1,
            });
        }
        Err(e) => e,
    };
    tracing::debug!(model = %template.model, error = %chat, "chat reply did not parse; retrying in JSON mode");
    request.messages = format_messages(Format::Json, spec, demos, inputs);
    request.response_format = ResponseFormat::JsonObject;
    let reply = lm.complete(&request).await.map_err(PredictError::Lm)?;
    add_usage(&mut usage, reply.usage);
    match parse_reply(Format::Json, spec.outputs, &reply.text) {
        Ok(outputs) => Ok(Prediction {
            outputs,
            usage,
            lm_calls: 2,
        }),
        Err(json) => Err(PredictError::Parse { chat, json }),
    }
}

#[cfg(test)]
mod tests;
