//! The write-ahead log on a real disk (sled, in a temp dir per benchmark):
//!
//! - `wal_append/interval`: appends, with an fsync once a second, as the
//!   `Wal` actor does with `buffer.sync: interval` (`sync_interval: 1s`);
//!   the fsyncs' time is counted, spread over the appends of that second.
//! - `wal_append/always`: an fsync after every append (`sync: always`).
//! - `wal_read_ack`: draining a backlog of 10,000 samples as a shipper
//!   does, `read_batch` of 1,000 samples then `ack` (which removes the
//!   acknowledged records), until empty. Filling the backlog is not timed.
//!
//! Records come from `wal::record::encode`: a ping run (8 samples, the
//! typical probe record) and a scrape of 1,000 series. Throughput is in
//! samples. Run: `cargo bench --bench wal`. The disk is whatever holds
//! $TMPDIR (or /tmp); fsync numbers depend on it more than on the code.

mod common;
use common::{ping_run, scrape, TS};

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use sentinel::sample::BackendId;
use sentinel::wal::record;
use sentinel::wal::store::StoreOptions;
use sentinel::wal::WalStore;

/// (name, record, samples in it)
fn records() -> Vec<(&'static str, Vec<u8>, u64)> {
    vec![
        ("ping_run_8", record::encode(&ping_run(7, TS)), 8),
        ("scrape_1000", record::encode(&scrape(1000, TS)), 1000),
    ]
}

fn open(dir: &std::path::Path) -> WalStore {
    WalStore::open(&StoreOptions {
        path: dir.join("wal"),
        // The config's defaults (buffer.cache_size, max_size, max_age).
        cache_size: 4 << 20,
        max_size: 256 << 20,
        max_age: Duration::from_secs(7 * 86_400),
    })
    .expect("open the WAL")
}

fn append(c: &mut Criterion) {
    let mut g = c.benchmark_group("wal_append");
    g.sample_size(10);
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(4));
    for (name, rec, samples) in records() {
        g.throughput(Throughput::Elements(samples));

        let dir = tempfile::tempdir().unwrap();
        let mut store = open(dir.path());
        // Carried across criterion's calls, so there is one fsync per
        // second of appending whatever the iteration counts are.
        let mut last_sync = Instant::now();
        g.bench_with_input(BenchmarkId::new("interval", name), &rec, |b, rec| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                for _ in 0..iters {
                    store.append(rec).unwrap();
                    if last_sync.elapsed() >= Duration::from_secs(1) {
                        store.flush().unwrap();
                        last_sync = Instant::now();
                    }
                }
                start.elapsed()
            })
        });
        drop(store);
        drop(dir);

        let dir = tempfile::tempdir().unwrap();
        let mut store = open(dir.path());
        g.bench_with_input(BenchmarkId::new("always", name), &rec, |b, rec| {
            b.iter(|| {
                store.append(rec).unwrap();
                store.flush().unwrap();
            })
        });
        drop(store);
        drop(dir);
    }
    g.finish();
}

fn read_ack(c: &mut Criterion) {
    const BACKLOG: u64 = 10_000;
    const BATCH: u64 = 1_000;
    let mut g = c.benchmark_group("wal_read_ack");
    g.sample_size(10);
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(4));
    g.throughput(Throughput::Elements(BACKLOG));
    for (name, rec, samples) in records() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = open(dir.path());
        let backend = BackendId("vm".into());
        store.set_backends(std::slice::from_ref(&backend)).unwrap();
        let per_fill = BACKLOG / samples;
        g.bench_with_input(
            BenchmarkId::new(format!("batch_{BATCH}"), name),
            &rec,
            |b, rec| {
                b.iter_custom(|iters| {
                    let mut timed = Duration::ZERO;
                    for _ in 0..iters {
                        for _ in 0..per_fill {
                            store.append(rec).unwrap();
                        }
                        store.flush().unwrap();
                        let start = Instant::now();
                        let mut drained = 0;
                        while let Some(batch) = store.read_batch(&backend, BATCH).unwrap() {
                            drained += batch.samples;
                            store.ack(&backend, batch.last, &[]).unwrap();
                        }
                        timed += start.elapsed();
                        assert_eq!(drained, per_fill * samples);
                    }
                    timed
                })
            },
        );
        drop(store);
        drop(dir);
    }
    g.finish();
}

criterion_group!(benches, append, read_ack);
criterion_main!(benches);
