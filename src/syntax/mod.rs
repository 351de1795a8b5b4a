//! Spec text -> syntax tree (with spans), and back to text (the formatter).
//!
//! | file | job |
//! |---|---|
//! | `lex.rs` | comments, unterminated strings, string escapes and dedent |
//! | `parser.rs` | the pest grammar (`grammar/simba.pest`) -> [`ast::File`]; syntax errors in words |
//! | `ast.rs` | the tree |
//! | `diagnostic.rs` | errors and warnings with spans, rendered by miette |
//! | `nesting.rs` | the nesting limit (256 levels), checked on the raw text before pest |
//! | `line_index.rs` | line starts of a source, so rendering a diagnostic is not a scan of the file |
//! | `format.rs` | canonical layout (`simba-run fmt`), comments kept |

pub mod ast;
pub mod diagnostic;
pub mod format;
pub mod lex;
pub mod line_index;
pub mod nesting;
pub mod parser;

pub use ast::Span;
pub use diagnostic::{Diagnostic, Severity, Sources, Style};
pub use parser::{Parsed, parse};
