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

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_yaml::Value;

use super::node::{describe, join, nearest, Ctx, EnvLookup, Node, Table};
use super::units::{format_duration, format_size};
use super::*;
use crate::sample::{is_valid_label_name, BackendId, Labels, TaskId};

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
/// The shortest `buffer.sync_interval`.
const MIN_SYNC_INTERVAL: Duration = Duration::from_millis(10);
/// The shortest `sentinel.self_metrics_interval` (0 turns it off).
const MIN_SELF_METRICS_INTERVAL: Duration = Duration::from_secs(1);
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

    fn agent(&mut self, node: Option<Node>) -> Result<AgentConfig, ConfigError> {
        let t = self.section(node.as_ref(), "sentinel", SENTINEL_KEYS)?;
        let name = match t.get("name") {
            Some(n) => {
                let s = self.ctx.string(&n, "the agent's name")?.trim().to_string();
                if s.is_empty() {
                    return Err(self.ctx.err(
                        &n.path,
                        "found \"\", expected the agent's name (leave the key out to use the host name)",
                    ));
                }
                check_label_value(&self.ctx, &n, &s, "the agent's name")?;
                s
            }
            None => match default_agent_name() {
                Some(h) => h,
                None => {
                    self.warn(format!(
                        "{}: sentinel.name is not set and the host name cannot be read; using {DEFAULT_AGENT_NAME:?}",
                        self.ctx.file
                    ));
                    DEFAULT_AGENT_NAME.to_string()
                }
            },
        };
        let region = match t.get("region") {
            Some(n) => self.ctx.string(&n, "a region name")?,
            None => String::new(),
        };
        let labels = match t.get("labels") {
            Some(n) => self.labels(&n)?,
            None => Labels::new(),
        };
        // The agent's own sentinel_* series go into the WAL this often;
        // 0 turns it off.
        let self_metrics_interval = match t.get("self_metrics_interval") {
            Some(n) if self.ctx.duration(&n)?.is_zero() => None,
            Some(n) => Some(duration_at_least(
                &self.ctx,
                &n,
                MIN_SELF_METRICS_INTERVAL,
                DEFAULT_SELF_METRICS_INTERVAL,
            )?),
            None => Some(DEFAULT_SELF_METRICS_INTERVAL),
        };
        Ok(AgentConfig {
            name,
            region,
            labels,
            self_metrics_interval,
        })
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
        let basic_path = || {
            join(
                &t.path,
                if t.has("password") {
                    "password"
                } else {
                    "password_file"
                },
            )
        };
        match (&username, &password, &bearer_token) {
            (Some(_), Some(_), Some(_)) | (None, Some(_), Some(_)) | (Some(_), None, Some(_)) => {
                return Err(self.ctx.err(
                    &t.path,
                    "found both basic auth (username/password) and a bearer token, expected one of them",
                ))
            }
            (Some(_), None, None) => {
                return Err(self.ctx.err(
                    &join(&t.path, "password"),
                    "is missing: username needs password or password_file for basic auth",
                ))
            }
            (None, Some(_), None) => {
                return Err(self.ctx.err(
                    &basic_path(),
                    "is set without username, expected username with it for basic auth",
                ))
            }
            _ => {}
        }
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
        let mut out: Vec<(String, String)> = Vec::new();
        for (name, value) in self
            .ctx
            .entries(node, "a mapping of header names to values")?
        {
            if name.is_empty() || !name.bytes().all(is_header_char) {
                return Err(self.ctx.err(
                    &value.path,
                    format!("found header name {name:?}, expected letters, digits and !#$%&'*+-.^_`|~ (like X-Scope-OrgID)"),
                ));
            }
            let lower = name.to_ascii_lowercase();
            if PROTOCOL_HEADERS.contains(&lower.as_str()) {
                return Err(self.ctx.err(
                    &value.path,
                    format!("header {name} is set by sentinel for the remote-write protocol and cannot be overridden"),
                ));
            }
            if lower == "authorization" && auth_set {
                return Err(self.ctx.err(
                    &value.path,
                    "found an Authorization header and username/password or bearer_token, expected only one way to authenticate",
                ));
            }
            if let Some((prev, _)) = out.iter().find(|(n, _)| n.eq_ignore_ascii_case(&name)) {
                return Err(self.ctx.err(
                    &value.path,
                    format!("header {name} is already set as {prev} (header names ignore case)"),
                ));
            }
            let v = self.ctx.string(&value, "a header value (a string)")?;
            // The value is not echoed: it may be a credential.
            if v.chars().any(|c| c.is_control() && c != '\t') {
                return Err(self.ctx.err(
                    &value.path,
                    "the value contains a control character (a line break?), expected a single line of text",
                ));
            }
            out.push((name, v));
        }
        Ok(out)
    }

    fn buffer(&self, node: Option<Node>) -> Result<BufferConfig, ConfigError> {
        let t = self.section(node.as_ref(), "buffer", BUFFER_KEYS)?;
        let path = match t.get("path") {
            Some(n) => {
                let p = self.path(&n)?;
                // Missing is fine (created at start); a file is not.
                if p.exists() && !p.is_dir() {
                    return Err(self.ctx.err(
                        &n.path,
                        format!(
                            "found {}, which is a file; expected a directory for the WAL (it is created when missing)",
                            p.display()
                        ),
                    ));
                }
                p
            }
            None => default_buffer_path(self.ctx.env),
        };
        let max_size = match t.get("max_size") {
            Some(n) => {
                let v = self.ctx.size(&n)?;
                if v < MIN_BUFFER_SIZE {
                    return Err(self.ctx.err(
                        &n.path,
                        format!(
                            "found {} ({v} bytes), expected at least {} (the WAL needs room for its own files)",
                            describe(n.value),
                            format_size(MIN_BUFFER_SIZE)
                        ),
                    ));
                }
                v
            }
            None => DEFAULT_BUFFER_SIZE,
        };
        let max_age =
            self.positive_duration(&t, "max_age", DEFAULT_MAX_AGE, Duration::from_secs(1))?;
        let sync = match t.get("sync") {
            Some(n) => match self.ctx.choice(&n, &["always", "interval"])? {
                "always" => SyncMode::Always,
                _ => SyncMode::Interval,
            },
            None => SyncMode::Interval,
        };
        let sync_interval = self.positive_duration(
            &t,
            "sync_interval",
            DEFAULT_SYNC_INTERVAL,
            MIN_SYNC_INTERVAL,
        )?;
        let cache_size = match t.get("cache_size") {
            Some(n) => {
                let v = self.ctx.size(&n)?;
                if v < MIN_CACHE_SIZE {
                    return Err(self.ctx.err(
                        &n.path,
                        format!(
                            "found {} ({v} bytes), expected at least {}",
                            describe(n.value),
                            format_size(MIN_CACHE_SIZE)
                        ),
                    ));
                }
                v
            }
            None => DEFAULT_CACHE_SIZE,
        };
        Ok(BufferConfig {
            path,
            max_size,
            max_age,
            sync,
            sync_interval,
            cache_size,
        })
    }

    fn http(&self, node: Option<Node>) -> Result<HttpConfig, ConfigError> {
        let t = self.section(node.as_ref(), "http", HTTP_KEYS)?;
        let enabled = match t.get("enabled") {
            Some(n) => self.ctx.bool(&n)?,
            None => true,
        };
        let listen = match t.get("listen") {
            Some(n) => {
                let s = self.ctx.string(&n, "host:port")?.trim().to_string();
                if let Err(why) = check_listen(&s) {
                    return Err(self.ctx.err(&n.path, why));
                }
                s
            }
            None => DEFAULT_LISTEN.to_string(),
        };
        Ok(HttpConfig { enabled, listen })
    }

    fn logging(&self, node: Option<Node>) -> Result<LoggingConfig, ConfigError> {
        let t = self.section(node.as_ref(), "logging", LOGGING_KEYS)?;
        let level = match t.get("level") {
            Some(n) => match self
                .ctx
                .choice(&n, &["error", "warn", "info", "debug", "trace"])?
            {
                "error" => log::LevelFilter::Error,
                "warn" => log::LevelFilter::Warn,
                "info" => log::LevelFilter::Info,
                "debug" => log::LevelFilter::Debug,
                _ => log::LevelFilter::Trace,
            },
            None => log::LevelFilter::Info,
        };
        let format = match t.get("format") {
            Some(n) => match self.ctx.choice(&n, &["auto", "json", "text"])? {
                "auto" => LogFormat::Auto,
                "json" => LogFormat::Json,
                _ => LogFormat::Text,
            },
            None => LogFormat::Auto,
        };
        let output = match t.get("output") {
            Some(n) => match self.ctx.choice(&n, &["stdout", "file"])? {
                "stdout" => LogOutput::Stdout,
                _ => LogOutput::File,
            },
            None => LogOutput::Stdout,
        };
        let file_path = match t.get("file_path") {
            Some(n) => self.path(&n)?,
            None => PathBuf::from(DEFAULT_LOG_FILE),
        };
        Ok(LoggingConfig {
            level,
            format,
            output,
            file_path,
        })
    }

    fn tasks(&mut self, node: Option<Node>) -> Result<Vec<TaskConfig>, ConfigError> {
        let items = match &node {
            Some(n) => self
                .ctx
                .seq(n, "a list of tasks (each item starting with `- id:`)")?,
            None => Vec::new(),
        };
        let mut tasks: Vec<TaskConfig> = Vec::with_capacity(items.len());
        let mut seen: HashMap<String, usize> = HashMap::new();
        for (i, item) in items.iter().enumerate() {
            let task = self.task(item)?;
            if let Some(first) = seen.get(task.id.as_str()) {
                return Err(self.ctx.err(
                    &join(&item.path, "id"),
                    format!(
                        "found {:?}, already the id of tasks[{first}], expected a unique task id",
                        task.id.as_str()
                    ),
                ));
            }
            seen.insert(task.id.0.clone(), i);
            tasks.push(task);
        }
        if !tasks.iter().any(|t| t.enabled) {
            self.warn(format!(
                "{}: no enabled task under tasks: the agent probes nothing",
                self.ctx.file
            ));
        }
        Ok(tasks)
    }

    fn task(&mut self, node: &Node) -> Result<TaskConfig, ConfigError> {
        let t = self.ctx.table(node, TASK_KEYS)?;
        let id_node = t.get("id").ok_or_else(|| {
            self.ctx.err(
                &join(&node.path, "id"),
                "is missing, expected a task id like ping-gateway",
            )
        })?;
        let id = self.ctx.string(&id_node, "a task id like ping-gateway")?;
        if !is_task_id(&id) {
            return Err(self.ctx.err(
                &id_node.path,
                format!(
                    "found {id:?}, expected a task id of 1 to {MAX_NAME_LEN} bytes without control characters or surrounding spaces (like ping-gateway)"
                ),
            ));
        }
        let device_id = match t.get("device_id") {
            Some(n) => {
                let d = self
                    .ctx
                    .string(&n, "a device id (a string)")?
                    .trim()
                    .to_string();
                if d.is_empty() {
                    return Err(self.ctx.err(
                        &n.path,
                        "found \"\", expected a device id (leave the key out to use the task id)",
                    ));
                }
                check_label_value(&self.ctx, &n, &d, "a device id")?;
                d
            }
            None => id.clone(),
        };
        let plugin_node = t.get("plugin").ok_or_else(|| {
            self.ctx.err(
                &join(&node.path, "plugin"),
                format!("is missing, expected one of: {}", plugin_names()),
            )
        })?;
        let plugin_name = self.ctx.string(&plugin_node, "a plugin name")?;
        let Some(entry) = crate::probe::plugin(&plugin_name.trim().to_ascii_lowercase()) else {
            let names: Vec<&str> = crate::probe::PLUGINS.iter().map(|p| p.name).collect();
            let hint = match nearest(&plugin_name, &names) {
                Some(n) => format!("; did you mean `{n}`?"),
                None => ",".to_string(),
            };
            return Err(self.ctx.err(
                &plugin_node.path,
                format!(
                    "found unknown plugin {plugin_name:?}{hint} expected one of: {} (`sentinel list-plugins` shows them)",
                    plugin_names()
                ),
            ));
        };
        let interval =
            self.positive_duration(&t, "interval", DEFAULT_TASK_INTERVAL, MIN_TASK_INTERVAL)?;
        let timeout = match t.get("timeout") {
            Some(n) => {
                let d = self.positive_duration(&t, "timeout", interval, ABOVE_ZERO)?;
                if d > interval {
                    return Err(self.ctx.err(
                        &n.path,
                        format!(
                            "found {}, longer than the task's interval {}, expected at most the interval (a run must end before the next starts)",
                            format_duration(d),
                            format_duration(interval)
                        ),
                    ));
                }
                d
            }
            None => interval,
        };
        let enabled = match t.get("enabled") {
            Some(n) => self.ctx.bool(&n)?,
            None => true,
        };
        let labels = match t.get("labels") {
            Some(n) => self.labels(&n)?,
            None => Labels::new(),
        };
        let config_path = join(&node.path, "config");
        let plugin = (entry.read)(self, t.get("config").as_ref(), &config_path, timeout)?;
        let run = plugin.max_run_time();
        if run > timeout {
            let which = if t.has("timeout") {
                "timeout"
            } else {
                "timeout (default: the interval)"
            };
            let how = plugin.run_time_terms();
            return Err(self.ctx.err(
                &config_path,
                format!(
                    "one {} run can take up to {} ({how}), longer than the task's {which} {}; lower the values under config, or raise the task's timeout (and interval)",
                    plugin.name(),
                    format_duration(run),
                    format_duration(timeout)
                ),
            ));
        }
        Ok(TaskConfig {
            id: TaskId(id),
            device_id,
            interval,
            timeout,
            enabled,
            labels,
            plugin,
        })
    }
}

fn plugin_names() -> String {
    crate::probe::PLUGINS
        .iter()
        .map(|p| p.name)
        .collect::<Vec<_>>()
        .join(", ")
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

/// A task id is the `task_id` label value and appears in logs and on the
/// status page (escaped there): any text of 1 to `MAX_NAME_LEN` bytes
/// without control characters or surrounding spaces.
pub fn is_task_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_NAME_LEN
        && id.trim() == id
        && !id.chars().any(char::is_control)
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

/// Checks `http.listen`; the error is the whole reason.
fn check_listen(s: &str) -> Result<(), String> {
    if s.parse::<SocketAddr>().is_ok() {
        return Ok(());
    }
    if let Some(port) = s.strip_prefix(':') {
        return Err(format!(
            "found {s:?}, expected host:port; write 0.0.0.0:{port} to listen on every interface, or 127.0.0.1:{port} for this host only"
        ));
    }
    match s.rsplit_once(':') {
        Some((host, port))
            if !host.is_empty()
                && !host.contains(':')
                && !host.chars().any(char::is_whitespace)
                && port.parse::<u16>().is_ok() =>
        {
            Ok(())
        }
        _ => Err(format!(
            "found {s:?}, expected host:port like {DEFAULT_LISTEN} (IPv6: [::1]:9851)"
        )),
    }
}

/// `$STATE_DIRECTORY/wal` (the first directory when systemd lists
/// several), else `DEFAULT_STATE_DIR/wal`.
fn default_buffer_path(env: EnvLookup) -> PathBuf {
    let state = env("STATE_DIRECTORY")
        .and_then(|s| s.split(':').next().map(str::to_string))
        .filter(|s| !s.is_empty());
    let dir = state.unwrap_or_else(|| DEFAULT_STATE_DIR.to_string());
    Path::new(&dir).join("wal")
}

/// The host name, the default `sentinel.name`.
pub fn default_agent_name() -> Option<String> {
    if let Ok(s) = std::fs::read_to_string("/proc/sys/kernel/hostname") {
        let s = s.trim();
        if !s.is_empty() {
            return Some(s.to_string());
        }
    }
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname writes at
    // most that many bytes and we stop at the first NUL.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return None;
    }
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    let s = String::from_utf8_lossy(&buf[..end]).trim().to_string();
    (!s.is_empty()).then_some(s)
}
