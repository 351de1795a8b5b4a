//! `provider = "local"`: a GGUF model run in-process through llama.cpp
//! (cargo feature `local`; see `docs/local.md`).
//!
//! One loaded model per file serves every item and every in-flight request,
//! decoding one request at a time on its own thread (see `engine`). Replies
//! are a function of the request: greedy at temperature 0, otherwise sampled
//! with a seed derived from the request's seed and rollout id. By default the
//! reply is constrained by a grammar built from the output fields the
//! adapter's system message lists, so even a tiny model answers in a layout
//! the adapter parses.
//!
//! Without the feature, building a local item fails with a message saying
//! how to build with it; the settings and grammar code stay compiled (and
//! tested) either way.

pub mod grammar;
pub mod settings;

#[cfg(feature = "local")]
mod engine;

pub use settings::{LocalSettings, Sampling, cache_identity, check_gguf};

use std::path::Path;
use std::sync::Arc;

use crate::ir::ModelDecl;
use crate::lm::{Lm, ModelError};

/// The end-of-reply marker of the adapter's chat format: generation stops
/// there instead of letting the model invent a next turn.
#[cfg(feature = "local")]
const COMPLETED_MARKER: &str = "[[ ## completed ## ]]";

/// The sampling seed of a request: a mix of its seed and rollout id, so the
/// same request always draws the same text and distinct rollouts differ.
pub fn request_seed(seed: Option<u64>, rollout_id: Option<u64>) -> u32 {
    // splitmix64 finaliser over both inputs: nearby ids give unrelated seeds.
    let mut z = seed
        .unwrap_or(0)
        .wrapping_add(rollout_id.unwrap_or(0).wrapping_mul(0x9E37_79B9_7F4A_7C15))
        .wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z ^ (z >> 32)) as u32
}

/// Builds the provider of a `provider = "local"` item; `base_dir` is the
/// spec's folder (relative paths resolve against it).
#[cfg(feature = "local")]
pub fn provider(decl: &ModelDecl, base_dir: &Path) -> Result<Arc<dyn Lm>, ModelError> {
    Ok(Arc::new(LocalModel::load(decl, base_dir)?))
}

/// Without the `local` feature: an error saying how to get it.
#[cfg(not(feature = "local"))]
pub fn provider(decl: &ModelDecl, _base_dir: &Path) -> Result<Arc<dyn Lm>, ModelError> {
    Err(ModelError::Unsupported {
        model: decl.name.clone(),
        message: "provider \"local\": this simba-run was built without the `local` feature: \
                  cargo build --release --features local"
            .into(),
    })
}

#[cfg(feature = "local")]
pub use model::{LocalModel, ModelInfo};

#[cfg(feature = "local")]
mod model {
    pub use super::engine::ModelInfo;
    use super::engine::{self, Engine, Job};
    use super::*;
    use crate::adapter::read_prompt;
    use crate::lm::{LmError, Request, Response, ResponseFormat, Usage};
    use async_trait::async_trait;

    /// A local model item: a handle on the shared loaded model plus the
    /// item's own sampling settings.
    pub struct LocalModel {
        name: String,
        engine: Arc<Engine>,
        sampling: Sampling,
        max_tokens: u32,
        /// The file and sampling settings: they decide the replies, so the
        /// response cache keys on them.
        cache_identity: String,
    }

    impl std::fmt::Debug for LocalModel {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("LocalModel")
                .field("name", &self.name)
                .field("info", &self.engine.info)
                .field("sampling", &self.sampling)
                .finish()
        }
    }

    impl LocalModel {
        /// Reads the item's settings, checks the file and loads it (or
        /// reuses it when another item already loaded it the same way).
        pub fn load(decl: &ModelDecl, base_dir: &Path) -> Result<Self, ModelError> {
            let settings = LocalSettings::from_decl(decl, base_dir)?;
            check_gguf(&decl.name, &settings.path)?;
            let engine = engine::shared(&decl.name, &settings)?;
            Ok(LocalModel {
                name: decl.name.clone(),
                engine,
                sampling: settings.sampling,
                max_tokens: decl.max_tokens.unwrap_or(settings::DEFAULT_MAX_TOKENS),
                cache_identity: cache_identity(decl),
            })
        }

        /// The loaded model: context size, load time, template source.
        pub fn info(&self) -> &ModelInfo {
            &self.engine.info
        }

        fn fatal(&self, message: String) -> LmError {
            LmError::Fatal {
                model: self.name.clone(),
                message,
            }
        }
    }

    #[async_trait]
    impl Lm for LocalModel {
        fn cache_identity(&self) -> Option<String> {
            Some(self.cache_identity.clone())
        }

        async fn complete(&self, request: &Request) -> Result<Response, LmError> {
            let sampling = self.sampling.with_params(&request.params);
            let grammar = if sampling.grammar {
                read_prompt(&request.messages).map(|view| match request.response_format {
                    ResponseFormat::Text => grammar::chat_grammar(&view.outputs),
                    ResponseFormat::JsonObject => grammar::json_grammar(&view.outputs),
                })
            } else {
                None
            };
            let job = Job {
                messages: request
                    .messages
                    .iter()
                    .map(|m| (m.role.clone(), m.content.clone()))
                    .collect(),
                max_tokens: request.max_tokens.unwrap_or(self.max_tokens),
                temperature: request.temperature.max(0.0) as f32,
                seed: request_seed(request.seed, request.rollout_id),
                sampling,
                grammar,
                stop: (request.response_format == ResponseFormat::Text).then_some(COMPLETED_MARKER),
            };
            let reply = self.engine.submit(job).map_err(|e| self.fatal(e))?;
            let out = reply
                .await
                .map_err(|_| self.fatal("the local model worker stopped".into()))?
                .map_err(|e| self.fatal(e))?;
            tracing::trace!(
                model = %self.name,
                prompt = out.prompt_tokens,
                reused = out.reused_tokens,
                completion = out.completion_tokens,
                "local completion"
            );
            Ok(Response {
                text: out.text,
                usage: Usage {
                    prompt_tokens: out.prompt_tokens,
                    completion_tokens: out.completion_tokens,
                },
                cached: false,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_seed_is_stable_and_separates_rollouts() {
        assert_eq!(
            request_seed(Some(7), Some(1)),
            request_seed(Some(7), Some(1))
        );
        let seeds: std::collections::BTreeSet<u32> =
            (0..64).map(|r| request_seed(Some(7), Some(r))).collect();
        assert_eq!(seeds.len(), 64);
        assert_ne!(request_seed(Some(1), None), request_seed(Some(2), None));
        assert_ne!(request_seed(None, Some(1)), request_seed(Some(1), None));
    }

    #[cfg(not(feature = "local"))]
    #[test]
    fn without_the_feature_the_error_says_how_to_build() {
        let mut decl = ModelDecl::new("small", crate::ir::Provider::Local);
        decl.extra
            .insert("path".into(), serde_json::json!("m.gguf"));
        let e = provider(&decl, Path::new("/"))
            .err()
            .expect("a local item fails without the feature")
            .to_string();
        assert!(e.contains("model `small`"), "{e}");
        assert!(
            e.contains("built without the `local` feature: cargo build --release --features local"),
            "{e}"
        );
    }
}
