//! What sled 0.34 writes and holds for the WAL's records: the measurements
//! behind the record size and grouping chosen in `src/wal/mod.rs` ("Cost").
//!
//! Writes `seconds` rounds of records of the given sizes (incompressible
//! bytes, as snappy payloads nearly are), a flush after each round as
//! `sync: interval` does, and prints the bytes written (`/proc/self/io`
//! `write_bytes`, what reaches the disk) and `du` per record byte.
//! `outage`: nothing is removed (a backend down); `steady`: each round's
//! records are removed one round later (a backend up, acks).
//!
//! Run: `cargo run --release --example walcost -- outage 100 190000,40000`
//! (sizes in bytes, comma-separated: the records of one round);
//! `SEGMENT=<bytes>` and `CACHE=<bytes>` change sled's settings.

use std::time::Instant;

fn io_counter(name: &str) -> u64 {
    let io = std::fs::read_to_string("/proc/self/io").unwrap_or_default();
    io.lines()
        .find_map(|l| {
            l.strip_prefix(name)?
                .trim()
                .strip_prefix(':')?
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or(0)
}

fn du(path: &std::path::Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![path.to_path_buf()];
    while let Some(p) = stack.pop() {
        for e in std::fs::read_dir(&p).into_iter().flatten().flatten() {
            let Ok(m) = e.metadata() else { continue };
            if m.is_dir() {
                stack.push(e.path());
            } else {
                use std::os::unix::fs::MetadataExt;
                total += m.blocks() * 512;
            }
        }
    }
    total
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mode = args.get(1).map(String::as_str).unwrap_or("outage");
    let seconds: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(100);
    let sizes: Vec<usize> = args
        .get(3)
        .map(String::as_str)
        .unwrap_or("190000,40000")
        .split(',')
        .map(|s| s.parse().expect("sizes in bytes"))
        .collect();
    let env = |k: &str, d: u64| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let dir = tempfile::tempdir_in(std::env::var("DIR").unwrap_or_else(|_| ".".into())).unwrap();
    let db = sled::Config::new()
        .path(dir.path().join("wal"))
        .cache_capacity(env("CACHE", 4 << 20))
        .segment_size(env("SEGMENT", 512 << 10) as usize)
        .flush_every_ms(None)
        .open()
        .unwrap();
    // TREE_ITEMS=k: a fresh tree every k records (a leaf of at most k
    // items never splits), dropped when all its records are removed.
    let tree_items = env("TREE_ITEMS", 0);
    let mut records = db.open_tree("records").unwrap();
    let mut trees: Vec<(u64, sled::Tree)> = Vec::new();
    // CHUNKS=1: the WAL's own layout (`sentinel::wal::records`).
    let mut chunked =
        (env("CHUNKS", 0) == 1).then(|| sentinel::wal::records::Records::open(&db).unwrap());
    let cursors = db.open_tree("cursors").unwrap();
    db.flush().unwrap();
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut bytes = |n: usize| -> Vec<u8> {
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    };
    let w0 = io_counter("write_bytes");
    let t0 = Instant::now();
    let mut seq: u64 = 0;
    let mut record_bytes: u64 = 0;
    let mut peak_du = 0;
    let mut prev: Vec<u64> = Vec::new();
    for _ in 0..seconds {
        let mut this = Vec::new();
        for &n in &sizes {
            seq += 1;
            if tree_items > 0 && (seq - 1) % tree_items == 0 {
                records = db.open_tree(format!("r{seq}")).unwrap();
                trees.push((seq + tree_items - 1, records.clone()));
            }
            match chunked.as_mut() {
                Some(r) => r.insert(seq.to_be_bytes(), &bytes(n)).unwrap(),
                None => {
                    records.insert(seq.to_be_bytes(), bytes(n)).unwrap();
                }
            }
            record_bytes += n as u64;
            this.push(seq);
        }
        if mode == "steady" {
            if let Some(r) = chunked.as_mut() {
                r.remove_all(&prev).unwrap();
                prev.clear();
            } else if tree_items > 0 {
                let acked = seq - sizes.len() as u64;
                while trees.first().is_some_and(|(last, _)| *last <= acked) {
                    let (_, t) = trees.remove(0);
                    db.drop_tree(t.name()).unwrap();
                }
                prev.clear();
            } else {
                let mut batch = sled::Batch::default();
                for s in prev.drain(..) {
                    batch.remove(&s.to_be_bytes());
                }
                records.apply_batch(batch).unwrap();
            }
            cursors
                .insert(b"vm", &(seq - sizes.len() as u64).to_be_bytes())
                .unwrap();
        }
        prev = this;
        db.flush().unwrap();
        peak_du = peak_du.max(du(dir.path()));
    }
    let written = io_counter("write_bytes") - w0;
    let held = du(dir.path());
    let blobs = std::fs::read_dir(dir.path().join("wal/blobs"))
        .map(|d| d.count())
        .unwrap_or(0);
    println!(
        "{mode} sizes={sizes:?} rounds={seconds} segment={} cache={} tree_items={tree_items} chunks={}: record bytes {record_bytes}, \
         written {written} ({:.2}x), du {held} ({:.2}x), peak du {peak_du}, blob files {blobs}, {:.1}s",
        env("SEGMENT", 512 << 10),
        env("CACHE", 4 << 20),
        chunked.is_some(),
        written as f64 / record_bytes as f64,
        held as f64 / record_bytes as f64,
        t0.elapsed().as_secs_f64()
    );
}
