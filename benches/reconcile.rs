//! Full reconciliation with no changes (docs/BENCHMARKS.md):
//!
//! - `reconcile/pure/{1000,10000}` (and 100000 with `LINTEL_BENCH_FULL=1`): `sync::plan_pass` over a listing identical to the
//!   store, then `Policy::desired` and `dispatch::plan_controller` for every controller, all in
//!   memory (what the engine decides, without the store's reads and writes);
//! - `reconcile/parts/*` at 10k: the same split into its steps, to show where the time goes;
//! - `reconcile/run_pass/{1000,10000}`: the whole `Engine::run_pass` against the fixture PMS
//!   on loopback with a sled store in a temporary directory: HTTP pull, JSON parse, store reads,
//!   the decision, the store commit (activity + source state, flushed) and `Engine::apply`;
//! - `reconcile/apply/{1000,10000}`: `Engine::apply` of an empty commit, which the window
//!   scheduler runs at every window end: read every person, credential and acked slot from sled,
//!   compute desired tables, diff.
//!
//! `LINTEL_BENCH_QUICK=1` keeps to 1000 people and few samples (CI runs it once per bench with
//! `cargo test --benches`, which checks that a no-change pass still changes and queues nothing).

mod common;

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, SamplingMode, criterion_group, criterion_main};
use lintel::daemon::engine::{Engine, SourceRunner};
use lintel::demo::pms::PmsServer;
use lintel::sources::PullKind;
use lintel::store::{Commit, Store};

use common::Snapshot;

fn quick() -> bool {
    std::env::var_os("LINTEL_BENCH_QUICK").is_some()
}

fn pure(c: &mut Criterion) {
    let mut group = c.benchmark_group("reconcile/pure");
    group.sampling_mode(SamplingMode::Flat);
    let mut sizes = if quick() {
        vec![1_000usize]
    } else {
        vec![1_000usize, 10_000]
    };
    if std::env::var_os("LINTEL_BENCH_FULL").is_some() {
        // About 75 s per iteration today (sync::correlate scans every person per record, so
        // the pass is quadratic): opt-in. `measure pure 100000` times one run instead.
        sizes.push(100_000);
    }
    for n in sizes {
        let snapshot = Snapshot::new(n);
        let samples = match (n, quick()) {
            (_, true) => 10,
            (100_000, false) => 10,
            (10_000, false) => 20,
            _ => 50,
        };
        group.sample_size(samples);
        group.measurement_time(Duration::from_secs(if n == 100_000 { 20 } else { 5 }));
        group.bench_with_input(BenchmarkId::from_parameter(n), &snapshot, |b, s| {
            b.iter(|| black_box(s.reconcile()));
        });
    }
    group.finish();
}

fn parts(c: &mut Criterion) {
    let n = if quick() { 1_000 } else { 10_000 };
    let snapshot = Snapshot::new(n);
    let listing = common::body(&common::listing(n));
    let source = common::json_source(&snapshot.config);
    let mut group = c.benchmark_group("reconcile/parts");
    group.sampling_mode(SamplingMode::Flat);
    group.sample_size(if quick() { 10 } else { 20 });
    group.measurement_time(Duration::from_secs(4));
    group.bench_function(BenchmarkId::new("json_parse", n), |b| {
        b.iter(|| black_box(source.parse(&listing).expect("parse").records.len()));
    });
    group.bench_function(BenchmarkId::new("plan_pass", n), |b| {
        b.iter(|| black_box(snapshot.plan_only()));
    });
    group.bench_function(BenchmarkId::new("desired_and_diff", n), |b| {
        b.iter(|| black_box(snapshot.diff()));
    });
    group.bench_function(BenchmarkId::new("desired_only", n), |b| {
        b.iter(|| {
            black_box(
                snapshot
                    .policy
                    .desired(&snapshot.people, &[], &snapshot.credentials, common::now())
                    .0
                    .len(),
            )
        });
    });
    group.finish();
}

/// A seeded daemon engine (no workers, no control socket) against the fixture PMS.
struct Bed {
    _dir: tempfile::TempDir,
    _pms: PmsServer,
    engine: Engine,
}

async fn bed(n: usize) -> Bed {
    let dir = tempfile::tempdir().expect("tempdir");
    let listing = common::listing(n);
    let pms = PmsServer::start(listing.clone()).expect("pms");
    let config = common::config(dir.path(), &pms.url(), n);
    let source = common::json_source(&config);
    let pull = source.parse(&common::body(&listing)).expect("parse");
    std::fs::create_dir_all(&config.store.path).expect("store dir");
    let store = Store::open(&config.store.path).expect("store");
    let now = jiff::Timestamp::now();
    common::seed_store(&store, &config, &pull, now).await;
    let sources = vec![SourceRunner {
        name: "pms".into(),
        kind: "json",
        enabled: true,
        adapter: config.sources[0].build().expect("adapter"),
    }];
    let engine = Engine::new(
        store,
        Arc::new(config),
        sources,
        Arc::new(lintel::clock::SystemClock),
    );
    // The first pass must already be a no-change one.
    let report = engine
        .run_pass(&engine.sources[0], PullKind::Full, false)
        .await;
    assert!(
        report.ok && report.added + report.updated + report.disabled == 0,
        "{report:?}"
    );
    Bed {
        _dir: dir,
        _pms: pms,
        engine,
    }
}

fn run_pass(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let sizes: &[usize] = if quick() { &[1_000] } else { &[1_000, 10_000] };
    let beds: Vec<(usize, Bed)> = sizes
        .iter()
        .copied()
        .map(|n| (n, rt.block_on(bed(n))))
        .collect();
    let mut group = c.benchmark_group("reconcile/run_pass");
    group.sampling_mode(SamplingMode::Flat);
    for (n, bed) in &beds {
        group.sample_size(if quick() || *n == 10_000 { 10 } else { 20 });
        group.measurement_time(Duration::from_secs(if *n == 10_000 { 15 } else { 5 }));
        group.bench_function(BenchmarkId::from_parameter(n), |b| {
            b.to_async(&rt).iter(|| async {
                let engine = &bed.engine;
                let report = engine
                    .run_pass(&engine.sources[0], PullKind::Full, false)
                    .await;
                assert!(report.ok && report.added + report.updated + report.disabled == 0);
                for controller in engine.config.controllers.iter().map(|c| c.name()) {
                    assert_eq!(engine.store.outbox_len(controller), 0);
                }
                black_box(report)
            });
        });
    }
    group.finish();
    let mut group = c.benchmark_group("reconcile/apply");
    group.sampling_mode(SamplingMode::Flat);
    group.sample_size(10);
    for (n, bed) in &beds {
        group.measurement_time(Duration::from_secs(if *n == 10_000 { 10 } else { 3 }));
        group.bench_function(BenchmarkId::from_parameter(n), |b| {
            b.to_async(&rt).iter(|| async {
                let engine = &bed.engine;
                engine
                    .apply(Commit::default(), engine.clock.now())
                    .await
                    .expect("apply");
                black_box(engine.store.outbox_len("c0"))
            });
        });
    }
    group.finish();
    drop(beds);
}

criterion_group!(benches, pure, parts, run_pass);
criterion_main!(benches);
