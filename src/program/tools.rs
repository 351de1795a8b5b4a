//! Plugin tool steps as the executor sees them: something that runs a
//! [`ToolCall`] on a step's inputs. The plugin host implements it; this
//! layer only knows the trait.

use async_trait::async_trait;

use crate::ir::ToolCall;
use crate::value::Record;

/// The tools a run's programs may call.
#[async_trait]
pub trait ToolSet: Send + Sync {
    /// Runs `call` on `inputs`; the tool's outputs, or why it failed.
    async fn run(&self, call: &ToolCall, inputs: &Record) -> Result<Record, String>;
}

/// No tools: every tool step fails, saying so (programs without tool steps).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoTools;

#[async_trait]
impl ToolSet for NoTools {
    async fn run(&self, call: &ToolCall, _inputs: &Record) -> Result<Record, String> {
        Err(format!(
            "the tool `{}` is not loaded in this run",
            call.item
        ))
    }
}
