//! The scrape plugin's configuration: `tasks[].config` (keys, defaults,
//! validation) and the arguments of `sentinel trigger scrape`, made into the
//! same config by the same validators.

use std::path::PathBuf;
use std::time::Duration;

use crate::cli::args::duration_arg;
use crate::config::plugin::{
    check_probe_url, plugin_table, probe_http, probe_timeout, probe_url, Loader, Node,
};
use crate::config::{ConfigError, Secret};
use crate::probe::{
    Plugin, PluginInfo, ProbeError, ReadConfig, RunOutput, TaskCache, Triggered,
};
use crate::sample::Labels;

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

const SCRAPE_KEYS: &[&str] = &[
    "url",
    "timeout",
    "headers",
    "username",
    "password",
    "password_file",
    "ca_file",
    "insecure_skip_verify",
];
/// `plugin: scrape`.
fn read(
    loader: &mut Loader,
    node: Option<&Node>,
    path: &str,
    task_timeout: Duration,
) -> Result<ScrapeConfig, ConfigError> {
    const WHAT: &str =
        "the URL of a Prometheus /metrics endpoint (like http://192.0.2.1:9100/metrics)";
    let t = plugin_table(&loader.ctx, node, path, SCRAPE_KEYS, "url", WHAT)?;
    let url = probe_url(&loader.ctx, &t, path, WHAT)?;
    let timeout = probe_timeout(&loader.ctx, &t, task_timeout)?;
    let http = probe_http(loader, &t, "scrape")?;
    Ok(ScrapeConfig {
        url,
        timeout,
        headers: http.headers,
        username: http.username,
        password: http.password,
        ca_file: http.ca_file,
        insecure_skip_verify: http.insecure_skip_verify,
    })
}

impl Plugin for ScrapeConfig {
    const ABOUT: &'static str = "Fetch a Prometheus or OpenMetrics /metrics endpoint and keep what it exposes, with job and instance labels, plus up, scrape_duration_seconds, scrape_samples_scraped";
    const KEYS: &'static [&'static str] = SCRAPE_KEYS;
    const INFO: PluginInfo = super::INFO;
    const TRIGGER_ABOUT: &'static str =
        "Fetch a Prometheus /metrics endpoint and parse it. Exits 1 on failure.";
    type Args = ScrapeArgs;

    const READ: ReadConfig<Self> = read;

    fn max_run_time(&self) -> Duration {
        self.timeout
    }

    fn run(&self, base: &Labels, ts: i64) -> Result<RunOutput, ProbeError> {
        super::run_task(self, base, ts).map(Into::into)
    }

    fn run_cached(&self, cache: &TaskCache, ts: i64) -> Result<RunOutput, ProbeError> {
        super::run_cached(self, cache, ts)
    }

    fn trigger(a: ScrapeArgs) -> anyhow::Result<Triggered> {
        let cfg = ScrapeConfig {
            url: a.url.clone(),
            timeout: a.timeout,
            headers: a.headers.clone(),
            username: None,
            password: None,
            ca_file: None,
            insecure_skip_verify: false,
        };
        let output = super::run(&cfg)?;
        let samples = super::samples(&cfg, &output, &Labels::new(), crate::sample::now_ms())?;
        Ok(Triggered {
            lines: vec![format!("scrape {}: {} sample(s)", a.url, samples.len())],
            samples,
            up: true,
            config: cfg.into(),
        })
    }
}

/// `sentinel trigger scrape`.
#[derive(clap::Args, Debug)]
pub struct ScrapeArgs {
    /// The /metrics URL.
    #[arg(value_parser = check_probe_url)]
    pub url: String,
    /// Timeout of the request.
    #[arg(short = 't', long = "timeout", default_value = "10s", value_parser = duration_arg)]
    pub timeout: Duration,
    /// A request header, `Name: value` (repeatable).
    #[arg(short = 'H', long = "header", value_parser = crate::probe::http::parse_header_arg)]
    pub headers: Vec<(String, String)>,
}
