//! What a backend still needs from the WAL, and which records it reads
//! next: plain code over the store's index (no sled, no actix), so the
//! ordering decision is unit-tested on its own.
//!
//! # Acknowledged: a cursor and ranges above it
//!
//! A backend shipping `backfill: in_order` acknowledges in seq order, so
//! one number says what it has: its cursor (every record at or below it
//! is delivered). A backend shipping `backfill: newest_first` sends the
//! present before the backlog, so it also acknowledges records above
//! gaps it has not filled yet. [`Acked`] keeps those as a short list of
//! disjoint ranges above the cursor. When the records between the cursor
//! and the first range are all acknowledged (or removed by a cap), the
//! range merges into the cursor. The store persists the ranges with the
//! cursor (`cursors` tree, key `backend\0acked`), so a restart in the
//! middle of a backfill resends nothing it had acknowledged durably.
//!
//! # Reading: the present first, the backlog behind it
//!
//! [`next_read`] decides, for `newest_first`, which contiguous run of
//! records a backend reads next:
//!
//! 1. **Live**, when the shipper allows one (at most one per flush
//!    interval, so fresh data still goes in few, large requests): when
//!    there are records above the *frontier* (the newest seq already
//!    handed to this backend's live reads) that it has not acknowledged
//!    and that are not in flight, the newest of them, going down, up to
//!    the batch bounds. Records a live read leaves behind (more arrived
//!    than one batch) are backlog from then on.
//! 2. **Backfill**: otherwise the oldest records at or below the frontier
//!    that it has not acknowledged and that are not in flight, going up,
//!    up to the batch bounds. Records above the frontier wait for the
//!    next live read.
//!
//! A failed request resets the frontier to the cursor ([`Reader::release`]):
//! the retry, and the first request after an outage, carries the newest
//! records, so dashboards see the present within one request of the
//! backend's return.

use std::collections::BTreeMap;

/// The most ranges kept above a cursor. [`next_read`] leaves at most a
/// handful (each live read that skips records opens one gap); past this
/// bound the lowest range is forgotten, which only resends its records
/// (at-least-once), never loses one.
pub const MAX_RANGES: usize = 64;

/// Records acknowledged by one backend: everything at or below `cursor`,
/// and the inclusive ranges in `ranges` above it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Acked {
    pub cursor: u64,
    /// start → end (inclusive), disjoint, every start above `cursor + 1`
    /// or separated from the cursor by records still needed.
    ranges: BTreeMap<u64, u64>,
}

impl Acked {
    pub fn new(cursor: u64) -> Acked {
        Acked {
            cursor,
            ranges: BTreeMap::new(),
        }
    }

    /// Whether `seq` is acknowledged.
    pub fn contains(&self, seq: u64) -> bool {
        seq <= self.cursor
            || self
                .ranges
                .range(..=seq)
                .next_back()
                .is_some_and(|(_, end)| seq <= *end)
    }

    /// The ranges above the cursor, lowest first.
    pub fn ranges(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.ranges.iter().map(|(s, e)| (*s, *e))
    }

    /// Marks `first..=last` acknowledged. `stored(a, b)` says whether the
    /// WAL holds any record in `a..=b`; gaps without records are closed.
    pub fn insert(&mut self, first: u64, last: u64, stored: impl Fn(u64, u64) -> bool) {
        if last <= self.cursor {
            return;
        }
        let first = first.max(self.cursor + 1);
        let (mut start, mut end) = (first, last);
        // Absorb every range that overlaps or touches the new one.
        let touching: Vec<(u64, u64)> = self
            .ranges
            .range(..=end.saturating_add(1))
            .filter(|(s, e)| **e + 1 >= start && **s <= end + 1)
            .map(|(s, e)| (*s, *e))
            .collect();
        for (s, e) in touching {
            self.ranges.remove(&s);
            start = start.min(s);
            end = end.max(e);
        }
        self.ranges.insert(start, end);
        self.close_gaps(stored);
    }

    /// Moves the cursor to `through` (an in-order acknowledgement): every
    /// record at or below it is acknowledged.
    pub fn advance(&mut self, through: u64, stored: impl Fn(u64, u64) -> bool) {
        if through > self.cursor {
            let upper = self.ranges.split_off(&(through + 1));
            // A range that straddled the new cursor carries it further.
            let straddle = self.ranges.values().copied().max().filter(|e| *e > through);
            self.ranges = upper;
            self.cursor = straddle.unwrap_or(through);
        }
        self.close_gaps(stored);
    }

    /// Merges ranges separated by gaps that hold no record (removed by a
    /// cap or never written), and the first range into the cursor; then
    /// bounds the list ([`MAX_RANGES`]).
    pub fn close_gaps(&mut self, stored: impl Fn(u64, u64) -> bool) {
        let mut out: BTreeMap<u64, u64> = BTreeMap::new();
        let mut cursor = self.cursor;
        for (s, e) in std::mem::take(&mut self.ranges) {
            if e <= cursor {
                continue;
            }
            let s = s.max(cursor + 1);
            if out.is_empty() && (s == cursor + 1 || !stored(cursor + 1, s - 1)) {
                cursor = e;
                continue;
            }
            if let Some((_, last_end)) = out.iter_mut().next_back() {
                if s <= *last_end + 1 || !stored(*last_end + 1, s - 1) {
                    *last_end = (*last_end).max(e);
                    continue;
                }
            }
            out.insert(s, e);
        }
        while out.len() > MAX_RANGES {
            let lowest = *out.keys().next().expect("more than MAX_RANGES");
            out.remove(&lowest);
        }
        self.cursor = cursor;
        self.ranges = out;
    }

    /// The ranges as stored under `backend\0acked`: pairs of big-endian
    /// u64 (start, end).
    pub fn encode_ranges(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.ranges.len() * 16);
        for (s, e) in &self.ranges {
            v.extend_from_slice(&s.to_be_bytes());
            v.extend_from_slice(&e.to_be_bytes());
        }
        v
    }

    /// The inverse of [`encode_ranges`](Self::encode_ranges); a damaged
    /// value gives no ranges (its records are resent, not lost).
    pub fn with_encoded_ranges(mut self, bytes: &[u8]) -> Acked {
        if bytes.len() % 16 != 0 {
            return self;
        }
        for pair in bytes.chunks_exact(16) {
            let s = u64::from_be_bytes(pair[..8].try_into().expect("8 bytes"));
            let e = u64::from_be_bytes(pair[8..].try_into().expect("8 bytes"));
            if s <= e && e > self.cursor {
                self.ranges.insert(s.max(self.cursor + 1), e);
            }
        }
        self
    }
}

/// A backend's reads that are not acknowledged yet; in memory only (a
/// restart reads everything not acknowledged again).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reader {
    /// The newest seq handed to a live read.
    pub frontier: u64,
    /// Batches handed out and not yet acknowledged or released.
    pub in_flight: Vec<(u64, u64)>,
}

impl Reader {
    pub fn is_in_flight(&self, seq: u64) -> bool {
        self.in_flight.iter().any(|(s, e)| *s <= seq && seq <= *e)
    }

    /// A batch was acknowledged.
    pub fn done(&mut self, first: u64, last: u64) {
        self.in_flight.retain(|r| *r != (first, last));
    }

    /// The attempt failed: nothing is in flight any more, and the next
    /// read starts again with the newest records.
    pub fn release(&mut self, cursor: u64) {
        self.in_flight.clear();
        self.frontier = cursor;
    }
}

/// Which end of the backlog a read took.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// The newest records (what the probes produce now).
    Live,
    /// The oldest records not yet delivered.
    Backfill,
}

/// Bounds of one read: at least one record is read, then records while
/// both bounds hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_samples: u64,
    pub max_bytes: u64,
}

/// One read decided by [`next_read`]: the stored records in
/// `first..=last` (contiguous in the index, none acknowledged or in
/// flight).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pick {
    pub first: u64,
    pub last: u64,
    pub seqs: Vec<u64>,
    pub samples: u64,
    pub stream: Stream,
}

/// The next read for a `newest_first` backend (see the module doc);
/// `cost` gives a record's samples and bytes; `live` whether a live read
/// may be made now. Updates `reader` (frontier, in flight). `None` when
/// nothing may be read now.
pub fn next_read<M>(
    acked: &Acked,
    reader: &mut Reader,
    index: &BTreeMap<u64, M>,
    cost: impl Fn(&M) -> (u64, u64),
    limits: Limits,
    live: bool,
) -> Option<Pick> {
    let free = |seq: u64| !acked.contains(seq) && !reader.is_in_flight(seq);
    let start = acked.cursor.max(reader.frontier);
    let newest_free = if live {
        index
            .range(start + 1..)
            .rev()
            .map(|(s, _)| *s)
            .find(|s| free(*s))
    } else {
        None
    };
    let pick = if let Some(top) = newest_free {
        let mut seqs = Vec::new();
        let (mut samples, mut bytes) = (0u64, 0u64);
        for (seq, m) in index.range(start + 1..=top).rev() {
            let (n, b) = cost(m);
            if !free(*seq)
                || (!seqs.is_empty()
                    && (samples + n > limits.max_samples || bytes + b > limits.max_bytes))
            {
                break;
            }
            seqs.push(*seq);
            samples += n;
            bytes += b;
        }
        seqs.reverse();
        reader.frontier = reader.frontier.max(top);
        Pick {
            first: seqs[0],
            last: top,
            seqs,
            samples,
            stream: Stream::Live,
        }
    } else {
        let mut seqs = Vec::new();
        let (mut samples, mut bytes) = (0u64, 0u64);
        let below = if start > acked.cursor {
            index.range(acked.cursor + 1..=start)
        } else {
            // Nothing at or below the frontier is left to read.
            index.range(0..0)
        };
        for (seq, m) in below {
            if !free(*seq) {
                if seqs.is_empty() {
                    continue;
                }
                break;
            }
            let (n, b) = cost(m);
            if !seqs.is_empty()
                && (samples + n > limits.max_samples || bytes + b > limits.max_bytes)
            {
                break;
            }
            seqs.push(*seq);
            samples += n;
            bytes += b;
        }
        let (&first, &last) = (seqs.first()?, seqs.last()?);
        Pick {
            first,
            last,
            seqs,
            samples,
            stream: Stream::Backfill,
        }
    };
    reader.in_flight.push((pick.first, pick.last));
    Some(pick)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An index of records `seqs`, each of `samples` samples and 100 bytes.
    fn index(seqs: impl IntoIterator<Item = u64>, samples: u64) -> BTreeMap<u64, u64> {
        seqs.into_iter().map(|s| (s, samples)).collect()
    }

    fn cost(n: &u64) -> (u64, u64) {
        (*n, 100)
    }

    const L: Limits = Limits {
        max_samples: 30,
        max_bytes: u64::MAX,
    };

    fn stored(idx: &BTreeMap<u64, u64>) -> impl Fn(u64, u64) -> bool + '_ {
        move |a, b| a <= b && idx.range(a..=b).next().is_some()
    }

    #[test]
    fn the_newest_records_go_first_then_the_backlog_oldest_first() {
        // A backlog of 100 records of 10 samples; 3 fit a read.
        let idx = index(1..=100, 10);
        let acked = Acked::new(0);
        let mut r = Reader::default();
        let live = next_read(&acked, &mut r, &idx, cost, L, true).unwrap();
        assert_eq!(
            (live.first, live.last, live.stream),
            (98, 100, Stream::Live)
        );
        let back = next_read(&acked, &mut r, &idx, cost, L, true).unwrap();
        assert_eq!(
            (back.first, back.last, back.stream),
            (1, 3, Stream::Backfill)
        );
        let back = next_read(&acked, &mut r, &idx, cost, L, true).unwrap();
        assert_eq!((back.first, back.last), (4, 6));
        // A new record: live again, before the rest of the backlog.
        let idx = index(1..=101, 10);
        let live = next_read(&acked, &mut r, &idx, cost, L, true).unwrap();
        assert_eq!(
            (live.first, live.last, live.stream),
            (101, 101, Stream::Live)
        );
        let back = next_read(&acked, &mut r, &idx, cost, L, true).unwrap();
        assert_eq!((back.first, back.last), (7, 9));
    }

    /// Between live reads (one per flush interval) the backfill goes on,
    /// and records newer than the last live read wait for the next one.
    #[test]
    fn without_a_live_read_fresh_records_wait_and_the_backfill_goes_on() {
        let idx = index(1..=10, 10);
        let acked = Acked::new(0);
        let mut r = Reader::default();
        let live = next_read(&acked, &mut r, &idx, cost, L, true).unwrap();
        assert_eq!((live.first, live.last), (8, 10));
        let idx = index(1..=12, 10);
        let back = next_read(&acked, &mut r, &idx, cost, L, false).unwrap();
        assert_eq!(
            (back.first, back.last, back.stream),
            (1, 3, Stream::Backfill)
        );
        let back = next_read(&acked, &mut r, &idx, cost, L, false).unwrap();
        assert_eq!((back.first, back.last), (4, 6));
        let back = next_read(&acked, &mut r, &idx, cost, L, false).unwrap();
        assert_eq!((back.first, back.last), (7, 7));
        assert!(next_read(&acked, &mut r, &idx, cost, L, false).is_none());
        let live = next_read(&acked, &mut r, &idx, cost, L, true).unwrap();
        assert_eq!((live.first, live.last, live.stream), (11, 12, Stream::Live));
    }

    #[test]
    fn a_backfill_stops_before_what_is_acknowledged_or_in_flight() {
        let idx = index(1..=10, 1);
        let mut acked = Acked::new(0);
        acked.insert(4, 5, stored(&idx));
        let mut r = Reader {
            frontier: 10,
            in_flight: vec![(8, 8)],
        };
        let big = Limits {
            max_samples: 100,
            max_bytes: u64::MAX,
        };
        let a = next_read(&acked, &mut r, &idx, cost, big, true).unwrap();
        assert_eq!((a.first, a.last), (1, 3));
        let b = next_read(&acked, &mut r, &idx, cost, big, true).unwrap();
        assert_eq!((b.first, b.last), (6, 7));
        let c = next_read(&acked, &mut r, &idx, cost, big, true).unwrap();
        assert_eq!((c.first, c.last), (9, 10));
        assert!(next_read(&acked, &mut r, &idx, cost, big, true).is_none());
    }

    #[test]
    fn byte_bounds_cut_reads_but_one_record_always_goes() {
        let idx = index(1..=10, 1);
        let acked = Acked::new(0);
        let mut r = Reader::default();
        let tight = Limits {
            max_samples: 100,
            max_bytes: 250,
        };
        let live = next_read(&acked, &mut r, &idx, cost, tight, true).unwrap();
        assert_eq!((live.first, live.last), (9, 10));
        let tiny = Limits {
            max_samples: 100,
            max_bytes: 1,
        };
        let back = next_read(&acked, &mut r, &idx, cost, tiny, true).unwrap();
        assert_eq!(back.seqs, [1]);
    }

    #[test]
    fn a_release_makes_the_next_read_the_newest_again() {
        let idx = index(1..=20, 10);
        let acked = Acked::new(0);
        let mut r = Reader::default();
        next_read(&acked, &mut r, &idx, cost, L, true).unwrap();
        next_read(&acked, &mut r, &idx, cost, L, true).unwrap();
        r.release(acked.cursor);
        let again = next_read(&acked, &mut r, &idx, cost, L, true).unwrap();
        assert_eq!(
            (again.first, again.last, again.stream),
            (18, 20, Stream::Live)
        );
    }

    #[test]
    fn ranges_merge_into_the_cursor_when_the_gap_closes() {
        let idx = index(1..=10, 1);
        let mut a = Acked::new(0);
        a.insert(8, 10, stored(&idx));
        a.insert(4, 5, stored(&idx));
        assert_eq!(a.cursor, 0);
        assert_eq!(a.ranges().collect::<Vec<_>>(), [(4, 5), (8, 10)]);
        assert!(a.contains(9) && a.contains(4) && !a.contains(6) && !a.contains(1));
        a.insert(1, 3, stored(&idx));
        assert_eq!(a.cursor, 5);
        a.insert(6, 7, stored(&idx));
        assert_eq!((a.cursor, a.ranges().count()), (10, 0));
    }

    #[test]
    fn gaps_without_records_close() {
        // Records 3..=6 were removed (a cap), 1 and 2 acknowledged.
        let mut idx = index(1..=10, 1);
        let mut a = Acked::new(0);
        a.insert(7, 10, stored(&idx));
        assert_eq!(a.cursor, 0);
        for s in 1..=6 {
            idx.remove(&s);
        }
        a.close_gaps(stored(&idx));
        assert_eq!((a.cursor, a.ranges().count()), (10, 0));
        // Two ranges with nothing stored between them become one.
        let idx = index([1, 2, 5, 9], 1);
        let mut a = Acked::new(0);
        a.insert(5, 5, stored(&idx));
        a.insert(9, 9, stored(&idx));
        assert_eq!(a.ranges().collect::<Vec<_>>(), [(5, 9)]);
    }

    #[test]
    fn an_in_order_ack_passes_ranges_below_it() {
        let idx = index(1..=10, 1);
        let mut a = Acked::new(0);
        a.insert(3, 4, stored(&idx));
        a.insert(6, 8, stored(&idx));
        a.advance(7, stored(&idx));
        assert_eq!((a.cursor, a.ranges().count()), (8, 0));
    }

    #[test]
    fn ranges_round_trip_and_are_bounded() {
        let idx = index(1..=1000, 1);
        let mut a = Acked::new(0);
        for i in 0..(MAX_RANGES as u64 + 10) {
            a.insert(10 * i + 5, 10 * i + 6, stored(&idx));
        }
        assert_eq!(a.ranges().count(), MAX_RANGES);
        // The lowest were forgotten: resent, not lost.
        assert!(!a.contains(5));
        let back = Acked::new(a.cursor).with_encoded_ranges(&a.encode_ranges());
        assert_eq!(back, a);
        assert_eq!(Acked::new(3).with_encoded_ranges(b"junk"), Acked::new(3));
    }
}
