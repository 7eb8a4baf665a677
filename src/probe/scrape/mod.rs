//! The scrape plugin: fetches a Prometheus `/metrics` endpoint (a router's
//! node_exporter, a local exporter, another agent) and buffers what it
//! exposes like any probe's samples, which is what vmagent does at a site,
//! but on sentinel's WAL. Blocking, bounded by the plugin's `timeout`.
//!
//! It follows Prometheus' scrape conventions. The request asks for
//! OpenMetrics first, then the classic text format, with Prometheus'
//! `Accept` header; either is parsed by `textformat` (shared with exec).
//! Every sample gets the task's labels plus `job` (the task id) and
//! `instance` (the target's `host:port`) unless the task's labels set
//! them; exposed labels that clash are kept as `exported_<name>`. Every
//! scrape, failed or not, adds `up` (1 or 0), `scrape_duration_seconds`
//! and `scrape_samples_scraped` with the same labels. A failed scrape (no
//! answer, a status other than 200, a body that is not the format) gives
//! only those three (`up 0`) and an error naming the URL and why, which
//! the probe actor counts, logs and shows like any failed run's.

mod config;

use std::io::Read;
use std::time::{Duration, Instant};

use super::textformat::{Encoded, SeriesKeys};
use super::{http, textformat, ProbeError, RunOutput, TaskCache, APPEND_MAX_SAMPLES};
use crate::sample::{Labels, Sample};
use crate::wal::record::{EncodedLabels, RunWriter};
pub use config::{ScrapeArgs, ScrapeConfig};

/// The largest body read; a bigger one is an error.
pub const MAX_BODY_BYTES: u64 = 64 << 20;
/// How much of an error body is quoted.
const BODY_QUOTE: usize = 200;
/// What the request accepts, as Prometheus asks: OpenMetrics first, the
/// classic text format next, anything else last.
pub const ACCEPT: &str = "application/openmetrics-text;version=1.0.0,\
    application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

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
    let agent = http::agent(cfg.timeout, &cfg.client)?;
    let mut req = agent.get(&cfg.url).header("Accept", ACCEPT);
    for (n, v) in http::request_headers(&cfg.client) {
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
    // Sized once from the announced length (read pages are not grown by
    // doubling, each step a copy).
    let announced = response
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0)
        .min(PREALLOCATE_MAX);
    let mut body = Vec::with_capacity(announced as usize);
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
    // A UTF-8 body becomes the String without a copy; other bytes are
    // replaced (and a line of them is reported as binary data).
    let body = String::from_utf8(body)
        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
    Ok(ScrapeOutput {
        body,
        duration: started.elapsed(),
    })
}

/// The most the body's buffer is sized to up front from `Content-Length`:
/// a target announcing 64 MiB and sending a few bytes gets no 64 MiB
/// allocation per scrape; a page larger than this grows as it arrives.
const PREALLOCATE_MAX: u64 = 4 << 20;

/// Scrapes once as a task does: the exposed samples and the scrape's own
/// (`up 1`); on failure the error, carrying `up 0` and the other two.
pub fn run_task(cfg: &ScrapeConfig, base: &Labels, ts_ms: i64) -> Result<Vec<Sample>, ProbeError> {
    let started = Instant::now();
    let result = run(cfg).and_then(|output| samples(cfg, &output, base, ts_ms));
    result.map_err(|error| ProbeError::WithSamples {
        error: Box::new(error),
        samples: scrape_samples(
            &target_labels(cfg, base),
            false,
            started.elapsed(),
            0,
            ts_ms,
        ),
    })
}

/// Scrapes once as a task does, the page written into WAL records in one
/// pass ([`records`]), the task's labels encoded once in `cache`; on
/// failure the error, carrying `up 0` and the other two.
pub fn run_cached(
    cfg: &ScrapeConfig,
    cache: &TaskCache,
    ts_ms: i64,
) -> Result<RunOutput, ProbeError> {
    let started = Instant::now();
    let labels = cache.encoded(|base| target_labels(cfg, base));
    let result = run(cfg).and_then(|output| records(cfg, &output, labels, ts_ms));
    result.map_err(|error| ProbeError::WithSamples {
        error: Box::new(error),
        samples: scrape_samples(labels.labels(), false, started.elapsed(), 0, ts_ms),
    })
}

/// The exposed samples plus `up 1`, `scrape_duration_seconds` and
/// `scrape_samples_scraped` written as WAL records in one pass, every
/// series with `labels` (the task's, with `job` and `instance`); the
/// scrape's own three as samples too, for the status page. A page that
/// gives one series twice is read as samples instead ([`samples`]),
/// which keeps the last value of each.
pub fn records(
    cfg: &ScrapeConfig,
    output: &ScrapeOutput,
    labels: &EncodedLabels,
    ts_ms: i64,
) -> Result<RunOutput, ProbeError> {
    let mut writer = RunWriter::new(APPEND_MAX_SAMPLES);
    let mut keys = SeriesKeys::default();
    let written = textformat::encode(&output.body, labels, ts_ms, &mut writer, &mut keys).map_err(
        |source| ProbeError::ScrapeFormat {
            url: cfg.url.clone(),
            source,
        },
    )?;
    if let Encoded::Series(scraped) = written {
        let own = scrape_samples(labels.labels(), true, output.duration, scraped, ts_ms);
        let none: &[(&str, &str)] = &[];
        if own.iter().all(|s| keys.insert(&s.name, none)) {
            for s in &own {
                writer.series(&s.name, &s.labels, s.value, s.timestamp_ms);
            }
            return Ok(RunOutput {
                samples: own,
                records: writer.finish(),
                down: None,
            });
        }
    }
    samples(cfg, output, labels.labels(), ts_ms).map(Into::into)
}

/// `base` plus `job` (the task id) and `instance` (the target's
/// `host:port`) where `base` does not set them.
pub fn target_labels(cfg: &ScrapeConfig, base: &Labels) -> Labels {
    let mut labels = base.clone();
    if labels.get("job").is_none() {
        if let Some(task) = base.get("task_id") {
            labels.insert("job", task);
        }
    }
    if labels.get("instance").is_none() {
        labels.insert("instance", instance(&cfg.url));
    }
    labels
}

/// The `host:port` of `url`, the port of its scheme when it has none
/// (`http://router/metrics` is `router:80`).
pub fn instance(url: &str) -> String {
    let scheme = |s: &str| {
        url.get(..s.len())
            .filter(|p| p.eq_ignore_ascii_case(s))
            .map(|_| &url[s.len()..])
    };
    let (rest, default_port) = match (scheme("https://"), scheme("http://")) {
        (Some(rest), _) => (rest, "443"),
        (_, Some(rest)) => (rest, "80"),
        _ => (url, ""),
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    let has_port = match authority.rsplit_once(']') {
        Some((_, after)) => after.starts_with(':'),
        None => authority.contains(':'),
    };
    if has_port || default_port.is_empty() {
        authority.to_string()
    } else {
        format!("{authority}:{default_port}")
    }
}

/// `up`, `scrape_duration_seconds` and `scrape_samples_scraped`.
fn scrape_samples(
    labels: &Labels,
    up: bool,
    duration: Duration,
    scraped: usize,
    ts_ms: i64,
) -> Vec<Sample> {
    vec![
        Sample::new("up", labels.clone(), if up { 1.0 } else { 0.0 }, ts_ms),
        Sample::new(
            "scrape_duration_seconds",
            labels.clone(),
            duration.as_secs_f64(),
            ts_ms,
        ),
        Sample::new(
            "scrape_samples_scraped",
            labels.clone(),
            scraped as f64,
            ts_ms,
        ),
    ]
}

/// The exposed samples plus `up 1`, `scrape_duration_seconds` and
/// `scrape_samples_scraped`, all with `base` and `job`/`instance` added.
pub fn samples(
    cfg: &ScrapeConfig,
    output: &ScrapeOutput,
    base: &Labels,
    ts_ms: i64,
) -> Result<Vec<Sample>, ProbeError> {
    let labels = target_labels(cfg, base);
    let mut out = textformat::parse(&output.body, &labels, ts_ms).map_err(|source| {
        ProbeError::ScrapeFormat {
            url: cfg.url.clone(),
            source,
        }
    })?;
    let scraped = out.len();
    out.extend(scrape_samples(
        &labels,
        true,
        output.duration,
        scraped,
        ts_ms,
    ));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> ScrapeConfig {
        ScrapeConfig {
            url: "http://10.0.0.1:9100/metrics".into(),
            timeout: Duration::from_secs(1),
            client: Default::default(),
        }
    }

    /// The records written in one pass read back as the samples of the
    /// same page; the scrape's own three come as samples too, for the
    /// status page.
    #[test]
    fn records_read_back_as_the_samples() {
        use crate::wal::record;
        let base = Labels::new()
            .with("task_id", "node")
            .with("device_id", "r1");
        let labels = EncodedLabels::new(&target_labels(&cfg(), &base));
        let output = ScrapeOutput {
            body: "m{job=\"x\",instance=\"y\"} 1\nn{a=\"b\"} 2\n".into(),
            duration: Duration::from_millis(5),
        };
        let out = records(&cfg(), &output, &labels, 7).unwrap();
        let back: Vec<Sample> = out
            .records
            .iter()
            .flat_map(|r| record::decode(r).unwrap())
            .collect();
        assert_eq!(back, samples(&cfg(), &output, &base, 7).unwrap());
        let own: Vec<&str> = out.samples.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            own,
            ["up", "scrape_duration_seconds", "scrape_samples_scraped"]
        );
        assert_eq!(out.samples[2].value, 2.0);

        // A page with an `up` of its own, the same series as the
        // scrape's: read as samples, and one `up` is stored, the scrape's.
        let output = ScrapeOutput {
            body: "up 0\nm 1\n".into(),
            duration: Duration::from_millis(5),
        };
        let out = records(&cfg(), &output, &labels, 7).unwrap();
        assert!(out.records.is_empty());
        let stored = record::decode(&record::encode(&out.samples)).unwrap();
        let ups: Vec<f64> = stored
            .iter()
            .filter(|s| s.name == "up")
            .map(|s| s.value)
            .collect();
        assert_eq!(ups, [1.0]);
    }

    #[test]
    fn instance_is_host_and_port() {
        assert_eq!(instance("http://127.0.0.1:9100/metrics"), "127.0.0.1:9100");
        assert_eq!(instance("http://router/metrics"), "router:80");
        assert_eq!(instance("HTTPS://router.lan"), "router.lan:443");
        assert_eq!(instance("https://[::1]:9100/m?x=1"), "[::1]:9100");
        assert_eq!(instance("http://[fe80::1]/metrics"), "[fe80::1]:80");
        assert_eq!(instance("http://h:1#frag"), "h:1");
    }

    #[test]
    fn job_and_instance_unless_the_task_sets_them() {
        let cfg = ScrapeConfig {
            url: "http://10.0.0.1:9100/metrics".into(),
            timeout: Duration::from_secs(1),
            client: http::HttpClientConfig::default(),
        };
        let base = Labels::new()
            .with("task_id", "node")
            .with("device_id", "r1");
        let l = target_labels(&cfg, &base);
        assert_eq!(l.get("job"), Some("node"));
        assert_eq!(l.get("instance"), Some("10.0.0.1:9100"));
        let set = base.clone().with("job", "routers").with("instance", "r1");
        let l = target_labels(&cfg, &set);
        assert_eq!(
            (l.get("job"), l.get("instance")),
            (Some("routers"), Some("r1"))
        );
        let output = ScrapeOutput {
            body: "m{job=\"x\",instance=\"y\"} 1\n".into(),
            duration: Duration::from_millis(5),
        };
        let s = samples(&cfg, &output, &base, 7).unwrap();
        let names: Vec<&str> = s.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "m",
                "up",
                "scrape_duration_seconds",
                "scrape_samples_scraped"
            ]
        );
        for sample in &s {
            assert_eq!(sample.labels.get("job"), Some("node"));
            assert_eq!(sample.labels.get("instance"), Some("10.0.0.1:9100"));
        }
        assert_eq!(s[0].labels.get("exported_job"), Some("x"));
        assert_eq!(s[0].labels.get("exported_instance"), Some("y"));
        assert_eq!((s[1].value, s[3].value), (1.0, 1.0));
    }
}
