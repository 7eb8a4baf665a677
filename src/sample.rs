//! The data model: one `Sample` is a metric name, a sorted label set, an
//! f64 value and a millisecond timestamp taken when the probe ran.
//!
//! `Labels` keeps its pairs sorted by name and unique, so every series is
//! spelled one way only, which is what remote-write backends expect. The
//! identifier newtypes (`TaskId`, `BackendId`, `Seq`) stop a task id from
//! being passed where a backend name belongs.

use std::fmt;
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

/// A label set sorted by name with unique names and no empty values.
///
/// Inserting a name that is already present replaces its value, so the
/// last writer wins: task labels override agent labels, plugin labels
/// override both (see `probe::series_labels`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct Labels(Vec<(String, String)>);

impl Labels {
    pub fn new() -> Self {
        Labels(Vec::new())
    }

    /// Sets `name` to `value`; an empty value removes the label, since
    /// Prometheus treats an empty label as an absent one.
    pub fn insert(&mut self, name: impl Into<String>, value: impl Into<String>) {
        let name = name.into();
        let value = value.into();
        match self.0.binary_search_by(|(n, _)| n.as_str().cmp(&name)) {
            Ok(i) if value.is_empty() => {
                self.0.remove(i);
            }
            Ok(i) => self.0[i].1 = value,
            Err(_) if value.is_empty() => {}
            Err(i) => self.0.insert(i, (name, value)),
        }
    }

    /// Returns a copy with `name=value` set.
    pub fn with(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.insert(name, value);
        self
    }

    /// Merges `other` into `self`, `other` winning on equal names.
    pub fn extend(&mut self, other: &Labels) {
        for (n, v) in other.iter() {
            self.insert(n, v);
        }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .binary_search_by(|(n, _)| n.as_str().cmp(name))
            .ok()
            .map(|i| self.0[i].1.as_str())
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<N: Into<String>, V: Into<String>> FromIterator<(N, V)> for Labels {
    fn from_iter<I: IntoIterator<Item = (N, V)>>(iter: I) -> Self {
        let mut l = Labels::new();
        for (n, v) in iter {
            l.insert(n, v);
        }
        l
    }
}

impl fmt::Display for Labels {
    /// `{a="1", b="2"}`, the way Prometheus prints a selector.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, (n, v)) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(
                f,
                "{n}=\"{}\"",
                v.replace('\\', "\\\\").replace('"', "\\\"")
            )?;
        }
        f.write_str("}")
    }
}

/// One measurement: `name{labels} value @timestamp_ms`.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The metric name, sent as the `__name__` label.
    pub name: String,
    /// Every other label, sorted; never contains `__name__`.
    pub labels: Labels,
    pub value: f64,
    /// Milliseconds since the Unix epoch, taken when the probe ran.
    pub timestamp_ms: i64,
}

impl Sample {
    pub fn new(name: impl Into<String>, labels: Labels, value: f64, timestamp_ms: i64) -> Self {
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

#[cfg(test)]
mod tests {
    use super::*;

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
