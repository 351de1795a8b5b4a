//! One optimize block of a project: everything the engine needs built from
//! the spec (plugins, models, strategies, data, the checkpoint to resume
//! from), and the artifacts written once it returns.

use indexmap::IndexMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{Error, OutputLock, Project};
use crate::ir::OptimizeDecl;
use crate::lm::ModelSet;
use crate::lm::cache::ResponseCache;
use crate::optimize::checkpoint::{
    CHECKPOINT_JSON, Checkpoint, Fingerprint, file_sink, plugins_used,
};
use crate::optimize::runtime::{load_data, prepare_with_code};
use crate::optimize::{EventSink, OptimizeInput, OptimizeOutput, RunOptions};
use crate::plugin::{PluginHost, code_items, resolve_strategies};
use crate::report::ReportError;
use crate::retrieve::Corpora;
use crate::value::Example;

/// Where and how one block runs.
#[derive(Debug, Clone)]
pub struct RunSetup {
    /// The output folder (artifacts and checkpoint).
    pub out_dir: PathBuf,
    /// Bypass the LM response cache.
    pub no_cache: bool,
    /// Continue from the output folder's checkpoint.
    pub resume: bool,
}

/// An optimization ready to start.
pub struct BlockRun {
    /// What the engine optimizes with.
    pub input: OptimizeInput,
    /// Checkpointing, resume state and prices.
    pub options: RunOptions,
    /// The plugin host. Keep it alive until the engine has returned: plugin
    /// libraries are never unloaded while their strategies or models may be
    /// called.
    pub plugins: PluginHost,
    /// The output folder's lock. Keep it until the artifacts are written.
    pub lock: OutputLock,
    /// The LM response cache (when a model uses one): flush it with
    /// [`flush_cache`] before the artifacts are written.
    pub cache: Option<Arc<ResponseCache>>,
    /// Problems found opening the cache, already in the run's warnings;
    /// for the caller to show.
    pub cache_warnings: Vec<String>,
    /// The corpora the program searches: their usage goes into run.json
    /// (`OptimizeOutput::run.search`) once the engine returns.
    pub corpora: Arc<Corpora>,
}

impl Project {
    /// Builds everything block `decl` runs with; engine events go to `events`.
    pub fn prepare_block(
        &self,
        decl: &OptimizeDecl,
        oracles: &IndexMap<String, Vec<Example>>,
        setup: &RunSetup,
        events: EventSink,
    ) -> Result<BlockRun, Error> {
        // Before anything is built or called: a folder that cannot take the
        // artifacts, or that another run is writing, fails the run now.
        let lock = OutputLock::acquire(&setup.out_dir)?;
        let cache_dir = if setup.no_cache {
            None
        } else {
            decl.cache.clone()
        };
        let plugins = self.plugins()?;
        let mut models = self.models(oracles, &plugins, cache_dir)?;
        if self.searches_remote(&decl.program) {
            models.open_cache();
        }
        let cache = models.cache();
        // A local corpus keeps its index in the block's cache folder even
        // with --no-cache, which concerns the response cache only.
        let corpora = Arc::new(self.corpora(&decl.program, decl.cache.clone(), cache.clone())?);
        let cache_warnings = take_warnings(cache.as_deref());
        let mut warnings = self.warnings.clone();
        warnings.extend(cache_warnings.iter().cloned());
        let book = models.usage_book();
        let models: Arc<dyn ModelSet> = Arc::new(models);
        let strategies = resolve_strategies(&decl.strategies, &plugins)?;
        let code = code_items(&plugins, &self.spec, &decl.program, &decl.metric)?;
        let data = load_data(&self.spec, decl)?;
        let mut input = prepare_with_code(
            &self.spec,
            decl,
            models,
            corpora.clone(),
            code,
            strategies,
            data,
            (events, warnings),
        )?;
        input.usage.set_book(book);
        // run.json's `config.output` records the folder actually written
        // (`--out` replaces the spec's `output`).
        input.decl.output =
            std::path::absolute(&setup.out_dir).unwrap_or_else(|_| setup.out_dir.clone());
        let resume = if setup.resume {
            let checkpoint = Checkpoint::load(&setup.out_dir)?;
            checkpoint.check_matches(decl, &setup.out_dir)?;
            Some(checkpoint)
        } else {
            None
        };
        let options = RunOptions {
            checkpoint: Some(file_sink(setup.out_dir.clone())),
            resume,
            prices: self.prices(),
            fingerprint: self.fingerprint(decl, oracles, &plugins, &corpora)?,
        };
        Ok(BlockRun {
            input,
            options,
            plugins,
            lock,
            cache,
            cache_warnings,
            corpora,
        })
    }
}

/// The cache's warnings not yet reported.
fn take_warnings(cache: Option<&ResponseCache>) -> Vec<String> {
    cache.map(ResponseCache::take_warnings).unwrap_or_default()
}

/// Commits everything the cache has queued (before the artifacts say the
/// run is done) and returns the problems met since they were last taken.
pub fn flush_cache(cache: Option<&ResponseCache>) -> Vec<String> {
    if let Some(cache) = cache {
        cache.flush();
    }
    take_warnings(cache)
}

impl Project {
    /// Hashes of what block `decl` uses beyond its program and data (which
    /// the engine hashes): the metric, the models with their oracle rows,
    /// the corpora it searches, and each plugin it uses (manifest and
    /// library bytes).
    fn fingerprint(
        &self,
        decl: &OptimizeDecl,
        oracles: &IndexMap<String, Vec<Example>>,
        plugins: &PluginHost,
        corpora: &Corpora,
    ) -> Result<Fingerprint, Error> {
        let mut fingerprint = Fingerprint::of_block(&self.spec, decl, oracles);
        for name in corpora.names() {
            if let Some(identity) = corpora.identity(name) {
                fingerprint.add_corpus(name, identity);
            }
        }
        for name in plugins_used(&self.spec, decl) {
            let (Some(manifest), Some(path)) = (plugins.manifest(&name), plugins.path(&name))
            else {
                continue;
            };
            fingerprint.add_plugin(&name, manifest, path).map_err(|e| {
                Error::Run(format!(
                    "cannot read plugin `{name}` ({}) to fingerprint it: {e}",
                    path.display()
                ))
            })?;
        }
        Ok(fingerprint)
    }
}

/// Writes a finished run's artifacts into `out_dir` (all staged before the
/// first rename), removes the checkpoint (nothing is left to resume) and
/// draws report.html. The report is a view of the artifacts just written:
/// failing to draw it loses nothing, so its error is returned for the
/// caller to show as a warning rather than failing the run.
pub fn write_outputs(
    output: &OptimizeOutput,
    out_dir: &Path,
) -> Result<Option<ReportError>, Error> {
    output.write(out_dir)?;
    let _ = std::fs::remove_file(out_dir.join(CHECKPOINT_JSON));
    Ok(crate::report::write_report(out_dir).err())
}
