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
//! - `build.rs`: the high level, one function per section, defaults and
//!   validation, producing the types below.
//! - `expand.rs`: `${VAR}` / `${VAR:-default}` / `$$` in string values.
//! - `units.rs`: durations and sizes.
//!
//! `config/config.example.yaml` documents every key with its default; the
//! defaults are the `DEFAULT_*` consts here.

mod build;
mod expand;
mod node;
#[cfg(test)]
mod tests;
pub mod units;

pub(crate) use build::is_header_char;
pub use build::{
    check_dns_name, check_host, check_probe_url, default_agent_name, is_backend_name, is_task_id,
};

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

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
/// The largest ping `count`.
pub const MAX_PING_COUNT: u32 = 10_000;
/// The largest ping `size`: an IPv4 datagram's 65535 bytes less the IP
/// and ICMP headers.
pub const MAX_PING_SIZE: usize = 65_507;
/// Echo requests per second one ping task sends at most when it pings
/// many hosts: a round to every host is spread over `hosts / rate`.
pub const PING_SEND_RATE: u64 = 20_000;
/// The most hosts one ping task may list (CIDR ranges expanded).
pub const MAX_PING_HOSTS: usize = 65_536;
/// Default `timeout` of the tcp, http, dns, exec and scrape plugins (capped
/// at the task's timeout).
pub const DEFAULT_PROBE_TIMEOUT: Duration = Duration::from_secs(10);
/// The dns plugin's `server` port when none is given.
pub const DEFAULT_DNS_PORT: u16 = 53;
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

/// The plugin-specific part of a task, `tasks[i].config`.
#[derive(Debug, Clone, PartialEq)]
pub enum PluginConfig {
    Ping(PingConfig),
    Tcp(TcpConfig),
    Http(HttpProbeConfig),
    Dns(DnsConfig),
    Exec(ExecConfig),
    Scrape(ScrapeConfig),
}

impl PluginConfig {
    pub fn name(&self) -> &'static str {
        match self {
            PluginConfig::Ping(_) => "ping",
            PluginConfig::Tcp(_) => "tcp",
            PluginConfig::Http(_) => "http",
            PluginConfig::Dns(_) => "dns",
            PluginConfig::Exec(_) => "exec",
            PluginConfig::Scrape(_) => "scrape",
        }
    }

    /// The longest one run of the plugin can take; must fit in the task's
    /// timeout.
    pub fn max_run_time(&self) -> Duration {
        match self {
            PluginConfig::Ping(p) => p.max_run_time(),
            PluginConfig::Tcp(p) => p.timeout,
            PluginConfig::Http(p) => p.timeout,
            PluginConfig::Dns(p) => p.timeout,
            PluginConfig::Exec(p) => p.timeout,
            PluginConfig::Scrape(p) => p.timeout,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpVersion {
    /// Whatever the host name resolves to first.
    Any,
    V4,
    V6,
}

/// `plugin: ping`.
#[derive(Debug, Clone, PartialEq)]
pub struct PingConfig {
    /// A host name or an IPv4/IPv6 address (`config.host`); empty when the
    /// task lists its hosts under `hosts` only.
    pub host: String,
    /// `config.hosts`, with CIDR ranges expanded to their addresses; each
    /// host is its own series.
    pub hosts: Vec<String>,
    /// Echo requests per run and host (>= 1).
    pub count: u32,
    /// Gap between echo requests.
    pub interval: Duration,
    /// How long to wait for each reply.
    pub timeout: Duration,
    /// Payload bytes of each echo request.
    pub size: usize,
    pub ttl: Option<u32>,
    pub ip_version: IpVersion,
    /// Keep a cumulative `ping_rtt_seconds` histogram per host.
    pub histogram: bool,
}

impl Default for PingConfig {
    fn default() -> Self {
        PingConfig {
            host: String::new(),
            hosts: Vec::new(),
            count: 4,
            interval: Duration::from_secs(1),
            timeout: Duration::from_secs(1),
            size: 56,
            ttl: None,
            ip_version: IpVersion::Any,
            histogram: false,
        }
    }
}

impl PingConfig {
    /// Every host of the task: `host` (when set), then `hosts`.
    pub fn targets(&self) -> Vec<&str> {
        let first = (!self.host.is_empty()).then_some(self.host.as_str());
        first
            .into_iter()
            .chain(self.hosts.iter().map(String::as_str))
            .collect()
    }

    /// How long sending one round to every host takes at
    /// `PING_SEND_RATE`, in whole milliseconds: the echoes of a round are spread out, not sent as
    /// one burst.
    pub fn round_spread(&self) -> Duration {
        let n = (!self.host.is_empty()) as u64 + self.hosts.len() as u64;
        Duration::from_millis((n.saturating_sub(1) * 1000).div_ceil(PING_SEND_RATE))
    }

    /// The longest one run can take: the gaps between requests, the
    /// spread of a round over many hosts, plus the wait for the last reply.
    pub fn max_run_time(&self) -> Duration {
        self.interval * self.count.saturating_sub(1) + self.round_spread() + self.timeout
    }
}

/// `plugin: tcp`.
#[derive(Debug, Clone, PartialEq)]
pub struct TcpConfig {
    /// A host name or an IPv4/IPv6 address.
    pub host: String,
    pub port: u16,
    /// Bound on the connect (name resolution included).
    pub timeout: Duration,
    pub ip_version: IpVersion,
}

/// `method` of the http probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpMethod {
    Get,
    Head,
}

/// `plugin: http`.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpProbeConfig {
    /// `http://` or `https://` URL; the `url` label.
    pub url: String,
    pub method: HttpMethod,
    /// Bound on the whole run: request, body and certificate check.
    pub timeout: Duration,
    /// Status codes that count as up, as inclusive ranges (`2xx` is
    /// `200..=299`). Default 2xx and 3xx.
    pub accepted_status: Vec<(u16, u16)>,
    /// A regular expression (regex-lite syntax) the body must match for
    /// `http_up` 1; checked at load.
    pub body_regex: Option<String>,
    /// Extra request headers, in file order.
    pub headers: Vec<(String, String)>,
    pub username: Option<String>,
    pub password: Option<Secret>,
    /// A PEM file of CA certificates to trust for https.
    pub ca_file: Option<PathBuf>,
    pub insecure_skip_verify: bool,
}

/// The record types the dns probe asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DnsType {
    A,
    Aaaa,
    Mx,
    Txt,
    Ns,
    Cname,
}

impl DnsType {
    /// The type's number on the wire (RFC 1035, RFC 3596).
    pub fn code(self) -> u16 {
        match self {
            DnsType::A => 1,
            DnsType::Ns => 2,
            DnsType::Cname => 5,
            DnsType::Mx => 15,
            DnsType::Txt => 16,
            DnsType::Aaaa => 28,
        }
    }

    /// The name as written in zone files and in the `type` label.
    pub fn as_str(self) -> &'static str {
        match self {
            DnsType::A => "A",
            DnsType::Ns => "NS",
            DnsType::Cname => "CNAME",
            DnsType::Mx => "MX",
            DnsType::Txt => "TXT",
            DnsType::Aaaa => "AAAA",
        }
    }

    /// Every supported type, for messages.
    pub const ALL: [DnsType; 6] = [
        DnsType::A,
        DnsType::Aaaa,
        DnsType::Mx,
        DnsType::Txt,
        DnsType::Ns,
        DnsType::Cname,
    ];

    /// Parses `A`, `aaaa` ...
    pub fn parse(s: &str) -> Option<DnsType> {
        DnsType::ALL
            .into_iter()
            .find(|t| t.as_str().eq_ignore_ascii_case(s.trim()))
    }
}

/// `plugin: dns`.
#[derive(Debug, Clone, PartialEq)]
pub struct DnsConfig {
    /// The server asked, an IP address and port (never resolved itself).
    pub server: SocketAddr,
    /// The name looked up, without the trailing dot.
    pub name: String,
    pub record_type: DnsType,
    /// How long to wait for the answer.
    pub timeout: Duration,
}

/// `plugin: exec`.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecConfig {
    /// The program and its arguments; a string in the file is run with
    /// `/bin/sh -c`.
    pub command: Vec<String>,
    /// The command and everything it started is killed after this.
    pub timeout: Duration,
    /// Extra environment variables, in file order.
    pub env: Vec<(String, String)>,
}

/// `plugin: scrape`.
#[derive(Debug, Clone, PartialEq)]
pub struct ScrapeConfig {
    /// The `/metrics` URL, `http://` or `https://`.
    pub url: String,
    /// Bound on the request and reading the body.
    pub timeout: Duration,
    pub headers: Vec<(String, String)>,
    pub username: Option<String>,
    pub password: Option<Secret>,
    pub ca_file: Option<PathBuf>,
    pub insecure_skip_verify: bool,
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
