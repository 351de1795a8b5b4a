//! Plugin tools and metrics: instances called on threads of their own with
//! JSON in and out, each call bounded in time and reply size. Neither gets
//! LM access; both may log through the host.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use simba_plugin_sdk::{MetricRequest, MetricScore, ToolReply, ToolRequest};
use tokio::sync::Semaphore;

use super::callbacks::{CallContext, CallStats};
use super::library::Instance;
use super::{PluginError, PluginHost};
use crate::ir::{CodeMetric, MetricExpr, ModuleKind, PluginItem, Spec, ToolCall};
use crate::metric::{CodeScorer, Score};
use crate::optimize::runtime::CodeItems;
use crate::program::tools::ToolSet;
use crate::value::Record;

/// The largest reply a tool or metric may send: 1 MiB of JSON. A larger one
/// fails that call (a tool's outputs are kept in traces, demos and
/// artifacts, so a runaway reply would bloat all of them).
pub const MAX_CODE_REPLY_BYTES: usize = 1 << 20;

/// How long one tool or metric call may take by default, waiting for a free
/// call slot included (`[plugins] call_timeout` in simba.toml changes it).
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// One call of `instance` with `request`, decoded as `R`. The plugin runs
/// on a thread of its own, never on the async workers; past `timeout` the
/// call fails and that thread is abandoned (a plugin call cannot be
/// stopped). The thread keeps its call slot until the plugin returns, so a
/// tool that hangs every time ties up at most the host's slots, after
/// which calls fail on the timeout instead of piling up threads.
async fn call<Q, R>(
    instance: &Arc<Instance>,
    permits: &Arc<Semaphore>,
    timeout: Duration,
    request: Q,
) -> Result<R, PluginError>
where
    Q: serde::Serialize + Send + 'static,
    R: serde::de::DeserializeOwned + Send + 'static,
{
    let call_error = |message: String| PluginError::Call {
        plugin: instance.plugin().to_string(),
        item: instance.item.clone(),
        message,
    };
    let timed_out = || {
        call_error(format!(
            "no reply within {timeout:?} (the call's thread is abandoned)"
        ))
    };
    let deadline = tokio::time::Instant::now() + timeout;
    let permit = tokio::time::timeout_at(deadline, permits.clone().acquire_owned())
        .await
        .map_err(|_| timed_out())?
        .map_err(|_| call_error("the plugin host is shut down".into()))?;
    let (tx, rx) = tokio::sync::oneshot::channel();
    let inst = instance.clone();
    std::thread::Builder::new()
        .name(format!("plugin {}.{}", inst.plugin(), inst.item))
        .spawn(move || {
            let _permit = permit;
            let reply = serde_json::to_vec(&request)
                .map_err(|e| e.to_string())
                .and_then(|body| {
                    // No LM access and a fixed seed: a tool or metric must
                    // answer the same inputs the same way.
                    let ctx =
                        CallContext::new(inst.plugin(), None, 0, Arc::new(CallStats::default()));
                    let table = ctx.table();
                    inst.call(&body, &table)
                });
            let _ = tx.send(reply);
        })
        .map_err(|e| call_error(format!("cannot start a thread for the call: {e}")))?;
    let bytes = match tokio::time::timeout_at(deadline, rx).await {
        Err(_) => return Err(timed_out()),
        Ok(Err(_)) => return Err(call_error("the call's thread ended without a reply".into())),
        Ok(Ok(reply)) => reply.map_err(call_error)?,
    };
    let bad_reply = |message: String| PluginError::BadReply {
        plugin: instance.plugin().to_string(),
        item: instance.item.clone(),
        message,
    };
    if bytes.len() > MAX_CODE_REPLY_BYTES {
        return Err(bad_reply(format!(
            "the reply is {} bytes, over the {MAX_CODE_REPLY_BYTES}-byte (1 MiB) limit",
            bytes.len()
        )));
    }
    serde_json::from_slice(&bytes).map_err(|e| bad_reply(e.to_string()))
}

/// A metric provided by a plugin (`metric m = plugin.item(pred, gold)`).
#[derive(Clone)]
pub struct PluginMetric {
    pub(crate) instance: Arc<Instance>,
    pub(crate) permits: Arc<Semaphore>,
    pub(crate) timeout: Duration,
}

impl std::fmt::Debug for PluginMetric {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "PluginMetric({}.{})",
            self.instance.plugin(),
            self.instance.item
        )
    }
}

#[async_trait]
impl CodeScorer for PluginMetric {
    async fn score(&self, gold: &Record, pred: &Record) -> Result<Score, String> {
        let request = MetricRequest {
            pred: pred.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            gold: gold.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        };
        let reply: MetricScore = call(&self.instance, &self.permits, self.timeout, request)
            .await
            .map_err(|e| e.to_string())?;
        Ok(Score {
            value: reply.score,
            feedback: reply.feedback,
        })
    }
}

/// A tool provided by a plugin (`step x = plugin.item(a = ..)`).
#[derive(Clone)]
pub struct PluginTool {
    pub(crate) instance: Arc<Instance>,
    pub(crate) permits: Arc<Semaphore>,
    pub(crate) timeout: Duration,
}

impl std::fmt::Debug for PluginTool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "PluginTool({}.{})",
            self.instance.plugin(),
            self.instance.item
        )
    }
}

impl PluginTool {
    /// Runs the tool on a step's inputs; the reply's outputs, or why not.
    pub async fn run(&self, inputs: &Record) -> Result<Record, PluginError> {
        let request = ToolRequest {
            inputs: inputs.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        };
        let reply: ToolReply = call(&self.instance, &self.permits, self.timeout, request).await?;
        Ok(reply.outputs.into_iter().collect())
    }
}

/// The tool instances of a run, one per distinct item and config.
#[derive(Debug, Default)]
pub struct PluginTools {
    tools: HashMap<PluginItem, PluginTool>,
}

#[async_trait]
impl ToolSet for PluginTools {
    async fn run(&self, call: &ToolCall, inputs: &Record) -> Result<Record, String> {
        let tool = self
            .tools
            .get(&call.item)
            .ok_or_else(|| format!("the tool `{}` is not loaded in this run", call.item))?;
        tool.run(inputs).await.map_err(|e| e.to_string())
    }
}

/// The plugin metric (when `metric` is a plugin's) and the tools of
/// `program`'s tool steps, created from `host` with their configs.
pub fn code_items(
    host: &PluginHost,
    spec: &Spec,
    program: &str,
    metric: &str,
) -> Result<CodeItems, PluginError> {
    let metric = match spec.metrics.get(metric).map(|m| &m.expr) {
        Some(MetricExpr::Code(CodeMetric::Plugin(item))) => {
            Some(Arc::new(host.metric(item)?) as Arc<dyn CodeScorer>)
        }
        _ => None,
    };
    let mut tools = PluginTools::default();
    for step in spec.programs.get(program).iter().flat_map(|p| &p.steps) {
        if let ModuleKind::Tool(call) = &step.module
            && !tools.tools.contains_key(&call.item)
        {
            tools
                .tools
                .insert(call.item.clone(), host.tool(&call.item)?);
        }
    }
    Ok(CodeItems {
        metric,
        tools: Arc::new(tools),
    })
}
