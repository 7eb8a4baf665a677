//! The ping plugin's configuration: `tasks[].config` (keys, defaults,
//! validation) and the arguments of `sentinel trigger ping`, made into the
//! same config by the same validators.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use crate::cli::args::{duration_arg, ip_version_arg};
use crate::config::plugin::{
    check_host, duration_at_least, host_value, ip_version_value, join, Loader, Table, ABOVE_ZERO,
};
use crate::config::units::format_duration;
use crate::config::{ConfigError, IpVersion};
use crate::probe::{Plugin, PluginInfo, ProbeError, ReadConfig, RunOutput, TaskCache, Triggered};
use crate::sample::Labels;

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

const PING_KEYS: &[&str] = &[
    "host",
    "hosts",
    "count",
    "interval",
    "timeout",
    "size",
    "ttl",
    "ip_version",
    "histogram",
];
/// The shortest gap between a ping's echo requests (as `ping -i`'s
/// floor for root, rounded up).
const MIN_PING_GAP: Duration = Duration::from_millis(1);

/// The first address in a CIDR block and how many there are to ping: for
/// IPv4 prefixes up to /30 the network and broadcast addresses are left
/// out, as `fping -g` does.
fn cidr_hosts(s: &str) -> Result<Vec<String>, String> {
    let (addr, len) = s.split_once('/').ok_or_else(String::new)?;
    let ip: IpAddr = addr.trim().parse().map_err(|_| {
        format!(
            "found {s:?}, expected a CIDR range like 127.0.1.0/24 (an address, /, a prefix length)"
        )
    })?;
    let bits = if ip.is_ipv4() { 32u32 } else { 128 };
    let len: u32 = len
        .trim()
        .parse()
        .ok()
        .filter(|l| *l <= bits)
        .ok_or_else(|| format!("found {s:?}, expected a prefix length from 0 to {bits}"))?;
    let size_bits = bits - len;
    if (1u128 << size_bits.min(127)) > MAX_PING_HOSTS as u128 || size_bits > 64 {
        return Err(format!(
            "found {s:?}, a range of 2^{size_bits} addresses, expected at most {MAX_PING_HOSTS} hosts per task (a prefix of /{} or longer)",
            bits - MAX_PING_HOSTS.trailing_zeros()
        ));
    }
    let count = 1u128 << size_bits;
    let mask = if size_bits == 128 {
        0
    } else {
        !0u128 << size_bits
    };
    let (base, skip_ends) = match ip {
        IpAddr::V4(v4) => (
            u128::from(u32::from(v4)) & mask & 0xffff_ffff,
            size_bits >= 2,
        ),
        IpAddr::V6(v6) => (u128::from(v6) & mask, false),
    };
    let range = if skip_ends { 1..count - 1 } else { 0..count };
    Ok(range
        .map(|i| match ip {
            IpAddr::V4(_) => std::net::Ipv4Addr::from((base + i) as u32).to_string(),
            IpAddr::V6(_) => std::net::Ipv6Addr::from(base + i).to_string(),
        })
        .collect())
}

/// `plugin: ping` — reads `tasks[i].config`.
fn read(
    loader: &mut Loader,
    t: &Table,
    _task_timeout: Duration,
) -> Result<PingConfig, ConfigError> {
    let ctx = &loader.ctx;
    let mut cfg = PingConfig::default();
    let host_node = t.get("host");
    let hosts_node = t.get("hosts");
    if host_node.is_none() && hosts_node.is_none() {
        return Err(ctx.err(
            &join(&t.path, "host"),
            "is missing, expected the host to ping (a name or an IPv4/IPv6 address), or a list under hosts",
        ));
    }
    if let Some(n) = &host_node {
        cfg.host = host_value(ctx, n)?;
    }
    if let Some(list) = &hosts_node {
        let items = ctx.seq(
            list,
            "a list of hosts (names, IPv4/IPv6 addresses or CIDR ranges like 127.0.1.0/24)",
        )?;
        let mut seen: HashMap<String, String> = HashMap::new();
        if let Some(n) = &host_node {
            seen.insert(cfg.host.clone(), n.path.clone());
        }
        for item in items {
            let text = ctx
                .string(&item, "a host name, an IP address or a CIDR range")?
                .trim()
                .to_string();
            let expanded = if text.contains('/') {
                cidr_hosts(&text).map_err(|why| ctx.err(&item.path, why))?
            } else {
                vec![check_host(&text).map_err(|why| ctx.err(&item.path, why))?]
            };
            for h in expanded {
                if let Some(first) = seen.get(&h) {
                    return Err(ctx.err(
                        &item.path,
                        format!("host {h} is already listed at {first}, expected each host once"),
                    ));
                }
                if seen.len() >= MAX_PING_HOSTS {
                    return Err(ctx.err(
                        &item.path,
                        format!("found more than {MAX_PING_HOSTS} hosts, expected at most {MAX_PING_HOSTS} per task; split them over several tasks"),
                    ));
                }
                seen.insert(h.clone(), item.path.clone());
                cfg.hosts.push(h);
            }
        }
        if cfg.host.is_empty() && cfg.hosts.is_empty() {
            return Err(ctx.err(
                &list.path,
                "found an empty list, expected at least one host",
            ));
        }
    }
    if let Some(n) = t.get("count") {
        cfg.count = ctx.uint(
            &n,
            1,
            MAX_PING_COUNT as u64,
            &format!("a whole number from 1 to {MAX_PING_COUNT}"),
        )? as u32;
    }
    for (key, slot, min) in [
        ("interval", &mut cfg.interval, MIN_PING_GAP),
        ("timeout", &mut cfg.timeout, ABOVE_ZERO),
    ] {
        if let Some(n) = t.get(key) {
            *slot = duration_at_least(ctx, &n, min, Duration::from_secs(1))?;
        }
    }
    if let Some(n) = t.get("size") {
        cfg.size = ctx.uint(
            &n,
            0,
            MAX_PING_SIZE as u64,
            &format!("a payload size in bytes from 0 to {MAX_PING_SIZE}"),
        )? as usize;
    }
    if let Some(n) = t.get("ttl") {
        cfg.ttl = Some(ctx.uint(&n, 1, 255, "a whole number from 1 to 255")? as u32);
    }
    if let Some(n) = t.get("ip_version") {
        cfg.ip_version = ip_version_value(ctx, &n, &cfg.targets())?;
    }
    if let Some(n) = t.get("histogram") {
        cfg.histogram = ctx.bool(&n)?;
    }
    Ok(cfg)
}

impl Plugin for PingConfig {
    const ABOUT: &'static str =
        "ICMP echo (IPv4 and IPv6): reachability, round-trip times, loss; many hosts per task";
    const KEYS: &'static [&'static str] = PING_KEYS;
    const KEY_NOTES: &'static [(&'static str, &'static str)] =
        &[("hosts", "names, addresses, CIDR ranges")];
    const INFO: PluginInfo = super::INFO;
    const TRIGGER_ABOUT: &'static str = "ICMP echo: reachability, round-trip times and loss. Exits 1 when no echo was answered, like ping(8).";
    type Args = PingArgs;
    const TRIGGER_EXAMPLE: &'static [&'static str] = &["127.0.0.1"];

    const REQUIRED: (&'static str, &'static str) =
        ("host", "the host to ping (a name or an IPv4/IPv6 address)");
    const READ: ReadConfig<Self> = read;

    fn max_run_time(&self) -> Duration {
        PingConfig::max_run_time(self)
    }

    fn run_time_terms(&self) -> String {
        if self.round_spread().is_zero() {
            format!(
                "(count - 1) x interval + timeout = {} x {} + {}",
                self.count.saturating_sub(1),
                format_duration(self.interval),
                format_duration(self.timeout)
            )
        } else {
            format!(
                "(count - 1) x interval + sending to {} hosts + timeout = {} x {} + {} + {}",
                self.targets().len(),
                self.count.saturating_sub(1),
                format_duration(self.interval),
                format_duration(self.round_spread()),
                format_duration(self.timeout)
            )
        }
    }

    fn run(&self, base: &Labels, ts: i64) -> Result<RunOutput, ProbeError> {
        super::run_task(self, base, ts)
    }

    fn run_cached(&self, cache: &TaskCache, ts: i64) -> Result<RunOutput, ProbeError> {
        let labels_of = |host: &str| cache.target(host, |base| super::host_labels(base, host));
        super::run_task_with(self, &cache.base, &labels_of, ts)
    }

    fn trigger(a: PingArgs) -> anyhow::Result<Triggered> {
        let cfg = PingConfig {
            host: a.host.clone(),
            count: a.count,
            interval: a.interval,
            timeout: a.timeout,
            size: a.size as usize,
            ttl: a.ttl,
            hosts: Vec::new(),
            histogram: false,
            ip_version: ip_version_arg(a.ipv4, a.ipv6),
        };
        let outcome = super::run(&cfg)?;
        let samples = super::samples(&outcome, &Labels::new(), crate::sample::now_ms());
        Ok(Triggered {
            lines: vec![format!(
                "ping {} ({}): {} sent, {} received",
                a.host, outcome.target, outcome.sent, outcome.received
            )],
            samples,
            up: outcome.received > 0,
            config: cfg.into(),
        })
    }
}

/// `sentinel trigger ping`.
#[derive(clap::Args, Debug)]
pub struct PingArgs {
    /// Host name or IPv4/IPv6 address.
    #[arg(value_parser = check_host)]
    pub host: String,
    /// Echo requests to send.
    #[arg(short = 'n', long = "count", default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=MAX_PING_COUNT as i64))]
    pub count: u32,
    /// Gap between requests (e.g. 1s, 200ms).
    #[arg(short = 'i', long = "interval", default_value = "1s", value_parser = duration_arg)]
    pub interval: Duration,
    /// How long to wait for each reply (e.g. 1s, 500ms).
    #[arg(short = 't', long = "timeout", default_value = "1s", value_parser = duration_arg)]
    pub timeout: Duration,
    /// Payload bytes per request.
    #[arg(short = 's', long = "size", default_value_t = 56, value_parser = clap::value_parser!(u16).range(0..=MAX_PING_SIZE as i64))]
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
}
