//! Builds a spec's model registry from the built-in providers: `openai`
//! (HTTP, in [`crate::lm`]), `sim` (the offline model, [`crate::sim`]) and
//! `local` (llama.cpp in-process, [`crate::local`]). It sits above all three
//! so that the LM layer itself never depends on a provider that reads the
//! adapter's prompts. Plugin models are added by the plugin host
//! (`crate::plugin::build_models`), which calls [`builtin_provider`] for
//! every other item.

use indexmap::IndexMap;
use std::path::Path;
use std::sync::Arc;

use crate::ir::{ModelDecl, Provider, Spec};
use crate::lm::openai::OpenAiProvider;
use crate::lm::{Lm, ModelError, Models, ModelsOptions};
use crate::sim::SimModel;
use crate::value::Example;

/// Every model of a spec: `openai` models talk HTTP, `sim` models answer
/// from their oracle dataset (looked up by name in `oracles`), `local`
/// models load their GGUF file (feature `local`). A plugin model item is an
/// error here: only the plugin host can serve it.
pub fn from_spec(
    spec: &Spec,
    oracles: &IndexMap<String, Vec<Example>>,
    options: ModelsOptions,
) -> Result<Models, ModelError> {
    Models::from_spec_with(spec, options, |decl| {
        builtin_provider(decl, oracles, &spec.base_dir)
    })
}

/// The unwrapped provider of a built-in model item (`openai`, `sim`,
/// `local`). `base_dir` is the spec's folder: a local model's relative
/// `path` resolves against it.
pub fn builtin_provider(
    decl: &ModelDecl,
    oracles: &IndexMap<String, Vec<Example>>,
    base_dir: &Path,
) -> Result<Arc<dyn Lm>, ModelError> {
    match &decl.provider {
        Provider::OpenAi => Ok(Arc::new(OpenAiProvider::new(decl)?)),
        Provider::Sim => {
            let oracle = match &decl.oracle {
                Some(dataset) => oracles
                    .get(dataset)
                    .ok_or_else(|| ModelError::MissingOracle {
                        model: decl.name.clone(),
                        dataset: dataset.clone(),
                    })?
                    .clone(),
                None => Vec::new(),
            };
            Ok(Arc::new(SimModel::new(decl, oracle)))
        }
        // Without the `local` feature: an error naming the build command.
        Provider::Local => crate::local::provider(decl, base_dir),
        Provider::Plugin { plugin, item } => Err(ModelError::Unsupported {
            model: decl.name.clone(),
            message: format!(
                "plugin model `{plugin}.{item}` needs the plugin host, which this build \
                 does not load models from"
            ),
        }),
    }
}
