//! The Prometheus text exposition format (version 0.0.4) and the
//! OpenMetrics text format (1.0, ended by `# EOF`), parsed into samples.
//! Shared by the exec plugin (a command's stdout) and the scrape plugin (a
//! `/metrics` body). Pure code, no I/O.
//!
//! Each sample line `name{label="value",...} value [timestamp]` becomes a
//! `Sample` stamped with the probe's time (an exposed timestamp is read and
//! ignored: sentinel stamps every sample of a run alike). An OpenMetrics
//! exemplar after the value (`... 1 # {trace_id="abc"} 0.5`) is checked
//! and dropped. The task's base labels are added; an exposed label whose
//! name the base labels already use is kept as `exported_<name>`, as
//! Prometheus does without `honor_labels`, so a target can never pass
//! itself off as another task. `# HELP`, `# TYPE` and other comments are
//! skipped; histograms and summaries are their `_bucket`/`_sum`/`_count`
//! lines like any other.
//!
//! Work is linear in the text: a line's labels are checked for duplicates
//! and merged with the base labels by sorting (n log n), never by a scan
//! per label. A line's labels are bounded ([`LIMITS`]), like Prometheus'
//! `label_limit`, `label_name_length_limit` and `label_value_length_limit`.
//!
//! A line that is not the format is an error naming the line number and
//! what was expected, never silently dropped. Errors quote at most
//! [`QUOTE_LEN`] characters, and a line of binary data (control bytes,
//! invalid UTF-8) gets one fixed message, so the same garbage served run
//! after run gives the same short error (logged once, not every run).

use std::borrow::Cow;
use std::collections::hash_map::RandomState;
use std::collections::HashSet;
use std::hash::{BuildHasher, BuildHasherDefault, Hash, Hasher};

use crate::sample::{
    is_valid_label_name, is_valid_metric_name, IntoShared, Labels, Sample, SharedStr,
};
#[cfg(doc)]
use crate::wal::record;
use crate::wal::record::{EncodedLabels, RunWriter};

/// The most samples one exposition may hold: a guard against a runaway
/// command or endpoint filling the WAL (node_exporter exposes ~2,000).
pub const MAX_SAMPLES: usize = 100_000;
/// How much of a bad line, or of a bad name or value in it, is quoted in
/// an error.
pub const QUOTE_LEN: usize = 40;

/// Bounds on the labels of one exposed line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Labels on one line (the task's own labels not counted).
    pub labels: usize,
    /// Bytes in a metric or label name.
    pub name_len: usize,
    /// Bytes in a label value (after unescaping).
    pub value_len: usize,
}

/// The bounds every exposition is parsed with: 64 labels a line, names
/// of 256 bytes, values of 4 KiB (VictoriaMetrics' own default
/// `-maxLabelValueLen`, which would cut longer ones). node_exporter's
/// longest lines hold under 10 labels of under 100 bytes.
pub const LIMITS: Limits = Limits {
    labels: 64,
    name_len: 256,
    value_len: 4096,
};

/// Why a text is not the Prometheus text format.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("line {line}: {reason}: {text}")]
    Line {
        /// 1-based line number.
        line: usize,
        reason: String,
        /// The start of the line, quoted and escaped (see [`quote`]).
        text: String,
    },
    #[error(
        "line {line}: binary data (control characters or bytes that are not UTF-8), expected \
         text lines like `name{{label=\"value\"}} 1`"
    )]
    Binary {
        /// 1-based line number.
        line: usize,
    },
    #[error("more than {MAX_SAMPLES} samples, expected fewer (is this a metrics page?)")]
    TooMany,
}

/// `s` quoted and escaped for an error, cut to [`QUOTE_LEN`] characters
/// (`"abc..."` when cut).
pub fn quote(s: &str) -> String {
    let mut chars = s.chars();
    let head: String = chars.by_ref().take(QUOTE_LEN).collect();
    if chars.next().is_some() {
        format!("{head:?}...")
    } else {
        format!("{head:?}")
    }
}

/// Whether a line looks like binary data rather than text that is not
/// the format: control characters (other than tab) or the replacement
/// character that stands for bytes that were not UTF-8.
fn is_binary(line: &str) -> bool {
    line.chars()
        .any(|c| (c.is_control() && c != '\t') || c == char::REPLACEMENT_CHARACTER)
}

/// Parses `text` into samples carrying `base` plus their own labels,
/// stamped `ts_ms`, within [`LIMITS`].
pub fn parse(text: &str, base: &Labels, ts_ms: i64) -> Result<Vec<Sample>, ParseError> {
    parse_with(text, base, ts_ms, &LIMITS)
}

/// [`parse`] with other bounds on a line's labels.
pub fn parse_with(
    text: &str,
    base: &Labels,
    ts_ms: i64,
    limits: &Limits,
) -> Result<Vec<Sample>, ParseError> {
    let mut out = Vec::new();
    let mut strings = Strings::default();
    // One buffer for every line's labels: no allocation per line for it.
    let mut labels: LabelPairs = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fail = |reason: String| {
            if is_binary(raw) {
                ParseError::Binary { line: i + 1 }
            } else {
                ParseError::Line {
                    line: i + 1,
                    reason,
                    text: quote(raw),
                }
            }
        };
        labels.clear();
        let (name, value) = parse_line(line, limits, &mut labels).map_err(fail)?;
        if out.len() >= MAX_SAMPLES {
            return Err(ParseError::TooMany);
        }
        let all = merge(base, &mut labels, &mut strings).map_err(fail)?;
        out.push(Sample::new(strings.get(name), all, value, ts_ms));
    }
    Ok(out)
}

/// `base` plus a line's labels (see [`own_labels`]), the set built in
/// one allocation.
fn merge(base: &Labels, labels: &mut LabelPairs, strings: &mut Strings) -> Result<Labels, String> {
    if labels.is_empty() {
        return Ok(base.clone());
    }
    own_labels(base, labels)?;
    let mut all = Vec::with_capacity(base.len() + labels.len());
    let mut base_pairs = base.iter_shared().peekable();
    for (n, v) in labels.iter() {
        while let Some((bn, bv)) = base_pairs.next_if(|(bn, _)| ***bn < **n) {
            all.push((bn.clone(), bv.clone()));
        }
        all.push((strings.get(n), strings.get(v)));
    }
    all.extend(base_pairs.map(|(n, v)| (n.clone(), v.clone())));
    Ok(Labels::from_sorted(all))
}

/// A line's labels made into the ones it adds to `base`: sorted by name
/// once (n log n), empty values dropped, and one whose name `base` has
/// already renamed `exported_<name>` (again while that is taken, as
/// Prometheus does). A label written twice is an error. Allocates only
/// for a rename.
fn own_labels(base: &Labels, labels: &mut LabelPairs) -> Result<(), String> {
    if labels.is_empty() {
        return Ok(());
    }
    labels.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    if let Some(w) = labels.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(format!("label {} appears twice", w[0].0));
    }
    // Names given by a rename so far: two clashing labels (`a` and
    // `exported_a` against a base with both) never end up with one name.
    let mut renames: Vec<(usize, String)> = Vec::new();
    for (i, (n, v)) in labels.iter().enumerate() {
        if v.is_empty() || base.get(n).is_none() {
            continue;
        }
        let mut name = format!("exported_{n}");
        while base.get(&name).is_some()
            || labels.binary_search_by(|(x, _)| (**x).cmp(&name)).is_ok()
            || renames.iter().any(|(_, given)| *given == name)
        {
            name.insert_str(0, "exported_");
        }
        renames.push((i, name));
    }
    let renamed = !renames.is_empty();
    for (i, name) in renames {
        labels[i].0 = Cow::Owned(name);
    }
    labels.retain(|(_, v)| !v.is_empty());
    if renamed {
        labels.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    }
    Ok(())
}

/// What [`encode`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoded {
    /// This many series, each of one sample.
    Series(usize),
    /// The text gives one series twice (a line repeated, or the same
    /// labels in another order): what was written is incomplete, and the
    /// text is for [`parse`] and [`record::encode`], which keep the last
    /// value of a repeated series.
    Repeated,
}

/// Parses `text` and writes each sample line into `out` as a series of
/// one sample stamped `ts_ms`, in one pass: no `Sample` or label set per
/// line. `base` is the task's label set, encoded once; a line's own
/// labels are merged in as [`parse`] merges them (`exported_` on a
/// clash). `keys` holds the series written so far in this run (a scrape
/// adds its own `up` after), so that a series given twice is told
/// ([`Encoded::Repeated`]) rather than written twice. Within [`LIMITS`].
///
/// The buffers are reused: a line costs no heap allocation unless a label
/// value has escapes or a label is renamed.
pub fn encode(
    text: &str,
    base: &EncodedLabels,
    ts_ms: i64,
    out: &mut RunWriter,
    keys: &mut SeriesKeys,
) -> Result<Encoded, ParseError> {
    let mut labels: LabelPairs = Vec::new();
    let mut n = 0;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fail = |reason: String| {
            if is_binary(raw) {
                ParseError::Binary { line: i + 1 }
            } else {
                ParseError::Line {
                    line: i + 1,
                    reason,
                    text: quote(raw),
                }
            }
        };
        labels.clear();
        let (name, value) = parse_line(line, &LIMITS, &mut labels).map_err(fail)?;
        if n >= MAX_SAMPLES {
            return Err(ParseError::TooMany);
        }
        own_labels(base.labels(), &mut labels).map_err(fail)?;
        if !keys.insert(name, &labels) {
            return Ok(Encoded::Repeated);
        }
        out.merged(name, base, &labels, value, ts_ms);
        n += 1;
    }
    Ok(Encoded::Series(n))
}

/// The series of one run written so far, by key (a keyed hash of the
/// metric name and the labels a series adds to its task's), to tell one
/// given twice. Two series whose keys collide are taken as one: the run
/// then goes the slower way that groups series, which is right either way.
#[derive(Default)]
pub struct SeriesKeys {
    seen: HashSet<u64, BuildHasherDefault<Prehashed>>,
    keyed: RandomState,
}

impl SeriesKeys {
    /// Adds the series `name` with `own` labels (sorted); false when it
    /// (or one with the same key) was there already.
    pub fn insert<N: AsRef<str>, V: AsRef<str>>(&mut self, name: &str, own: &[(N, V)]) -> bool {
        let mut h = self.keyed.build_hasher();
        name.hash(&mut h);
        for (n, v) in own {
            n.as_ref().hash(&mut h);
            v.as_ref().hash(&mut h);
        }
        self.seen.insert(h.finish())
    }

    pub fn clear(&mut self) {
        self.seen.clear();
    }
}

/// A hasher of keys that are hashes already (keyed ones): passes them on.
#[derive(Default)]
pub struct Prehashed(u64);

impl Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

/// The strings of one exposition, each kept once and shared by the
/// samples that use it: a page repeats its metric names, label names and
/// most values (`le="0.5"`, `code="200"`, `device="eth0"`) line after
/// line, and a sample holding its own copies took about twice the page.
///
/// Hashed with the standard library's keyed hasher, not a fast unkeyed
/// one: the strings come from the target, which could choose values that
/// all collide and make every lookup a scan.
#[derive(Default)]
struct Strings(HashSet<SharedStr>);

impl Strings {
    fn get(&mut self, s: &str) -> SharedStr {
        if let Some(shared) = self.0.get(s) {
            return shared.clone();
        }
        let shared = s.into_shared();
        self.0.insert(shared.clone());
        shared
    }
}

/// A line's label pairs (name, unescaped value), borrowed from the line
/// unless a value had escapes or the name was renamed.
type LabelPairs<'a> = Vec<(Cow<'a, str>, Cow<'a, str>)>;

/// One sample line: its name and value, its labels into `labels` in the
/// order written. An OpenMetrics exemplar after the value is checked and
/// dropped.
fn parse_line<'a>(
    line: &'a str,
    limits: &Limits,
    labels: &mut LabelPairs<'a>,
) -> Result<(&'a str, f64), String> {
    let name_end = line
        .find(|c: char| c == '{' || c.is_whitespace())
        .unwrap_or(line.len());
    let name = &line[..name_end];
    if name.len() > limits.name_len {
        return Err(format!(
            "metric name {} is {} bytes long, expected at most {}",
            quote(name),
            name.len(),
            limits.name_len
        ));
    }
    if !is_valid_metric_name(name) {
        return Err(format!(
            "metric name {} is not valid, expected letters, digits, _ and :, not starting with a digit",
            quote(name)
        ));
    }
    // `name {a="1"} 5`: Prometheus allows blanks before the brace.
    let mut rest = line[name_end..].trim_start();
    if let Some(after) = rest.strip_prefix('{') {
        rest = parse_labels(after, limits, labels)?;
    }
    // Nothing quoted is left before an exemplar's `#`.
    let (sample, exemplar) = match rest.split_once('#') {
        Some((sample, exemplar)) => (sample, Some(exemplar)),
        None => (rest, None),
    };
    let value = value_and_timestamp(sample, "the metric name")?;
    if let Some(exemplar) = exemplar {
        let after = exemplar.trim_start().strip_prefix('{').ok_or_else(|| {
            "expected an exemplar `# {label=\"value\"} value` after the value".to_string()
        })?;
        let mut dropped = Vec::new();
        let tail =
            parse_labels(after, limits, &mut dropped).map_err(|e| format!("exemplar: {e}"))?;
        value_and_timestamp(tail, "the exemplar's labels").map_err(|e| format!("exemplar: {e}"))?;
    }
    Ok((name, value))
}

/// `value [timestamp]`, the timestamp checked and dropped.
fn value_and_timestamp(s: &str, after: &str) -> Result<f64, String> {
    let mut fields = s.split_whitespace();
    let value = fields
        .next()
        .ok_or_else(|| format!("no value after {after}, expected `name value`"))?;
    let value = parse_value(value).ok_or_else(|| {
        format!(
            "value {} is not a number (or +Inf, -Inf, NaN)",
            quote(value)
        )
    })?;
    if let Some(ts) = fields.next() {
        if ts.parse::<i64>().is_err() && ts.parse::<f64>().is_err() {
            return Err(format!(
                "{} after the value is not a timestamp (milliseconds)",
                quote(ts)
            ));
        }
    }
    if fields.next().is_some() {
        return Err("unexpected text after the timestamp".into());
    }
    Ok(value)
}

/// The labels after `{` up to the matching `}` into `labels`, and what
/// follows it. Stops at the first label past `limits`, before reading the
/// rest.
fn parse_labels<'a>(
    mut s: &'a str,
    limits: &Limits,
    labels: &mut LabelPairs<'a>,
) -> Result<&'a str, String> {
    let start = labels.len();
    loop {
        s = s.trim_start();
        if let Some(rest) = s.strip_prefix('}') {
            return Ok(rest);
        }
        if labels.len() - start == limits.labels {
            return Err(format!(
                "more than {} labels, expected at most {}",
                limits.labels, limits.labels
            ));
        }
        let name_end = s
            .find(|c: char| c == '=' || c.is_whitespace() || c == ',' || c == '}')
            .unwrap_or(s.len());
        let name = &s[..name_end];
        if name.len() > limits.name_len {
            return Err(format!(
                "label name {} is {} bytes long, expected at most {}",
                quote(name),
                name.len(),
                limits.name_len
            ));
        }
        s = s[name_end..].trim_start();
        s = s
            .strip_prefix('=')
            .ok_or_else(|| "a label without `=\"value\"`".to_string())?;
        if !is_valid_label_name(name) {
            return Err(format!(
                "label name {} is not valid, expected letters, digits and _, not starting with a digit or __",
                quote(name)
            ));
        }
        s = s
            .trim_start()
            .strip_prefix('"')
            .ok_or_else(|| format!("the value of label {name} is not in double quotes"))?;
        let (value, rest) = label_value(s, name, limits.value_len)?;
        labels.push((Cow::Borrowed(name), value));
        s = rest.trim_start();
        if let Some(rest) = s.strip_prefix(',') {
            s = rest;
        } else if !s.starts_with('}') {
            return Err("expected `,` or `}` after a label value".into());
        }
    }
}

/// A label value after its opening quote, unescaped (borrowed when it has
/// no escapes), and what follows its closing quote. Stops as soon as the
/// value is longer than `max` bytes.
fn label_value<'a>(s: &'a str, name: &str, max: usize) -> Result<(Cow<'a, str>, &'a str), String> {
    let unclosed = || format!("the value of label {name} has no closing quote");
    let too_long =
        || format!("the value of label {name} is longer than {max} bytes, expected at most {max}");
    let at = s.find(['"', '\\']).ok_or_else(unclosed)?;
    if at > max {
        return Err(too_long());
    }
    if s.as_bytes()[at] == b'"' {
        return Ok((Cow::Borrowed(&s[..at]), &s[at + 1..]));
    }
    let mut value = String::from(&s[..at]);
    let mut s = &s[at..];
    loop {
        let at = s.find(['"', '\\']).ok_or_else(unclosed)?;
        value.push_str(&s[..at]);
        if value.len() > max {
            return Err(too_long());
        }
        if s.as_bytes()[at] == b'"' {
            return Ok((Cow::Owned(value), &s[at + 1..]));
        }
        let mut escaped = s[at + 1..].chars();
        match escaped.next() {
            Some('n') => value.push('\n'),
            Some('\\') => value.push('\\'),
            Some('"') => value.push('"'),
            Some(c) => {
                value.push('\\');
                value.push(c);
            }
            None => return Err(unclosed()),
        }
        s = escaped.as_str();
    }
}

/// A sample value: a float, or `+Inf`, `-Inf`, `NaN` in any case.
fn parse_value(s: &str) -> Option<f64> {
    if s.eq_ignore_ascii_case("+inf") || s.eq_ignore_ascii_case("inf") {
        return Some(f64::INFINITY);
    }
    if s.eq_ignore_ascii_case("-inf") {
        return Some(f64::NEG_INFINITY);
    }
    if s.eq_ignore_ascii_case("nan") {
        return Some(f64::NAN);
    }
    // Rust also reads "infinity" and "nan" spelled out; the format has
    // only the three spellings above.
    s.parse::<f64>().ok().filter(|_| {
        !s.bytes()
            .any(|c| c.is_ascii_alphabetic() && c != b'e' && c != b'E')
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn base() -> Labels {
        Labels::new().with("task_id", "t").with("device_id", "d")
    }

    #[test]
    fn parses_a_node_exporter_page() {
        let text = "# HELP node_load1 1m load average.\n\
                    # TYPE node_load1 gauge\n\
                    node_load1 0.21\n\
                    node_network_up{device=\"eth0\"} 1\n\
                    http_requests_total{code=\"200\",method=\"get\"} 1027 1395066363000\n\
                    \n\
                    rpc_duration_seconds_bucket{le=\"+Inf\"} 17\n\
                    weird{path=\"C:\\\\dir\\\\\",msg=\"say \\\"hi\\\"\\n\"} -Inf\n\
                    nan_metric NaN\n\
                    exp 1.5e-3\n\
                    # EOF\n";
        let s = parse(text, &base(), 42).unwrap();
        let names: Vec<_> = s.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "node_load1",
                "node_network_up",
                "http_requests_total",
                "rpc_duration_seconds_bucket",
                "weird",
                "nan_metric",
                "exp"
            ]
        );
        assert_eq!(s[0].value, 0.21);
        assert_eq!(s[0].labels, base());
        assert_eq!(s[1].labels.get("device"), Some("eth0"));
        assert_eq!(s[2].labels.get("method"), Some("get"));
        assert_eq!(s[2].value, 1027.0);
        assert_eq!(s[2].timestamp_ms, 42);
        assert_eq!(s[3].value, 17.0);
        assert_eq!(s[3].labels.get("le"), Some("+Inf"));
        assert_eq!(s[4].labels.get("path"), Some("C:\\dir\\"));
        assert_eq!(s[4].labels.get("msg"), Some("say \"hi\"\n"));
        assert_eq!(s[4].value, f64::NEG_INFINITY);
        assert!(s[5].value.is_nan());
        assert_eq!(s[6].value, 0.0015);
    }

    #[test]
    fn clashing_labels_are_exported() {
        let s = parse("m{task_id=\"other\",x=\"1\"} 2\n", &base(), 0).unwrap();
        assert_eq!(s[0].labels.get("task_id"), Some("t"));
        assert_eq!(s[0].labels.get("exported_task_id"), Some("other"));
        assert_eq!(s[0].labels.get("x"), Some("1"));
    }

    #[test]
    fn blanks_inside_and_before_the_label_set_are_allowed() {
        let s = parse("up {a = \"1\" , b=\"2\" } 5\n", &Labels::new(), 0).unwrap();
        assert_eq!(s.len(), 1);
        assert_eq!((s[0].name.as_str(), s[0].value), ("up", 5.0));
        assert_eq!(s[0].labels.get("a"), Some("1"));
        assert_eq!(s[0].labels.get("b"), Some("2"));
    }

    #[test]
    fn errors_name_the_line() {
        let e = |t: &str| parse(t, &base(), 0).unwrap_err().to_string();
        assert_eq!(
            e("ok 1\nHello world!\n"),
            "line 2: value \"world!\" is not a number (or +Inf, -Inf, NaN): \"Hello world!\""
        );
        assert_eq!(
            e("1abc 3"),
            "line 1: metric name \"1abc\" is not valid, expected letters, digits, _ and :, not starting with a digit: \"1abc 3\""
        );
        assert_eq!(
            e("m{a=\"1\" 3"),
            "line 1: expected `,` or `}` after a label value: \"m{a=\\\"1\\\" 3\""
        );
        assert_eq!(
            e("m{a=1} 3"),
            "line 1: the value of label a is not in double quotes: \"m{a=1} 3\""
        );
        assert_eq!(
            e("m{__x=\"1\"} 3"),
            "line 1: label name \"__x\" is not valid, expected letters, digits and _, not starting with a digit or __: \"m{__x=\\\"1\\\"} 3\""
        );
        assert_eq!(
            e("m{a=\"1\",a=\"2\"} 3"),
            "line 1: label a appears twice: \"m{a=\\\"1\\\",a=\\\"2\\\"} 3\""
        );
        assert_eq!(
            e("m"),
            "line 1: no value after the metric name, expected `name value`: \"m\""
        );
        assert_eq!(
            e("m 1 x"),
            "line 1: \"x\" after the value is not a timestamp (milliseconds): \"m 1 x\""
        );
        assert_eq!(
            e("m infinity"),
            "line 1: value \"infinity\" is not a number (or +Inf, -Inf, NaN): \"m infinity\""
        );
        assert_eq!(
            e("m{a=\"x} 1"),
            "line 1: the value of label a has no closing quote: \"m{a=\\\"x} 1\""
        );
    }

    /// One line `m{l0="v0",l1="v1",...} 1` of `n` labels.
    fn line_of(n: usize) -> String {
        let mut s = String::from("m{");
        for i in 0..n {
            s.push_str(&format!("l{i}=\"v{i}\","));
        }
        s.push_str("} 1\n");
        s
    }

    /// The fastest of a few parses of `text` (one slow run on a shared
    /// machine does not decide).
    fn parse_time(text: &str, base: &Labels, limits: &Limits) -> std::time::Duration {
        (0..3)
            .map(|_| {
                let started = std::time::Instant::now();
                let s = parse_with(text, base, 0, limits).unwrap();
                assert!(!s.is_empty());
                started.elapsed()
            })
            .min()
            .unwrap()
    }

    /// A base with both `a` and `exported_a` and a line with both: each
    /// clash gets a name of its own, as Prometheus renames again while
    /// the name is taken.
    #[test]
    fn clashing_labels_renamed_again_while_taken() {
        let base = Labels::new().with("a", "base").with("exported_a", "base2");
        let s = parse("m{a=\"x\",exported_a=\"y\"} 1\n", &base, 0).unwrap();
        let l = &s[0].labels;
        assert_eq!(l.len(), 4, "{l:?}");
        assert_eq!(
            (l.get("a"), l.get("exported_a")),
            (Some("base"), Some("base2"))
        );
        let mut values: Vec<&str> = l
            .iter()
            .filter(|(n, _)| n.starts_with("exported_exported_"))
            .map(|(_, v)| v)
            .collect();
        values.sort_unstable();
        assert_eq!(values, ["x", "y"], "{l:?}");
    }

    #[test]
    fn parsing_is_linear_in_the_labels_of_a_line() {
        let unbounded = Limits {
            labels: usize::MAX,
            ..LIMITS
        };
        // The base labels clash with some of the line's: exported_ too.
        let base: Labels = (0..20).map(|i| (format!("l{i}"), "base")).collect();
        let long = line_of(100_000);
        let short = line_of(100).repeat(1_000);
        let one = parse_with(&long, &base, 0, &unbounded).unwrap();
        assert_eq!(one[0].labels.len(), 100_020);
        assert_eq!(one[0].labels.get("exported_l7"), Some("v7"));
        assert_eq!(one[0].labels.get("l7"), Some("base"));
        // The same number of labels and about the same bytes either way:
        // linear work takes about as long (n log n: a few times), a scan
        // per label (the old parser) took 1,000 times as long or more.
        let ratio = parse_time(&long, &base, &unbounded).as_secs_f64()
            / parse_time(&short, &base, &unbounded).as_secs_f64();
        assert!(
            ratio < 10.0,
            "one line of 100,000 labels took {ratio:.1} times as long as 1,000 lines of 100"
        );
    }

    #[test]
    fn labels_are_bounded() {
        let e = |t: &str| parse(t, &base(), 0).unwrap_err().to_string();
        assert!(parse(&line_of(64), &base(), 0).is_ok());
        assert_eq!(
            e(&format!("ok 1\n{}", line_of(65))),
            "line 2: more than 64 labels, expected at most 64: \"m{l0=\\\"v0\\\",l1=\\\"v1\\\",l2=\\\"v2\\\",l3=\\\"v3\\\",l4=\\\"v4\"..."
        );
        let value = "x".repeat(4096);
        assert!(parse(&format!("m{{a=\"{value}\"}} 1"), &base(), 0).is_ok());
        // A value of 10 MB: refused, and the error stays short.
        let huge = format!("m{{a=\"{}\"}} 1", "x".repeat(10 << 20));
        let err = e(&huge);
        assert!(
            err.starts_with("line 1: the value of label a is longer than 4096 bytes, expected at most 4096: \"m{a=\\\"xxx"),
            "{err}"
        );
        assert!(err.len() < 200, "{err}");
        let name = "n".repeat(257);
        assert!(e(&format!("m{{{name}=\"1\"}} 1"))
            .starts_with("line 1: label name \"nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn\"... is 257 bytes long, expected at most 256: "));
        assert!(e(&format!("{name} 1"))
            .starts_with("line 1: metric name \"nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn\"... is 257 bytes long, expected at most 256: "));
        // Escapes count as what they stand for.
        let escaped = "\\n".repeat(4096);
        assert!(parse(&format!("m{{a=\"{escaped}\"}} 1"), &base(), 0).is_ok());
    }

    #[test]
    fn openmetrics_exemplars_are_accepted_and_dropped() {
        let text = "# TYPE http_requests counter\n\
                    http_requests_total{code=\"200\"} 1027 # {trace_id=\"abc\"} 1.0\n\
                    http_requests_created{code=\"200\"} 1.6e9\n\
                    rpc_bucket{le=\"0.5\"} 3 1520879607.789 # {trace_id=\"a#b\",span=\"c\"} 0.4 1520879607.1\n\
                    # EOF\n";
        let s = parse(text, &base(), 5).unwrap();
        assert_eq!(s.len(), 3);
        assert_eq!(
            (s[0].name.as_str(), s[0].value),
            ("http_requests_total", 1027.0)
        );
        assert_eq!(s[0].labels.get("trace_id"), None);
        assert_eq!(s[0].labels.len(), 3);
        assert_eq!((s[2].name.as_str(), s[2].value), ("rpc_bucket", 3.0));
        assert_eq!(s[2].timestamp_ms, 5);
        let e = |t: &str| parse(t, &base(), 0).unwrap_err().to_string();
        assert_eq!(
            e("m 1 # trace\n"),
            "line 1: expected an exemplar `# {label=\"value\"} value` after the value: \"m 1 # trace\""
        );
        assert_eq!(
            e("m 1 # {a=\"1\"}\n"),
            "line 1: exemplar: no value after the exemplar's labels, expected `name value`: \"m 1 # {a=\\\"1\\\"}\""
        );
    }

    /// Bytes from a fixed-seed generator, so a failure can be replayed.
    fn garbage(seed: u64, len: usize) -> Vec<u8> {
        let mut x = seed;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect()
    }

    #[test]
    fn binary_garbage_gives_one_short_error() {
        let expected = "line 1: binary data (control characters or bytes that are not UTF-8), expected text lines like `name{label=\"value\"} 1`";
        // What a body that is not UTF-8 becomes (as the scrape and exec
        // plugins read it): different garbage, the same error each time.
        for seed in 1..20 {
            let bytes = garbage(seed, 600);
            let text = String::from_utf8_lossy(&bytes);
            assert_eq!(
                parse(&text, &base(), 0).unwrap_err().to_string(),
                expected,
                "seed {seed}"
            );
        }
        // Valid UTF-8 with control bytes (a protobuf body).
        let e = parse("\u{8}\u{1}\u{12}\u{7}node_up\u{1a}\u{0}", &base(), 0).unwrap_err();
        assert_eq!(e.to_string(), expected);
        // Text that is not the format: quoted, but never more than a few
        // dozen characters of it.
        let e = parse(&format!("not metrics {}\n", "y".repeat(600)), &base(), 0)
            .unwrap_err()
            .to_string();
        assert!(e.len() < 200, "{e}");
    }

    #[test]
    fn repeated_strings_are_kept_once() {
        let s = parse("a{code=\"200\"} 1\nb{code=\"200\"} 2\n", &base(), 0).unwrap();
        let code = |i: usize| {
            s[i].labels
                .iter_shared()
                .find(|(n, _)| &***n == "code")
                .map(|(n, v)| (n.clone(), v.clone()))
                .unwrap()
        };
        let ((n0, v0), (n1, v1)) = (code(0), code(1));
        assert!(std::sync::Arc::ptr_eq(&n0, &n1));
        assert!(std::sync::Arc::ptr_eq(&v0, &v1));
    }

    #[test]
    fn empty_text_is_no_samples() {
        assert!(parse("", &base(), 0).unwrap().is_empty());
        assert!(parse("# only comments\n\n", &base(), 0).unwrap().is_empty());
    }

    /// Renders one sample line the way an exporter would.
    fn render(name: &str, labels: &[(String, String)], value: f64) -> String {
        let mut s = name.to_string();
        if !labels.is_empty() {
            let parts: Vec<String> = labels
                .iter()
                .map(|(n, v)| {
                    let v = v
                        .replace('\\', "\\\\")
                        .replace('"', "\\\"")
                        .replace('\n', "\\n");
                    format!("{n}=\"{v}\"")
                })
                .collect();
            s.push_str(&format!("{{{}}}", parts.join(",")));
        }
        format!("{s} {value:?}\n")
    }

    /// The pages of the tests above: what one pass writes must read back
    /// as what `parse` gives.
    const PAGES: &[&str] = &[
        "# HELP node_load1 1m load average.\n# TYPE node_load1 gauge\nnode_load1 0.21\n\
         node_network_up{device=\"eth0\"} 1\n\
         http_requests_total{code=\"200\",method=\"get\"} 1027 1395066363000\n\n\
         rpc_duration_seconds_bucket{le=\"+Inf\"} 17\n\
         weird{path=\"C:\\\\dir\\\\\",msg=\"say \\\"hi\\\"\\n\"} -Inf\nnan_metric NaN\nexp 1.5e-3\n# EOF\n",
        "m{task_id=\"other\",x=\"1\"} 2\n",
        "m{a=\"x\",exported_a=\"y\",Zone=\"z\",empty=\"\"} 1\nn{a=\"\"} 0\nm 3\n",
        "up {a = \"1\" , b=\"2\" } 5\n",
        "rpc_bucket{le=\"0.5\"} 3 1520879607.789 # {trace_id=\"a#b\",span=\"c\"} 0.4 1520879607.1\n",
        "",
    ];

    /// `text` written in one pass into records of at most `per_record`
    /// series, read back.
    fn encoded(text: &str, base: &Labels, per_record: usize) -> Result<Vec<Sample>, ParseError> {
        let mut w = RunWriter::new(per_record);
        let n = encode(
            text,
            &EncodedLabels::new(base),
            7,
            &mut w,
            &mut SeriesKeys::default(),
        )?;
        let out: Vec<Sample> = w
            .finish()
            .iter()
            .flat_map(|r| crate::wal::record::decode(r).unwrap())
            .collect();
        assert_eq!(n, Encoded::Series(out.len()));
        Ok(out)
    }

    /// Name, labels and the value's bits (NaN equals NaN).
    fn shape(s: &[Sample]) -> Vec<(String, Labels, u64, i64)> {
        s.iter()
            .map(|s| {
                (
                    s.name.to_string(),
                    s.labels.clone(),
                    s.value.to_bits(),
                    s.timestamp_ms,
                )
            })
            .collect()
    }

    fn bases() -> Vec<Labels> {
        vec![
            base(),
            Labels::new(),
            // Around `__name__`: `Zone` sorts before it, `a` after; both
            // `a` and `exported_a` clash.
            Labels::new()
                .with("Zone", "base")
                .with("a", "base")
                .with("exported_a", "base2")
                .with("task_id", "t"),
        ]
    }

    #[test]
    fn one_pass_reads_back_as_parsed() {
        for base in bases() {
            for page in PAGES {
                let want = parse(page, &base, 7).unwrap();
                for per_record in [1, 2, 1000] {
                    assert_eq!(
                        shape(&encoded(page, &base, per_record).unwrap()),
                        shape(&want),
                        "{page:?} with {base:?}"
                    );
                }
            }
        }
    }

    /// Byte for byte what `record::encode` writes for the parsed samples.
    #[test]
    fn one_pass_writes_what_record_encode_writes() {
        use crate::wal::record;
        for base in bases() {
            for page in PAGES {
                let mut w = RunWriter::new(usize::MAX);
                encode(
                    page,
                    &EncodedLabels::new(&base),
                    7,
                    &mut w,
                    &mut SeriesKeys::default(),
                )
                .unwrap();
                let got: Vec<u8> = w
                    .finish()
                    .iter()
                    .flat_map(|r| record::payload(r).unwrap())
                    .collect();
                let want =
                    record::payload(&record::encode(&parse(page, &base, 7).unwrap())).unwrap();
                assert_eq!(got, want, "{page:?} with {base:?}");
            }
        }
    }

    #[test]
    fn one_pass_errors_are_the_parsers() {
        for text in [
            "ok 1\nHello world!\n",
            "m{a=\"1\",a=\"2\"} 3",
            "m{a=\"x} 1",
            "m 1 # trace\n",
            "\u{8}\u{1}\u{12}\u{7}node_up\u{1a}\u{0}",
        ] {
            assert_eq!(
                encoded(text, &base(), 10).unwrap_err(),
                parse(text, &base(), 0).unwrap_err(),
                "{text:?}"
            );
        }
        assert_eq!(
            encoded(&format!("ok 1\n{}", line_of(65)), &base(), 10).unwrap_err(),
            parse(&format!("ok 1\n{}", line_of(65)), &base(), 0).unwrap_err()
        );
    }

    /// A series given twice is told, not written twice: the run goes the
    /// way that keeps the last value of it.
    #[test]
    fn a_series_given_twice_is_told() {
        let run = |text: &str| {
            let mut w = RunWriter::new(10);
            encode(
                text,
                &EncodedLabels::new(&base()),
                1,
                &mut w,
                &mut SeriesKeys::default(),
            )
            .unwrap()
        };
        assert_eq!(run("a 1\na 2\n"), Encoded::Repeated);
        assert_eq!(
            run("m{x=\"1\",y=\"2\"} 1\nm{y=\"2\",x=\"1\"} 2\n"),
            Encoded::Repeated
        );
        // An empty label is no label.
        assert_eq!(
            run("m{x=\"1\"} 1\nm{x=\"1\",y=\"\"} 2\n"),
            Encoded::Repeated
        );
        assert_eq!(
            run("m{x=\"1\"} 1\nm{x=\"2\"} 1\nn{x=\"1\"} 1\n"),
            Encoded::Series(3)
        );
    }

    /// One pass costs no heap allocation per line: a page of 20,000 lines
    /// takes about as many as one of 200 (the buffers grow by doubling,
    /// a record is sealed every `per_record` series), where `parse` takes
    /// at least one per line.
    #[test]
    fn one_pass_allocates_nothing_per_line() {
        use crate::testutil::alloc::count_allocations;
        let page = |n: usize| {
            (0..n)
                .map(|i| format!("m_{}{{code=\"{}\",idx=\"{i}\"}} {i}\n", i % 10, i % 3))
                .collect::<String>()
        };
        let base = EncodedLabels::new(&base());
        let allocations = |text: &str| {
            let mut w = RunWriter::new(8192);
            let mut keys = SeriesKeys::default();
            let (n, count) =
                count_allocations(|| encode(text, &base, 1, &mut w, &mut keys).unwrap());
            assert!(matches!(n, Encoded::Series(_)));
            count
        };
        let (small, large) = (allocations(&page(200)), allocations(&page(20_000)));
        assert!(
            large < small + 40,
            "20,000 lines took {large} allocations, 200 lines {small}"
        );
        let big = page(20_000);
        let (_, parsed) = count_allocations(|| parse(&big, &base.labels().clone(), 1).unwrap());
        assert!(parsed >= 20_000, "parse took {parsed} allocations");
    }

    proptest! {
        #[test]
        fn rendered_samples_parse_back(
            name in "[a-zA-Z_:][a-zA-Z0-9_:]{0,20}",
            labels in proptest::collection::btree_map("[a-z][a-z0-9_]{0,8}", "\\PC{0,12}", 0..5),
            value in proptest::num::f64::NORMAL | proptest::num::f64::ZERO,
        ) {
            let labels: Vec<(String, String)> = labels.into_iter().filter(|(_, v)| !v.is_empty()).collect();
            let text = render(&name, &labels, value);
            let s = parse(&text, &Labels::new(), 7).unwrap();
            prop_assert_eq!(shape(&encoded(&text, &base(), 1).unwrap()), shape(&parse(&text, &base(), 7).unwrap()));
            prop_assert_eq!(s.len(), 1);
            prop_assert_eq!(&s[0].name, &name);
            prop_assert_eq!(s[0].value, value);
            for (n, v) in &labels {
                prop_assert_eq!(s[0].labels.get(n), Some(v.as_str()));
            }
        }

        #[test]
        fn any_text_parses_or_errors_without_panic(text in "\\PC{0,200}") {
            let _ = parse(&text, &base(), 0);
        }
    }
}
