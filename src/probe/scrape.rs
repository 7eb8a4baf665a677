//! The scrape plugin: fetches a Prometheus `/metrics` endpoint (a router's
//! node_exporter, a local exporter, another agent) and buffers what it
//! exposes like any probe's samples, which is what vmagent does at a site,
//! but on sentinel's WAL. Blocking, bounded by the plugin's `timeout`.
//!
//! The body is parsed by `textformat` (shared with exec): every exposed
//! sample gets the task's labels, exposed labels that clash with them are
//! kept as `exported_<name>`. Two samples about the scrape itself are
//! added, as Prometheus adds them: `scrape_duration_seconds` and
//! `scrape_samples_scraped`. A failed scrape (no answer, a status other
//! than 200, a body that is not the format) is an error naming the URL and
//! why, counted and logged by the probe actor.

use std::io::Read;
use std::time::{Duration, Instant};

use super::{http, textformat, ProbeError};
use crate::config::ScrapeConfig;
use crate::sample::{Labels, Sample};

/// The largest body read; a bigger one is an error.
pub const MAX_BODY_BYTES: u64 = 64 << 20;
/// How much of an error body is quoted.
const BODY_QUOTE: usize = 200;
/// What the request accepts: the classic text format (OpenMetrics text
/// parses too, but is not asked for).
const ACCEPT: &str = "text/plain;version=0.0.4;q=1,*/*;q=0.1";

/// The series the scrape adds to what it reads, for `/metrics`, and what
/// the status page reads (the page's own series are typed as the page
/// declares them, or `untyped`).
pub const INFO: super::PluginInfo = super::PluginInfo {
    metrics: &[
        super::MetricDoc::gauge("up", "1 when the scrape worked, 0 when it failed."),
        super::MetricDoc::gauge(
            "scrape_duration_seconds",
            "Time the scrape took, in seconds.",
        ),
        super::MetricDoc::gauge(
            "scrape_samples_scraped",
            "Samples the scraped page exposed.",
        ),
    ],
    health: super::Health {
        up: Some("up"),
        latency: Some(("scrape_duration_seconds", 1000.0)),
        latency_min: None,
        latency_max: None,
        loss: None,
    },
};

/// The body of one scrape and how long it took.
#[derive(Debug, Clone, PartialEq)]
pub struct ScrapeOutput {
    pub body: String,
    pub duration: Duration,
}

/// Fetches `cfg.url` once.
pub fn run(cfg: &ScrapeConfig) -> Result<ScrapeOutput, ProbeError> {
    let started = Instant::now();
    let agent = http::agent(
        cfg.timeout,
        cfg.ca_file.as_deref(),
        cfg.insecure_skip_verify,
    )?;
    let mut req = agent.get(&cfg.url).header("Accept", ACCEPT);
    for (n, v) in
        http::request_headers(cfg.username.as_deref(), cfg.password.as_ref(), &cfg.headers)
    {
        req = req.header(n, v);
    }
    let fail = |detail: String| ProbeError::Scrape {
        url: cfg.url.clone(),
        detail,
    };
    let mut response = req
        .call()
        .map_err(|e| fail(http::describe_error(&e, cfg.timeout)))?;
    let status = response.status().as_u16();
    let mut body = Vec::new();
    response
        .body_mut()
        .as_reader()
        .take(MAX_BODY_BYTES + 1)
        .read_to_end(&mut body)
        .map_err(|e| fail(format!("reading the body failed: {e}")))?;
    if status != 200 {
        let text = String::from_utf8_lossy(&body);
        return Err(ProbeError::ScrapeStatus {
            url: cfg.url.clone(),
            status,
            body: text.trim().chars().take(BODY_QUOTE).collect(),
        });
    }
    if body.len() as u64 > MAX_BODY_BYTES {
        return Err(fail(format!(
            "the body is larger than {MAX_BODY_BYTES} bytes"
        )));
    }
    Ok(ScrapeOutput {
        body: String::from_utf8_lossy(&body).into_owned(),
        duration: started.elapsed(),
    })
}

/// The exposed samples plus `scrape_duration_seconds` and
/// `scrape_samples_scraped`, with `base` added.
pub fn samples(
    cfg: &ScrapeConfig,
    output: &ScrapeOutput,
    base: &Labels,
    ts_ms: i64,
) -> Result<Vec<Sample>, ProbeError> {
    let mut out = textformat::parse(&output.body, base, ts_ms).map_err(|source| {
        ProbeError::ScrapeFormat {
            url: cfg.url.clone(),
            source,
        }
    })?;
    let scraped = out.len() as f64;
    out.push(Sample::new(
        "scrape_duration_seconds",
        base.clone(),
        output.duration.as_secs_f64(),
        ts_ms,
    ));
    out.push(Sample::new(
        "scrape_samples_scraped",
        base.clone(),
        scraped,
        ts_ms,
    ));
    Ok(out)
}
