//! The on-disk encoding of one WAL record: the samples of one probe run.
//!
//! A record is stored in the form the shipper needs, so shipping costs a
//! CRC check and a byte copy, never a decompression or a protobuf decode.
//! A remote-write `WriteRequest` body is the concatenation of its field-1
//! `TimeSeries` entries (`0x0a <varint len> <TimeSeries bytes>`, see
//! `crate::proto`), so a record's payload is exactly that concatenation for
//! the record's series, compressed as a snappy raw block; a request body
//! is the records' blocks joined under one length
//! (`ship::remote_write::body_from_compressed`). Decompressed only where a
//! record must be cut (`batch_size`, `max_age`, a refused request's split).
//!
//! # Layout (version 1)
//!
//! All integers little-endian. The header is fixed-size so that
//! [`header`] is a few loads, without decompression: the WAL reads it for
//! the age cap, backlog counts and batch sizing.
//!
//! | offset | size | field | meaning |
//! |---|---|---|---|
//! | 0 | 1 | `version` | [`VERSION`] = 1; any other value is [`RecordError::UnknownVersion`] |
//! | 1 | 4 | `samples` | u32, samples in the record (after de-duplication) |
//! | 5 | 4 | `series` | u32, `TimeSeries` entries in the payload |
//! | 9 | 8 | `min_ts_ms` | i64, oldest sample timestamp (0 when empty) |
//! | 17 | 8 | `max_ts_ms` | i64, newest sample timestamp (0 when empty) |
//! | 25 | 4 | `crc32` | u32, CRC-32 (IEEE, as zlib) of the compressed bytes that follow |
//! | 29 | .. | payload | snappy raw block (not framed) of the `0x0a <len> <TimeSeries>` entries |
//!
//! Within a record, samples of one `(name, labels)` form one `TimeSeries`,
//! series are in the order the run first gave them (readers need no
//! order; records written before 0.1.0's successor have them sorted by
//! name then labels), samples by timestamp. Labels
//! are `__name__` plus the sample's labels, sorted by name byte-wise (so
//! `Zone` sorts before `__name__` and `device_id` after it), with no empty
//! values. Two samples of one series with the same timestamp keep only
//! the last one given: a backend rejects a batch that carries one
//! timestamp twice with different values.
//!
//! A new layout gets a new version byte; readers keep decoding every
//! version they ever wrote, since a WAL outlives an upgrade.
//!
//! # Size
//!
//! A typical ping run (8 samples, 6 labels each) takes 458 bytes, about 57
//! bytes per sample, in this format (1542 bytes before compression): the
//! label sets of one run are identical, so snappy turns each repeated set
//! into a few back-references, and what is left per sample is its metric
//! name, its value and the framing. sled adds its own per-key overhead on
//! top. The test `typical_ping_run_size` prints the figure
//! (`cargo test --lib wal::record -- --nocapture`).

use std::collections::HashMap;

use crate::proto;
use crate::sample::{Labels, Sample};
use prost::Message;

/// The version byte this module writes.
pub const VERSION: u8 = 1;

/// Bytes before the compressed payload.
pub const HEADER_LEN: usize = 29;

/// Largest decompressed payload a record may claim. A probe run produces
/// a few KiB; this bound only stops a corrupt length from allocating
/// gigabytes on a router.
pub const MAX_PAYLOAD_BYTES: usize = 64 * 1024 * 1024;

/// The label that carries the metric name.
pub const NAME_LABEL: &str = "__name__";

/// What [`header`] reads without decompressing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordHeader {
    pub version: u8,
    /// Samples in the record; what batch sizes and backlogs count.
    pub samples: u32,
    /// `TimeSeries` entries in the payload; the unit a 413 split works in.
    pub series: u32,
    /// Oldest sample, for the age cap and for backends' "too old" limits.
    pub min_ts_ms: i64,
    /// Newest sample.
    pub max_ts_ms: i64,
}

/// A record that cannot be read back.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RecordError {
    #[error(
        "wal record has unknown format version {version} (this build reads version {VERSION}): \
         was the WAL written by a newer sentinel?"
    )]
    UnknownVersion { version: u8 },
    #[error("wal record is truncated: {len} bytes, at least {need} needed")]
    Truncated { len: usize, need: usize },
    #[error("wal record checksum mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    Checksum { stored: u32, computed: u32 },
    #[error("wal record payload is corrupt: {reason}")]
    Corrupt { reason: String },
}

/// Encodes the samples of one probe run as a record.
///
/// A run whose samples are each their own series (a scrape, a ping run:
/// the common case) is written in the order given, one `TimeSeries` per
/// sample, without regrouping; a run with several samples of one series
/// has them grouped, in the order their series first appear, by
/// timestamp, the last value given winning on a repeated timestamp. The
/// protobuf is written by hand from the label strings (no message structs,
/// no copies of the strings).
pub fn encode(samples: &[Sample]) -> Vec<u8> {
    // Which series each sample belongs to, numbered by first appearance.
    // The standard keyed hasher: label values come from scrape targets and
    // commands, which could choose values that all collide under an
    // unkeyed one.
    let mut ids: HashMap<(&str, &Labels), u32> = HashMap::with_capacity(samples.len());
    let series_of: Vec<u32> = samples
        .iter()
        .map(|s| {
            let next = ids.len() as u32;
            *ids.entry((s.name.as_str(), &s.labels)).or_insert(next)
        })
        .collect();
    let series = ids.len();
    drop(ids);

    let mut raw = Vec::with_capacity(samples.len() * 96);
    let mut count: u32 = 0;
    let (mut min_ts, mut max_ts) = (i64::MAX, i64::MIN);
    let mut points: Vec<(i64, f64)> = Vec::new();
    let mut emit = |raw: &mut Vec<u8>, s: &Sample, points: &[(i64, f64)]| {
        count += points.len() as u32;
        for &(t, _) in points {
            min_ts = min_ts.min(t);
            max_ts = max_ts.max(t);
        }
        write_series(raw, &s.name, &s.labels, points);
    };
    if series == samples.len() {
        for s in samples {
            emit(&mut raw, s, &[(s.timestamp_ms, s.value)]);
        }
    } else {
        // Stable: samples of one series keep their given order within a
        // timestamp, so the last one given is the one kept.
        let mut order: Vec<u32> = (0..samples.len() as u32).collect();
        order.sort_by_key(|&i| (series_of[i as usize], samples[i as usize].timestamp_ms));
        let mut i = 0;
        while i < order.len() {
            let first = &samples[order[i] as usize];
            let id = series_of[order[i] as usize];
            points.clear();
            while i < order.len() && series_of[order[i] as usize] == id {
                let s = &samples[order[i] as usize];
                match points.last_mut() {
                    Some(last) if last.0 == s.timestamp_ms => last.1 = s.value,
                    _ => points.push((s.timestamp_ms, s.value)),
                }
                i += 1;
            }
            emit(&mut raw, first, &points);
        }
    }
    if count == 0 {
        (min_ts, max_ts) = (0, 0);
    }
    seal(&raw, count, series as u32, min_ts, max_ts)
}

/// A label set sorted and protobuf-encoded once (per task, not per
/// sample): each label's `Label` message, ready to be copied into every
/// series that carries the set. [`RunWriter::merged`] interleaves a
/// series' own labels and `__name__` with it in name order.
#[derive(Debug, Clone, Default)]
pub struct EncodedLabels {
    labels: Labels,
    /// Each label's name and the end of its message in `bytes` (its
    /// start is the previous one's end).
    ends: Vec<(crate::sample::SharedStr, u32)>,
    bytes: Vec<u8>,
}

impl EncodedLabels {
    /// `labels` (never `__name__`, never an empty value: as
    /// [`write_series`] leaves them out) encoded once.
    pub fn new(labels: &Labels) -> EncodedLabels {
        let mut bytes = Vec::new();
        let mut ends = Vec::with_capacity(labels.len());
        for (n, v) in labels.iter_shared() {
            if &**n == NAME_LABEL || v.is_empty() {
                continue;
            }
            put_label(&mut bytes, n, v);
            ends.push((n.clone(), bytes.len() as u32));
        }
        EncodedLabels {
            labels: labels.clone(),
            ends,
            bytes,
        }
    }

    /// The set as it was given.
    pub fn labels(&self) -> &Labels {
        &self.labels
    }

    fn start(&self, i: usize) -> usize {
        if i == 0 {
            0
        } else {
            self.ends[i - 1].1 as usize
        }
    }
}

/// One `Label` message as an element of `TimeSeries.labels`.
fn put_label(out: &mut Vec<u8>, n: &str, v: &str) {
    out.push(0x0a);
    put_varint(out, (field_len(n.len()) + field_len(v.len())) as u64);
    put_str(out, 0x0a, n);
    put_str(out, 0x12, v);
}

/// Writes a probe run as WAL records in one pass, series after series,
/// into one reused buffer: a record is sealed (compressed) each time it
/// holds `max_series` series, so a run of any size keeps one record's
/// bytes uncompressed at a time. Series are written as given, with no
/// grouping: the caller gives each series once (see [`encode`] for runs
/// that may repeat one).
#[derive(Debug)]
pub struct RunWriter {
    raw: Vec<u8>,
    max_series: usize,
    series: u32,
    samples: u32,
    min_ts: i64,
    max_ts: i64,
    records: Vec<Vec<u8>>,
    total: usize,
    /// Where each series of the record being written starts in `raw`,
    /// and its timestamp: a record over `MAX_RECORD_BYTES` is cut at
    /// these.
    marks: Vec<(usize, i64)>,
}

/// Uncompressed bytes after which a record is sealed: text-format series
/// compress about 4-8x, so this keeps most records under
/// `MAX_RECORD_BYTES` compressed (and over the WAL's chunk threshold);
/// the rest are cut in halves when sealed.
const RAW_SEAL_BYTES: usize = 4 * crate::wal::MAX_RECORD_BYTES;

impl RunWriter {
    /// Records of at most `max_series` series each.
    pub fn new(max_series: usize) -> RunWriter {
        RunWriter {
            raw: Vec::new(),
            max_series: max_series.max(1),
            series: 0,
            samples: 0,
            min_ts: i64::MAX,
            max_ts: i64::MIN,
            records: Vec::new(),
            total: 0,
            marks: Vec::new(),
        }
    }

    /// Series written so far (each of one sample).
    pub fn samples(&self) -> usize {
        self.total
    }

    /// One series of one sample: `__name__` plus `labels`.
    pub fn series(&mut self, name: &str, labels: &Labels, value: f64, ts: i64) {
        let start = self.raw.len();
        write_series(&mut self.raw, name, labels, &[(ts, value)]);
        self.written(start, ts);
    }

    /// One series of one sample whose labels are `base` plus `own`
    /// (sorted by name, unique, none of them in `base`, none empty) plus
    /// `__name__`: `base`'s messages are copied as encoded, the rest is
    /// written in its place. Byte for byte what [`write_series`] writes
    /// for the merged set.
    pub fn merged<N: AsRef<str>, V: AsRef<str>>(
        &mut self,
        name: &str,
        base: &EncodedLabels,
        own: &[(N, V)],
        value: f64,
        ts: i64,
    ) {
        debug_assert!(own.windows(2).all(|w| w[0].0.as_ref() < w[1].0.as_ref()));
        debug_assert!(own
            .iter()
            .all(|(n, v)| !v.as_ref().is_empty() && base.labels.get(n.as_ref()).is_none()));
        let point = (ts, value);
        let point_len = point_len(&point);
        let mut len = base.bytes.len() + message_len(point_len);
        if !name.is_empty() {
            len += message_len(field_len(NAME_LABEL.len()) + field_len(name.len()));
        }
        for (n, v) in own {
            len += message_len(field_len(n.as_ref().len()) + field_len(v.as_ref().len()));
        }
        let start = self.raw.len();
        let out = &mut self.raw;
        out.push(proto::TIMESERIES_TAG);
        put_varint(out, len as u64);
        // Three sorted sequences merged: base (copied in runs), own, and
        // `__name__` once.
        let mut name_pending = !name.is_empty();
        let mut b = 0;
        let mut own = own.iter().peekable();
        loop {
            let next_own = own.peek().map(|(n, _)| n.as_ref());
            let name_next = name_pending && next_own.is_none_or(|n| n > NAME_LABEL);
            // Base labels below whatever comes next.
            let limit = if name_next {
                Some(NAME_LABEL)
            } else {
                next_own
            };
            let from = b;
            while b < base.ends.len() && limit.is_none_or(|l| &*base.ends[b].0 < l) {
                b += 1;
            }
            if b > from {
                out.extend_from_slice(&base.bytes[base.start(from)..base.start(b)]);
            }
            if name_next {
                name_pending = false;
                put_label(out, NAME_LABEL, name);
            } else if let Some((n, v)) = own.next() {
                put_label(out, n.as_ref(), v.as_ref());
            } else {
                break;
            }
        }
        put_point(out, &point, point_len);
        self.written(start, ts);
    }

    fn written(&mut self, start: usize, ts: i64) {
        self.marks.push((start, ts));
        self.series += 1;
        self.samples += 1;
        self.total += 1;
        self.min_ts = self.min_ts.min(ts);
        self.max_ts = self.max_ts.max(ts);
        if self.series as usize >= self.max_series || self.raw.len() >= RAW_SEAL_BYTES {
            self.seal();
        }
    }

    fn seal(&mut self) {
        if self.series == 0 {
            return;
        }
        self.seal_range(0, self.marks.len());
        self.raw.clear();
        self.marks.clear();
        (self.series, self.samples) = (0, 0);
        (self.min_ts, self.max_ts) = (i64::MAX, i64::MIN);
    }

    /// Seals the series `from..to` of `raw` as one record, or as two
    /// halves (and so on) while the record is over `MAX_RECORD_BYTES`
    /// and has more than one series.
    fn seal_range(&mut self, from: usize, to: usize) {
        let start = self.marks[from].0;
        let end = self.marks.get(to).map_or(self.raw.len(), |m| m.0);
        let (min_ts, max_ts) = self.marks[from..to]
            .iter()
            .fold((i64::MAX, i64::MIN), |(lo, hi), &(_, ts)| {
                (lo.min(ts), hi.max(ts))
            });
        let n = (to - from) as u32;
        let record = seal(&self.raw[start..end], n, n, min_ts, max_ts);
        if record.len() > crate::wal::MAX_RECORD_BYTES && to - from > 1 {
            let mid = from + (to - from) / 2;
            self.seal_range(from, mid);
            self.seal_range(mid, to);
        } else {
            self.records.push(record);
        }
    }

    /// The records, in the order written.
    pub fn finish(mut self) -> Vec<Vec<u8>> {
        self.seal();
        self.records
    }
}

/// A record of `raw` (`0x0a <len> <TimeSeries>` entries): the header, the
/// CRC and the snappy block.
fn seal(raw: &[u8], samples: u32, series: u32, min_ts: i64, max_ts: i64) -> Vec<u8> {
    let mut out = vec![0u8; HEADER_LEN + snap::raw::max_compress_len(raw.len())];
    let n = snap::raw::Encoder::new()
        .compress(raw, &mut out[HEADER_LEN..])
        .expect("snappy compresses any input below 4 GiB");
    out.truncate(HEADER_LEN + n);
    // The bound is the size of the input; what is kept (by the WAL while
    // it syncs, by telemetry until the next run) is only the record.
    out.shrink_to_fit();
    out[0] = VERSION;
    out[1..5].copy_from_slice(&samples.to_le_bytes());
    out[5..9].copy_from_slice(&series.to_le_bytes());
    out[9..17].copy_from_slice(&min_ts.to_le_bytes());
    out[17..25].copy_from_slice(&max_ts.to_le_bytes());
    let crc = crc32(&out[HEADER_LEN..]);
    out[25..29].copy_from_slice(&crc.to_le_bytes());
    out
}

/// Appends one `WriteRequest.timeseries` entry: `__name__` plus `labels`,
/// sorted by name, without empty values, then `points` (timestamp,
/// value). Byte for byte what prost writes for the same message (fields
/// holding their default value are left out, as proto3 does).
fn write_series(out: &mut Vec<u8>, name: &str, labels: &Labels, points: &[(i64, f64)]) {
    let label_len = |(n, v): (&str, &str)| field_len(n.len()) + field_len(v.len());
    // Repeated messages are written even when empty; strings are not.
    let series_len: usize = wire_labels(name, labels)
        .map(|p| message_len(label_len(p)))
        .sum::<usize>()
        + points
            .iter()
            .map(|p| message_len(point_len(p)))
            .sum::<usize>();
    out.push(proto::TIMESERIES_TAG);
    put_varint(out, series_len as u64);
    for (n, v) in wire_labels(name, labels) {
        put_label(out, n, v);
    }
    for p in points {
        put_point(out, p, point_len(p));
    }
}

/// Bytes of a `Sample` message (a zero value or timestamp is left out).
fn point_len(&(t, v): &(i64, f64)) -> usize {
    (if v != 0.0 { 9 } else { 0 }) + (if t != 0 { 1 + varint_len(t as u64) } else { 0 })
}

/// One `Sample` message of `len` bytes as an element of `TimeSeries.samples`.
fn put_point(out: &mut Vec<u8>, &(t, v): &(i64, f64), len: usize) {
    out.push(0x12);
    put_varint(out, len as u64);
    if v != 0.0 {
        out.push(0x09);
        out.extend_from_slice(&v.to_bits().to_le_bytes());
    }
    if t != 0 {
        out.push(0x10);
        put_varint(out, t as u64);
    }
}

/// `__name__` (unless empty) plus `labels` without empty values, in name
/// order: `labels` is sorted, `__name__` goes in its place.
fn wire_labels<'a>(name: &'a str, labels: &'a Labels) -> impl Iterator<Item = (&'a str, &'a str)> {
    let mut name_pending = !name.is_empty();
    let mut rest = labels
        .iter()
        .filter(|(n, v)| *n != NAME_LABEL && !v.is_empty())
        .peekable();
    std::iter::from_fn(move || match rest.peek() {
        Some(&(n, _)) if name_pending && n > NAME_LABEL => {
            name_pending = false;
            Some((NAME_LABEL, name))
        }
        Some(_) => rest.next(),
        None if name_pending => {
            name_pending = false;
            Some((NAME_LABEL, name))
        }
        None => None,
    })
}

/// Bytes of a string field of `len` bytes (tag, length, data); an empty
/// one is left out.
fn field_len(len: usize) -> usize {
    if len == 0 {
        0
    } else {
        message_len(len)
    }
}

/// Bytes of an element of a repeated message field of `len` bytes.
fn message_len(len: usize) -> usize {
    1 + varint_len(len as u64) + len
}

fn put_str(out: &mut Vec<u8>, tag: u8, s: &str) {
    if !s.is_empty() {
        out.push(tag);
        put_varint(out, s.len() as u64);
        out.extend_from_slice(s.as_bytes());
    }
}

fn varint_len(v: u64) -> usize {
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Reads the fixed header, without decompressing or checking the payload.
pub fn header(bytes: &[u8]) -> Result<RecordHeader, RecordError> {
    let Some(&version) = bytes.first() else {
        return Err(RecordError::Truncated {
            len: 0,
            need: HEADER_LEN,
        });
    };
    if version != VERSION {
        return Err(RecordError::UnknownVersion { version });
    }
    if bytes.len() < HEADER_LEN {
        return Err(RecordError::Truncated {
            len: bytes.len(),
            need: HEADER_LEN,
        });
    }
    let u32_at = |i: usize| u32::from_le_bytes(bytes[i..i + 4].try_into().expect("4 bytes"));
    let i64_at = |i: usize| i64::from_le_bytes(bytes[i..i + 8].try_into().expect("8 bytes"));
    Ok(RecordHeader {
        version,
        samples: u32_at(1),
        series: u32_at(5),
        min_ts_ms: i64_at(9),
        max_ts_ms: i64_at(17),
    })
}

/// The decompressed payload: the concatenation of `0x0a <len> <TimeSeries>`
/// entries, ready to be concatenated into a request body. Checks the CRC
/// and the entry framing (not the protobuf inside each entry).
pub fn payload(bytes: &[u8]) -> Result<Vec<u8>, RecordError> {
    let head = header(bytes)?;
    let compressed = compressed_payload(bytes)?;
    let raw = snap::raw::Decoder::new()
        .decompress_vec(compressed)
        .map_err(corrupt)?;
    let entries = series_entries(&raw)?.len();
    if entries != head.series as usize {
        return Err(RecordError::Corrupt {
            reason: format!(
                "header says {} series, payload holds {entries}",
                head.series
            ),
        });
    }
    Ok(raw)
}

/// Splits a payload (or a whole uncompressed `WriteRequest`) into its
/// field-1 entries, each including its tag and length prefix, so that any
/// subsequence of them concatenated is again a valid payload.
pub fn series_entries(payload: &[u8]) -> Result<Vec<&[u8]>, RecordError> {
    let mut out = Vec::new();
    let mut rest = payload;
    while !rest.is_empty() {
        let start = payload.len() - rest.len();
        if rest[0] != proto::TIMESERIES_TAG {
            return Err(RecordError::Corrupt {
                reason: format!(
                    "byte {start}: expected the timeseries tag 0x0a, found {:#04x}",
                    rest[0]
                ),
            });
        }
        let mut cursor = &rest[1..];
        let len = prost::decode_length_delimiter(&mut cursor).map_err(corrupt)?;
        if len > cursor.len() {
            return Err(RecordError::Corrupt {
                reason: format!(
                    "byte {start}: a timeseries of {len} bytes runs past the end ({} left)",
                    cursor.len()
                ),
            });
        }
        let entry_len = rest.len() - cursor.len() + len;
        out.push(&rest[..entry_len]);
        rest = &rest[entry_len..];
    }
    Ok(out)
}

/// The record's payload as stored, snappy-compressed, after its CRC check:
/// a whole `WriteRequest` body, so a request carrying just this record
/// sends these bytes without decompressing and compressing them again.
/// The series framing is checked only when the payload is decompressed
/// (a 413 or 400 split), which [`payload`] does.
pub fn compressed_payload(bytes: &[u8]) -> Result<&[u8], RecordError> {
    header(bytes)?;
    let stored = u32::from_le_bytes(bytes[25..29].try_into().expect("4 bytes"));
    let compressed = &bytes[HEADER_LEN..];
    let computed = crc32(compressed);
    if stored != computed {
        return Err(RecordError::Checksum { stored, computed });
    }
    let len = snap::raw::decompress_len(compressed).map_err(corrupt)?;
    if len > MAX_PAYLOAD_BYTES {
        return Err(RecordError::Corrupt {
            reason: format!(
                "payload claims {len} bytes, more than the {MAX_PAYLOAD_BYTES} allowed"
            ),
        });
    }
    Ok(compressed)
}

/// Decodes a record back into samples (for tools and tests; the shipper
/// uses [`payload`]). Series come out in record order, samples of a series
/// in timestamp order.
pub fn decode(bytes: &[u8]) -> Result<Vec<Sample>, RecordError> {
    let head = header(bytes)?;
    let raw = payload(bytes)?;
    let request = proto::WriteRequest::decode(raw.as_slice()).map_err(corrupt)?;
    let mut out = Vec::with_capacity(head.samples as usize);
    for ts in request.timeseries {
        let mut name = String::new();
        let mut labels = Labels::new();
        for l in ts.labels {
            if l.name == NAME_LABEL {
                name = l.value;
            } else {
                labels.insert(l.name, l.value);
            }
        }
        for s in ts.samples {
            out.push(Sample::new(
                name.clone(),
                labels.clone(),
                s.value,
                s.timestamp,
            ));
        }
    }
    if out.len() != head.samples as usize {
        return Err(RecordError::Corrupt {
            reason: format!(
                "header says {} samples, payload holds {}",
                head.samples,
                out.len()
            ),
        });
    }
    Ok(out)
}

fn corrupt(e: impl std::fmt::Display) -> RecordError {
    RecordError::Corrupt {
        reason: e.to_string(),
    }
}

/// CRC-32 as zlib, gzip and PNG compute it (IEEE polynomial, reflected).
pub fn crc32(data: &[u8]) -> u32 {
    crc32fast::hash(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ping_labels(task: &str) -> Labels {
        Labels::new()
            .with("device_id", "router-berlin-01")
            .with("env", "production")
            .with("host", "8.8.8.8")
            .with("region", "eu-central")
            .with("sentinel", "edge-gw-0042")
            .with("task_id", task)
    }

    /// A run of series that barely compress (a pseudo-random label value
    /// each) is cut into records under `MAX_RECORD_BYTES`, at series
    /// boundaries, each with its own sample count and time range, and
    /// the records read back as the run, in order.
    #[test]
    fn run_writer_keeps_records_under_the_record_limit() {
        let mut w = RunWriter::new(usize::MAX);
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut want = Vec::new();
        for i in 0..6_000i64 {
            let mut v = String::new();
            for _ in 0..6 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                v.push_str(&format!("{x:016x}"));
            }
            let labels = Labels::new().with("noise", &v);
            w.series("bench_metric", &labels, i as f64, 1_000 + i);
            want.push(Sample::new("bench_metric", labels, i as f64, 1_000 + i));
        }
        let records = w.finish();
        assert!(records.len() > 5, "{} records", records.len());
        let mut got = Vec::new();
        for r in &records {
            assert!(r.len() <= crate::wal::MAX_RECORD_BYTES, "{} bytes", r.len());
            let head = header(r).unwrap();
            let samples = decode(r).unwrap();
            assert_eq!(head.samples as usize, samples.len());
            let ts: Vec<i64> = samples.iter().map(|s| s.timestamp_ms).collect();
            assert_eq!(head.max_ts_ms, *ts.iter().max().unwrap());
            got.extend(samples);
        }
        assert_eq!(got, want);
    }

    fn ping_run(task: &str, ts: i64) -> Vec<Sample> {
        let l = ping_labels(task);
        [
            ("ping_reachable", 1.0),
            ("ping_rtt_ms", 12.345),
            ("ping_rtt_min_ms", 11.02),
            ("ping_rtt_max_ms", 14.9),
            ("ping_rtt_stddev_ms", 1.27),
            ("ping_packet_loss", 0.0),
            ("ping_packets_sent", 4.0),
            ("ping_packets_received", 4.0),
        ]
        .into_iter()
        .map(|(n, v)| Sample::new(n, l.clone(), v, ts))
        .collect()
    }

    /// Samples as `decode` returns them: grouped by (name, labels), sorted.
    fn canonical(mut v: Vec<Sample>) -> Vec<Sample> {
        v.sort_by(|a, b| {
            (a.name.as_str(), &a.labels, a.timestamp_ms).cmp(&(
                b.name.as_str(),
                &b.labels,
                b.timestamp_ms,
            ))
        });
        v
    }

    #[test]
    fn round_trip() {
        let mut samples = ping_run("ping-1", 1_700_000_000_123);
        samples.extend(ping_run("ping-2", 1_700_000_000_456));
        samples.push(Sample::new("odd", Labels::new(), f64::NAN, -5));
        let rec = encode(&samples);
        // One sample per series: kept in the order given.
        let back = decode(&rec).unwrap();
        for (b, s) in back.iter().zip(&samples) {
            assert_eq!((&b.name, &b.labels), (&s.name, &s.labels));
        }
        let back = canonical(back);
        let want = canonical(samples);
        assert_eq!(back.len(), want.len());
        for (b, w) in back.iter().zip(&want) {
            assert_eq!(
                (&b.name, &b.labels, b.timestamp_ms),
                (&w.name, &w.labels, w.timestamp_ms)
            );
            assert!(b.value == w.value || (b.value.is_nan() && w.value.is_nan()));
        }
    }

    #[test]
    fn header_is_read_without_payload() {
        let mut samples = ping_run("ping-1", 2_000);
        samples.extend(ping_run("ping-1", 1_000));
        let rec = encode(&samples);
        assert_eq!(
            header(&rec).unwrap(),
            RecordHeader {
                version: 1,
                samples: 16,
                series: 8,
                min_ts_ms: 1_000,
                max_ts_ms: 2_000,
            }
        );
        // The header alone is enough for `header`.
        assert_eq!(header(&rec[..HEADER_LEN]).unwrap().samples, 16);
    }

    #[test]
    fn empty_record() {
        let rec = encode(&[]);
        assert_eq!(
            header(&rec).unwrap(),
            RecordHeader {
                version: 1,
                samples: 0,
                series: 0,
                min_ts_ms: 0,
                max_ts_ms: 0,
            }
        );
        assert_eq!(payload(&rec).unwrap(), Vec::<u8>::new());
        assert_eq!(decode(&rec).unwrap(), Vec::new());
    }

    #[test]
    fn labels_sorted_with_name_in_place() {
        let labels = Labels::new()
            .with("Zone", "z")
            .with("_a", "1")
            .with("a", "2")
            .with("task_id", "t");
        let rec = encode(&[Sample::new("m", labels, 1.0, 1)]);
        let req = proto::WriteRequest::decode(payload(&rec).unwrap().as_slice()).unwrap();
        let names: Vec<_> = req.timeseries[0]
            .labels
            .iter()
            .map(|l| l.name.as_str())
            .collect();
        assert_eq!(names, ["Zone", "__name__", "_a", "a", "task_id"]);
        assert_eq!(req.timeseries[0].labels[1].value, "m");
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted);
    }

    /// The hand-written protobuf is byte for byte what prost writes for
    /// the same messages, zero values and all.
    #[test]
    fn payload_is_what_prost_writes() {
        let l = Labels::new().with("b", "2").with("a", "").with("zz", "9");
        let samples = vec![
            Sample::new("m", l.clone(), 0.0, 0),
            Sample::new("m", l.clone(), -0.0, 5),
            Sample::new("", l.clone(), f64::from_bits(0x7ff0_0000_0000_0002), -1),
            Sample::new("n", Labels::new(), 1.5, i64::MAX),
            Sample::new("m", l.clone(), 3.0, 1),
            Sample::new(
                "long",
                Labels::new().with("v", "x".repeat(300)),
                2.0,
                1_700_000_000_000,
            ),
        ];
        let want = proto::WriteRequest {
            timeseries: vec![
                proto::TimeSeries {
                    labels: vec![lab("__name__", "m"), lab("b", "2"), lab("zz", "9")],
                    samples: vec![pt(0.0, 0), pt(3.0, 1), pt(-0.0, 5)],
                },
                proto::TimeSeries {
                    labels: vec![lab("b", "2"), lab("zz", "9")],
                    samples: vec![pt(f64::from_bits(0x7ff0_0000_0000_0002), -1)],
                },
                proto::TimeSeries {
                    labels: vec![lab("__name__", "n")],
                    samples: vec![pt(1.5, i64::MAX)],
                },
                proto::TimeSeries {
                    labels: vec![lab("__name__", "long"), lab("v", &"x".repeat(300))],
                    samples: vec![pt(2.0, 1_700_000_000_000)],
                },
            ],
        };
        assert_eq!(payload(&encode(&samples)).unwrap(), want.encode_to_vec());
    }

    fn lab(n: &str, v: &str) -> proto::Label {
        proto::Label {
            name: n.into(),
            value: v.into(),
        }
    }

    fn pt(value: f64, timestamp: i64) -> proto::Sample {
        proto::Sample { value, timestamp }
    }

    #[test]
    fn series_grouped_and_samples_in_time_order() {
        let l = Labels::new().with("host", "a");
        let samples = vec![
            Sample::new("up", l.clone(), 1.0, 300),
            Sample::new("rtt", l.clone(), 5.0, 100),
            Sample::new("up", l.clone(), 0.0, 100),
            Sample::new("up", l.clone(), 1.0, 200),
            Sample::new("up", l.with("host", "b"), 1.0, 100),
            // Same series and timestamp as an earlier sample: the last wins.
            Sample::new("rtt", Labels::new().with("host", "a"), 7.0, 100),
        ];
        let rec = encode(&samples);
        let head = header(&rec).unwrap();
        assert_eq!((head.series, head.samples), (3, 5));
        let req = proto::WriteRequest::decode(payload(&rec).unwrap().as_slice()).unwrap();
        type Shape = (String, String, Vec<(i64, f64)>);
        let shape: Vec<Shape> = req
            .timeseries
            .iter()
            .map(|ts| {
                (
                    ts.labels[1].value.clone(),
                    ts.labels[0].value.clone(),
                    ts.samples.iter().map(|s| (s.timestamp, s.value)).collect(),
                )
            })
            .collect();
        // Series in the order they first appear, samples by time.
        assert_eq!(
            shape,
            vec![
                (
                    "a".into(),
                    "up".into(),
                    vec![(100, 0.0), (200, 1.0), (300, 1.0)]
                ),
                ("a".into(), "rtt".into(), vec![(100, 7.0)]),
                ("b".into(), "up".into(), vec![(100, 1.0)]),
            ]
        );
    }

    #[test]
    fn entries_split_at_series_boundaries() {
        let rec = encode(&ping_run("p", 1));
        let raw = payload(&rec).unwrap();
        let entries = series_entries(&raw).unwrap();
        assert_eq!(entries.len(), 8);
        assert_eq!(entries.concat(), raw);
        for e in entries {
            let one = proto::WriteRequest::decode(e).unwrap();
            assert_eq!(one.timeseries.len(), 1);
        }
    }

    #[test]
    fn errors() {
        let rec = encode(&ping_run("p", 1));

        let mut v2 = rec.clone();
        v2[0] = 2;
        let err = header(&v2).unwrap_err();
        assert_eq!(err, RecordError::UnknownVersion { version: 2 });
        assert_eq!(
            err.to_string(),
            "wal record has unknown format version 2 (this build reads version 1): \
             was the WAL written by a newer sentinel?"
        );

        let err = header(&rec[..10]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "wal record is truncated: 10 bytes, at least 29 needed"
        );
        assert_eq!(
            header(&[]).unwrap_err(),
            RecordError::Truncated { len: 0, need: 29 }
        );

        let mut flipped = rec.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 0x40;
        assert!(matches!(
            payload(&flipped).unwrap_err(),
            RecordError::Checksum { .. }
        ));
        assert!(matches!(
            decode(&rec[..rec.len() - 3]).unwrap_err(),
            RecordError::Checksum { .. }
        ));

        // Garbage with a valid CRC is still caught by snappy or the framing.
        let mut garbage = rec[..HEADER_LEN].to_vec();
        let body = [0x05, 0x10, 0xff, 0xff, 0x01];
        garbage[25..29].copy_from_slice(&crc32(&body).to_le_bytes());
        garbage.extend_from_slice(&body);
        assert!(matches!(
            payload(&garbage).unwrap_err(),
            RecordError::Corrupt { .. }
        ));

        assert!(matches!(
            series_entries(&[0x0a, 0x05, 1, 2]).unwrap_err(),
            RecordError::Corrupt { .. }
        ));
        assert_eq!(
            series_entries(&[0x12, 0x00]).unwrap_err().to_string(),
            "wal record payload is corrupt: byte 0: expected the timeseries tag 0x0a, found 0x12"
        );
    }

    #[test]
    fn crc32_matches_zlib() {
        assert_eq!(crc32(b""), 0);
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    /// Bytes per sample on disk for one typical ping run: 8 samples, 6
    /// labels each (device_id, env, host, region, sentinel, task_id).
    /// Measured: 458 bytes per record, 57.2 bytes per sample, the 29-byte
    /// header included (the uncompressed payload is 1542 bytes).
    /// `cargo test --lib wal::record -- --nocapture` prints it.
    #[test]
    fn typical_ping_run_size() {
        let rec = encode(&ping_run("ping-gw-8.8.8.8", 1_700_000_000_123));
        let raw = payload(&rec).unwrap();
        let per_sample = rec.len() as f64 / 8.0;
        println!(
            "ping run: {} bytes on disk ({} payload uncompressed), {per_sample:.1} bytes/sample",
            rec.len(),
            raw.len()
        );
        assert!(per_sample < 60.0, "{per_sample} bytes per sample");
    }
}
