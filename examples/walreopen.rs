//! Restart cost: the time and peak memory to reopen a WAL holding a
//! backlog, as the agent does at start (`WalStore::open`, which reads
//! every record's header to rebuild its index, then `set_backends`).
//!
//! `walreopen fill DIR [SAMPLES]` writes a WAL at DIR/wal as the agent
//! would during an outage: runs of 10,000 series (cut as `probe` and the
//! WAL cut them: 8,192 + 1,808 samples, then records of at most
//! `wal::MAX_RECORD_BYTES`), a flush a run, nothing removed; default
//! 1,000,000 samples. `walreopen open DIR` reopens it in a fresh process
//! and prints the time and the peak RSS (`VmHWM`) of the whole process;
//! `fill` prints its own peak too.
//! BENCHMARKS.md, "Restart cost", has the figures; run with
//! `cargo build --release --example walreopen`.

use std::time::{Duration, Instant};

use sentinel::sample::{BackendId, Labels, Sample};
use sentinel::wal::store::StoreOptions;
use sentinel::wal::WalStore;

fn opts(dir: &str) -> StoreOptions {
    StoreOptions {
        path: std::path::Path::new(dir).join("wal"),
        // The config's defaults (buffer.cache_size, max_size, max_age).
        cache_size: 4 << 20,
        max_size: 256 << 20,
        max_age: Duration::from_secs(365 * 86_400),
    }
}

fn status(key: &str) -> String {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(key))
        .map(|l| l[key.len()..].trim().to_string())
        .unwrap_or_default()
}

/// One scrape run of `series` gauges with 16-digit ids and noisy values.
fn run(series: usize, round: u64) -> Vec<Sample> {
    let mut x = round.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..series)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let id = format!("{:016x}", (i as u64).wrapping_mul(0x2545_F491_4F6C_DD1D));
            Sample::new(
                "node_value",
                Labels::new().with("task_id", "scrape").with("id", id),
                (x % 1_000_000) as f64,
                sentinel::sample::now_ms() - 3_600_000 + round as i64 * 1000,
            )
        })
        .collect()
}

fn main() {
    // As `sentinel start` does.
    sentinel::memory::tune_allocator();
    let args: Vec<String> = std::env::args().collect();
    let (Some(cmd), Some(dir)) = (args.get(1), args.get(2)) else {
        eprintln!("usage: walreopen fill|open DIR [SAMPLES]");
        std::process::exit(2);
    };
    let vm = BackendId("vm".into());
    match cmd.as_str() {
        "fill" => {
            let total: u64 = args
                .get(3)
                .and_then(|s| s.parse().ok())
                .unwrap_or(1_000_000);
            let mut s = WalStore::open(&opts(dir)).expect("open the WAL");
            s.set_backends(std::slice::from_ref(&vm)).unwrap();
            let mut written = 0;
            let mut round = 0;
            while written < total {
                let samples = run(10_000, round);
                for part in samples.chunks(8_192) {
                    for rec in sentinel::wal::encode_records(part) {
                        s.append(&rec).unwrap();
                    }
                }
                s.flush().unwrap();
                // As the agent's WAL actor does after a sync.
                if s.cache_is_full() {
                    s = s.reopen().map_err(|(e, _)| e).expect("reopen the WAL");
                }
                written += 10_000;
                round += 1;
            }
            let st = s.stats().unwrap();
            println!(
                "filled: {} samples in {} records, {} record bytes, du {}; peak RSS {}",
                st.samples,
                st.records,
                st.record_bytes,
                st.disk_bytes,
                status("VmHWM:")
            );
        }
        "open" => {
            let before = status("VmHWM:");
            let t = Instant::now();
            let mut s = WalStore::open(&opts(dir)).expect("open the WAL");
            s.set_backends(std::slice::from_ref(&vm)).unwrap();
            let took = t.elapsed();
            let st = s.stats().unwrap();
            println!(
                "reopened {} samples ({} records) in {:.0?}; peak RSS {} (before the open: {before})",
                st.samples,
                st.records,
                took,
                status("VmHWM:")
            );
        }
        other => {
            eprintln!("unknown command {other:?}: fill or open");
            std::process::exit(2);
        }
    }
}
