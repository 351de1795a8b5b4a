//! Invalid specs in `tests/ui/`, one per kind of error, each with a snapshot
//! of its rendered diagnostics (plain theme: no colour, fixed width).

use simba_run::compile::{Style, compile_source, sources_for};
use simba_run::syntax::diagnostic::render_all;

#[test]
fn every_invalid_spec_reports_its_error() {
    insta::glob!("ui/*.simba", |path| {
        let src = std::fs::read_to_string(path).unwrap();
        let name = format!("ui/{}", path.file_name().unwrap().to_string_lossy());
        let shown = std::path::Path::new(&name);
        let diags = match compile_source(shown, &src, &[]) {
            Ok((_, warnings)) => {
                panic!("{name} compiled, but every ui spec must fail; warnings: {warnings:?}")
            }
            Err(d) => d,
        };
        assert!(
            diags.iter().any(|d| d.is_error()),
            "{name}: no error among {diags:?}"
        );
        let rendered = render_all(&diags, &sources_for(shown, &src, &[]), Style::Plain);
        insta::assert_snapshot!(rendered);
    });
}
