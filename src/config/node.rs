//! The low level of config loading: a walker over the parsed YAML
//! (`serde_yaml::Value`) that knows where it is (`tasks[2].config.count`).
//!
//! This plays the part of a serde `RawConfig` mirror (ripgrep's `LowArgs`),
//! done by hand so that every error can name the file, the path, what was
//! found and what is allowed, and so unknown keys get a "did you mean"
//! suggestion. `build/` (the `HiArgs` step) asks it for typed values.
//!
//! Scalars are read leniently where YAML typing would surprise an operator:
//! a string field accepts an integer (`device_id: 42`), a number or boolean
//! field accepts the same thing in a string (`count: "4"`,
//! `count: ${PING_COUNT}`), because `${VAR}` expansion always yields text.

use serde_yaml::{Mapping, Value};

use super::expand::{expand, has_expansion};
use super::units::{self, UnitError};
use super::ConfigError;

/// The environment as the loader sees it; tests pass their own.
pub type EnvLookup<'e> = &'e dyn Fn(&str) -> Option<String>;

/// Loading context: the file name for messages and the environment.
pub struct Ctx<'e> {
    pub file: String,
    pub env: EnvLookup<'e>,
}

/// A value and where it sits in the file.
#[derive(Clone)]
pub struct Node<'v> {
    pub value: &'v Value,
    pub path: String,
}

/// A mapping whose keys were checked against the allowed ones.
pub struct Table<'v> {
    pub path: String,
    entries: Vec<(String, &'v Value)>,
}

/// A string scalar after `${VAR}` expansion, with what was written, so
/// messages can show both.
pub struct Scalar {
    pub text: String,
    written: String,
}

impl Scalar {
    /// `"abc"`, or `"abc" (from "${X}")` when it came from an expansion.
    pub fn describe(&self) -> String {
        if self.text == self.written {
            format!("{:?}", self.text)
        } else {
            format!("{:?} (from {:?})", self.text, self.written)
        }
    }
}

/// The longest error reason printed whole; a longer one (a huge value
/// quoted in it) keeps its start and end, where "found" and "expected" are.
const MAX_REASON: usize = 600;

/// `reason`, cut in the middle when longer than [`MAX_REASON`] bytes.
pub fn shorten(reason: String) -> String {
    if reason.len() <= MAX_REASON {
        return reason;
    }
    let mut head = MAX_REASON / 2;
    while !reason.is_char_boundary(head) {
        head -= 1;
    }
    let mut tail = reason.len() - MAX_REASON / 2;
    while !reason.is_char_boundary(tail) {
        tail += 1;
    }
    format!(
        "{} … ({} bytes left out) … {}",
        &reason[..head],
        tail - head,
        &reason[tail..]
    )
}

/// Joins a key onto a path, quoting keys that would read ambiguously.
pub fn join(path: &str, key: &str) -> String {
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    let key = if plain {
        key.to_string()
    } else {
        format!("{key:?}")
    };
    if path.is_empty() {
        key
    } else {
        format!("{path}.{key}")
    }
}

/// How a value reads in a "found ..." message.
pub fn describe(v: &Value) -> String {
    match v {
        Value::Null => "nothing".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => format!("{s:?}"),
        Value::Sequence(_) => "a list".into(),
        Value::Mapping(_) => "a mapping".into(),
        Value::Tagged(t) => format!("a value tagged {}", t.tag),
    }
}

/// Levenshtein distance, for "did you mean".
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The closest of `candidates` to `word`, if close enough to be a typo.
pub fn nearest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let lower = word.to_ascii_lowercase();
    let close = candidates
        .iter()
        .map(|c| (edit_distance(&lower, c), *c))
        .filter(|(d, c)| *d <= (c.chars().count().max(word.chars().count()) / 3).max(2))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c);
    // `wal_path` for `path`, `url_path` for `url`: the key with a prefix.
    close.or_else(|| {
        candidates
            .iter()
            .filter(|c| c.len() >= 3 && (lower.contains(*c) || c.contains(lower.as_str())))
            .min_by_key(|c| c.len())
            .copied()
    })
}

impl<'v> Node<'v> {
    pub fn root(value: &'v Value) -> Self {
        Node {
            value,
            path: String::new(),
        }
    }

    /// Whether the value is absent in practice (`key:` with nothing, `~`).
    pub fn is_null(&self) -> bool {
        self.value.is_null()
    }
}

impl<'v> Table<'v> {
    /// The value under `key`, `None` if missing or null.
    pub fn get(&self, key: &str) -> Option<Node<'v>> {
        self.entries
            .iter()
            .find(|(k, v)| k == key && !v.is_null())
            .map(|(k, v)| Node {
                value: v,
                path: join(&self.path, k),
            })
    }

    /// Whether `key` is written at all, even with an empty value.
    pub fn has(&self, key: &str) -> bool {
        self.entries.iter().any(|(k, _)| k == key)
    }
}

impl Ctx<'_> {
    /// An error at `path`.
    pub fn err(&self, path: &str, reason: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            file: self.file.clone(),
            path: path.to_string(),
            reason: shorten(reason.into()),
        }
    }

    /// The value under `key` of `t`, or the error "is missing, expected
    /// {what}" at that key's path.
    pub fn required<'v>(
        &self,
        t: &Table<'v>,
        key: &str,
        what: &str,
    ) -> Result<Node<'v>, ConfigError> {
        t.get(key)
            .ok_or_else(|| self.err(&join(&t.path, key), format!("is missing, expected {what}")))
    }

    /// "found X, expected Y" at the node.
    pub fn wrong(&self, node: &Node, expected: &str) -> ConfigError {
        self.err(
            &node.path,
            format!("found {}, expected {expected}", describe(node.value)),
        )
    }

    fn mapping<'v>(&self, node: &Node<'v>, what: &str) -> Result<&'v Mapping, ConfigError> {
        match node.value {
            Value::Mapping(m) => Ok(m),
            _ => Err(self.wrong(node, what)),
        }
    }

    /// Every entry of a mapping with string keys, in file order.
    pub fn entries<'v>(
        &self,
        node: &Node<'v>,
        what: &str,
    ) -> Result<Vec<(String, Node<'v>)>, ConfigError> {
        let m = self.mapping(node, what)?;
        let mut out = Vec::with_capacity(m.len());
        for (k, v) in m {
            let key = match k {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                other => {
                    return Err(self.err(
                        &node.path,
                        format!("found {} as a key, expected a name", describe(other)),
                    ))
                }
            };
            let path = join(&node.path, &key);
            out.push((key, Node { value: v, path }));
        }
        Ok(out)
    }

    /// A mapping whose keys must all be in `allowed`; an unknown key is an
    /// error naming it, its path and the nearest allowed key.
    pub fn table<'v>(&self, node: &Node<'v>, allowed: &[&str]) -> Result<Table<'v>, ConfigError> {
        let what = format!("a mapping with keys {}", allowed.join(", "));
        let mut entries = Vec::new();
        for (key, child) in self.entries(node, &what)? {
            if !allowed.contains(&key.as_str()) {
                let hint = match nearest(&key, allowed) {
                    Some(n) => format!("; did you mean `{n}`?"),
                    None => ",".to_string(),
                };
                return Err(self.err(
                    &child.path,
                    format!(
                        "unknown key `{key}`{hint} expected one of: {}",
                        allowed.join(", ")
                    ),
                ));
            }
            entries.push((key, child.value));
        }
        Ok(Table {
            path: node.path.clone(),
            entries,
        })
    }

    /// A table with no keys at `path`, for a section that is not written.
    pub fn empty_table<'v>(&self, path: &str) -> Table<'v> {
        Table {
            path: path.to_string(),
            entries: Vec::new(),
        }
    }

    /// The items of a list.
    pub fn seq<'v>(&self, node: &Node<'v>, what: &str) -> Result<Vec<Node<'v>>, ConfigError> {
        match node.value {
            Value::Sequence(s) => Ok(s
                .iter()
                .enumerate()
                .map(|(i, v)| Node {
                    value: v,
                    path: format!("{}[{i}]", node.path),
                })
                .collect()),
            _ => Err(self.wrong(node, what)),
        }
    }

    /// A string scalar with `${VAR}` expanded; integers are taken as
    /// written (`device_id: 42` is `"42"`).
    pub fn scalar(&self, node: &Node, what: &str) -> Result<Scalar, ConfigError> {
        let written = match node.value {
            Value::String(s) => s.clone(),
            Value::Number(n) if n.is_i64() || n.is_u64() => n.to_string(),
            Value::Number(_) | Value::Bool(_) => {
                let v = describe(node.value);
                return Err(self.err(
                    &node.path,
                    format!("found {v}, expected {what} (quote it: \"{v}\")"),
                ));
            }
            _ => return Err(self.wrong(node, what)),
        };
        let text = if node.value.is_string() && has_expansion(&written) {
            expand(&written, self.env).map_err(|e| self.err(&node.path, e.to_string()))?
        } else {
            written.clone()
        };
        Ok(Scalar { text, written })
    }

    /// A string (see `scalar`).
    pub fn string(&self, node: &Node, what: &str) -> Result<String, ConfigError> {
        Ok(self.scalar(node, what)?.text)
    }

    /// `true`/`false`, also as a string (from `${VAR}`).
    pub fn bool(&self, node: &Node) -> Result<bool, ConfigError> {
        const WHAT: &str = "true or false";
        if let Value::Bool(b) = node.value {
            return Ok(*b);
        }
        let s = self.scalar(node, WHAT)?;
        match s.text.trim().to_ascii_lowercase().as_str() {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(self.err(
                &node.path,
                format!("found {}, expected {WHAT}", s.describe()),
            )),
        }
    }

    /// A whole number in `min..=max`; `what` describes the allowed values
    /// ("a whole number from 1 to 10000").
    pub fn uint(&self, node: &Node, min: u64, max: u64, what: &str) -> Result<u64, ConfigError> {
        let (n, found) = match node.value {
            Value::Number(n) => (n.as_u64(), n.to_string()),
            Value::String(_) => {
                let s = self.scalar(node, what)?;
                (s.text.trim().parse::<u64>().ok(), s.describe())
            }
            _ => (None, describe(node.value)),
        };
        match n {
            Some(n) if (min..=max).contains(&n) => Ok(n),
            _ => Err(self.err(&node.path, format!("found {found}, expected {what}"))),
        }
    }

    /// A duration: a string as in `units::parse_duration`, or a number of
    /// seconds.
    pub fn duration(&self, node: &Node) -> Result<std::time::Duration, ConfigError> {
        match node.value {
            Value::Number(n) => {
                let secs = n.as_f64().filter(|s| s.is_finite() && *s >= 0.0);
                let d = secs.and_then(|s| std::time::Duration::try_from_secs_f64(s).ok());
                match d {
                    Some(d) if d <= units::MAX_DURATION => Ok(d),
                    Some(_) => Err(self.err(
                        &node.path,
                        format!(
                            "found {n}, expected {}: it is too long, the most is 3650d (ten years)",
                            units::DURATION_EXPECTED
                        ),
                    )),
                    None => Err(self.err(
                        &node.path,
                        format!("found {n}, expected {}", units::DURATION_EXPECTED),
                    )),
                }
            }
            Value::String(_) => {
                let s = self.scalar(node, units::DURATION_EXPECTED)?;
                units::parse_duration(&s.text).map_err(|e| self.unit_error(node, &s, e))
            }
            _ => Err(self.wrong(node, units::DURATION_EXPECTED)),
        }
    }

    /// A size in bytes: a string as in `units::parse_size`, or a number.
    pub fn size(&self, node: &Node) -> Result<u64, ConfigError> {
        match node.value {
            Value::Number(n) => n.as_u64().ok_or_else(|| {
                self.err(
                    &node.path,
                    format!("found {n}, expected {}", units::SIZE_EXPECTED),
                )
            }),
            Value::String(_) => {
                let s = self.scalar(node, units::SIZE_EXPECTED)?;
                units::parse_size(&s.text).map_err(|e| self.unit_error(node, &s, e))
            }
            _ => Err(self.wrong(node, units::SIZE_EXPECTED)),
        }
    }

    fn unit_error(&self, node: &Node, s: &Scalar, e: UnitError) -> ConfigError {
        let detail = e.detail.map(|d| format!(": {d}")).unwrap_or_default();
        self.err(
            &node.path,
            format!("found {}, expected {}{detail}", s.describe(), e.expected),
        )
    }

    /// One of `allowed` (case-insensitive); returns the allowed spelling.
    pub fn choice<'a>(&self, node: &Node, allowed: &[&'a str]) -> Result<&'a str, ConfigError> {
        let what = format!("one of {}", allowed.join(", "));
        let s = self.scalar(node, &what)?;
        let lower = s.text.trim().to_ascii_lowercase();
        allowed
            .iter()
            .find(|a| **a == lower)
            .copied()
            .ok_or_else(|| {
                self.err(
                    &node.path,
                    format!("found {}, expected {what}", s.describe()),
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_are_close_keys() {
        let keys = [
            "host",
            "count",
            "interval",
            "timeout",
            "size",
            "ttl",
            "ip_version",
        ];
        assert_eq!(nearest("cont", &keys), Some("count"));
        assert_eq!(nearest("Count", &keys), Some("count"));
        assert_eq!(nearest("intervall", &keys), Some("interval"));
        assert_eq!(nearest("ipversion", &keys), Some("ip_version"));
        assert_eq!(nearest("completely_else", &keys), None);
        assert_eq!(nearest("wal_path", &["path", "max_size"]), Some("path"));
        assert_eq!(nearest("ip", &keys), Some("ip_version"));
        // A secret's key, not its file's: the shortest key that contains it.
        let auth = [
            "password",
            "password_file",
            "bearer_token",
            "bearer_token_file",
        ];
        assert_eq!(nearest("pass", &auth), Some("password"));
        assert_eq!(nearest("token", &auth), Some("bearer_token"));
        assert_eq!(nearest("bearer", &auth), Some("bearer_token"));
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn paths_quote_odd_keys() {
        assert_eq!(join("", "tasks"), "tasks");
        assert_eq!(join("sentinel.labels", "env"), "sentinel.labels.env");
        assert_eq!(join("sentinel.labels", "a.b"), "sentinel.labels.\"a.b\"");
    }
}
