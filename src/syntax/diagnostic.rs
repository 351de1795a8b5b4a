//! Diagnostics: errors and warnings with a source span, rendered by miette.

use super::ast::Span;
use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, NamedSource, SourceCode};
use std::fmt;

/// How serious a [`Diagnostic`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// The spec cannot be used; compiling fails.
    Error,
    /// Worth fixing, but the spec still compiles and runs.
    Warning,
}

/// One problem in a spec (or a `--set` override), with where it is and how to fix it.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// The one-line headline, e.g. "unknown model `gpt`".
    pub message: String,
    /// Where the problem is; its `src` picks the text in [`Sources`].
    pub span: Span,
    /// Text under the caret.
    pub label: Option<String>,
    /// A hint on how to fix it, printed after the snippet.
    pub help: Option<String>,
    /// Other places that explain the problem (e.g. the first declaration of a duplicate).
    pub related: Vec<(Span, String)>,
}

impl Diagnostic {
    /// An error at `span`, with no label, help or related spans yet.
    pub fn error(span: Span, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            message: message.into(),
            span,
            label: None,
            help: None,
            related: Vec::new(),
        }
    }
    /// A warning at `span`, with no label, help or related spans yet.
    pub fn warning(span: Span, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(span, message)
        }
    }
    /// Sets the text under the caret.
    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }
    /// Sets the fix hint.
    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
    /// Adds help only when there is some.
    pub fn maybe_help(mut self, help: Option<String>) -> Self {
        if help.is_some() {
            self.help = help;
        }
        self
    }
    /// Adds a secondary place, e.g. "first declared here".
    pub fn related(mut self, span: Span, label: impl Into<String>) -> Self {
        self.related.push((span, label.into()));
        self
    }
    /// Whether this diagnostic stops the spec from compiling.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// The texts diagnostics point into: index 0 is the spec file, `n` the `n`-th override.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    files: Vec<(String, String)>,
}

impl Sources {
    /// Sources holding only the spec file `name` with its `text` (index 0).
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> Self {
        Sources {
            files: vec![(name.into(), text.into())],
        }
    }
    /// Adds a source and returns its index.
    pub fn push(&mut self, name: impl Into<String>, text: impl Into<String>) -> u16 {
        self.files.push((name.into(), text.into()));
        (self.files.len() - 1) as u16
    }
    fn get(&self, src: u16) -> (&str, &str) {
        let (n, t) = self
            .files
            .get(src as usize)
            .or(self.files.first())
            .expect("sources is never empty");
        (n, t)
    }
}

/// How diagnostics are drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// ASCII, no colour, fixed width: stable for snapshots and logs.
    Plain,
    /// Unicode and colour, for a terminal.
    Fancy,
}

/// Renders every diagnostic, one after another.
pub fn render_all(diags: &[Diagnostic], sources: &Sources, style: Style) -> String {
    let mut out = String::new();
    for d in diags {
        out.push_str(&render(d, sources, style));
    }
    out
}

/// Renders one diagnostic with its source line, caret and help.
pub fn render(diag: &Diagnostic, sources: &Sources, style: Style) -> String {
    let (name, text) = sources.get(diag.span.src);
    let rendered = Rendered {
        diag,
        source: NamedSource::new(name, text.to_string()),
        len: text.len(),
    };
    let theme = match style {
        Style::Plain => GraphicalTheme::none(),
        Style::Fancy => GraphicalTheme::unicode(),
    };
    let handler = GraphicalReportHandler::new_themed(theme)
        .with_width(100)
        .with_links(false);
    let mut out = String::new();
    if handler.render_report(&mut out, &rendered).is_err() {
        out = format!("error: {}\n", diag.message);
    }
    out
}

struct Rendered<'a> {
    diag: &'a Diagnostic,
    source: NamedSource<String>,
    len: usize,
}

impl fmt::Debug for Rendered<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.diag.message)
    }
}

impl fmt::Display for Rendered<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.diag.message)
    }
}

impl std::error::Error for Rendered<'_> {}

impl Rendered<'_> {
    fn clamp(&self, span: Span) -> (usize, usize) {
        let start = span.start.min(self.len);
        let end = span.end.clamp(start, self.len);
        (start, end - start)
    }
}

impl miette::Diagnostic for Rendered<'_> {
    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.diag.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }
    fn help<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        self.diag
            .help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }
    fn source_code(&self) -> Option<&dyn SourceCode> {
        Some(&self.source)
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let mut labels = Vec::new();
        let (s, l) = self.clamp(self.diag.span);
        labels.push(LabeledSpan::new_primary_with_span(
            self.diag.label.clone(),
            (s, l),
        ));
        for (span, text) in &self.diag.related {
            if span.src == self.diag.span.src {
                let (s, l) = self.clamp(*span);
                labels.push(LabeledSpan::new_with_span(Some(text.clone()), (s, l)));
            }
        }
        Some(Box::new(labels.into_iter()))
    }
}

/// The closest candidate to `word` (by edit distance), if close enough to be a likely typo.
pub fn suggest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let mut best: Option<(f64, &str)> = None;
    for c in candidates {
        let score = strsim::jaro_winkler(word, c);
        let close =
            score >= 0.8 || strsim::levenshtein(word, c) <= 2.min(word.len().saturating_sub(1));
        if close && best.is_none_or(|(b, _)| score > b) {
            best = Some((score, c));
        }
    }
    best.map(|(_, c)| c)
}

/// "did you mean `x`?" for the closest candidate, if any.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    suggest(word, candidates).map(|c| format!("did you mean `{c}`?"))
}
