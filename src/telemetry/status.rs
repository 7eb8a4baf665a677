//! The local status page (`GET /`) and its data (`GET /api/status`): for the
//! technician on site whose laptop is plugged into the router while the
//! uplink is down. Which devices are up, how latency and loss looked over
//! the last hours, whether the backends are in outage and since when, and
//! how much data waits.
//!
//! History lives in a bounded ring per task in memory (never the WAL, so the
//! page costs no disk reads): `HISTORY_POINTS` buckets spanning
//! `HISTORY_SPAN`, each bucket the aggregate of the runs that fell into it.
//! A bucket is 40 bytes, so a task's ring costs at most about 14 KiB and
//! 1,000 tasks about 14 MiB (plus each task's latest samples for /metrics).
//!
//! The page is one self-contained HTML document (inline CSS and SVG, no
//! scripts, fonts or CDNs) that reloads itself every `REFRESH_SECONDS`;
//! every name it prints is escaped (task ids and labels come from a config
//! someone else wrote).

use std::collections::{BTreeMap, VecDeque};
use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;

use crate::sample::Sample;

/// How far back the strips go.
pub const HISTORY_SPAN: Duration = Duration::from_secs(6 * 3600);
/// Buckets per task; a bucket is `HISTORY_SPAN / HISTORY_POINTS` (1 min)
/// or the task's interval, whichever is longer.
pub const HISTORY_POINTS: usize = 360;
/// The page's `<meta http-equiv="refresh">`.
pub const REFRESH_SECONDS: u32 = 15;

/// One bucket of a task's history: 40 bytes (f32 is plenty for what a
/// page draws).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// Start of the bucket, ms since the epoch.
    pub ts_ms: i64,
    /// Runs (targets x runs, for multi-host tasks) in the bucket.
    pub runs: u32,
    /// Of those, how many answered.
    pub up: u32,
    /// Runs that measured a latency.
    pub rtt_n: u32,
    /// Runs that measured loss.
    pub loss_n: u32,
    pub rtt_min_ms: f32,
    pub rtt_max_ms: f32,
    /// Sum of per-run mean latencies (divide by `rtt_n`).
    pub rtt_sum_ms: f32,
    /// Sum of per-run loss percentages (divide by `loss_n`).
    pub loss_sum: f32,
}

impl Point {
    pub fn rtt_avg_ms(&self) -> Option<f64> {
        (self.rtt_n > 0).then(|| self.rtt_sum_ms as f64 / self.rtt_n as f64)
    }

    pub fn loss_percent(&self) -> Option<f64> {
        (self.loss_n > 0).then(|| self.loss_sum as f64 / self.loss_n as f64)
    }
}

/// What one run said, reduced to what the page shows.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RunSummary {
    pub targets: u32,
    pub up: u32,
    pub rtt_ms: Option<f64>,
    pub rtt_min_ms: Option<f64>,
    pub rtt_max_ms: Option<f64>,
    pub loss_percent: Option<f64>,
}

impl RunSummary {
    /// Reads the up/latency/loss metrics that `plugin` declares
    /// ([`crate::probe::Health`]) out of a run's samples. A run without an
    /// up metric (exec, or a plugin that declares none) is one target that
    /// answered: the run itself worked.
    pub fn of(plugin: &str, samples: &[Sample]) -> RunSummary {
        let none = crate::probe::Health {
            up: None,
            latency: None,
            latency_min: None,
            latency_max: None,
            loss: None,
        };
        let health = crate::probe::plugin_info(plugin).map_or(none, |i| i.health);
        let is = |want: Option<&str>, n: &str| want == Some(n);
        let mut s = RunSummary::default();
        let mut rtts = Vec::new();
        let mut losses = Vec::new();
        for x in samples {
            let n = x.name.as_str();
            if is(health.up, n) {
                s.targets += 1;
                if x.value >= 1.0 {
                    s.up += 1;
                }
            } else if !x.value.is_finite() {
                continue;
            } else if let Some((_, to_ms)) = health.latency.filter(|(name, _)| *name == n) {
                rtts.push(x.value * to_ms);
            } else if is(health.latency_min, n) {
                s.rtt_min_ms = Some(s.rtt_min_ms.map_or(x.value, |m: f64| m.min(x.value)));
            } else if is(health.latency_max, n) {
                s.rtt_max_ms = Some(s.rtt_max_ms.map_or(x.value, |m: f64| m.max(x.value)));
            } else if is(health.loss, n) {
                losses.push(x.value);
            }
        }
        if s.targets == 0 {
            s.targets = 1;
            s.up = 1;
        }
        if !rtts.is_empty() {
            let mean = rtts.iter().sum::<f64>() / rtts.len() as f64;
            s.rtt_ms = Some(mean);
            let lo = rtts.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = rtts.iter().copied().fold(0.0, f64::max);
            s.rtt_min_ms = Some(s.rtt_min_ms.map_or(lo, |m| m.min(lo)));
            s.rtt_max_ms = Some(s.rtt_max_ms.map_or(hi, |m| m.max(hi)));
        }
        if !losses.is_empty() {
            s.loss_percent = Some(losses.iter().sum::<f64>() / losses.len() as f64);
        }
        s
    }

    /// `up`, `degraded` (answers, but not all, or with loss), or `down`.
    pub fn state(&self) -> &'static str {
        if self.up == 0 {
            "down"
        } else if self.up < self.targets || self.loss_percent.is_some_and(|l| l > 0.0) {
            "degraded"
        } else {
            "up"
        }
    }
}

/// A task's recent past, bounded.
#[derive(Debug, Clone)]
pub struct TaskHistory {
    pub device_id: String,
    pub plugin: &'static str,
    /// Width of a bucket.
    bucket_ms: i64,
    pub points: VecDeque<Point>,
    pub last: Option<(i64, RunSummary)>,
    /// Why the latest run gave no result (a probe error); cleared by the
    /// next result.
    pub last_error: Option<(i64, String)>,
    /// Why the latest run reported its target (or some of its targets)
    /// down.
    pub last_down: Option<String>,
}

impl TaskHistory {
    pub fn new(device_id: &str, plugin: &'static str, interval: Duration) -> TaskHistory {
        let min_bucket = HISTORY_SPAN / HISTORY_POINTS as u32;
        TaskHistory {
            device_id: device_id.to_string(),
            plugin,
            bucket_ms: interval.max(min_bucket).as_millis() as i64,
            points: VecDeque::with_capacity(HISTORY_POINTS),
            last: None,
            last_error: None,
            last_down: None,
        }
    }

    /// A run at `ts_ms` that failed with `error` (no samples).
    pub fn record_error(&mut self, ts_ms: i64, error: String) {
        self.last_error = Some((ts_ms, error));
    }

    /// Adds one run at `ts_ms` whose targets all answered.
    pub fn record(&mut self, ts_ms: i64, run: RunSummary) {
        self.record_run(ts_ms, run, None);
    }

    /// Adds one run at `ts_ms`, with why it reports targets down.
    pub fn record_run(&mut self, ts_ms: i64, run: RunSummary, down: Option<String>) {
        self.last = Some((ts_ms, run));
        self.last_error = None;
        self.last_down = down;
        let start = ts_ms - ts_ms.rem_euclid(self.bucket_ms);
        if self.points.back().is_none_or(|p| p.ts_ms < start) {
            if self.points.len() == HISTORY_POINTS {
                self.points.pop_front();
            }
            self.points.push_back(Point {
                ts_ms: start,
                runs: 0,
                up: 0,
                rtt_min_ms: f32::INFINITY,
                rtt_max_ms: 0.0,
                rtt_sum_ms: 0.0,
                rtt_n: 0,
                loss_sum: 0.0,
                loss_n: 0,
            });
        }
        let Some(p) = self.points.back_mut() else {
            return;
        };
        if p.ts_ms > start {
            // A run stamped before the newest bucket (clock stepped back):
            // it still counts as the latest result, not in the strip.
            return;
        }
        p.runs += run.targets.max(1);
        p.up += run.up;
        if let Some(r) = run.rtt_ms {
            p.rtt_sum_ms += r as f32;
            p.rtt_n += 1;
            p.rtt_min_ms = p.rtt_min_ms.min(run.rtt_min_ms.unwrap_or(r) as f32);
            p.rtt_max_ms = p.rtt_max_ms.max(run.rtt_max_ms.unwrap_or(r) as f32);
        }
        if let Some(l) = run.loss_percent {
            p.loss_sum += l as f32;
            p.loss_n += 1;
        }
    }
}

/// A backend as the page shows it.
#[derive(Debug, Clone, Serialize)]
pub struct BackendStatus {
    pub name: String,
    pub ok: bool,
    /// Unix seconds when the current state began.
    pub since_unix: u64,
    pub reason: String,
    pub error: String,
    pub backlog_samples: u64,
    pub oldest_sample_age_seconds: f64,
    pub dropped: BTreeMap<String, u64>,
    /// Samples the backend took per second lately (the drain rate).
    pub send_rate_samples_per_second: f64,
    /// When the backlog will be gone at that rate, in seconds; `None`
    /// without a backlog or while nothing is delivered.
    pub backlog_eta_seconds: Option<f64>,
}

/// Seconds until `backlog` samples are delivered at `rate` samples per
/// second; `None` when there is no backlog or no progress.
pub fn backlog_eta_seconds(backlog: u64, rate: f64) -> Option<f64> {
    (backlog > 0 && rate > 0.0).then(|| backlog as f64 / rate)
}

/// ", draining 120/s, done in about 5m" for a backlog in progress, else "".
pub fn progress_text(rate: f64, eta: Option<f64>) -> String {
    match eta {
        Some(eta) => format!(
            ", draining {rate:.0}/s, done in about {}",
            duration_text(eta.ceil() as u64)
        ),
        None => String::new(),
    }
}

/// A task as the page shows it.
#[derive(Debug, Clone, Serialize)]
pub struct TaskStatus {
    pub task_id: String,
    pub device_id: String,
    pub plugin: &'static str,
    pub state: &'static str,
    pub last_run_ms: Option<i64>,
    /// The probe's error when its latest run failed (state `error`).
    pub error: Option<String>,
    /// Why the latest run reports the target down (state `down`, or
    /// `degraded` when some of its targets are): "connection refused",
    /// "status 503 is not in accepted_status (200-399)"...
    pub reason: Option<String>,
    pub last_rtt_ms: Option<f64>,
    pub last_loss_percent: Option<f64>,
    pub targets: u32,
    pub targets_up: u32,
    pub history: Vec<HistoryPoint>,
}

/// A bucket in `/api/status`.
#[derive(Debug, Clone, Serialize)]
pub struct HistoryPoint {
    pub ts_ms: i64,
    pub runs: u32,
    pub up: u32,
    pub rtt_min_ms: Option<f64>,
    pub rtt_avg_ms: Option<f64>,
    pub rtt_max_ms: Option<f64>,
    pub loss_percent: Option<f64>,
}

/// Everything on the page; `/api/status` is this as JSON.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub agent: String,
    pub region: String,
    pub version: &'static str,
    pub uptime_seconds: f64,
    pub now_ms: i64,
    pub tasks: Vec<TaskStatus>,
    pub backends: Vec<BackendStatus>,
}

impl TaskStatus {
    pub fn from_history(task_id: &str, h: &TaskHistory) -> TaskStatus {
        let (last_run_ms, last) = match h.last {
            Some((ts, r)) => (Some(ts), r),
            None => (None, RunSummary::default()),
        };
        let error = h.last_error.as_ref();
        TaskStatus {
            task_id: task_id.to_string(),
            device_id: h.device_id.clone(),
            plugin: h.plugin,
            state: if error.is_some() {
                "error"
            } else if last_run_ms.is_none() {
                "pending"
            } else {
                last.state()
            },
            last_run_ms: error.map(|(ts, _)| *ts).or(last_run_ms),
            error: error.map(|(_, e)| e.clone()),
            reason: if error.is_some() {
                None
            } else {
                h.last_down.clone()
            },
            last_rtt_ms: last.rtt_ms,
            last_loss_percent: last.loss_percent,
            targets: last.targets,
            targets_up: last.up,
            history: h
                .points
                .iter()
                .map(|p| HistoryPoint {
                    ts_ms: p.ts_ms,
                    runs: p.runs,
                    up: p.up,
                    rtt_min_ms: (p.rtt_n > 0).then_some(p.rtt_min_ms as f64),
                    rtt_avg_ms: p.rtt_avg_ms(),
                    rtt_max_ms: (p.rtt_n > 0).then_some(p.rtt_max_ms as f64),
                    loss_percent: p.loss_percent(),
                })
                .collect(),
        }
    }
}

/// Escapes text for HTML element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn duration_text(secs: u64) -> String {
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
        s => format!("{}d{}h", s / 86_400, s % 86_400 / 3600),
    }
}

fn ms_text(v: Option<f64>) -> String {
    match v {
        Some(v) if v < 10.0 => format!("{v:.2} ms"),
        Some(v) => format!("{v:.0} ms"),
        None => "–".into(),
    }
}

/// The strip: per bucket a grey line from min to max latency with a dot
/// at the mean (smokeping style), loss as a red bar from the top, runs
/// with no answer as a faint red column.
fn strip_svg(t: &TaskStatus, now_ms: i64) -> String {
    const W: f64 = HISTORY_POINTS as f64 * 2.0;
    const H: f64 = 48.0;
    let span_ms = HISTORY_SPAN.as_millis() as f64;
    let max_rtt = t
        .history
        .iter()
        .filter_map(|p| p.rtt_max_ms)
        .fold(0.0f64, f64::max)
        .max(0.001);
    let y = |v: f64| H - (v / max_rtt * (H - 4.0)).clamp(0.0, H - 4.0) - 1.0;
    let mut svg = format!(
        "<svg class=\"strip\" viewBox=\"0 0 {W} {H}\" preserveAspectRatio=\"none\" role=\"img\" \
         aria-label=\"latency and loss, last {} hours\"><rect width=\"{W}\" height=\"{H}\" fill=\"#f6f6f6\"/>",
        HISTORY_SPAN.as_secs() / 3600
    );
    for p in &t.history {
        let x = W - (now_ms - p.ts_ms) as f64 / span_ms * W;
        if x < 0.0 {
            continue;
        }
        let x = x.min(W - 1.0);
        if p.up == 0 {
            let _ = write!(
                svg,
                "<rect x=\"{x:.1}\" y=\"0\" width=\"2\" height=\"{H}\" fill=\"#d33\" opacity=\"0.35\"/>"
            );
            continue;
        }
        if let (Some(lo), Some(hi)) = (p.rtt_min_ms, p.rtt_max_ms) {
            let _ = write!(
                svg,
                "<line x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"#999\" stroke-width=\"2\"/>",
                y(lo),
                y(hi).min(y(lo) - 1.0)
            );
        }
        if let Some(avg) = p.rtt_avg_ms {
            let _ = write!(
                svg,
                "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"2\" height=\"2\" fill=\"#1565c0\"/>",
                y(avg) - 1.0
            );
        }
        if let Some(loss) = p.loss_percent.filter(|l| *l > 0.0) {
            let _ = write!(
                svg,
                "<rect x=\"{x:.1}\" y=\"0\" width=\"2\" height=\"{:.1}\" fill=\"#d33\"/>",
                (loss / 100.0 * H).max(2.0)
            );
        }
    }
    let _ = write!(
        svg,
        "<text x=\"2\" y=\"10\" font-size=\"9\" fill=\"#555\">{}</text></svg>",
        escape(&format!("max {}", ms_text(Some(max_rtt))))
    );
    svg
}

/// The whole page.
pub fn render_html(s: &Status) -> String {
    let mut h = String::with_capacity(8192 + s.tasks.len() * 4096);
    let _ = write!(
        h,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta http-equiv=\"refresh\" content=\"{REFRESH_SECONDS}\">\
         <title>sentinel {agent}</title><style>\
         body{{font:14px/1.4 system-ui,sans-serif;margin:0;padding:12px;color:#222;max-width:900px}}\
         h1{{font-size:18px;margin:0 0 4px}} h2{{font-size:15px;margin:18px 0 6px}}\
         .meta{{color:#666}} .card{{border:1px solid #ddd;border-radius:6px;padding:8px;margin:6px 0}}\
         .state{{display:inline-block;min-width:72px;text-align:center;border-radius:4px;color:#fff;font-weight:600;padding:1px 6px}}\
         .up{{background:#2e7d32}} .degraded{{background:#ef6c00}} .down,.outage{{background:#c62828}} .error{{background:#6a1b9a}} .pending,.unknown{{background:#777}} .ok{{background:#2e7d32}}\
         .strip{{width:100%;height:48px;display:block;margin-top:6px}} .num{{font-variant-numeric:tabular-nums}} .err{{color:#6a1b9a}} .why{{color:#c62828}}\
         small{{color:#666}}</style></head><body>",
        agent = escape(&s.agent)
    );
    let _ = write!(
        h,
        "<h1>sentinel {}</h1><div class=\"meta\">region {} · version {} · up {} · page refreshes every {REFRESH_SECONDS}s</div>",
        escape(&s.agent),
        escape(if s.region.is_empty() { "–" } else { &s.region }),
        escape(s.version),
        duration_text(s.uptime_seconds as u64)
    );
    h.push_str("<h2>Backends</h2>");
    if s.backends.is_empty() {
        h.push_str("<div class=\"card\">No backend is enabled: samples stay in the WAL.</div>");
    }
    let now_s = (s.now_ms / 1000).max(0) as u64;
    for b in &s.backends {
        let (class, text) = if b.ok {
            ("ok", "ok".to_string())
        } else {
            (
                "outage",
                format!(
                    "outage for {}",
                    duration_text(now_s.saturating_sub(b.since_unix))
                ),
            )
        };
        let drops: Vec<String> = b
            .dropped
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(r, n)| format!("{} {n}", escape(r)))
            .collect();
        let _ = write!(
            h,
            "<div class=\"card backend\" data-backend=\"{name}\" data-state=\"{class}\" data-backlog=\"{backlog}\">\
             <span class=\"state {class}\">{text}</span> <b>{name}</b> \
             <span class=\"num\">backlog {backlog} samples, oldest {age}{progress}</span>, dropped {drops}",
            name = escape(&b.name),
            backlog = b.backlog_samples,
            age = duration_text(b.oldest_sample_age_seconds as u64),
            progress = progress_text(b.send_rate_samples_per_second, b.backlog_eta_seconds),
            drops = if drops.is_empty() { "none".into() } else { drops.join(", ") },
        );
        if !b.ok {
            let _ = write!(
                h,
                "<br><small>since {} ({}): {}</small>",
                crate::logging::rfc3339_ms(b.since_unix as i64 * 1000),
                escape(&b.reason),
                escape(&b.error)
            );
        }
        h.push_str("</div>");
    }
    h.push_str("<h2>Devices</h2>");
    if s.tasks.is_empty() {
        h.push_str("<div class=\"card\">No task is enabled.</div>");
    }
    for t in &s.tasks {
        let age = t
            .last_run_ms
            .map(|ts| {
                format!(
                    "{} ago",
                    duration_text(((s.now_ms - ts).max(0) / 1000) as u64)
                )
            })
            .unwrap_or_else(|| "not run yet".into());
        let targets = if t.targets > 1 {
            format!(" · {}/{} answer", t.targets_up, t.targets)
        } else {
            String::new()
        };
        let _ = write!(
            h,
            "<div class=\"card task\" data-task=\"{id}\" data-state=\"{state}\">\
             <span class=\"state {state}\">{state}</span> <b>{device}</b> <small>{plugin} · task {id}</small><br>\
             <span class=\"num\">latency {rtt} · loss {loss}{targets} · {age}</span>{error}{strip}</div>",
            id = escape(&t.task_id),
            state = t.state,
            device = escape(&t.device_id),
            plugin = t.plugin,
            rtt = ms_text(t.last_rtt_ms),
            loss = t
                .last_loss_percent
                .map(|l| format!("{l:.0}%"))
                .unwrap_or_else(|| "–".into()),
            strip = strip_svg(t, s.now_ms),
            error = match (&t.error, &t.reason) {
                (Some(e), _) => format!("<br><span class=\"err\">probe error: {}</span>", escape(e)),
                (None, Some(r)) => format!("<br><span class=\"why\">{}: {}</span>", if t.state == "down" { "down" } else { "some targets down" }, escape(r)),
                (None, None) => String::new(),
            },
        );
    }
    h.push_str(
        "<p><small>Strips: the last hours, one column per minute; grey line from the fastest to \
         the slowest answer, blue dot at the mean, red from the top for loss, faint red for no \
         answer. Data: <a href=\"/api/status\">/api/status</a> · <a href=\"/metrics\">/metrics</a> \
         · <a href=\"/healthz\">/healthz</a></small></p></body></html>",
    );
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::Labels;

    fn run(reachable: f64, rtt: Option<f64>, loss: f64) -> Vec<Sample> {
        let l = Labels::new();
        let mut v = vec![
            Sample::new("ping_reachable", l.clone(), reachable, 0),
            Sample::new("ping_packet_loss", l.clone(), loss, 0),
        ];
        if let Some(r) = rtt {
            v.push(Sample::new("ping_rtt_ms", l.clone(), r, 0));
            v.push(Sample::new("ping_rtt_min_ms", l.clone(), r / 2.0, 0));
            v.push(Sample::new("ping_rtt_max_ms", l, r * 2.0, 0));
        }
        v
    }

    #[test]
    fn states_follow_the_runs() {
        assert_eq!(
            RunSummary::of("ping", &run(1.0, Some(1.0), 0.0)).state(),
            "up"
        );
        assert_eq!(
            RunSummary::of("ping", &run(1.0, Some(1.0), 25.0)).state(),
            "degraded"
        );
        assert_eq!(
            RunSummary::of("ping", &run(0.0, None, 100.0)).state(),
            "down"
        );
        // exec declares no up metric: a run that gave samples is up.
        assert_eq!(RunSummary::of("exec", &[]).state(), "up");
        assert_eq!(RunSummary::of("exec", &[]).targets, 1);
    }

    #[test]
    fn history_is_bounded_and_aggregated() {
        let mut h = TaskHistory::new("d", "ping", Duration::from_secs(1));
        // Two runs in one minute: one bucket.
        h.record(60_000, RunSummary::of("ping", &run(1.0, Some(2.0), 0.0)));
        h.record(61_000, RunSummary::of("ping", &run(1.0, Some(4.0), 50.0)));
        assert_eq!(h.points.len(), 1);
        let p = h.points[0];
        assert_eq!((p.runs, p.up), (2, 2));
        assert_eq!(p.rtt_avg_ms(), Some(3.0));
        assert_eq!((p.rtt_min_ms, p.rtt_max_ms), (1.0, 8.0));
        assert_eq!(std::mem::size_of::<Point>(), 40);
        assert_eq!(p.loss_percent(), Some(25.0));
        for i in 0..(HISTORY_POINTS as i64 + 50) {
            h.record(
                120_000 + i * 60_000,
                RunSummary::of("ping", &run(0.0, None, 100.0)),
            );
        }
        assert_eq!(h.points.len(), HISTORY_POINTS);
    }

    #[test]
    fn latency_survives_a_json_round_trip_exactly() {
        // /api/status and /metrics must show the same number; a JSON reader
        // without exact float parsing lands one ulp off (seen in CI).
        let r = 0.105_673_999_999_999_99_f64;
        let mut h = TaskHistory::new("d", "ping", Duration::from_secs(1));
        h.record(60_000, RunSummary::of("ping", &run(1.0, Some(r), 0.0)));
        let json = serde_json::to_string(&TaskStatus::from_history("t", &h)).unwrap();
        let back: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(back["last_rtt_ms"].as_f64(), Some(r), "{json}");
    }

    #[test]
    fn names_are_escaped() {
        let mut hist = TaskHistory::new(
            "<img src=x onerror=alert(1)>",
            "ping",
            Duration::from_secs(10),
        );
        hist.record(1000, RunSummary::of("ping", &run(1.0, Some(1.0), 0.0)));
        let status = Status {
            agent: "a&b".into(),
            region: "\"r\"".into(),
            version: "0",
            uptime_seconds: 1.0,
            now_ms: 2000,
            tasks: vec![TaskStatus::from_history("<script>alert(1)</script>", &hist)],
            backends: vec![],
        };
        let html = render_html(&status);
        assert!(!html.contains("<script>"), "{html}");
        assert!(!html.contains("<img"), "{html}");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(html.contains("a&amp;b"));
        assert!(html.contains("data-state=\"up\""));
    }

    #[test]
    fn backlog_progress_and_estimate() {
        assert_eq!(backlog_eta_seconds(0, 100.0), None);
        assert_eq!(backlog_eta_seconds(500, 0.0), None);
        assert_eq!(backlog_eta_seconds(3000, 100.0), Some(30.0));
        assert_eq!(progress_text(0.0, None), "");
        let t = progress_text(100.0, backlog_eta_seconds(30_000, 100.0));
        assert_eq!(t, ", draining 100/s, done in about 5m");
    }
}
