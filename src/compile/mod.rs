//! AST -> [`crate::ir::Spec`]: name resolution, type checks, program graphs,
//! defaults, and diagnostics for everything wrong in a spec, all at once.
//!
//! | file | job |
//! |---|---|
//! | `values.rs` | typed settings out of AST values |
//! | `defaults.rs` | simba.toml `[defaults]` layered under optimize blocks |
//! | `overrides.rs` | `--set K=V` applied to optimize blocks |
//! | `names.rs` | help texts naming the spec's items, bounded for specs with thousands of names |
//! | `model.rs`, `dataset.rs`, `corpus.rs`, `signature.rs`, `program.rs`, `metric.rs`, `optimize.rs` | one lowering per item kind |

mod code_metric;
mod command_preflight;
mod corpus;
mod dataset;
mod defaults;
mod metric;
mod metric_range;
mod model;
mod names;
mod optimize;
mod overrides;
mod plugin_config;
mod program;
mod signature;
pub mod values;

pub use crate::syntax::diagnostic::{Diagnostic, Severity, Sources, Style};
/// The keys an optimize block and its `stop { }` block accept.
pub use metric_range::metric_bounds;
pub use optimize::{KEYS as OPTIMIZE_KEYS, STOP_KEYS};
pub use plugin_config::{ConfigKeySpec, ConfigType};

use crate::config::ProjectConfig;
use crate::ir::{PluginDecl, Spec};
use crate::syntax::ast::{File, Ident, Item, Span};
use crate::syntax::diagnostic::render_all;
use indexmap::IndexMap;
use names::{Suggester, listing};
use std::path::{Path, PathBuf};
use values::Diags;

/// A `--set KEY=VALUE` override of an optimize setting.
///
/// `KEY` is `PROGRAM.key`, `PROGRAM.stop.key`, or a bare `key` / `stop.key`
/// that applies to every optimize block; `VALUE` is written as in a spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Override {
    /// The setting to replace, trimmed: `PROGRAM.key`, `PROGRAM.stop.key`,
    /// `key` or `stop.key`.
    pub key: String,
    /// Everything after the first `=`, untrimmed, parsed later as spec syntax.
    pub value: String,
}

impl std::str::FromStr for Override {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => Ok(Override {
                key: k.trim().to_string(),
                value: v.to_string(),
            }),
            Some(_) => Err(format!(
                "`--set {s}`: the key before `=` is empty (expected KEY=VALUE, e.g. qa.max_steps=4)"
            )),
            None => Err(format!(
                "`--set {s}`: expected KEY=VALUE, e.g. qa.max_steps=4 (no `=` found)"
            )),
        }
    }
}

impl Override {
    /// The argument as the user wrote it: the text diagnostics point into.
    pub fn text(&self) -> String {
        format!("{}={}", self.key, self.value)
    }
}

/// What a spec is compiled with besides its own text, lowest first: the
/// project's simba.toml `[defaults]` (only where a block is silent), then
/// the `--set` overrides (which replace spec values and defaults alike).
#[derive(Debug, Clone, Copy, Default)]
pub struct Layers<'a> {
    /// The simba.toml above the spec, if any.
    pub config: Option<&'a ProjectConfig>,
    /// `--set` overrides, in command-line order.
    pub overrides: &'a [Override],
    /// Replaces every optimize block's seed (`--seed`).
    pub seed: Option<u64>,
    /// The tools of the spec's plugins, for typing tool steps (without it a
    /// tool step is an error: its fields are unknown).
    pub tools: Option<&'a ToolTable>,
}

/// A plugin tool's fields as its manifest declares them: `(name, type)`,
/// the type as a spec writes it (`string`, `list<string>`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ToolFields {
    /// The inputs a step binds.
    pub inputs: Vec<(String, String)>,
    /// The outputs later steps read.
    pub outputs: Vec<(String, String)>,
}

/// What the compiler knows of the spec's plugin tools, read from the
/// plugins' manifests before compiling (the compiler loads no library).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ToolTable {
    /// Fields by `(plugin, tool)`.
    pub tools: IndexMap<(String, String), ToolFields>,
    /// Plugins whose manifest was read.
    pub loaded: Vec<String>,
    /// Plugins that did not load, with why.
    pub failed: IndexMap<String, String>,
    /// Declared config keys by `(plugin, kind, item)`, kind being
    /// `strategy`, `tool` or `metric`; an item absent here is unchecked.
    pub config_keys: IndexMap<(String, String, String), Vec<ConfigKeySpec>>,
}

impl<'a> Layers<'a> {
    /// Only `--set` overrides (no simba.toml, no seed).
    pub fn overrides(overrides: &'a [Override]) -> Self {
        Layers {
            overrides,
            ..Layers::default()
        }
    }

    /// The diagnostic source index of the simba.toml (after the spec and
    /// every override).
    fn config_src(&self) -> u16 {
        (self.overrides.len() + 1) as u16
    }
}

/// A compiled spec with its source and rendered warnings.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The compiled spec, with `--seed` already applied.
    pub spec: Spec,
    /// The spec file's text as read (kept for reports and hashing).
    pub source: String,
    /// One rendered plain-text block per warning, in source order.
    pub warnings: Vec<String>,
}

/// Why a spec could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read as a spec: one line naming the path,
    /// without an `error:` prefix (the caller adds its own).
    #[error("{0}")]
    Io(String),
    /// The spec has errors; `rendered` holds every diagnostic.
    #[error("{rendered}")]
    Invalid {
        /// Every diagnostic (errors and warnings) rendered as plain text.
        rendered: String,
        /// How many of those diagnostics are errors (warnings not counted).
        count: usize,
    },
}

/// Reads `path` as UTF-8 spec text, with a one-line error naming the path.
pub fn read_spec(path: &Path) -> Result<String, LoadError> {
    let shown = path.display();
    if path.is_dir() {
        return Err(LoadError::Io(format!(
            "{shown} is a directory, not a .simba spec file"
        )));
    }
    let bytes = std::fs::read(path).map_err(|e| {
        let why = match e.kind() {
            std::io::ErrorKind::NotFound => "no such file".to_string(),
            std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
            _ => e.to_string(),
        };
        LoadError::Io(format!("cannot read {shown}: {why}"))
    })?;
    let text = String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let line = e.as_bytes()[..at].iter().filter(|b| **b == b'\n').count() + 1;
        LoadError::Io(format!(
            "{shown} is not valid UTF-8 (line {line}, byte {at})"
        ))
    })?;
    if text.trim().is_empty() {
        return Err(LoadError::Io(format!(
            "{shown} is empty: a spec declares at least a model and a program"
        )));
    }
    Ok(text)
}

/// The sources diagnostics of `compile_source` point into.
pub fn sources_for(path: &Path, source: &str, overrides: &[Override]) -> Sources {
    sources_for_layers(path, source, &Layers::overrides(overrides))
}

/// The sources diagnostics of [`compile_layered`] point into: the spec,
/// each `--set` (`--set #1`, `--set #2`, ... in command-line order), then
/// the simba.toml.
pub fn sources_for_layers(path: &Path, source: &str, layers: &Layers) -> Sources {
    let mut s = Sources::new(path.display().to_string(), source);
    // Numbered so that with several `--set`s an error names the one it is in.
    for (i, o) in layers.overrides.iter().enumerate() {
        s.push(format!("--set #{}", i + 1), o.text());
    }
    if let Some(config) = layers.config {
        let name = config.path.as_ref().map_or_else(
            || crate::config::FILE_NAME.to_string(),
            |p| p.display().to_string(),
        );
        s.push(name, config.text.as_str());
    }
    s
}

/// Reads, parses and compiles a spec; `seed` replaces every optimize block's seed.
pub fn load_spec(
    path: &Path,
    overrides: &[Override],
    seed: Option<u64>,
) -> Result<Loaded, LoadError> {
    load_layered(
        path,
        &Layers {
            config: None,
            overrides,
            seed,
            tools: None,
        },
    )
}

/// Reads, parses and compiles a spec with its layers (simba.toml defaults,
/// `--set`, `--seed`).
pub fn load_layered(path: &Path, layers: &Layers) -> Result<Loaded, LoadError> {
    let source = read_spec(path)?;
    let sources = sources_for_layers(path, &source, layers);
    match compile_layered(path, &source, layers) {
        Ok((mut spec, warnings)) => {
            if let Some(seed) = layers.seed {
                for o in &mut spec.optimizes {
                    o.seed = seed;
                }
            }
            let warnings = warnings
                .iter()
                .map(|w| shown(render_all(std::slice::from_ref(w), &sources, Style::Plain)))
                .collect();
            Ok(Loaded {
                spec,
                source,
                warnings,
            })
        }
        Err(diags) => {
            let count = diags.iter().filter(|d| d.is_error()).count();
            Err(LoadError::Invalid {
                rendered: shown(render_all(&diags, &sources, Style::Plain)),
                count,
            })
        }
    }
}

/// Compiles spec text. `Ok` carries the warnings; `Err` every diagnostic
/// (errors and warnings, in source order).
pub fn compile_source(
    path: &Path,
    source: &str,
    overrides: &[Override],
) -> Result<(Spec, Vec<Diagnostic>), Vec<Diagnostic>> {
    compile_layered(path, source, &Layers::overrides(overrides))
}

/// Compiles spec text with its layers (see [`Layers`]); diagnostics point
/// into the sources of [`sources_for_layers`].
pub fn compile_layered(
    path: &Path,
    source: &str,
    layers: &Layers,
) -> Result<(Spec, Vec<Diagnostic>), Vec<Diagnostic>> {
    let parsed = crate::syntax::parse(source)?;
    compile_file(path, source, parsed.file, layers)
}

/// Compiles an already parsed file (see [`compile_layered`]).
pub fn compile_file(
    path: &Path,
    source: &str,
    mut file: File,
    layers: &Layers,
) -> Result<(Spec, Vec<Diagnostic>), Vec<Diagnostic>> {
    let mut ctx = Ctx::new(path, source);
    if let Some(tools) = layers.tools {
        ctx.tools = tools.clone();
    }
    if let Some(config) = layers.config {
        defaults::apply(&mut file, config, layers.config_src(), &mut ctx.d);
    }
    overrides::apply(&mut file, layers.overrides, &mut ctx.d);
    ctx.declare(&file);
    for item in &file.items {
        if let Item::Plugin(p) = item {
            let path = ctx.base_dir.join(&p.path.value);
            if p.path.value.trim().is_empty() {
                ctx.d.push(
                    Diagnostic::error(p.path.span, "a plugin path cannot be empty")
                        .label("empty path"),
                );
            }
            ctx.spec.plugins.insert(
                p.name.name.clone(),
                PluginDecl {
                    name: p.name.name.clone(),
                    path,
                },
            );
        }
    }
    for item in &file.items {
        if let Item::Dataset(d) = item {
            dataset::compile(&mut ctx, d);
        }
    }
    for item in &file.items {
        if let Item::Corpus(c) = item {
            corpus::compile(&mut ctx, c);
        }
    }
    for item in &file.items {
        if let Item::Signature(s) = item {
            signature::compile(&mut ctx, s);
        }
    }
    for item in &file.items {
        if let Item::Model(m) = item {
            model::compile(&mut ctx, m);
        }
    }
    for item in &file.items {
        if let Item::Program(p) = item {
            program::compile(&mut ctx, p);
        }
    }
    for item in &file.items {
        if let Item::Metric(m) = item {
            metric::compile(&mut ctx, m);
        }
    }
    let mut optimized: IndexMap<String, Span> = IndexMap::new();
    for item in &file.items {
        if let Item::Optimize(o) = item {
            if let Some(first) = optimized.get(&o.program.name) {
                ctx.d.push(
                    Diagnostic::error(
                        o.program.span,
                        format!("program `{}` is optimized twice", o.program.name),
                    )
                    .label("second optimize block")
                    .related(*first, "first optimize block")
                    .help("merge the two blocks; use `--set` to try other settings"),
                );
                continue;
            }
            optimized.insert(o.program.name.clone(), o.program.span);
            optimize::compile(&mut ctx, o);
        }
    }
    ctx.unused_warnings(&file);
    let mut diags = ctx.d.list;
    diags.sort_by_key(|d| (d.span.src, d.span.start, d.is_error()));
    if diags.iter().any(Diagnostic::is_error) {
        Err(diags)
    } else {
        Ok((ctx.spec, diags))
    }
}

/// The kinds of named items (one namespace).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Plugin,
    Model,
    Signature,
    Program,
    Dataset,
    Corpus,
    Metric,
}

impl Kind {
    /// How many kinds there are.
    const COUNT: usize = 7;

    fn noun(self) -> &'static str {
        match self {
            Kind::Plugin => "plugin",
            Kind::Model => "model",
            Kind::Signature => "signature",
            Kind::Program => "program",
            Kind::Dataset => "dataset",
            Kind::Corpus => "corpus",
            Kind::Metric => "metric",
        }
    }
    fn plural(self) -> String {
        match self {
            Kind::Corpus => "corpora".into(),
            _ => format!("{}s", self.noun()),
        }
    }
}

/// Compilation state: the spec being built and the diagnostics so far.
pub(crate) struct Ctx<'a> {
    pub d: Diags,
    pub source: &'a str,
    pub base_dir: PathBuf,
    pub spec: Spec,
    /// Every declared name, its kind and where.
    pub names: IndexMap<String, (Kind, Span)>,
    /// The declared names of each kind (indexed by `Kind as usize`), in order.
    by_kind: [Vec<String>; Kind::COUNT],
    /// "did you mean" suggestions, within one budget for the whole compile.
    pub suggest: Suggester,
    /// The whole item of each declared name (for `spec_text`).
    pub item_spans: IndexMap<String, Span>,
    /// Names referenced somewhere (for unused warnings).
    pub used: std::collections::BTreeSet<String>,
    /// For metrics: the `pred.x` fields they read, with spans (checked per optimize block).
    pub metric_pred_refs: IndexMap<String, Vec<(String, Span)>>,
    /// The plugin tools tool steps are typed by.
    pub tools: ToolTable,
}

impl<'a> Ctx<'a> {
    fn new(path: &Path, source: &'a str) -> Self {
        let base_dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        Ctx {
            d: Diags::default(),
            source,
            spec: Spec {
                path: path.to_path_buf(),
                base_dir: base_dir.clone(),
                plugins: IndexMap::new(),
                models: IndexMap::new(),
                signatures: IndexMap::new(),
                programs: IndexMap::new(),
                datasets: IndexMap::new(),
                metrics: IndexMap::new(),
                corpora: IndexMap::new(),
                optimizes: Vec::new(),
            },
            base_dir,
            names: IndexMap::new(),
            by_kind: Default::default(),
            suggest: Suggester::default(),
            item_spans: IndexMap::new(),
            used: Default::default(),
            metric_pred_refs: IndexMap::new(),
            tools: ToolTable::default(),
        }
    }

    /// Records every item name; duplicates are reported with both places.
    fn declare(&mut self, file: &File) {
        for item in &file.items {
            let kind = match item {
                Item::Plugin(_) => Kind::Plugin,
                Item::Model(_) => Kind::Model,
                Item::Signature(_) => Kind::Signature,
                Item::Program(_) => Kind::Program,
                Item::Dataset(_) => Kind::Dataset,
                Item::Corpus(_) => Kind::Corpus,
                Item::Metric(_) => Kind::Metric,
                Item::Optimize(_) => continue,
            };
            let name = item.name();
            if let Some((first_kind, first)) = self.names.get(&name.name) {
                let msg = if *first_kind == kind {
                    format!("{} `{}` is declared twice", kind.noun(), name.name)
                } else {
                    format!(
                        "`{}` is already the name of a {}",
                        name.name,
                        first_kind.noun()
                    )
                };
                self.d.push(
                    Diagnostic::error(name.span, msg)
                        .label("declared again here")
                        .related(*first, "first declared here")
                        .help("models, signatures, programs, datasets, corpora, metrics and plugins share one namespace; rename one"),
                );
            } else {
                self.names.insert(name.name.clone(), (kind, name.span));
                self.by_kind[kind as usize].push(name.name.clone());
                self.item_spans.insert(name.name.clone(), item.span());
            }
        }
    }

    /// Checks that `id` names an item of kind `want`; reports it otherwise.
    pub fn resolve(&mut self, id: &Ident, want: Kind) -> bool {
        self.used.insert(id.name.clone());
        match self.names.get(&id.name) {
            Some((k, _)) if *k == want => true,
            Some((k, at)) => {
                let at = *at;
                let k = *k;
                let others = self.names_of(want);
                let help = if others.is_empty() {
                    format!("the spec declares no {}", want.plural())
                } else {
                    format!(
                        "{}: {}",
                        want.plural(),
                        listing(others.iter().map(String::as_str))
                    )
                };
                self.d.push(
                    Diagnostic::error(
                        id.span,
                        format!("`{}` is a {}, not a {}", id.name, k.noun(), want.noun()),
                    )
                    .label(format!("expected a {}", want.noun()))
                    .related(at, format!("`{}` is declared here", id.name))
                    .help(help),
                );
                false
            }
            None => {
                let others = &self.by_kind[want as usize];
                let help = self
                    .suggest
                    .did_you_mean(&id.name, others.iter().map(String::as_str))
                    .unwrap_or_else(|| {
                        if others.is_empty() {
                            format!("the spec declares no {}", want.plural())
                        } else {
                            let list = listing(others.iter().map(String::as_str));
                            format!("declared {}: {list}", want.plural())
                        }
                    });
                self.d.push(
                    Diagnostic::error(id.span, format!("unknown {} `{}`", want.noun(), id.name))
                        .label("not declared")
                        .help(help),
                );
                false
            }
        }
    }

    /// The declared names of one kind, in declaration order.
    pub fn names_of(&self, kind: Kind) -> &[String] {
        &self.by_kind[kind as usize]
    }

    /// The source text of a span of the spec file.
    pub fn text(&self, span: Span) -> &str {
        self.source.get(span.start..span.end).unwrap_or("")
    }

    fn unused_warnings(&mut self, file: &File) {
        for item in &file.items {
            let what = match item {
                Item::Signature(_) => "signature",
                Item::Metric(_) => "metric",
                Item::Dataset(_) => "dataset",
                Item::Corpus(_) => "corpus",
                _ => continue,
            };
            let name = item.name();
            if !self.used.contains(&name.name) {
                self.d.push(
                    Diagnostic::warning(name.span, format!("{what} `{}` is never used", name.name))
                        .label("unused"),
                );
            }
        }
    }
}

/// A rendered diagnostic made safe to print: the source excerpt quotes the
/// spec's text, whose control characters (a title-setting `ESC ]`, a
/// screen-clearing `ESC [2J`, NUL) a terminal would obey.
fn shown(rendered: String) -> String {
    crate::printable::escape_controls(&rendered).into_owned()
}
