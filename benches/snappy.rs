//! Snappy raw-block compression, as the shipper does it for every request
//! body (`remote_write::body_from_payloads`) and as the backend undoes it:
//! compress and decompress an uncompressed `WriteRequest` of ping runs and
//! of one scrape of 10,000 series. Throughput is in bytes of the
//! uncompressed body; the benchmark prints samples and bytes per body once.
//! Run: `cargo bench --bench snappy`.

mod common;
use common::{ping_run, scrape, TS};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

use sentinel::wal::record;

/// The uncompressed request body the shipper compresses for `records`.
fn raw_body(records: &[Vec<u8>]) -> Vec<u8> {
    records
        .iter()
        .map(|r| record::payload(r).unwrap())
        .collect::<Vec<_>>()
        .concat()
}

fn compress(c: &mut Criterion) {
    let bodies = [
        (
            "ping_1000_samples",
            raw_body(
                &(0..125)
                    .map(|i| record::encode(&ping_run(i, TS + i as i64)))
                    .collect::<Vec<_>>(),
            ),
            1000u64,
        ),
        (
            "scrape_10000_samples",
            raw_body(&[record::encode(&scrape(10_000, TS))]),
            10_000u64,
        ),
    ];
    let mut g = c.benchmark_group("snappy");
    for (name, raw, samples) in &bodies {
        let packed = snap::raw::Encoder::new().compress_vec(raw).unwrap();
        println!(
            "{name}: {} bytes raw ({:.1}/sample), {} compressed ({:.1}/sample)",
            raw.len(),
            raw.len() as f64 / *samples as f64,
            packed.len(),
            packed.len() as f64 / *samples as f64
        );
        g.throughput(Throughput::Bytes(raw.len() as u64));
        g.bench_with_input(BenchmarkId::new("compress", name), raw, |b, raw| {
            let mut enc = snap::raw::Encoder::new();
            b.iter(|| enc.compress_vec(raw).unwrap())
        });
        g.bench_with_input(
            BenchmarkId::new("decompress", name),
            &packed,
            |b, packed| {
                let mut dec = snap::raw::Decoder::new();
                b.iter(|| dec.decompress_vec(packed).unwrap())
            },
        );
    }
    g.finish();
}

criterion_group!(benches, compress);
criterion_main!(benches);
