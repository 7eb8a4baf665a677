//! The command line: `start`, `trigger`, `check`, `version`,
//! `list-plugins`. Parsing is clap's; each command is one function here
//! returning the process exit code. User mistakes come back as errors that
//! `main` prints in one line (exit 2 for usage and config errors).

/// `println!` for the one-shot commands that returns the write error (a
/// full disk behind `> file`) instead of panicking, so that it ends as one
/// line on stderr and exit code 1.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($arg)*)
            .map_err(|e| anyhow::anyhow!("cannot write to standard output: {e}"))?
    }};
}

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
    /// TCP connect to HOST:PORT. Exits 1 when the port does not accept.
    Tcp(TcpArgs),
    /// HTTP(S) request: status, response time, certificate expiry. Exits 1
    /// when http_up is 0.
    Http(HttpArgs),
    /// DNS query over UDP to a given server. Exits 1 when dns_up is 0.
    Dns(DnsArgs),
    /// Run a command and parse its stdout as Prometheus text format. Exits
    /// 1 when it fails, hangs or prints something else.
    Exec(ExecArgs),
    /// Fetch a Prometheus /metrics endpoint and parse it. Exits 1 on failure.
    Scrape(ScrapeArgs),
}

#[derive(Args, Debug)]
pub struct TcpArgs {
    /// Host name or IPv4/IPv6 address.
    #[arg(value_parser = config::check_host)]
    pub host: String,
    /// TCP port.
    #[arg(value_parser = clap::value_parser!(u16).range(1..))]
    pub port: u16,
    /// Connect timeout (e.g. 5s, 500ms).
    #[arg(short = 't', long = "timeout", default_value = "5s", value_parser = parse_duration)]
    pub timeout: Duration,
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

#[derive(Args, Debug)]
pub struct HttpArgs {
    /// The http:// or https:// URL.
    #[arg(value_parser = config::check_probe_url)]
    pub url: String,
    /// Send HEAD instead of GET.
    #[arg(long, conflicts_with = "body_regex")]
    pub head: bool,
    /// Timeout of the whole request (e.g. 10s).
    #[arg(short = 't', long = "timeout", default_value = "10s", value_parser = parse_duration)]
    pub timeout: Duration,
    /// Status codes counted as up, like 200,3xx,401-403.
    #[arg(long = "accept", default_value = "2xx,3xx", value_parser = crate::probe::http::parse_status_arg)]
    pub accepted_status: std::vec::Vec<(u16, u16)>,
    /// A regular expression the body must match.
    #[arg(long = "body-regex", value_name = "REGEX")]
    pub body_regex: Option<String>,
    /// A request header, `Name: value` (repeatable).
    #[arg(short = 'H', long = "header", value_parser = crate::probe::http::parse_header_arg)]
    pub headers: Vec<(String, String)>,
    /// Basic auth user; the password comes from $SENTINEL_HTTP_PASSWORD.
    #[arg(short = 'u', long = "user")]
    pub username: Option<String>,
    /// A PEM file of CA certificates to trust.
    #[arg(long = "ca-file", value_name = "FILE", value_parser = readable_file)]
    pub ca_file: Option<PathBuf>,
    /// Do not check the server's certificate.
    #[arg(short = 'k', long = "insecure")]
    pub insecure: bool,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct DnsArgs {
    /// The name to look up.
    #[arg(value_parser = config::check_dns_name)]
    pub name: String,
    /// The server to ask: an IP address with an optional port.
    #[arg(short = 's', long = "server")]
    pub server: String,
    /// Record type: A, AAAA, MX, TXT, NS or CNAME.
    #[arg(short = 'T', long = "type", default_value = "A")]
    pub record_type: String,
    /// How long to wait for the answer.
    #[arg(short = 't', long = "timeout", default_value = "5s", value_parser = parse_duration)]
    pub timeout: Duration,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct ExecArgs {
    /// Kill the command and its children after this long.
    #[arg(short = 't', long = "timeout", default_value = "10s", value_parser = parse_duration)]
    pub timeout: Duration,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// The program and its arguments (after `--`).
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

#[derive(Args, Debug)]
pub struct ScrapeArgs {
    /// The /metrics URL.
    #[arg(value_parser = config::check_probe_url)]
    pub url: String,
    /// Timeout of the request.
    #[arg(short = 't', long = "timeout", default_value = "10s", value_parser = parse_duration)]
    pub timeout: Duration,
    /// A request header, `Name: value` (repeatable).
    #[arg(short = 'H', long = "header", value_parser = crate::probe::http::parse_header_arg)]
    pub headers: Vec<(String, String)>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct PingArgs {
    /// Host name or IPv4/IPv6 address.
    #[arg(value_parser = config::check_host)]
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
    #[arg(short = 's', long = "size", default_value_t = 56, value_parser = clap::value_parser!(u16).range(0..=config::MAX_PING_SIZE as i64))]
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

/// A file argument that must exist and be readable.
fn readable_file(s: &str) -> Result<PathBuf, String> {
    std::fs::File::open(s)
        .map(|_| PathBuf::from(s))
        .map_err(|e| format!("cannot read {s}: {e}"))
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

/// The error as one line: each cause after `: `, except a cause that the
/// message before it already ends with (many errors print their source).
pub fn error_line(err: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if line.ends_with(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

/// Runs the command; the error, if any, is printed by `main`.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Start(c) => start(&c.path()),
        Command::Trigger(t) => trigger(t),
        Command::Check { config, offline } => check(&config.path(), offline),
        Command::Wal(WalCommand::Stats { config, json }) => wal_stats(&config.path(), json),
        Command::Version => {
            outln!("sentinel {}", env!("CARGO_PKG_VERSION"));
            Ok(ExitCode::SUCCESS)
        }
        Command::ListPlugins => {
            for (name, about, keys) in crate::probe::PLUGINS {
                outln!("{name:<8} {about}\n         config keys: {keys}");
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
        outln!("warning: {w}");
    }
    let tasks = cfg.tasks.iter().filter(|t| t.enabled).count();
    outln!(
        "{}: config OK ({} task(s), {} enabled)",
        path.display(),
        cfg.tasks.len(),
        tasks
    );
    for b in &cfg.sender.backends {
        outln!(
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
                Ok(s) => outln!(
                    "  icmp {family:?}: OK ({} socket)",
                    match s.kind() {
                        SocketKind::Dgram => "unprivileged ping",
                        SocketKind::Raw => "raw",
                    }
                ),
                Err(e) => {
                    failed = true;
                    outln!("  icmp {family:?}: FAILED: {e}");
                }
            }
        }
    }
    for b in cfg.sender.backends.iter().filter(|b| b.enabled) {
        match crate::ship::check_backend(b) {
            Ok(msg) => outln!("  backend {}: OK, {msg}", b.id),
            Err(msg) => {
                failed = true;
                outln!("  backend {}: FAILED: {msg}", b.id);
            }
        }
    }
    Ok(up_code(!failed))
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
    drop_to_owner_of(wal_path)?;
    let opts = crate::wal::store::StoreOptions {
        path: wal_path.clone(),
        ..crate::wal::store::StoreOptions::of(&cfg.buffer)
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
        outln!("{}", serde_json::to_string_pretty(&stats)?);
        return Ok(ExitCode::SUCCESS);
    }
    let now = crate::sample::now_ms();
    outln!("WAL {} ({source})", wal_path.display());
    outln!(
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
        outln!(
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

/// Run as root on a WAL that belongs to another user (the packaged agent
/// runs as `sentinel`), become that user before sled opens the directory:
/// opening may write a snapshot, and a root-owned file there would stop the
/// agent from starting again.
fn drop_to_owner_of(wal_path: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::MetadataExt;
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Ok(());
    }
    let meta = std::fs::metadata(wal_path)
        .with_context(|| format!("cannot read {}", wal_path.display()))?;
    let (uid, gid) = (meta.uid(), meta.gid());
    if uid == 0 {
        return Ok(());
    }
    // SAFETY: plain system calls on integers; no threads of ours run yet,
    // and glibc applies set*id to every thread anyway.
    let failed = unsafe {
        libc::setgroups(0, std::ptr::null()) != 0
            || libc::setgid(gid) != 0
            || libc::setuid(uid) != 0
    };
    if failed {
        anyhow::bail!(
            "cannot switch to the owner (uid {uid}, gid {gid}) of {}: {}; run the command as that user",
            wal_path.display(),
            std::io::Error::last_os_error()
        );
    }
    log::debug!("reading {} as its owner, uid {uid}", wal_path.display());
    Ok(())
}

/// `GET /api/wal/stats` from the agent that holds the WAL's lock.
fn ask_agent(cfg: &config::Config) -> anyhow::Result<crate::wal::WalStats> {
    if !cfg.http.enabled {
        anyhow::bail!(
            "the WAL at {} is in use by a running agent and its HTTP listener is off (http.enabled: false): enable it, or stop the agent to read the WAL directly",
            cfg.buffer.path.display()
        );
    }
    let url = format!("http://{}/api/wal/stats", cfg.http.listen);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    let answer = agent
        .get(&url)
        .call()
        .and_then(|mut r| r.body_mut().read_to_string());
    let body = answer.map_err(|e| {
        let refused =
            matches!(&e, ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused);
        let hint = if refused {
            " (nothing listens there: a changed http.listen takes effect when the agent restarts)"
        } else {
            ""
        };
        anyhow::Error::new(e).context(format!(
            "the WAL at {} is in use by a running agent, but asking it at {url} failed{hint}",
            cfg.buffer.path.display()
        ))
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
                ip_version: ip_version(a.ipv4, a.ipv6),
            };
            let outcome = crate::probe::ping::run(&cfg)?;
            let samples =
                crate::probe::ping::samples(&outcome, &Labels::new(), crate::sample::now_ms());
            if a.json {
                print_json(&PluginConfig::Ping(cfg), &samples)?;
            } else {
                outln!(
                    "ping {} ({}): {} sent, {} received",
                    a.host,
                    outcome.target,
                    outcome.sent,
                    outcome.received
                );
                print_table(&samples)?;
            }
            Ok(up_code(outcome.received > 0))
        }
        Trigger::Tcp(a) => {
            use crate::probe::tcp;
            let cfg = config::TcpConfig {
                host: a.host.clone(),
                port: a.port,
                timeout: a.timeout,
                ip_version: ip_version(a.ipv4, a.ipv6),
            };
            let outcome = tcp::run(&cfg)?;
            let samples = tcp::samples(&cfg, &outcome, &Labels::new(), crate::sample::now_ms());
            let up = outcome.connect_ms.is_some();
            if a.json {
                print_json(&PluginConfig::Tcp(cfg), &samples)?;
            } else {
                let target = outcome
                    .target
                    .map_or_else(|| format!("{}:{}", a.host, a.port), |t| t.to_string());
                match &outcome.reason {
                    None => outln!("tcp {target}: open"),
                    Some(why) => outln!("tcp {target}: down: {why}"),
                }
                print_table(&samples)?;
            }
            Ok(up_code(up))
        }
        Trigger::Http(a) => {
            use crate::probe::http;
            let password = std::env::var("SENTINEL_HTTP_PASSWORD").ok();
            if a.username.is_some() != password.is_some() {
                return Err(UsageError(
                    "--user needs the password in $SENTINEL_HTTP_PASSWORD, and the variable needs --user".into(),
                )
                .into());
            }
            if let Some(re) = &a.body_regex {
                regex_lite::Regex::new(re)
                    .map_err(|e| UsageError(format!("--body-regex {re:?}: {e}")))?;
            }
            let cfg = config::HttpProbeConfig {
                url: a.url.clone(),
                method: if a.head {
                    config::HttpMethod::Head
                } else {
                    config::HttpMethod::Get
                },
                timeout: a.timeout,
                accepted_status: a.accepted_status.clone(),
                body_regex: a.body_regex.clone(),
                headers: a.headers.clone(),
                username: a.username.clone(),
                password: password.map(config::Secret),
                ca_file: a.ca_file.clone(),
                insecure_skip_verify: a.insecure,
            };
            let outcome = http::run(&cfg)?;
            let samples = http::samples(&cfg, &outcome, &Labels::new(), crate::sample::now_ms());
            if a.json {
                print_json(&PluginConfig::Http(cfg), &samples)?;
            } else {
                match (&outcome.status, &outcome.reason) {
                    (Some(st), None) => outln!("http {}: {st}, up", a.url),
                    (Some(st), Some(why)) => outln!("http {}: {st}, {why}", a.url),
                    (None, why) => {
                        outln!("http {}: down: {}", a.url, why.as_deref().unwrap_or(""))
                    }
                }
                print_table(&samples)?;
            }
            Ok(up_code(outcome.up))
        }
        Trigger::Dns(a) => {
            use crate::probe::dns;
            let record_type = config::DnsType::parse(&a.record_type).ok_or_else(|| {
                UsageError(format!(
                    "--type {:?}: expected one of A, AAAA, MX, TXT, NS, CNAME",
                    a.record_type
                ))
            })?;
            let server = a
                .server
                .parse::<std::net::SocketAddr>()
                .ok()
                .or_else(|| {
                    let ip = a.server.trim_matches(|c| c == '[' || c == ']');
                    ip.parse::<std::net::IpAddr>()
                        .ok()
                        .map(|ip| std::net::SocketAddr::new(ip, config::DEFAULT_DNS_PORT))
                })
                .ok_or_else(|| {
                    UsageError(format!(
                        "--server {:?}: expected an IP address with an optional port, like 192.0.2.53 or 127.0.0.1:5353",
                        a.server
                    ))
                })?;
            let cfg = config::DnsConfig {
                server,
                name: a.name.trim_end_matches('.').to_string(),
                record_type,
                timeout: a.timeout,
            };
            let outcome = dns::run(&cfg)?;
            let samples = dns::samples(&cfg, &outcome, &Labels::new(), crate::sample::now_ms());
            if a.json {
                print_json(&PluginConfig::Dns(cfg), &samples)?;
            } else {
                match &outcome.response {
                    Some(r) => {
                        outln!(
                            "dns {} {} @{}: {}, {} answer(s)",
                            cfg.name,
                            record_type.as_str(),
                            server,
                            dns::rcode_name(r.rcode),
                            r.answers.len()
                        );
                        for rec in &r.answers {
                            outln!(
                                "  {} {} {} {}",
                                rec.name,
                                rec.ttl,
                                dns::type_name(rec.rtype),
                                rec.data
                            );
                        }
                    }
                    None => outln!(
                        "dns {} @{}: {}",
                        cfg.name,
                        server,
                        outcome.reason.as_deref().unwrap_or("no answer")
                    ),
                }
                print_table(&samples)?;
            }
            Ok(up_code(outcome.up))
        }
        Trigger::Exec(a) => {
            use crate::probe::exec;
            let cfg = config::ExecConfig {
                command: a.command.clone(),
                timeout: a.timeout,
                env: Vec::new(),
            };
            let output = exec::run(&cfg)?;
            let samples = exec::samples(&cfg, &output, &Labels::new(), crate::sample::now_ms())?;
            if a.json {
                print_json(&PluginConfig::Exec(cfg), &samples)?;
            } else {
                outln!(
                    "exec `{}`: {} sample(s) in {} ms",
                    exec::shown(&cfg.command),
                    samples.len(),
                    output.duration.as_millis()
                );
                print_table(&samples)?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Trigger::Scrape(a) => {
            use crate::probe::scrape;
            let cfg = config::ScrapeConfig {
                url: a.url.clone(),
                timeout: a.timeout,
                headers: a.headers.clone(),
                username: None,
                password: None,
                ca_file: None,
                insecure_skip_verify: false,
            };
            let output = scrape::run(&cfg)?;
            let samples = scrape::samples(&cfg, &output, &Labels::new(), crate::sample::now_ms())?;
            if a.json {
                print_json(&PluginConfig::Scrape(cfg), &samples)?;
            } else {
                outln!("scrape {}: {} sample(s)", a.url, samples.len());
                print_table(&samples)?;
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `-4`/`-6` as an `IpVersion`.
fn ip_version(v4: bool, v6: bool) -> IpVersion {
    match (v4, v6) {
        (true, _) => IpVersion::V4,
        (_, true) => IpVersion::V6,
        _ => IpVersion::Any,
    }
}

/// 0 when it went well (the target answered, every check passed), 1 when
/// not (like ping(8)).
fn up_code(up: bool) -> ExitCode {
    if up {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
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

fn print_table(samples: &[Sample]) -> anyhow::Result<()> {
    let width = samples.iter().map(|s| s.name.len()).max().unwrap_or(0);
    for s in samples {
        let value = if s.value.fract() == 0.0 && s.value.abs() < 1e15 {
            format!("{}", s.value as i64)
        } else {
            format!("{:.3}", s.value)
        };
        outln!(
            "  {:<width$}  {:>10} {:<5} {}",
            s.name,
            value,
            unit(&s.name),
            s.labels
        );
    }
    Ok(())
}

fn print_json(plugin: &PluginConfig, samples: &[Sample]) -> anyhow::Result<()> {
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
    outln!("{out:#}");
    Ok(())
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
    fn an_error_line_names_each_cause_once() {
        let e = config::load(Path::new("/nonexistent/x.yaml")).unwrap_err();
        let e = anyhow::Error::from(e).context("checking");
        assert_eq!(
            error_line(&e),
            "checking: /nonexistent/x.yaml: cannot read the config file: No such file or directory (os error 2)"
        );
        let e = anyhow::anyhow!("inner").context("outer");
        assert_eq!(error_line(&e), "outer: inner");
    }

    #[test]
    fn units_from_names() {
        assert_eq!(unit("ping_rtt_ms"), "ms");
        assert_eq!(unit("ping_packet_loss"), "%");
        assert_eq!(unit("ping_reachable"), "");
    }
}
