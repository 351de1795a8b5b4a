//! The optimizer's own cost on the offline `sim` model (no network): one
//! SIMBA step of the quickstart (15 x 6 sampling executions, up to 7
//! candidates on 15 examples) and the whole quickstart run (8 steps plus the
//! final evaluation). Everything measured is engine, executor, adapter and sim
//! work: what the optimizer adds on top of real LM latency.

use criterion::{Criterion, criterion_group, criterion_main};
use std::path::PathBuf;
use std::sync::Arc;

use simba_run::lm::ModelSet;
use simba_run::optimize::runtime::{load_data, oracles, prepare};
use simba_run::optimize::{EventSink, optimize};

fn run(steps: usize, rt: &tokio::runtime::Runtime) -> f64 {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/quickstart/quickstart.simba");
    let spec = simba_run::compile::load_spec(&path, &[], None)
        .unwrap()
        .spec;
    let mut decl = spec.optimizes[0].clone();
    decl.max_steps = steps;
    let o = oracles(&spec).unwrap();
    let models =
        simba_run::models::from_spec(&spec, &o, simba_run::lm::ModelsOptions { cache_dir: None })
            .unwrap();
    let models: Arc<dyn ModelSet> = Arc::new(models);
    let (train, dev) = load_data(&spec, &decl).unwrap();
    let input = prepare(&spec, &decl, models, train, dev, EventSink::none(), vec![]).unwrap();
    rt.block_on(optimize(input))
        .unwrap()
        .run
        .best
        .train
        .unwrap()
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut g = c.benchmark_group("simba_sim");
    g.sample_size(10);
    g.bench_function("quickstart_1_step", |b| b.iter(|| run(1, &rt)));
    g.bench_function("quickstart_8_steps", |b| b.iter(|| run(8, &rt)));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
