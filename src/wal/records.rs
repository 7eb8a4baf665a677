//! `Records`: where the WAL keeps its records inside sled, chosen for what
//! sled 0.34 writes per record byte (the measurements are in the `wal`
//! module doc, "Cost").
//!
//! A record under [`CHUNK_MIN_BYTES`] goes to the tree `records`, as in
//! every earlier version. A larger one goes to a *chunk*: a tree of its
//! own, `records.<first seq, 16 hex digits>`, holding at most
//! [`CHUNK_RECORDS`] records, dropped whole once its last record is
//! removed. Such a tree is one leaf that never splits and never
//! consolidates (at most `CHUNK_RECORDS` inserts and `CHUNK_RECORDS - 1`
//! removals are linked to it, under sled's 10), so each record is written
//! once: in the log, or as one blob file when it is over sled's blob
//! threshold. In `records`, a leaf splits every 8 inserts and both halves
//! are written again, so every record was written about three times.
//!
//! The interface is the part of `sled::Tree`'s the store uses, with
//! big-endian seq keys, so the store reads the same with or without
//! chunks, and a WAL written before chunks existed (only `records`) is
//! read as it is.

use std::collections::BTreeMap;
use std::ops::{Bound, RangeBounds};

use sled::IVec;

/// Records of at least this many bytes go to a chunk tree. Smaller ones
/// stay in `records`: a chunk per few small records would make sled's
/// tree directory (one page, rewritten at every tree created or dropped)
/// cost more than the rewrites saved.
pub const CHUNK_MIN_BYTES: usize = 32 << 10;

/// Records per chunk tree: with at most this many inserts and one fewer
/// single removals, a tree's page stays under sled's 10 linked updates
/// (`PAGE_CONSOLIDATION_THRESHOLD`), so nothing in it is written twice.
pub const CHUNK_RECORDS: usize = 4;

/// The tree of small records (and of every record before chunks).
const MAIN_TREE: &str = "records";

/// Prefix of a chunk tree's name.
const CHUNK_PREFIX: &str = "records.";

/// Where one record is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    Main,
    /// The chunk named by its first seq.
    Chunk(u64),
}

/// A chunk tree and how many of its records are still stored.
struct Chunk {
    tree: sled::Tree,
    live: usize,
    /// Records ever inserted (a chunk takes `CHUNK_RECORDS`).
    inserted: usize,
}

/// The records, by seq, across `records` and the chunk trees.
pub struct Records {
    db: sled::Db,
    main: sled::Tree,
    chunks: BTreeMap<u64, Chunk>,
    /// The chunk new large records go to, while it has room.
    open_chunk: Option<u64>,
    /// seq → where it is stored, for every stored record.
    places: BTreeMap<u64, Place>,
    /// Record bytes written or read through these trees: sled 0.34 keeps
    /// in memory every page it has read or written, whatever its
    /// `cache_capacity` (see [`Layout`]).
    touched: std::cell::Cell<u64>,
}

/// Where every record is, without the sled handles: what [`Records`]
/// knows in memory, carried across a close and a reopen of the database.
///
/// Why the WAL closes and reopens sled: sled 0.34's page cache evicts
/// through an LRU of 256 shards, and a shard looks at its accesses only
/// once 64 of them are queued (`lru.rs`): until then nothing is evicted,
/// so every page read or written stays in memory. With records of tens of
/// KiB that is the whole backlog: a WAL holding 90 MB of records took
/// 104 MB of RSS to write and 95 MB to open (`examples/walreopen.rs`).
/// Dropping the database frees its pages; `WalStore::reopen` and the
/// bounded scan of [`Records::scan_some`] do that every few MiB.
#[derive(Debug, Default)]
pub struct Layout {
    /// first seq → (records stored, records ever inserted).
    chunks: BTreeMap<u64, (usize, usize)>,
    open_chunk: Option<u64>,
    places: BTreeMap<u64, Place>,
    /// Chunk trees found empty by a scan, to drop once it is done.
    empty: Vec<u64>,
}

/// How far a [`Records::scan_some`] got: the tree (0 is `records`, then
/// the chunk trees in name order) and the last seq read in it.
#[derive(Debug, Default, Clone, Copy)]
pub struct ScanPos {
    tree: usize,
    after: Option<u64>,
}

fn be(seq: u64) -> [u8; 8] {
    seq.to_be_bytes()
}

fn seq_of(key: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    let n = key.len().min(8);
    b[8 - n..].copy_from_slice(&key[key.len() - n..]);
    u64::from_be_bytes(b)
}

fn chunk_name(first: u64) -> String {
    format!("{CHUNK_PREFIX}{first:016x}")
}

impl Records {
    /// Opens `records` and every chunk tree of `db`, reading every record
    /// once to learn where it is (all of it in memory: for a new or small
    /// database; the WAL's open scans with [`Records::scan_some`]).
    pub fn open(db: &sled::Db) -> sled::Result<Records> {
        let mut layout = Layout::default();
        let mut pos = ScanPos::default();
        Records::scan_some(db, &mut pos, u64::MAX, &mut layout, &mut |_, _| {})?;
        Records::with_layout(db, layout)
    }

    /// Reads the records of `db` from `pos` on, in tree order, into
    /// `layout`, calling `each` with every record's seq and bytes, until
    /// `budget` record bytes were read (`Ok(false)`, `pos` is where to go
    /// on, from a fresh open of the database) or every tree is read
    /// (`Ok(true)`). Reads nothing twice across calls.
    pub fn scan_some(
        db: &sled::Db,
        pos: &mut ScanPos,
        budget: u64,
        layout: &mut Layout,
        each: &mut dyn FnMut(u64, &IVec),
    ) -> sled::Result<bool> {
        let mut chunk_names: Vec<(u64, IVec)> = db
            .tree_names()
            .into_iter()
            .filter_map(|name| {
                let first = std::str::from_utf8(&name)
                    .ok()?
                    .strip_prefix(CHUNK_PREFIX)
                    .and_then(|hex| u64::from_str_radix(hex, 16).ok())?;
                Some((first, name))
            })
            .collect();
        chunk_names.sort();
        let mut read = 0u64;
        while pos.tree <= chunk_names.len() {
            let (tree, place) = match pos.tree {
                0 => (db.open_tree(MAIN_TREE)?, Place::Main),
                i => {
                    let (first, name) = &chunk_names[i - 1];
                    (db.open_tree(name)?, Place::Chunk(*first))
                }
            };
            let from = match pos.after {
                Some(seq) => Bound::Excluded(be(seq)),
                None => Bound::Unbounded,
            };
            for item in tree.range::<[u8; 8], _>((from, Bound::Unbounded)) {
                let (k, v) = item?;
                let seq = seq_of(&k);
                layout.places.insert(seq, place);
                if let Place::Chunk(first) = place {
                    layout.chunks.entry(first).or_insert((0, CHUNK_RECORDS)).0 += 1;
                }
                each(seq, &v);
                pos.after = Some(seq);
                read += v.len() as u64;
                if read >= budget {
                    return Ok(false);
                }
            }
            if let Place::Chunk(first) = place {
                if !layout.chunks.contains_key(&first) {
                    // Emptied but not yet dropped when the agent stopped.
                    layout.empty.push(first);
                }
            }
            pos.tree += 1;
            pos.after = None;
        }
        Ok(true)
    }

    /// The records of `db` where `layout` says they are (nothing is read:
    /// sled opens a tree without loading its pages). Chunk trees a scan
    /// found empty are dropped.
    pub fn with_layout(db: &sled::Db, layout: Layout) -> sled::Result<Records> {
        for first in &layout.empty {
            db.drop_tree(chunk_name(*first))?;
        }
        let mut chunks = BTreeMap::new();
        for (first, (live, inserted)) in layout.chunks {
            let tree = db.open_tree(chunk_name(first))?;
            chunks.insert(
                first,
                Chunk {
                    tree,
                    live,
                    // A chunk found by a scan is never reopened for inserts:
                    // its page may already carry removals.
                    inserted,
                },
            );
        }
        Ok(Records {
            db: db.clone(),
            main: db.open_tree(MAIN_TREE)?,
            chunks,
            open_chunk: layout.open_chunk,
            places: layout.places,
            touched: std::cell::Cell::new(0),
        })
    }

    /// What `self` knows, its sled handles dropped (the database closes
    /// once the store's own handles are dropped too).
    pub fn into_layout(self) -> Layout {
        Layout {
            chunks: self
                .chunks
                .into_iter()
                .map(|(first, c)| (first, (c.live, c.inserted)))
                .collect(),
            open_chunk: self.open_chunk,
            places: self.places,
            empty: Vec::new(),
        }
    }

    /// Record bytes written or read since these trees were opened.
    pub fn touched(&self) -> u64 {
        self.touched.get()
    }

    fn touch(&self, bytes: usize) {
        self.touched
            .set(self.touched.get().saturating_add(bytes as u64));
    }

    fn tree(&self, place: Place) -> Option<&sled::Tree> {
        match place {
            Place::Main => Some(&self.main),
            Place::Chunk(first) => self.chunks.get(&first).map(|c| &c.tree),
        }
    }

    /// Stores `value` under the seq `key` (8 bytes, big-endian), replacing
    /// what was there.
    pub fn insert(&mut self, key: impl AsRef<[u8]>, value: &[u8]) -> sled::Result<()> {
        self.touch(value.len());
        let seq = seq_of(key.as_ref());
        if let Some(&place) = self.places.get(&seq) {
            if let Some(tree) = self.tree(place) {
                tree.insert(be(seq), value)?;
                return Ok(());
            }
        }
        let place = if value.len() >= CHUNK_MIN_BYTES {
            self.chunk_for(seq)?
        } else {
            Place::Main
        };
        match place {
            Place::Main => {
                self.main.insert(be(seq), value)?;
            }
            Place::Chunk(first) => {
                let chunk = self.chunks.get_mut(&first).expect("chunk_for made it");
                chunk.tree.insert(be(seq), value)?;
                chunk.live += 1;
                chunk.inserted += 1;
            }
        }
        self.places.insert(seq, place);
        Ok(())
    }

    /// The chunk a large record `seq` goes to: the open one while it has
    /// room and `seq` is above its records (seq order is chunk order),
    /// else a new one. A seq below the open chunk's (a disk-full restore)
    /// goes to `records`.
    fn chunk_for(&mut self, seq: u64) -> sled::Result<Place> {
        if let Some(first) = self.open_chunk {
            let above = self
                .places
                .range(first..)
                .next_back()
                .is_none_or(|(top, _)| *top < seq);
            if !above {
                return Ok(Place::Main);
            }
            match self.chunks.get(&first) {
                Some(c) if c.inserted < CHUNK_RECORDS => return Ok(Place::Chunk(first)),
                _ => self.open_chunk = None,
            }
        }
        if self.places.range(seq..).next().is_some() || self.chunks.contains_key(&seq) {
            return Ok(Place::Main);
        }
        let tree = self.db.open_tree(chunk_name(seq))?;
        self.chunks.insert(
            seq,
            Chunk {
                tree,
                live: 0,
                inserted: 0,
            },
        );
        self.open_chunk = Some(seq);
        Ok(Place::Chunk(seq))
    }

    /// The record `seq`.
    pub fn get(&self, key: impl AsRef<[u8]>) -> sled::Result<Option<IVec>> {
        let seq = seq_of(key.as_ref());
        let got = match self.places.get(&seq).and_then(|p| self.tree(*p)) {
            Some(tree) => tree.get(be(seq))?,
            None => None,
        };
        if let Some(v) = &got {
            self.touch(v.len());
        }
        Ok(got)
    }

    /// Whether the record `seq` is stored.
    pub fn contains_key(&self, key: impl AsRef<[u8]>) -> sled::Result<bool> {
        Ok(self.places.contains_key(&seq_of(key.as_ref())))
    }

    /// Removes one record (nothing if it is not stored).
    pub fn remove(&mut self, key: impl AsRef<[u8]>) -> sled::Result<()> {
        self.remove_all(&[seq_of(key.as_ref())])
    }

    /// Removes the records `seqs` (those stored): a chunk left empty is
    /// dropped whole, which frees its pages (and blob files) at once.
    pub fn remove_all(&mut self, seqs: &[u64]) -> sled::Result<()> {
        let mut main = sled::Batch::default();
        let mut per_chunk: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
        for s in seqs {
            match self.places.remove(s) {
                Some(Place::Main) => main.remove(&be(*s)),
                Some(Place::Chunk(first)) => per_chunk.entry(first).or_default().push(*s),
                None => {}
            }
        }
        self.main.apply_batch(main)?;
        for (first, gone) in per_chunk {
            let Some(chunk) = self.chunks.get_mut(&first) else {
                continue;
            };
            chunk.live = chunk.live.saturating_sub(gone.len());
            if chunk.live == 0 {
                self.chunks.remove(&first);
                if self.open_chunk == Some(first) {
                    self.open_chunk = None;
                }
                self.db.drop_tree(chunk_name(first))?;
            } else {
                // Closed for inserts: a removal already linked to its page.
                chunk.inserted = CHUNK_RECORDS;
                let mut batch = sled::Batch::default();
                for s in gone {
                    batch.remove(&be(s));
                }
                chunk.tree.apply_batch(batch)?;
            }
        }
        Ok(())
    }

    /// The records with seqs in `range`, in seq order (reversible), as
    /// `(key, value)` like `sled::Tree::range`.
    pub fn range<K: AsRef<[u8]>, R: RangeBounds<K>>(
        &self,
        range: R,
    ) -> impl DoubleEndedIterator<Item = sled::Result<(IVec, IVec)>> + '_ {
        let bound = |b: Bound<&K>| match b {
            Bound::Included(k) => Bound::Included(seq_of(k.as_ref())),
            Bound::Excluded(k) => Bound::Excluded(seq_of(k.as_ref())),
            Bound::Unbounded => Bound::Unbounded,
        };
        let (lo, hi) = (bound(range.start_bound()), bound(range.end_bound()));
        self.places.range((lo, hi)).filter_map(move |(seq, place)| {
            let tree = self.tree(*place)?;
            match tree.get(be(*seq)) {
                Ok(Some(v)) => {
                    self.touch(v.len());
                    Some(Ok((IVec::from(&be(*seq)), v)))
                }
                Ok(None) => None,
                Err(e) => Some(Err(e)),
            }
        })
    }

    /// Every record, in seq order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = sled::Result<(IVec, IVec)>> + '_ {
        self.range::<[u8; 8], _>(..)
    }

    /// The oldest record.
    pub fn first(&self) -> sled::Result<Option<(IVec, IVec)>> {
        self.iter().next().transpose()
    }

    /// The newest record.
    pub fn last(&self) -> sled::Result<Option<(IVec, IVec)>> {
        self.iter().next_back().transpose()
    }

    /// Records stored.
    pub fn len(&self) -> usize {
        self.places.len()
    }

    pub fn is_empty(&self) -> bool {
        self.places.is_empty()
    }

    /// Chunk trees held now (for tests and `wal stats`-like checks).
    pub fn chunks(&self) -> usize {
        self.chunks.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db(dir: &std::path::Path) -> sled::Db {
        sled::Config::new()
            .path(dir.join("db"))
            .flush_every_ms(None)
            .open()
            .unwrap()
    }

    fn big(tag: u8) -> Vec<u8> {
        vec![tag; CHUNK_MIN_BYTES]
    }

    #[test]
    fn large_records_go_to_chunks_small_ones_to_records_and_read_in_seq_order() {
        let dir = tempfile::tempdir().unwrap();
        let db = db(dir.path());
        let mut r = Records::open(&db).unwrap();
        for seq in 1..=10u64 {
            let v = if seq % 3 == 0 {
                vec![seq as u8; 10]
            } else {
                big(seq as u8)
            };
            r.insert(be(seq), &v).unwrap();
        }
        // 7 large records, 4 per chunk.
        assert_eq!(r.chunks(), 2);
        assert_eq!(db.open_tree(MAIN_TREE).unwrap().len(), 3);
        let seqs: Vec<u64> = r.iter().map(|kv| seq_of(&kv.unwrap().0)).collect();
        assert_eq!(seqs, (1..=10).collect::<Vec<_>>());
        let from5: Vec<u64> = r.range(be(5)..).map(|kv| seq_of(&kv.unwrap().0)).collect();
        assert_eq!(from5, (5..=10).collect::<Vec<_>>());
        let back: Vec<u64> = r
            .range(..=be(4))
            .rev()
            .map(|kv| seq_of(&kv.unwrap().0))
            .collect();
        assert_eq!(back, vec![4, 3, 2, 1]);
        assert_eq!(r.get(be(7)).unwrap().unwrap()[0], 7);
        assert_eq!(r.get(be(6)).unwrap().unwrap().len(), 10);

        // Reopened: the same records from the same places.
        drop(r);
        let mut r = Records::open(&db).unwrap();
        assert_eq!(r.len(), 10);
        assert_eq!(r.chunks(), 2);
        // Removing a chunk's records one by one drops it at the last.
        r.remove_all(&[1, 2, 3]).unwrap();
        assert_eq!(r.chunks(), 2);
        r.remove_all(&[4, 5]).unwrap();
        assert_eq!(r.chunks(), 1, "the first chunk (1, 2, 4, 5) is dropped");
        let names: Vec<String> = db
            .tree_names()
            .iter()
            .map(|n| String::from_utf8_lossy(n).to_string())
            .filter(|n| n.starts_with(CHUNK_PREFIX))
            .collect();
        assert_eq!(names, vec![chunk_name(7)]);
        assert_eq!(r.first().unwrap().map(|(k, _)| seq_of(&k)), Some(6));
        assert_eq!(r.last().unwrap().map(|(k, _)| seq_of(&k)), Some(10));
    }

    /// Bytes this process has caused to be written to disk.
    fn write_bytes() -> u64 {
        let io = std::fs::read_to_string("/proc/self/io").expect("read /proc/self/io");
        io.lines()
            .find_map(|l| l.strip_prefix("write_bytes:"))
            .and_then(|v| v.trim().parse().ok())
            .expect("write_bytes in /proc/self/io")
    }

    /// Writes 60 rounds of the compare workload's records (190,000 and
    /// 40,000 bytes a second, nothing removed: an outage) with a flush a
    /// round; returns (written, du) per record byte.
    fn outage_cost(chunked: bool) -> (f64, f64) {
        let dir = tempfile::tempdir().unwrap();
        let db = db(dir.path());
        let mut records = Records::open(&db).unwrap();
        let tree = db.open_tree("plain").unwrap();
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
        let before = write_bytes();
        let (mut seq, mut total) = (0u64, 0u64);
        for _ in 0..60 {
            for n in [190_000, 40_000] {
                seq += 1;
                let v = bytes(n);
                if chunked {
                    records.insert(be(seq), &v).unwrap();
                } else {
                    tree.insert(be(seq), v).unwrap();
                }
                total += n as u64;
            }
            db.flush().unwrap();
        }
        let written = write_bytes() - before;
        let du = crate::wal::store::dir_size(dir.path());
        assert!(
            written >= total,
            "{written} bytes written for {total} record bytes: is the temp dir on tmpfs? \
             (write_bytes counts what reaches a disk; set TMPDIR to a disk)"
        );
        (written as f64 / total as f64, du as f64 / total as f64)
    }

    /// The measurement behind chunks (the `wal` module doc, "Cost"): in
    /// one tree sled writes each large record about three times; in
    /// chunks about once, and holds about its size.
    #[test]
    fn chunks_write_large_records_about_once() {
        let (plain_written, _) = outage_cost(false);
        let (written, du) = outage_cost(true);
        eprintln!(
            "one tree: {plain_written:.2}x written; chunks: {written:.2}x written, {du:.2}x du"
        );
        assert!(
            plain_written > 2.0,
            "one tree wrote only {plain_written:.2}x: sled changed?"
        );
        assert!(written < 1.2, "chunks wrote {written:.2}x the record bytes");
        assert!(du < 1.2, "chunks hold {du:.2}x the record bytes");
    }

    #[test]
    fn a_seq_below_the_open_chunk_goes_to_records() {
        let dir = tempfile::tempdir().unwrap();
        let db = db(dir.path());
        let mut r = Records::open(&db).unwrap();
        r.insert(be(10), &big(1)).unwrap();
        r.insert(be(5), &big(2)).unwrap();
        r.insert(be(11), &big(3)).unwrap();
        assert_eq!(r.chunks(), 1);
        assert_eq!(db.open_tree(MAIN_TREE).unwrap().len(), 1);
        let seqs: Vec<u64> = r.iter().map(|kv| seq_of(&kv.unwrap().0)).collect();
        assert_eq!(seqs, vec![5, 10, 11]);
    }
}
