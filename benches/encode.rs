//! Hot paths of the pipeline without I/O: encoding a probe run into a WAL
//! record, and turning WAL records into a snappy remote-write body (what
//! the shipper does per batch). Run: `cargo bench --bench encode`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use sentinel::sample::{Labels, Sample};
use sentinel::ship::remote_write;
use sentinel::wal::record;

/// One ping run: eight series sharing the task's labels.
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

fn encode(c: &mut Criterion) {
    let run = ping_run(7, 1_795_000_000_000);
    let mut g = c.benchmark_group("record_encode");
    g.throughput(Throughput::Elements(run.len() as u64));
    g.bench_function("ping_run_8_samples", |b| b.iter(|| record::encode(&run)));
    g.finish();
}

fn body(c: &mut Criterion) {
    let mut g = c.benchmark_group("request_body");
    for runs in [125usize, 1250] {
        let records: Vec<Vec<u8>> = (0..runs)
            .map(|i| record::encode(&ping_run(i, 1_795_000_000_000 + i as i64)))
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

criterion_group!(benches, encode, body);
criterion_main!(benches);
