//! The disk-full logic of the `Wal` actor as a plain type (see the `wal`
//! module doc, "Disk full"): what is kept while the WAL is closed (the
//! records held in memory, the records appended since the last sync, the
//! acks and cursors received meanwhile, the `disk_full` drop counts) and
//! how it is written back into a reopened store. The actor owns the store
//! and the logs and counters; this type owns the state and the rules, and
//! reaches the store through [`OverflowStore`], so its tests use a store
//! that fails writes on demand instead of a full filesystem.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use crate::sample::{BackendId, Seq};

use super::{DropReason, WalError, WalStore};

/// What the disk-full logic needs from the store; `WalStore` is the real
/// one.
pub trait OverflowStore {
    fn last_seq(&self) -> Seq;
    /// The record `seq` is in the store.
    fn holds(&self, seq: Seq) -> bool;
    /// Every enabled backend's cursor is at or past `seq`.
    fn acknowledged_by_all(&self, seq: Seq) -> bool;
    fn cursors(&self) -> BTreeMap<String, u64>;
    fn set_backends(&mut self, backends: &[BackendId]) -> Result<(), WalError>;
    fn flush(&self) -> Result<(), WalError>;
    /// Seqs up to `seq` are never handed out by `append`.
    fn reserve_through(&mut self, seq: Seq);
    fn ack(
        &mut self,
        backend: &BackendId,
        through: Seq,
        dropped: &[(DropReason, u64)],
    ) -> Result<(), WalError>;
    fn ack_range(
        &mut self,
        backend: &BackendId,
        first: Seq,
        last: Seq,
        dropped: &[(DropReason, u64)],
    ) -> Result<(), WalError>;
    /// Removes these records (uncounted).
    fn discard(&mut self, seqs: &[Seq]) -> Result<(), WalError>;
    fn insert_at(&mut self, seq: Seq, bytes: &[u8]) -> Result<(), WalError>;
    fn add_drops(&mut self, backend: &str, reason: DropReason, n: u64) -> Result<(), WalError>;
}

impl OverflowStore for WalStore {
    fn last_seq(&self) -> Seq {
        WalStore::last_seq(self)
    }

    fn holds(&self, seq: Seq) -> bool {
        WalStore::holds(self, seq)
    }

    fn acknowledged_by_all(&self, seq: Seq) -> bool {
        WalStore::acknowledged_by_all(self, seq)
    }

    fn cursors(&self) -> BTreeMap<String, u64> {
        WalStore::cursors(self)
    }

    fn set_backends(&mut self, backends: &[BackendId]) -> Result<(), WalError> {
        WalStore::set_backends(self, backends)
    }

    fn flush(&self) -> Result<(), WalError> {
        WalStore::flush(self).map(|_| ())
    }

    fn reserve_through(&mut self, seq: Seq) {
        WalStore::reserve_through(self, seq)
    }

    fn ack(
        &mut self,
        backend: &BackendId,
        through: Seq,
        dropped: &[(DropReason, u64)],
    ) -> Result<(), WalError> {
        WalStore::ack(self, backend, through, dropped)
    }

    fn ack_range(
        &mut self,
        backend: &BackendId,
        first: Seq,
        last: Seq,
        dropped: &[(DropReason, u64)],
    ) -> Result<(), WalError> {
        WalStore::ack_range(self, backend, first, last, dropped)
    }

    fn discard(&mut self, seqs: &[Seq]) -> Result<(), WalError> {
        WalStore::discard(self, seqs)
    }

    fn insert_at(&mut self, seq: Seq, bytes: &[u8]) -> Result<(), WalError> {
        WalStore::insert_at(self, seq, bytes)
    }

    fn add_drops(&mut self, backend: &str, reason: DropReason, n: u64) -> Result<(), WalError> {
        WalStore::add_drops(self, backend, reason, n)
    }
}

/// One encoded record waiting somewhere other than the WAL.
pub struct Held {
    /// Set at the first reopen attempt that tries to write it (see the
    /// module doc, "Disk full"); kept if that attempt fails.
    pub seq: Option<Seq>,
    pub bytes: Vec<u8>,
    pub samples: u64,
    /// Newest sample, for the log.
    pub ts_ms: i64,
}

/// A `newest_first` acknowledgement kept while the WAL is closed:
/// backend, first and last seq, samples dropped.
type PendingRange = (BackendId, Seq, Seq, Vec<(DropReason, u64)>);

/// The disk-full state of the WAL.
#[derive(Default)]
pub struct Overflow {
    /// The records appended since the last sync, kept until a sync covers
    /// them: if the sync fails they may be lost with the poisoned
    /// database, and are written again (under the same seqs) after the
    /// reopen unless they are there. While the WAL is closed: only those
    /// the closed database still held (not yet removed by acks or caps).
    pub unsynced_records: Vec<(Seq, Held)>,
    /// The highest seq handed out by any database of this run: the
    /// reopened one may have lost the top ones, and seqs never repeat.
    pub issued: Seq,
    /// Records that could not be written, oldest first; bounded (`hold`).
    held: VecDeque<Held>,
    held_bytes: u64,
    /// Seqs of held records dropped (`disk_full`) after a reopen attempt
    /// gave them a seq: removed if that attempt left them on disk.
    abandoned: Vec<Seq>,
    /// Acks received while the store was closed, and the cursors the
    /// closed database had reached, applied after the reopen.
    pending_acks: BTreeMap<BackendId, (Seq, Vec<(DropReason, u64)>)>,
    /// `newest_first` acknowledgements received while the store was
    /// closed, applied after the reopen. (Ranges the closed database had
    /// not made durable are not: those records are sent again,
    /// at-least-once.)
    pending_ranges: Vec<PendingRange>,
    /// `disk_full` drops not yet written to the drop counts on disk.
    pending_drops: BTreeMap<BackendId, u64>,
    /// Since when the WAL cannot be written.
    broken_since: Option<Instant>,
    last_reopen: Option<Instant>,
}

impl Overflow {
    pub fn new(issued: Seq) -> Overflow {
        Overflow {
            issued,
            ..Overflow::default()
        }
    }

    /// Records held in memory.
    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }

    /// Samples held in memory.
    pub fn samples(&self) -> u64 {
        self.held.iter().map(|h| h.samples).sum()
    }

    /// Record bytes held in memory.
    pub fn bytes(&self) -> u64 {
        self.held_bytes
    }

    /// A record appended at `seq` and not yet synced.
    pub fn appended(&mut self, seq: Seq, held: Held) {
        self.issued = self.issued.max(seq);
        self.unsynced_records.push((seq, held));
    }

    /// A sync covered everything appended.
    pub fn synced(&mut self) {
        self.unsynced_records.clear();
    }

    /// The store `old` failed a write (sled has poisoned itself) and is
    /// closed at `now`: keeps what the reopened one may lack.
    pub fn close<S: OverflowStore + ?Sized>(&mut self, old: &S, now: Instant) {
        // Records it removed (acknowledged by every backend, or dropped
        // and counted) are not written again.
        self.unsynced_records.retain(|(seq, _)| old.holds(*seq));
        self.closed(old.last_seq(), old.cursors(), now);
    }

    /// A store that was synced (nothing unsynced) is gone at `now`: it had
    /// handed out seqs through `last_seq` and had these `cursors`.
    pub fn closed(&mut self, last_seq: Seq, cursors: BTreeMap<String, u64>, now: Instant) {
        self.issued = self.issued.max(last_seq);
        for (b, cursor) in cursors {
            let entry = self
                .pending_acks
                .entry(BackendId(b))
                .or_insert((Seq(0), Vec::new()));
            entry.0 = entry.0.max(Seq(cursor));
        }
        self.broken_since = Some(now);
        self.last_reopen = Some(now);
    }

    /// Holds a record in memory, dropping the oldest held ones past
    /// `bound` bytes; the samples dropped are counted as `disk_full` for
    /// every one of `backends` (written at the reopen) and returned.
    pub fn hold(&mut self, held: Held, bound: u64, backends: &[BackendId]) -> u64 {
        self.held_bytes += held.bytes.len() as u64;
        self.held.push_back(held);
        let mut lost = 0;
        while self.held_bytes > bound {
            let Some(old) = self.held.pop_front() else {
                break;
            };
            self.held_bytes -= old.bytes.len() as u64;
            lost += old.samples;
            // A failed reopen attempt may have left it on disk.
            self.abandoned.extend(old.seq);
        }
        if lost > 0 {
            for b in backends {
                *self.pending_drops.entry(b.clone()).or_default() += lost;
            }
        }
        lost
    }

    /// An ack the closed store could not take, kept for the reopen so the
    /// backend is not sent it again.
    pub fn keep_ack(
        &mut self,
        backend: &BackendId,
        first: Option<Seq>,
        through: Seq,
        dropped: Vec<(DropReason, u64)>,
    ) {
        if let Some(first) = first {
            self.pending_ranges
                .push((backend.clone(), first, through, dropped));
            return;
        }
        let entry = self
            .pending_acks
            .entry(backend.clone())
            .or_insert((Seq(0), Vec::new()));
        entry.0 = entry.0.max(through);
        entry.1.extend(dropped);
    }

    /// Whether a reopen is due at `now` (`every` since the last attempt);
    /// if so, `now` is the last attempt. `force` (stop, `Flush`): due now.
    pub fn reopen_due(&mut self, now: Instant, every: Duration, force: bool) -> bool {
        if !force
            && self
                .last_reopen
                .is_some_and(|t| now.duration_since(t) < every)
        {
            return false;
        }
        self.last_reopen = Some(now);
        true
    }

    /// The reopened `store` has everything now: returns since when the
    /// WAL could not be written.
    pub fn reopened<S: OverflowStore + ?Sized>(&mut self, store: &S) -> Option<Instant> {
        self.issued = self.issued.max(store.last_seq());
        self.unsynced_records.clear();
        self.broken_since.take()
    }

    /// Applies what happened while the WAL was closed to a reopened store
    /// and makes it durable. Safe to repeat after a failure part-way:
    /// every record is written under a seq fixed before the first
    /// attempt. `on_accepted` is told the samples accepted only now, once
    /// they are durable.
    pub fn restore_into<S: OverflowStore + ?Sized>(
        &mut self,
        store: &mut S,
        backends: &[BackendId],
        sync_always: bool,
        on_accepted: &mut dyn FnMut(u64),
    ) -> Result<u64, WalError> {
        // A write and a flush first: while the disk is still full this
        // fails before anything held is written.
        store.set_backends(backends)?;
        store.flush()?;
        for held in self.held.iter_mut().filter(|h| h.seq.is_none()) {
            self.issued = Seq(self.issued.0 + 1);
            held.seq = Some(self.issued);
        }
        store.reserve_through(self.issued);
        for (b, (through, dropped)) in &self.pending_acks {
            // A backend removed meanwhile has no cursor any more.
            if backends.contains(b) {
                store.ack(b, *through, dropped)?;
            }
        }
        store.discard(&self.abandoned)?;
        let mut restored = 0;
        // Samples accepted only now: those held in memory, and with
        // `sync: always` the ones whose fsync failed (with `interval` a
        // record counts when it is appended).
        let mut accepted = 0;
        for (seq, held) in &self.unsynced_records {
            if !store.holds(*seq) && !store.acknowledged_by_all(*seq) {
                store.insert_at(*seq, &held.bytes)?;
                restored += held.samples;
            }
            if sync_always {
                accepted += held.samples;
            }
        }
        for held in &self.held {
            let seq = held.seq.expect("a seq was given above");
            if !store.holds(seq) {
                store.insert_at(seq, &held.bytes)?;
                restored += held.samples;
            }
            accepted += held.samples;
        }
        // Ranges (`newest_first`) only now: a range merges into the
        // cursor across gaps with no stored record, so the records the
        // reopened database lost must be back first, or the cursor would
        // pass them.
        for (b, first, last, dropped) in &self.pending_ranges {
            if backends.contains(b) {
                store.ack_range(b, *first, *last, dropped)?;
            }
        }
        store.flush()?;
        on_accepted(accepted);
        // Everything is in the reopened WAL now (and the unsynced records
        // counted: a retry after a failure below must not count them
        // again).
        self.unsynced_records.clear();
        self.pending_acks.clear();
        self.pending_ranges.clear();
        self.held.clear();
        self.held_bytes = 0;
        self.abandoned.clear();
        // The counts last, once the data is safe (a failure here would
        // only repeat this step).
        for (b, n) in &self.pending_drops {
            store.add_drops(b.as_str(), DropReason::DiskFull, *n)?;
        }
        store.flush()?;
        self.pending_drops.clear();
        Ok(restored)
    }
}
