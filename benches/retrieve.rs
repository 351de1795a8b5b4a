//! BM25 search over a generated 100,000-passage corpus (docs/language.md,
//! "corpus"): the time per query once the index is built, plus the build
//! time and the index size, printed before criterion's figures.
//!
//!     cargo bench --bench retrieve
//!
//! Passages are 25 words drawn from a 30,000-word vocabulary with a skewed
//! (cubic) distribution, so common words are in most passages and rare ones
//! in a few, as in prose; queries are 8 words drawn the same way.

use criterion::{Criterion, criterion_group, criterion_main};
use simba_run::ir::{DataFile, LocalCorpus};
use simba_run::retrieve::LocalIndex;
use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

const PASSAGES: usize = 100_000;
const VOCABULARY: f64 = 30_000.0;

/// xorshift64: a fixed stream, so every run indexes the same corpus.
struct Words(u64);

impl Words {
    fn word(&mut self) -> String {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        let u = (self.0 % 1_000_000) as f64 / 1_000_000.0;
        format!("w{}", (u * u * u * VOCABULARY) as u64)
    }

    fn text(&mut self, n: usize) -> String {
        (0..n).map(|_| self.word()).collect::<Vec<_>>().join(" ")
    }
}

fn dir_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum()
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let mut words = Words(42);
    let docs = dir.path().join("docs.jsonl");
    let lines: Vec<String> = (0..PASSAGES)
        .map(|_| serde_json::json!({"text": words.text(25)}).to_string())
        .collect();
    std::fs::write(&docs, lines.join("\n")).unwrap();
    let corpus = LocalCorpus::new(DataFile::Jsonl(docs));
    let index_dir = dir.path().join("index");
    let started = Instant::now();
    let opened = LocalIndex::open("bench", &corpus, Some(&index_dir)).unwrap();
    let build = started.elapsed();
    let started = Instant::now();
    let reopened = LocalIndex::open("bench", &corpus, Some(&index_dir)).unwrap();
    assert!(opened.built && !reopened.built);
    println!(
        "retrieve: {PASSAGES} passages indexed in {:.2} s, index {:.1} MiB; reopened (file hashed, index reused) in {:.0} ms",
        build.as_secs_f64(),
        dir_size(&index_dir) as f64 / (1 << 20) as f64,
        started.elapsed().as_secs_f64() * 1000.0
    );
    let index = reopened.index;
    let queries: Vec<String> = (0..1000).map(|_| words.text(8)).collect();
    let mut times: Vec<Duration> = queries
        .iter()
        .map(|q| {
            let t = Instant::now();
            black_box(index.search(q, 3).unwrap());
            t.elapsed()
        })
        .collect();
    times.sort();
    println!(
        "retrieve: k=3 over {} queries: p50 {:?}, p90 {:?}, p99 {:?}",
        times.len(),
        times[times.len() / 2],
        times[times.len() * 9 / 10],
        times[times.len() * 99 / 100]
    );
    let mut next = 0;
    c.bench_function("bm25_search_100k_k3", |b| {
        b.iter(|| {
            next = (next + 1) % queries.len();
            black_box(index.search(&queries[next], 3).unwrap())
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
