//! The high level of config loading: the parsed YAML, walked with
//! `node::Ctx`, becomes a validated `Config` (ripgrep's `HiArgs` step).
//!
//! One function per section, in file order. Each reads its keys, fills in
//! the documented defaults (the `DEFAULT_*` consts in `mod.rs`) and checks
//! the values; the first problem found is returned as a `ConfigError` that
//! names the file, the path, what was found and what is allowed. Things
//! that are allowed but probably not meant go into `Config::warnings`.
//!
//! Relative paths (`buffer.path`, `logging.file_path`, `ca_file`,
//! `password_file`, `bearer_token_file`) are resolved against the
//! directory of the config file, as Prometheus does, so the agent finds
//! them whatever its working directory (systemd starts it in `/`).
//!
//! This file holds the loader itself (`Loader`, the top level, helpers
//! every section uses) and the `sender:` section with its backends; the
//! other sections are one file each under `build/` (`agent`, `buffer`,
//! `listener` for `http:`, `logging`, `tasks`), and a task's `config` is
//! read by its plugin (`probe/<name>/config.rs`).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_yaml::Value;

use super::node::{describe, join, nearest, Ctx, EnvLookup, Node, Table};
use super::units::{format_duration, format_size};
use super::*;
use crate::sample::{is_valid_label_name, BackendId, Labels, TaskId};

mod agent;
mod buffer;
mod listener;
mod logging;
mod tasks;

pub use agent::default_agent_name;
pub use tasks::is_task_id;

/// Top-level sections.
const TOP_KEYS: &[&str] = &[
    "sentinel",
    "sender",
    "buffer",
    "http",
    "logging",
    "tasks",
    "core",
    "heartbeat",
    "collector",
    "plugins",
];

/// Sections of the original Sentinel that this agent accepts and ignores,
/// with the reason given in the warning.
const IGNORED_SECTIONS: &[(&str, &str)] = &[
    (
        "core",
        "it configures the original Sentinel's central server, which this agent does not use (it ships directly to the backends under sender.direct)",
    ),
    (
        "heartbeat",
        "heartbeats went to the original Sentinel's central server; this agent serves /healthz on http.listen instead",
    ),
    (
        "collector",
        "each task here runs on its own interval and timeout, set under tasks",
    ),
    (
        "plugins",
        "plugin settings go in each task's config; see `sentinel list-plugins`",
    ),
];

const SENTINEL_KEYS: &[&str] = &["name", "region", "labels", "self_metrics_interval"];
const SENDER_KEYS: &[&str] = &[
    "mode",
    "flush_interval",
    "batch_size",
    "timeout",
    "retry",
    "direct",
];
const RETRY_KEYS: &[&str] = &["min_backoff", "max_backoff"];
const BACKEND_KEYS: &[&str] = &[
    "enabled",
    "url",
    "username",
    "password",
    "password_file",
    "bearer_token",
    "bearer_token_file",
    "headers",
    "timeout",
    "ca_file",
    "insecure_skip_verify",
    "max_sample_age",
    "concurrency",
    "backfill",
    "max_bytes_per_second",
];
const BUFFER_KEYS: &[&str] = &[
    "path",
    "max_size",
    "max_age",
    "sync",
    "sync_interval",
    "cache_size",
];
const HTTP_KEYS: &[&str] = &["enabled", "listen"];
const LOGGING_KEYS: &[&str] = &["level", "format", "output", "file_path"];
const TASK_KEYS: &[&str] = &[
    "id",
    "device_id",
    "plugin",
    "interval",
    "timeout",
    "enabled",
    "labels",
    "config",
];
/// Headers the shipper sets itself; a backend may not override them.
const PROTOCOL_HEADERS: &[&str] = &[
    "content-type",
    "content-encoding",
    "content-length",
    "transfer-encoding",
    "connection",
    "host",
    "x-prometheus-remote-write-version",
];

/// Everything the loader needs besides the text.
pub struct Loader<'e> {
    pub(crate) ctx: Ctx<'e>,
    /// The config file's directory, absolute: the base of relative paths.
    base_dir: PathBuf,
    warnings: Vec<String>,
}

/// Parses and validates `text` as the contents of `file`, with `env` as
/// the environment (for `${VAR}` and `$STATE_DIRECTORY`).
pub fn parse_with(text: &str, file: &Path, env: EnvLookup) -> Result<Config, ConfigError> {
    let file_name = file.display().to_string();
    let dir = match file.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let base_dir = if dir.is_absolute() {
        dir
    } else {
        std::env::current_dir()
            .map(|cwd| cwd.join(&dir))
            .unwrap_or(dir)
    };
    // Canonical, so that `..` in a relative path can be taken off it.
    let base_dir = std::fs::canonicalize(&base_dir).unwrap_or(base_dir);
    let loader = Loader {
        ctx: Ctx {
            file: file_name,
            env,
        },
        base_dir,
        warnings: Vec::new(),
    };
    if let Some((line, column)) = too_deep(text, super::MAX_FLOW_DEPTH) {
        return Err(loader.ctx.err(
            "",
            format!(
                "at line {line}, column {column}: `[` and `{{` nest more than {} levels deep here; a config needs only a few",
                super::MAX_FLOW_DEPTH
            ),
        ));
    }
    let mut value: Value = serde_yaml::from_str(text).map_err(|e| loader.yaml_error(&e))?;
    value.apply_merge().map_err(|e| loader.yaml_error(&e))?;
    loader.config(&value, file)
}

/// Where flow collections (`[`, `{`) first nest deeper than `max`, as
/// 1-based line and column, skipping quoted strings and comments. A cheap
/// pass before the YAML parser, whose time grows with the square of the
/// depth. Brackets inside plain scalars (`a[1]`) count too; they would
/// need to open `max` levels on one path to matter.
fn too_deep(text: &str, max: usize) -> Option<(usize, usize)> {
    let (mut depth, mut line, mut col) = (0usize, 1usize, 0usize);
    let mut quote: Option<char> = None;
    let mut comment = false;
    let mut prev = '\n';
    for c in text.chars() {
        col += 1;
        if c == '\n' {
            (line, col, comment) = (line + 1, 0, false);
            // A quoted scalar may span lines; keep the quote open.
        } else if comment {
        } else if let Some(q) = quote {
            if c == q {
                quote = None;
            }
        } else {
            match c {
                '#' if prev.is_whitespace() => comment = true,
                '"' | '\'' if prev.is_whitespace() || "[{,:".contains(prev) => quote = Some(c),
                '[' | '{' => {
                    depth += 1;
                    if depth > max {
                        return Some((line, col));
                    }
                }
                ']' | '}' => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
        prev = c;
    }
    None
}

/// The bound of durations that only need to be above zero.
pub(crate) const ABOVE_ZERO: Duration = Duration::from_nanos(1);
/// The shortest `sender.flush_interval`.
const MIN_TIMER: Duration = Duration::from_millis(100);
/// The shortest `sender.retry` backoff: retries closer than this are a
/// busy loop against a failing backend.
const MIN_BACKOFF: Duration = Duration::from_millis(10);
/// Reads a duration at `n` that is above zero and at least `min`, naming
/// both in the error (`default` is the example given).
pub(crate) fn duration_at_least(
    ctx: &Ctx,
    n: &Node,
    min: Duration,
    default: Duration,
) -> Result<Duration, ConfigError> {
    let d = ctx.duration(n)?;
    if d.is_zero() {
        return Err(ctx.err(
            &n.path,
            format!(
                "found {}, expected a duration above zero like {}",
                describe(n.value),
                format_duration(default)
            ),
        ));
    }
    if d < min {
        return Err(ctx.err(
            &n.path,
            format!(
                "found {}, expected at least {} (like {}): a shorter one would only keep a core busy",
                describe(n.value),
                format_duration(min),
                format_duration(default)
            ),
        ));
    }
    Ok(d)
}

impl Loader<'_> {
    fn yaml_error(&self, e: &serde_yaml::Error) -> ConfigError {
        let mut msg = e.to_string();
        let mut what = "invalid YAML at";
        // A whole number beyond 64 bits is valid YAML that serde_yaml
        // cannot hold; say that instead of its internal type names.
        for wide in [
            "` as u128, expected any YAML value",
            "` as i128, expected any YAML value",
        ] {
            if let (Some(start), Some(end)) = (msg.find("invalid type: integer `"), msg.find(wide))
            {
                let number = &msg[start + "invalid type: integer `".len()..end];
                msg = format!(
                    "{}found {number}, a number too large for any setting (the largest is {})",
                    &msg[..start],
                    u64::MAX
                );
                what = "at";
                break;
            }
        }
        let reason = match e.location() {
            Some(loc) => {
                // libyaml's text repeats the position; keep ours only.
                let suffix = format!(" at line {} column {}", loc.line(), loc.column());
                let msg = msg.split(&suffix).collect::<Vec<_>>().join("");
                format!("{what} line {}, column {}: {msg}", loc.line(), loc.column())
            }
            None => format!("invalid YAML: {msg}"),
        };
        self.ctx.err("", reason)
    }

    pub(crate) fn warn(&mut self, msg: String) {
        self.warnings.push(msg);
    }

    /// `p` resolved against the config file's directory; its leading `..`
    /// and `.` are taken off that (canonical) directory, so that logs show
    /// `/srv/data/wal`, not `/srv/config/../data/wal`.
    fn resolve(&self, p: &str) -> PathBuf {
        let p = Path::new(p);
        if p.is_absolute() {
            return p.to_path_buf();
        }
        let mut base = self.base_dir.clone();
        let mut rest = p.components().peekable();
        while let Some(c) = rest.peek() {
            match c {
                std::path::Component::CurDir => {}
                std::path::Component::ParentDir if base.parent().is_some() => {
                    base.pop();
                }
                _ => break,
            }
            rest.next();
        }
        base.extend(rest);
        base
    }

    /// A non-empty path, resolved.
    pub(crate) fn path(&self, node: &Node) -> Result<PathBuf, ConfigError> {
        let s = self.ctx.string(node, "a file path")?;
        if s.trim().is_empty() {
            return Err(self.ctx.err(&node.path, "found \"\", expected a file path"));
        }
        Ok(self.resolve(&s))
    }

    fn config(mut self, root: &Value, file: &Path) -> Result<Config, ConfigError> {
        let root = Node::root(root);
        if root.is_null() {
            return Err(self.ctx.err(
                "",
                "the file is empty, expected a mapping with the sections sentinel, sender, buffer, http, logging and tasks (see config/config.example.yaml)",
            ));
        }
        if !matches!(root.value, Value::Mapping(_)) {
            return Err(self.ctx.err(
                "",
                format!(
                    "found {} at the top level, expected a mapping with the sections sentinel, sender, buffer, http, logging and tasks",
                    describe(root.value)
                ),
            ));
        }
        let top = self.ctx.table(&root, TOP_KEYS)?;
        for (section, why) in IGNORED_SECTIONS {
            if top.has(section) {
                self.warn(format!(
                    "{}: section `{section}` of the original Sentinel is ignored: {why}",
                    self.ctx.file
                ));
            }
        }
        let agent = self.agent(top.get("sentinel"))?;
        let sender = self.sender(top.get("sender"))?;
        let buffer = self.buffer(top.get("buffer"))?;
        let http = self.http(top.get("http"))?;
        let logging = self.logging(top.get("logging"))?;
        let tasks = self.tasks(top.get("tasks"))?;
        Ok(Config {
            file: file.to_path_buf(),
            agent,
            sender,
            buffer,
            http,
            logging,
            tasks,
            warnings: self.warnings,
        })
    }

    /// `node` as a table of `keys`; a missing or empty section is an
    /// empty table, so every key takes its default.
    fn section<'v>(
        &self,
        node: Option<&Node<'v>>,
        path: &str,
        keys: &[&str],
    ) -> Result<Table<'v>, ConfigError> {
        match node {
            Some(n) => self.ctx.table(n, keys),
            None => Ok(self.ctx.empty_table(path)),
        }
    }

    /// A `labels:` mapping: valid names, not the reserved ones.
    fn labels(&self, node: &Node) -> Result<Labels, ConfigError> {
        let mut labels = Labels::new();
        for (name, value) in self
            .ctx
            .entries(node, "a mapping of label names to values")?
        {
            if let Some((_, fix)) = RESERVED_LABELS.iter().find(|(r, _)| *r == name) {
                return Err(self.ctx.err(
                    &value.path,
                    format!("label `{name}` is reserved: sentinel sets it on every series ({fix}); choose another name"),
                ));
            }
            if !is_valid_label_name(&name) {
                return Err(self.ctx.err(
                    &value.path,
                    format!(
                        "found label name {name:?}, expected letters, digits and _, not starting with a digit or __ (like env or site_id)"
                    ),
                ));
            }
            let v = self.ctx.string(&value, "a label value (a string)")?;
            check_label_value(&self.ctx, &value, &v, "a label value")?;
            labels.insert(name, v);
        }
        Ok(labels)
    }

    fn sender(&mut self, node: Option<Node>) -> Result<SenderConfig, ConfigError> {
        let t = self.section(node.as_ref(), "sender", SENDER_KEYS)?;
        if let Some(n) = t.get("mode") {
            let mode = self.ctx.string(&n, "direct")?;
            match mode.trim().to_ascii_lowercase().as_str() {
                "direct" => {}
                m @ ("core" | "hybrid") => {
                    return Err(self.ctx.err(
                        &n.path,
                        format!(
                            "found {m:?}, expected direct: modes core and hybrid send through the original Sentinel's central server, which this agent does not have; use `mode: direct` with a backend under sender.direct (victoria_metrics, prometheus, ...)"
                        ),
                    ))
                }
                _ => {
                    return Err(self
                        .ctx
                        .err(&n.path, format!("found {mode:?}, expected direct")))
                }
            }
        }
        let flush_interval =
            self.positive_duration(&t, "flush_interval", DEFAULT_FLUSH_INTERVAL, MIN_TIMER)?;
        let batch_size = match t.get("batch_size") {
            Some(n) => self.ctx.uint(
                &n,
                1,
                MAX_BATCH_SIZE as u64,
                &format!("a whole number of samples from 1 to {MAX_BATCH_SIZE}"),
            )? as usize,
            None => DEFAULT_BATCH_SIZE,
        };
        let timeout = self.positive_duration(&t, "timeout", DEFAULT_SEND_TIMEOUT, ABOVE_ZERO)?;
        let retry = self.retry(t.get("retry"))?;
        let mut backends = Vec::new();
        if let Some(direct) = t.get("direct") {
            for (name, node) in self.ctx.entries(
                &direct,
                "a mapping of backend names (victoria_metrics, prometheus, ...) to their settings",
            )? {
                backends.push(self.backend(&name, &node, timeout)?);
            }
        }
        if !backends.iter().any(|b| b.enabled) {
            self.warn(format!(
                "{}: no enabled backend under sender.direct: samples are kept in the WAL and shown on /metrics but not shipped",
                self.ctx.file
            ));
        }
        Ok(SenderConfig {
            flush_interval,
            batch_size,
            timeout,
            retry,
            backends,
        })
    }

    /// `key` of `t` as a duration above zero, or `default`.
    /// A duration above zero (`min` is [`ABOVE_ZERO`]) or at least `min`:
    /// timers, intervals and backoffs shorter than that would only spin
    /// a core.
    fn positive_duration(
        &self,
        t: &Table,
        key: &str,
        default: Duration,
        min: Duration,
    ) -> Result<Duration, ConfigError> {
        match t.get(key) {
            Some(n) => duration_at_least(&self.ctx, &n, min, default),
            None => Ok(default),
        }
    }

    fn retry(&self, node: Option<Node>) -> Result<RetryConfig, ConfigError> {
        let t = self.section(node.as_ref(), "sender.retry", RETRY_KEYS)?;
        let min_backoff =
            self.positive_duration(&t, "min_backoff", DEFAULT_MIN_BACKOFF, MIN_BACKOFF)?;
        let max_backoff =
            self.positive_duration(&t, "max_backoff", DEFAULT_MAX_BACKOFF, MIN_BACKOFF)?;
        if min_backoff > max_backoff {
            let path = t
                .get("max_backoff")
                .or_else(|| t.get("min_backoff"))
                .map(|n| n.path)
                .unwrap_or_else(|| "sender.retry".into());
            return Err(self.ctx.err(
                &path,
                format!(
                    "found max_backoff {} below min_backoff {}, expected max_backoff >= min_backoff",
                    format_duration(max_backoff),
                    format_duration(min_backoff)
                ),
            ));
        }
        Ok(RetryConfig {
            min_backoff,
            max_backoff,
        })
    }

    /// `ca_file`: resolved against the config's directory and, when
    /// `check` (an enabled backend, a probe), readable now.
    pub(crate) fn ca_file(&self, t: &Table, check: bool) -> Result<Option<PathBuf>, ConfigError> {
        let Some(n) = t.get("ca_file") else {
            return Ok(None);
        };
        let p = self.path(&n)?;
        if check {
            if let Err(e) = std::fs::File::open(&p) {
                return Err(self.ctx.err(
                    &n.path,
                    format!(
                        "cannot read {}: {e}, expected a PEM file of CA certificates",
                        p.display()
                    ),
                ));
            }
        }
        Ok(Some(p))
    }

    fn backend(
        &mut self,
        name: &str,
        node: &Node,
        default_timeout: Duration,
    ) -> Result<BackendConfig, ConfigError> {
        if !is_backend_name(name) {
            return Err(self.ctx.err(
                &node.path,
                format!(
                    "found backend name {name:?}, expected lowercase letters, digits and _, starting with a letter, at most {MAX_NAME_LEN} long (like victoria_metrics or grafana_cloud)"
                ),
            ));
        }
        let t = if node.is_null() {
            self.ctx.empty_table(&node.path)
        } else {
            self.ctx.table(node, BACKEND_KEYS)?
        };
        let enabled = match t.get("enabled") {
            Some(n) => self.ctx.bool(&n)?,
            None => true,
        };
        let url = match t.get("url") {
            Some(n) => {
                let url = self.ctx.string(&n, "an http:// or https:// URL")?;
                let url = url.trim().to_string();
                if let Err(why) = check_url(&url) {
                    return Err(self.ctx.err(&n.path, why));
                }
                if let Some(why) = influx_path(&url) {
                    return Err(self.ctx.err(&n.path, why));
                }
                if enabled && url_path_is_empty(&url) {
                    self.warn(format!(
                        "{}: {}: {url:?} has no path; remote-write endpoints usually end in /api/v1/write",
                        self.ctx.file, n.path
                    ));
                }
                url
            }
            None if enabled => {
                return Err(self.ctx.err(
                    &join(&node.path, "url"),
                    format!(
                        "is missing, expected the remote-write URL of backend {name} (like http://127.0.0.1:8428/api/v1/write), or `enabled: false`"
                    ),
                ))
            }
            None => String::new(),
        };
        let username = match t.get("username") {
            Some(n) => Some(self.ctx.string(&n, "a user name")?),
            None => None,
        };
        let password = self.secret(&t, "password", "password_file", enabled)?;
        let bearer_token = self.secret(&t, "bearer_token", "bearer_token_file", enabled)?;
        if bearer_token.is_some() && (username.is_some() || password.is_some()) {
            return Err(self.ctx.err(
                &t.path,
                "found both basic auth (username/password) and a bearer token, expected one of them",
            ));
        }
        basic_auth_pair(&self.ctx, &t, &username, &password)?;
        let auth_set = password.is_some() || bearer_token.is_some();
        let headers = match t.get("headers") {
            Some(n) => self.headers(&n, auth_set)?,
            None => Vec::new(),
        };
        let timeout = self.positive_duration(&t, "timeout", default_timeout, ABOVE_ZERO)?;
        let ca_file = self.ca_file(&t, enabled)?;
        let insecure_skip_verify = match t.get("insecure_skip_verify") {
            Some(n) => self.ctx.bool(&n)?,
            None => false,
        };
        if insecure_skip_verify && enabled {
            self.warn(format!(
                "{}: {}.insecure_skip_verify is true: the TLS certificate of backend {name} is not checked, so anyone on the path can read and change the data; prefer ca_file",
                self.ctx.file, t.path
            ));
        }
        // Samples older than this are not sent to this backend (it would
        // refuse them); 0 or unset sends everything.
        let max_sample_age = match t.get("max_sample_age") {
            Some(n) => {
                let d = self.ctx.duration(&n)?;
                (!d.is_zero()).then_some(d)
            }
            None => None,
        };
        // Requests in flight at once. 1 keeps every series in timestamp
        // order, which Prometheus needs unless its out-of-order window is
        // set; VictoriaMetrics takes any order.
        let concurrency = match t.get("concurrency") {
            Some(n) => self.ctx.uint(
                &n,
                1,
                MAX_CONCURRENCY as u64,
                &format!("a whole number of requests in flight from 1 to {MAX_CONCURRENCY}"),
            )? as usize,
            None => DEFAULT_CONCURRENCY,
        };
        // Which end of a backlog goes first (see `Backfill`'s doc for the
        // default).
        let backfill = match t.get("backfill") {
            Some(n) => match self.ctx.choice(&n, &["in_order", "newest_first"])? {
                "newest_first" => Backfill::NewestFirst,
                _ => Backfill::InOrder,
            },
            None => Backfill::default(),
        };
        // A bandwidth cap in bytes per second ("64KiB" or a number); 0 or
        // unset: none.
        let max_bytes_per_second = match t.get("max_bytes_per_second") {
            Some(n) => {
                let v = self.ctx.size(&n)?;
                if v != 0 && v < MIN_BYTES_PER_SECOND {
                    return Err(self.ctx.err(
                        &n.path,
                        format!(
                            "found {v} bytes per second, expected at least {MIN_BYTES_PER_SECOND} (1KiB), or 0 for no cap"
                        ),
                    ));
                }
                (v != 0).then_some(v)
            }
            None => None,
        };
        Ok(BackendConfig {
            id: BackendId(name.to_string()),
            enabled,
            url,
            username,
            password,
            bearer_token,
            headers,
            timeout,
            ca_pem: ca_file
                .as_ref()
                .filter(|_| enabled)
                .and_then(|p| std::fs::read(p).ok()),
            ca_file,
            insecure_skip_verify,
            max_sample_age,
            concurrency,
            backfill,
            max_bytes_per_second,
        })
    }

    /// `key` or `file_key` (not both); the file is read, trimmed, only for
    /// an enabled backend (a disabled one may name a file this host lacks).
    pub(crate) fn secret(
        &self,
        t: &Table,
        key: &str,
        file_key: &str,
        enabled: bool,
    ) -> Result<Option<Secret>, ConfigError> {
        match (t.get(key), t.get(file_key)) {
            (Some(_), Some(f)) => Err(self.ctx.err(
                &f.path,
                format!("found both {key} and {file_key}, expected one of them"),
            )),
            (Some(n), None) => {
                let s = self.ctx.string(&n, "a string")?;
                Ok(Some(Secret(s)))
            }
            (None, Some(f)) => {
                let p = self.path(&f)?;
                if !enabled {
                    return Ok(None);
                }
                let text = std::fs::read_to_string(&p).map_err(|e| {
                    self.ctx
                        .err(&f.path, format!("cannot read {}: {e}", p.display()))
                })?;
                let text = text.trim();
                if text.is_empty() {
                    return Err(self.ctx.err(
                        &f.path,
                        format!("{} is empty, expected the {key} in it", p.display()),
                    ));
                }
                Ok(Some(Secret(text.to_string())))
            }
            (None, None) => Ok(None),
        }
    }

    fn headers(&self, node: &Node, auth_set: bool) -> Result<Vec<(String, String)>, ConfigError> {
        read_headers(&self.ctx, node, "X-Scope-OrgID", |name| {
            let lower = name.to_ascii_lowercase();
            if PROTOCOL_HEADERS.contains(&lower.as_str()) {
                return Some(format!("header {name} is set by sentinel for the remote-write protocol and cannot be overridden"));
            }
            (lower == "authorization" && auth_set).then(|| {
                "found an Authorization header and username/password or bearer_token, expected only one way to authenticate".to_string()
            })
        })
    }
}

/// `username` and `password` (or `password_file`) of table `t`: both or
/// neither.
pub(crate) fn basic_auth_pair(
    ctx: &Ctx,
    t: &Table,
    username: &Option<String>,
    password: &Option<Secret>,
) -> Result<(), ConfigError> {
    match (username, password) {
        (Some(_), None) => Err(ctx.err(
            &join(&t.path, "password"),
            "is missing: username needs password or password_file for basic auth",
        )),
        (None, Some(_)) => {
            let key = if t.has("password") {
                "password"
            } else {
                "password_file"
            };
            Err(ctx.err(
                &join(&t.path, key),
                "is set without username, expected username with it for basic auth",
            ))
        }
        _ => Ok(()),
    }
}

/// A mapping of request headers (a backend's, an http or scrape task's):
/// names of token characters (a message names `example`), each once
/// whatever its case, values on one line. `refuse` may turn a name down
/// with its reason.
pub(crate) fn read_headers(
    ctx: &Ctx,
    node: &Node,
    example: &str,
    refuse: impl Fn(&str) -> Option<String>,
) -> Result<Vec<(String, String)>, ConfigError> {
    let mut out: Vec<(String, String)> = Vec::new();
    for (name, value) in ctx.entries(node, "a mapping of header names to values")? {
        if name.is_empty() || !name.bytes().all(is_header_char) {
            return Err(ctx.err(
                &value.path,
                format!("found header name {name:?}, expected letters, digits and !#$%&'*+-.^_`|~ (like {example})"),
            ));
        }
        if let Some(why) = refuse(&name) {
            return Err(ctx.err(&value.path, why));
        }
        if let Some((prev, _)) = out.iter().find(|(n, _)| n.eq_ignore_ascii_case(&name)) {
            return Err(ctx.err(
                &value.path,
                format!("header {name} is already set as {prev} (header names ignore case)"),
            ));
        }
        let v = ctx.string(&value, "a header value (a string)")?;
        // The value is not echoed: it may be a credential.
        if v.chars().any(|c| c.is_control() && c != '\t') {
            return Err(ctx.err(
                &value.path,
                "the value contains a control character (a line break?), expected a single line of text",
            ));
        }
        out.push((name, v));
    }
    Ok(out)
}

/// Label values (agent name, device id, labels): non-empty is not
/// required (an empty value drops the label), but no control characters.
fn check_label_value(ctx: &Ctx, node: &Node, v: &str, what: &str) -> Result<(), ConfigError> {
    if v.chars().any(char::is_control) {
        return Err(ctx.err(
            &node.path,
            format!("found {v:?}, expected {what} without control characters"),
        ));
    }
    if v.len() > MAX_LABEL_VALUE_LEN {
        return Err(ctx.err(
            &node.path,
            format!(
                "found a value of {} bytes, expected {what} of at most {MAX_LABEL_VALUE_LEN} bytes",
                v.len()
            ),
        ));
    }
    Ok(())
}

/// `[a-z][a-z0-9_]*`, at most `MAX_NAME_LEN`: backend names end up as the
/// `backend` label value, in WAL cursor names and in file names.
pub fn is_backend_name(name: &str) -> bool {
    name.len() <= MAX_NAME_LEN
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// An HTTP token character (RFC 9110 `tchar`).
pub(crate) fn is_header_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// The part of `url` after the scheme: authority and the rest.
pub(crate) fn split_url(url: &str) -> Option<(&str, &str)> {
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    let rest = if lower.starts_with("https://") {
        &url[8..]
    } else if lower.starts_with("http://") {
        &url[7..]
    } else {
        return None;
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    Some(rest.split_at(end))
}

/// Why a backend URL is an InfluxDB write endpoint, not remote write:
/// VictoriaMetrics answers a remote-write body there with 204 and stores
/// nothing, so every sample would be lost while the agent counts it sent.
fn influx_path(url: &str) -> Option<String> {
    let (_, rest) = split_url(url)?;
    let path = rest.split(['?', '#']).next().unwrap_or("");
    (path.ends_with("/api/v2/write") || path.contains("/influx/")).then(|| {
        format!(
            "found {url:?}, an InfluxDB write endpoint, which takes a remote-write body and stores nothing; expected a Prometheus remote-write path such as /api/v1/write"
        )
    })
}

/// Checks a backend URL; the error is the whole reason.
pub(crate) fn check_url(url: &str) -> Result<(), String> {
    let Some((authority, _)) = split_url(url) else {
        return Err(format!(
            "found {url:?}, expected an http:// or https:// URL like http://127.0.0.1:8428/api/v1/write"
        ));
    };
    if authority.contains('@') {
        return Err(
            "the URL holds credentials (user:password@), which would show in logs; use username and password (or password_file) instead"
                .into(),
        );
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("found {url:?}, expected a URL without spaces"));
    }
    let host_ok = if let Some(v6) = authority.strip_prefix('[') {
        match v6.split_once(']') {
            Some((_, "")) => true,
            Some((_, port)) => port
                .strip_prefix(':')
                .is_some_and(|p| p.parse::<u16>().is_ok()),
            None => false,
        }
    } else {
        match authority.split_once(':') {
            Some((h, p)) => !h.is_empty() && p.parse::<u16>().is_ok(),
            None => !authority.is_empty(),
        }
    };
    if !host_ok {
        return Err(format!(
            "found {url:?}, expected a URL with a host and an optional port, like http://127.0.0.1:8428/api/v1/write"
        ));
    }
    Ok(())
}

fn url_path_is_empty(url: &str) -> bool {
    split_url(url).is_some_and(|(_, rest)| rest.is_empty() || rest == "/")
}
