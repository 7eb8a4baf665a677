//! `WalStore`: the write-ahead log on sled, as plain synchronous code (no
//! actix). The `Wal` actor in `mod.rs` is a thin shell over it.
//!
//! Layout (see the module doc of `wal` for the invariants):
//!
//! | tree      | key                          | value                         |
//! |-----------|------------------------------|-------------------------------|
//! | `records` | seq, u64 big-endian          | one record (`wal::record`)    |
//! | `records.<hex>` | the same, large records, 4 per tree (`records.rs`) | |
//! | `cursors` | backend name (UTF-8)         | last acknowledged seq, u64 BE |
//! | `cursors` | `backend\0acked`             | ranges acknowledged above it  |
//! | `drops`   | `backend\0reason`            | samples dropped, u64 BE       |
//! | `meta`    | `removed_through`            | highest seq ever removed      |
//!
//! Big-endian keys make sled's byte order the append order, so the oldest
//! record is `first()` and a backend's next batch is `range(cursor+1..)`
//! (`backfill: in_order`). A `newest_first` backend reads the newest
//! records first and the backlog behind them: `ranges.rs` decides which,
//! and keeps what it acknowledged above its cursor (persisted as pairs of
//! u64 BE, start and end, under `backend\0acked`). A record goes when
//! every backend has acknowledged it, by cursor or by range.
//!
//! The size cap applies to the files (`du`), through a record budget and
//! compaction: see `retention.rs`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::sample::{BackendId, Seq};
use crate::wal::ranges::{self, Acked, Limits, Reader};
use crate::wal::record;
use crate::wal::records::{Layout, Records, ScanPos};
use crate::wal::retention::{self, DiskAction, DiskBudget};

/// Why a drop happened; the label `reason` of `sentinel_samples_dropped_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DropReason {
    /// `buffer.max_size` reached: oldest dropped first.
    Size,
    /// Older than `buffer.max_age`.
    Age,
    /// The backend answered 400/422: the batch is invalid and never will be valid.
    Rejected,
    /// A single series larger than the backend accepts (413 after splitting).
    TooLarge,
    /// A record that cannot be decoded (damaged on disk).
    Corrupt,
    /// Older than the backend's `max_sample_age`: it would refuse them.
    TooOld,
    /// The disk was full and the in-memory overflow too.
    DiskFull,
    /// The backend refused them as out of order or too old for its head
    /// (Prometheus without `out_of_order_time_window`, on a backfill).
    OutOfOrder,
}

impl DropReason {
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::Size => "size",
            DropReason::Age => "age",
            DropReason::Rejected => "rejected",
            DropReason::TooLarge => "too_large",
            DropReason::Corrupt => "corrupt",
            DropReason::TooOld => "too_old",
            DropReason::DiskFull => "disk_full",
            DropReason::OutOfOrder => "out_of_order",
        }
    }

    pub const ALL: [DropReason; 8] = [
        DropReason::Size,
        DropReason::Age,
        DropReason::Rejected,
        DropReason::TooLarge,
        DropReason::Corrupt,
        DropReason::TooOld,
        DropReason::DiskFull,
        DropReason::OutOfOrder,
    ];
}

/// What can go wrong with the log itself.
#[derive(Debug, thiserror::Error)]
pub enum WalError {
    #[error("cannot open the WAL at {path}: {reason}")]
    Open { path: String, reason: String },
    #[error(
        "the WAL at {path} is in use by another process (is another sentinel running with the \
         same buffer.path?)"
    )]
    Locked { path: String },
    #[error("WAL storage error at {path}: {source}")]
    Storage {
        path: String,
        #[source]
        source: sled::Error,
    },
    /// The files are there but sled cannot make sense of them.
    #[error("the WAL at {path} is damaged: {reason}")]
    Corrupt { path: String, reason: String },
    #[error("unknown backend {backend}")]
    UnknownBackend { backend: String },
    /// A write failed (disk full) and the WAL is closed until it can be
    /// reopened; new samples wait in memory.
    #[error(
        "the WAL at {path} cannot be written now (is the disk full?); {samples} samples are \
         held in memory until it can: free space on that filesystem"
    )]
    Unavailable { path: String, samples: u64 },
}

/// One batch of records for one backend, oldest first.
#[derive(Debug, Clone)]
pub struct Batch {
    pub backend: BackendId,
    pub first: Seq,
    pub last: Seq,
    /// Record bytes in seq order.
    pub records: Vec<sled::IVec>,
    pub samples: u64,
    /// The newest records (`newest_first`), not the backlog.
    pub live: bool,
}

/// Samples one backend lost to a cap.
#[derive(Debug, Clone, PartialEq)]
pub struct DropEvent {
    pub backend: BackendId,
    pub reason: DropReason,
    pub samples: u64,
}

/// Per-backend state reported by `stats`.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BackendStats {
    pub cursor: u64,
    pub pending_samples: u64,
    pub pending_records: u64,
    /// Timestamp of the oldest sample not yet acknowledged by this backend.
    pub oldest_ts_ms: Option<i64>,
    pub drops: BTreeMap<String, u64>,
    /// Samples the backend took per second lately: filled in by the
    /// running agent (`/api/wal/stats`), absent when read from disk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send_rate_samples_per_second: Option<f64>,
    /// Seconds until the backlog is delivered at that rate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backlog_eta_seconds: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct WalStats {
    pub records: u64,
    pub samples: u64,
    /// Sum of the stored record sizes.
    pub record_bytes: u64,
    /// What the record bytes may reach now (see `retention.rs`).
    #[serde(default)]
    pub record_budget: u64,
    /// What the files take on disk.
    pub disk_bytes: u64,
    /// Samples held in memory because the disk was full.
    #[serde(default)]
    pub overflow_samples: u64,
    pub last_seq: u64,
    pub backends: BTreeMap<String, BackendStats>,
}

/// Options for opening the store.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    pub path: PathBuf,
    pub cache_size: u64,
    /// Size cap on the WAL's files (`du`), see `retention.rs`.
    pub max_size: u64,
    pub max_age: Duration,
}

impl StoreOptions {
    /// The options `buffer:` gives.
    pub fn of(cfg: &crate::config::BufferConfig) -> StoreOptions {
        StoreOptions {
            path: cfg.path.clone(),
            cache_size: cfg.cache_size,
            max_size: cfg.max_size,
            max_age: cfg.max_age,
        }
    }
}

/// The per-record facts the store keeps in memory so that caps and stats
/// need no disk reads.
#[derive(Debug, Clone, Copy)]
struct Meta {
    bytes: u64,
    samples: u64,
    min_ts_ms: i64,
    max_ts_ms: i64,
}

impl Meta {
    /// The facts of a record of `bytes` bytes with this header.
    fn of(h: &record::RecordHeader, bytes: usize) -> Meta {
        Meta {
            bytes: bytes as u64,
            samples: h.samples as u64,
            min_ts_ms: h.min_ts_ms,
            max_ts_ms: h.max_ts_ms,
        }
    }
}

/// The log. Not thread-safe by design: one owner (the `Wal` actor).
pub struct WalStore {
    path: PathBuf,
    /// What it was opened with, for a compaction's reopen.
    opts: StoreOptions,
    db: sled::Db,
    /// sled's log file (`<path>/db`), opened a second time to fsync it:
    /// see `flush`.
    log_file: std::fs::File,
    /// The newest blob file (`<path>/blobs/<lsn>`) fsynced so far: see
    /// `sync_blobs`.
    blobs_synced: std::cell::Cell<Option<u64>>,
    records: Records,
    cursors: sled::Tree,
    drops: sled::Tree,
    meta: sled::Tree,
    /// Next seq to hand out.
    next_seq: u64,
    /// seq → facts, for every stored record (rebuilt from headers on open).
    index: BTreeMap<u64, Meta>,
    /// Sum of `index` bytes.
    record_bytes: u64,
    /// backend → last acknowledged seq; the enabled backends only.
    backends: BTreeMap<String, u64>,
    /// backend → last seq of the batch it was handed and has not yet
    /// acknowledged. Caps never drop those records: the backend may be
    /// storing them right now, and counting them as dropped would count
    /// them twice. A cap passes over them, so it can be exceeded by one
    /// window of batches (`concurrency`) per backend. The shipper releases
    /// them only once none of its requests is in flight.
    in_flight: std::cell::RefCell<BTreeMap<String, u64>>,
    /// backend → ranges acknowledged above its cursor (`newest_first`;
    /// empty for `in_order`). Its `cursor` mirrors `backends`.
    acked: BTreeMap<String, Acked>,
    /// backend → its `newest_first` reads in flight and live frontier.
    readers: std::cell::RefCell<BTreeMap<String, Reader>>,
    /// The share of `max_size` the records may take (`retention.rs`).
    budget: DiskBudget,
    max_age: Duration,
    /// The records found lost when the store was opened (first, last):
    /// made durable, not delivered everywhere, gone from the database.
    lost_on_open: Option<(u64, u64)>,
    /// Drops made by `append` to keep the records within the budget,
    /// reported by the next `enforce_caps`.
    append_drops: Vec<DropEvent>,
}

const META_REMOVED_THROUGH: &[u8] = b"removed_through";

/// sled's log file inside the WAL directory (sled 0.34: `<path>/db`).
const SLED_LOG_FILE: &str = "db";
/// sled's directory of messages too large for its log (sled 0.34).
const SLED_BLOB_DIR: &str = "blobs";

/// A file next to sled's own (outside the database) holding the highest
/// seq a flush made durable, then the highest seq every backend had
/// acknowledged by then (`"120 97"`; older versions wrote the first
/// only). If the database comes back without some records (a truncated or
/// deleted `db` file), the records that had not yet been delivered
/// everywhere are logged as lost instead of passing silently, and seqs
/// continue above it (they never repeat). Written after each successful
/// flush, without its own fsync: after a power cut it may lag, never lead.
const SYNCED_SEQ_FILE: &str = "sentinel-synced-seq";

fn be(seq: u64) -> [u8; 8] {
    seq.to_be_bytes()
}

fn read_u64(v: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    let n = v.len().min(8);
    b[8 - n..].copy_from_slice(&v[v.len() - n..]);
    u64::from_be_bytes(b)
}

/// The record bytes sled may hold in memory before the WAL closes and
/// reopens it (`records::Layout`): twice `buffer.cache_size`, at least
/// 8 MiB (below that the reopens cost more than they save).
fn cache_bound(opts: &StoreOptions) -> u64 {
    // Tests go down to 64 KiB, to reopen often with little data.
    let least = if cfg!(test) { 64 << 10 } else { 8 << 20 };
    (2 * opts.cache_size).max(least)
}

/// How long an open waits for the database's lock. A child process that
/// another thread starts (an exec probe, `mount` in a test) holds a copy
/// of every open file, the database's and its lock included, from its fork
/// to its exec: a reopen right after a drop can find the lock taken by its
/// own, already closed, database for that moment. Another agent on the
/// same path is reported once this has passed.
const LOCK_WAIT: Duration = Duration::from_secs(2);

/// Opens the database at `opts.path` and sled's log file (to fsync it),
/// waiting up to `lock_wait` for its lock.
fn open_db(
    opts: &StoreOptions,
    lock_wait: Duration,
) -> Result<(sled::Db, std::fs::File), WalError> {
    let path_str = opts.path.display().to_string();
    let deadline = Instant::now() + lock_wait;
    let db = loop {
        let opened = match sled_config(&opts.path, opts.cache_size).open() {
            // sled writes a snapshot at every open, to `snap.<lsn>.generating`
            // first, renamed when complete; a write that failed (disk full)
            // leaves that file behind, and sled 0.34 then takes it for the
            // newest snapshot and refuses every later open as corrupt. An
            // unrenamed snapshot was never complete: remove it, try again.
            Err(sled::Error::Corruption { .. }) if remove_unfinished_snapshots(&opts.path) > 0 => {
                sled_config(&opts.path, opts.cache_size).open()
            }
            other => other,
        };
        match opened.map_err(|e| open_error(&path_str, e)) {
            Err(WalError::Locked { .. }) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10));
            }
            other => break other?,
        }
    };
    let log_file =
        std::fs::File::open(opts.path.join(SLED_LOG_FILE)).map_err(|e| WalError::Storage {
            path: path_str,
            source: sled::Error::Io(e),
        })?;
    Ok((db, log_file))
}

/// The sled settings of every WAL database (the live one and a
/// compaction's copy).
fn sled_config(path: &Path, cache_size: u64) -> sled::Config {
    sled::Config::new()
        .path(path)
        .cache_capacity(cache_size)
        .mode(sled::Mode::LowSpace)
        // The actor decides when to fsync (buffer.sync).
        .flush_every_ms(None)
}

impl WalStore {
    /// Opens (or creates) the log at `opts.path`, after finishing or
    /// undoing a compaction that a crash interrupted. Waits up to
    /// [`LOCK_WAIT`] for a database this process has just closed.
    pub fn open(opts: &StoreOptions) -> Result<WalStore, WalError> {
        WalStore::open_waiting(opts, LOCK_WAIT)
    }

    /// [`WalStore::open`], but `WalError::Locked` at once when another
    /// process holds the WAL (`wal stats` then asks the running agent).
    pub fn open_unless_locked(opts: &StoreOptions) -> Result<WalStore, WalError> {
        WalStore::open_waiting(opts, Duration::ZERO)
    }

    fn open_waiting(opts: &StoreOptions, lock_wait: Duration) -> Result<WalStore, WalError> {
        match retention::finish_interrupted(&opts.path) {
            Ok(Some(did)) => log::warn!(
                path = opts.path.display().to_string().as_str(),
                reason = did;
                "WAL compaction was interrupted; recovered."
            ),
            Ok(None) => {}
            Err(e) => {
                return Err(WalError::Open {
                    path: opts.path.display().to_string(),
                    reason: format!("cannot clean up an interrupted compaction: {e}"),
                })
            }
        }
        WalStore::open_at(opts, lock_wait)
    }

    fn open_at(opts: &StoreOptions, lock_wait: Duration) -> Result<WalStore, WalError> {
        let path_str = opts.path.display().to_string();
        let storage = |source| WalError::Storage {
            path: path_str.clone(),
            source,
        };
        // Every record is read once for its header, a few MiB at a time,
        // the database closed and opened again in between: sled keeps
        // every page it has read (records::Layout says why).
        let mut pos = ScanPos::default();
        let mut layout = Layout::default();
        let mut index = BTreeMap::new();
        let mut damaged = Vec::new();
        let mut last = 0;
        let mut wait = lock_wait;
        let (db, log_file) = loop {
            let (db, log_file) = open_db(opts, wait)?;
            // Later pieces open what this loop has just closed.
            wait = LOCK_WAIT;
            let done = Records::scan_some(
                &db,
                &mut pos,
                cache_bound(opts),
                &mut layout,
                &mut |seq, v| {
                    last = last.max(seq);
                    match record::header(v) {
                        Ok(h) => {
                            index.insert(seq, Meta::of(&h, v.len()));
                        }
                        Err(e) => {
                            log::error!(error:% = e; "Damaged WAL record removed.");
                            damaged.push(seq);
                        }
                    }
                },
            )
            .map_err(storage)?;
            if done {
                break (db, log_file);
            }
        };
        let records = Records::with_layout(&db, layout).map_err(storage)?;
        let mut store = WalStore::with_handles(opts, db, log_file, records)?;
        store.record_bytes = index.values().map(|m| m.bytes).sum();
        store.index = index;
        for seq in damaged {
            store.records.remove(be(seq)).map_err(storage)?;
        }
        store.rebuild_index(last)?;
        // The backends of the last run, until `set_backends` says
        // otherwise: a cap applied before then is counted for them.
        store.load_cursors()?;
        Ok(store)
    }

    /// A store over freshly opened handles, knowing nothing yet.
    fn with_handles(
        opts: &StoreOptions,
        db: sled::Db,
        log_file: std::fs::File,
        records: Records,
    ) -> Result<WalStore, WalError> {
        let tree = |name: &str| {
            db.open_tree(name).map_err(|source| WalError::Storage {
                path: opts.path.display().to_string(),
                source,
            })
        };
        let (cursors, drops, meta) = (tree("cursors")?, tree("drops")?, tree("meta")?);
        Ok(WalStore {
            path: opts.path.clone(),
            opts: opts.clone(),
            db,
            log_file,
            blobs_synced: std::cell::Cell::new(None),
            records,
            cursors,
            drops,
            meta,
            next_seq: 1,
            index: BTreeMap::new(),
            record_bytes: 0,
            backends: BTreeMap::new(),
            in_flight: Default::default(),
            acked: BTreeMap::new(),
            readers: Default::default(),
            budget: DiskBudget::new(opts.max_size),
            max_age: opts.max_age,
            lost_on_open: None,
            append_drops: Vec::new(),
        })
    }

    /// Whether the records sled holds in memory passed `cache_bound`: then
    /// the owner should [`WalStore::reopen`] (after a sync).
    pub fn cache_is_full(&self) -> bool {
        self.records.touched().min(self.record_bytes) >= cache_bound(&self.opts)
    }

    /// Closes sled and opens it again, keeping everything the store knows
    /// in memory (index, cursors, ranges, in-flight marks, budget): this
    /// frees the pages sled 0.34 would otherwise keep for as long as their
    /// records are stored (`records::Layout`). Syncs first, so nothing is
    /// read back or lost. On an error the store is handed back if the
    /// sync failed, else it is gone: the owner opens it again from disk,
    /// as after any failed write.
    pub fn reopen(self) -> Result<WalStore, (WalError, Option<Box<WalStore>>)> {
        if let Err(e) = self.flush() {
            return Err((e, Some(Box::new(self))));
        }
        let WalStore {
            path: _,
            opts,
            db,
            log_file,
            blobs_synced,
            records,
            cursors,
            drops,
            meta,
            next_seq,
            index,
            record_bytes,
            backends,
            in_flight,
            acked,
            readers,
            budget,
            max_age: _,
            lost_on_open,
            append_drops,
        } = self;
        let layout = records.into_layout();
        drop((db, log_file, cursors, drops, meta));
        let reopened = open_db(&opts, LOCK_WAIT).and_then(|(db, log_file)| {
            let records =
                Records::with_layout(&db, layout).map_err(|source| WalError::Storage {
                    path: opts.path.display().to_string(),
                    source,
                })?;
            WalStore::with_handles(&opts, db, log_file, records)
        });
        let mut store = reopened.map_err(|e| (e, None))?;
        store.blobs_synced = blobs_synced;
        store.next_seq = next_seq;
        store.index = index;
        store.record_bytes = record_bytes;
        store.backends = backends;
        store.in_flight = in_flight;
        store.acked = acked;
        store.readers = readers;
        store.budget = budget;
        store.lost_on_open = lost_on_open;
        store.append_drops = append_drops;
        Ok(store)
    }

    fn storage(&self, source: sled::Error) -> WalError {
        WalError::Storage {
            path: self.path.display().to_string(),
            source,
        }
    }

    /// The rest of an open, once the records' headers are in the index
    /// (`last` is the highest seq found): where seqs go on, and what a
    /// damaged database lost.
    fn rebuild_index(&mut self, last: u64) -> Result<(), WalError> {
        let removed = self
            .meta
            .get(META_REMOVED_THROUGH)
            .map_err(|e| self.storage(e))?
            .map(|v| read_u64(&v))
            .unwrap_or(0);
        let mut max_cursor = 0;
        // The highest seq acknowledged by range: handed out, so never
        // handed out again (not a sign that what is below was delivered).
        let mut max_range_end = 0;
        for item in self.cursors.iter() {
            let (k, v) = item.map_err(|e| self.storage(e))?;
            if k.contains(&0) {
                let acked = Acked::new(0).with_encoded_ranges(&v);
                max_range_end =
                    max_range_end.max(acked.ranges().map(|(_, e)| e).max().unwrap_or(0));
                continue;
            }
            max_cursor = max_cursor.max(read_u64(&v));
        }
        let known = last.max(removed).max(max_cursor);
        let (synced, delivered) = read_synced_seq(&self.path).unwrap_or((0, 0));
        // What was delivered to every backend before the damage is not
        // lost, even when the database no longer has it.
        let first_lost = known.max(delivered) + 1;
        if synced >= first_lost {
            self.lost_on_open = Some((first_lost, synced));
            log::error!(
                path = self.path.display().to_string().as_str(),
                seq = synced,
                error = format!(
                    "records {first_lost}..={synced} were made durable but are not in the \
                     database (a truncated or deleted file) and had not been delivered to \
                     every backend; they are lost"
                )
                .as_str();
                "WAL lost records."
            );
        }
        self.next_seq = known.max(synced).max(max_range_end) + 1;
        Ok(())
    }

    /// Sets the enabled backends. A new backend starts at the oldest record
    /// still held (it gets the whole backlog); a backend no longer listed
    /// loses its cursor, which may free records.
    pub fn set_backends(&mut self, backends: &[BackendId]) -> Result<(), WalError> {
        let mut map = BTreeMap::new();
        for b in backends {
            let cursor = match self.cursors.get(b.as_str()).map_err(|e| self.storage(e))? {
                Some(v) => read_u64(&v),
                None => {
                    let start = self
                        .index
                        .keys()
                        .next()
                        .map(|s| s - 1)
                        .unwrap_or(self.next_seq - 1);
                    self.cursors
                        .insert(b.as_str(), &be(start))
                        .map_err(|e| self.storage(e))?;
                    start
                }
            };
            map.insert(b.0.clone(), cursor);
        }
        for item in self.cursors.iter() {
            let (k, _) = item.map_err(|e| self.storage(e))?;
            let name = backend_of_key(&k);
            if !map.contains_key(&name) {
                self.cursors.remove(k).map_err(|e| self.storage(e))?;
            }
        }
        self.backends = map;
        self.load_ranges()?;
        self.remove_acknowledged()?;
        let all: Vec<u64> = self.index.keys().copied().collect();
        self.remove_acked_by_all(&all)?;
        Ok(())
    }

    /// Takes the backends from the cursors on disk, changing nothing: for
    /// `wal stats` on a stopped agent.
    pub fn load_cursors(&mut self) -> Result<(), WalError> {
        let mut map = BTreeMap::new();
        for item in self.cursors.iter() {
            let (k, v) = item.map_err(|e| self.storage(e))?;
            if k.contains(&0) {
                continue;
            }
            map.insert(String::from_utf8_lossy(&k).to_string(), read_u64(&v));
        }
        self.backends = map;
        self.load_ranges()
    }

    /// Reads the acknowledged ranges of the enabled backends.
    fn load_ranges(&mut self) -> Result<(), WalError> {
        let mut acked = BTreeMap::new();
        for (b, cursor) in &self.backends {
            let key = ranges_key(b);
            let a = match self.cursors.get(&key).map_err(|e| self.storage(e))? {
                Some(v) => Acked::new(*cursor).with_encoded_ranges(&v),
                None => Acked::new(*cursor),
            };
            acked.insert(b.clone(), a);
        }
        self.acked = acked;
        Ok(())
    }

    /// Whether `backend` has acknowledged `seq` (by cursor or range).
    pub fn is_acked(&self, backend: &str, seq: u64) -> bool {
        match self.acked.get(backend) {
            Some(a) if a.cursor == self.backends.get(backend).copied().unwrap_or(0) => {
                a.contains(seq)
            }
            _ => self.backends.get(backend).is_some_and(|c| seq <= *c),
        }
    }

    /// Writes `backend`'s cursor and ranges (one sled batch).
    fn persist_acked(&mut self, backend: &str, acked: Acked) -> Result<(), WalError> {
        let mut batch = sled::Batch::default();
        batch.insert(backend.as_bytes(), &be(acked.cursor));
        let key = ranges_key(backend);
        if acked.ranges().next().is_some() {
            batch.insert(key, acked.encode_ranges());
        } else {
            batch.remove(key);
        }
        self.cursors
            .apply_batch(batch)
            .map_err(|e| self.storage(e))?;
        self.backends.insert(backend.to_string(), acked.cursor);
        self.acked.insert(backend.to_string(), acked);
        Ok(())
    }

    /// `backend`'s acknowledged records (cursor and ranges).
    fn acked_of(&self, backend: &str) -> Acked {
        let cursor = self.backends.get(backend).copied().unwrap_or(0);
        match self.acked.get(backend) {
            Some(a) if a.cursor == cursor => a.clone(),
            // The cursor moved on its own (a cap): ranges below it go.
            Some(a) => {
                let mut a = a.clone();
                a.advance(cursor, |x, y| {
                    x <= y && self.index.range(x..=y).next().is_some()
                });
                a
            }
            None => Acked::new(cursor),
        }
    }

    /// Removes the records in `seqs` that every enabled backend has
    /// acknowledged (by cursor or range).
    fn remove_acked_by_all(&mut self, seqs: &[u64]) -> Result<(), WalError> {
        if self.backends.is_empty() {
            return Ok(());
        }
        let done: Vec<u64> = seqs
            .iter()
            .copied()
            .filter(|s| self.index.contains_key(s))
            .filter(|s| self.backends.keys().all(|b| self.is_acked(b, *s)))
            .collect();
        self.remove(&done)
    }

    /// The next batch of a `newest_first` backend: the newest records it
    /// has not acknowledged, or else the oldest (see `ranges.rs`), at
    /// most `max_samples` samples and `max_bytes` record bytes (but at
    /// least one record).
    pub fn read_batch_newest(
        &self,
        backend: &BackendId,
        max_samples: u64,
        max_bytes: u64,
        live: bool,
    ) -> Result<Option<Batch>, WalError> {
        if !self.backends.contains_key(backend.as_str()) {
            return Err(WalError::UnknownBackend {
                backend: backend.0.clone(),
            });
        }
        let acked = self.acked_of(backend.as_str());
        let mut readers = self.readers.borrow_mut();
        let reader = readers.entry(backend.0.clone()).or_default();
        let limits = Limits {
            max_samples,
            max_bytes,
        };
        let Some(pick) = ranges::next_read(
            &acked,
            reader,
            &self.index,
            |m| (m.samples, m.bytes),
            limits,
            live,
        ) else {
            return Ok(None);
        };
        let mut records = Vec::with_capacity(pick.seqs.len());
        for seq in &pick.seqs {
            match self.records.get(be(*seq)).map_err(|e| self.storage(e))? {
                Some(v) => records.push(v),
                None => {
                    // Removed meanwhile (not possible on one thread);
                    // read again next time.
                    reader.done(pick.first, pick.last);
                    return Ok(None);
                }
            }
        }
        Ok(Some(Batch {
            backend: backend.clone(),
            first: Seq(pick.first),
            last: Seq(pick.last),
            records,
            samples: pick.samples,
            live: pick.stream == ranges::Stream::Live,
        }))
    }

    /// A `newest_first` batch `first..=last` is done: delivered, except
    /// the samples in `dropped`. The records go once every backend has
    /// them.
    pub fn ack_range(
        &mut self,
        backend: &BackendId,
        first: Seq,
        last: Seq,
        dropped: &[(DropReason, u64)],
    ) -> Result<(), WalError> {
        if !self.backends.contains_key(backend.as_str()) {
            return Err(WalError::UnknownBackend {
                backend: backend.0.clone(),
            });
        }
        if let Some(r) = self.readers.borrow_mut().get_mut(backend.as_str()) {
            r.done(first.0, last.0);
        }
        let mut acked = self.acked_of(backend.as_str());
        let before = acked.cursor;
        acked.insert(first.0, last.0, |x, y| {
            x <= y && self.index.range(x..=y).next().is_some()
        });
        let after = acked.cursor;
        self.persist_acked(backend.as_str(), acked)?;
        for (reason, n) in dropped {
            self.count_drop(backend.as_str(), *reason, *n)?;
        }
        self.remove_acknowledged()?;
        let candidates: Vec<u64> = self
            .index
            .range(first.0.min(before + 1)..=last.0.max(after))
            .map(|(s, _)| *s)
            .collect();
        self.remove_acked_by_all(&candidates)
    }

    /// Appends one record; returns its seq. Durable only after `flush`.
    pub fn append(&mut self, bytes: &[u8]) -> Result<Seq, WalError> {
        let h = record::header(bytes).map_err(|e| WalError::Open {
            path: self.path.display().to_string(),
            reason: format!("refusing to store a malformed record: {e}"),
        })?;
        let seq = self.next_seq;
        self.records
            .insert(be(seq), bytes)
            .map_err(|e| self.storage(e))?;
        self.next_seq += 1;
        self.index.insert(seq, Meta::of(&h, bytes.len()));
        self.record_bytes += bytes.len() as u64;
        // The budget holds at every append, not only at the next sweep:
        // a fast writer adds more than the margin in a second.
        if self.record_bytes > self.budget.records() + retention::APPEND_SLACK {
            let events = self.fit_budget()?;
            self.append_drops.extend(events);
        }
        Ok(Seq(seq))
    }

    /// Stores a record under a seq handed out before (by this store or
    /// by the database it replaced after a disk-full reopen), so that
    /// cursors and batches already read keep meaning the same records.
    /// Seqs above it are not handed out again.
    pub fn insert_at(&mut self, seq: Seq, bytes: &[u8]) -> Result<(), WalError> {
        let h = record::header(bytes).map_err(|e| WalError::Open {
            path: self.path.display().to_string(),
            reason: format!("refusing to store a malformed record: {e}"),
        })?;
        self.records
            .insert(be(seq.0), bytes)
            .map_err(|e| self.storage(e))?;
        self.next_seq = self.next_seq.max(seq.0 + 1);
        if let Some(old) = self.index.insert(seq.0, Meta::of(&h, bytes.len())) {
            self.record_bytes -= old.bytes;
        }
        self.record_bytes += bytes.len() as u64;
        Ok(())
    }

    /// Never hands out `seq` or anything below it (seqs that an earlier
    /// database handed out and this one lost).
    pub fn reserve_through(&mut self, seq: Seq) {
        self.next_seq = self.next_seq.max(seq.0 + 1);
    }

    /// Removes records without counting them (they were counted as
    /// dropped elsewhere); seqs not stored are ignored.
    pub fn discard(&mut self, seqs: &[Seq]) -> Result<(), WalError> {
        let held: Vec<u64> = seqs
            .iter()
            .map(|s| s.0)
            .filter(|s| self.index.contains_key(s))
            .collect();
        self.remove(&held)
    }

    /// Whether the in-memory index holds `seq` (no disk read).
    pub fn holds(&self, seq: Seq) -> bool {
        self.index.contains_key(&seq.0)
    }

    /// The cursors as this store knows them (also what it has not yet
    /// made durable).
    pub fn cursors(&self) -> BTreeMap<String, u64> {
        self.backends.clone()
    }

    /// Whether every enabled backend has acknowledged `seq` (false with no
    /// backend enabled).
    pub fn acknowledged_by_all(&self, seq: Seq) -> bool {
        !self.backends.is_empty() && self.backends.keys().all(|b| self.is_acked(b, seq.0))
    }

    /// Makes everything written so far durable (fsync).
    pub fn flush(&self) -> Result<usize, WalError> {
        let n = self.db.flush().map_err(|e| self.storage(e))?;
        // sled 0.34's flush ends with `sync_file_range` on Linux, which
        // writes the data out but neither the file's new size nor the
        // drive's cache (its own periodic flusher, off here, follows each
        // round with an fsync). A record that grew the file would survive
        // a `kill -9` but not a power cut. `fdatasync` makes it durable.
        self.log_file
            .sync_data()
            .map_err(|e| self.storage(sled::Error::Io(e)))?;
        self.sync_blobs()
            .map_err(|e| self.storage(sled::Error::Io(e)))?;
        // Only a detector (see SYNCED_SEQ_FILE): a failed write is harmless.
        let delivered = self.backends.values().min().copied().unwrap_or(0);
        let _ = std::fs::write(
            self.path.join(SYNCED_SEQ_FILE),
            format!("{} {delivered}", self.next_seq - 1),
        );
        Ok(n)
    }

    /// sled writes a message too large for its log (a node of a record
    /// above about 128 KiB: a big scrape, a many-host run) to a file of its
    /// own under `blobs/`, named by its LSN, and never fsyncs it nor the
    /// directory. Fsyncs the blob files created since the last flush, then
    /// the directory, so that a power cut cannot take a record the log
    /// points to.
    fn sync_blobs(&self) -> std::io::Result<()> {
        let dir = self.path.join(SLED_BLOB_DIR);
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        let done = self.blobs_synced.get();
        let mut newest = done;
        for entry in entries {
            let entry = entry?;
            let Some(lsn) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u64>().ok())
            else {
                continue;
            };
            if done.is_some_and(|d| lsn <= d) {
                continue;
            }
            match std::fs::File::open(entry.path()) {
                Ok(f) => f.sync_all()?,
                // Removed meanwhile (its page was rewritten): nothing to keep.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            }
            newest = newest.max(Some(lsn));
        }
        if newest != done {
            std::fs::File::open(&dir)?.sync_all()?;
            self.blobs_synced.set(newest);
        }
        Ok(())
    }

    /// The records found lost when the store was opened, as (first, last)
    /// seq: made durable, not yet delivered to every backend, and no
    /// longer in the database.
    pub fn lost_on_open(&self) -> Option<(u64, u64)> {
        self.lost_on_open
    }

    /// The last seq handed out (0 when none).
    pub fn last_seq(&self) -> Seq {
        Seq(self.next_seq - 1)
    }

    /// Up to `max_samples` samples (at least one record) after the backend's cursor.
    pub fn read_batch(
        &self,
        backend: &BackendId,
        max_samples: u64,
    ) -> Result<Option<Batch>, WalError> {
        self.read_batch_after(backend, max_samples, None)
    }

    /// [`read_batch`](Self::read_batch) starting after `after` when that is
    /// past the cursor: the shipper reads its next batch while earlier ones
    /// are still in flight (not yet acknowledged).
    pub fn read_batch_after(
        &self,
        backend: &BackendId,
        max_samples: u64,
        after: Option<Seq>,
    ) -> Result<Option<Batch>, WalError> {
        self.read_batch_bounded(backend, max_samples, u64::MAX, after)
    }

    /// [`read_batch_after`](Self::read_batch_after), also bounded to
    /// `max_bytes` record bytes (at least one record): a bandwidth cap
    /// keeps requests small.
    pub fn read_batch_bounded(
        &self,
        backend: &BackendId,
        max_samples: u64,
        max_bytes: u64,
        after: Option<Seq>,
    ) -> Result<Option<Batch>, WalError> {
        let cursor =
            *self
                .backends
                .get(backend.as_str())
                .ok_or_else(|| WalError::UnknownBackend {
                    backend: backend.0.clone(),
                })?;
        let ahead = after.is_some_and(|a| a.0 > cursor);
        let start = after.map_or(cursor, |a| a.0.max(cursor));
        let mut batch: Option<Batch> = None;
        let mut batch_bytes = 0u64;
        for item in self.records.range(be(start + 1)..) {
            let (k, v) = item.map_err(|e| self.storage(e))?;
            let seq = read_u64(&k);
            let samples = self.index.get(&seq).map(|m| m.samples).unwrap_or(0);
            let bytes = v.len() as u64;
            match &mut batch {
                None => {
                    batch_bytes = bytes;
                    batch = Some(Batch {
                        backend: backend.clone(),
                        first: Seq(seq),
                        last: Seq(seq),
                        records: vec![v],
                        samples,
                        live: false,
                    })
                }
                Some(b) => {
                    if b.samples + samples > max_samples || batch_bytes + bytes > max_bytes {
                        break;
                    }
                    batch_bytes += bytes;
                    b.last = Seq(seq);
                    b.records.push(v);
                    b.samples += samples;
                }
            }
            if batch.as_ref().is_some_and(|b| b.samples >= max_samples) {
                break;
            }
        }
        let mut in_flight = self.in_flight.borrow_mut();
        match &batch {
            Some(b) => in_flight.insert(backend.0.clone(), b.last.0),
            // Batches before `after` are still being delivered.
            None if ahead => None,
            None => in_flight.remove(backend.as_str()),
        };
        Ok(batch)
    }

    /// `backend`'s delivery attempt failed and waits for its retry: its
    /// batch is no longer protected from the caps (during an outage it is
    /// the oldest data, and `max_age`/`max_size` must take it first).
    pub fn release(&self, backend: &BackendId) {
        self.in_flight.borrow_mut().remove(backend.as_str());
        let cursor = self.backends.get(backend.as_str()).copied().unwrap_or(0);
        if let Some(r) = self.readers.borrow_mut().get_mut(backend.as_str()) {
            r.release(cursor);
        }
    }

    /// Whether `seq` is in a batch some backend is delivering now.
    fn is_in_flight(&self, seq: u64) -> bool {
        self.in_flight.borrow().iter().any(|(b, last)| {
            seq <= *last && self.backends.get(b).is_some_and(|cursor| seq > *cursor)
        }) || self
            .readers
            .borrow()
            .iter()
            .any(|(b, r)| r.is_in_flight(seq) && !self.is_acked(b, seq))
    }

    /// Moves the backend's cursor to `through` and removes what every
    /// backend has acknowledged. `dropped` counts samples of the batch as
    /// dropped by reason (a rejected batch), for this backend only.
    pub fn ack(
        &mut self,
        backend: &BackendId,
        through: Seq,
        dropped: &[(DropReason, u64)],
    ) -> Result<(), WalError> {
        let cursor =
            self.backends
                .get_mut(backend.as_str())
                .ok_or_else(|| WalError::UnknownBackend {
                    backend: backend.0.clone(),
                })?;
        let before = *cursor;
        if through.0 > *cursor {
            *cursor = through.0;
        }
        let c = *cursor;
        if self
            .acked
            .get(backend.as_str())
            .is_some_and(|a| a.ranges().next().is_some())
        {
            // Ranges of an earlier `newest_first` run.
            let mut acked = self.acked[backend.as_str()].clone();
            acked.advance(c, |x, y| x <= y && self.index.range(x..=y).next().is_some());
            self.persist_acked(backend.as_str(), acked)?;
        } else {
            self.cursors
                .insert(backend.as_str(), &be(c))
                .map_err(|e| self.storage(e))?;
            self.acked.insert(backend.0.clone(), Acked::new(c));
        }
        for (reason, n) in dropped {
            self.count_drop(backend.as_str(), *reason, *n)?;
        }
        self.remove_acknowledged()?;
        if c > before && self.acked.values().any(|a| a.ranges().next().is_some()) {
            // Records other backends acknowledged by range.
            let passed: Vec<u64> = self.index.range(before + 1..=c).map(|(s, _)| *s).collect();
            self.remove_acked_by_all(&passed)?;
        }
        Ok(())
    }

    /// Whether the record `seq` is stored.
    pub fn contains(&self, seq: Seq) -> Result<bool, WalError> {
        self.records
            .contains_key(be(seq.0))
            .map_err(|e| self.storage(e))
    }

    /// Adds `n` to the drop count of `backend` and `reason` (drops that
    /// happened outside the store, such as `disk_full`).
    pub fn add_drops(&self, backend: &str, reason: DropReason, n: u64) -> Result<(), WalError> {
        self.count_drop(backend, reason, n)
    }

    fn count_drop(&self, backend: &str, reason: DropReason, n: u64) -> Result<(), WalError> {
        if n == 0 {
            return Ok(());
        }
        let key = format!("{backend}\0{}", reason.as_str());
        self.drops
            .update_and_fetch(key.as_bytes(), |old| {
                Some(be(old.map(read_u64).unwrap_or(0) + n).to_vec())
            })
            .map_err(|e| self.storage(e))?;
        Ok(())
    }

    /// Removes the records every enabled backend has acknowledged. With no
    /// backend enabled nothing is removed (the caps still apply).
    fn remove_acknowledged(&mut self) -> Result<(), WalError> {
        let Some(min) = self.backends.values().min().copied() else {
            return Ok(());
        };
        let done: Vec<u64> = self.index.range(..=min).map(|(s, _)| *s).collect();
        self.remove(&done)
    }

    fn remove(&mut self, seqs: &[u64]) -> Result<(), WalError> {
        let Some(&top) = seqs.iter().max() else {
            return Ok(());
        };
        for s in seqs {
            if let Some(m) = self.index.remove(s) {
                self.record_bytes -= m.bytes;
            }
        }
        self.records.remove_all(seqs).map_err(|e| self.storage(e))?;
        let prev = self
            .meta
            .get(META_REMOVED_THROUGH)
            .map_err(|e| self.storage(e))?
            .map(|v| read_u64(&v))
            .unwrap_or(0);
        if top > prev {
            self.meta
                .insert(META_REMOVED_THROUGH, &be(top))
                .map_err(|e| self.storage(e))?;
        }
        Ok(())
    }

    /// Applies `buffer.max_age` and `buffer.max_size`. Returns what was
    /// dropped, per backend that had not yet acknowledged it.
    pub fn enforce_caps(&mut self, now_ms: i64) -> Result<Vec<DropEvent>, WalError> {
        let mut out = std::mem::take(&mut self.append_drops);
        let cutoff = now_ms - self.max_age.as_millis() as i64;
        // Every record older than the cutoff, wherever it is: append
        // order is nearly time order, but a backlog written before a
        // clock jump or seeded from elsewhere need not be.
        let old: Vec<u64> = self
            .index
            .iter()
            .filter(|(s, m)| m.max_ts_ms < cutoff && !self.is_in_flight(**s))
            .map(|(s, _)| *s)
            .collect();
        if !old.is_empty() {
            out.extend(self.drop_records(&old, DropReason::Age)?);
        }
        out.extend(self.fit_budget()?);
        Ok(out)
    }

    /// Drops the oldest records until the record bytes fit the budget.
    fn fit_budget(&mut self) -> Result<Vec<DropEvent>, WalError> {
        let mut out = Vec::new();
        let budget = self.budget.records();
        if self.record_bytes > budget {
            let mut excess = self.record_bytes - budget;
            let mut victims = Vec::new();
            for (s, m) in &self.index {
                if excess == 0 {
                    break;
                }
                // Oldest first, passing over a batch that is being
                // delivered (during an outage it is the oldest record).
                if self.is_in_flight(*s) {
                    continue;
                }
                victims.push(*s);
                excess = excess.saturating_sub(m.bytes);
            }
            out.extend(self.drop_records(&victims, DropReason::Size)?);
        }
        Ok(out)
    }

    /// Measures the files (`du`) against `max_size`: shrinks the record
    /// budget (dropping the oldest) or compacts, see `retention.rs`.
    /// Returns the drops and whether it compacted.
    pub fn enforce_disk(&mut self, now: Instant) -> Result<(Vec<DropEvent>, bool), WalError> {
        let disk = self.disk_bytes();
        match self.budget.observe(disk, self.record_bytes, now) {
            DiskAction::Keep => Ok((Vec::new(), false)),
            DiskAction::Shrink => Ok((self.fit_budget()?, false)),
            DiskAction::Compact => {
                self.compact()?;
                Ok((Vec::new(), true))
            }
        }
    }

    /// Bytes the WAL's files take on disk now (`du`).
    pub fn disk_bytes(&self) -> u64 {
        dir_size(&self.path)
    }

    /// What the records may take now.
    pub fn record_budget(&self) -> u64 {
        self.budget.records()
    }

    /// Rewrites every tree into a fresh sled database and swaps it in
    /// (see `retention.rs` for the steps and their crash safety). The
    /// cursors, seqs, drop counts and budget carry over unchanged.
    pub fn compact(&mut self) -> Result<(), WalError> {
        self.flush()?;
        let tmp = retention::compact_path(&self.path);
        let fail = |what: &str, e: &dyn std::fmt::Display| WalError::Open {
            path: self.path.display().to_string(),
            reason: format!("compaction failed ({what}): {e}"),
        };
        let _ = std::fs::remove_dir_all(&tmp);
        let copied = self.copy_into(&tmp);
        if let Err(e) = copied {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(fail("copying", &e));
        }
        let marker = retention::done_marker(&self.path);
        let old = retention::old_path(&self.path);
        std::fs::write(&marker, b"")
            .and_then(|_| sync_dir(&self.path))
            .map_err(|e| fail("marking the copy complete", &e))?;
        std::fs::rename(&self.path, &old).map_err(|e| fail("moving the old files", &e))?;
        std::fs::rename(&tmp, &self.path).map_err(|e| fail("moving the copy in", &e))?;
        let _ = sync_dir(&self.path);
        let mut fresh = WalStore::open_at(&self.opts, LOCK_WAIT)?;
        fresh.backends = std::mem::take(&mut self.backends);
        fresh.acked = std::mem::take(&mut self.acked);
        fresh.readers = std::mem::take(&mut self.readers);
        // A batch in flight stays protected from the caps in the copy.
        fresh.in_flight = std::mem::take(&mut self.in_flight);
        fresh.budget = self.budget.clone();
        *self = fresh;
        let _ = std::fs::remove_dir_all(&old);
        let _ = std::fs::remove_file(&marker);
        Ok(())
    }

    /// Copies every tree into a new database at `to` and flushes it.
    fn copy_into(&self, to: &Path) -> Result<(), sled::Error> {
        /// Keys per `apply_batch` while copying.
        const COPY_BATCH: usize = 1024;
        let db = sled_config(to, self.opts.cache_size).open()?;
        // Records one by one, so the copy keeps the layout (`records.rs`).
        let mut records = Records::open(&db)?;
        for item in self.records.iter() {
            let (k, v) = item?;
            records.insert(k, &v)?;
        }
        for (name, tree) in [
            ("cursors", &self.cursors),
            ("drops", &self.drops),
            ("meta", &self.meta),
        ] {
            let target = db.open_tree(name)?;
            let mut batch = sled::Batch::default();
            let mut n = 0;
            for item in tree.iter() {
                let (k, v) = item?;
                batch.insert(k, v);
                n += 1;
                if n % COPY_BATCH == 0 {
                    target.apply_batch(std::mem::take(&mut batch))?;
                }
            }
            target.apply_batch(batch)?;
        }
        db.flush()?;
        Ok(())
    }

    /// Removes `seqs` and counts their samples as dropped for every backend
    /// that had not acknowledged them.
    fn drop_records(
        &mut self,
        seqs: &[u64],
        reason: DropReason,
    ) -> Result<Vec<DropEvent>, WalError> {
        let mut per_backend: BTreeMap<String, u64> = BTreeMap::new();
        for s in seqs {
            let samples = self.index.get(s).map(|m| m.samples).unwrap_or(0);
            for b in self.backends.keys() {
                if !self.is_acked(b, *s) {
                    *per_backend.entry(b.clone()).or_default() += samples;
                }
            }
        }
        for (b, n) in &per_backend {
            self.count_drop(b, reason, *n)?;
        }
        self.remove(seqs)?;
        // A backend whose cursor is behind dropped records moves past them,
        // unless records it still needs lie in between (drops by age need
        // not be contiguous).
        if let Some(&top) = seqs.iter().max() {
            let moved: Vec<String> = self
                .backends
                .iter()
                .filter(|(_, c)| **c < top && self.index.range(**c + 1..top).next().is_none())
                .map(|(b, _)| b.clone())
                .collect();
            for b in moved {
                self.backends.insert(b.clone(), top);
                self.cursors
                    .insert(b.as_str(), &be(top))
                    .map_err(|e| self.storage(e))?;
            }
            // Ranges whose gaps the drop emptied merge (into the cursor).
            let names: Vec<String> = self.acked.keys().cloned().collect();
            for b in names {
                let before = self.acked[&b].clone();
                let mut a = self.acked_of(&b);
                a.close_gaps(|x, y| x <= y && self.index.range(x..=y).next().is_some());
                if a != before {
                    self.persist_acked(&b, a)?;
                }
            }
        }
        Ok(per_backend
            .into_iter()
            .map(|(backend, samples)| DropEvent {
                backend: BackendId(backend),
                reason,
                samples,
            })
            .collect())
    }

    /// Drops counted so far for `backend`, by reason.
    pub fn drops(&self, backend: &str) -> Result<BTreeMap<String, u64>, WalError> {
        let mut out = BTreeMap::new();
        for r in DropReason::ALL {
            let key = format!("{backend}\0{}", r.as_str());
            let n = self
                .drops
                .get(key.as_bytes())
                .map_err(|e| self.storage(e))?
                .map(|v| read_u64(&v))
                .unwrap_or(0);
            out.insert(r.as_str().to_string(), n);
        }
        Ok(out)
    }

    pub fn stats(&self) -> Result<WalStats, WalError> {
        let mut s = WalStats {
            records: self.index.len() as u64,
            samples: self.index.values().map(|m| m.samples).sum(),
            record_bytes: self.record_bytes,
            record_budget: self.budget.records(),
            disk_bytes: dir_size(&self.path),
            overflow_samples: 0,
            last_seq: self.next_seq - 1,
            backends: BTreeMap::new(),
        };
        for (b, cursor) in &self.backends {
            let pending = self.index.range(cursor + 1..);
            let mut bs = BackendStats {
                cursor: *cursor,
                drops: self.drops(b)?,
                ..Default::default()
            };
            for (seq, m) in pending {
                if !self.is_acked(b, *seq) {
                    bs.pending_records += 1;
                } else {
                    continue;
                }
                bs.pending_samples += m.samples;
                bs.oldest_ts_ms = Some(bs.oldest_ts_ms.map_or(m.min_ts_ms, |o| o.min(m.min_ts_ms)));
            }
            s.backends.insert(b.clone(), bs);
        }
        Ok(s)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Removes the snapshots sled did not finish writing
/// (`snap.<lsn>.generating`); returns how many.
fn remove_unfinished_snapshots(path: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(path) else {
        return 0;
    };
    let mut removed = 0;
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        if name.starts_with("snap.")
            && name.ends_with(".generating")
            && std::fs::remove_file(e.path()).is_ok()
        {
            log::warn!(
                path = path.display().to_string().as_str(),
                file = name.as_str();
                "Removed a WAL snapshot that sled did not finish writing (disk full?)."
            );
            removed += 1;
        }
    }
    removed
}

/// The seqs in `SYNCED_SEQ_FILE` (synced, delivered everywhere), if the
/// file is there and readable; delivered is 0 in an older version's file.
fn read_synced_seq(path: &Path) -> Option<(u64, u64)> {
    let text = std::fs::read_to_string(path.join(SYNCED_SEQ_FILE)).ok()?;
    let mut words = text.split_whitespace().map(|w| w.parse::<u64>());
    let synced = words.next()?.ok()?;
    let delivered = match words.next() {
        Some(d) => d.ok()?,
        None => 0,
    };
    Some((synced, delivered.min(synced)))
}

/// fsyncs the directory that holds `path`, so renames in it are durable.
fn sync_dir(path: &Path) -> std::io::Result<()> {
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
    std::fs::File::open(parent.unwrap_or(Path::new(".")))?.sync_all()
}

/// Bytes the directory's files occupy on disk (what `du` counts).
pub fn dir_size(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let mut total = 0;
    let Ok(entries) = std::fs::read_dir(path) else {
        return 0;
    };
    for e in entries.flatten() {
        let Ok(md) = e.metadata() else { continue };
        if md.is_dir() {
            total += dir_size(&e.path());
        } else {
            total += md.blocks() * 512;
        }
    }
    total
}

/// The key of `backend`'s acknowledged ranges in the `cursors` tree.
fn ranges_key(backend: &str) -> Vec<u8> {
    format!("{backend}\0acked").into_bytes()
}

/// The backend a `cursors` key belongs to (its cursor or its ranges).
fn backend_of_key(k: &[u8]) -> String {
    let name = k.split(|b| *b == 0).next().unwrap_or(k);
    String::from_utf8_lossy(name).to_string()
}

fn open_error(path: &str, e: sled::Error) -> WalError {
    match e {
        sled::Error::Io(io) if io.kind() == std::io::ErrorKind::WouldBlock => WalError::Locked {
            path: path.to_string(),
        },
        sled::Error::Io(io) if io.to_string().contains("lock") => WalError::Locked {
            path: path.to_string(),
        },
        sled::Error::Io(io) => WalError::Open {
            path: path.to_string(),
            reason: io.to_string(),
        },
        other => WalError::Corrupt {
            path: path.to_string(),
            reason: other.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::{Labels, Sample};

    fn opts(dir: &Path) -> StoreOptions {
        StoreOptions {
            path: dir.join("wal"),
            cache_size: 1 << 20,
            max_size: 1 << 30,
            max_age: Duration::from_secs(3600),
        }
    }

    fn run(n: usize, ts: i64) -> Vec<u8> {
        let samples: Vec<Sample> = (0..n)
            .map(|i| {
                Sample::new(
                    format!("m{i}"),
                    Labels::new().with("task_id", "t"),
                    i as f64,
                    ts,
                )
            })
            .collect();
        record::encode(&samples)
    }

    fn b(name: &str) -> BackendId {
        BackendId(name.to_string())
    }

    #[test]
    fn batches_follow_cursors_and_acked_records_go() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = WalStore::open(&opts(dir.path())).unwrap();
        s.set_backends(&[b("a"), b("b")]).unwrap();
        for i in 0..5 {
            s.append(&run(4, 1000 + i)).unwrap();
        }
        let batch = s.read_batch(&b("a"), 8).unwrap().unwrap();
        assert_eq!(
            (batch.first, batch.last, batch.samples),
            (Seq(1), Seq(2), 8)
        );
        s.ack(&b("a"), batch.last, &[]).unwrap();
        // b has acknowledged nothing: all five records stay.
        assert_eq!(s.stats().unwrap().records, 5);
        let next = s.read_batch(&b("a"), 8).unwrap().unwrap();
        assert_eq!(next.first, Seq(3));
        s.ack(&b("b"), Seq(3), &[]).unwrap();
        // Both are past 1 and 2 now.
        let st = s.stats().unwrap();
        assert_eq!(st.records, 3);
        assert_eq!(st.backends["a"].pending_samples, 12);
        assert_eq!(st.backends["b"].pending_samples, 8);
    }

    #[test]
    fn reads_ahead_of_the_cursor_start_after_the_last_batch_read() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = WalStore::open(&opts(dir.path())).unwrap();
        s.set_backends(&[b("a")]).unwrap();
        for i in 0..3 {
            s.append(&run(2, i)).unwrap();
        }
        let first = s.read_batch(&b("a"), 2).unwrap().unwrap();
        assert_eq!(first.first, Seq(1));
        let next = s
            .read_batch_after(&b("a"), 2, Some(first.last))
            .unwrap()
            .unwrap();
        assert_eq!((next.first, next.last), (Seq(2), Seq(2)));
        assert!(s
            .read_batch_after(&b("a"), 2, Some(Seq(3)))
            .unwrap()
            .is_none());
        // The cursor has not moved: a read from it starts at 1 again, and
        // `after` behind the cursor is the cursor.
        assert_eq!(s.read_batch(&b("a"), 2).unwrap().unwrap().first, Seq(1));
        s.ack(&b("a"), Seq(2), &[]).unwrap();
        let again = s
            .read_batch_after(&b("a"), 2, Some(Seq(1)))
            .unwrap()
            .unwrap();
        assert_eq!(again.first, Seq(3));
    }

    #[test]
    fn a_batch_holds_at_least_one_record() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = WalStore::open(&opts(dir.path())).unwrap();
        s.set_backends(&[b("a")]).unwrap();
        s.append(&run(10, 1)).unwrap();
        let batch = s.read_batch(&b("a"), 3).unwrap().unwrap();
        assert_eq!(batch.samples, 10);
        s.ack(&b("a"), batch.last, &[]).unwrap();
        assert!(s.read_batch(&b("a"), 3).unwrap().is_none());
    }

    /// Under a bandwidth cap a read stops at the byte bound, but always
    /// takes one record.
    #[test]
    fn a_read_is_bounded_in_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = WalStore::open(&opts(dir.path())).unwrap();
        s.set_backends(&[b("a")]).unwrap();
        let r = run(5, 1);
        for _ in 0..4 {
            s.append(&r).unwrap();
        }
        let len = r.len() as u64;
        let two = s
            .read_batch_bounded(&b("a"), 100, 2 * len + 1, None)
            .unwrap()
            .unwrap();
        assert_eq!((two.first, two.last), (Seq(1), Seq(2)));
        let one = s
            .read_batch_bounded(&b("a"), 100, 1, Some(two.last))
            .unwrap()
            .unwrap();
        assert_eq!((one.first, one.last), (Seq(3), Seq(3)));
        let newest = s
            .read_batch_newest(&b("a"), 100, len, true)
            .unwrap()
            .unwrap();
        assert_eq!((newest.first, newest.last), (Seq(4), Seq(4)));
    }

    #[test]
    fn cursors_and_seqs_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut s = WalStore::open(&opts(dir.path())).unwrap();
            s.set_backends(&[b("a")]).unwrap();
            for i in 0..3 {
                s.append(&run(2, i)).unwrap();
            }
            s.ack(&b("a"), Seq(3), &[]).unwrap();
            s.flush().unwrap();
        }
        let mut s = WalStore::open(&opts(dir.path())).unwrap();
        s.set_backends(&[b("a")]).unwrap();
        assert_eq!(s.stats().unwrap().records, 0);
        // Seqs never repeat, even after everything was removed.
        assert_eq!(s.append(&run(1, 9)).unwrap(), Seq(4));
        let batch = s.read_batch(&b("a"), 100).unwrap().unwrap();
        assert_eq!(batch.first, Seq(4));
    }

    /// A database that comes back without its records (here: deleted)
    /// reports as lost only what was not yet delivered to every backend.
    #[test]
    fn only_undelivered_records_are_reported_lost_after_damage() {
        for (acked_a, acked_b, lost) in [(9, 9, None), (9, 4, Some((5, 9))), (0, 9, Some((1, 9)))] {
            let dir = tempfile::tempdir().unwrap();
            let o = opts(dir.path());
            {
                let mut s = WalStore::open(&o).unwrap();
                s.set_backends(&[b("a"), b("b")]).unwrap();
                for i in 0..9 {
                    s.append(&run(2, i)).unwrap();
                }
                s.ack(&b("a"), Seq(acked_a), &[]).unwrap();
                s.ack(&b("b"), Seq(acked_b), &[]).unwrap();
                s.flush().unwrap();
            }
            // The database is gone; the file beside it stays.
            for e in std::fs::read_dir(&o.path).unwrap().flatten() {
                if e.file_name() != SYNCED_SEQ_FILE {
                    let p = e.path();
                    if p.is_dir() {
                        std::fs::remove_dir_all(p).unwrap();
                    } else {
                        std::fs::remove_file(p).unwrap();
                    }
                }
            }
            let mut s = WalStore::open(&o).unwrap();
            assert_eq!(s.lost_on_open(), lost, "acked {acked_a} and {acked_b}");
            // Seqs never repeat.
            assert_eq!(s.append(&run(1, 9)).unwrap(), Seq(10));
        }
        // An older version's file holds the synced seq alone.
        let dir = tempfile::tempdir().unwrap();
        let o = opts(dir.path());
        std::fs::create_dir_all(&o.path).unwrap();
        std::fs::write(o.path.join(SYNCED_SEQ_FILE), "7").unwrap();
        let s = WalStore::open(&o).unwrap();
        assert_eq!(s.lost_on_open(), Some((1, 7)));
    }

    #[test]
    fn a_new_backend_gets_the_backlog_and_a_removed_one_frees_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = WalStore::open(&opts(dir.path())).unwrap();
        s.set_backends(&[b("a")]).unwrap();
        s.append(&run(2, 1)).unwrap();
        s.append(&run(2, 2)).unwrap();
        s.ack(&b("a"), Seq(1), &[]).unwrap();
        s.set_backends(&[b("a"), b("new")]).unwrap();
        assert_eq!(s.stats().unwrap().backends["new"].pending_samples, 2);
        s.set_backends(&[b("new")]).unwrap();
        s.ack(&b("new"), Seq(2), &[]).unwrap();
        assert_eq!(s.stats().unwrap().records, 0);
    }

    #[test]
    fn size_cap_drops_oldest_and_counts_per_backend() {
        let dir = tempfile::tempdir().unwrap();
        let records: Vec<Vec<u8>> = (1..=5).map(|i| run(5, i)).collect();
        let mut o = opts(dir.path());
        // Room for the newest three exactly (the records get a third of
        // max_size, see retention.rs).
        o.max_size = 3 * records[2..].iter().map(|r| r.len() as u64).sum::<u64>();
        let mut s = WalStore::open(&o).unwrap();
        s.set_backends(&[b("a"), b("b")]).unwrap();
        for r in &records {
            s.append(r).unwrap();
        }
        s.ack(&b("a"), Seq(1), &[]).unwrap();
        let events = s.enforce_caps(10).unwrap();
        // Records 1 and 2 go; a had acknowledged record 1 already.
        let got: Vec<_> = events
            .iter()
            .map(|e| (e.backend.0.as_str(), e.reason, e.samples))
            .collect();
        assert_eq!(
            got,
            [("a", DropReason::Size, 5), ("b", DropReason::Size, 10)]
        );
        let st = s.stats().unwrap();
        assert_eq!(st.records, 3);
        assert_eq!(st.backends["b"].drops["size"], 10);
        assert_eq!(s.read_batch(&b("b"), 1).unwrap().unwrap().first, Seq(3));
    }

    #[test]
    fn age_cap_drops_old_records() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = WalStore::open(&opts(dir.path())).unwrap();
        s.set_backends(&[b("a")]).unwrap();
        s.append(&run(3, 1_000)).unwrap();
        s.append(&run(3, 10_000_000)).unwrap();
        let now = 10_000_000 + 1000;
        let events = s.enforce_caps(now).unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].reason, DropReason::Age);
        assert_eq!(events[0].samples, 3);
        assert_eq!(s.stats().unwrap().records, 1);
    }

    /// The caps pass over a batch while it is being sent, and take it
    /// once the attempt failed (during an outage it is the oldest data:
    /// keeping it would drop younger samples first and leave a hole).
    #[test]
    fn a_batch_is_spared_by_the_age_cap_only_while_in_flight() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = WalStore::open(&opts(dir.path())).unwrap();
        s.set_backends(&[b("a")]).unwrap();
        s.append(&run(3, 1_000)).unwrap();
        s.append(&run(3, 2_000)).unwrap();
        s.append(&run(3, 10_000_000)).unwrap();
        let batch = s.read_batch(&b("a"), 3).unwrap().unwrap();
        assert_eq!((batch.first, batch.last), (Seq(1), Seq(1)));
        let now = 10_000_000 + 1000;
        let events = s.enforce_caps(now).unwrap();
        let dropped: u64 = events.iter().map(|e| e.samples).sum();
        assert_eq!(dropped, 3, "only the record not in flight: {events:?}");
        s.release(&b("a"));
        let events = s.enforce_caps(now).unwrap();
        let dropped: u64 = events.iter().map(|e| e.samples).sum();
        assert_eq!(dropped, 3, "the released batch goes too: {events:?}");
        assert_eq!(s.stats().unwrap().records, 1);
        let next = s.read_batch(&b("a"), 100).unwrap().unwrap();
        assert_eq!(next.first, Seq(3));
    }

    /// A compaction (a fresh database replacing the old) keeps the batch
    /// in flight protected: a cap after it does not drop (and count) what
    /// a request may still deliver.
    /// A record of `series` series with noisy 16-digit ids (about 23
    /// bytes a series, so 2,000 series make a chunk-sized record), stamped
    /// `SCRAPE_T0 + round` seconds.
    fn big_run(series: usize, round: u64) -> Vec<u8> {
        record::encode(&crate::wal::tests::scrape_run(series, round))
    }

    /// When `big_run`'s round 0 was scraped.
    const SCRAPE_T0: i64 = crate::wal::tests::SCRAPE_T0_MS;

    /// Every record of `s`, read back in seq order.
    fn all_records(s: &WalStore) -> Vec<(u64, Vec<u8>)> {
        s.records
            .iter()
            .map(|r| {
                let (k, v) = r.unwrap();
                (read_u64(&k), v.to_vec())
            })
            .collect()
    }

    #[test]
    fn a_reopen_to_free_the_cache_keeps_everything_the_store_knows() {
        let dir = tempfile::tempdir().unwrap();
        let o = StoreOptions {
            cache_size: 32 << 10,
            ..opts(dir.path())
        };
        let mut s = WalStore::open(&o).unwrap();
        s.set_backends(&[b("a"), b("b")]).unwrap();
        // Large records (chunks: one full, one open) and small ones.
        let mut appended = Vec::new();
        for round in 0..6u64 {
            let big = big_run(2_000, round);
            assert!(big.len() >= crate::wal::records::CHUNK_MIN_BYTES);
            appended.push((s.append(&big).unwrap().0, big));
            let small = run(2, 5_000 + round as i64);
            appended.push((s.append(&small).unwrap().0, small));
        }
        s.flush().unwrap();
        assert_eq!(s.records.chunks(), 2);
        assert!(s.cache_is_full(), "{} touched", s.records.touched());
        let a = s.read_batch(&b("a"), 1).unwrap().unwrap();
        s.ack(&b("a"), a.last, &[]).unwrap();
        let in_flight = s.read_batch(&b("b"), 1).unwrap().unwrap();
        let (stats, cursors, last) = (s.stats().unwrap(), s.cursors(), s.last_seq());

        let mut s = s.reopen().map_err(|(e, _)| e).unwrap();
        assert_eq!(s.records.touched(), 0);
        assert!(!s.cache_is_full());
        let again = s.stats().unwrap();
        assert_eq!(
            (again.records, again.samples, again.record_bytes),
            (stats.records, stats.samples, stats.record_bytes)
        );
        assert_eq!((s.cursors(), s.last_seq()), (cursors, last));
        assert_eq!(all_records(&s), appended);
        // Appends go on: seqs continue, a large record fills the open chunk.
        let big = big_run(2_000, 20_000);
        let seq = s.append(&big).unwrap().0;
        assert_eq!(seq, last.0 + 1);
        assert_eq!(s.records.chunks(), 2, "the open chunk took it");
        // b's batch is still in flight: an age cap that drops every other
        // record spares it.
        assert_eq!(in_flight.first, Seq(1));
        // (max_age is an hour: a cap at 10 s past round 0's hour drops
        // rounds 0-5 and the small runs, not round 20,000.)
        let events = s.enforce_caps(SCRAPE_T0 + 3_600_000 + 10_000).unwrap();
        let spared = record::header(&appended[0].1).unwrap().samples as u64;
        let dropped: u64 = events
            .iter()
            .filter(|e| e.backend == b("b"))
            .map(|e| e.samples)
            .sum();
        assert_eq!(dropped, stats.samples - spared, "{events:?}");
        assert_eq!(
            s.stats().unwrap().records,
            2,
            "the one in flight and the new one"
        );
        s.release(&b("b"));
        // a reads on from its cursor (past what the cap dropped).
        let next = s.read_batch(&b("a"), 1).unwrap().unwrap();
        assert_eq!((next.first, next.last), (Seq(seq), Seq(seq)));
        s.flush().unwrap();
        let stats = s.stats().unwrap();
        drop(s);
        // And the files say the same to a fresh open.
        let s = WalStore::open(&o).unwrap();
        let fresh = s.stats().unwrap();
        assert_eq!(
            (fresh.records, fresh.samples, fresh.record_bytes),
            (stats.records, stats.samples, stats.record_bytes)
        );
        assert_eq!(s.last_seq(), Seq(seq));
    }

    #[test]
    fn an_open_reads_the_records_in_pieces_and_misses_none() {
        let dir = tempfile::tempdir().unwrap();
        // A bound of 64 KiB: about one large record a piece.
        let o = StoreOptions {
            cache_size: 256,
            ..opts(dir.path())
        };
        let mut s = WalStore::open(&o).unwrap();
        s.set_backends(&[b("a")]).unwrap();
        let mut appended = Vec::new();
        for round in 0..9u64 {
            let big = big_run(2_000 + 100 * round as usize, round);
            appended.push((s.append(&big).unwrap().0, big));
            for k in 0..3 {
                let small = run(1 + k, 7_000 + round as i64);
                appended.push((s.append(&small).unwrap().0, small));
            }
        }
        // A damaged record among them is still found and removed.
        let damaged = appended.remove(5);
        let mut bad = damaged.1.clone();
        bad[0] = 0xee;
        s.records.insert(be(damaged.0), &bad).unwrap();
        s.flush().unwrap();
        let stats = s.stats().unwrap();
        drop(s);
        let s = WalStore::open(&o).unwrap();
        assert_eq!(all_records(&s), appended);
        let again = s.stats().unwrap();
        assert_eq!(again.records, stats.records - 1);
        assert_eq!(
            again.samples,
            appended
                .iter()
                .map(|(_, r)| record::header(r).unwrap().samples as u64)
                .sum::<u64>()
        );
        assert_eq!(s.last_seq(), Seq(36));
        assert_eq!(s.records.chunks(), 3, "9 large records in chunks of 4");
    }

    #[test]
    fn a_batch_in_flight_stays_spared_across_a_compaction() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = WalStore::open(&opts(dir.path())).unwrap();
        s.set_backends(&[b("a")]).unwrap();
        s.append(&run(3, 1_000)).unwrap();
        s.append(&run(3, 10_000_000)).unwrap();
        let batch = s.read_batch(&b("a"), 3).unwrap().unwrap();
        assert_eq!((batch.first, batch.last), (Seq(1), Seq(1)));
        s.compact().unwrap();
        let events = s.enforce_caps(10_000_000 + 1000).unwrap();
        assert!(
            events.is_empty(),
            "the batch in flight was dropped: {events:?}"
        );
        s.release(&b("a"));
        let events = s.enforce_caps(10_000_000 + 1000).unwrap();
        let dropped: u64 = events.iter().map(|e| e.samples).sum();
        assert_eq!(dropped, 3, "released, it goes: {events:?}");
    }

    #[test]
    fn old_records_between_new_ones_go_and_the_new_ones_stay_readable() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = WalStore::open(&opts(dir.path())).unwrap();
        s.set_backends(&[b("a")]).unwrap();
        for ts in [1_000, 10_000_000, 2_000, 10_000_001] {
            s.append(&run(2, ts)).unwrap();
        }
        let events = s.enforce_caps(10_000_000 + 1000).unwrap();
        assert_eq!(events[0].samples, 4);
        let batch = s.read_batch(&b("a"), 100).unwrap().unwrap();
        assert_eq!(
            (batch.first, batch.last, batch.samples),
            (Seq(2), Seq(4), 4)
        );
    }

    #[test]
    fn rejected_samples_are_counted() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = WalStore::open(&opts(dir.path())).unwrap();
        s.set_backends(&[b("a")]).unwrap();
        s.append(&run(3, 1)).unwrap();
        s.ack(&b("a"), Seq(1), &[(DropReason::Rejected, 3)])
            .unwrap();
        s.ack(&b("a"), Seq(1), &[(DropReason::Rejected, 2)])
            .unwrap();
        assert_eq!(s.drops("a").unwrap()["rejected"], 5);
    }

    /// `newest_first`: the newest records go first, each batch is
    /// acknowledged as a range, and a record goes only when every backend
    /// has it (here `b` ships in order).
    #[test]
    fn newest_first_acks_ranges_and_records_go_when_every_backend_has_them() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = WalStore::open(&opts(dir.path())).unwrap();
        s.set_backends(&[b("a"), b("b")]).unwrap();
        for i in 0..10 {
            s.append(&run(2, 1000 + i)).unwrap();
        }
        let live = s
            .read_batch_newest(&b("a"), 6, u64::MAX, true)
            .unwrap()
            .unwrap();
        assert_eq!((live.first, live.last, live.live), (Seq(8), Seq(10), true));
        let back = s
            .read_batch_newest(&b("a"), 4, u64::MAX, true)
            .unwrap()
            .unwrap();
        assert_eq!((back.first, back.last, back.live), (Seq(1), Seq(2), false));
        s.ack_range(&b("a"), live.first, live.last, &[]).unwrap();
        let st = s.stats().unwrap();
        assert_eq!(st.backends["a"].pending_records, 7);
        assert_eq!(st.records, 10, "b has acknowledged nothing");
        s.ack(&b("b"), Seq(10), &[]).unwrap();
        // 8..=10 are acknowledged by both now, 1..=7 by b only.
        assert_eq!(s.stats().unwrap().records, 7);
        assert!(!s.holds(Seq(9)) && s.holds(Seq(3)));
        s.ack_range(&b("a"), back.first, back.last, &[]).unwrap();
        assert_eq!(s.stats().unwrap().records, 5);
        // The rest of the backlog, oldest first; then nothing.
        let rest = s
            .read_batch_newest(&b("a"), 100, u64::MAX, true)
            .unwrap()
            .unwrap();
        assert_eq!((rest.first, rest.last), (Seq(3), Seq(7)));
        assert!(s
            .read_batch_newest(&b("a"), 100, u64::MAX, true)
            .unwrap()
            .is_none());
        s.ack_range(&b("a"), rest.first, rest.last, &[]).unwrap();
        let st = s.stats().unwrap();
        assert_eq!((st.records, st.backends["a"].cursor), (0, 10));
    }

    /// A restart in the middle of a backfill keeps what was acknowledged
    /// above the cursor: nothing of it is sent again, nothing else lost.
    #[test]
    fn acknowledged_ranges_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut s = WalStore::open(&opts(dir.path())).unwrap();
            s.set_backends(&[b("a")]).unwrap();
            for i in 0..10 {
                s.append(&run(2, 1000 + i)).unwrap();
            }
            let live = s
                .read_batch_newest(&b("a"), 4, u64::MAX, true)
                .unwrap()
                .unwrap();
            s.ack_range(&b("a"), live.first, live.last, &[]).unwrap();
            let back = s
                .read_batch_newest(&b("a"), 4, u64::MAX, true)
                .unwrap()
                .unwrap();
            s.ack_range(&b("a"), back.first, back.last, &[]).unwrap();
            // In flight when the process dies: read again after.
            s.read_batch_newest(&b("a"), 4, u64::MAX, true)
                .unwrap()
                .unwrap();
            s.flush().unwrap();
        }
        let mut s = WalStore::open(&opts(dir.path())).unwrap();
        s.set_backends(&[b("a")]).unwrap();
        let st = s.stats().unwrap();
        assert_eq!(st.backends["a"].cursor, 2);
        assert_eq!(st.backends["a"].pending_records, 6, "3..=8");
        let mut got = Vec::new();
        while let Some(batch) = s.read_batch_newest(&b("a"), 4, u64::MAX, true).unwrap() {
            got.push((batch.first.0, batch.last.0));
            s.ack_range(&b("a"), batch.first, batch.last, &[]).unwrap();
        }
        assert_eq!(got, [(7, 8), (3, 4), (5, 6)]);
        assert_eq!(s.stats().unwrap().records, 0);
        assert_eq!(s.append(&run(1, 9)).unwrap(), Seq(11));
    }

    /// A cap counts only what the backend had not acknowledged, and the
    /// cursor closes over the gap it leaves.
    #[test]
    fn caps_count_only_records_a_range_does_not_cover() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = WalStore::open(&opts(dir.path())).unwrap();
        s.set_backends(&[b("a"), b("b")]).unwrap();
        for ts in [1_000, 2_000, 3_000, 10_000_000] {
            s.append(&run(3, ts)).unwrap();
        }
        s.ack_range(&b("a"), Seq(2), Seq(3), &[]).unwrap();
        let events = s.enforce_caps(10_000_000 + 1000).unwrap();
        let got: Vec<_> = events
            .iter()
            .map(|e| (e.backend.0.as_str(), e.samples))
            .collect();
        assert_eq!(got, [("a", 3), ("b", 9)]);
        let st = s.stats().unwrap();
        assert_eq!(st.backends["a"].cursor, 3);
        assert_eq!(st.backends["a"].pending_records, 1);
        let batch = s
            .read_batch_newest(&b("a"), 100, u64::MAX, true)
            .unwrap()
            .unwrap();
        assert_eq!((batch.first, batch.last), (Seq(4), Seq(4)));
    }

    #[test]
    fn a_second_open_is_reported_as_locked() {
        let dir = tempfile::tempdir().unwrap();
        let _s = WalStore::open(&opts(dir.path())).unwrap();
        match WalStore::open(&opts(dir.path())) {
            Err(e @ WalError::Locked { .. }) => {
                assert!(e.to_string().contains("in use by another process"), "{e}")
            }
            Err(e) => panic!("expected Locked, got {e}"),
            Ok(_) => panic!("second open succeeded"),
        }
        // `wal stats` does not wait for a lock another process holds.
        let started = Instant::now();
        assert!(matches!(
            WalStore::open_unless_locked(&opts(dir.path())),
            Err(WalError::Locked { .. })
        ));
        assert!(
            started.elapsed() < LOCK_WAIT,
            "open_unless_locked waited for the lock"
        );
    }

    #[test]
    fn a_store_opens_again_right_after_it_is_dropped() {
        // A child process started by another thread (an exec probe) holds
        // a copy of the database's file, and so its lock, from its fork to
        // its exec; the reopen waits that out instead of failing.
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let forker = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let _ = std::process::Command::new("true").status();
                }
            })
        };
        let dir = tempfile::tempdir().unwrap();
        for round in 0..40 {
            let mut s = WalStore::open(&opts(dir.path())).unwrap();
            s.set_backends(&[b("a")]).unwrap();
            s.append(&run(2, 1_000 + round)).unwrap();
            s.flush().unwrap();
            assert_eq!(s.stats().unwrap().records, round as u64 + 1);
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        forker.join().unwrap();
    }
}
