//! The library's entry point: a spec loaded with its project layers
//! (simba.toml `[defaults]`, `--set`, `--seed`), and what every command
//! builds from it (data, plugins, models, a prepared optimization, an eval).
//! Every subcommand starts from [`Project::load`], so `check`, `graph`,
//! `eval` and a run all see the same spec.
//!
//! | file | job |
//! |---|---|
//! | `error.rs` | [`Error`]: every failure, with its exit code |
//! | `run.rs` | one optimize block: models, strategies, data, checkpoints, artifacts |
//! | `lock.rs` | the output folder, checked and locked before the first LM call |
//! | `dry_run.rs` | `--dry-run`: LM calls (and cost) a block implies |
//! | `eval.rs` | `eval`: a program scored over one split |

mod dry_run;
mod error;
mod eval;
mod lock;
mod run;

pub use dry_run::{DryRun, dry_run};
pub use error::{Error, exit};
pub use eval::{EvalOptions, EvalReport, Outcome, evaluate};
pub use lock::{LOCK_FILE, OutputLock};
pub use run::{BlockRun, RunSetup, flush_cache, write_outputs};

use indexmap::IndexMap;
use std::path::{Path, PathBuf};

use crate::compile::{Layers, Override, load_layered};
use crate::config::{Price, ProjectConfig};
use crate::ir::{CorpusSource, OptimizeDecl, Spec};
use crate::lm::Models;
use crate::lm::ModelsOptions;
use crate::lm::cache::ResponseCache;
use crate::lm::retry::Backoff;
use crate::plugin::PluginHost;
use crate::retrieve::{Corpora, CorporaOptions, corpora_used};
use crate::value::Example;
use std::sync::Arc;

/// How a spec is loaded: the layers above its own text.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// `--set` overrides, in command-line order.
    pub overrides: Vec<Override>,
    /// `--seed`: replaces every optimize block's seed.
    pub seed: Option<u64>,
}

impl LoadOptions {
    /// Parses `--set K=V` arguments (a malformed one is a usage error).
    pub fn with_sets(sets: &[String], seed: Option<u64>) -> Result<Self, Error> {
        let overrides = sets
            .iter()
            .map(|s| s.parse::<Override>())
            .collect::<Result<_, _>>()
            .map_err(Error::Usage)?;
        Ok(LoadOptions { overrides, seed })
    }
}

/// A compiled spec with its project configuration.
#[derive(Debug, Clone)]
pub struct Project {
    /// The compiled spec (defaults, overrides and seed applied).
    pub spec: Spec,
    /// The spec's text.
    pub source: String,
    /// The simba.toml above the spec (empty when there is none).
    pub config: ProjectConfig,
    /// Rendered compile warnings.
    pub warnings: Vec<String>,
}

impl Project {
    /// Reads the spec at `path` and the nearest simba.toml above it, and
    /// compiles the spec with simba.toml's `[defaults]` below its own values
    /// and `options` above them.
    pub fn load(path: &Path, options: &LoadOptions) -> Result<Project, Error> {
        let config = ProjectConfig::for_spec(path)?;
        // Tool steps are typed by their plugins' manifests: read them first.
        let tools = match std::fs::read_to_string(path) {
            Ok(text) => crate::plugin::tool_table(path, &text, &config.plugin_search_path),
            Err(_) => Default::default(),
        };
        let layers = Layers {
            tools: Some(&tools),
            config: Some(&config),
            overrides: &options.overrides,
            seed: options.seed,
        };
        let loaded = load_layered(path, &layers)?;
        Ok(Project {
            spec: loaded.spec,
            source: loaded.source,
            config,
            warnings: loaded.warnings,
        })
    }

    /// A project around a spec built in code: no spec file text, no
    /// simba.toml.
    pub fn from_spec(spec: Spec) -> Project {
        Project {
            spec,
            source: String::new(),
            config: ProjectConfig::default(),
            warnings: Vec::new(),
        }
    }

    /// The optimize blocks to run: all, or the one `only` names.
    pub fn blocks(&self, only: Option<&str>) -> Result<Vec<OptimizeDecl>, Error> {
        let spec = &self.spec;
        if spec.optimizes.is_empty() {
            return Err(Error::Input(format!(
                "{} has no `optimize` block: nothing to run",
                spec.path.display()
            )));
        }
        let Some(name) = only else {
            return Ok(spec.optimizes.clone());
        };
        let found: Vec<OptimizeDecl> = spec
            .optimizes
            .iter()
            .filter(|o| o.program == name)
            .cloned()
            .collect();
        if found.is_empty() {
            return Err(Error::Input(format!(
                "--only {name}: no optimize block for `{name}` (the spec optimizes: {})",
                self.block_names()
            )));
        }
        Ok(found)
    }

    /// One optimize block: the one `only` names, else the first (for
    /// commands that need one block's dataset and metric).
    pub fn block(&self, only: Option<&str>) -> Result<&OptimizeDecl, Error> {
        let spec = &self.spec;
        match only {
            Some(name) => spec
                .optimizes
                .iter()
                .find(|o| o.program == name)
                .ok_or_else(|| {
                    Error::Input(format!(
                        "--only {name}: no optimize block for that program (there are: {})",
                        self.block_names()
                    ))
                }),
            None => spec.optimizes.first().ok_or_else(|| {
                Error::Input(
                    "eval needs an `optimize` block: it names the dataset and the metric".into(),
                )
            }),
        }
    }

    fn block_names(&self) -> String {
        let names: Vec<&str> = self
            .spec
            .optimizes
            .iter()
            .map(|o| o.program.as_str())
            .collect();
        names.join(", ")
    }

    /// Prices by model item name, from simba.toml's prices by model id.
    pub fn prices(&self) -> IndexMap<String, Price> {
        self.spec
            .models
            .values()
            .filter_map(|m| self.config.price(&m.model).map(|p| (m.name.clone(), p)))
            .collect()
    }

    /// `stop.max_cost` needs a price for every model: an error naming the
    /// models without one.
    pub fn check_prices(&self, decl: &OptimizeDecl) -> Result<(), Error> {
        if decl.stop.max_cost.is_none() {
            return Ok(());
        }
        let prices = self.prices();
        let unpriced: Vec<String> = self
            .spec
            .models
            .values()
            .filter(|m| !prices.contains_key(&m.name))
            .map(|m| format!("`{}` (model id \"{}\")", m.name, m.model))
            .collect();
        if unpriced.is_empty() {
            return Ok(());
        }
        Err(Error::Input(format!(
            "optimize `{}`: stop.max_cost needs a price for every model; add [prices.\"MODEL-ID\"] input/output (USD per million tokens) to {} for {}",
            decl.program,
            self.config.path.as_ref().map_or_else(
                || "a simba.toml beside the spec".to_string(),
                |p| p.display().to_string()
            ),
            unpriced.join(", ")
        )))
    }

    /// The oracle rows of every `sim` model, by dataset name.
    pub fn oracles(&self) -> Result<IndexMap<String, Vec<Example>>, Error> {
        Ok(crate::optimize::runtime::oracles(&self.spec)?)
    }

    /// Loads every plugin the spec declares (beside the spec, then in
    /// simba.toml's `[plugins] search_path`). Keep the host alive while
    /// anything it provides may be called.
    pub fn plugins(&self) -> Result<PluginHost, Error> {
        let host = crate::plugin::load_plugins(&self.spec, &self.config.plugin_search_path)?;
        Ok(match self.config.plugin_call_timeout {
            Some(t) => host.with_call_timeout(t),
            None => host,
        })
    }

    /// The corpora program `program`'s `search` steps call. A local
    /// corpus's index lives in its `index` folder, else under `cache_root`
    /// (the block's cache folder; `None`: built in memory); a remote one
    /// caches its searches in `cache` and retries with the backoff from the
    /// environment when set.
    pub fn corpora(
        &self,
        program: &str,
        cache_root: Option<PathBuf>,
        cache: Option<Arc<ResponseCache>>,
    ) -> Result<Corpora, Error> {
        let Some(graph) = self.spec.programs.get(program) else {
            return Ok(Corpora::empty());
        };
        let backoff = Backoff::from_env()
            .map_err(Error::Input)?
            .unwrap_or_default();
        let options = CorporaOptions {
            index_root: cache_root,
            cache,
            backoff,
        };
        Corpora::build(&self.spec, &corpora_used(graph), &options)
            .map_err(|e| Error::Input(e.to_string()))
    }

    /// Whether program `program` searches a remote corpus (whose searches
    /// the response cache keeps).
    pub fn searches_remote(&self, program: &str) -> bool {
        self.spec.programs.get(program).is_some_and(|g| {
            corpora_used(g).iter().any(|c| {
                matches!(
                    self.spec.corpora.get(c).map(|d| &d.source),
                    Some(CorpusSource::Remote(_))
                )
            })
        })
    }

    /// Every model of the spec, wrapped in its layers; plugin models served
    /// by `plugins`; the retry backoff from the environment when set.
    pub fn models(
        &self,
        oracles: &IndexMap<String, Vec<Example>>,
        plugins: &PluginHost,
        cache_dir: Option<PathBuf>,
    ) -> Result<Models, Error> {
        let options = ModelsOptions { cache_dir };
        let mut models = crate::plugin::build_models(&self.spec, oracles, options, plugins)?;
        if let Some(backoff) = Backoff::from_env().map_err(Error::Input)? {
            models.set_backoff(backoff);
        }
        Ok(models)
    }
}
