//! The agent's own counters and gauges (`sentinel_*`) and the latest probe
//! results, kept in memory and rendered in the Prometheus text format.
//!
//! Every actor holds an `Arc<Telemetry>` and records into it; nothing here
//! blocks for long (one mutex, held for a map update). `server.rs` serves it
//! on `http.listen` as `/metrics` and `/healthz`.

pub mod server;
pub mod status;

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::sample::{Labels, Sample};

/// Kinds of series, for the `# TYPE` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Counter,
    Gauge,
}

/// One metric family: its kind, help text and series.
type Family = (Option<Kind>, &'static str, BTreeMap<Labels, f64>);

/// A backend's delivery state, for `/healthz` and `wal stats`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct BackendHealth {
    /// False while requests fail (outage).
    pub ok: bool,
    /// Unix seconds when the current state began.
    pub since_unix: u64,
    /// Why it is failing (`unreachable`, `not_found`, ...); empty when ok.
    pub reason: String,
    /// The last error, already free of secrets.
    pub error: String,
}

#[derive(Default)]
struct Families {
    /// name → family.
    map: BTreeMap<String, Family>,
    /// task id → its last run, shown as it is: the samples of a run of
    /// few series, or the WAL records of one written in one pass
    /// (decoded when asked for).
    probes: BTreeMap<String, Arc<LastRun>>,
    backends: BTreeMap<String, BackendHealth>,
    /// task id → its recent past, for the status page.
    histories: BTreeMap<String, status::TaskHistory>,
    /// task id → the last run before the task was changed by a reload:
    /// the series of it that the next run no longer has get stale markers.
    retired: BTreeMap<String, Arc<LastRun>>,
}

/// A task's latest run as telemetry keeps it for `/metrics` and for the
/// stale markers of its series.
#[derive(Debug, Clone)]
pub enum LastRun {
    /// A run of few series (ping, tcp, http, dns), as samples sharing
    /// their label sets.
    Samples(Arc<Vec<Sample>>),
    /// A run written into WAL records in one pass (scrape, exec): kept
    /// compressed, as stored, and decoded on demand.
    Records(Vec<Vec<u8>>),
}

impl LastRun {
    /// The run's samples (decoded from its records). A record that does
    /// not decode (it never should: this agent wrote it a moment ago) is
    /// logged and left out.
    pub fn samples(&self) -> Cow<'_, [Sample]> {
        match self {
            LastRun::Samples(s) => Cow::Borrowed(s.as_slice()),
            LastRun::Records(records) => {
                let mut out = Vec::new();
                for r in records {
                    match crate::wal::record::decode(r) {
                        Ok(s) => out.extend(s),
                        Err(e) => {
                            log::error!(error:% = e; "A probe run kept for /metrics does not decode; left out.")
                        }
                    }
                }
                Cow::Owned(out)
            }
        }
    }

    /// The first timestamp of the run, if it has samples.
    fn first_ts(&self) -> Option<i64> {
        match self {
            LastRun::Samples(s) => s.first().map(|s| s.timestamp_ms),
            LastRun::Records(r) => r
                .first()
                .and_then(|r| crate::wal::record::header(r).ok())
                .map(|h| h.min_ts_ms),
        }
    }
}

impl From<Vec<Sample>> for LastRun {
    fn from(s: Vec<Sample>) -> LastRun {
        LastRun::Samples(Arc::new(s))
    }
}

impl From<Arc<Vec<Sample>>> for LastRun {
    fn from(s: Arc<Vec<Sample>>) -> LastRun {
        LastRun::Samples(s)
    }
}

/// Shared counters; cheap to clone behind an `Arc`.
pub struct Telemetry {
    started: Instant,
    inner: Mutex<Families>,
}

impl Default for Telemetry {
    fn default() -> Self {
        let t = Telemetry {
            started: Instant::now(),
            inner: Mutex::new(Families::default()),
        };
        // Every counter exists from the start, at 0, so that `increase()`
        // sees the first event.
        for direction in ["forward", "backward"] {
            t.count_clock_jump(direction, 0.0);
        }
        t.count_accepted(0.0);
        t.count_wal_reopen(0.0);
        t
    }
}

impl Telemetry {
    pub fn new() -> Self {
        Self::default()
    }

    fn with<R>(&self, f: impl FnOnce(&mut Families) -> R) -> R {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut g)
    }

    /// Adds `by` to the counter `name{labels}`.
    pub fn inc(&self, name: &str, help: &'static str, labels: Labels, by: f64) {
        self.with(|f| {
            let fam = f.map.entry(name.to_string()).or_insert((
                Some(Kind::Counter),
                help,
                BTreeMap::new(),
            ));
            *fam.2.entry(labels).or_insert(0.0) += by;
        })
    }

    /// Adds `samples` to `sentinel_samples_dropped_total{backend,reason}`
    /// (the WAL's caps and the shipper's refusals count the same series).
    pub fn count_dropped(&self, backend: &str, reason: &str, samples: f64) {
        self.inc(
            "sentinel_samples_dropped_total",
            "Samples dropped, by backend and reason.",
            Labels::new()
                .with("backend", backend)
                .with("reason", reason),
            samples,
        );
    }

    /// Adds `samples` to `sentinel_samples_accepted_total`.
    pub fn count_accepted(&self, samples: f64) {
        self.inc(
            "sentinel_samples_accepted_total",
            "Samples written to the WAL (held in memory while the disk is full: counted once written).",
            Labels::new(),
            samples,
        );
    }

    /// Adds `by` to `sentinel_wal_reopens_total`.
    pub fn count_wal_reopen(&self, by: f64) {
        self.inc(
            "sentinel_wal_reopens_total",
            "Times the WAL closed and reopened its database to free the pages sled keeps in \
             memory (during a backlog, every few MiB written or read).",
            Labels::new(),
            by,
        );
    }

    /// Adds `by` to `sentinel_wall_clock_jumps_total{direction}`
    /// (`forward` or `backward`).
    pub fn count_clock_jump(&self, direction: &str, by: f64) {
        self.inc(
            "sentinel_wall_clock_jumps_total",
            "Jumps of the wall clock against the monotonic clock, by direction.",
            Labels::new().with("direction", direction),
            by,
        );
    }

    /// Sets the gauge `name{labels}`.
    pub fn set(&self, name: &str, help: &'static str, labels: Labels, value: f64) {
        self.with(|f| {
            let fam =
                f.map
                    .entry(name.to_string())
                    .or_insert((Some(Kind::Gauge), help, BTreeMap::new()));
            fam.2.insert(labels, value);
        })
    }

    /// Reads a counter or gauge (0 when absent); for tests and `/healthz`.
    pub fn get(&self, name: &str, labels: &Labels) -> f64 {
        self.with(|f| {
            f.map
                .get(name)
                .and_then(|fam| fam.2.get(labels).copied())
                .unwrap_or(0.0)
        })
    }

    /// Makes a task known to the status page before its first run.
    pub fn register_task(
        &self,
        task_id: &str,
        device_id: &str,
        plugin: &'static str,
        interval: std::time::Duration,
    ) {
        self.with(|f| {
            let keep = f
                .histories
                .get(task_id)
                .is_some_and(|h| h.device_id == device_id && h.plugin == plugin);
            if !keep {
                f.histories.insert(
                    task_id.to_string(),
                    status::TaskHistory::new(device_id, plugin, interval),
                );
            }
        })
    }

    /// Keeps the latest samples of a task's run for `/metrics`, and adds
    /// the run to the task's history for the status page. Pass an
    /// `Arc` to share the run with other holders (the probe does); a
    /// `Vec` is moved in. Either way the samples are not copied.
    pub fn set_probe_result(&self, task_id: &str, samples: impl Into<Arc<Vec<Sample>>>) {
        self.set_probe_run(task_id, samples, None);
    }

    /// [`Telemetry::set_probe_result`] of a run that reports its target
    /// (or some targets) down, with why: `/api/status` and the status page
    /// show the reason until the next run.
    pub fn set_probe_run(
        &self,
        task_id: &str,
        samples: impl Into<Arc<Vec<Sample>>>,
        down: Option<String>,
    ) {
        let samples: Arc<Vec<Sample>> = samples.into();
        let summary = samples.clone();
        self.keep_run(task_id, Arc::new(LastRun::Samples(samples)), &summary, down);
    }

    /// Keeps a task's latest run (see [`LastRun`]) for `/metrics`, and
    /// adds it to the task's history for the status page, read from
    /// `summary`: the run's series that its plugin declares as up and
    /// latency (all of them for a run of samples; a scrape's `up` and
    /// duration for one written as records).
    pub fn keep_run(
        &self,
        task_id: &str,
        run: Arc<LastRun>,
        summary: &[Sample],
        down: Option<String>,
    ) {
        let ts = run.first_ts().unwrap_or_else(crate::sample::now_ms);
        let plugin = self.with(|f| f.histories.get(task_id).map(|h| h.plugin));
        let summary = status::RunSummary::of(plugin.unwrap_or(""), summary);
        self.with(|f| {
            if let Some(h) = f.histories.get_mut(task_id) {
                h.record_run(ts, summary, down);
            }
            // The previous run is dropped after the lock is released.
            f.probes.insert(task_id.to_string(), run)
        });
    }

    /// A task's run failed with `error` (it gave no samples): the status
    /// page shows the task in state `error` with the reason until a run
    /// succeeds. `/metrics` keeps the last result it had.
    pub fn set_probe_error(&self, task_id: &str, error: String) {
        let ts = crate::sample::now_ms();
        self.with(|f| {
            if let Some(h) = f.histories.get_mut(task_id) {
                h.record_error(ts, error);
            }
        });
    }

    /// Forgets a removed task's results and history.
    pub fn remove_probe(&self, task_id: &str) {
        self.with(|f| {
            f.probes.remove(task_id);
            f.histories.remove(task_id);
            f.retired.remove(task_id);
        })
    }

    /// Everything the status page shows, at this moment.
    pub fn status(&self, agent: &str, region: &str) -> status::Status {
        let now_ms = crate::sample::now_ms();
        let uptime_seconds = self.uptime_seconds();
        self.with(|f| {
            let gauge = |name: &str, backend: &str| {
                f.map
                    .get(name)
                    .and_then(|fam| fam.2.get(&Labels::new().with("backend", backend)).copied())
                    .unwrap_or(0.0)
            };
            let backends = f
                .backends
                .iter()
                .map(|(name, h)| {
                    let mut dropped = BTreeMap::new();
                    if let Some(fam) = f.map.get("sentinel_samples_dropped_total") {
                        for (l, v) in &fam.2 {
                            if l.get("backend") == Some(name.as_str()) {
                                let reason = l.get("reason").unwrap_or("").to_string();
                                *dropped.entry(reason).or_insert(0) += *v as u64;
                            }
                        }
                    }
                    status::BackendStatus {
                        name: name.clone(),
                        ok: h.ok,
                        since_unix: h.since_unix,
                        reason: h.reason.clone(),
                        error: h.error.clone(),
                        backlog_samples: gauge("sentinel_wal_samples_pending", name) as u64,
                        oldest_sample_age_seconds: gauge(
                            "sentinel_wal_oldest_sample_age_seconds",
                            name,
                        ),
                        dropped,
                        send_rate_samples_per_second: gauge(
                            "sentinel_send_samples_per_second",
                            name,
                        ),
                        backlog_eta_seconds: status::backlog_eta_seconds(
                            gauge("sentinel_wal_samples_pending", name) as u64,
                            gauge("sentinel_send_samples_per_second", name),
                        ),
                    }
                })
                .collect();
            let tasks = f
                .histories
                .iter()
                .map(|(id, h)| status::TaskStatus::from_history(id, h))
                .collect();
            status::Status {
                agent: agent.to_string(),
                region: region.to_string(),
                version: env!("CARGO_PKG_VERSION"),
                uptime_seconds,
                now_ms,
                tasks,
                backends,
            }
        })
    }

    /// The latest samples of a task (for stale markers on removal).
    /// A reload changed the task: keep its last run aside until the first
    /// run of the changed task (see [`Telemetry::take_retired`]).
    pub fn retire_series(&self, task_id: &str) {
        self.with(|f| {
            if let Some(last) = f.probes.get(task_id).cloned() {
                f.retired.insert(task_id.to_string(), last);
            }
        })
    }

    /// The series of the task's run before a change that `run` does not
    /// have any more (a new device_id, label or host): the probe writes
    /// stale markers for them. Empty when the task did not change.
    pub fn take_retired(&self, task_id: &str, run: &LastRun) -> Vec<Sample> {
        let Some(old) = self.with(|f| f.retired.remove(task_id)) else {
            return Vec::new();
        };
        let run = run.samples();
        let now: std::collections::HashSet<(&str, &Labels)> =
            run.iter().map(|s| (s.name.as_str(), &s.labels)).collect();
        old.samples()
            .iter()
            .filter(|s| !now.contains(&(s.name.as_str(), &s.labels)))
            .cloned()
            .collect()
    }

    pub fn probe_result(&self, task_id: &str) -> Vec<Sample> {
        let last = self.with(|f| f.probes.get(task_id).cloned());
        last.map(|l| l.samples().into_owned()).unwrap_or_default()
    }

    /// Records that `backend` is delivering (`ok`) or failing; keeps the
    /// start time while the state does not change.
    pub fn set_backend_health(&self, backend: &str, ok: bool, reason: &str, error: &str) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        self.with(|f| {
            let e = f
                .backends
                .entry(backend.to_string())
                .or_insert(BackendHealth {
                    ok,
                    since_unix: now,
                    reason: String::new(),
                    error: String::new(),
                });
            if e.ok != ok {
                e.since_unix = now;
            }
            e.ok = ok;
            e.reason = reason.to_string();
            e.error = error.to_string();
        });
        self.set(
            "sentinel_backend_up",
            "1 while the backend takes requests, 0 during an outage.",
            Labels::new().with("backend", backend),
            if ok { 1.0 } else { 0.0 },
        );
    }

    /// Forgets a removed backend.
    pub fn remove_backend(&self, backend: &str) {
        self.with(|f| {
            f.backends.remove(backend);
            for (_, (_, _, series)) in f.map.iter_mut() {
                series.retain(|l, _| l.get("backend") != Some(backend));
            }
        })
    }

    pub fn backend_health(&self) -> BTreeMap<String, BackendHealth> {
        self.with(|f| f.backends.clone())
    }

    /// Every `sentinel_*` counter and gauge as samples stamped `ts_ms`,
    /// with `base` labels added: the fleet view written into the WAL.
    pub fn own_samples(&self, base: &Labels, ts_ms: i64) -> Vec<Sample> {
        let mut out = vec![Sample::new(
            "sentinel_uptime_seconds",
            base.clone(),
            self.uptime_seconds(),
            ts_ms,
        )];
        self.with(|f| {
            for (name, (_, _, series)) in &f.map {
                for (labels, v) in series {
                    let mut l = base.clone();
                    l.extend(labels);
                    out.push(Sample::new(name.clone(), l, *v, ts_ms));
                }
            }
        });
        out
    }

    pub fn uptime_seconds(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    /// The Prometheus text exposition of everything held: every family
    /// once, with `# HELP` and `# TYPE`, its series together. A probe
    /// series is typed as its plugin declares it
    /// ([`crate::probe::metric_doc`]); what exec and scrape read from a
    /// page, which no plugin declares, is `untyped`.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP sentinel_uptime_seconds Seconds since the agent started.\n# TYPE sentinel_uptime_seconds gauge\nsentinel_uptime_seconds {}",
            self.uptime_seconds()
        );
        /// One family as printed: type, help, and its lines.
        struct Printed<'a> {
            kind: &'static str,
            help: Option<&'static str>,
            own: Vec<(Labels, f64)>,
            probe: Vec<&'a Sample>,
        }
        let mut families: BTreeMap<String, Printed> = BTreeMap::new();
        let probes: Vec<Arc<LastRun>> = self.with(|f| {
            for (name, (kind, help, series)) in &f.map {
                families.insert(
                    name.clone(),
                    Printed {
                        kind: match kind {
                            Some(Kind::Counter) => "counter",
                            _ => "gauge",
                        },
                        help: Some(help),
                        own: series.iter().map(|(l, v)| (l.clone(), *v)).collect(),
                        probe: Vec::new(),
                    },
                );
            }
            f.probes.values().cloned().collect()
        });
        // The probe results are shared, not copied (records decoded):
        // grouped and rendered without the lock, so a large task does not
        // hold up every counter update.
        let probes: Vec<Cow<[Sample]>> = probes.iter().map(|p| p.samples()).collect();
        for s in probes.iter().flat_map(|p| p.iter()) {
            let doc = crate::probe::metric_doc(&s.name);
            let family = doc.map_or(s.name.as_str(), |d| d.name);
            if let Some(fam) = families.get_mut(family) {
                fam.probe.push(s);
            } else {
                families.insert(
                    family.to_string(),
                    Printed {
                        kind: doc.map_or("untyped", |d| d.kind.as_str()),
                        help: doc.map(|d| d.help),
                        own: Vec::new(),
                        probe: vec![s],
                    },
                );
            }
        }
        for (name, fam) in &families {
            if let Some(help) = fam.help {
                let _ = writeln!(out, "# HELP {name} {help}");
            }
            let _ = writeln!(out, "# TYPE {name} {}", fam.kind);
            for (labels, v) in &fam.own {
                write_series(&mut out, name, labels, *v, None);
            }
            for s in &fam.probe {
                write_series(&mut out, &s.name, &s.labels, s.value, Some(s.timestamp_ms));
            }
        }
        out
    }
}

fn write_series(out: &mut String, name: &str, labels: &Labels, v: f64, ts: Option<i64>) {
    out.push_str(name);
    if !labels.is_empty() {
        let _ = write!(out, "{labels}");
    }
    let value = if v.is_nan() {
        "NaN".to_string()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.to_string()
    } else {
        v.to_string()
    };
    match ts {
        Some(ts) => {
            let _ = writeln!(out, " {value} {ts}");
        }
        None => {
            let _ = writeln!(out, " {value}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A run kept as its WAL records (scrape, exec) is decoded when asked
    /// for: `/metrics` shows it, and after a change its series that the
    /// next run no longer has are told by series.
    #[test]
    fn a_run_kept_as_records_is_shown_and_retired_by_series() {
        use crate::wal::record;
        let t = Telemetry::new();
        let l = Labels::new().with("task_id", "s");
        let run = vec![
            Sample::new("a", l.clone(), 1.0, 5),
            Sample::new("b", l.clone().with("x", "1"), 2.0, 5),
        ];
        let kept = |s: &[Sample]| Arc::new(LastRun::Records(vec![record::encode(s)]));
        t.keep_run("s", kept(&run), &[], None);
        let text = t.render();
        assert!(text.contains("\na{task_id=\"s\"} 1 5\n"), "{text}");
        assert!(text.contains("\nb{task_id=\"s\", x=\"1\"} 2 5\n"), "{text}");
        assert_eq!(t.probe_result("s"), run);
        t.retire_series("s");
        let gone = t.take_retired("s", &kept(&run[..1]));
        assert_eq!(gone, run[1..]);
        assert!(t.take_retired("s", &kept(&run[..1])).is_empty());
    }

    #[test]
    fn counters_add_and_render() {
        let t = Telemetry::new();
        let l = Labels::new().with("backend", "vm");
        t.inc(
            "sentinel_samples_sent_total",
            "Samples delivered.",
            l.clone(),
            8.0,
        );
        t.inc(
            "sentinel_samples_sent_total",
            "Samples delivered.",
            l.clone(),
            2.0,
        );
        assert_eq!(t.get("sentinel_samples_sent_total", &l), 10.0);
        let text = t.render();
        assert!(text.contains("# TYPE sentinel_samples_sent_total counter"));
        assert!(text.contains("sentinel_samples_sent_total{backend=\"vm\"} 10\n"));
    }
}
