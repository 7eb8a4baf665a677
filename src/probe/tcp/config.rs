//! The tcp plugin's configuration: `tasks[].config` (keys, defaults,
//! validation) and the arguments of `sentinel trigger tcp`, made into the
//! same config by the same validators.

use std::time::Duration;

use crate::cli::args::{duration_arg, ip_version_arg};
use crate::config::plugin::{
    check_host, host_value, ip_version_value, probe_timeout, Loader, Table,
};
use crate::config::{ConfigError, IpVersion};
use crate::probe::{Plugin, PluginInfo, ProbeError, ReadConfig, RunOutput, TaskCache, Triggered};
use crate::sample::Labels;

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

const TCP_KEYS: &[&str] = &["host", "port", "timeout", "ip_version"];
/// `plugin: tcp`.
fn read(loader: &mut Loader, t: &Table, task_timeout: Duration) -> Result<TcpConfig, ConfigError> {
    let ctx = &loader.ctx;
    let n = ctx.required(
        t,
        "host",
        "the host to connect to (a name or an IPv4/IPv6 address)",
    )?;
    let host = host_value(ctx, &n)?;
    let n = ctx.required(t, "port", "the TCP port to connect to (1 to 65535)")?;
    let port = ctx.uint(&n, 1, 65535, "a TCP port from 1 to 65535")? as u16;
    let ip_version = match t.get("ip_version") {
        Some(n) => ip_version_value(ctx, &n, &[&host])?,
        None => IpVersion::Any,
    };
    let timeout = probe_timeout(ctx, t, task_timeout)?;
    Ok(TcpConfig {
        host,
        port,
        timeout,
        ip_version,
    })
}

impl Plugin for TcpConfig {
    const ABOUT: &'static str = "TCP connect to host:port: tcp_up, tcp_connect_ms";
    const KEYS: &'static [&'static str] = TCP_KEYS;
    const INFO: PluginInfo = super::INFO;
    const TRIGGER_ABOUT: &'static str =
        "TCP connect to HOST:PORT. Exits 1 when the port does not accept.";
    type Args = TcpArgs;
    const TRIGGER_EXAMPLE: &'static [&'static str] = &["127.0.0.1", "1"];

    const REQUIRED: (&'static str, &'static str) = (
        "host",
        "the host to connect to (a name or an IPv4/IPv6 address)",
    );
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

    fn trigger(a: TcpArgs) -> anyhow::Result<Triggered> {
        let cfg = TcpConfig {
            host: a.host.clone(),
            port: a.port,
            timeout: a.timeout,
            ip_version: ip_version_arg(a.ipv4, a.ipv6),
        };
        let outcome = super::run(&cfg)?;
        let samples = super::samples(&cfg, &outcome, &Labels::new(), crate::sample::now_ms());
        let target = outcome
            .target
            .map_or_else(|| format!("{}:{}", a.host, a.port), |t| t.to_string());
        let line = match &outcome.reason {
            None => format!("tcp {target}: open"),
            Some(why) => format!("tcp {target}: down: {why}"),
        };
        Ok(Triggered {
            lines: vec![line],
            samples,
            up: outcome.connect_ms.is_some(),
            config: cfg.into(),
        })
    }
}

/// `sentinel trigger tcp`.
#[derive(clap::Args, Debug)]
pub struct TcpArgs {
    /// Host name or IPv4/IPv6 address.
    #[arg(value_parser = check_host)]
    pub host: String,
    /// TCP port.
    #[arg(value_parser = clap::value_parser!(u16).range(1..))]
    pub port: u16,
    /// Connect timeout (e.g. 5s, 500ms).
    #[arg(short = 't', long = "timeout", default_value = "5s", value_parser = duration_arg)]
    pub timeout: Duration,
    /// Use IPv4 only.
    #[arg(short = '4', conflicts_with = "ipv6")]
    pub ipv4: bool,
    /// Use IPv6 only.
    #[arg(short = '6')]
    pub ipv6: bool,
}

impl TcpConfig {
    /// One run, its series labelled `labels`.
    fn run_labelled(&self, labels: &Labels, ts: i64) -> Result<RunOutput, ProbeError> {
        let outcome = super::run(self)?;
        Ok(RunOutput {
            samples: super::samples_labelled(&outcome, labels, ts),
            down: outcome
                .connect_ms
                .is_none()
                .then(|| outcome.reason.unwrap_or_else(|| "no connection".into())),
            ..RunOutput::default()
        })
    }
}
