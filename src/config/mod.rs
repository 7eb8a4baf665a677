//! Configuration: the YAML file (`RawConfig`, a serde mirror of it) turned
//! into a typed, validated `Config`. Nothing outside this module sees a raw
//! string where a duration, size or label set is meant.
//!
//! `load` reads a file and `parse` validates text; both return the first
//! problem as a `ConfigError` naming the file, the path
//! (`tasks[1].config.count`), what was found and what is allowed.
//!
//! # Layout
//!
//! - `node.rs`: the low level, a walker over the parsed YAML that tracks
//!   the path, rejects unknown keys with a "did you mean" and reads typed
//!   scalars (the part a serde `RawConfig` would play).
//! - `build/` (`mod.rs`: the loader, shared helpers and `sender`; one file
//!   per other section): the high level, one function per section,
//!   defaults and validation, producing the types below. A task's `config`
//!   is read by its plugin (`probe/<name>/config.rs`, found in
//!   `probe::PLUGINS`).
//! - `plugin.rs`: reading helpers the plugins' readers share, and the
//!   validators `trigger` applies to its arguments.
//! - `expand.rs`: `${VAR}` / `${VAR:-default}` / `$$` in string values.
//! - `units.rs`: durations and sizes.
//!
//! `config/config.example.yaml` documents every key with its default; the
//! defaults are the `DEFAULT_*` consts here.

mod build;
mod expand;
mod node;
pub(crate) mod plugin;
#[cfg(test)]
mod tests;
pub mod units;

pub(crate) use build::is_header_char;
pub use build::{default_agent_name, is_backend_name, is_task_id};

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::probe::PluginConfig;
use crate::sample::{BackendId, Labels, TaskId};

/// Where an installed agent keeps its state when `buffer.path` is not set.
/// systemd's `StateDirectory=` exports `$STATE_DIRECTORY`; it wins when set.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/sentinel";

/// `sentinel.name` when it is not set and the host name cannot be read.
pub const DEFAULT_AGENT_NAME: &str = "sentinel";
/// `sender.flush_interval`: how often a small backlog is sent.
pub const DEFAULT_FLUSH_INTERVAL: Duration = Duration::from_secs(10);
/// `sender.batch_size`: samples per remote-write request.
pub const DEFAULT_BATCH_SIZE: usize = 1000;
/// The largest `sender.batch_size` accepted.
pub const MAX_BATCH_SIZE: usize = 1_000_000;
/// `sender.direct.<name>.concurrency`: requests in flight per backend. 1
/// keeps every series in timestamp order (Prometheus refuses older samples
/// of a series unless its out-of-order window is set).
pub const DEFAULT_CONCURRENCY: usize = 1;
/// The largest `concurrency` accepted.
pub const MAX_CONCURRENCY: usize = 16;
/// The smallest `max_bytes_per_second` accepted: below it one request of
/// a few samples would take longer than a flush interval.
pub const MIN_BYTES_PER_SECOND: u64 = 1024;
/// `sender.timeout`: request timeout of backends without their own.
pub const DEFAULT_SEND_TIMEOUT: Duration = Duration::from_secs(30);
/// `sender.retry.min_backoff`: first wait after a failed request.
pub const DEFAULT_MIN_BACKOFF: Duration = Duration::from_secs(1);
/// `sender.retry.max_backoff`: the longest wait between retries.
pub const DEFAULT_MAX_BACKOFF: Duration = Duration::from_secs(5 * 60);
/// `buffer.max_size`: the WAL's disk cap.
pub const DEFAULT_BUFFER_SIZE: u64 = 256 << 20;
/// The smallest `buffer.max_size` accepted: sled needs room for its own
/// files before the first sample.
pub const MIN_BUFFER_SIZE: u64 = 1 << 20;
/// `buffer.max_age`: samples older than this are dropped unsent.
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(7 * 24 * 3600);
/// `buffer.sync_interval`: fsync period with `sync: interval`.
pub const DEFAULT_SYNC_INTERVAL: Duration = Duration::from_secs(1);
/// `buffer.cache_size`: sled's page cache, sized for a router.
pub const DEFAULT_CACHE_SIZE: u64 = 4 << 20;
/// The smallest `buffer.cache_size` accepted.
pub const MIN_CACHE_SIZE: u64 = 64 << 10;
/// `http.listen`: loopback only, so /metrics is not exposed by accident.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9851";
/// `logging.file_path`, used with `logging.output: file`.
pub const DEFAULT_LOG_FILE: &str = "/var/log/sentinel/sentinel.log";
/// `tasks[].interval`.
pub const DEFAULT_TASK_INTERVAL: Duration = Duration::from_secs(60);
/// The shortest `tasks[].interval`: below it a task only counts skipped
/// runs (`interval: 1ns` kept a core busy doing that).
pub const MIN_TASK_INTERVAL: Duration = Duration::from_millis(100);
/// Default `timeout` of the tcp, http, dns, exec and scrape plugins (capped
/// at the task's timeout).
pub const DEFAULT_PROBE_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest task id and backend name.
pub const MAX_NAME_LEN: usize = 128;
/// Longest label value (agent name, device id, labels) accepted.
pub const MAX_LABEL_VALUE_LEN: usize = 1024;

/// Labels sentinel sets itself on every series, which `sentinel.labels`
/// and `tasks[].labels` may not use, with where to set them instead. An
/// error rather than a warning: whichever value won, the other would be
/// silently lost.
pub const RESERVED_LABELS: &[(&str, &str)] = &[
    ("device_id", "set it with tasks[].device_id"),
    ("task_id", "it is the task's id"),
    ("sentinel", "set it with sentinel.name"),
    ("region", "set it with sentinel.region"),
    ("host", "the plugin sets it from its config.host"),
];

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it was loaded from, for messages and for reload.
    pub file: PathBuf,
    pub agent: AgentConfig,
    pub sender: SenderConfig,
    pub buffer: BufferConfig,
    pub http: HttpConfig,
    pub logging: LoggingConfig,
    /// Every task in file order, enabled or not.
    pub tasks: Vec<TaskConfig>,
    /// Warnings found while loading (ignored sections of the original
    /// Sentinel, sanitised names, `insecure_skip_verify`): logged once the
    /// logger is up, printed by `check`.
    pub warnings: Vec<String>,
}

/// `sentinel:` — who this agent is; its labels go on every series.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentConfig {
    /// `sentinel.name`, default the host name; sent as label `sentinel`.
    pub name: String,
    /// `sentinel.region`; sent as label `region` when not empty.
    pub region: String,
    /// `sentinel.labels`, validated names.
    pub labels: Labels,
    /// `sentinel.self_metrics_interval`: how often the agent records its
    /// own `sentinel_*` metrics into the WAL (fleet view); `None` is off.
    pub self_metrics_interval: Option<Duration>,
}

/// Default of `sentinel.self_metrics_interval`.
pub const DEFAULT_SELF_METRICS_INTERVAL: Duration = Duration::from_secs(60);

/// `sender:` — how the WAL is shipped.
#[derive(Debug, Clone)]
pub struct SenderConfig {
    pub flush_interval: Duration,
    /// Samples per request; a backlog of at least this many is sent back to back.
    pub batch_size: usize,
    /// Default request timeout for backends that do not set their own.
    pub timeout: Duration,
    pub retry: RetryConfig,
    /// Every backend under `sender.direct`, in file order, enabled or not.
    pub backends: Vec<BackendConfig>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RetryConfig {
    pub min_backoff: Duration,
    pub max_backoff: Duration,
}

/// A string that must never reach a log line or `check` output.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("\"***\"")
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// One remote-write backend: `sender.direct.<name>`. Compared by value
/// (secrets included) to find what a reload changed.
#[derive(Debug, Clone, PartialEq)]
pub struct BackendConfig {
    pub id: BackendId,
    pub enabled: bool,
    /// The remote-write URL (required when enabled), `http://` or `https://`.
    pub url: String,
    pub username: Option<String>,
    /// From `password` or `password_file`.
    pub password: Option<Secret>,
    /// From `bearer_token` or `bearer_token_file`.
    pub bearer_token: Option<Secret>,
    /// Extra request headers, e.g. `X-Scope-OrgID`, in file order.
    pub headers: Vec<(String, String)>,
    pub timeout: Duration,
    /// A PEM file of CA certificates to trust for https.
    pub ca_file: Option<PathBuf>,
    /// What `ca_file` held when the config was loaded (enabled backends),
    /// so that a reload sees a changed certificate under the same name.
    pub ca_pem: Option<Vec<u8>>,
    pub insecure_skip_verify: bool,
    /// Samples older than this are skipped for this backend and counted as
    /// `too_old` (like Prometheus' `sample_age_limit`); `None` sends all.
    pub max_sample_age: Option<Duration>,
    /// Requests in flight to this backend at once (1 keeps per-series
    /// order, as Prometheus needs by default).
    pub concurrency: usize,
    /// Which end of a backlog goes first after an outage.
    pub backfill: Backfill,
    /// Wire bytes per second (bodies and headers) to this backend;
    /// `None`: no cap.
    pub max_bytes_per_second: Option<u64>,
}

/// `sender.direct.<name>.backfill`: the order a backlog is sent in.
///
/// The default is `in_order`: Prometheus refuses samples older than the
/// newest of their series unless its `out_of_order_time_window` is set,
/// so sending the present first would make it refuse (and Sentinel drop,
/// counted as `out_of_order`) the whole backlog. `newest_first` is for
/// VictoriaMetrics (any order) and for Prometheus with the window set.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Backfill {
    /// Oldest first, strictly in WAL order (per-series timestamp order).
    #[default]
    InOrder,
    /// The newest samples first after an outage, the backlog behind them.
    NewestFirst,
}

impl Backfill {
    pub fn as_str(self) -> &'static str {
        match self {
            Backfill::InOrder => "in_order",
            Backfill::NewestFirst => "newest_first",
        }
    }
}

/// `buffer:` — the write-ahead log.
#[derive(Debug, Clone, PartialEq)]
pub struct BufferConfig {
    pub path: PathBuf,
    /// Bytes; the oldest records are dropped past it.
    pub max_size: u64,
    /// Records older than this are dropped.
    pub max_age: Duration,
    pub sync: SyncMode,
    pub sync_interval: Duration,
    /// sled page cache, bytes.
    pub cache_size: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncMode {
    /// fsync before `Append` returns.
    Always,
    /// fsync every `sync_interval`.
    Interval,
}

/// `http:` — the /metrics and /healthz listener.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpConfig {
    pub enabled: bool,
    /// `host:port`, loopback by default.
    pub listen: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LoggingConfig {
    pub level: log::LevelFilter,
    pub format: LogFormat,
    pub output: LogOutput,
    pub file_path: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Text when the log goes to a terminal, JSON otherwise (journald, a
    /// file, a pipe): the default.
    Auto,
    Json,
    Text,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogOutput {
    Stdout,
    File,
}

/// One entry of `tasks:`.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskConfig {
    pub id: TaskId,
    pub device_id: String,
    pub interval: Duration,
    /// Bound on one run of the probe (default: the interval).
    pub timeout: Duration,
    pub enabled: bool,
    /// The task's `labels`, validated names.
    pub labels: Labels,
    pub plugin: PluginConfig,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpVersion {
    /// Whatever the host name resolves to first.
    Any,
    V4,
    V6,
}

/// Everything that can be wrong with a config file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{file}: cannot read the config file: {source}")]
    Read {
        file: String,
        #[source]
        source: std::io::Error,
    },
    /// The YAML itself does not parse, or a value has the wrong type.
    #[error("{file}: {path}{sep}{reason}", sep = if path.is_empty() { "" } else { ": " })]
    Invalid {
        file: String,
        /// Where, as `tasks[1].config.count`; empty for the whole file.
        path: String,
        /// What was found and what is allowed.
        reason: String,
    },
}

/// The largest config file read: far above any real one (10,000 tasks
/// fit in about 1 MiB), and a bound on what a wrong path (`/dev/zero`, a
/// log file) costs before it is refused.
pub const MAX_CONFIG_BYTES: u64 = 4 << 20;

/// How deep `[`/`{` may nest in the config file. The YAML parser's time
/// grows with the square of the depth before its own limit (128) trips:
/// 100,000 `[` took a minute. Real configs nest 2 or 3 levels.
pub const MAX_FLOW_DEPTH: usize = 64;

/// Reads and validates the config at `path`.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    use std::io::Read;
    let file = path.display().to_string();
    let read_err = |source| ConfigError::Read {
        file: file.clone(),
        source,
    };
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_CONFIG_BYTES + 1).read_to_end(&mut bytes))
        .map_err(read_err)?;
    if bytes.len() as u64 > MAX_CONFIG_BYTES {
        return Err(ConfigError::Invalid {
            file,
            path: String::new(),
            reason: format!(
                "the file is larger than {}, the most a config may be; is this the right file?",
                units::format_size(MAX_CONFIG_BYTES)
            ),
        });
    }
    let text = String::from_utf8(bytes).map_err(|e| ConfigError::Invalid {
        file: file.clone(),
        path: String::new(),
        reason: format!(
            "the file is not UTF-8 text (invalid byte at offset {}); is this the right file?",
            e.utf8_error().valid_up_to()
        ),
    })?;
    parse(&text, path)
}

/// Validates `text` as if read from `file` (whose directory is the base of
/// relative paths), with the process environment for `${VAR}`.
pub fn parse(text: &str, file: &Path) -> Result<Config, ConfigError> {
    parse_with_env(text, file, &|name| std::env::var(name).ok())
}

/// `parse` with `env` in place of the process environment (used for
/// `${VAR}` and `$STATE_DIRECTORY`); for tests and `check`.
pub fn parse_with_env(
    text: &str,
    file: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigError> {
    build::parse_with(text, file, env)
}

impl Config {
    /// The backends that ship, in file order.
    pub fn enabled_backends(&self) -> impl Iterator<Item = &BackendConfig> {
        self.sender.backends.iter().filter(|b| b.enabled)
    }

    /// The tasks that run, in file order.
    pub fn enabled_tasks(&self) -> impl Iterator<Item = &TaskConfig> {
        self.tasks.iter().filter(|t| t.enabled)
    }

    /// The task with `id`, enabled or not.
    pub fn task(&self, id: &str) -> Option<&TaskConfig> {
        self.tasks.iter().find(|t| t.id.as_str() == id)
    }

    /// The backend named `name`, enabled or not.
    pub fn backend(&self, name: &str) -> Option<&BackendConfig> {
        self.sender.backends.iter().find(|b| b.id.as_str() == name)
    }
}
