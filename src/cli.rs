//! The command line: `start`, `trigger`, `check`, `version`,
//! `list-plugins`. Parsing is clap's; each command is one function here
//! returning the process exit code. User mistakes come back as errors that
//! `main` prints in one line (exit 2 for usage and config errors).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};

use crate::config::{self, IpVersion, PingConfig, PluginConfig};
use crate::sample::{Labels, Sample};

/// The config used when `-c` is not given and it exists (installed package).
pub const INSTALLED_CONFIG: &str = "/etc/sentinel/config.yaml";
/// The config used when `-c` is not given in a checkout.
pub const CHECKOUT_CONFIG: &str = "config/config.yaml";

#[derive(Parser, Debug)]
#[command(
    name = "sentinel",
    version,
    about = "Monitoring agent for edge routers: probes devices, keeps every sample in a \
             write-ahead log on disk, and ships it over Prometheus remote write.",
    after_help = "Exit codes: 0 ok, 1 runtime failure, 2 usage or config error.\n\
                  Without -c, the config is /etc/sentinel/config.yaml when it exists, \
                  else config/config.yaml."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the agent in the foreground until SIGTERM/SIGINT (SIGHUP reloads the config).
    Start(ConfigArg),
    /// Run one probe now and print what it measured; nothing is sent or stored.
    #[command(subcommand)]
    Trigger(Trigger),
    /// Validate a config file; without --offline also try each enabled backend.
    Check {
        #[command(flatten)]
        config: ConfigArg,
        /// Only validate the file; do not contact the backends.
        #[arg(long)]
        offline: bool,
    },
    /// Inspect the write-ahead log.
    #[command(subcommand)]
    Wal(WalCommand),
    /// Print the version.
    Version,
    /// List the probe plugins and their config keys.
    ListPlugins,
}

#[derive(Subcommand, Debug)]
pub enum WalCommand {
    /// Backlog per backend, age of the oldest sample, disk use and drops
    /// by reason. Asks the running agent (over http.listen) when it holds
    /// the WAL, else opens the WAL itself.
    Stats {
        #[command(flatten)]
        config: ConfigArg,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args, Debug)]
pub struct ConfigArg {
    /// The config file (YAML).
    #[arg(short = 'c', long = "config", value_name = "FILE")]
    pub config: Option<PathBuf>,
}

impl ConfigArg {
    fn path(&self) -> PathBuf {
        match &self.config {
            Some(p) => p.clone(),
            None if Path::new(INSTALLED_CONFIG).exists() => PathBuf::from(INSTALLED_CONFIG),
            None => PathBuf::from(CHECKOUT_CONFIG),
        }
    }
}

#[derive(Subcommand, Debug)]
pub enum Trigger {
    /// ICMP echo: reachability, round-trip times and loss. Exits 1 when
    /// no echo was answered, like ping(8).
    Ping(PingArgs),
}

#[derive(Args, Debug)]
pub struct PingArgs {
    /// Host name or IPv4/IPv6 address.
    pub host: String,
    /// Echo requests to send.
    #[arg(short = 'n', long = "count", default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=10000))]
    pub count: u32,
    /// Gap between requests (e.g. 1s, 200ms).
    #[arg(short = 'i', long = "interval", default_value = "1s", value_parser = parse_duration)]
    pub interval: Duration,
    /// How long to wait for each reply (e.g. 1s, 500ms).
    #[arg(short = 't', long = "timeout", default_value = "1s", value_parser = parse_duration)]
    pub timeout: Duration,
    /// Payload bytes per request.
    #[arg(short = 's', long = "size", default_value_t = 56, value_parser = clap::value_parser!(u16).range(0..=65000))]
    pub size: u16,
    /// IP time-to-live (hop limit for IPv6).
    #[arg(long = "ttl", value_parser = clap::value_parser!(u32).range(1..=255))]
    pub ttl: Option<u32>,
    /// Use IPv4 only.
    #[arg(short = '4', conflicts_with = "ipv6")]
    pub ipv4: bool,
    /// Use IPv6 only.
    #[arg(short = '6')]
    pub ipv6: bool,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let d = config::units::parse_duration(s)?;
    if d.is_zero() {
        return Err("must be greater than zero".into());
    }
    Ok(d)
}

/// Marks an error as a usage or config error (exit 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Runs the command; the error, if any, is printed by `main`.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Start(c) => start(&c.path()),
        Command::Trigger(t) => trigger(t),
        Command::Check { config, offline } => check(&config.path(), offline),
        Command::Wal(WalCommand::Stats { config, json }) => wal_stats(&config.path(), json),
        Command::Version => {
            println!("sentinel {}", env!("CARGO_PKG_VERSION"));
            Ok(ExitCode::SUCCESS)
        }
        Command::ListPlugins => {
            for (name, about, keys) in crate::probe::PLUGINS {
                println!("{name:<8} {about}\n         config keys: {keys}");
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn start(path: &Path) -> anyhow::Result<ExitCode> {
    let cfg = config::load(path)?;
    crate::logging::init(&cfg.logging).with_context(|| {
        format!(
            "cannot open the log file {}",
            cfg.logging.file_path.display()
        )
    })?;
    crate::supervisor::run(cfg)?;
    Ok(ExitCode::SUCCESS)
}

fn check(path: &Path, offline: bool) -> anyhow::Result<ExitCode> {
    crate::logging::init_for_command();
    let cfg = config::load(path)?;
    for w in &cfg.warnings {
        println!("warning: {w}");
    }
    let tasks = cfg.tasks.iter().filter(|t| t.enabled).count();
    println!(
        "{}: config OK ({} task(s), {} enabled)",
        path.display(),
        cfg.tasks.len(),
        tasks
    );
    for b in &cfg.sender.backends {
        println!(
            "  backend {}: {} {}",
            b.id,
            if b.enabled { "enabled" } else { "disabled" },
            crate::ship::remote_write::mask_url(&b.url)
        );
    }
    if offline {
        return Ok(ExitCode::SUCCESS);
    }
    let mut failed = false;
    if cfg
        .tasks
        .iter()
        .any(|t| t.enabled && matches!(t.plugin, PluginConfig::Ping(_)))
    {
        use crate::probe::icmp::{create_socket, Family, SocketKind};
        for family in [Family::V4, Family::V6] {
            match create_socket(family) {
                Ok(s) => println!(
                    "  icmp {family:?}: OK ({} socket)",
                    match s.kind() {
                        SocketKind::Dgram => "unprivileged ping",
                        SocketKind::Raw => "raw",
                    }
                ),
                Err(e) => {
                    failed = true;
                    println!("  icmp {family:?}: FAILED: {e}");
                }
            }
        }
    }
    for b in cfg.sender.backends.iter().filter(|b| b.enabled) {
        match crate::ship::check_backend(b) {
            Ok(msg) => println!("  backend {}: OK, {msg}", b.id),
            Err(msg) => {
                failed = true;
                println!("  backend {}: FAILED: {msg}", b.id);
            }
        }
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn wal_stats(path: &Path, json: bool) -> anyhow::Result<ExitCode> {
    crate::logging::init_for_command();
    let cfg = config::load(path)?;
    let wal_path = &cfg.buffer.path;
    if !wal_path.exists() {
        anyhow::bail!(
            "there is no WAL at {} yet: the agent has not run with this config",
            wal_path.display()
        );
    }
    let opts = crate::wal::store::StoreOptions {
        path: wal_path.clone(),
        cache_size: cfg.buffer.cache_size,
        max_size: cfg.buffer.max_size,
        max_age: cfg.buffer.max_age,
    };
    let (stats, source) = match crate::wal::WalStore::open(&opts) {
        Ok(mut store) => {
            store.load_cursors()?;
            (store.stats()?, "read from disk; the agent is not running")
        }
        Err(crate::wal::WalError::Locked { .. }) => (ask_agent(&cfg)?, "from the running agent"),
        Err(e) => return Err(e.into()),
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&stats)?);
        return Ok(ExitCode::SUCCESS);
    }
    let now = crate::sample::now_ms();
    println!("WAL {} ({source})", wal_path.display());
    println!(
        "  {} records, {} samples, {} on disk ({} of records), last seq {}",
        stats.records,
        stats.samples,
        config::units::format_size(stats.disk_bytes),
        config::units::format_size(stats.record_bytes),
        stats.last_seq
    );
    for (name, b) in &stats.backends {
        let age = b
            .oldest_ts_ms
            .map(|ts| {
                config::units::format_duration(Duration::from_millis((now - ts).max(0) as u64))
            })
            .unwrap_or_else(|| "-".into());
        let drops: Vec<String> = b
            .drops
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(r, n)| format!("{r}={n}"))
            .collect();
        println!(
            "  backend {name}: backlog {} samples ({} records), oldest {age}, dropped {}",
            b.pending_samples,
            b.pending_records,
            if drops.is_empty() {
                "none".to_string()
            } else {
                drops.join(" ")
            }
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `GET /api/wal/stats` from the agent that holds the WAL's lock.
fn ask_agent(cfg: &config::Config) -> anyhow::Result<crate::wal::WalStats> {
    if !cfg.http.enabled {
        anyhow::bail!(
            "the WAL at {} is in use by a running agent and its HTTP listener is off              (http.enabled: false): enable it, or stop the agent to read the WAL directly",
            cfg.buffer.path.display()
        );
    }
    let url = format!("http://{}/api/wal/stats", cfg.http.listen);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    let body = agent
        .get(&url)
        .call()
        .and_then(|mut r| r.body_mut().read_to_string())
        .with_context(|| {
            format!(
                "the WAL at {} is in use by a running agent, but asking it at {url} failed",
                cfg.buffer.path.display()
            )
        })?;
    serde_json::from_str(&body).with_context(|| format!("unexpected answer from {url}"))
}

fn trigger(t: Trigger) -> anyhow::Result<ExitCode> {
    crate::logging::init_for_command();
    match t {
        Trigger::Ping(a) => {
            let cfg = PingConfig {
                host: a.host.clone(),
                count: a.count,
                interval: a.interval,
                timeout: a.timeout,
                size: a.size as usize,
                ttl: a.ttl,
                hosts: Vec::new(),
                histogram: false,
                ip_version: if a.ipv4 {
                    IpVersion::V4
                } else if a.ipv6 {
                    IpVersion::V6
                } else {
                    IpVersion::Any
                },
            };
            let outcome = crate::probe::ping::run(&cfg)?;
            let samples =
                crate::probe::ping::samples(&outcome, &Labels::new(), crate::sample::now_ms());
            if a.json {
                print_json(&PluginConfig::Ping(cfg), &samples);
            } else {
                println!(
                    "ping {} ({}): {} sent, {} received",
                    a.host, outcome.target, outcome.sent, outcome.received
                );
                print_table(&samples);
            }
            Ok(if outcome.received > 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
    }
}

/// The unit a metric's value is in, from the name's suffix.
fn unit(name: &str) -> &'static str {
    if name.ends_with("_ms") {
        "ms"
    } else if name.ends_with("_seconds") {
        "s"
    } else if name.ends_with("_loss") {
        "%"
    } else if name.ends_with("_bytes") {
        "bytes"
    } else {
        ""
    }
}

fn print_table(samples: &[Sample]) {
    let width = samples.iter().map(|s| s.name.len()).max().unwrap_or(0);
    for s in samples {
        let value = if s.value.fract() == 0.0 && s.value.abs() < 1e15 {
            format!("{}", s.value as i64)
        } else {
            format!("{:.3}", s.value)
        };
        println!(
            "  {:<width$}  {:>10} {:<5} {}",
            s.name,
            value,
            unit(&s.name),
            s.labels
        );
    }
}

fn print_json(plugin: &PluginConfig, samples: &[Sample]) {
    let list: Vec<serde_json::Value> = samples
        .iter()
        .map(|s| {
            let labels: serde_json::Map<String, serde_json::Value> = s
                .labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.into()))
                .collect();
            serde_json::json!({
                "name": s.name,
                "labels": labels,
                "value": s.value,
                "unit": unit(&s.name),
                "timestamp_ms": s.timestamp_ms,
            })
        })
        .collect();
    let out = serde_json::json!({ "plugin": plugin.name(), "samples": list });
    println!("{out:#}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_valid() {
        Cli::command().debug_assert();
    }

    #[test]
    fn units_from_names() {
        assert_eq!(unit("ping_rtt_ms"), "ms");
        assert_eq!(unit("ping_packet_loss"), "%");
        assert_eq!(unit("ping_reachable"), "");
    }
}
