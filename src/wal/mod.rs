//! The write-ahead log: the `Wal` actor, its messages, and the rules that
//! make "accepted" mean "will be delivered or counted as dropped".
//!
//! # Who talks to it
//!
//! - Probes send `Append` (one record per probe run).
//! - Each shipper sends `ReadBatch` for its backend, posts the batch, then
//!   `Ack`s it. One batch in flight per backend keeps per-series order.
//! - The supervisor sends `SetBackends` (start and reload) and `Flush` (stop).
//! - `GetStats` serves `wal stats`, `/metrics` and `/healthz`.
//!
//! # On disk (sled, see `store.rs` for the trees)
//!
//! Keys are u64 sequence numbers, big-endian, so sled's order is append
//! order. Each value is one record (`record.rs`: version byte, header, snappy
//! payload of length-delimited `TimeSeries`), so a batch becomes a request
//! body by concatenating payloads, with no decoding.
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
//!
//! # Damage
//!
//! A WAL that sled cannot open (or that makes it panic) is moved aside to
//! `<path>.corrupt-<unix time>` and a fresh one is started, so a damaged file
//! never causes a crash loop. A path the agent may not write is an error.

pub mod record;
pub mod store;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;

use crate::config::{BufferConfig, SyncMode};
use crate::sample::{BackendId, Labels, Sample, Seq, TaskId};
use crate::telemetry::Telemetry;

pub use store::{Batch, DropEvent, DropReason, WalError, WalStats, WalStore};

/// How often the caps (`max_size`, `max_age`) are enforced and the WAL
/// gauges of `/metrics` refreshed.
const RETENTION_SWEEP: Duration = Duration::from_secs(1);

/// Append one probe run's samples.
#[derive(Message)]
#[rtype(result = "Result<Seq, WalError>")]
pub struct Append {
    pub task_id: TaskId,
    pub samples: Vec<Sample>,
}

/// The next batch after `backend`'s cursor, at most `max_samples` samples
/// (but at least one record).
#[derive(Message)]
#[rtype(result = "Result<Option<Batch>, WalError>")]
pub struct ReadBatch {
    pub backend: BackendId,
    pub max_samples: u64,
}

/// `backend` is done with everything through `through`: delivered, except
/// the samples listed in `dropped`.
#[derive(Message)]
#[rtype(result = "Result<(), WalError>")]
pub struct Ack {
    pub backend: BackendId,
    pub through: Seq,
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
    store: WalStore,
    sync: SyncMode,
    sync_interval: Duration,
    telemetry: Arc<Telemetry>,
    /// Highest seq appended but not yet fsynced (interval mode).
    unsynced: Option<Seq>,
}

impl Wal {
    pub fn new(store: WalStore, cfg: &BufferConfig, telemetry: Arc<Telemetry>) -> Wal {
        Wal {
            store,
            sync: cfg.sync,
            sync_interval: cfg.sync_interval,
            telemetry,
            unsynced: None,
        }
    }

    fn sync_now(&mut self) -> Result<(), WalError> {
        if let Some(seq) = self.unsynced.take() {
            if let Err(e) = self.store.flush() {
                self.unsynced = Some(seq);
                return Err(e);
            }
            log::debug!(seq = seq.0; "WAL synced.");
        }
        Ok(())
    }

    fn sweep(&mut self) {
        match self.store.enforce_caps(crate::sample::now_ms()) {
            Ok(events) => {
                for ev in events {
                    self.record_drop(&ev.backend, ev.reason, ev.samples);
                    log::warn!(
                        backend = ev.backend.as_str(),
                        samples = ev.samples,
                        reason = ev.reason.as_str();
                        "WAL cap reached, oldest samples dropped."
                    );
                }
            }
            Err(e) => log::error!(error:% = e; "WAL retention failed."),
        }
        self.publish_stats();
    }

    fn record_drop(&self, backend: &BackendId, reason: DropReason, samples: u64) {
        self.telemetry.inc(
            "sentinel_samples_dropped_total",
            "Samples dropped, by backend and reason.",
            Labels::new()
                .with("backend", backend.as_str())
                .with("reason", reason.as_str()),
            samples as f64,
        );
    }

    /// Refreshes the WAL gauges of `/metrics`.
    fn publish_stats(&self) {
        let Ok(stats) = self.store.stats() else {
            return;
        };
        self.telemetry.set(
            "sentinel_wal_disk_bytes",
            "Bytes the WAL's files take on disk.",
            Labels::new(),
            stats.disk_bytes as f64,
        );
        let now = crate::sample::now_ms();
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
                if let Err(e) = wal.sync_now() {
                    log::error!(error:% = e; "WAL sync failed.");
                }
            });
        }
        ctx.run_interval(RETENTION_SWEEP, |wal, _| wal.sweep());
        self.sweep();
    }

    fn stopped(&mut self, _ctx: &mut Context<Self>) {
        if let Err(e) = self.sync_now() {
            log::error!(error:% = e; "WAL sync at stop failed.");
        }
    }
}

impl Handler<Append> for Wal {
    type Result = Result<Seq, WalError>;

    /// Encodes the run as one record, appends it and, in `always` mode,
    /// fsyncs before answering.
    fn handle(&mut self, msg: Append, _: &mut Context<Self>) -> Self::Result {
        if msg.samples.is_empty() {
            return Ok(self.store.last_seq());
        }
        let bytes = record::encode(&msg.samples);
        let seq = self.store.append(&bytes)?;
        self.unsynced = Some(seq);
        if self.sync == SyncMode::Always {
            self.sync_now()?;
        }
        self.telemetry.inc(
            "sentinel_samples_accepted_total",
            "Samples written to the WAL.",
            Labels::new(),
            msg.samples.len() as f64,
        );
        log::debug!(
            task_id = msg.task_id.as_str(),
            samples = msg.samples.len(),
            seq = seq.0;
            "Samples appended."
        );
        Ok(seq)
    }
}

impl Handler<ReadBatch> for Wal {
    type Result = Result<Option<Batch>, WalError>;

    fn handle(&mut self, msg: ReadBatch, _: &mut Context<Self>) -> Self::Result {
        self.store.read_batch(&msg.backend, msg.max_samples)
    }
}

impl Handler<Ack> for Wal {
    type Result = Result<(), WalError>;

    fn handle(&mut self, msg: Ack, _: &mut Context<Self>) -> Self::Result {
        for (reason, n) in &msg.dropped {
            self.record_drop(&msg.backend, *reason, *n);
        }
        self.store.ack(&msg.backend, msg.through, &msg.dropped)?;
        Ok(())
    }
}

impl Handler<SetBackends> for Wal {
    type Result = Result<(), WalError>;

    fn handle(&mut self, msg: SetBackends, _: &mut Context<Self>) -> Self::Result {
        self.store.set_backends(&msg.backends)?;
        self.publish_stats();
        Ok(())
    }
}

impl Handler<Flush> for Wal {
    type Result = Result<(), WalError>;

    fn handle(&mut self, _: Flush, _: &mut Context<Self>) -> Self::Result {
        self.sync_now()
    }
}

impl Handler<GetStats> for Wal {
    type Result = Result<WalStats, WalError>;

    fn handle(&mut self, _: GetStats, _: &mut Context<Self>) -> Self::Result {
        self.store.stats()
    }
}

/// Opens the WAL described by `cfg`; a damaged one is moved aside to
/// `<path>.corrupt-<unix time>` and replaced by a fresh one.
pub fn open_or_recover(cfg: &BufferConfig) -> Result<WalStore, WalError> {
    let opts = store::StoreOptions {
        path: cfg.path.clone(),
        cache_size: cfg.cache_size,
        max_size: cfg.max_size,
        max_age: cfg.max_age,
    };
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
        format!(
            "{e}: the agent runs as uid {uid}, which may not write to {}; fix the owner \
             (chown) or set buffer.path to a writable directory",
            path.display()
        )
    } else {
        e.to_string()
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
