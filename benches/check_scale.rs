//! `check` on generated specs of 10k and 50k items: parse, compile and render
//! every diagnostic, as `simba-run check` does (target: 50k items under 2 s).
//! Both a valid spec (one unused-signature warning per group) and one where
//! every program misspells its signature (an error with a suggestion each);
//! and a spec holding one 4 MB string value.

#[path = "../tests/spec_gen/mod.rs"]
mod spec_gen;

use criterion::{Criterion, criterion_group, criterion_main};
use simba_run::compile::{Style, compile_source, sources_for};
use simba_run::syntax::diagnostic::render_all;
use spec_gen::{GROUP_ITEMS, Refs, many_items};
use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

/// What `check` does with spec text: the bytes of rendered diagnostics.
fn check(src: &str) -> usize {
    let path = Path::new("bench.simba");
    let sources = sources_for(path, src, &[]);
    let diags = match compile_source(path, src, &[]) {
        Ok((_, warnings)) => warnings,
        Err(all) => all,
    };
    render_all(&diags, &sources, Style::Plain).len()
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("check");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    for items in [10_000, 50_000] {
        for (refs, what) in [(Refs::Valid, "valid"), (Refs::Typos, "typos")] {
            let src = many_items(items / GROUP_ITEMS, refs);
            eprintln!(
                "{what} spec of {items} items: {} MB, {} bytes of diagnostics",
                src.len() / 1_000_000,
                check(&src)
            );
            group.bench_function(format!("{what}_{}k_items", items / 1000), |b| {
                b.iter(|| check(black_box(&src)))
            });
        }
    }
    // One 4 MB string value, 100 lists deep, on one line (was 12 s in a
    // debug build: a rule call per character, and a rescan of the line per
    // enclosing pair).
    let big = format!(
        "model big {{ provider = openai  model = \"x\"  params {{ x = {}\"{}\"{} }} }}\n",
        "[".repeat(100),
        "ab#\\\"c ".repeat(500_000),
        "]".repeat(100),
    );
    group.bench_function("string_4mb", |b| b.iter(|| check(black_box(&big))));
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
