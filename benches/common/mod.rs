//! Workloads shared by the benches: a ping run and a scrape, shaped like
//! what the agent really records.

// Each bench uses only some of these.
#![allow(dead_code)]

use sentinel::sample::{Labels, Sample};

/// A fixed timestamp, so runs are comparable.
pub const TS: i64 = 1_795_000_000_000;

/// One ping run: eight series sharing the task's labels.
pub fn ping_run(task: usize, ts: i64) -> Vec<Sample> {
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
pub fn scrape(n: usize, ts: i64) -> Vec<Sample> {
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

/// The page of benches/compare/metrics_server.py with `n` series, as text.
pub fn scrape_page(n: usize) -> String {
    let mut out = String::new();
    for m in 0..100 {
        let name = format!("bench_metric_{m:02}");
        out.push_str(&format!(
            "# HELP {name} Benchmark gauge {m}.\n# TYPE {name} gauge\n"
        ));
        for i in (m..n).step_by(100) {
            out.push_str(&format!(
                "{name}{{instance_id=\"node-{:03}\",path=\"/api/v{}/items\",code=\"{}\",idx=\"{i}\"}} {}\n",
                (i / 100) % 1000,
                i % 7,
                ["200", "404", "500"][i % 3],
                ((i * 7919 + 13) % 100_000) as f64 / 7.0
            ));
        }
    }
    out
}

/// The labels a scrape task gives its series (agent, task, job, instance).
pub fn scrape_task_labels() -> Labels {
    Labels::new()
        .with("sentinel", "bench")
        .with("region", "eu-north")
        .with("device_id", "bench-exporter")
        .with("task_id", "bench-scrape")
        .with("job", "bench-scrape")
        .with("instance", "127.0.0.1:9100")
}
