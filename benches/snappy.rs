//! Snappy raw-block compression, as the shipper does it for every request
//! body (`remote_write::body_from_payloads`) and as the backend undoes it:
//! compress and decompress an uncompressed `WriteRequest` of ping runs and
//! of one scrape of 10,000 series. Throughput is in bytes of the
//! uncompressed body; the benchmark prints samples and bytes per body once.
//! Run: `cargo bench --bench snappy`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use sentinel::sample::{Labels, Sample};
use sentinel::wal::record;

const TS: i64 = 1_795_000_000_000;

/// One ping run: eight series sharing the task's labels (as benches/encode.rs).
fn ping_run(task: usize, ts: i64) -> Vec<Sample> {
    let base = Labels::new()
        .with("device_id", format!("device-{task}"))
        .with("task_id", format!("ping-{task}"))
        .with("host", format!("10.0.{}.{}", task / 250, task % 250))
        .with("sentinel", "site-17-router")
        .with("region", "eu-north")
        .with("env", "production");
    [
        "ping_reachable",
        "ping_rtt_ms",
        "ping_rtt_min_ms",
        "ping_rtt_max_ms",
        "ping_rtt_stddev_ms",
        "ping_packet_loss",
        "ping_packets_sent",
        "ping_packets_received",
    ]
    .iter()
    .enumerate()
    .map(|(i, n)| Sample::new(*n, base.clone(), 0.1 * i as f64 + task as f64, ts))
    .collect()
}

/// One scrape of `n` series shaped like the end-to-end comparison's
/// endpoint (benches/compare/metrics_server.py): 100 metric names, each
/// with `n / 100` label combinations, plus the task's labels.
fn scrape(n: usize, ts: i64) -> Vec<Sample> {
    let base = Labels::new()
        .with("device_id", "bench-exporter")
        .with("task_id", "bench-scrape")
        .with("sentinel", "bench");
    (0..n)
        .map(|i| {
            let labels = base
                .clone()
                .with("instance_id", format!("node-{:03}", (i / 100) % 1000))
                .with("path", format!("/api/v{}/items", i % 7))
                .with("code", ["200", "404", "500"][i % 3])
                .with("idx", i.to_string());
            let value = ((i * 7919 + 13) % 100_000) as f64 / 7.0;
            Sample::new(format!("bench_metric_{:02}", i % 100), labels, value, ts)
        })
        .collect()
}

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
