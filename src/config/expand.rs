//! `${VAR}` expansion in config string values.
//!
//! The rules, also written in `config/config.example.yaml`:
//!
//! - `${VAR}` is replaced by the environment variable `VAR`; if `VAR` is
//!   not set, loading fails with an error naming `VAR` and the path.
//! - `${VAR:-default}` gives `default` when `VAR` is unset or empty (the
//!   shell's `:-`). The default is taken literally up to the first `}`; it
//!   is not expanded again.
//! - `$$` is a literal `$` (so `$${VAR}` is the text `${VAR}`).
//! - Any other `$` is left alone, so a password like `pa$word` needs no
//!   escaping.
//! - Expansion happens after YAML parsing, in values only (never in keys),
//!   and the result is not expanded again.
//!
//! Variable names are `[A-Za-z_][A-Za-z0-9_]*`.

/// Why a string cannot be expanded. The caller adds file and path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExpandError {
    /// `${VAR}` with `VAR` not in the environment.
    Unset { var: String },
    /// `${` with no closing `}`.
    Unterminated { text: String },
    /// `${...}` whose name is not a variable name.
    BadName { name: String },
}

impl std::fmt::Display for ExpandError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExpandError::Unset { var } => write!(
                f,
                "environment variable {var} is not set; set it, or give a default with ${{{var}:-default}}"
            ),
            ExpandError::Unterminated { text } => write!(
                f,
                "found {text:?} with an unclosed \"${{\", expected ${{VAR}} or ${{VAR:-default}} (write $$ for a literal $)"
            ),
            ExpandError::BadName { name } => write!(
                f,
                "found \"${{{name}}}\", expected a variable name of letters, digits and _ not starting with a digit (write $$ for a literal $)"
            ),
        }
    }
}

fn is_var_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Whether `text` has anything `expand` would change.
pub fn has_expansion(text: &str) -> bool {
    text.contains("${") || text.contains("$$")
}

/// Expands `text` with `lookup` as the environment.
pub fn expand(text: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, ExpandError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(r) = after.strip_prefix('$') {
            out.push('$');
            rest = r;
        } else if let Some(r) = after.strip_prefix('{') {
            let Some(end) = r.find('}') else {
                return Err(ExpandError::Unterminated {
                    text: text.to_string(),
                });
            };
            let inner = &r[..end];
            let (name, default) = match inner.split_once(":-") {
                Some((n, d)) => (n, Some(d)),
                None => (inner, None),
            };
            if !is_var_name(name) {
                return Err(ExpandError::BadName {
                    name: inner.to_string(),
                });
            }
            match (lookup(name), default) {
                (Some(v), Some(d)) if v.is_empty() => out.push_str(d),
                (Some(v), _) => out.push_str(&v),
                (None, Some(d)) => out.push_str(d),
                (None, None) => {
                    return Err(ExpandError::Unset {
                        var: name.to_string(),
                    })
                }
            }
            rest = &r[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "HOST" => Some("vm.local".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    fn ok(s: &str) -> String {
        expand(s, &env).unwrap()
    }

    #[test]
    fn expands_variables_and_defaults() {
        assert_eq!(ok("http://${HOST}:8428"), "http://vm.local:8428");
        assert_eq!(ok("${MISSING:-fallback}"), "fallback");
        assert_eq!(ok("${EMPTY:-fallback}"), "fallback");
        assert_eq!(ok("${HOST:-fallback}"), "vm.local");
        assert_eq!(ok("${MISSING:-}"), "");
        assert_eq!(ok("${MISSING:-a:b/c}"), "a:b/c");
        assert_eq!(ok("${HOST}${HOST}"), "vm.localvm.local");
    }

    #[test]
    fn dollars_are_escaped_or_left_alone() {
        assert_eq!(ok("pa$word"), "pa$word");
        assert_eq!(ok("cost $5"), "cost $5");
        assert_eq!(ok("trailing$"), "trailing$");
        assert_eq!(ok("$${HOST}"), "${HOST}");
        assert_eq!(ok("a$$b"), "a$b");
        assert_eq!(ok("$$$${HOST}"), "$${HOST}");
    }

    #[test]
    fn errors_name_the_variable() {
        assert_eq!(
            expand("${NOPE}", &env),
            Err(ExpandError::Unset { var: "NOPE".into() })
        );
        assert_eq!(
            expand("x ${NOPE}", &env).unwrap_err().to_string(),
            "environment variable NOPE is not set; set it, or give a default with ${NOPE:-default}"
        );
        assert!(matches!(
            expand("${HOST", &env),
            Err(ExpandError::Unterminated { .. })
        ));
        assert!(matches!(
            expand("${1X}", &env),
            Err(ExpandError::BadName { .. })
        ));
        assert!(matches!(
            expand("${}", &env),
            Err(ExpandError::BadName { .. })
        ));
    }
}
