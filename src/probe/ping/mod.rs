//! The ping plugin: one run sends `count` ICMP echo requests `interval`
//! apart to `host` and turns the replies into the `ping_*` samples of
//! docs/DESIGN.md ("Data model").
//!
//! `run` is blocking and bounded: it returns at most `RUN_MARGIN` after
//! `PingConfig::max_run_time()` (the gaps between requests plus `timeout`),
//! and earlier once every echo is answered. The probe actor calls it off
//! the event loop; `sentinel trigger ping` calls it directly.
//!
//! Sending and matching go through the shared pinger (`pinger.rs`): one
//! ICMP socket per family for every task, one receiver thread that files
//! each reply under its echo by identifier and sequence number, and checks
//! the payload (a random token per run) and the sender's address. Several
//! runs at once, in one task or many, never take each other's replies.
//!
//! A task may list many hosts (`hosts:`, CIDR ranges expanded by the
//! config loader); each is its own series. Echo `j` to host `k` is due at
//! `start + j x interval + k / PING_SEND_RATE`: a round to thousands of
//! hosts is spread out rather than sent as one burst, and a run takes at
//! most `PingConfig::max_run_time()`.
//!
//! Latency distribution: with `histogram: true` a task keeps a cumulative
//! `ping_rtt_seconds` histogram per host (`_bucket` with `le` from 50 us
//! doubling to 26.2144 s and `+Inf`, `_sum`, `_count`), counted since the
//! agent started, for smokeping-style heatmaps. When a run has at least
//! `PERCENTILE_MIN_REPLIES` replies, `ping_rtt_quantile_ms{quantile="0.5"|
//! "0.9"|"0.95"|"0.99"}` give that run's percentiles (nearest rank): a
//! name of their own, so that `ping_rtt_ms` is the mean alone.
//!
//! A request the kernel refuses to send (no route, neighbour unreachable)
//! counts as sent and lost, like an unanswered one: for a monitoring agent
//! an unreachable host is a measurement (`ping_reachable 0`), not an error.
//! RTTs are measured on the monotonic clock (`Instant`).

mod config;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use super::icmp::Family;
use super::net::resolve_many;
use super::pinger::{EchoBoard, Lease, Pinger};
use super::{MetricDoc, ProbeError};
use crate::sample::{shared_static, Labels, MetricName, Sample, SharedStr};
pub use config::{
    PingArgs, PingConfig, MAX_PING_COUNT, MAX_PING_HOSTS, MAX_PING_SIZE, PING_SEND_RATE,
};

/// How long past `max_run_time()` a run may last when sending fell behind
/// schedule (a busy machine): the last echo still gets most of its timeout,
/// and the caller's bound holds.
pub const RUN_MARGIN: Duration = Duration::from_millis(100);
/// Bytes of the random per-run token at the start of every payload.
pub const TOKEN_LEN: usize = super::pinger::TOKEN_LEN;
/// Echoes due this soon are sent now rather than after a sleep: sleeping
/// for microseconds costs more than it spaces out.
const SEND_SLACK: Duration = Duration::from_millis(1);
/// Replies a run needs before its `ping_rtt_quantile_ms` percentiles are
/// emitted.
pub const PERCENTILE_MIN_REPLIES: usize = 20;
/// The percentiles emitted, with their `quantile` label values.
pub const QUANTILES: [(f64, &str); 4] =
    [(0.5, "0.5"), (0.9, "0.9"), (0.95, "0.95"), (0.99, "0.99")];
/// Upper bound of the first `ping_rtt_seconds` bucket; each next bucket
/// doubles it, `HISTOGRAM_BUCKETS` in all (the last is 26.2144 s).
pub const HISTOGRAM_FIRST_BOUND: f64 = 50e-6;
/// Finite buckets of `ping_rtt_seconds` (then `+Inf`).
pub const HISTOGRAM_BUCKETS: usize = 20;

/// The series of ping, for `/metrics`, and what the status page reads.
pub const INFO: super::PluginInfo = super::PluginInfo {
    metrics: &[
        MetricDoc::gauge(
            "ping_reachable",
            "1 when the host answered at least one echo request of the run, 0 otherwise.",
        ),
        MetricDoc::gauge("ping_rtt_ms", "Mean round-trip time of the run's replies, in ms."),
        MetricDoc::gauge("ping_rtt_min_ms", "Fastest reply of the run, in ms."),
        MetricDoc::gauge("ping_rtt_max_ms", "Slowest reply of the run, in ms."),
        MetricDoc::gauge(
            "ping_rtt_stddev_ms",
            "Standard deviation of the run's round-trip times, in ms.",
        ),
        MetricDoc::gauge(
            "ping_rtt_quantile_ms",
            "Round-trip time percentile of the run (nearest rank), in ms; runs of 20 replies or more.",
        ),
        MetricDoc::gauge(
            "ping_packet_loss",
            "Echo requests of the run that got no reply, in percent.",
        ),
        MetricDoc::gauge("ping_packets_sent", "Echo requests sent in the run."),
        MetricDoc::gauge("ping_packets_received", "Echo requests of the run answered in time."),
        MetricDoc::histogram(
            "ping_rtt_seconds",
            "Round-trip times since the agent started (histogram: true).",
        ),
    ],
    health: super::Health {
        up: Some("ping_reachable"),
        latency: Some(("ping_rtt_ms", 1.0)),
        latency_min: Some("ping_rtt_min_ms"),
        latency_max: Some("ping_rtt_max_ms"),
        loss: Some("ping_packet_loss"),
    },
};

/// The result of one run, before it is turned into samples.
#[derive(Debug, Clone, PartialEq)]
pub struct PingOutcome {
    /// The configured host string, as given (the `host` label).
    pub host: String,
    /// The address that was pinged.
    pub target: IpAddr,
    /// Echo requests attempted (sent or refused by the kernel).
    pub sent: u32,
    /// Echo requests answered in time, each counted once.
    pub received: u32,
    /// Round-trip times of the answered requests, in sequence order.
    pub rtts_ms: Vec<f64>,
}

/// Pings the first host of `cfg` (`host`, or the first of `hosts`):
/// `cfg.count` echoes `cfg.interval` apart, then waits up to `cfg.timeout`
/// for the last replies.
pub fn run(cfg: &PingConfig) -> Result<PingOutcome, ProbeError> {
    let first = cfg.targets().first().map(|h| h.to_string());
    let one = PingConfig {
        host: first.unwrap_or_default(),
        hosts: Vec::new(),
        ..cfg.clone()
    };
    run_hosts(&one)?
        .into_iter()
        .next()
        .map(|(_, r)| r)
        .unwrap_or_else(|| {
            Err(ProbeError::NoAddress {
                host: String::new(),
                wanted: "IP",
            })
        })
}

/// One host's result: its name as configured, and its outcome or why it
/// could not be pinged.
pub type HostResult = (String, Result<PingOutcome, ProbeError>);

/// Pings every host of `cfg` once. The outer error is one that stops the
/// whole run (no ICMP socket); each host has its own result, an error
/// when its name does not resolve.
pub fn run_hosts(cfg: &PingConfig) -> Result<Vec<HostResult>, ProbeError> {
    // Names first, all at once and bounded together; the pinging's own
    // clock starts after them.
    let targets = cfg.targets();
    let resolved: Vec<(String, Result<SocketAddr, ProbeError>)> = targets
        .iter()
        .zip(resolve_many(&targets, cfg.ip_version, NAME_LOOKUP_TIMEOUT))
        .map(|(h, r)| (h.to_string(), r.map(|a| a[0])))
        .collect();
    let start = Instant::now();
    let hard_deadline = start + cfg.max_run_time() + RUN_MARGIN;
    let count = cfg.count as usize;
    let mut v4: Option<Lease> = None;
    let mut v6: Option<Lease> = None;
    for (_, r) in &resolved {
        if let Ok(addr) = r {
            let slot = if addr.is_ipv4() { &mut v4 } else { &mut v6 };
            if slot.is_none() {
                *slot = Some(Pinger::get(Family::of(&addr.ip()), cfg.ttl)?);
            }
        }
    }
    let live: Vec<SocketAddr> = resolved
        .iter()
        .filter_map(|(_, r)| r.as_ref().ok().copied())
        .collect();
    let board = EchoBoard::new(live.len() * count, cfg.size);
    let gap = Duration::from_nanos(1_000_000_000 / PING_SEND_RATE);
    let mut keys: Vec<(bool, (u16, u16))> = Vec::with_capacity(live.len() * count);
    let mut last_sent = start;
    for j in 0..count {
        for (k, target) in live.iter().enumerate() {
            let due = start + cfg.interval * j as u32 + gap * k as u32;
            let now = Instant::now();
            if due > now + SEND_SLACK {
                std::thread::sleep(due - now);
            }
            let lease = if target.is_ipv4() { &v4 } else { &v6 };
            let pinger = lease.as_ref().expect("leased above");
            if let Some(key) = pinger.send(*target, &board, k * count + j, cfg.timeout) {
                keys.push((target.is_ipv4(), key));
            }
            last_sent = Instant::now();
        }
    }
    board.wait((last_sent + cfg.timeout).min(hard_deadline));
    for (is_v4, lease) in [(true, &v4), (false, &v6)] {
        if let Some(p) = lease {
            let mine: Vec<(u16, u16)> = keys
                .iter()
                .filter(|(f, _)| *f == is_v4)
                .map(|(_, k)| *k)
                .collect();
            p.forget(&mine);
        }
    }
    let rtts = board.rtts_ms();
    let mut k = 0;
    Ok(resolved
        .into_iter()
        .map(|(host, r)| {
            let outcome = r.map(|target| {
                let mine = &rtts[k * count..(k + 1) * count];
                k += 1;
                let rtts_ms: Vec<f64> = mine.iter().flatten().copied().collect();
                PingOutcome {
                    host: host.clone(),
                    target: target.ip(),
                    sent: count as u32,
                    received: rtts_ms.len() as u32,
                    rtts_ms,
                }
            });
            (host, outcome)
        })
        .collect())
}

/// Runs every host of a ping task and returns their samples, and why
/// hosts are unreachable. A host whose name does not resolve (or has no
/// address of the wanted IP version) cannot be reached: it is reported
/// with `ping_reachable` 0 and `ping_packet_loss` 100, nothing sent, and
/// the down reason names the cause, so that an alert on
/// `ping_reachable == 0` fires when a device's name stops resolving.
pub fn run_task(
    cfg: &PingConfig,
    base: &Labels,
    ts_ms: i64,
) -> Result<super::RunOutput, ProbeError> {
    run_task_with(cfg, base, &|host| host_labels(base, host), ts_ms)
}

/// [`run_task`] with each host's label set from `labels_of` (a task keeps
/// them from one run to the next, see `TaskCache::target`).
pub fn run_task_with(
    cfg: &PingConfig,
    base: &Labels,
    labels_of: &dyn Fn(&str) -> Labels,
    ts_ms: i64,
) -> Result<super::RunOutput, ProbeError> {
    let results = run_hosts(cfg)?;
    let mut out = Vec::with_capacity(results.len() * 8);
    let mut down = super::DownTargets::default();
    for (host, r) in results {
        match r {
            Ok(outcome) => {
                if outcome.received == 0 {
                    down.push(&host, || {
                        format!("no reply to any of {} echo requests", outcome.sent)
                    });
                }
                out.extend(samples_labelled(&outcome, labels_of(&outcome.host), ts_ms));
                if cfg.histogram {
                    out.extend(histogram_samples(&outcome, base, ts_ms));
                }
            }
            Err(e) => {
                out.extend(unresolved_samples(labels_of(&host), ts_ms));
                down.push(&host, || e.to_string());
            }
        }
    }
    Ok(super::RunOutput {
        samples: out,
        down: down.reason(),
        ..super::RunOutput::default()
    })
}

/// A host that could not be pinged at all: unreachable, all lost, none sent.
fn unresolved_samples(labels: Labels, ts_ms: i64) -> Vec<Sample> {
    [
        ("ping_reachable", 0.0),
        ("ping_packet_loss", 100.0),
        ("ping_packets_sent", 0.0),
        ("ping_packets_received", 0.0),
    ]
    .into_iter()
    .map(|(name, v)| Sample::new(MetricName::from_static(name), labels.clone(), v, ts_ms))
    .collect()
}

/// How long ping waits for the names of a task to resolve (all at once):
/// ample for a resolver that answers, and inside the 2 s of grace a run
/// has past its task's timeout, so that a dead DNS server still ends in
/// `ping_reachable 0` rather than in a run cut off.
pub const NAME_LOOKUP_TIMEOUT: Duration = Duration::from_millis(1500);

/// `size` payload bytes: the token (cut short if `size` is smaller), then
/// the byte pattern 0, 1, 2 ... that `ping(8)` also uses.
pub(crate) fn make_payload(token: &[u8; TOKEN_LEN], size: usize) -> Vec<u8> {
    token
        .iter()
        .copied()
        .chain((0..).map(|i: usize| i as u8))
        .take(size)
        .collect()
}

/// The `ping_*` samples of one run, labelled with `base` plus `host`.
/// When nothing came back there are no `ping_rtt_*` samples.
///
/// The samples share one label set (`base`'s strings, shared too, plus
/// `host`) and their names: a task of 10,000 hosts holds 10,000 small
/// label sets, not 80,000 sets of owned strings.
pub fn samples(outcome: &PingOutcome, base: &Labels, ts_ms: i64) -> Vec<Sample> {
    samples_labelled(outcome, host_labels(base, &outcome.host), ts_ms)
}

/// [`samples`] with the host's label set given.
fn samples_labelled(outcome: &PingOutcome, labels: Labels, ts_ms: i64) -> Vec<Sample> {
    let mut out = Vec::with_capacity(8);
    let mut push = |name: &'static str, value: f64| {
        out.push(Sample::new(
            MetricName::from_static(name),
            labels.clone(),
            value,
            ts_ms,
        ));
    };
    push(
        "ping_reachable",
        if outcome.received > 0 { 1.0 } else { 0.0 },
    );
    if let Some(stats) = RttStats::of(&outcome.rtts_ms) {
        push("ping_rtt_ms", stats.mean);
        push("ping_rtt_min_ms", stats.min);
        push("ping_rtt_max_ms", stats.max);
        push("ping_rtt_stddev_ms", stats.stddev);
    }
    push(
        "ping_packet_loss",
        loss_percent(outcome.sent, outcome.received),
    );
    push("ping_packets_sent", f64::from(outcome.sent));
    push("ping_packets_received", f64::from(outcome.received));
    if outcome.rtts_ms.len() >= PERCENTILE_MIN_REPLIES {
        let mut sorted = outcome.rtts_ms.clone();
        sorted.sort_by(f64::total_cmp);
        for (q, name) in QUANTILES {
            out.push(Sample::new(
                MetricName::from_static("ping_rtt_quantile_ms"),
                labels
                    .clone()
                    .with(shared_static("quantile"), shared_static(name)),
                percentile(&sorted, q),
                ts_ms,
            ));
        }
    }
    out
}

/// `base` plus the `host` label, the label name shared.
pub fn host_labels(base: &Labels, host: &str) -> Labels {
    base.clone().with(shared_static("host"), host)
}

/// The cumulative RTT histogram of one host of one task.
#[derive(Debug, Clone, Default)]
struct RttHistogram {
    /// Count per finite bucket (not cumulative; summed when emitted).
    buckets: [u64; HISTOGRAM_BUCKETS],
    /// Replies above the last finite bound.
    overflow: u64,
    sum_seconds: f64,
}

impl RttHistogram {
    fn observe(&mut self, seconds: f64) {
        let mut bound = HISTOGRAM_FIRST_BOUND;
        for b in &mut self.buckets {
            if seconds <= bound {
                *b += 1;
                self.sum_seconds += seconds;
                return;
            }
            bound *= 2.0;
        }
        self.overflow += 1;
        self.sum_seconds += seconds;
    }
}

/// The `le` label of finite bucket `i`: 5e-05 x 2^i, printed the shortest
/// way that reads back exactly ("0.00005" ... "26.2144").
fn bucket_bound(i: usize) -> f64 {
    HISTOGRAM_FIRST_BOUND * f64::from(1u32 << i)
}

/// The `le` values of the finite buckets, then `+Inf`, made once and
/// shared by every host's bucket series.
fn bucket_les() -> &'static [SharedStr; HISTOGRAM_BUCKETS + 1] {
    static LES: OnceLock<[SharedStr; HISTOGRAM_BUCKETS + 1]> = OnceLock::new();
    LES.get_or_init(|| {
        std::array::from_fn(|i| {
            if i < HISTOGRAM_BUCKETS {
                SharedStr::from(bucket_bound(i).to_string())
            } else {
                shared_static("+Inf")
            }
        })
    })
}

/// Every task's histograms, by (task_id, host): they outlive runs. A
/// restart of the agent starts them at zero, which Prometheus reads as a
/// counter reset.
fn histograms() -> &'static Mutex<HashMap<(String, String), RttHistogram>> {
    static H: OnceLock<Mutex<HashMap<(String, String), RttHistogram>>> = OnceLock::new();
    H.get_or_init(|| Mutex::new(HashMap::new()))
}

/// Drops the histograms of `task_id` for hosts not in `keep` (all of
/// them for a removed task), so that a reload that removes a task or
/// hosts does not keep their histograms for the life of the process.
pub fn forget_histograms(task_id: &str, keep: &[&str]) {
    let mut all = histograms().lock().unwrap_or_else(|e| e.into_inner());
    all.retain(|(task, host), _| task != task_id || keep.contains(&host.as_str()));
}

/// Adds this run's RTTs to the host's histogram and returns it as
/// `ping_rtt_seconds_bucket`/`_sum`/`_count` samples.
pub fn histogram_samples(outcome: &PingOutcome, base: &Labels, ts_ms: i64) -> Vec<Sample> {
    let key = (
        base.get("task_id").unwrap_or("").to_string(),
        outcome.host.clone(),
    );
    let h = {
        let mut all = histograms().lock().unwrap_or_else(|e| e.into_inner());
        let h = all.entry(key).or_default();
        for rtt in &outcome.rtts_ms {
            h.observe(rtt / 1000.0);
        }
        h.clone()
    };
    let labels = host_labels(base, &outcome.host);
    let les = bucket_les();
    let le = shared_static("le");
    let bucket = MetricName::from_static("ping_rtt_seconds_bucket");
    let mut out = Vec::with_capacity(HISTOGRAM_BUCKETS + 3);
    let mut cumulative = 0u64;
    for (i, n) in h.buckets.iter().enumerate() {
        cumulative += n;
        out.push(Sample::new(
            bucket.clone(),
            labels.clone().with(&le, &les[i]),
            cumulative as f64,
            ts_ms,
        ));
    }
    let total = cumulative + h.overflow;
    out.push(Sample::new(
        bucket,
        labels.clone().with(&le, &les[HISTOGRAM_BUCKETS]),
        total as f64,
        ts_ms,
    ));
    out.push(Sample::new(
        MetricName::from_static("ping_rtt_seconds_sum"),
        labels.clone(),
        h.sum_seconds,
        ts_ms,
    ));
    out.push(Sample::new(
        MetricName::from_static("ping_rtt_seconds_count"),
        labels,
        total as f64,
        ts_ms,
    ));
    out
}

/// The nearest-rank percentile `q` of sorted `values`.
fn percentile(sorted: &[f64], q: f64) -> f64 {
    let rank = (q * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1]
}

/// Lost share of the requests, percent; 100 when nothing was sent.
fn loss_percent(sent: u32, received: u32) -> f64 {
    if sent == 0 {
        return 100.0;
    }
    f64::from(sent.saturating_sub(received)) * 100.0 / f64::from(sent)
}

/// Summary of the RTTs of one run.
#[derive(Debug, Clone, Copy, PartialEq)]
struct RttStats {
    mean: f64,
    min: f64,
    max: f64,
    /// Population standard deviation, as `ping(8)` prints it as `mdev`.
    stddev: f64,
}

impl RttStats {
    fn of(rtts: &[f64]) -> Option<RttStats> {
        if rtts.is_empty() {
            return None;
        }
        let n = rtts.len() as f64;
        let mean = rtts.iter().sum::<f64>() / n;
        let var = rtts.iter().map(|r| (r - mean) * (r - mean)).sum::<f64>() / n;
        Some(RttStats {
            mean,
            min: rtts.iter().copied().fold(f64::INFINITY, f64::min),
            max: rtts.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            stddev: var.sqrt(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(sent: u32, rtts: &[f64]) -> PingOutcome {
        PingOutcome {
            host: "router-1.example".into(),
            target: "192.0.2.1".parse().unwrap(),
            sent,
            received: rtts.len() as u32,
            rtts_ms: rtts.to_vec(),
        }
    }

    fn base() -> Labels {
        Labels::new()
            .with("device_id", "r1")
            .with("task_id", "t1")
            .with("sentinel", "agent")
    }

    fn value(samples: &[Sample], name: &str) -> Option<f64> {
        samples.iter().find(|s| s.name == name).map(|s| s.value)
    }

    #[test]
    fn samples_of_a_partly_answered_run() {
        let s = samples(&outcome(4, &[1.0, 2.0, 3.0]), &base(), 1_700_000_000_000);
        let names: Vec<_> = s.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "ping_reachable",
                "ping_rtt_ms",
                "ping_rtt_min_ms",
                "ping_rtt_max_ms",
                "ping_rtt_stddev_ms",
                "ping_packet_loss",
                "ping_packets_sent",
                "ping_packets_received",
            ]
        );
        assert_eq!(value(&s, "ping_reachable"), Some(1.0));
        assert_eq!(value(&s, "ping_rtt_ms"), Some(2.0));
        assert_eq!(value(&s, "ping_rtt_min_ms"), Some(1.0));
        assert_eq!(value(&s, "ping_rtt_max_ms"), Some(3.0));
        // Population stddev of 1, 2, 3: sqrt(2/3), as ping(8)'s mdev.
        let sd = value(&s, "ping_rtt_stddev_ms").unwrap();
        assert!((sd - (2.0f64 / 3.0).sqrt()).abs() < 1e-12, "{sd}");
        assert_eq!(value(&s, "ping_packet_loss"), Some(25.0));
        assert_eq!(value(&s, "ping_packets_sent"), Some(4.0));
        assert_eq!(value(&s, "ping_packets_received"), Some(3.0));
        for sample in &s {
            assert_eq!(sample.timestamp_ms, 1_700_000_000_000);
            let names: Vec<_> = sample.labels.iter().map(|(n, _)| n).collect();
            assert_eq!(names, ["device_id", "host", "sentinel", "task_id"]);
            assert_eq!(sample.labels.get("host"), Some("router-1.example"));
        }
    }

    #[test]
    fn total_loss_has_no_rtt_series() {
        let s = samples(&outcome(3, &[]), &base(), 1);
        assert_eq!(value(&s, "ping_reachable"), Some(0.0));
        assert_eq!(value(&s, "ping_packet_loss"), Some(100.0));
        assert_eq!(value(&s, "ping_packets_received"), Some(0.0));
        assert!(s.iter().all(|s| !s.name.starts_with("ping_rtt")), "{s:?}");
        assert_eq!(s.len(), 4);
    }

    #[test]
    fn percentiles_only_from_enough_replies() {
        let few: Vec<f64> = (1..20).map(f64::from).collect();
        let s = samples(&outcome(19, &few), &base(), 1);
        assert!(s.iter().all(|s| s.labels.get("quantile").is_none()));
        let many: Vec<f64> = (1..=100).rev().map(f64::from).collect();
        let s = samples(&outcome(100, &many), &base(), 1);
        let q: Vec<(&str, f64)> = s
            .iter()
            .filter_map(|s| s.labels.get("quantile").map(|q| (q, s.value)))
            .collect();
        assert_eq!(
            q,
            [("0.5", 50.0), ("0.9", 90.0), ("0.95", 95.0), ("0.99", 99.0)]
        );
        assert!(s
            .iter()
            .filter(|s| s.labels.get("quantile").is_some())
            .all(|s| s.name == "ping_rtt_quantile_ms"));
        // The mean is `ping_rtt_ms` alone, one series, no quantile label.
        assert_eq!(value(&s, "ping_rtt_ms"), Some(50.5));
        assert_eq!(s.iter().filter(|s| s.name == "ping_rtt_ms").count(), 1);
    }

    #[test]
    fn histogram_is_cumulative_across_runs() {
        let base = base().with("task_id", "hist-test");
        let first = histogram_samples(&outcome(3, &[0.03, 0.2, 1.0]), &base, 1);
        assert_eq!(first.len(), HISTOGRAM_BUCKETS + 3);
        let les: Vec<&str> = first.iter().filter_map(|s| s.labels.get("le")).collect();
        assert_eq!(les[0], "0.00005");
        assert_eq!(les[1], "0.0001");
        assert_eq!(les[19], "26.2144");
        assert_eq!(les[20], "+Inf");
        let bucket = |s: &[Sample], le: &str| {
            s.iter()
                .find(|s| s.labels.get("le") == Some(le))
                .map(|s| s.value)
                .unwrap()
        };
        // 0.03 ms = 30 us <= 50 us; 0.2 ms <= 0.0002 s; 1 ms <= 0.0016 s.
        assert_eq!(bucket(&first, "0.00005"), 1.0);
        assert_eq!(bucket(&first, "0.0002"), 2.0);
        assert_eq!(bucket(&first, "0.0008"), 2.0);
        assert_eq!(bucket(&first, "0.0016"), 3.0);
        assert_eq!(bucket(&first, "+Inf"), 3.0);
        // A second run adds to the first; 30 s is past the last bound.
        let second = histogram_samples(&outcome(2, &[0.1, 30_000.0]), &base, 2);
        assert_eq!(bucket(&second, "0.0001"), 2.0);
        assert_eq!(bucket(&second, "26.2144"), 4.0);
        assert_eq!(bucket(&second, "+Inf"), 5.0);
        assert_eq!(value(&second, "ping_rtt_seconds_count"), Some(5.0));
        let sum = value(&second, "ping_rtt_seconds_sum").unwrap();
        assert!((sum - 30.00133).abs() < 1e-9, "{sum}");
        assert!(second
            .iter()
            .all(|s| s.labels.get("host") == Some("router-1.example")));
    }

    #[test]
    fn a_removed_task_or_host_forgets_its_histogram() {
        let base = base().with("task_id", "forget-test");
        let count = |o| value(&histogram_samples(o, &base, 1), "ping_rtt_seconds_count");
        let one = outcome(1, &[1.0]);
        assert_eq!(count(&one), Some(1.0));
        assert_eq!(count(&one), Some(2.0));
        // Still a host of the task: kept.
        forget_histograms("forget-test", &["router-1.example"]);
        assert_eq!(count(&one), Some(3.0));
        // The task changed its hosts, or went: gone, it starts again.
        forget_histograms("forget-test", &[]);
        assert_eq!(count(&one), Some(1.0));
    }

    #[test]
    fn loss_is_a_percentage() {
        assert_eq!(loss_percent(200, 140), 30.0);
        assert_eq!(loss_percent(1, 1), 0.0);
        assert_eq!(loss_percent(0, 0), 100.0);
    }

    #[test]
    fn payload_starts_with_token_and_has_the_size() {
        let token = [9u8; TOKEN_LEN];
        let p = make_payload(&token, 12);
        assert_eq!(p, [9, 9, 9, 9, 9, 9, 9, 9, 0, 1, 2, 3]);
        assert_eq!(make_payload(&token, 3), [9, 9, 9]);
        assert!(make_payload(&token, 0).is_empty());
        assert_eq!(make_payload(&token, 65_507).len(), 65_507);
    }
}
