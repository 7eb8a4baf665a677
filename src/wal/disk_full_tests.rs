//! The disk-full path of the `Wal` actor against a real `ENOSPC`: a small
//! tmpfs (mounted by the test, unmounted on drop; root only) is filled,
//! partly freed and filled again while records are appended and a
//! simulated shipper reads, delivers and acknowledges batches, some of
//! them in flight across the outage. At the end every appended record
//! must have been delivered at least once or be counted as `disk_full`,
//! no seq may name two different records, and no cursor may move back.
//!
//! `SENTINEL_WAL_TEST_SAMPLES` (smallest run, default 40) and
//! `SENTINEL_WAL_TEST_TMPFS` (default `8m`) change the load: runs of 800+
//! samples (like the agent's 1,008) need `24m`, and fail part-way through
//! more reopen attempts.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;

use super::*;
use crate::testutil::tmpfs::{Filler, Tmpfs};

/// A wall clock that follows a monotonic clock the test advances, so
/// `REOPEN_EVERY` passes without sleeping.
struct StepClock {
    start: Instant,
    start_ms: i64,
    elapsed: Mutex<Duration>,
}

impl StepClock {
    fn advance(&self, d: Duration) {
        *self.elapsed.lock().unwrap() += d;
    }
}

impl Clock for StepClock {
    fn now_ms(&self) -> i64 {
        self.start_ms + self.elapsed.lock().unwrap().as_millis() as i64
    }

    fn instant(&self) -> Instant {
        self.start + *self.elapsed.lock().unwrap()
    }
}

/// The wall clock at the start; record `id` is stamped `BASE_MS + id`.
const BASE_MS: i64 = 1_700_000_000_000;

/// xorshift64*, so a failing seed can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// One record: `n` samples all stamped `id`, so a record read back names
/// itself by its timestamp.
fn samples(id: i64, n: usize) -> Vec<Sample> {
    (0..n)
        .map(|i| {
            Sample::new(
                format!("m{i}"),
                Labels::new().with("task_id", "t").with("host", "10.0.0.1"),
                (id as f64) * 1.5 + i as f64,
                BASE_MS + id,
            )
        })
        .collect()
}

/// What the simulated backend saw.
#[derive(Default)]
struct Backend {
    /// record id → times delivered.
    delivered: BTreeMap<i64, u64>,
    /// seq → record id, for every batch read.
    seqs: BTreeMap<u64, i64>,
    /// Highest seq acknowledged.
    acked: u64,
    problems: Vec<String>,
}

impl Backend {
    fn take(&mut self, batch: &Batch) {
        if batch.first.0 <= self.acked {
            self.problems.push(format!(
                "batch {}..={} starts at or below the acknowledged seq {}",
                batch.first.0, batch.last.0, self.acked
            ));
        }
        for r in &batch.records {
            let id = record::header(r).unwrap().min_ts_ms - BASE_MS;
            *self.delivered.entry(id).or_default() += 1;
        }
        let first_id = record::header(&batch.records[0]).unwrap().min_ts_ms - BASE_MS;
        let last_id = record::header(batch.records.last().unwrap())
            .unwrap()
            .min_ts_ms
            - BASE_MS;
        for (seq, id) in [(batch.first.0, first_id), (batch.last.0, last_id)] {
            if let Some(old) = self.seqs.insert(seq, id) {
                if old != id {
                    self.problems
                        .push(format!("seq {seq} named record {old}, now record {id}"));
                }
            }
        }
    }
}

struct Run {
    produced: BTreeMap<i64, u64>,
    backend: Backend,
    disk_full: u64,
    outages: u64,
    /// `sentinel_samples_accepted_total` at the end.
    accepted: u64,
}

fn run(seed: u64, fs: &Path) -> Run {
    let cfg = BufferConfig {
        path: fs.join(format!("wal-{seed}")),
        max_size: 64 << 20,
        max_age: Duration::from_secs(24 * 3600),
        sync: SyncMode::Interval,
        sync_interval: Duration::from_secs(1),
        cache_size: 1 << 20,
    };
    let clock = Arc::new(StepClock {
        start: Instant::now(),
        start_ms: BASE_MS,
        elapsed: Mutex::new(Duration::ZERO),
    });
    let store = open_or_recover(&cfg).unwrap();
    let telemetry = Arc::new(Telemetry::new());
    let mut wal = Wal::new(store, &cfg, telemetry.clone()).with_clock(clock.clone());
    let mut ctx = Context::<Wal>::new();
    let bk = BackendId("vm".into());
    Handler::handle(
        &mut wal,
        SetBackends {
            backends: vec![bk.clone()],
        },
        &mut ctx,
    )
    .unwrap();

    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let mut produced = BTreeMap::new();
    let mut backend = Backend::default();
    let mut inflight: Option<(Batch, u64)> = None;
    let mut filler: Option<Filler> = None;
    let mut outages = 0;
    let mut was_broken = false;
    let mut next_id = 1i64;
    let steps = 600u64;
    let tick = Duration::from_millis(250);

    let mut step = 0u64;
    loop {
        let draining = step >= steps;
        if draining && filler.is_some() {
            filler.take().unwrap().remove();
        }
        if !draining {
            // A probe run of 40–240 samples.
            let n = std::env::var("SENTINEL_WAL_TEST_SAMPLES")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(40)
                + rng.below(200) as usize;
            let msg = Append {
                task_id: TaskId("t".into()),
                samples: samples(next_id, n),
            };
            produced.insert(next_id, n as u64);
            next_id += 1;
            let _ = Handler::handle(&mut wal, msg, &mut ctx);
            // The disk fills, is freed a little (a reopen may get part of
            // the way), fills again, and is freed at the end.
            if step % 150 == 40 {
                filler = Some(Filler::fill(fs));
            } else if let Some(f) = &filler {
                if rng.below(12) == 0 {
                    f.free((16 + rng.below(240)) << 10);
                } else if rng.below(10) == 0 {
                    drop(Filler::fill(fs));
                }
                if step % 150 == 120 {
                    filler.take().unwrap().remove();
                }
            }
        }
        clock.advance(tick);
        if step % 4 == 0 && wal.store.is_some() {
            let _ = wal.sync_now();
        }
        if step % 4 == 2 {
            wal.sweep();
        }
        // The shipper: one batch in flight, acknowledged 0–3 steps later.
        match inflight.take() {
            Some((batch, due)) if step >= due => {
                let through = batch.last;
                backend.acked = backend.acked.max(through.0);
                let _ = Handler::handle(
                    &mut wal,
                    Ack {
                        backend: bk.clone(),
                        through,
                        first: None,
                        dropped: Vec::new(),
                    },
                    &mut ctx,
                );
            }
            Some(other) => inflight = Some(other),
            None => {
                let read = Handler::handle(
                    &mut wal,
                    ReadBatch {
                        backend: bk.clone(),
                        max_samples: 1 + rng.below(600),
                        after: None,
                        newest_first: false,
                        live: false,
                        max_bytes: u64::MAX,
                    },
                    &mut ctx,
                );
                if let Ok(Some(batch)) = read {
                    backend.take(&batch);
                    inflight = Some((batch, step + rng.below(4)));
                }
            }
        }
        let broken = wal.store.is_none();
        if broken && !was_broken {
            outages += 1;
        }
        was_broken = broken;
        step += 1;
        if draining && !broken && inflight.is_none() {
            let more = wal
                .store
                .as_ref()
                .unwrap()
                .read_batch(&bk, u64::MAX)
                .unwrap();
            if more.is_none() {
                break;
            }
        }
        if step == steps + 2_000 {
            let err = open_catching_panics(&wal.opts).err();
            panic!("seed {seed}: the WAL never recovered; a reopen now: {err:?}");
        }
    }
    let store = wal.store.as_ref().unwrap();
    let disk_full = store.drops("vm").unwrap()["disk_full"];
    let accepted = telemetry.get("sentinel_samples_accepted_total", &Labels::new()) as u64;
    Run {
        produced,
        backend,
        disk_full,
        outages,
        accepted,
    }
}

#[test]
fn disk_full_outages_lose_nothing_and_keep_seqs_and_cursors() {
    let fs = Tmpfs::mount(&std::env::var("SENTINEL_WAL_TEST_TMPFS").unwrap_or("8m".into()));
    let mut failures = Vec::new();
    for seed in 1..=12u64 {
        let r = run(seed, fs.path());
        let missing: Vec<i64> = r
            .produced
            .keys()
            .filter(|id| !r.backend.delivered.contains_key(id))
            .copied()
            .collect();
        let missing_samples: u64 = missing.iter().map(|id| r.produced[id]).sum();
        let dups: Vec<i64> = r
            .backend
            .delivered
            .iter()
            .filter(|(_, n)| **n > 1)
            .map(|(id, _)| *id)
            .collect();
        eprintln!(
            "seed {seed}: {} records, {} outages, {} missing ({missing_samples} samples, \
             disk_full {}), {} delivered twice, problems {:?}",
            r.produced.len(),
            r.outages,
            missing.len(),
            r.disk_full,
            dups.len(),
            r.backend.problems
        );
        // Samples held in memory count as accepted once written: what
        // arrived is what was accepted, and the rest is counted dropped.
        let delivered: u64 = r.backend.delivered.keys().map(|id| r.produced[id]).sum();
        if r.accepted != delivered {
            failures.push(format!(
                "seed {seed}: sentinel_samples_accepted_total {} but {delivered} delivered",
                r.accepted
            ));
        }
        // Nothing crashes here, so nothing is sent twice either.
        if missing_samples != r.disk_full || !dups.is_empty() || !r.backend.problems.is_empty() {
            failures.push(format!(
                "seed {seed}: missing {missing:?} ({missing_samples} samples) but disk_full \
                 {}; sent twice {dups:?}; problems {:?}",
                r.disk_full, r.backend.problems
            ));
        }
        let _ = std::fs::remove_dir_all(fs.path().join(format!("wal-{seed}")));
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
