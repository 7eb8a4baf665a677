//! The dns plugin's configuration: `tasks[].config` (keys, defaults,
//! validation) and the arguments of `sentinel trigger dns`, made into the
//! same config by the same validators.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::cli::args::duration_arg;
use crate::cli::UsageError;
use crate::config::plugin::{probe_timeout, Loader, Table};
use crate::config::ConfigError;
use crate::probe::{Plugin, PluginInfo, ProbeError, ReadConfig, RunOutput, TaskCache, Triggered};
use crate::sample::Labels;

/// The dns plugin's `server` port when none is given.
pub const DEFAULT_DNS_PORT: u16 = 53;
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

const DNS_KEYS: &[&str] = &["server", "name", "type", "timeout"];
/// `server` of the dns plugin (and `trigger dns --server`): an IP address
/// with an optional port.
fn dns_server(s: &str) -> Option<SocketAddr> {
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(SocketAddr::new(ip, DEFAULT_DNS_PORT));
    }
    if let Ok(a) = s.parse::<SocketAddr>() {
        return (a.port() != 0).then_some(a);
    }
    s.strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .and_then(|ip| ip.parse::<IpAddr>().ok())
        .map(|ip| SocketAddr::new(ip, DEFAULT_DNS_PORT))
}

/// A DNS name: dot-separated labels of 1 to 63 bytes, 253 in all.
fn is_dns_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'*')
        })
}

/// `plugin: dns`.
fn read(loader: &mut Loader, t: &Table, task_timeout: Duration) -> Result<DnsConfig, ConfigError> {
    let ctx = &loader.ctx;
    let n = ctx.required(
        t,
        "server",
        "the DNS server's IP address (like 192.0.2.53 or 127.0.0.1:5353)",
    )?;
    let s = ctx.scalar(&n, "an IP address with an optional port")?;
    let server = dns_server(s.text.trim()).ok_or_else(|| {
        ctx.err(
            &n.path,
            format!(
                "found {}, expected the server's IP address with an optional port, like 192.0.2.53, 192.0.2.53:5353 or [2001:db8::53]:53 (a name is not resolved)",
                s.describe()
            ),
        )
    })?;
    let n = ctx.required(t, "name", "the name to look up (like router.example.net)")?;
    let s = ctx.string(&n, "a DNS name")?;
    let name = s.trim().trim_end_matches('.').to_string();
    if !is_dns_name(&name) {
        return Err(ctx.err(
            &n.path,
            format!("found {s:?}, expected a DNS name of labels of 1 to 63 letters, digits, - and _ joined by dots (like router.example.net)"),
        ));
    }
    let record_type = match t.get("type") {
        Some(n) => {
            let names: Vec<&str> = DnsType::ALL.iter().map(|t| t.as_str()).collect();
            let what = format!("one of {}", names.join(", "));
            let s = ctx.scalar(&n, &what)?;
            DnsType::parse(&s.text).ok_or_else(|| {
                ctx.err(&n.path, format!("found {}, expected {what}", s.describe()))
            })?
        }
        None => DnsType::A,
    };
    let timeout = probe_timeout(ctx, t, task_timeout)?;
    Ok(DnsConfig {
        server,
        name,
        record_type,
        timeout,
    })
}

/// A DNS name from the command line (`trigger dns`), checked as the config
/// checks it; a trailing dot is dropped.
pub fn check_dns_name(name: &str) -> Result<String, String> {
    let n = name.trim().trim_end_matches('.');
    if is_dns_name(n) {
        Ok(n.to_string())
    } else {
        Err(format!("found {name:?}, expected a DNS name of labels of 1 to 63 letters, digits, - and _ joined by dots (like router.example.net)"))
    }
}

impl Plugin for DnsConfig {
    const ABOUT: &'static str = "DNS query over UDP to a given server (A, AAAA, MX, TXT, NS, CNAME): dns_up, dns_lookup_ms, dns_answers";
    const KEYS: &'static [&'static str] = DNS_KEYS;
    const INFO: PluginInfo = super::INFO;
    const TRIGGER_ABOUT: &'static str =
        "DNS query over UDP to a given server. Exits 1 when dns_up is 0.";
    type Args = DnsArgs;
    const TRIGGER_EXAMPLE: &'static [&'static str] = &["example.net", "-s", "127.0.0.1"];

    const REQUIRED: (&'static str, &'static str) =
        ("name", "the name to look up (like router.example.net)");
    const READ: ReadConfig<Self> = read;

    fn max_run_time(&self) -> Duration {
        self.timeout
    }

    fn run(&self, base: &Labels, ts: i64) -> Result<RunOutput, ProbeError> {
        self.run_labelled(&super::labels(self, base), ts)
    }

    fn run_cached(&self, cache: &TaskCache, ts: i64) -> Result<RunOutput, ProbeError> {
        self.run_labelled(&cache.target("", |base| super::labels(self, base)), ts)
    }

    fn trigger(a: DnsArgs) -> anyhow::Result<Triggered> {
        let record_type = DnsType::parse(&a.record_type).ok_or_else(|| {
            UsageError(format!(
                "--type {:?}: expected one of A, AAAA, MX, TXT, NS, CNAME",
                a.record_type
            ))
        })?;
        let server = dns_server(a.server.trim()).ok_or_else(|| {
            UsageError(format!(
                "--server {:?}: expected an IP address with an optional port, like 192.0.2.53 or 127.0.0.1:5353",
                a.server
            ))
        })?;
        let cfg = DnsConfig {
            server,
            name: a.name.trim_end_matches('.').to_string(),
            record_type,
            timeout: a.timeout,
        };
        let outcome = super::run(&cfg)?;
        let samples = super::samples(&cfg, &outcome, &Labels::new(), crate::sample::now_ms());
        let mut lines = Vec::new();
        match &outcome.response {
            Some(r) => {
                lines.push(format!(
                    "dns {} {} @{}: {}, {} answer(s)",
                    cfg.name,
                    record_type.as_str(),
                    server,
                    super::rcode_name(r.rcode),
                    r.answers.len()
                ));
                for rec in &r.answers {
                    lines.push(format!(
                        "  {} {} {} {}",
                        rec.name,
                        rec.ttl,
                        super::type_name(rec.rtype),
                        rec.data
                    ));
                }
            }
            None => lines.push(format!(
                "dns {} @{}: {}",
                cfg.name,
                server,
                outcome.reason.as_deref().unwrap_or("no answer")
            )),
        }
        Ok(Triggered {
            lines,
            samples,
            up: outcome.up,
            config: cfg.into(),
        })
    }
}

/// `sentinel trigger dns`.
#[derive(clap::Args, Debug)]
pub struct DnsArgs {
    /// The name to look up.
    #[arg(value_parser = check_dns_name)]
    pub name: String,
    /// The server to ask: an IP address with an optional port.
    #[arg(short = 's', long = "server")]
    pub server: String,
    /// Record type: A, AAAA, MX, TXT, NS or CNAME.
    #[arg(short = 'T', long = "type", default_value = "A")]
    pub record_type: String,
    /// How long to wait for the answer.
    #[arg(short = 't', long = "timeout", default_value = "5s", value_parser = duration_arg)]
    pub timeout: Duration,
}

impl DnsConfig {
    /// One run, its series labelled `labels`.
    fn run_labelled(&self, labels: &Labels, ts: i64) -> Result<RunOutput, ProbeError> {
        let outcome = super::run(self)?;
        Ok(RunOutput {
            samples: super::samples_labelled(&outcome, labels, ts),
            down: (!outcome.up)
                .then(|| outcome.reason.unwrap_or_else(|| "no usable answer".into())),
            ..RunOutput::default()
        })
    }
}
