//! The scrape plugin's configuration: `tasks[].config` (keys, defaults,
//! validation) and the arguments of `sentinel trigger scrape`, made into the
//! same config by the same validators.

use std::time::Duration;

use crate::cli::args::duration_arg;
use crate::config::plugin::{check_probe_url, probe_timeout, probe_url, Loader, Table};
use crate::config::ConfigError;
use crate::probe::http::{read_client, with_client_keys, HttpClientConfig};
use crate::probe::{Plugin, PluginInfo, ProbeError, ReadConfig, RunOutput, TaskCache, Triggered};
use crate::sample::Labels;

/// `plugin: scrape`.
#[derive(Debug, Clone, PartialEq)]
pub struct ScrapeConfig {
    /// The `/metrics` URL, `http://` or `https://`.
    pub url: String,
    /// Bound on the request and reading the body.
    pub timeout: Duration,
    /// Headers, basic auth and TLS.
    pub client: HttpClientConfig,
}

const SCRAPE_KEYS: &[&str] = &with_client_keys::<8>(&["url", "timeout"]);
/// What `url` takes.
const WHAT: &str = "the URL of a Prometheus /metrics endpoint (like http://192.0.2.1:9100/metrics)";

/// `plugin: scrape`.
fn read(
    loader: &mut Loader,
    t: &Table,
    task_timeout: Duration,
) -> Result<ScrapeConfig, ConfigError> {
    let url = probe_url(&loader.ctx, t, WHAT)?;
    let timeout = probe_timeout(&loader.ctx, t, task_timeout)?;
    let client = read_client(loader, t, "scrape")?;
    Ok(ScrapeConfig {
        url,
        timeout,
        client,
    })
}

impl Plugin for ScrapeConfig {
    const ABOUT: &'static str = "Fetch a Prometheus or OpenMetrics /metrics endpoint and keep what it exposes, with job and instance labels, plus up, scrape_duration_seconds, scrape_samples_scraped";
    const KEYS: &'static [&'static str] = SCRAPE_KEYS;
    const INFO: PluginInfo = super::INFO;
    const TRIGGER_ABOUT: &'static str =
        "Fetch a Prometheus /metrics endpoint and parse it. Exits 1 on failure.";
    type Args = ScrapeArgs;
    const TRIGGER_EXAMPLE: &'static [&'static str] = &["http://127.0.0.1:1/"];

    const REQUIRED: (&'static str, &'static str) = ("url", WHAT);
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
            client: HttpClientConfig {
                headers: a.headers.clone(),
                ..HttpClientConfig::default()
            },
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
