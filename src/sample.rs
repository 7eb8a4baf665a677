//! The data model: one `Sample` is a metric name, a sorted label set, an
//! f64 value and a millisecond timestamp taken when the probe ran.
//!
//! `Labels` keeps its pairs sorted by name and unique, so every series is
//! spelled one way only, which is what remote-write backends expect. The
//! identifier newtypes (`TaskId`, `BackendId`, `Seq`) stop a task id from
//! being passed where a backend name belongs.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

/// A task's `id` from the config.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskId(pub String);

/// A backend's name under `sender.direct` (`victoria_metrics`, `prometheus`, `mimir` ...).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BackendId(pub String);

/// A WAL record's key: monotonically increasing, stored big-endian.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Seq(pub u64);

impl TaskId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl BackendId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for BackendId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for Seq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A string that label sets and metric names share instead of copying.
pub type SharedStr = Arc<str>;

/// What a label name or value, or a metric name, can be made from: string
/// slices and owned strings are copied once into a [`SharedStr`], a
/// `SharedStr` is shared as it is (a reference count, no copy).
pub trait IntoShared {
    fn into_shared(self) -> SharedStr;
}

impl IntoShared for &str {
    fn into_shared(self) -> SharedStr {
        Arc::from(self)
    }
}

impl IntoShared for String {
    fn into_shared(self) -> SharedStr {
        Arc::from(self)
    }
}

impl IntoShared for &String {
    fn into_shared(self) -> SharedStr {
        Arc::from(self.as_str())
    }
}

impl IntoShared for Box<str> {
    fn into_shared(self) -> SharedStr {
        Arc::from(self)
    }
}

impl IntoShared for std::borrow::Cow<'_, str> {
    fn into_shared(self) -> SharedStr {
        Arc::from(self)
    }
}

impl IntoShared for SharedStr {
    fn into_shared(self) -> SharedStr {
        self
    }
}

impl IntoShared for &SharedStr {
    fn into_shared(self) -> SharedStr {
        self.clone()
    }
}

impl IntoShared for &MetricName {
    fn into_shared(self) -> SharedStr {
        self.0.clone()
    }
}

/// The one shared copy of a string known at compile time (a metric or
/// label name): the first call for it allocates, later ones share it. The
/// set is bounded by the program's text, so it never grows at run time.
pub fn shared_static(s: &'static str) -> SharedStr {
    static STRS: OnceLock<Mutex<HashMap<&'static str, SharedStr>>> = OnceLock::new();
    let mut strs = STRS
        .get_or_init(|| Mutex::new(HashMap::new()))
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    strs.entry(s).or_insert_with(|| Arc::from(s)).clone()
}

/// One label: name and value.
type Pair = (SharedStr, SharedStr);

/// A label set sorted by name with unique names and no empty values.
///
/// Inserting a name that is already present replaces its value, so the
/// last writer wins: task labels override agent labels, plugin labels
/// override both (see `probe::base_labels`).
///
/// The set is immutable and shared: cloning it is a reference count, and
/// the names and values are `Arc<str>`s, so a set built from another
/// (`base.clone().with("host", h)`) copies one pointer pair per label and
/// no string. A run of a ping task with 10,000 hosts thus holds one copy
/// of the task's base labels, one set per host, and 8 samples pointing at
/// it, instead of 80,000 sets of owned strings.
#[derive(Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Labels(
    /// `None` when empty (never `Some` of an empty slice, so the derived
    /// order is the one of the sorted pairs: the empty set first).
    Option<Arc<[Pair]>>,
);

impl Labels {
    pub fn new() -> Self {
        Labels(None)
    }

    fn pairs(&self) -> &[Pair] {
        self.0.as_deref().unwrap_or(&[])
    }

    /// A set from pairs already sorted by name, unique, without empty
    /// values (checked in debug builds): no sorting, one allocation.
    pub(crate) fn from_sorted(v: Vec<(SharedStr, SharedStr)>) -> Self {
        debug_assert!(v.windows(2).all(|w| w[0].0 < w[1].0));
        debug_assert!(v.iter().all(|(_, val)| !val.is_empty()));
        Labels::from_vec(v)
    }

    fn from_vec(v: Vec<Pair>) -> Self {
        if v.is_empty() {
            Labels(None)
        } else {
            Labels(Some(Arc::from(v)))
        }
    }

    /// Sets `name` to `value`; an empty value removes the label, since
    /// Prometheus treats an empty label as an absent one.
    pub fn insert(&mut self, name: impl IntoShared, value: impl IntoShared) {
        let name = name.into_shared();
        let value = value.into_shared();
        let pairs = self.pairs();
        match pairs.binary_search_by(|(n, _)| (**n).cmp(&*name)) {
            Ok(i) if value.is_empty() => {
                let mut v = pairs.to_vec();
                v.remove(i);
                *self = Labels::from_vec(v);
            }
            Ok(i) if pairs[i].1 == value => {}
            Ok(i) => {
                let mut v = pairs.to_vec();
                v[i].1 = value;
                *self = Labels::from_vec(v);
            }
            Err(_) if value.is_empty() => {}
            Err(i) => {
                let mut v = Vec::with_capacity(pairs.len() + 1);
                v.extend_from_slice(&pairs[..i]);
                v.push((name, value));
                v.extend_from_slice(&pairs[i..]);
                *self = Labels::from_vec(v);
            }
        }
    }

    /// Returns a copy with `name=value` set.
    pub fn with(mut self, name: impl IntoShared, value: impl IntoShared) -> Self {
        self.insert(name, value);
        self
    }

    /// Merges `other` into `self`, `other` winning on equal names.
    pub fn extend(&mut self, other: &Labels) {
        if self.is_empty() {
            *self = other.clone();
            return;
        }
        for (n, v) in other.pairs() {
            self.insert(n, v);
        }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        let pairs = self.pairs();
        pairs
            .binary_search_by(|(n, _)| (**n).cmp(name))
            .ok()
            .map(|i| &*pairs[i].1)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.pairs().iter().map(|(n, v)| (&**n, &**v))
    }

    /// The pairs as shared strings: building another set from them
    /// copies no string.
    pub fn iter_shared(&self) -> impl Iterator<Item = (&SharedStr, &SharedStr)> {
        self.pairs().iter().map(|(n, v)| (n, v))
    }

    pub fn len(&self) -> usize {
        self.pairs().len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    /// Whether `self` and `other` are one shared set (not only equal).
    pub fn ptr_eq(&self, other: &Labels) -> bool {
        match (&self.0, &other.0) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        }
    }
}

impl fmt::Debug for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Labels").field(&self.pairs()).finish()
    }
}

impl<N: IntoShared, V: IntoShared> FromIterator<(N, V)> for Labels {
    /// The pairs in any order; on equal names the last one wins, and an
    /// empty value removes the label, as with [`Labels::insert`] one after
    /// the other. One stable sort: n log n in the pairs (a scraped line
    /// may carry thousands).
    fn from_iter<I: IntoIterator<Item = (N, V)>>(iter: I) -> Self {
        let mut v: Vec<Pair> = iter
            .into_iter()
            .map(|(n, val)| (n.into_shared(), val.into_shared()))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        let mut out: Vec<Pair> = Vec::with_capacity(v.len());
        for p in v {
            match out.last_mut() {
                Some(last) if last.0 == p.0 => *last = p,
                _ => out.push(p),
            }
        }
        out.retain(|(_, val)| !val.is_empty());
        Labels::from_vec(out)
    }
}

impl fmt::Display for Labels {
    /// `{a="1", b="2"}`, the way Prometheus prints a selector; values
    /// escaped as the text exposition format wants (`\\`, `\"`, `\n`), so
    /// that `/metrics` stays one series a line whatever a scrape brought in.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, (n, v)) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{n}=\"")?;
            let mut rest = v;
            while let Some(at) = rest.find(['\\', '"', '\n']) {
                f.write_str(&rest[..at])?;
                f.write_str(match rest.as_bytes()[at] {
                    b'\\' => "\\\\",
                    b'"' => "\\\"",
                    _ => "\\n",
                })?;
                rest = &rest[at + 1..];
            }
            f.write_str(rest)?;
            f.write_str("\"")?;
        }
        f.write_str("}")
    }
}

/// A metric name, shared like label strings: a plugin that emits the same
/// name for thousands of series keeps one copy of it (see
/// `MetricName::from_static`). Reads as a `&str` (`Deref`), compares with
/// strings, prints and serializes as one.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MetricName(SharedStr);

impl MetricName {
    /// The one shared copy of a name known at compile time: the first call
    /// for a name allocates it, every later one shares it. The set of
    /// such names is bounded by the program's text.
    pub fn from_static(name: &'static str) -> MetricName {
        MetricName(shared_static(name))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for MetricName {
    fn default() -> Self {
        MetricName::from_static("")
    }
}

impl std::ops::Deref for MetricName {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for MetricName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::borrow::Borrow<str> for MetricName {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for MetricName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&*self.0, f)
    }
}

impl fmt::Debug for MetricName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl serde::Serialize for MetricName {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<T: IntoShared> From<T> for MetricName {
    fn from(s: T) -> Self {
        MetricName(s.into_shared())
    }
}

impl PartialEq<str> for MetricName {
    fn eq(&self, other: &str) -> bool {
        *self.0 == *other
    }
}

impl PartialEq<&str> for MetricName {
    fn eq(&self, other: &&str) -> bool {
        *self.0 == **other
    }
}

impl PartialEq<String> for MetricName {
    fn eq(&self, other: &String) -> bool {
        *self.0 == **other
    }
}

impl PartialEq<MetricName> for str {
    fn eq(&self, other: &MetricName) -> bool {
        *self == *other.0
    }
}

impl PartialEq<MetricName> for &str {
    fn eq(&self, other: &MetricName) -> bool {
        **self == *other.0
    }
}

impl PartialEq<MetricName> for String {
    fn eq(&self, other: &MetricName) -> bool {
        **self == *other.0
    }
}

/// One measurement: `name{labels} value @timestamp_ms`.
///
/// 40 bytes plus what it shares: the name and the label set are reference
/// counted, so the 8 samples of one ping host point at one label set.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The metric name, sent as the `__name__` label.
    pub name: MetricName,
    /// Every other label, sorted; never contains `__name__`.
    pub labels: Labels,
    pub value: f64,
    /// Milliseconds since the Unix epoch, taken when the probe ran.
    pub timestamp_ms: i64,
}

impl Sample {
    pub fn new(name: impl Into<MetricName>, labels: Labels, value: f64, timestamp_ms: i64) -> Self {
        Sample {
            name: name.into(),
            labels,
            value,
            timestamp_ms,
        }
    }
}

/// The wall clock in milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Whether `name` is a valid Prometheus metric name (`[a-zA-Z_:][a-zA-Z0-9_:]*`).
pub fn is_valid_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':' => {}
        _ => return false,
    }
    chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// Whether `name` is a valid Prometheus label name (`[a-zA-Z_][a-zA-Z0-9_]*`,
/// not starting with `__`, which is reserved).
pub fn is_valid_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() || c == '_' => {}
        _ => return false,
    }
    !name.starts_with("__") && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The value Prometheus reads as "this series ended" (a NaN with this
/// exact bit pattern): the stale marker of a removed task's series, and
/// of the series a changed task no longer has.
pub const STALE_NAN: u64 = 0x7ff0_0000_0000_0002;

/// Turns `samples` into stale markers of their series, each stamped at
/// `not_before` or just after its own last sample, whichever is later
/// (a marker must follow the sample it ends).
pub fn mark_stale(samples: &mut [Sample], not_before: i64) {
    for s in samples {
        s.value = f64::from_bits(STALE_NAN);
        s.timestamp_ms = not_before.max(s.timestamp_ms + 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_print_escaped_and_parse_back() {
        let odd = "line1\nline2 \"quoted\" back\\slash \\n";
        let l = Labels::new().with("msg", odd).with("plain", "x");
        let text = format!("m{l} 1\n");
        assert_eq!(text.lines().count(), 1, "{text}");
        let parsed = crate::probe::textformat::parse(&text, &Labels::new(), 0).unwrap();
        assert_eq!(parsed.len(), 1, "{text}");
        assert_eq!(parsed[0].labels.get("msg"), Some(odd), "{text}");
        assert_eq!(parsed[0].labels.get("plain"), Some("x"));
    }

    #[test]
    fn labels_stay_sorted_and_unique() {
        let mut l = Labels::new();
        l.insert("task_id", "a");
        l.insert("device_id", "d");
        l.insert("host", "h");
        l.insert("device_id", "e");
        let names: Vec<_> = l.iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["device_id", "host", "task_id"]);
        assert_eq!(l.get("device_id"), Some("e"));
    }

    #[test]
    fn collected_labels_are_inserted_one_after_the_other() {
        let pairs = [
            ("b", "1"),
            ("a", "2"),
            ("b", "3"),
            ("c", "x"),
            ("c", ""),
            ("d", ""),
        ];
        let collected: Labels = pairs.iter().copied().collect();
        let mut inserted = Labels::new();
        for (n, v) in pairs {
            inserted.insert(n, v);
        }
        assert_eq!(collected, inserted);
        assert_eq!(
            collected.iter().collect::<Vec<_>>(),
            [("a", "2"), ("b", "3")]
        );
    }

    #[test]
    fn empty_value_removes_label() {
        let mut l = Labels::new().with("a", "1");
        l.insert("a", "");
        l.insert("b", "");
        assert!(l.is_empty());
    }

    #[test]
    fn names_are_checked() {
        assert!(is_valid_metric_name("ping_rtt_ms"));
        assert!(is_valid_metric_name("a:b"));
        assert!(!is_valid_metric_name("1abc"));
        assert!(!is_valid_metric_name("a-b"));
        assert!(is_valid_label_name("device_id"));
        assert!(!is_valid_label_name("__name__"));
        assert!(!is_valid_label_name("a.b"));
        assert!(!is_valid_label_name(""));
    }
}
