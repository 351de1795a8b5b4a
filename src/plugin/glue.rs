//! Plugin strategies as the optimizer's [`Strategy`]: the engine's bucket
//! and candidate become the SDK's JSON request, the reply is applied back to
//! the candidate, and a plugin error or panic becomes a failed attempt in
//! the trial log (the engine then tries the next strategy).

use std::sync::Arc;

use async_trait::async_trait;
use simba_plugin_sdk as sdk;
use tokio::runtime::Handle;

use super::{HostServices, PluginError, PluginHost, PluginStrategy};
use crate::ir::StrategyRef;
use crate::lm::{Lm, ModelSet, Request};
use crate::optimize::{
    AppendDemo, AppendRule, PromptModel, Strategy, StrategyContext, StrategyError, StrategyReport,
};
use crate::program::Program;
use crate::value::{Demo, Record};

/// The strategies `refs` names, in order: built-ins directly, `plugin.item`
/// from the host, created with their `{ .. }` config.
pub fn resolve_strategies(
    refs: &[StrategyRef],
    host: &PluginHost,
) -> Result<Vec<Arc<dyn Strategy>>, PluginError> {
    refs.iter()
        .map(|r| -> Result<Arc<dyn Strategy>, PluginError> {
            Ok(match r {
                StrategyRef::AppendDemo => Arc::new(AppendDemo),
                StrategyRef::AppendRule => Arc::new(AppendRule),
                StrategyRef::Plugin {
                    plugin,
                    item,
                    config,
                } => Arc::new(host.strategy(plugin, item, &config.json())?),
            })
        })
        .collect()
}

/// The prompt model as the one model a plugin strategy may call.
struct PromptOnly(PromptModel);

impl ModelSet for PromptOnly {
    fn lm(&self, name: &str) -> Option<Arc<dyn Lm>> {
        (name == self.0.name).then(|| self.0.lm.clone())
    }
    fn template(&self, name: &str) -> Option<Request> {
        (name == self.0.name).then(|| self.0.template.clone())
    }
}

fn to_map(record: &Record) -> sdk::Record {
    record.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

fn to_record(map: sdk::Record) -> Record {
    map.into_iter().collect()
}

fn fields(list: &[crate::ir::Field]) -> Vec<sdk::FieldSpec> {
    list.iter()
        .map(|f| sdk::FieldSpec {
            name: f.name.clone(),
            ty: f.ty.to_string(),
            description: f.description.clone(),
        })
        .collect()
}

/// The SDK request for one engine call.
pub(crate) fn strategy_request(
    ctx: &StrategyContext<'_>,
    candidate: &Program,
) -> sdk::StrategyRequest {
    let bucket = ctx
        .bucket
        .trajectories
        .iter()
        .map(|t| sdk::Trajectory {
            score: t.score.value,
            feedback: t.score.feedback.clone(),
            prediction: t.execution.prediction.as_ref().map(to_map),
            trace: t
                .execution
                .trace
                .iter()
                .map(|e| sdk::TraceStep {
                    step: e.step.clone(),
                    inputs: to_map(&e.inputs),
                    outputs: to_map(&e.outputs),
                })
                .collect(),
        })
        .collect();
    let predictors = candidate
        .predictors
        .iter()
        .map(|(name, state)| {
            let step = candidate.graph.steps.iter().find(|s| &s.name == name);
            sdk::Predictor {
                name: name.clone(),
                instructions: state.instructions.clone(),
                demos: state
                    .demos
                    .iter()
                    .map(|d| sdk::Demo {
                        fields: to_map(&d.fields),
                        augmented: d.augmented,
                    })
                    .collect(),
                inputs: step
                    .map(|s| fields(&s.signature.inputs))
                    .unwrap_or_default(),
                outputs: step
                    .map(|s| fields(&s.signature.outputs))
                    .unwrap_or_default(),
            }
        })
        .collect();
    sdk::StrategyRequest {
        step: ctx.step as u64,
        bucket,
        program: sdk::ProgramState { predictors },
        percentiles: sdk::Percentiles {
            p10: ctx.p10,
            p90: ctx.p90,
        },
        prompt_model: ctx.prompt.map(|p| p.name.clone()),
        max_demos: Some(ctx.max_demos as u64),
        config: serde_json::json!({ "demo_input_field_maxlen": ctx.demo_input_field_maxlen }),
    }
}

/// Writes a reply's program into `candidate`; checks every name first so a
/// bad reply leaves the candidate untouched.
pub fn apply_program(candidate: &mut Program, program: sdk::ProgramState) -> Result<(), String> {
    if let Some(p) = program
        .predictors
        .iter()
        .find(|p| !candidate.predictors.contains_key(&p.name))
    {
        return Err(format!("the reply names an unknown predictor `{}`", p.name));
    }
    for p in program.predictors {
        let state = candidate
            .predictors
            .get_mut(&p.name)
            .expect("checked above");
        state.instructions = p.instructions;
        state.demos = p
            .demos
            .into_iter()
            .map(|d| Demo {
                fields: to_record(d.fields),
                augmented: d.augmented,
            })
            .collect();
    }
    Ok(())
}

#[async_trait]
impl Strategy for PluginStrategy {
    fn name(&self) -> String {
        PluginStrategy::name(self)
    }

    async fn apply(
        &self,
        ctx: &StrategyContext<'_>,
        candidate: &mut Program,
    ) -> Result<StrategyReport, StrategyError> {
        let request = strategy_request(ctx, candidate);
        let services = match ctx.prompt {
            Some(p) => {
                HostServices::new(Arc::new(PromptOnly(p.clone())), Handle::current(), ctx.seed)
            }
            None => HostServices::without_models(ctx.seed),
        };
        let reply = PluginStrategy::apply(self, request, services)
            .await
            .map_err(|e| StrategyError(e.to_string()))?;
        match reply {
            sdk::StrategyReply::Applied { program, note } => {
                apply_program(candidate, program).map_err(|m| {
                    StrategyError(format!(
                        "plugin strategy `{}`: {m}",
                        PluginStrategy::name(self)
                    ))
                })?;
                Ok(StrategyReport::applied(
                    note.unwrap_or_else(|| "applied".to_string()),
                ))
            }
            sdk::StrategyReply::Skipped { reason } => Ok(StrategyReport::skipped(reason)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::{Field, FieldType, ModuleKind, ProgramGraph, Signature, Step};

    fn program() -> Program {
        let f = |n: &str| Field {
            name: n.into(),
            ty: FieldType::String,
            description: None,
        };
        let step = |name: &str| Step {
            name: name.into(),
            module: ModuleKind::Predict,
            signature: Signature {
                name: "S".into(),
                instructions: format!("do {name}"),
                inputs: vec![f("q")],
                outputs: vec![f("a")],
            },
            lm: "m".into(),
            bindings: vec![],
        };
        Program::baseline(Arc::new(ProgramGraph {
            name: "p".into(),
            lm: "m".into(),
            inputs: vec![f("q")],
            steps: vec![step("one"), step("two")],
            outputs: vec![],
            deps: vec![vec![], vec![]],
            spec_text: String::new(),
        }))
    }

    fn reply(names: &[&str]) -> sdk::ProgramState {
        sdk::ProgramState {
            predictors: names
                .iter()
                .map(|n| sdk::Predictor {
                    name: n.to_string(),
                    instructions: format!("new {n}"),
                    demos: vec![sdk::Demo {
                        fields: [("q".to_string(), serde_json::json!("x"))]
                            .into_iter()
                            .collect(),
                        augmented: true,
                    }],
                    inputs: vec![],
                    outputs: vec![],
                })
                .collect(),
        }
    }

    #[test]
    fn a_reply_updates_the_named_predictors_only() {
        let mut p = program();
        apply_program(&mut p, reply(&["two"])).unwrap();
        assert_eq!(p.predictors["one"].instructions, "do one");
        assert!(p.predictors["one"].demos.is_empty());
        assert_eq!(p.predictors["two"].instructions, "new two");
        assert_eq!(p.predictors["two"].demos[0].fields["q"], "x");
        assert!(p.predictors["two"].demos[0].augmented);
    }

    #[test]
    fn a_reply_with_an_unknown_predictor_leaves_the_candidate_untouched() {
        let mut p = program();
        let before = p.clone();
        let err = apply_program(&mut p, reply(&["one", "three"])).unwrap_err();
        assert_eq!(err, "the reply names an unknown predictor `three`");
        assert_eq!(p, before);
    }
}
