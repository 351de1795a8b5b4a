//! Diagnostics: errors and warnings with a source span, rendered by miette.

use super::ast::Span;
use super::line_index::{IndexedSource, LineIndex};
use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, SourceCode};
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
    files: Vec<SourceFile>,
}

/// One named text, with its line starts (so rendering a diagnostic does not
/// rescan the text from the top).
#[derive(Debug, Clone)]
struct SourceFile {
    name: String,
    text: String,
    lines: LineIndex,
}

impl SourceFile {
    fn new(name: String, text: String) -> Self {
        let lines = LineIndex::new(&text);
        SourceFile { name, text, lines }
    }
}

impl Sources {
    /// Sources holding only the spec file `name` with its `text` (index 0).
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> Self {
        Sources {
            files: vec![SourceFile::new(name.into(), text.into())],
        }
    }
    /// Adds a source and returns its index.
    pub fn push(&mut self, name: impl Into<String>, text: impl Into<String>) -> u16 {
        self.files.push(SourceFile::new(name.into(), text.into()));
        (self.files.len() - 1) as u16
    }
    fn get(&self, src: u16) -> IndexedSource<'_> {
        let f = self
            .files
            .get(src as usize)
            .or(self.files.first())
            .expect("sources is never empty");
        IndexedSource {
            name: &f.name,
            text: &f.text,
            lines: &f.lines,
        }
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
    let source = sources.get(diag.span.src);
    let rendered = Rendered {
        diag,
        len: source.text.len(),
        source,
    };
    if rendered.too_wide() {
        return rendered.without_snippet(style);
    }
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
    source: IndexedSource<'a>,
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

/// The furthest column (in bytes from the line start) a label is drawn at:
/// miette pads to a label's column with a format width, which panics past
/// 65,535 (a tab counts up to 4 columns, hence the margin).
const MAX_LABEL_COLUMN: usize = 16_000;

impl Rendered<'_> {
    fn clamp(&self, span: Span) -> (usize, usize) {
        let start = span.start.min(self.len);
        let end = span.end.clamp(start, self.len);
        (start, end - start)
    }

    /// Whether a label sits too far along its line to be drawn under it.
    fn too_wide(&self) -> bool {
        let src = self.diag.span.src;
        let spans = std::iter::once(self.diag.span)
            .chain(self.diag.related.iter().map(|(s, _)| *s))
            .filter(|s| s.src == src);
        spans.into_iter().any(|span| {
            let (start, len) = self.clamp(span);
            let column = |at| self.source.lines.column_of(at);
            column(start).max(column(start + len)) > MAX_LABEL_COLUMN
        })
    }

    /// The diagnostic with its position instead of the source line (for a
    /// spot far along a very long line).
    fn without_snippet(&self, style: Style) -> String {
        let d = self.diag;
        let mark = match (d.severity, style) {
            (Severity::Error, Style::Plain) => "x",
            (Severity::Warning, Style::Plain) => "!",
            (Severity::Error, Style::Fancy) => "×",
            (Severity::Warning, Style::Fancy) => "⚠",
        };
        let (start, _) = self.clamp(d.span);
        let lines = self.source.lines;
        let mut out = format!(
            "  {mark} {}
    at {}:{}:{}",
            d.message,
            self.source.name,
            lines.line_of(start) + 1,
            lines.column_of(start) + 1
        );
        if let Some(label) = &d.label {
            out.push_str(&format!(": {label}"));
        }
        out.push_str(" (the line is too long to show)\n");
        if let Some(help) = &d.help {
            out.push_str(&format!("  help: {help}\n"));
        }
        out
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spot_far_along_a_long_line_is_given_by_position() {
        let text = format!("metric m = {}oops\n", "1 + ".repeat(10_000));
        let at = text.find("oops").unwrap();
        let sources = Sources::new("long.simba", text);
        let d = Diagnostic::error(Span::new(at, at + 4), "unknown name")
            .label("here")
            .help("fix it");
        let out = render(&d, &sources, Style::Plain);
        assert_eq!(
            out,
            format!(
                "  x unknown name\n    at long.simba:1:{}: here (the line is too long to show)\n  help: fix it\n",
                at + 1
            )
        );
    }

    #[test]
    fn a_spot_near_the_start_of_a_long_line_is_drawn() {
        let text = format!("metric m = oops {}\n", "1 + ".repeat(10_000));
        let sources = Sources::new("long.simba", text);
        let d = Diagnostic::error(Span::new(11, 15), "unknown name").label("here");
        let out = render(&d, &sources, Style::Plain);
        assert!(out.contains("[long.simba:1:12]"), "{}", &out[..200]);
    }
}
