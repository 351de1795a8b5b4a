//! Example simba-run plugin with three strategies:
//! - `swap_demo`: replaces a predictor's weakest demo with the bucket's best
//!   trajectory step;
//! - `contrast_rewrite`: rewrites one predictor's instructions from the
//!   best/worst contrast by asking the prompt model through the host;
//! - `shuffle_demos`: reorders demos with the host's random stream (so the
//!   order is reproducible from the run's seed);
//!
//! and, in [`code`], the tool `join` and the metric `rubric`.

pub mod code;

use simba_plugin_sdk::{
    ConfigKey, Demo, Host, Level, Message, ModelRequest, Record, Strategy, StrategyReply,
    StrategyRequest, TraceStep, Trajectory, export_plugin,
};

/// The bucket's best and worst trajectories, or a skip reason when there is
/// no contrast to learn from.
fn best_and_worst(bucket: &[Trajectory]) -> Result<(&Trajectory, &Trajectory), String> {
    let best = bucket
        .iter()
        .max_by(|a, b| a.score.total_cmp(&b.score))
        .ok_or("empty bucket")?;
    let worst = bucket
        .iter()
        .min_by(|a, b| a.score.total_cmp(&b.score))
        .ok_or("empty bucket")?;
    if best.score <= worst.score {
        return Err(format!(
            "no contrast: every trajectory scored {}",
            best.score
        ));
    }
    Ok((best, worst))
}

fn step_of<'a>(t: &'a Trajectory, step: &str) -> Option<&'a TraceStep> {
    t.trace.iter().find(|s| s.step == step)
}

/// Does `demo` carry exactly these inputs?
fn demo_has_inputs(demo: &Demo, inputs: &Record) -> bool {
    !inputs.is_empty() && inputs.iter().all(|(k, v)| demo.fields.get(k) == Some(v))
}

/// `swap_demo`: for every predictor in the best trajectory's trace, the
/// demo made from that step replaces the weakest demo: the one showing the
/// worst trajectory's inputs (it was shown, yet the program still failed
/// there), else the oldest. A predictor with room (`max_demos`) gets the demo
/// appended instead. Config: `max_swaps` (a positive integer; default: no
/// limit) caps how many predictors one call changes, logging a warning when
/// it leaves some unchanged.
pub struct SwapDemo {
    max_swaps: Option<usize>,
}

impl Strategy for SwapDemo {
    fn new(config: &serde_json::Value) -> Result<Self, String> {
        let max_swaps = match config.get("max_swaps") {
            None | Some(serde_json::Value::Null) => None,
            Some(v) => match v.as_u64() {
                Some(n) if n > 0 => Some(n as usize),
                _ => return Err(format!("`max_swaps` must be a positive integer, got {v}")),
            },
        };
        Ok(SwapDemo { max_swaps })
    }

    fn config_keys() -> Option<Vec<ConfigKey>> {
        Some(vec![ConfigKey::new(
            "max_swaps",
            "int",
            "how many predictors one call may change (a positive integer; default: all)",
        )])
    }

    fn apply(&self, request: StrategyRequest, host: &Host) -> Result<StrategyReply, String> {
        let (best, worst) = match best_and_worst(&request.bucket) {
            Ok(pair) => pair,
            Err(reason) => return Ok(StrategyReply::Skipped { reason }),
        };
        let cap = request.max_demos.unwrap_or(4) as usize;
        let mut program = request.program;
        let mut changed = Vec::new();
        let mut held_back = 0;
        for step in &best.trace {
            if step.outputs.is_empty() {
                continue;
            }
            let at_limit = self.max_swaps.is_some_and(|max| changed.len() >= max);
            let Some(pred) = program.predictor_mut(&step.step) else {
                continue;
            };
            if at_limit {
                held_back += 1;
                continue;
            }
            let mut fields = step.inputs.clone();
            fields.extend(step.outputs.clone());
            let demo = Demo {
                fields,
                augmented: true,
            };
            if pred.demos.iter().any(|d| d.fields == demo.fields) {
                continue;
            }
            if pred.demos.len() < cap || pred.demos.is_empty() {
                pred.demos.push(demo);
            } else {
                let weakest = step_of(worst, &step.step)
                    .and_then(|w| {
                        pred.demos
                            .iter()
                            .position(|d| demo_has_inputs(d, &w.inputs))
                    })
                    .unwrap_or(0);
                pred.demos[weakest] = demo;
            }
            changed.push(step.step.clone());
        }
        if held_back > 0 {
            host.log(
                Level::Warn,
                &format!(
                    "swap_demo: max_swaps = {} left {held_back} step(s) unchanged",
                    changed.len()
                ),
            );
        }
        if changed.is_empty() {
            return Ok(StrategyReply::Skipped {
                reason: "the best trajectory has no new step to show".into(),
            });
        }
        Ok(StrategyReply::Applied {
            program,
            note: Some(format!("swapped a demo in {}", changed.join(", "))),
        })
    }
}

/// `contrast_rewrite`: shows the prompt model one predictor's instructions
/// with the best and worst trajectories and adopts its rewrite. Config:
/// `predictor` (default: the first in the best trace), `model` (default: the
/// request's `prompt_model`).
pub struct ContrastRewrite {
    predictor: Option<String>,
    model: Option<String>,
}

impl Strategy for ContrastRewrite {
    fn new(config: &serde_json::Value) -> Result<Self, String> {
        let text = |key: &str| -> Result<Option<String>, String> {
            match config.get(key) {
                None | Some(serde_json::Value::Null) => Ok(None),
                Some(serde_json::Value::String(s)) => Ok(Some(s.clone())),
                Some(other) => Err(format!("`{key}` must be a string, got {other}")),
            }
        };
        Ok(ContrastRewrite {
            predictor: text("predictor")?,
            model: text("model")?,
        })
    }

    fn config_keys() -> Option<Vec<ConfigKey>> {
        Some(vec![
            ConfigKey::new(
                "predictor",
                "string",
                "the step whose instructions are rewritten (default: the first in the best trace)",
            ),
            ConfigKey::new(
                "model",
                "string",
                "the model asked for the rewrite (default: the run's prompt model)",
            ),
        ])
    }

    fn apply(&self, request: StrategyRequest, host: &Host) -> Result<StrategyReply, String> {
        let (best, worst) = match best_and_worst(&request.bucket) {
            Ok(pair) => pair,
            Err(reason) => return Ok(StrategyReply::Skipped { reason }),
        };
        let Some(model) = self.model.clone().or(request.prompt_model.clone()) else {
            return Ok(StrategyReply::Skipped {
                reason: "no prompt model to ask".into(),
            });
        };
        let target = match &self.predictor {
            Some(p) => p.clone(),
            None => match best.trace.first() {
                Some(s) => s.step.clone(),
                None => match request.program.predictors.first() {
                    Some(p) => p.name.clone(),
                    None => {
                        return Ok(StrategyReply::Skipped {
                            reason: "no predictor".into(),
                        });
                    }
                },
            },
        };
        let mut program = request.program;
        let Some(pred) = program.predictor_mut(&target) else {
            return Err(format!("the program has no predictor `{target}`"));
        };
        let show = |t: &Trajectory| -> String {
            let step = step_of(t, &target);
            format!(
                "score: {}\nfeedback: {}\ninputs: {}\noutputs: {}",
                t.score,
                t.feedback.as_deref().unwrap_or("(none)"),
                step.map(|s| serde_json::Value::Object(s.inputs.clone()).to_string())
                    .unwrap_or_default(),
                step.map(|s| serde_json::Value::Object(s.outputs.clone()).to_string())
                    .unwrap_or_default(),
            )
        };
        let prompt = format!(
            "A step of an LM program follows these instructions:\n{}\n\n\
             A good run:\n{}\n\nA poor run:\n{}\n\n\
             Rewrite the instructions so the step behaves like the good run. \
             Reply with the new instructions only.",
            pred.instructions,
            show(best),
            show(worst)
        );
        let req = ModelRequest {
            messages: vec![Message::new("user", prompt)],
            ..ModelRequest::default()
        };
        let reply = host
            .call_lm(&model, &req)
            .map_err(|e| format!("prompt model `{model}` failed: {e}"))?;
        let text = reply.text.trim();
        if text.is_empty() || text == pred.instructions {
            return Ok(StrategyReply::Skipped {
                reason: "the prompt model proposed no change".into(),
            });
        }
        host.log(Level::Debug, &format!("rewrote `{target}` via `{model}`"));
        pred.instructions = text.to_string();
        Ok(StrategyReply::Applied {
            program,
            note: Some(format!("rewrote the instructions of `{target}`")),
        })
    }
}

/// `shuffle_demos`: permutes every predictor's demos (Fisher-Yates) with
/// draws from the host's stream; skips when no predictor has two demos.
pub struct ShuffleDemos;

impl Strategy for ShuffleDemos {
    fn new(_config: &serde_json::Value) -> Result<Self, String> {
        Ok(ShuffleDemos)
    }

    fn config_keys() -> Option<Vec<ConfigKey>> {
        Some(Vec::new())
    }

    fn apply(&self, request: StrategyRequest, host: &Host) -> Result<StrategyReply, String> {
        let mut program = request.program;
        let mut draws = 0;
        for pred in &mut program.predictors {
            for i in (1..pred.demos.len()).rev() {
                let j = host.below(i as u64 + 1).map_err(|e| e.to_string())? as usize;
                pred.demos.swap(i, j);
                draws += 1;
            }
        }
        if draws == 0 {
            return Ok(StrategyReply::Skipped {
                reason: "no predictor has two demos".into(),
            });
        }
        Ok(StrategyReply::Applied {
            program,
            note: Some(format!("shuffled demos with {draws} draws")),
        })
    }
}

export_plugin! {
    name: "extras",
    strategies: [
        "swap_demo" => SwapDemo,
        "contrast_rewrite" => ContrastRewrite,
        "shuffle_demos" => ShuffleDemos,
    ],
    models: [],
    tools: ["join" => code::Join],
    metrics: ["rubric" => code::Rubric],
}
