//! The write-ahead log: the `Wal` actor, its messages, and the rules that
//! make "accepted" mean "will be delivered or counted as dropped".
//!
//! # Who talks to it
//!
//! - Probes send `Append`: one record per probe run (a multi-host run of
//!   more than `probe::APPEND_MAX_SAMPLES` samples is cut between hosts,
//!   and a run over `MAX_RECORD_BYTES` encoded into several records; the
//!   "Samples appended." line names the last one's seq).
//! - Each shipper sends `ReadBatch` for its backend, posts the batch, then
//!   `Ack`s it. It reads the next batch (`after` the last one read) while
//!   earlier ones are in flight, and acks in order, so a cursor only
//!   passes batches the backend has taken.
//! - The supervisor sends `SetBackends` (start and reload) and `Flush` (stop).
//! - `GetStats` serves `wal stats`, `/metrics` and `/healthz`.
//!
//! # On disk (sled, see `store.rs` for the trees)
//!
//! Keys are u64 sequence numbers, big-endian, so sled's order is append
//! order (across the trees of `records.rs`). Each value is one record (`record.rs`: version byte, header, snappy
//! payload of length-delimited `TimeSeries`), so a batch becomes a request
//! body by concatenating payloads, with no decoding.
//!
//! # Cost: what sled writes and holds per record byte
//!
//! Records of at least `records::CHUNK_MIN_BYTES` (32 KiB: a scrape of
//! more than about 1,400 series) go to chunk trees of
//! `records::CHUNK_RECORDS` (4) records each, dropped whole once empty;
//! smaller ones stay in the tree `records` (see `records.rs`). Measured
//! with `examples/walcost.rs` on ext4 (release build, sled alone,
//! incompressible values, a flush per round as `sync: interval` does;
//! "written" is `/proc/self/io` `write_bytes` over the record bytes,
//! `du` the WAL's files over the record bytes; 100 rounds):
//!
//! | records per round (bytes) | layout | outage: written | outage: `du` | backend up: written |
//! |---|---|---|---|---|
//! | 190,000 + 40,000 (the compare workload: 10,000 series, 8,192 per record) | one tree | 2.87x | 1.53x | 1.60x |
//! | 230,000 (one record per second) | one tree | 2.83x | 2.81x | 1.24x |
//! | 3 x 77,000 (all under the blob threshold) | one tree | 3.07x | 1.43x | 2.37x |
//! | 6 x ~40,000 | one tree | 3.17x | 1.50x | – |
//! | 12 x ~20,000 | one tree | 3.14x | 1.50x | – |
//! | 190,000 + 40,000 | chunks | **1.04x** | **1.02x** | **1.06x** |
//! | 3 x 77,000 | chunks | 1.15x | 1.14x | 1.20x |
//! | 6 x ~40,000 | chunks | 1.30x | 1.19x | 2.11x |
//! | 10 x 458 (ping runs) | either (all in `records`) | 4.38x | 3.51x | 6.46x |
//! | 95,000 x 2 + 40,000 (the compare workload as stored now, cut under `MAX_RECORD_BYTES`) | one tree | 3.12x | 1.43x | 2.26x |
//! | 95,000 x 2 + 40,000 | chunks | **1.15x** | **1.14x** | **1.20x** |
//!
//! Why: in sled 0.34 a leaf splits past 16 items (`Node::should_split`)
//! and both halves are written whole; with keys in append order that is
//! every 8 inserts, and each record is written as its insert, then in the
//! split that leaves it in the right half, then in the one that leaves it
//! in the left half: about 3x, whatever the record size (a node over the
//! blob threshold, `segment_size / 4` = 128 KiB, is written as one blob
//! file, so large records are rewritten as blobs too). A page is also
//! rewritten whole after 10 linked updates (`PAGE_CONSOLIDATION_THRESHOLD`).
//! A chunk stays under both: each of its records is written once. The
//! last row is what the WAL does: runs are also cut under the blob
//! threshold (`MAX_RECORD_BYTES`, for `max_size`: a dropped blob's file
//! stays until its log segment fills), which costs about 0.1x over blobs
//! (a 95 KB message leaves the end of a 512 KiB segment unused). For the
//! compare workload (23 bytes a sample) that is about 26.5 bytes written
//! and 26 held per sample, against 2.9–3.1x and 1.4–1.5x before. Ruled
//! out by the same measurements: grouping a round into one record (2.83x,
//! same splits), record size caps (3.07–3.17x), a larger `segment_size`
//! (2.82–3.04x; it is also fixed when a database is created, so an
//! existing WAL could not open), `cache_capacity` (64 MiB: 2.87x, no
//! change), and `Mode` (`LowSpace` and `HighThroughput` change nothing in
//! sled 0.34: nothing reads the setting). Small records keep the
//! 3–6x: a chunk per few of them would rewrite sled's tree directory (one
//! page listing every tree) more often than it saves; grouping the small
//! records of one `sync_interval` into one chunk-sized record would fix
//! that and is not done.
//!
//! # Memory: what sled keeps
//!
//! sled 0.34 keeps in memory every page it has read or written while its
//! records are stored, whatever `cache_capacity` says: its LRU has 256
//! shards, and a shard looks at its accesses only once 64 are queued
//! (`records::Layout` has the details). Left alone, an outage's backlog
//! stays in RAM (a 90 MB backlog: 104 MB RSS to write, 95 MB to open).
//! So the WAL closes and reopens sled whenever more than twice
//! `buffer.cache_size` (at least 8 MiB) of records were written or read
//! since the last open and are still stored, right after a sync
//! (`WalStore::reopen`, which keeps the index, cursors and in-flight
//! marks), and an open reads the records' headers in pieces of that size
//! with a reopen in between (`Records::scan_some`). Each reopen costs a
//! recovery of sled's log and a snapshot (tens of ms for 100 MB). Peak
//! RSS then stays near 20 MB whatever the backlog (`examples/walreopen.rs`,
//! BENCHMARKS.md "Restart cost"); `sentinel_wal_reopens_total` counts them.
//!
//! # Invariants
//!
//! 1. A record is removed only when every enabled backend's cursor is at or
//!    past it, or when a cap drops it; each drop is counted per backend and
//!    reason (`size`, `age`, `rejected`, `too_large`, `corrupt`).
//! 2. Cursors only move forward. A crash between a delivered POST and the
//!    cursor write resends that batch (at-least-once).
//! 3. Seqs never repeat, also after every record was removed
//!    (`meta.removed_through`).
//!
//! # Durability
//!
//! `buffer.sync: always` fsyncs before `Append` answers; `interval` fsyncs
//! every `buffer.sync_interval`, so a power cut or a `kill -9` loses at most
//! the runs appended since the last sync (sled keeps unflushed writes in its
//! own buffers): those were never accepted. sled's own flusher is off; this
//! actor decides, and logs `WAL synced.` with the highest durable seq.
//! A sync is sled's flush, which on Linux ends with `sync_file_range`
//! (enough for a `kill -9`, not for a power cut), then an fdatasync of
//! sled's log file and an fsync of the blob files it wrote for large
//! records since the last sync (`WalStore::flush`).
//!
//! A cursor written after the last sync is not guaranteed to survive a
//! crash (a resend, invariant 2), but usually does a `kill -9`: the ack's
//! removal of the delivered records is a sled batch, and sled writes out
//! its log buffer, cursor included, before each batch. `tests/crashloop.rs`
//! kills the agent hundreds of times in both modes and finds every
//! accepted sample in VictoriaMetrics.
//!
//! # Damage
//!
//! A WAL that sled cannot open (or that makes it panic) is moved aside to
//! `<path>.corrupt-<unix time>` and a fresh one is started, so a damaged file
//! never causes a crash loop. Records lost from a truncated file are logged
//! (`store.rs`, the synced-seq file). A path the agent may not write is an
//! error naming the path and the user.
//!
//! # Size
//!
//! `buffer.max_size` bounds the files (`du`), not the record bytes: see
//! `retention.rs` for the budget, the compaction and the margin.
//!
//! # Disk full
//!
//! sled poisons itself on the first failed write, so the actor closes it,
//! holds new records in memory (`OVERFLOW_MAX_BYTES`, at most
//! `max_size / OVERFLOW_SHARE`; the oldest beyond it are dropped as
//! `disk_full`), and reopens it every `REOPEN_EVERY`. The reopened
//! database has what sled made durable, which may be less than what the
//! closed one showed (a shipper may have read, and acknowledged, records
//! that are gone now). So a record keeps its seq for good: a shipper's
//! cursor, an ack in flight and a batch already read name the same
//! records before and after the reopen. At the reopen:
//!
//! 1. the cursors the closed database had reached, and the acks received
//!    meanwhile, are applied (cursors only move forward);
//! 2. the records appended since the last sync that the closed database
//!    still held are written again under their own seqs, unless the
//!    reopened database has them or every backend is past them;
//! 3. the records held in memory get their seqs (above every seq handed
//!    out) at the first attempt, so an attempt that fails part-way and
//!    leaves some of them on disk is recognised by the next one;
//! 4. everything is flushed, then the `disk_full` drop counts are written.
//!
//! The state and these steps are `overflow::Overflow`, which reaches the
//! store through `overflow::OverflowStore`; the actor owns the store, the
//! logs and the counters.
//!
//! # Clock
//!
//! Each sweep compares wall-clock and monotonic time; a difference above
//! `CLOCK_JUMP_THRESHOLD` is logged (`Wall clock jumped.`) and counted.
//! The wall clock is read through `Clock`, so tests can jump it.

pub mod overflow;
pub mod ranges;
pub mod record;
pub mod records;
pub mod retention;
pub mod store;

#[cfg(test)]
mod disk_full_tests;
#[cfg(test)]
mod overflow_tests;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;

use crate::config::{BufferConfig, SyncMode};
use crate::sample::{BackendId, Labels, Sample, Seq, TaskId};
use crate::telemetry::Telemetry;

use overflow::{Held, Overflow};
pub use store::{Batch, DropEvent, DropReason, WalError, WalStats, WalStore};

/// How often the caps (`max_size`, `max_age`) are enforced, the wall clock
/// checked and the WAL gauges of `/metrics` refreshed.
const RETENTION_SWEEP: Duration = Duration::from_secs(1);

/// The most record bytes held in memory while the disk is full (or the
/// WAL otherwise cannot be written): about 70,000 single-host ping samples
/// or 250,000 samples of many-host tasks. Past it the oldest are dropped
/// and counted as `reason="disk_full"`. A small `buffer.max_size` lowers
/// it to `max_size / OVERFLOW_SHARE`.
pub const OVERFLOW_MAX_BYTES: u64 = 4 << 20;

/// The overflow holds at most this fraction of `buffer.max_size`.
pub const OVERFLOW_SHARE: u64 = 4;

/// How often a WAL that cannot be written is reopened to see whether the
/// disk has room again.
const REOPEN_EVERY: Duration = Duration::from_secs(2);

/// Repeat a drop or disk-full warning at most this often (the counters
/// have every sample).
const WARN_EVERY: Duration = Duration::from_secs(60);

/// A difference between wall-clock and monotonic time over one sweep
/// larger than this is logged as a clock jump (NTP's first sync on a
/// router without a battery-backed clock, or an operator's `date -s`).
pub const CLOCK_JUMP_THRESHOLD: Duration = Duration::from_secs(5);

/// Wall-clock and monotonic time. The WAL stamps nothing itself, but its
/// age cap and its clock-jump check read the wall clock through this, so
/// a test can jump it without touching the machine's clock.
pub trait Clock: Send + Sync {
    /// Milliseconds since the Unix epoch (wall clock; may jump).
    fn now_ms(&self) -> i64;
    /// The monotonic clock (never jumps).
    fn instant(&self) -> Instant;
}

/// The real clocks.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        crate::sample::now_ms()
    }

    fn instant(&self) -> Instant {
        Instant::now()
    }
}

/// Append one probe run's samples. While the disk is full the samples are
/// held in memory (bounded by `OVERFLOW_MAX_BYTES`) and the answer is the
/// last seq written: they are accepted only once they reach the WAL.
#[derive(Message)]
#[rtype(result = "Result<Seq, WalError>")]
pub struct Append {
    pub task_id: TaskId,
    pub samples: Vec<Sample>,
}

/// Append one record of a probe run, already encoded (`record::encode`,
/// or `record::RunWriter` for a page written in one pass). Answered as
/// [`Append`] is. A record that is not one (no header) is refused.
#[derive(Message)]
#[rtype(result = "Result<Seq, WalError>")]
pub struct AppendRecord {
    pub task_id: TaskId,
    pub record: Vec<u8>,
}

/// The next batch after `backend`'s cursor, at most `max_samples` samples
/// (but at least one record).
#[derive(Message)]
#[rtype(result = "Result<Option<Batch>, WalError>")]
pub struct ReadBatch {
    pub backend: BackendId,
    pub max_samples: u64,
    /// Read after this seq instead of the cursor when it is further on:
    /// the batches up to it are still in flight (`in_order` only).
    pub after: Option<Seq>,
    /// `backfill: newest_first`: the newest records first, then the
    /// backlog oldest first (`ranges.rs`); the WAL keeps track of the
    /// batches in flight, so `after` is not used.
    pub newest_first: bool,
    /// `newest_first`: a live read (the newest records) may be made now;
    /// else only the backlog is read (see `ranges.rs`).
    pub live: bool,
    /// At most this many record bytes (at least one record): keeps
    /// requests small under a bandwidth cap.
    pub max_bytes: u64,
}

/// `backend`'s last batch was not delivered and waits for a retry: it may
/// be dropped by the caps meanwhile (the retry reads what is left).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Release {
    pub backend: BackendId,
}

/// `backend` is done with everything through `through`: delivered, except
/// the samples listed in `dropped`.
#[derive(Message)]
#[rtype(result = "Result<(), WalError>")]
pub struct Ack {
    pub backend: BackendId,
    pub through: Seq,
    /// `Some(first)`: only the batch `first..=through` (a `newest_first`
    /// read); `None`: everything through `through`.
    pub first: Option<Seq>,
    pub dropped: Vec<(DropReason, u64)>,
}

/// The set of enabled backends changed (start, reload).
#[derive(Message)]
#[rtype(result = "Result<(), WalError>")]
pub struct SetBackends {
    pub backends: Vec<BackendId>,
}

/// Make everything appended so far durable now.
#[derive(Message)]
#[rtype(result = "Result<(), WalError>")]
pub struct Flush;

/// Backlog, disk use and drops.
#[derive(Message)]
#[rtype(result = "Result<WalStats, WalError>")]
pub struct GetStats;

/// The actor owning the sled database. Runs on its own arbiter so an fsync
/// blocks only this thread.
pub struct Wal {
    /// `None` while the WAL cannot be written (disk full): sled poisons
    /// itself on the first failed write, so it is closed and reopened.
    store: Option<WalStore>,
    /// What `store` was opened with, to reopen it.
    opts: store::StoreOptions,
    sync: SyncMode,
    sync_interval: Duration,
    telemetry: Arc<Telemetry>,
    clock: Arc<dyn Clock>,
    /// Highest seq appended but not yet fsynced (interval mode).
    unsynced: Option<Seq>,
    /// A cursor moved (an `Ack`) since the last sync: a sync is due even
    /// with nothing appended, so the acks at stop (after the last append)
    /// are on disk before the process ends.
    acked: bool,
    /// The disk-full state: the records behind `unsynced` (kept until a
    /// sync covers them), the records held in memory while the WAL is
    /// closed, the acks and drops received meanwhile (`overflow.rs`).
    overflow: Overflow,
    /// The enabled backends, also while `store` is closed.
    backends: Vec<BackendId>,
    last_disk_full_warn: Option<Instant>,
    /// Drops since the last drop warning, by reason (rate-limited).
    unlogged_drops: BTreeMap<DropReason, u64>,
    last_drop_warn: Option<Instant>,
    /// Wall and monotonic time at the last sweep, for the jump check.
    last_tick: Option<(i64, Instant)>,
}

impl Wal {
    pub fn new(store: WalStore, cfg: &BufferConfig, telemetry: Arc<Telemetry>) -> Wal {
        let issued = store.last_seq();
        let opts = store::StoreOptions::of(cfg);
        Wal {
            store: Some(store),
            opts,
            sync: cfg.sync,
            sync_interval: cfg.sync_interval,
            telemetry,
            clock: Arc::new(SystemClock),
            unsynced: None,
            acked: false,
            overflow: Overflow::new(issued),
            backends: Vec::new(),
            last_disk_full_warn: None,
            unlogged_drops: BTreeMap::new(),
            last_drop_warn: None,
            last_tick: None,
        }
    }

    /// Replaces the clocks (tests: a wall clock that jumps).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Wal {
        self.clock = clock;
        self
    }

    fn path_str(&self) -> String {
        self.opts.path.display().to_string()
    }

    fn sync_now(&mut self) -> Result<(), WalError> {
        if self.unsynced.is_none() && !self.acked {
            return Ok(());
        }
        let Some(store) = self.store.as_ref() else {
            return Err(self.unavailable());
        };
        if let Err(e) = store.flush() {
            self.broke(&e);
            return Err(e);
        }
        self.acked = false;
        if let Some(seq) = self.unsynced.take() {
            self.overflow.synced();
            log::debug!(seq = seq.0; "WAL synced.");
        }
        if store.cache_is_full() {
            self.reopen_store();
        }
        Ok(())
    }

    /// Closes and reopens sled, right after a sync, to free the pages it
    /// keeps in memory (`records::Layout`); the store keeps what it knows.
    fn reopen_store(&mut self) {
        let Some(store) = self.store.take() else {
            return;
        };
        let (last_seq, cursors) = (store.last_seq(), store.cursors());
        let started = self.clock.instant();
        match store.reopen() {
            Ok(store) => {
                log::debug!(took:? = started.elapsed(); "WAL reopened to free its cache.");
                self.store = Some(store);
                self.telemetry.count_wal_reopen(1.0);
            }
            Err((e, Some(old))) => {
                self.store = Some(*old);
                self.broke(&e);
            }
            Err((e, None)) => {
                self.overflow.closed(last_seq, cursors, started);
                self.closed(&e, started);
            }
        }
    }

    fn unavailable(&self) -> WalError {
        WalError::Unavailable {
            path: self.path_str(),
            samples: self.overflow_samples(),
        }
    }

    fn overflow_samples(&self) -> u64 {
        self.overflow.samples()
    }

    /// A write failed: sled has poisoned itself, so close it; what it may
    /// have lost (records appended and cursors moved since the last sync)
    /// is kept for the reopen.
    fn broke(&mut self, err: &WalError) {
        let Some(old) = self.store.take() else {
            return;
        };
        let now = self.clock.instant();
        self.overflow.close(&old, now);
        drop(old);
        self.closed(err, now);
    }

    /// The store is gone (closed by `broke`, or lost by a reopen): new
    /// samples are held in memory until it opens again.
    fn closed(&mut self, err: &WalError, now: Instant) {
        self.unsynced = None;
        self.telemetry.set(
            "sentinel_wal_writable",
            "1 when the WAL can be written, 0 while the disk is full.",
            Labels::new(),
            0.0,
        );
        log::error!(
            path = self.path_str().as_str(),
            error:% = err;
            "WAL write failed (disk full?); holding new samples in memory and retrying."
        );
        self.last_disk_full_warn = Some(now);
    }

    /// Holds a record in memory, dropping the oldest held ones past the
    /// bound (counted as `disk_full` for every backend).
    fn hold(&mut self, held: Held) {
        log::debug!(samples = held.samples, ts_ms = held.ts_ms; "Samples held in memory.");
        let bound = OVERFLOW_MAX_BYTES.min(self.opts.max_size / OVERFLOW_SHARE);
        let lost = self.overflow.hold(held, bound, &self.backends);
        if lost > 0 {
            for b in &self.backends {
                self.record_drop(b, DropReason::DiskFull, lost);
            }
        }
        let now = self.clock.instant();
        if self
            .last_disk_full_warn
            .is_none_or(|t| now.duration_since(t) >= WARN_EVERY)
        {
            self.last_disk_full_warn = Some(now);
            log::warn!(
                path = self.path_str().as_str(),
                samples = self.overflow_samples(),
                backlog = self.overflow.bytes();
                "WAL still cannot be written; samples held in memory (the oldest are dropped past the bound)."
            );
        }
    }

    /// Samples made part of the WAL: appended, or written from memory
    /// once a full disk has room again (not when they are held).
    fn count_accepted(&self, samples: u64) {
        self.telemetry.count_accepted(samples as f64);
    }

    /// Reopens a closed WAL and writes back what was held in memory.
    fn try_reopen(&mut self, force: bool) {
        let now = self.clock.instant();
        if !self.overflow.reopen_due(now, REOPEN_EVERY, force) {
            return;
        }
        let mut store = match open_catching_panics(&self.opts) {
            Ok(s) => s,
            Err(e) => {
                log::debug!(error:% = e; "WAL reopen failed; trying again.");
                return;
            }
        };
        let telemetry = &self.telemetry;
        let restored = match self.overflow.restore_into(
            &mut store,
            &self.backends,
            self.sync == SyncMode::Always,
            &mut |n| telemetry.count_accepted(n as f64),
        ) {
            Ok(n) => n,
            Err(e) => {
                log::debug!(error:% = e; "WAL still cannot be written; trying again.");
                return;
            }
        };
        let broken_since = self.overflow.reopened(&store);
        self.store = Some(store);
        self.unsynced = None;
        self.telemetry.set(
            "sentinel_wal_writable",
            "1 when the WAL can be written, 0 while the disk is full.",
            Labels::new(),
            1.0,
        );
        let since = broken_since.unwrap_or(now);
        log::info!(
            path = self.path_str().as_str(),
            samples = restored,
            duration_ms = now.duration_since(since).as_millis() as u64;
            "WAL is writable again; samples held in memory are in it now."
        );
    }

    fn sweep(&mut self) {
        self.check_clock();
        if self.store.is_none() {
            self.try_reopen(false);
        }
        let now_ms = self.clock.now_ms();
        let now = self.clock.instant();
        if let Some(store) = self.store.as_mut() {
            let caps = store.enforce_caps(now_ms).and_then(|mut events| {
                let before = store.disk_bytes();
                let (more, compacted) = store.enforce_disk(now)?;
                if compacted {
                    log::info!(
                        path = store.path().display().to_string().as_str(),
                        disk_bytes = before,
                        disk_bytes_after = store.disk_bytes(),
                        record_bytes = store.stats().map(|s| s.record_bytes).unwrap_or(0);
                        "WAL compacted."
                    );
                }
                events.extend(more);
                Ok(events)
            });
            match caps {
                Ok(events) => {
                    for ev in events {
                        self.record_drop(&ev.backend, ev.reason, ev.samples);
                        *self.unlogged_drops.entry(ev.reason).or_default() += ev.samples;
                    }
                }
                Err(e) => {
                    log::error!(error:% = e; "WAL retention failed.");
                    if matches!(e, WalError::Storage { .. }) {
                        self.broke(&e);
                    }
                }
            }
        }
        self.log_drops(now);
        self.publish_stats();
    }

    /// Logs the cap drops since the last warning, at most every `WARN_EVERY`.
    fn log_drops(&mut self, now: Instant) {
        if self.unlogged_drops.is_empty()
            || self
                .last_drop_warn
                .is_some_and(|t| now.duration_since(t) < WARN_EVERY)
        {
            return;
        }
        self.last_drop_warn = Some(now);
        for (reason, samples) in std::mem::take(&mut self.unlogged_drops) {
            log::warn!(
                samples = samples,
                reason = reason.as_str(),
                max_size = self.opts.max_size,
                max_age_s = self.opts.max_age.as_secs();
                "WAL cap reached, oldest samples dropped."
            );
        }
    }

    /// Logs a jump of the wall clock against the monotonic clock since the
    /// last sweep. Intervals run on the monotonic clock, so nothing stalls;
    /// the log explains odd timestamps and age-cap drops.
    fn check_clock(&mut self) {
        let wall = self.clock.now_ms();
        let mono = self.clock.instant();
        if let Some((w0, m0)) = self.last_tick {
            let expected = mono.duration_since(m0).as_millis() as i64;
            let jump = (wall - w0) - expected;
            if jump.unsigned_abs() > CLOCK_JUMP_THRESHOLD.as_millis() as u64 {
                let direction = if jump > 0 { "forward" } else { "backward" };
                self.telemetry.count_clock_jump(direction, 1.0);
                log::warn!(
                    duration_ms = jump.unsigned_abs(),
                    direction = direction;
                    "Wall clock jumped."
                );
            }
        }
        self.last_tick = Some((wall, mono));
    }

    fn record_drop(&self, backend: &BackendId, reason: DropReason, samples: u64) {
        self.telemetry
            .count_dropped(backend.as_str(), reason.as_str(), samples as f64);
    }

    fn stats(&self) -> Result<WalStats, WalError> {
        let mut stats = match &self.store {
            Some(store) => store.stats()?,
            None => WalStats {
                disk_bytes: store::dir_size(&self.opts.path),
                ..WalStats::default()
            },
        };
        stats.overflow_samples = self.overflow_samples();
        Ok(stats)
    }

    /// Refreshes the WAL gauges of `/metrics`.
    fn publish_stats(&self) {
        let Ok(stats) = self.stats() else {
            return;
        };
        self.telemetry.set(
            "sentinel_wal_disk_bytes",
            "Bytes the WAL's files take on disk.",
            Labels::new(),
            stats.disk_bytes as f64,
        );
        self.telemetry.set(
            "sentinel_wal_overflow_samples",
            "Samples held in memory because the WAL cannot be written.",
            Labels::new(),
            stats.overflow_samples as f64,
        );
        let now = self.clock.now_ms();
        for (b, bs) in &stats.backends {
            let l = Labels::new().with("backend", b.as_str());
            self.telemetry.set(
                "sentinel_wal_samples_pending",
                "Samples in the WAL not yet acknowledged by the backend.",
                l.clone(),
                bs.pending_samples as f64,
            );
            let age = bs
                .oldest_ts_ms
                .map(|ts| ((now - ts).max(0) as f64) / 1000.0)
                .unwrap_or(0.0);
            self.telemetry.set(
                "sentinel_wal_oldest_sample_age_seconds",
                "Age of the oldest sample the backend has not acknowledged.",
                l,
                age,
            );
        }
    }
}

impl Actor for Wal {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        if self.sync == SyncMode::Interval {
            ctx.run_interval(self.sync_interval, |wal, _| {
                if wal.store.is_some() {
                    if let Err(e) = wal.sync_now() {
                        log::error!(error:% = e; "WAL sync failed.");
                    }
                }
            });
        }
        ctx.run_interval(RETENTION_SWEEP, |wal, _| wal.sweep());
        self.sweep();
    }

    fn stopped(&mut self, _ctx: &mut Context<Self>) {
        if self.store.is_none() {
            self.try_reopen(true);
        }
        if self.store.is_some() {
            if let Err(e) = self.sync_now() {
                log::error!(error:% = e; "WAL sync at stop failed.");
            }
        }
        let held = self.overflow_samples();
        if held > 0 {
            log::error!(
                path = self.path_str().as_str(),
                samples = held;
                "WAL stopped while the disk was full; samples held in memory are lost."
            );
        }
    }
}

impl Handler<Append> for Wal {
    type Result = Result<Seq, WalError>;

    /// Encodes the run as records of at most `MAX_RECORD_BYTES` and
    /// appends them (see `append_pieces`).
    fn handle(&mut self, msg: Append, _: &mut Context<Self>) -> Self::Result {
        if msg.samples.is_empty() {
            return Ok(self.store.as_ref().map(|s| s.last_seq()).unwrap_or(Seq(0)));
        }
        self.append_pieces(&msg.task_id, encode_pieces(&msg.samples))
    }
}

impl Handler<AppendRecord> for Wal {
    type Result = Result<Seq, WalError>;

    /// Appends a record the probe encoded (`record::RunWriter` keeps it
    /// under `MAX_RECORD_BYTES` unless it is one series).
    fn handle(&mut self, msg: AppendRecord, _: &mut Context<Self>) -> Self::Result {
        let head = record::header(&msg.record).map_err(|e| WalError::Corrupt {
            path: self.path_str(),
            reason: format!("task {} gave a record that is not one: {e}", msg.task_id),
        })?;
        if head.samples == 0 {
            return Ok(self.store.as_ref().map(|s| s.last_seq()).unwrap_or(Seq(0)));
        }
        let held = Held {
            seq: None,
            bytes: msg.record,
            samples: u64::from(head.samples),
            ts_ms: head.max_ts_ms,
        };
        self.append_pieces(&msg.task_id, vec![held])
    }
}

impl Wal {
    /// Appends the records of one run and, in `always` mode, fsyncs
    /// before answering. While the WAL cannot be written the records are
    /// held in memory instead.
    fn append_pieces(&mut self, task_id: &TaskId, pieces: Vec<Held>) -> Result<Seq, WalError> {
        let last = self.store.as_ref().map(|s| s.last_seq()).unwrap_or(Seq(0));
        let samples: u64 = pieces.iter().map(|h| h.samples).sum();
        let ts_ms = pieces.iter().map(|h| h.ts_ms).max().unwrap_or(0);
        let mut pieces = pieces.into_iter();
        let mut seq = last;
        // Samples of the pieces appended before a failure: with
        // `interval` they count as accepted when appended.
        let mut appended = 0;
        while let Some(held) = pieces.next() {
            // Held records go first, so a new one waits behind them.
            let writable = self.store.is_some() && self.overflow.is_empty();
            let result = match self.store.as_mut() {
                Some(store) if writable => store.append(&held.bytes).map(Some),
                _ => Ok(None),
            };
            seq = match result {
                Ok(Some(seq)) => seq,
                failed => {
                    if let Err(e) = failed {
                        self.broke(&e);
                    }
                    if self.sync == SyncMode::Interval {
                        self.count_accepted(appended);
                    }
                    self.hold(held);
                    pieces.for_each(|h| self.hold(h));
                    return Ok(last);
                }
            };
            appended += held.samples;
            self.unsynced = Some(seq);
            self.overflow.appended(seq, held);
        }
        if self.sync == SyncMode::Always && self.sync_now().is_err() {
            // broke() kept the record for the reopen; not accepted yet.
            return Ok(last);
        }
        self.count_accepted(samples);
        log::debug!(
            task_id = task_id.as_str(),
            samples = samples,
            seq = seq.0,
            ts_ms = ts_ms;
            "Samples appended."
        );
        Ok(seq)
    }
}

impl Handler<ReadBatch> for Wal {
    type Result = Result<Option<Batch>, WalError>;

    fn handle(&mut self, msg: ReadBatch, _: &mut Context<Self>) -> Self::Result {
        match &self.store {
            Some(store) if msg.newest_first => {
                store.read_batch_newest(&msg.backend, msg.max_samples, msg.max_bytes, msg.live)
            }
            Some(store) => {
                store.read_batch_bounded(&msg.backend, msg.max_samples, msg.max_bytes, msg.after)
            }
            // Nothing to read until the WAL is back; the shipper waits.
            None => Ok(None),
        }
    }
}

impl Handler<Release> for Wal {
    type Result = ();

    fn handle(&mut self, msg: Release, _: &mut Context<Self>) {
        if let Some(store) = &self.store {
            store.release(&msg.backend);
        }
    }
}

impl Handler<Ack> for Wal {
    type Result = Result<(), WalError>;

    fn handle(&mut self, msg: Ack, _: &mut Context<Self>) -> Self::Result {
        for (reason, n) in &msg.dropped {
            self.record_drop(&msg.backend, *reason, *n);
        }
        let result = match (self.store.as_mut(), msg.first) {
            (Some(store), Some(first)) => {
                store.ack_range(&msg.backend, first, msg.through, &msg.dropped)
            }
            (Some(store), None) => store.ack(&msg.backend, msg.through, &msg.dropped),
            (None, _) => Err(self.unavailable()),
        };
        self.acked |= result.is_ok();
        if let Err(e) = result {
            if matches!(e, WalError::Storage { .. }) {
                self.broke(&e);
            }
            // Kept for the reopen, so the backend is not sent it again.
            self.overflow
                .keep_ack(&msg.backend, msg.first, msg.through, msg.dropped);
        }
        Ok(())
    }
}

impl Handler<SetBackends> for Wal {
    type Result = Result<(), WalError>;

    fn handle(&mut self, msg: SetBackends, _: &mut Context<Self>) -> Self::Result {
        self.backends = msg.backends.clone();
        if let Some(store) = self.store.as_mut() {
            store.set_backends(&msg.backends)?;
        }
        self.publish_stats();
        Ok(())
    }
}

impl Handler<Flush> for Wal {
    type Result = Result<(), WalError>;

    fn handle(&mut self, _: Flush, _: &mut Context<Self>) -> Self::Result {
        if self.store.is_none() {
            self.try_reopen(true);
        }
        if self.store.is_none() {
            return Err(self.unavailable());
        }
        self.sync_now()
    }
}

impl Handler<GetStats> for Wal {
    type Result = Result<WalStats, WalError>;

    fn handle(&mut self, _: GetStats, _: &mut Context<Self>) -> Self::Result {
        self.stats()
    }
}

/// The largest record the WAL stores: under sled's blob threshold
/// (`segment_size / 4` = 128 KiB, less its headers), so every record is
/// written into sled's log and its space comes back with the segment
/// once the record is removed. A larger one would be a file of its own
/// under `blobs/`, which sled removes only when the log segment holding
/// the removal fills up: with only large records that is after hundreds
/// of them, so dropped records' files piled up past `max_size` (the
/// `wal` module doc, "Cost").
pub const MAX_RECORD_BYTES: usize = 112 << 10;

/// The records `Append` stores for a run (see `MAX_RECORD_BYTES`), for
/// tools that fill a WAL as the agent would.
pub fn encode_records(samples: &[Sample]) -> Vec<Vec<u8>> {
    encode_pieces(samples)
        .into_iter()
        .map(|h| h.bytes)
        .collect()
}

/// Encodes a run as records of at most `MAX_RECORD_BYTES` (a run is cut
/// between samples, in the order given, into as few records as fit).
fn encode_pieces(samples: &[Sample]) -> Vec<Held> {
    let held = |part: &[Sample], bytes: Vec<u8>| Held {
        seq: None,
        bytes,
        samples: part.len() as u64,
        ts_ms: part.iter().map(|s| s.timestamp_ms).max().unwrap_or(0),
    };
    let bytes = record::encode(samples);
    if bytes.len() <= MAX_RECORD_BYTES || samples.len() < 2 {
        return vec![held(samples, bytes)];
    }
    // Cut into the pieces the size suggests (with room to spare), then
    // halve any piece still too large.
    let parts = bytes.len().div_ceil(MAX_RECORD_BYTES * 9 / 10);
    let per = samples.len().div_ceil(parts);
    samples.chunks(per).flat_map(encode_pieces).collect()
}

/// Opens the WAL described by `cfg`; a damaged one is moved aside to
/// `<path>.corrupt-<unix time>` and replaced by a fresh one.
pub fn open_or_recover(cfg: &BufferConfig) -> Result<WalStore, WalError> {
    let opts = store::StoreOptions::of(cfg);
    prepare_dir(&cfg.path)?;
    match open_catching_panics(&opts) {
        Err(WalError::Corrupt { reason, .. }) => {
            let aside = move_aside(&cfg.path)?;
            log::error!(
                error = reason.as_str(),
                path = aside.display().to_string().as_str();
                "WAL is damaged; moved it aside and started a fresh one."
            );
            open_catching_panics(&opts)
        }
        other => other,
    }
}

/// Creates the WAL's parent directory and checks that it is writable, so
/// a permission problem is reported as one rather than as damage.
fn prepare_dir(path: &Path) -> Result<(), WalError> {
    let err = |reason: String| WalError::Open {
        path: path.display().to_string(),
        reason,
    };
    std::fs::create_dir_all(path).map_err(|e| err(permission_hint(path, e)))?;
    let probe = path.join(".sentinel-write-test");
    std::fs::write(&probe, b"ok").map_err(|e| err(permission_hint(path, e)))?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

fn permission_hint(path: &Path, e: std::io::Error) -> String {
    if e.kind() == std::io::ErrorKind::PermissionDenied {
        // SAFETY: geteuid has no preconditions and cannot fail.
        let uid = unsafe { libc::geteuid() };
        let user = user_name(uid).unwrap_or_else(|| "?".into());
        format!(
            "{e}: the agent runs as user {user} (uid {uid}), which may not write to {}; fix \
             the owner (chown {user} {}) or set buffer.path to a writable directory",
            path.display(),
            path.display()
        )
    } else {
        e.to_string()
    }
}

/// The login name of `uid`, from the password database.
fn user_name(uid: libc::uid_t) -> Option<String> {
    let mut buf = vec![0u8; 4096];
    // SAFETY: `pwd` and `buf` outlive the call; getpwuid_r writes only
    // into them and sets `result` to `&pwd` or null.
    unsafe {
        let mut pwd: libc::passwd = std::mem::zeroed();
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        let rc = libc::getpwuid_r(
            uid,
            &mut pwd,
            buf.as_mut_ptr().cast(),
            buf.len(),
            &mut result,
        );
        if rc != 0 || result.is_null() || pwd.pw_name.is_null() {
            return None;
        }
        Some(
            std::ffi::CStr::from_ptr(pwd.pw_name)
                .to_string_lossy()
                .into_owned(),
        )
    }
}

fn open_catching_panics(opts: &store::StoreOptions) -> Result<WalStore, WalError> {
    let opts2 = opts.clone();
    match std::panic::catch_unwind(move || WalStore::open(&opts2)) {
        Ok(r) => r,
        Err(panic) => {
            let reason = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "sled panicked while opening it".into());
            Err(WalError::Corrupt {
                path: opts.path.display().to_string(),
                reason,
            })
        }
    }
}

fn move_aside(path: &Path) -> Result<PathBuf, WalError> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let mut aside = path.as_os_str().to_owned();
    aside.push(format!(".corrupt-{now}"));
    let aside = PathBuf::from(aside);
    std::fs::rename(path, &aside).map_err(|e| WalError::Open {
        path: path.display().to_string(),
        reason: format!(
            "cannot move the damaged WAL aside to {}: {e}",
            aside.display()
        ),
    })?;
    Ok(aside)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn buffer(path: PathBuf) -> BufferConfig {
        BufferConfig {
            path,
            max_size: 64 << 20,
            max_age: Duration::from_secs(3600),
            sync: SyncMode::Always,
            sync_interval: Duration::from_secs(1),
            cache_size: 1 << 20,
        }
    }

    fn sample() -> Vec<Sample> {
        vec![Sample::new(
            "up",
            Labels::new().with("task_id", "t"),
            1.0,
            5,
        )]
    }

    #[test]
    fn garbage_in_the_files_moves_the_wal_aside() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = buffer(dir.path().join("wal"));
        {
            let mut s = open_or_recover(&cfg).unwrap();
            s.append(&record::encode(&sample())).unwrap();
            s.flush().unwrap();
        }
        // Damage every file sled wrote.
        for e in std::fs::read_dir(&cfg.path).unwrap().flatten() {
            if e.path().is_file() {
                std::fs::write(e.path(), vec![0xA5u8; 4096]).unwrap();
            }
        }
        let mut s = open_or_recover(&cfg).expect("a fresh WAL after damage");
        assert_eq!(s.stats().unwrap().records, 0);
        s.append(&record::encode(&sample())).unwrap();
        let aside: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().to_string())
            .filter(|n| n.starts_with("wal.corrupt-"))
            .collect();
        assert_eq!(aside.len(), 1, "{aside:?}");
    }

    /// Copies a WAL directory as it is on disk.
    fn copy_dir(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for e in std::fs::read_dir(from).unwrap().flatten() {
            if e.path().is_dir() {
                copy_dir(&e.path(), &to.join(e.file_name()));
            } else {
                std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
            }
        }
    }

    /// At a clean stop the shippers' last acks come after the last append
    /// was synced: the `Flush` at stop must still make the cursor durable,
    /// or a process that ends before sled's drop (the runtime's exit
    /// races the WAL's thread) sends that batch again after the restart.
    /// The files are copied right after the `Flush`, as such an exit
    /// leaves them. A second backend keeps the record (a removal would
    /// push sled's buffer out by itself).
    #[test]
    fn flush_makes_an_ack_durable_without_a_new_append() {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = buffer(dir.path().join("wal"));
        cfg.sync = SyncMode::Interval;
        let store = open_or_recover(&cfg).unwrap();
        let mut wal = Wal::new(store, &cfg, Arc::new(Telemetry::new()));
        let mut ctx = Context::<Wal>::new();
        let bk = BackendId("vm".into());
        let backends = vec![bk.clone(), BackendId("prom".into())];
        Handler::handle(&mut wal, SetBackends { backends }, &mut ctx).unwrap();
        let append = Append {
            task_id: TaskId("t".into()),
            samples: sample(),
        };
        let seq = Handler::handle(&mut wal, append, &mut ctx).unwrap();
        Handler::handle(&mut wal, Flush, &mut ctx).unwrap();
        let ack = Ack {
            backend: bk.clone(),
            through: seq,
            first: None,
            dropped: Vec::new(),
        };
        Handler::handle(&mut wal, ack, &mut ctx).unwrap();
        Handler::handle(&mut wal, Flush, &mut ctx).unwrap();
        let on_disk = dir.path().join("on-disk");
        copy_dir(&cfg.path, &on_disk);
        drop(wal);
        let copy = store::StoreOptions {
            path: on_disk,
            ..store::StoreOptions::of(&cfg)
        };
        let cursors = WalStore::open(&copy).unwrap().cursors();
        assert_eq!(
            cursors.get("vm"),
            Some(&seq.0),
            "the acked cursor is on disk"
        );
    }

    /// Writes a WAL with `n` records, flushed, and returns its config.
    fn written(dir: &Path, n: usize) -> BufferConfig {
        let cfg = buffer(dir.join("wal"));
        let mut s = open_or_recover(&cfg).unwrap();
        for _ in 0..n {
            s.append(&record::encode(&sample())).unwrap();
        }
        s.flush().unwrap();
        cfg
    }

    fn aside(dir: &Path) -> usize {
        std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with("wal.corrupt-"))
            .count()
    }

    /// Every way of damaging the files ends in a WAL that opens and takes
    /// writes, twice in a row (no crash loop); what sled cannot read is
    /// moved aside.
    #[test]
    fn truncated_and_missing_files_never_stop_the_open() {
        type Damage = fn(&Path);
        let cases: [(&str, Damage); 5] = [
            ("db truncated to half", |p| {
                let f = p.join("db");
                let len = std::fs::metadata(&f).unwrap().len();
                std::fs::OpenOptions::new()
                    .write(true)
                    .open(&f)
                    .unwrap()
                    .set_len(len / 2)
                    .unwrap();
            }),
            ("db truncated to 10 bytes", |p| {
                std::fs::OpenOptions::new()
                    .write(true)
                    .open(p.join("db"))
                    .unwrap()
                    .set_len(10)
                    .unwrap();
            }),
            ("db missing", |p| {
                std::fs::remove_file(p.join("db")).unwrap()
            }),
            ("conf missing", |p| {
                std::fs::remove_file(p.join("conf")).unwrap()
            }),
            ("blobs missing", |p| {
                std::fs::remove_dir_all(p.join("blobs")).unwrap()
            }),
        ];
        for (what, damage) in cases {
            let dir = tempfile::tempdir().unwrap();
            let cfg = written(dir.path(), 50);
            damage(&cfg.path);
            for round in 0..2 {
                let mut s =
                    open_or_recover(&cfg).unwrap_or_else(|e| panic!("{what}, open {round}: {e}"));
                let seq = s
                    .append(&record::encode(&sample()))
                    .unwrap_or_else(|e| panic!("{what}, append {round}: {e}"));
                // Seqs never repeat, whatever was lost.
                assert!(seq.0 > 50 + round, "{what}: seq {seq:?} reused");
                s.flush().unwrap();
            }
            eprintln!("{what}: moved aside {} time(s)", aside(dir.path()));
            assert!(aside(dir.path()) <= 1, "{what}");
        }
    }

    /// When round 0 of `scrape_run` was scraped (ms); round `r` is `r`
    /// seconds later.
    pub(super) const SCRAPE_T0_MS: i64 = 1_700_000_000_000;

    /// A scrape run of `series` series with 16-digit ids and noisy values
    /// (about 23 bytes a sample in a record, as the compare workload).
    pub(super) fn scrape_run(series: usize, round: u64) -> Vec<Sample> {
        let mut x = round.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..series)
            .map(|i| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                Sample::new(
                    "node_value",
                    Labels::new().with("task_id", "scrape").with(
                        "id",
                        format!("{:016x}", (i as u64).wrapping_mul(0x2545_F491_4F6C_DD1D)),
                    ),
                    (x % 1_000_000) as f64,
                    SCRAPE_T0_MS + round as i64 * 1000,
                )
            })
            .collect()
    }

    #[test]
    fn a_run_is_cut_into_records_under_the_blob_threshold() {
        let run = scrape_run(8192, 1);
        let whole = record::encode(&run).len();
        let pieces = encode_pieces(&run);
        eprintln!(
            "8192 samples: {whole} bytes whole, pieces {:?}",
            pieces.iter().map(|p| p.bytes.len()).collect::<Vec<_>>()
        );
        assert!(whole > MAX_RECORD_BYTES, "the run should need cutting");
        assert!(pieces.len() >= 2);
        assert!(pieces.iter().all(|p| p.bytes.len() <= MAX_RECORD_BYTES));
        assert_eq!(pieces.iter().map(|p| p.samples).sum::<u64>(), 8192);
        let one = encode_pieces(&run[..100]);
        assert_eq!(one.len(), 1);
    }

    /// `buffer.max_size` holds at any write rate: a writer appending
    /// compare-workload runs (8,192 samples, about 190 KB) far faster than
    /// the WAL's sweep runs, `du` sampled after every append.
    #[test]
    fn a_fast_writer_never_takes_du_past_max_size_and_the_margin() {
        let dir = tempfile::tempdir().unwrap();
        let max_size: u64 = 16 << 20;
        let opts = store::StoreOptions {
            path: dir.path().join("wal"),
            cache_size: 4 << 20,
            max_size,
            max_age: Duration::from_secs(365 * 86_400),
        };
        let mut s = WalStore::open(&opts).unwrap();
        s.set_backends(&[BackendId("vm".into())]).unwrap();
        let bound = max_size + retention::DISK_MARGIN;
        let (mut peak, mut appended, mut dropped) = (0, 0u64, 0u64);
        // Four distinct runs, encoded once (encoding is not under test).
        let runs: Vec<Vec<Held>> = (0..4)
            .map(|r| encode_pieces(&scrape_run(8192, r)))
            .collect();
        let start = Instant::now();
        for round in 0..300u64 {
            for held in &runs[round as usize % runs.len()] {
                s.append(&held.bytes).unwrap();
                appended += held.bytes.len() as u64;
                let du = s.disk_bytes();
                peak = peak.max(du);
                assert!(
                    du <= bound,
                    "du {du} > max_size {max_size} + margin after {appended} bytes appended"
                );
            }
            // The sync every 2 runs, the sweep every 150 (~30 MB: a
            // second of a 30 MB/s writer).
            if round % 2 == 1 {
                s.flush().unwrap();
            }
            if round % 150 == 149 {
                s.flush().unwrap();
                dropped += s
                    .enforce_caps(crate::sample::now_ms())
                    .unwrap()
                    .iter()
                    .map(|e| e.samples)
                    .sum::<u64>();
                let (more, _) = s.enforce_disk(Instant::now()).unwrap();
                dropped += more.iter().map(|e| e.samples).sum::<u64>();
            }
        }
        eprintln!(
            "{appended} bytes appended in {:.1?}, du peak {peak} (bound {bound}), {dropped} \
             samples dropped",
            start.elapsed()
        );
        assert!(
            appended > 2 * bound,
            "the writer wrote too little to test the bound"
        );
        assert!(dropped > 0);
    }

    #[test]
    fn an_unwritable_path_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("not-a-dir");
        std::fs::write(&file, b"x").unwrap();
        let cfg = buffer(file.join("wal"));
        let err = open_or_recover(&cfg).err().expect("must fail");
        assert!(err.to_string().contains("not-a-dir/wal"), "{err}");
    }
}
