//! The Prometheus text exposition format (version 0.0.4, and the
//! OpenMetrics text that `# EOF` ends), parsed into samples. Shared by the
//! exec plugin (a command's stdout) and the scrape plugin (a `/metrics`
//! body). Pure code, no I/O.
//!
//! Each sample line `name{label="value",...} value [timestamp]` becomes a
//! `Sample` stamped with the probe's time (an exposed timestamp is read and
//! ignored: sentinel stamps every sample of a run alike). The task's base
//! labels are added; an exposed label whose name the base labels already
//! use is kept as `exported_<name>`, as Prometheus does without
//! `honor_labels`, so a target can never pass itself off as another task.
//! `# HELP`, `# TYPE` and other comments are skipped; histograms and
//! summaries are their `_bucket`/`_sum`/`_count` lines like any other.
//!
//! A line that is not the format is an error naming the line number and
//! what was expected, never silently dropped.

use crate::sample::{is_valid_label_name, is_valid_metric_name, Labels, Sample};

/// The most samples one exposition may hold: a guard against a runaway
/// command or endpoint filling the WAL (node_exporter exposes ~2,000).
pub const MAX_SAMPLES: usize = 100_000;
/// How much of a bad line is quoted in an error.
const QUOTE_LEN: usize = 80;

/// Why a text is not the Prometheus text format.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("line {line}: {reason}: {text:?}")]
    Line {
        /// 1-based line number.
        line: usize,
        reason: String,
        /// The line, cut to `QUOTE_LEN` characters.
        text: String,
    },
    #[error("more than {MAX_SAMPLES} samples, expected fewer (is this a metrics page?)")]
    TooMany,
}

/// Parses `text` into samples carrying `base` plus their own labels,
/// stamped `ts_ms`.
pub fn parse(text: &str, base: &Labels, ts_ms: i64) -> Result<Vec<Sample>, ParseError> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fail = |reason: &str| ParseError::Line {
            line: i + 1,
            reason: reason.to_string(),
            text: raw.chars().take(QUOTE_LEN).collect(),
        };
        let (name, labels, value) = parse_line(line).map_err(|r| fail(&r))?;
        if out.len() >= MAX_SAMPLES {
            return Err(ParseError::TooMany);
        }
        let mut all = base.clone();
        for (n, v) in labels {
            if base.get(&n).is_some() {
                all.insert(format!("exported_{n}"), v);
            } else {
                all.insert(n, v);
            }
        }
        out.push(Sample::new(name, all, value, ts_ms));
    }
    Ok(out)
}

/// Label pairs in the order written.
type LabelPairs = Vec<(String, String)>;

/// One sample line: name, labels in order, value.
fn parse_line(line: &str) -> Result<(String, LabelPairs, f64), String> {
    let name_end = line
        .find(|c: char| c == '{' || c.is_whitespace())
        .unwrap_or(line.len());
    let name = &line[..name_end];
    if !is_valid_metric_name(name) {
        return Err(format!(
            "metric name {name:?} is not valid, expected letters, digits, _ and :, not starting with a digit"
        ));
    }
    // `name {a="1"} 5`: Prometheus allows blanks before the brace.
    let mut rest = line[name_end..].trim_start();
    let mut labels = Vec::new();
    if let Some(after) = rest.strip_prefix('{') {
        let (parsed, tail) = parse_labels(after)?;
        labels = parsed;
        rest = tail;
    }
    let mut fields = rest.split_whitespace();
    let value = fields
        .next()
        .ok_or_else(|| "no value after the metric name, expected `name value`".to_string())?;
    let value = parse_value(value)
        .ok_or_else(|| format!("value {value:?} is not a number (or +Inf, -Inf, NaN)"))?;
    if let Some(ts) = fields.next() {
        if ts.parse::<i64>().is_err() && ts.parse::<f64>().is_err() {
            return Err(format!(
                "{ts:?} after the value is not a timestamp (milliseconds)"
            ));
        }
    }
    if fields.next().is_some() {
        return Err("unexpected text after the timestamp".into());
    }
    Ok((name.to_string(), labels, value))
}

/// The labels after `{` up to the matching `}`, and what follows it.
fn parse_labels(mut s: &str) -> Result<(LabelPairs, &str), String> {
    let mut labels: LabelPairs = Vec::new();
    loop {
        s = s.trim_start();
        if let Some(rest) = s.strip_prefix('}') {
            return Ok((labels, rest));
        }
        let eq = s
            .find('=')
            .ok_or_else(|| "a label without `=\"value\"`".to_string())?;
        let name = s[..eq].trim();
        if !is_valid_label_name(name) {
            return Err(format!(
                "label name {name:?} is not valid, expected letters, digits and _, not starting with a digit or __"
            ));
        }
        if labels.iter().any(|(n, _)| n == name) {
            return Err(format!("label {name} appears twice"));
        }
        s = s[eq + 1..].trim_start();
        s = s
            .strip_prefix('"')
            .ok_or_else(|| format!("the value of label {name} is not in double quotes"))?;
        let mut value = String::new();
        let mut chars = s.char_indices();
        let end = loop {
            match chars.next() {
                None => return Err(format!("the value of label {name} has no closing quote")),
                Some((i, '"')) => break i,
                Some((_, '\\')) => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, '\\')) => value.push('\\'),
                    Some((_, '"')) => value.push('"'),
                    Some((_, c)) => {
                        value.push('\\');
                        value.push(c);
                    }
                    None => return Err(format!("the value of label {name} has no closing quote")),
                },
                Some((_, c)) => value.push(c),
            }
        };
        labels.push((name.to_string(), value));
        s = s[end + 1..].trim_start();
        if let Some(rest) = s.strip_prefix(',') {
            s = rest;
        } else if !s.starts_with('}') {
            return Err("expected `,` or `}` after a label value".into());
        }
    }
}

/// A sample value: a float, or `+Inf`, `-Inf`, `NaN` in any case.
fn parse_value(s: &str) -> Option<f64> {
    match s.to_ascii_lowercase().as_str() {
        "+inf" | "inf" => Some(f64::INFINITY),
        "-inf" => Some(f64::NEG_INFINITY),
        "nan" => Some(f64::NAN),
        _ => s.parse::<f64>().ok().filter(|_| {
            // Rust also reads "infinity" and "nan" spelled out; the format
            // has only the three spellings above.
            !s.chars()
                .any(|c| c.is_ascii_alphabetic() && c != 'e' && c != 'E')
        }),
    }
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
