//! `overflow::Overflow` against a store that fails writes on demand: the
//! disk-full rules of the `wal` module doc ("Disk full") without a full
//! filesystem, root or a network. `disk_full_tests.rs` runs the actor
//! against a real `ENOSPC`.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::{Duration, Instant};

use super::overflow::{Held, Overflow, OverflowStore};
use super::{DropReason, WalError};
use crate::sample::{BackendId, Seq};

/// What survives a reopen: the state at the last flush.
#[derive(Clone, Default)]
struct State {
    records: BTreeMap<Seq, Vec<u8>>,
    cursors: BTreeMap<String, u64>,
    ranges: Vec<(String, Seq, Seq)>,
    drops: BTreeMap<String, u64>,
    next_seq: u64,
}

/// The filesystem the fake store lives on: `room` writes left (`None`:
/// unlimited), and what was last made durable.
#[derive(Clone, Default)]
struct Disk {
    room: Rc<Cell<Option<usize>>>,
    durable: Rc<RefCell<State>>,
    /// Every write, as (what, seq or cursor) for the order checks.
    writes: Rc<RefCell<Vec<(&'static str, u64)>>>,
}

impl Disk {
    fn full(&self) {
        self.room.set(Some(0));
    }

    fn free(&self) {
        self.room.set(None);
    }

    /// Room for `n` more writes, then full.
    fn room_for(&self, n: usize) {
        self.room.set(Some(n));
    }

    fn open(&self) -> Fake {
        Fake {
            disk: self.clone(),
            state: self.durable.borrow().clone(),
            poisoned: false,
        }
    }
}

/// A store like sled: a failed write poisons it (every later write and
/// flush fails); only flushed state survives a reopen.
struct Fake {
    disk: Disk,
    state: State,
    poisoned: bool,
}

fn enospc() -> WalError {
    WalError::Storage {
        path: "/fake".into(),
        source: sled::Error::Io(std::io::Error::from_raw_os_error(libc::ENOSPC)),
    }
}

impl Fake {
    fn write(&mut self, what: &'static str, n: u64) -> Result<(), WalError> {
        if self.poisoned {
            return Err(enospc());
        }
        match self.disk.room.get() {
            Some(0) => {
                self.poisoned = true;
                return Err(enospc());
            }
            Some(n) => self.disk.room.set(Some(n - 1)),
            None => {}
        }
        self.disk.writes.borrow_mut().push((what, n));
        Ok(())
    }

    fn append(&mut self, bytes: &[u8]) -> Result<Seq, WalError> {
        let seq = Seq(self.state.next_seq.max(1));
        self.write("append", seq.0)?;
        self.state.next_seq = seq.0 + 1;
        self.state.records.insert(seq, bytes.to_vec());
        Ok(seq)
    }

    fn remove_acknowledged(&mut self) {
        let Some(min) = self.state.cursors.values().min().copied() else {
            return;
        };
        self.state.records.retain(|s, _| s.0 > min);
    }
}

impl OverflowStore for Fake {
    fn last_seq(&self) -> Seq {
        Seq(self.state.next_seq.saturating_sub(1))
    }

    fn holds(&self, seq: Seq) -> bool {
        self.state.records.contains_key(&seq)
    }

    fn acknowledged_by_all(&self, seq: Seq) -> bool {
        !self.state.cursors.is_empty() && self.state.cursors.values().all(|c| *c >= seq.0)
    }

    fn cursors(&self) -> BTreeMap<String, u64> {
        self.state.cursors.clone()
    }

    fn set_backends(&mut self, backends: &[BackendId]) -> Result<(), WalError> {
        self.write("set_backends", 0)?;
        let old = std::mem::take(&mut self.state.cursors);
        for b in backends {
            let c = old.get(b.as_str()).copied().unwrap_or(0);
            self.state.cursors.insert(b.0.clone(), c);
        }
        Ok(())
    }

    fn flush(&self) -> Result<(), WalError> {
        if self.poisoned || self.disk.room.get() == Some(0) {
            return Err(enospc());
        }
        *self.disk.durable.borrow_mut() = self.state.clone();
        Ok(())
    }

    fn reserve_through(&mut self, seq: Seq) {
        self.state.next_seq = self.state.next_seq.max(seq.0 + 1);
    }

    fn ack(
        &mut self,
        backend: &BackendId,
        through: Seq,
        dropped: &[(DropReason, u64)],
    ) -> Result<(), WalError> {
        if !self.state.cursors.contains_key(backend.as_str()) {
            return Err(WalError::UnknownBackend {
                backend: backend.0.clone(),
            });
        }
        self.write("ack", through.0)?;
        let c = self.state.cursors.get_mut(backend.as_str()).unwrap();
        // Only forward, as `WalStore::ack`.
        *c = (*c).max(through.0);
        for (_, n) in dropped {
            *self.state.drops.entry(backend.0.clone()).or_default() += n;
        }
        self.remove_acknowledged();
        Ok(())
    }

    fn ack_range(
        &mut self,
        backend: &BackendId,
        first: Seq,
        last: Seq,
        _dropped: &[(DropReason, u64)],
    ) -> Result<(), WalError> {
        if !self.state.cursors.contains_key(backend.as_str()) {
            return Err(WalError::UnknownBackend {
                backend: backend.0.clone(),
            });
        }
        self.write("ack_range", last.0)?;
        self.state.ranges.push((backend.0.clone(), first, last));
        Ok(())
    }

    fn discard(&mut self, seqs: &[Seq]) -> Result<(), WalError> {
        self.write("discard", 0)?;
        for s in seqs {
            self.state.records.remove(s);
        }
        Ok(())
    }

    fn insert_at(&mut self, seq: Seq, bytes: &[u8]) -> Result<(), WalError> {
        self.write("insert_at", seq.0)?;
        self.state.records.insert(seq, bytes.to_vec());
        self.state.next_seq = self.state.next_seq.max(seq.0 + 1);
        Ok(())
    }

    fn add_drops(&mut self, backend: &str, reason: DropReason, n: u64) -> Result<(), WalError> {
        assert_eq!(reason, DropReason::DiskFull);
        self.write("add_drops", n)?;
        *self.state.drops.entry(backend.to_string()).or_default() += n;
        Ok(())
    }
}

/// Record `id`: `len` bytes naming it, `id` samples (so sums tell which
/// records were counted).
fn rec(id: u8, len: usize) -> Held {
    Held {
        seq: None,
        bytes: vec![id; len],
        samples: u64::from(id),
        ts_ms: i64::from(id),
    }
}

fn backends(names: &[&str]) -> Vec<BackendId> {
    names.iter().map(|n| BackendId(n.to_string())).collect()
}

const EVERY: Duration = Duration::from_secs(2);
const NO_BOUND: u64 = u64::MAX;

/// Appends `ids` to `store` as the actor does: each kept until a sync.
fn append(store: &mut Fake, ov: &mut Overflow, ids: &[u8]) {
    for id in ids {
        let seq = store.append(&[*id; 4]).unwrap();
        ov.appended(seq, rec(*id, 4));
    }
}

/// A reopen attempt as the actor's `try_reopen`: the store, the samples
/// written and the samples accepted, or the error.
fn reopen(
    disk: &Disk,
    ov: &mut Overflow,
    bs: &[BackendId],
    always: bool,
) -> Result<(Fake, u64, u64), WalError> {
    let mut store = disk.open();
    let mut accepted = 0;
    let written = ov.restore_into(&mut store, bs, always, &mut |n| accepted += n)?;
    ov.reopened(&store);
    Ok((store, written, accepted))
}

fn ids(store: &Fake) -> BTreeMap<u64, u8> {
    store
        .state
        .records
        .iter()
        .map(|(s, b)| {
            assert!(b.iter().all(|x| *x == b[0]), "seq {} mixes records", s.0);
            (s.0, b[0])
        })
        .collect()
}

#[test]
fn records_are_held_while_the_disk_is_full_and_written_back_under_their_own_seqs() {
    let disk = Disk::default();
    let bs = backends(&["a"]);
    let mut store = disk.open();
    store.set_backends(&bs).unwrap();
    let mut ov = Overflow::new(store.last_seq());
    append(&mut store, &mut ov, &[1, 2, 3]);
    store.flush().unwrap();
    ov.synced();
    // 4 and 5 appended, not synced: the reopened store will lack them.
    append(&mut store, &mut ov, &[4, 5]);
    disk.full();
    let err = store.append(&[6; 4]).unwrap_err();
    assert!(matches!(err, WalError::Storage { .. }), "{err}");
    let t0 = Instant::now();
    ov.close(&store, t0);
    drop(store);
    for id in [6, 7, 8] {
        assert_eq!(ov.hold(rec(id, 4), NO_BOUND, &bs), 0);
    }
    assert_eq!(ov.samples(), 6 + 7 + 8);
    assert_eq!(ov.bytes(), 12);

    // The reopen timer: every `EVERY` from the failure, or forced.
    assert!(!ov.reopen_due(t0 + Duration::from_secs(1), EVERY, false));
    assert!(ov.reopen_due(t0 + EVERY, EVERY, false));
    assert!(!ov.reopen_due(t0 + EVERY + Duration::from_secs(1), EVERY, false));
    assert!(ov.reopen_due(t0 + EVERY + Duration::from_secs(1), EVERY, true));

    // Still full: the attempt fails before anything is written, and
    // everything is still held.
    let writes = disk.writes.borrow().len();
    assert!(reopen(&disk, &mut ov, &bs, false).is_err());
    assert_eq!(disk.writes.borrow().len(), writes);
    assert_eq!(ov.samples(), 6 + 7 + 8);

    disk.free();
    let (store, written, accepted) = reopen(&disk, &mut ov, &bs, false).unwrap();
    // The reopened store lacked 4 and 5: written again under 4 and 5;
    // the held ones get the seqs after every seq handed out.
    assert_eq!(
        ids(&store),
        BTreeMap::from([
            (1, 1),
            (2, 2),
            (3, 3),
            (4, 4),
            (5, 5),
            (6, 6),
            (7, 7),
            (8, 8)
        ])
    );
    assert_eq!(written, 4 + 5 + 6 + 7 + 8);
    // `interval`: 4 and 5 counted when appended; the held ones now.
    assert_eq!(accepted, 6 + 7 + 8);
    assert!(ov.is_empty());
    assert_eq!((ov.samples(), ov.bytes()), (0, 0));
    assert_eq!(ov.issued, Seq(8));
    // And it was made durable.
    assert_eq!(disk.open().state.records.len(), 8);
    assert!(store.state.drops.is_empty());
}

#[test]
fn what_the_reopened_store_has_or_every_backend_passed_is_not_written_again() {
    let disk = Disk::default();
    let bs = backends(&["a"]);
    let mut store = disk.open();
    store.set_backends(&bs).unwrap();
    let mut ov = Overflow::new(store.last_seq());
    // 1..=4 appended; 1 and 2 made durable by a flush the actor did not
    // see as a sync of everything (a cursor flush).
    append(&mut store, &mut ov, &[1, 2]);
    store.flush().unwrap();
    append(&mut store, &mut ov, &[3, 4]);
    // `a` delivered through 3: the closed store removed 1..=3.
    store.ack(&bs[0], Seq(3), &[]).unwrap();
    disk.full();
    assert!(store.append(&[5; 4]).is_err());
    ov.close(&store, Instant::now());
    drop(store);
    disk.free();
    let (store, written, accepted) = reopen(&disk, &mut ov, &bs, true).unwrap();
    // 4 only: 1 and 2 the reopened store had (and `a`'s cursor, taken
    // from the closed store, removed them), 3 every backend passed.
    assert_eq!(ids(&store), BTreeMap::from([(4, 4)]));
    assert_eq!(written, 4);
    // `always`: 4's fsync failed, so it is accepted only now; 3 was
    // removed by the closed store (never written again, never counted
    // here).
    assert_eq!(accepted, 4);
    assert_eq!(store.state.cursors["a"], 3);
}

#[test]
fn the_oldest_beyond_the_bound_are_dropped_as_disk_full_and_counted_once() {
    let disk = Disk::default();
    let bs = backends(&["a", "b"]);
    let mut store = disk.open();
    store.set_backends(&bs).unwrap();
    store.flush().unwrap();
    let mut ov = Overflow::new(store.last_seq());
    disk.full();
    assert!(store.append(&[1; 4]).is_err());
    ov.close(&store, Instant::now());
    drop(store);
    // 10 bytes: two records of 4.
    assert_eq!(ov.hold(rec(1, 4), 10, &bs), 0);
    assert_eq!(ov.hold(rec(2, 4), 10, &bs), 0);
    assert_eq!(ov.hold(rec(3, 4), 10, &bs), 1);
    assert_eq!(ov.hold(rec(4, 4), 10, &bs), 2);
    assert_eq!(ov.bytes(), 8);
    assert_eq!(ov.samples(), 3 + 4);

    // A reopen that fails part-way, after giving the held records their
    // seqs and writing the first (room for set_backends, the cursors of
    // `a` and `b`, discard and one record), and leaves it on disk.
    disk.room_for(5);
    let mut first = disk.open();
    let mut accepted = 0;
    assert!(ov
        .restore_into(&mut first, &bs, false, &mut |n| accepted += n)
        .is_err());
    // sled writes its buffer out; the record stays.
    *disk.durable.borrow_mut() = first.state.clone();
    drop(first);
    assert_eq!(accepted, 0);
    assert_eq!(ids(&disk.open()), BTreeMap::from([(1, 3)]));

    // Meanwhile 3 (seq 1, on disk) is pushed out by 5: removed at the
    // next reopen, counted as dropped once.
    disk.full();
    assert_eq!(ov.hold(rec(5, 4), 10, &bs), 3);
    disk.free();
    let (store, written, accepted) = reopen(&disk, &mut ov, &bs, false).unwrap();
    // 4 under the seq the first attempt gave it, 5 after it.
    assert_eq!(ids(&store), BTreeMap::from([(2, 4), (3, 5)]));
    assert_eq!(written, 4 + 5);
    assert_eq!(accepted, 4 + 5);
    // Every backend counts the drops once: 1, 2 and 3.
    let dropped = 1 + 2 + 3;
    assert_eq!(
        store.state.drops,
        BTreeMap::from([("a".into(), dropped), ("b".into(), dropped)])
    );
    assert_eq!(disk.open().state.drops, store.state.drops);

    // A later outage and reopen does not count them again.
    let mut store = store;
    disk.full();
    assert!(store.append(&[6; 4]).is_err());
    ov.close(&store, Instant::now());
    drop(store);
    disk.free();
    let (store, written, accepted) = reopen(&disk, &mut ov, &bs, false).unwrap();
    assert_eq!((written, accepted), (0, 0));
    assert_eq!(store.state.drops["a"], dropped);
    assert_eq!(store.state.drops["b"], dropped);
}

#[test]
fn acks_received_while_closed_are_applied_at_the_reopen_and_cursors_only_move_forward() {
    let disk = Disk::default();
    let bs = backends(&["a", "b", "c"]);
    let mut store = disk.open();
    store.set_backends(&bs).unwrap();
    let mut ov = Overflow::new(store.last_seq());
    append(&mut store, &mut ov, &[1, 2, 3, 4, 5, 6]);
    store.flush().unwrap();
    ov.synced();
    // `a` reached 4 in the closed store, not made durable.
    store.ack(&bs[0], Seq(4), &[]).unwrap();
    disk.full();
    assert!(store.append(&[7; 4]).is_err());
    ov.close(&store, Instant::now());
    drop(store);
    // While closed: an older ack of `a` (must not move it back), acks of
    // `b` (the latest wins, the dropped samples add up), a range of `b`,
    // and an ack of `c`, which is removed before the reopen.
    ov.keep_ack(&bs[0], None, Seq(2), vec![]);
    ov.keep_ack(&bs[1], None, Seq(3), vec![(DropReason::Rejected, 5)]);
    ov.keep_ack(&bs[1], None, Seq(1), vec![(DropReason::Rejected, 2)]);
    ov.keep_ack(&bs[1], Some(Seq(6)), Seq(6), vec![]);
    ov.keep_ack(&bs[2], None, Seq(5), vec![]);
    let now = backends(&["a", "b"]);
    disk.free();
    let (store, written, accepted) = reopen(&disk, &mut ov, &now, false).unwrap();
    assert_eq!((written, accepted), (0, 0));
    assert_eq!(
        store.state.cursors,
        BTreeMap::from([("a".into(), 4), ("b".into(), 3)])
    );
    assert_eq!(store.state.drops["b"], 7);
    assert_eq!(store.state.ranges, vec![("b".to_string(), Seq(6), Seq(6))]);
    // 1..=3 every backend has passed.
    assert_eq!(
        ids(&store).keys().copied().collect::<Vec<_>>(),
        vec![4, 5, 6]
    );
    // Applied once: a second reopen has nothing left to apply.
    let acks = |d: &Disk| {
        d.writes
            .borrow()
            .iter()
            .filter(|(w, _)| w.starts_with("ack"))
            .count()
    };
    let before = acks(&disk);
    let (_, _, _) = reopen(&disk, &mut ov, &now, false).unwrap();
    assert_eq!(acks(&disk), before);
}

#[test]
fn samples_are_accepted_once_when_a_reopen_fails_after_the_data_is_safe() {
    let disk = Disk::default();
    let bs = backends(&["a"]);
    let mut store = disk.open();
    store.set_backends(&bs).unwrap();
    store.flush().unwrap();
    let mut ov = Overflow::new(store.last_seq());
    // `sync: always`: 1 appended, its fsync fails.
    append(&mut store, &mut ov, &[1]);
    disk.full();
    assert!(store.flush().is_err());
    ov.close(&store, Instant::now());
    drop(store);
    assert_eq!(ov.hold(rec(2, 4), 4, &bs), 0);
    assert_eq!(ov.hold(rec(3, 4), 4, &bs), 2);
    // Room for the data (set_backends, the cursor of `a`, discard, two
    // records) and the drop count, but not for the flush after it.
    disk.room_for(6);
    let mut first = disk.open();
    let mut accepted = 0;
    assert!(ov
        .restore_into(&mut first, &bs, true, &mut |n| accepted += n)
        .is_err());
    drop(first);
    assert_eq!(accepted, 1 + 3);
    disk.free();
    let (store, _, again) = reopen(&disk, &mut ov, &bs, true).unwrap();
    assert_eq!(accepted + again, 1 + 3, "samples accepted twice");
    assert_eq!(ids(&store), BTreeMap::from([(1, 1), (2, 3)]));
    assert_eq!(store.state.drops["a"], 2);
}

/// A `newest_first` range acked while the WAL was closed, above records
/// the reopened database lost (appended after the last sync): the lost
/// records are written back first, so the range does not close the gap
/// over them and the backend still gets them. On the real store, whose
/// ranges merge into the cursor across gaps with no stored record.
#[test]
fn a_range_acked_while_closed_does_not_pass_records_the_reopen_restores() {
    use super::store::{StoreOptions, WalStore};
    use crate::sample::{Labels, Sample};
    let dir = tempfile::tempdir().unwrap();
    let opts = StoreOptions {
        path: dir.path().join("wal"),
        max_size: 64 << 20,
        max_age: Duration::from_secs(86_400),
        cache_size: 1 << 20,
    };
    let record =
        |i: i64| super::record::encode(&[Sample::new("m", Labels::new(), i as f64, 1_000 + i)]);
    let bs = backends(&["a"]);
    // The database as it was closed (1..=10, 6..=10 appended after the
    // last sync) and as it is reopened (1..=5: what the sync made
    // durable).
    let open = |name: &str, n: i64| {
        let mut store = WalStore::open(&StoreOptions {
            path: dir.path().join(name),
            ..opts.clone()
        })
        .unwrap();
        store.set_backends(&bs).unwrap();
        for i in 1..=n {
            store.append(&record(i)).unwrap();
        }
        // 1..=5 delivered in order before the outage.
        store.ack(&bs[0], Seq(5), &[]).unwrap();
        store
    };
    let closed = open("closed", 10);
    let mut store = open("reopened", 5);
    store.flush().unwrap();
    let mut ov = Overflow::new(Seq(5));
    for i in 6..=10u64 {
        let bytes = record(i as i64);
        let held = Held {
            seq: None,
            samples: 1,
            ts_ms: 1_000 + i as i64,
            bytes,
        };
        ov.appended(Seq(i), held);
    }
    ov.close(&closed, Instant::now());
    drop(closed);
    // While closed, a live request delivered 8..=10.
    ov.keep_ack(&bs[0], Some(Seq(8)), Seq(10), vec![]);
    ov.restore_into(&mut store, &bs, false, &mut |_| {})
        .unwrap();
    assert!(store.holds(Seq(6)) && store.holds(Seq(7)), "6 and 7 lost");
    assert!(
        !store.acknowledged_by_all(Seq(6)) && !store.acknowledged_by_all(Seq(7)),
        "the backend must still get 6 and 7"
    );
    assert!(store.acknowledged_by_all(Seq(9)), "the range is applied");
}
