//! Hot paths of the pipeline without I/O: encoding a probe run into a WAL
//! record, and turning WAL records into a snappy remote-write body (what
//! the shipper does per batch). Run: `cargo bench --bench encode`.

mod common;
use common::{ping_run, scrape, scrape_page, scrape_task_labels, TS};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

use sentinel::ship::remote_write;
use sentinel::wal::record;

fn encode(c: &mut Criterion) {
    let run = ping_run(7, TS);
    let mut g = c.benchmark_group("record_encode");
    g.throughput(Throughput::Elements(run.len() as u64));
    g.bench_function("ping_run_8_samples", |b| b.iter(|| record::encode(&run)));
    // A scrape: one sample per series, each with its own label set.
    let page = scrape(10_000, TS);
    g.throughput(Throughput::Elements(page.len() as u64));
    g.bench_function("scrape_10000_series", |b| b.iter(|| record::encode(&page)));
    g.finish();
}

fn body(c: &mut Criterion) {
    let mut g = c.benchmark_group("request_body");
    for runs in [125usize, 1250] {
        let records: Vec<Vec<u8>> = (0..runs)
            .map(|i| record::encode(&ping_run(i, TS + i as i64)))
            .collect();
        g.throughput(Throughput::Elements(runs as u64 * 8));
        g.bench_with_input(
            BenchmarkId::from_parameter(runs * 8),
            &records,
            |b, recs| {
                b.iter(|| {
                    let payloads: Vec<Vec<u8>> =
                        recs.iter().map(|r| record::payload(r).unwrap()).collect();
                    let slices: Vec<&[u8]> = payloads.iter().map(|p| p.as_slice()).collect();
                    remote_write::body_from_payloads(&slices)
                })
            },
        );
    }
    g.finish();
}

/// A scrape task's whole CPU path from the page's text to the WAL record:
/// parse (with the task's labels merged in), then encode.
fn scrape_to_record(c: &mut Criterion) {
    let page = scrape_page(10_000);
    let base = scrape_task_labels();
    let mut g = c.benchmark_group("scrape_to_record");
    g.throughput(Throughput::Elements(10_000));
    g.bench_function("parse_10000", |b| {
        b.iter(|| sentinel::probe::textformat::parse(&page, &base, TS).unwrap())
    });
    g.bench_function("parse_and_encode_10000", |b| {
        b.iter(|| record::encode(&sentinel::probe::textformat::parse(&page, &base, TS).unwrap()))
    });
    // What a scrape task does: the page into records in one pass, the
    // task's labels encoded once (outside the loop, as a task keeps them).
    let encoded = record::EncodedLabels::new(&base);
    g.bench_function("one_pass_10000", |b| {
        b.iter(|| {
            let mut w = record::RunWriter::new(sentinel::probe::APPEND_MAX_SAMPLES);
            let mut keys = sentinel::probe::textformat::SeriesKeys::default();
            sentinel::probe::textformat::encode(&page, &encoded, TS, &mut w, &mut keys).unwrap();
            w.finish()
        })
    });
    g.finish();
}

criterion_group!(benches, encode, body, scrape_to_record);
criterion_main!(benches);
