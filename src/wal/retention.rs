//! How the WAL keeps its real disk use under `buffer.max_size`: the record
//! budget, and compaction into a fresh sled database.
//!
//! # Why a budget and not the cap itself
//!
//! sled 0.34 is log-structured: every change appends to 512 KiB segments,
//! and a segment is reused only after it has been cleaned (when at most
//! half of it is still live), so the files hold old versions next to live
//! data and never shrink. Measured with a scratch program on sled alone
//! (458-byte ping records, a cap on record bytes enforced every 100
//! records, one flush each time); `tests/faults.rs`
//! `f01_size_cap_holds_disk_use_under_churn` checks the result on the real
//! store (20x a 4 MiB cap: `du` peaks at 6.5 MiB):
//!
//! | live records | `du` of the WAL, steady state after 20–150x churn |
//! |---|---|
//! | 1 MiB  | 8–10 MiB |
//! | 8 MiB  | 19–25 MiB (2.4–3.1x) |
//! | 32 MiB | 76–79 MiB (2.4x) |
//!
//! that is about `2.2 x live + 4..9 MiB`, where the constant part grows
//! with the bytes written between two flushes. A cap on the record bytes
//! alone (the first design) therefore let `du` reach 2.5–3.7 times
//! `max_size`. So the cap applies to what `du` shows:
//!
//! 1. The records may take `max_size / DISK_AMPLIFICATION` bytes (the
//!    *budget*); the oldest are dropped past it (`reason="size"`) at
//!    every sweep, and by an append that takes the records
//!    `APPEND_SLACK` past it (a fast writer adds more than the margin
//!    between two sweeps). No record is over `wal::MAX_RECORD_BYTES`,
//!    so none is a blob file that sled would keep after its removal.
//! 2. Every sweep measures `du`. When it is above `max_size` and higher
//!    than at the last shrink, the budget shrinks to `BUDGET_SHRINK` of
//!    what the records take now (never below
//!    `max_size / MIN_BUDGET_DIVISOR`), dropping the oldest: less live data
//!    lets sled reuse its segments instead of growing the file. The files
//!    never shrink, so a `du` that stays where it is means the budget is
//!    small enough; only growth asks for more.
//! 3. Above `max_size + DISK_MARGIN / 2`, when a rewrite would shrink the
//!    files, the WAL is *compacted*: every tree is copied into a fresh sled
//!    database next to it, which then replaces the old one by `rename`
//!    (also at start, for a WAL written with a larger cap or by an older
//!    version). At most once per `COMPACT_MIN_INTERVAL`.
//!
//! The guarantee: `du` of `buffer.path` stays under
//! `max_size + DISK_MARGIN`, except for the moment of a compaction, which
//! needs room for the kept records once more (about `2.5 x` their bytes)
//! until the old files are removed.
//!
//! # Compaction on disk
//!
//! `<path>.compact` is written and flushed, then the marker file
//! `<path>.compact-done` is created, then `<path>` is renamed to
//! `<path>.old`, `<path>.compact` to `<path>`, and `<path>.old` and the
//! marker are removed. `finish_interrupted` (run before every open) makes
//! a crash at any point end in exactly one complete WAL: the old one when
//! the marker is missing, the new one otherwise (both hold the same data).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The budget for record bytes at start is `max_size` divided by this:
/// sled needs 2.2–3x the record bytes on disk (see the module doc).
pub const DISK_AMPLIFICATION: u64 = 3;

/// What `du` may exceed `max_size` by: sled's segments in flight and
/// waiting for cleaning (measured 4–9 MiB; see the module doc).
pub const DISK_MARGIN: u64 = 8 << 20;

/// What the records may pass the budget by between two sweeps before an
/// append drops the oldest (down to the budget) itself: a fast writer
/// adds more than the margin in a second, a slow one never reaches it
/// (its drops stay with the sweep).
pub const APPEND_SLACK: u64 = 1 << 20;

/// When `du` is over `max_size`, the budget becomes this fraction of the
/// bytes the records take at that moment.
pub const BUDGET_SHRINK: f64 = 0.9;

/// The budget never shrinks below `max_size` divided by this, so some
/// backlog is always kept.
pub const MIN_BUDGET_DIVISOR: u64 = 16;

/// The budget grows back by this fraction per sweep while `du` is well
/// under the cap (after a compaction or a restart).
pub const BUDGET_GROWTH: f64 = 0.02;

/// Bytes a freshly written sled database takes per record byte (measured
/// 2.0–2.5x), plus one segment; to decide whether a compaction pays off.
pub const FRESH_AMPLIFICATION: f64 = 2.5;

/// Fewest seconds between two compactions.
pub const COMPACT_MIN_INTERVAL: Duration = Duration::from_secs(60);

/// What the WAL should do after a disk measurement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiskAction {
    /// Under the cap (the budget may have grown back).
    Keep,
    /// Over the cap: drop the oldest records down to the (new) budget.
    Shrink,
    /// Far over the cap and a rewrite would help: compact.
    Compact,
}

/// The record budget that keeps `du` under `max_size`, adjusted from
/// measurements. Plain data: no I/O, unit-tested.
#[derive(Debug, Clone)]
pub struct DiskBudget {
    max_size: u64,
    /// Bytes the records may take now.
    budget: u64,
    last_compaction: Option<Instant>,
    /// `du` when the budget last shrank: only growth past it shrinks again.
    shrunk_at: u64,
}

impl DiskBudget {
    pub fn new(max_size: u64) -> DiskBudget {
        DiskBudget {
            max_size,
            budget: max_size / DISK_AMPLIFICATION,
            last_compaction: None,
            shrunk_at: 0,
        }
    }

    /// Bytes the records may take.
    pub fn records(&self) -> u64 {
        self.budget
    }

    fn floor(&self) -> u64 {
        self.max_size / MIN_BUDGET_DIVISOR
    }

    fn initial(&self) -> u64 {
        self.max_size / DISK_AMPLIFICATION
    }

    /// Takes one measurement: `du` of the WAL and the bytes its records
    /// take. Shrinks or grows the budget and says what to do.
    pub fn observe(&mut self, disk_bytes: u64, record_bytes: u64, now: Instant) -> DiskAction {
        if disk_bytes <= self.max_size {
            self.shrunk_at = 0;
            if disk_bytes < self.max_size / 4 * 3 && self.budget < self.initial() {
                let step = ((self.budget as f64) * BUDGET_GROWTH) as u64;
                self.budget = (self.budget + step.max(1)).min(self.initial());
            }
            return DiskAction::Keep;
        }
        let fresh = (record_bytes as f64 * FRESH_AMPLIFICATION) as u64 + (1 << 20);
        let may_compact = self
            .last_compaction
            .is_none_or(|t| now.duration_since(t) >= COMPACT_MIN_INTERVAL);
        if disk_bytes > self.max_size + DISK_MARGIN / 2
            && fresh < disk_bytes / 10 * 7
            && fresh < self.max_size
            && may_compact
        {
            self.last_compaction = Some(now);
            self.shrunk_at = 0;
            return DiskAction::Compact;
        }
        if disk_bytes <= self.shrunk_at {
            return DiskAction::Keep;
        }
        self.shrunk_at = disk_bytes;
        let shrunk = ((record_bytes.min(self.budget) as f64) * BUDGET_SHRINK) as u64;
        let next = shrunk.max(self.floor());
        if next < self.budget {
            self.budget = next;
            DiskAction::Shrink
        } else {
            DiskAction::Keep
        }
    }
}

/// `<path><suffix>` (a sibling of the WAL directory).
pub fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// Where a compaction writes the new database.
pub fn compact_path(path: &Path) -> PathBuf {
    sibling(path, ".compact")
}

/// Created once the new database is complete.
pub fn done_marker(path: &Path) -> PathBuf {
    sibling(path, ".compact-done")
}

/// Where the replaced database waits to be removed.
pub fn old_path(path: &Path) -> PathBuf {
    sibling(path, ".old")
}

/// Completes or undoes a compaction that a crash interrupted, so that
/// exactly one complete WAL is at `path`. Returns what it did, for the log.
pub fn finish_interrupted(path: &Path) -> std::io::Result<Option<&'static str>> {
    let compact = compact_path(path);
    let marker = done_marker(path);
    let old = old_path(path);
    let mut did = None;
    if path.exists() {
        // The old WAL is intact (the swap had not begun, or had finished
        // and only the clean-up was left): anything else is leftover.
        if compact.exists() {
            std::fs::remove_dir_all(&compact)?;
            did = Some("removed an unfinished compaction");
        }
    } else if compact.exists() && marker.exists() {
        std::fs::rename(&compact, path)?;
        did = Some("finished an interrupted compaction");
    } else if old.exists() {
        std::fs::rename(&old, path)?;
        did = Some("restored the WAL from before an interrupted compaction");
    }
    if old.exists() {
        std::fs::remove_dir_all(&old)?;
    }
    if marker.exists() {
        std::fs::remove_file(&marker)?;
    }
    if compact.exists() {
        std::fs::remove_dir_all(&compact)?;
    }
    Ok(did)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    #[test]
    fn budget_starts_at_a_third_and_shrinks_over_the_cap() {
        let now = Instant::now();
        let mut b = DiskBudget::new(30 * MIB);
        assert_eq!(b.records(), 10 * MIB);
        assert_eq!(b.observe(20 * MIB, 10 * MIB, now), DiskAction::Keep);
        assert_eq!(b.observe(31 * MIB, 10 * MIB, now), DiskAction::Shrink);
        assert_eq!(b.records(), 9 * MIB);
        // The files do not shrink: the same du asks for nothing more.
        assert_eq!(b.observe(31 * MIB, 9 * MIB, now), DiskAction::Keep);
        assert_eq!(b.records(), 9 * MIB);
        // Growth shrinks again, never below the floor.
        for i in 0..100 {
            b.observe(32 * MIB + i, b.records(), now);
        }
        assert_eq!(b.records(), 30 * MIB / MIN_BUDGET_DIVISOR);
    }

    #[test]
    fn far_over_the_cap_with_little_data_compacts_once_a_minute() {
        let now = Instant::now();
        let mut b = DiskBudget::new(16 * MIB);
        assert_eq!(b.observe(40 * MIB, MIB, now), DiskAction::Compact);
        assert_eq!(b.observe(40 * MIB, MIB, now), DiskAction::Shrink);
        assert_eq!(b.observe(40 * MIB, MIB, now), DiskAction::Keep);
        let later = now + COMPACT_MIN_INTERVAL;
        assert_eq!(b.observe(40 * MIB, MIB, later), DiskAction::Compact);
    }

    #[test]
    fn budget_grows_back_when_there_is_room() {
        let now = Instant::now();
        let mut b = DiskBudget::new(30 * MIB);
        b.observe(31 * MIB, 5 * MIB, now);
        let low = b.records();
        for _ in 0..1000 {
            b.observe(MIB, 0, now);
        }
        assert!(b.records() > low);
        assert_eq!(b.records(), 10 * MIB);
    }

    #[test]
    fn an_interrupted_compaction_ends_in_one_wal() {
        let dir = tempfile::tempdir().unwrap();
        let wal = dir.path().join("wal");
        let put = |p: &Path, tag: &str| {
            std::fs::create_dir_all(p).unwrap();
            std::fs::write(p.join("tag"), tag).unwrap();
        };
        let tag = |p: &Path| std::fs::read_to_string(p.join("tag")).unwrap();

        // Crash while writing the copy: the old WAL stays.
        put(&wal, "old");
        put(&compact_path(&wal), "new");
        finish_interrupted(&wal).unwrap();
        assert_eq!(tag(&wal), "old");
        assert!(!compact_path(&wal).exists());

        // Crash between the two renames: the complete copy takes over.
        std::fs::rename(&wal, old_path(&wal)).unwrap();
        put(&compact_path(&wal), "new");
        std::fs::write(done_marker(&wal), b"").unwrap();
        finish_interrupted(&wal).unwrap();
        assert_eq!(tag(&wal), "new");
        assert!(!old_path(&wal).exists() && !done_marker(&wal).exists());

        // Crash after the first rename, before the marker: back to old.
        std::fs::rename(&wal, old_path(&wal)).unwrap();
        finish_interrupted(&wal).unwrap();
        assert_eq!(tag(&wal), "new");
    }
}
