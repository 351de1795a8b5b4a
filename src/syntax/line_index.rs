//! A source text with its line starts computed once, read by miette.
//!
//! miette's own `SourceCode` for strings finds a span's line by scanning from
//! the start of the text, so rendering one diagnostic costs the whole file and
//! rendering every warning of a large spec is quadratic. [`IndexedSource`]
//! jumps to the right line with a binary search, then lets miette scan only a
//! window that starts at a line boundary: its answers (and so the rendered
//! text) are exactly those of the full scan, shifted.

use miette::{MietteError, MietteSpanContents, SourceCode, SourceSpan, SpanContents};

/// Byte offsets where the lines of a text start, by miette's rules: a line
/// ends at `\n`, `\r\n` or a lone `\r`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LineIndex {
    /// The offset of every line start after the first (which is 0).
    starts: Vec<usize>,
}

impl LineIndex {
    /// Indexes `text` in one pass.
    pub fn new(text: &str) -> Self {
        let bytes = text.as_bytes();
        let mut starts = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'\r' if bytes.get(i + 1) == Some(&b'\n') => {
                    starts.push(i + 2);
                    i += 2;
                }
                b'\r' | b'\n' => {
                    starts.push(i + 1);
                    i += 1;
                }
                _ => i += 1,
            }
        }
        LineIndex { starts }
    }

    /// The 0-based line holding byte `offset` (a line break belongs to the
    /// line it ends).
    pub fn line_of(&self, offset: usize) -> usize {
        self.starts.partition_point(|&s| s <= offset)
    }

    /// The 0-based byte column of `offset` in its line.
    pub fn column_of(&self, offset: usize) -> usize {
        offset - self.start_of(self.line_of(offset))
    }

    /// The byte offset where 0-based `line` starts.
    pub fn start_of(&self, line: usize) -> usize {
        match line {
            0 => 0,
            n => self.starts[n - 1],
        }
    }
}

/// A named text and its [`LineIndex`], as a miette source.
pub struct IndexedSource<'a> {
    /// The name shown in the `,-[name:line:col]` header.
    pub name: &'a str,
    /// The whole text.
    pub text: &'a str,
    /// Its line starts.
    pub lines: &'a LineIndex,
}

impl SourceCode for IndexedSource<'_> {
    fn read_span<'a>(
        &'a self,
        span: &SourceSpan,
        context_lines_before: usize,
        context_lines_after: usize,
    ) -> Result<Box<dyn SpanContents<'a> + 'a>, MietteError> {
        // The window opens at the first context line: miette's scan of it sees
        // the same lines before the span as a scan of the whole text would.
        // miette stops scanning at the span's last byte, which for an empty
        // span is the byte before it: the window must hold that byte too.
        // A span past the end (never made by `render`) gets the full scan.
        let (first, base) = if span.offset() <= self.text.len() {
            let last = match span.len() {
                0 => span.offset().saturating_sub(1),
                _ => span.offset(),
            };
            let line = self.lines.line_of(last);
            let first = line.saturating_sub(context_lines_before);
            (first, self.lines.start_of(first))
        } else {
            (0, 0)
        };
        let window = &self.text.as_bytes()[base..];
        let local = SourceSpan::new((span.offset() - base).into(), span.len());
        let inner = window.read_span(&local, context_lines_before, context_lines_after)?;
        Ok(Box::new(MietteSpanContents::new_named(
            self.name.to_string(),
            inner.data(),
            SourceSpan::new((inner.span().offset() + base).into(), inner.span().len()),
            inner.line() + first,
            inner.column(),
            inner.line_count() + first,
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every field miette reads from a span's contents, for comparison.
    fn fields(c: &dyn SpanContents<'_>) -> (Vec<u8>, usize, usize, usize, usize, usize) {
        (
            c.data().to_vec(),
            c.span().offset(),
            c.span().len(),
            c.line(),
            c.column(),
            c.line_count(),
        )
    }

    #[test]
    fn line_of_follows_miette_line_breaks() {
        let idx = LineIndex::new("ab\ncd\r\nef\rg");
        assert_eq!(idx.starts, vec![3, 7, 10]);
        assert_eq!(idx.line_of(0), 0);
        assert_eq!(idx.line_of(2), 0);
        assert_eq!(idx.line_of(3), 1);
        assert_eq!(idx.line_of(6), 1);
        assert_eq!(idx.line_of(7), 2);
        assert_eq!(idx.line_of(10), 3);
        assert_eq!(idx.start_of(0), 0);
        assert_eq!(idx.start_of(3), 10);
    }

    #[test]
    fn windowed_reads_equal_full_scans() {
        let text = "one\ntwo\r\n\nthree four\rfive\n  six\n\r\nseven\n\n\r\rx";
        let lines = LineIndex::new(text);
        let src = IndexedSource {
            name: "t",
            text,
            lines: &lines,
        };
        for start in 0..=text.len() {
            for len in 0..=(text.len() - start).min(12) {
                for ctx in 0..4 {
                    let span = SourceSpan::new(start.into(), len);
                    let want = text.read_span(&span, ctx, ctx);
                    let got = src.read_span(&span, ctx, ctx);
                    match (want, got) {
                        (Ok(w), Ok(g)) => assert_eq!(
                            fields(g.as_ref()),
                            fields(w.as_ref()),
                            "span {start}+{len}, context {ctx}"
                        ),
                        (w, g) => assert_eq!(w.is_ok(), g.is_ok(), "span {start}+{len}"),
                    }
                }
            }
        }
    }
}
