//! Real VictoriaMetrics and Prometheus servers for the end-to-end tests.
//!
//! Each guard starts the Debian package's binary on a free loopback port
//! with a temporary data dir of its own, waits until the server answers,
//! and kills it on `Drop`, also when the test panics. `stop()` and
//! `restart()` keep the port and the data dir, so a test can take a backend
//! away and bring it back (an outage); `pause()`/`resume()` freeze it
//! instead (a backend that accepts connections and never answers).
//!
//! Reading back: `raw_samples(selector)` returns every stored sample, never
//! an aggregate, so a test can count what arrived and see duplicates.
//! VictoriaMetrics keeps a repeated (series, timestamp) pair and shows it in
//! `/api/v1/export`; Prometheus silently absorbs an identical repeat, so
//! only VictoriaMetrics can prove "no duplicates".
//!
//! A missing binary fails the test with the command that installs it: the
//! tests never skip silently.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::OpenOptions;
use std::io::Write as _;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a server may take to answer its readiness endpoint.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a graceful stop (SIGTERM) may take before SIGKILL.
const STOP_TIMEOUT: Duration = Duration::from_secs(20);
/// Bound on one HTTP request to a test server.
const HTTP_TIMEOUT: Duration = Duration::from_secs(15);
/// Lines of a server's log quoted in a failure message.
const LOG_TAIL_LINES: usize = 30;
/// The range read back from Prometheus; tests run for minutes, not days.
const PROMETHEUS_LOOKBACK: &str = "1d";

const INSTALL_HINT: &str = "install it: apt-get install victoria-metrics prometheus";

/// One stored series with its raw samples, in timestamp order.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Every label, `__name__` included.
    pub labels: BTreeMap<String, String>,
    pub values: Vec<f64>,
    /// Milliseconds since the epoch, as sent.
    pub timestamps: Vec<i64>,
}

/// What `VictoriaMetrics::export` returns: the common `Series`.
pub type ExportedSeries = Series;

impl Series {
    /// The metric name (`__name__`).
    pub fn name(&self) -> &str {
        self.label("__name__").unwrap_or("")
    }

    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels.get(name).map(String::as_str)
    }

    pub fn distinct_timestamps(&self) -> BTreeSet<i64> {
        self.timestamps.iter().copied().collect()
    }

    /// Samples stored more than once at the same timestamp.
    pub fn duplicates(&self) -> usize {
        self.timestamps.len() - self.distinct_timestamps().len()
    }

    /// `name{a="b", ...}`, for messages.
    pub fn describe(&self) -> String {
        let labels: Vec<String> = self
            .labels
            .iter()
            .filter(|(k, _)| *k != "__name__")
            .map(|(k, v)| format!("{k}={v:?}"))
            .collect();
        format!("{}{{{}}}", self.name(), labels.join(", "))
    }
}

/// A server the agent can remote-write to and the test can read back from.
pub trait RemoteWriteServer {
    /// "VictoriaMetrics" or "Prometheus", for messages.
    fn kind(&self) -> &'static str;
    /// The remote-write endpoint, `http://127.0.0.1:PORT/api/v1/write`.
    fn write_url(&self) -> String;
    /// Every raw sample of every series matching `selector`
    /// (`metric{label="v"}` or `{__name__=~"ping_.*"}`).
    fn raw_samples(&self, selector: &str) -> Vec<Series>;
    /// The end of the server's own log, for failure messages.
    fn log_tail(&self) -> String;
}

/// A VictoriaMetrics single-node server (`/usr/bin/victoria-metrics`).
pub struct VictoriaMetrics {
    process: ServerProcess,
    /// Extra flags (TLS, basic auth) for the `check` tests.
    extra: Vec<String>,
}

impl VictoriaMetrics {
    /// Starts a server and waits until `/health` answers `OK`.
    pub fn start() -> VictoriaMetrics {
        let mut vm = VictoriaMetrics::not_started();
        vm.restart();
        vm
    }

    /// Picks the port and the data dir without starting the server: its URL
    /// refuses connections until `restart()` (a backend that is down when
    /// the agent starts).
    pub fn not_started() -> VictoriaMetrics {
        VictoriaMetrics {
            process: ServerProcess::new("VictoriaMetrics", "victoria-metrics"),
            extra: Vec::new(),
        }
    }

    /// Starts a server with extra flags (`-tls ...`, `-httpAuth.*`); it
    /// counts as up once plain-http `/health` answers a status in `ready`
    /// (basic auth may answer 401), or, with `ready` empty (TLS), once its
    /// port accepts connections.
    pub fn start_with_flags(extra: &[String], ready: &[u16]) -> VictoriaMetrics {
        let mut vm = VictoriaMetrics::not_started();
        vm.extra = extra.to_vec();
        let p = &vm.process;
        let mut args = vec![
            format!("-storageDataPath={}", p.dir.path().join("data").display()),
            format!("-httpListenAddr=127.0.0.1:{}", p.port),
        ];
        args.extend(vm.extra.iter().cloned());
        let ready = ready.to_vec();
        let path = if ready.is_empty() { "" } else { "/health" };
        vm.process
            .spawn(&args, path, move |status, _| ready.contains(&status));
        vm
    }

    /// The `Authorization` value for a server started with `-httpAuth.*`.
    fn basic_auth(&self) -> Option<String> {
        let flag = |name: &str| {
            self.extra
                .iter()
                .find_map(|f| f.strip_prefix(&format!("-httpAuth.{name}=")))
        };
        let (user, password) = (flag("username")?, flag("password")?);
        Some(sentinel::tls::basic_auth(&format!("{user}:{password}")))
    }

    /// The server's temp dir (for certificates the test writes).
    pub fn dir(&self) -> &std::path::Path {
        self.process.dir.path()
    }

    pub fn port(&self) -> u16 {
        self.process.port
    }

    pub fn base_url(&self) -> String {
        self.process.base_url()
    }

    pub fn is_running(&self) -> bool {
        self.process.child.is_some()
    }

    /// Starts the server again on the same port and data dir, stopping it
    /// first (gracefully) if it runs.
    pub fn restart(&mut self) {
        let p = &self.process;
        let args = vec![
            format!("-storageDataPath={}", p.dir.path().join("data").display()),
            format!("-httpListenAddr=127.0.0.1:{}", p.port),
            "-retentionPeriod=100y".to_string(),
            // Fresh samples are readable at once, not 30 s later.
            "-search.latencyOffset=0s".to_string(),
            "-search.disableCache".to_string(),
        ];
        self.process.stop();
        self.process.spawn(&args, "/health", |status, body| {
            status == 200 && body.trim() == "OK"
        });
    }

    /// Graceful stop (SIGTERM, which flushes what it stored to disk); the
    /// port and the data dir stay for `restart()`.
    pub fn stop(&mut self) {
        self.process.stop();
    }

    /// Freezes the process (SIGSTOP): connections are accepted by the
    /// kernel, requests hang. `resume()` undoes it.
    pub fn pause(&mut self) {
        self.process.signal(libc::SIGSTOP);
    }

    pub fn resume(&mut self) {
        self.process.signal(libc::SIGCONT);
    }

    /// Every series matching `selector` with its raw samples
    /// (`/api/v1/export`), after making freshly received samples visible.
    pub fn export(&self, selector: &str) -> Vec<ExportedSeries> {
        let base = self.base_url();
        // Samples wait in memory before they become searchable; this
        // endpoint pushes them through (it exists in 1.79). Visibility can
        // still trail by about a second, so callers poll.
        let auth = self.basic_auth();
        let get = |url: &str| http_get_as(url, auth.as_deref());
        let (status, body) = get(&format!("{base}/internal/force_flush"));
        assert_eq!(
            status,
            200,
            "VictoriaMetrics /internal/force_flush answered {status}: {body}\n{}",
            self.log_tail()
        );
        let url = format!("{base}/api/v1/export?match[]={}", url_encode(selector));
        let (status, body) = get(&url);
        assert_eq!(
            status,
            200,
            "VictoriaMetrics export of {selector} answered {status}: {body}\n{}",
            self.log_tail()
        );
        let mut series = Vec::new();
        for line in body.lines().filter(|l| !l.trim().is_empty()) {
            let v: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| {
                panic!("VictoriaMetrics export line is not JSON ({e}): {line}")
            });
            let timestamps = v["timestamps"]
                .as_array()
                .unwrap_or_else(|| panic!("export line without timestamps: {line}"))
                .iter()
                .map(|t| t.as_i64().expect("integer timestamp"))
                .collect();
            let values = v["values"]
                .as_array()
                .unwrap_or_else(|| panic!("export line without values: {line}"))
                .iter()
                .map(json_f64)
                .collect();
            series.push(Series {
                labels: json_labels(&v["metric"]),
                values,
                timestamps,
            });
        }
        merge_series(series)
    }
}

impl RemoteWriteServer for VictoriaMetrics {
    fn kind(&self) -> &'static str {
        "VictoriaMetrics"
    }

    fn write_url(&self) -> String {
        format!("{}/api/v1/write", self.base_url())
    }

    fn raw_samples(&self, selector: &str) -> Vec<Series> {
        self.export(selector)
    }

    fn log_tail(&self) -> String {
        self.process.log_tail()
    }
}

/// The prometheus.yml of a server with no scrape jobs.
const NO_SCRAPE_JOBS: &str = "# Written by the tests: no scrape jobs, only remote-written data.\n\
     global:\n  scrape_interval: 1m\nscrape_configs: []\n";

/// A Prometheus server (`/usr/bin/prometheus`) with no scrape jobs: all it
/// holds is what was remote-written to it.
pub struct Prometheus {
    process: ServerProcess,
    /// Whether the next (re)start passes `--web.enable-remote-write-receiver`;
    /// without it `/api/v1/write` answers 404.
    receiver: bool,
}

impl Prometheus {
    /// Starts a server with the remote-write receiver and waits until
    /// `/-/ready` answers 200.
    pub fn start() -> Prometheus {
        Prometheus::start_with(true, NO_SCRAPE_JOBS)
    }

    /// Starts a server without `--web.enable-remote-write-receiver`, as a
    /// default install does: remote write gets 404.
    pub fn start_without_receiver() -> Prometheus {
        Prometheus::start_with(false, NO_SCRAPE_JOBS)
    }

    /// Starts a server with the receiver that also scrapes `target`
    /// (`host:port`, path `/metrics`) every second: pull mode.
    pub fn start_scraping(target: &str) -> Prometheus {
        Prometheus::start_with(
            true,
            &format!(
                "# Written by the tests: scrapes the agent.\n\
                 global:\n  scrape_interval: 1s\n\
                 scrape_configs:\n  - job_name: sentinel\n    static_configs:\n      - targets: ['{target}']\n"
            ),
        )
    }

    /// Starts a server with the receiver and an out-of-order window
    /// (`storage.tsdb.out_of_order_time_window`, Prometheus 2.39 and
    /// later): it takes samples older than the newest of their series
    /// within `window`.
    pub fn start_with_out_of_order_window(window: &str) -> Prometheus {
        Prometheus::start_with(
            true,
            &format!(
                "# Written by the tests: remote-written data, out of order too.\n\
                 global:\n  scrape_interval: 1m\nscrape_configs: []\n\
                 storage:\n  tsdb:\n    out_of_order_time_window: {window}\n"
            ),
        )
    }

    /// Runs an instant query at now and returns its `data.result`.
    pub fn instant(&self, promql: &str) -> Vec<serde_json::Value> {
        self.query(promql)
    }

    /// Starts a server with `config` as its prometheus.yml, with or
    /// without the remote-write receiver, and waits until it is ready.
    fn start_with(receiver: bool, config: &str) -> Prometheus {
        let process = ServerProcess::new("Prometheus", "prometheus");
        std::fs::write(process.dir.path().join("prometheus.yml"), config)
            .expect("write prometheus.yml");
        let mut prometheus = Prometheus { process, receiver };
        prometheus.restart();
        prometheus
    }

    pub fn port(&self) -> u16 {
        self.process.port
    }

    pub fn base_url(&self) -> String {
        self.process.base_url()
    }

    /// Starts the server again on the same port and data dir, stopping it
    /// first (gracefully) if it runs.
    pub fn restart(&mut self) {
        let p = &self.process;
        let dir = p.dir.path();
        let mut args = vec![
            format!("--config.file={}", dir.join("prometheus.yml").display()),
            format!("--storage.tsdb.path={}", dir.join("data").display()),
            format!("--web.listen-address=127.0.0.1:{}", p.port),
        ];
        if self.receiver {
            args.push("--web.enable-remote-write-receiver".to_string());
        }
        self.process.stop();
        self.process
            .spawn(&args, "/-/ready", |status, _body| status == 200);
    }

    /// Restarts it with `--web.enable-remote-write-receiver`, same port and
    /// data dir: the operator fixed the flag.
    pub fn restart_with_receiver(&mut self) {
        self.receiver = true;
        self.restart();
    }

    /// Graceful stop; the port and the data dir stay for `restart()`.
    pub fn stop(&mut self) {
        self.process.stop();
    }

    /// Freezes the process (SIGSTOP): requests hang. `resume()` undoes it.
    pub fn pause(&mut self) {
        self.process.signal(libc::SIGSTOP);
    }

    pub fn resume(&mut self) {
        self.process.signal(libc::SIGCONT);
    }

    /// Runs an instant query and returns its `data.result`.
    fn query(&self, promql: &str) -> Vec<serde_json::Value> {
        let url = format!(
            "{}/api/v1/query?query={}",
            self.base_url(),
            url_encode(promql)
        );
        let (status, body) = http_get(&url);
        assert_eq!(
            status,
            200,
            "Prometheus query {promql} answered {status}: {body}\n{}",
            self.log_tail()
        );
        let v: serde_json::Value = serde_json::from_str(&body)
            .unwrap_or_else(|e| panic!("Prometheus answer is not JSON ({e}): {body}"));
        v["data"]["result"]
            .as_array()
            .unwrap_or_else(|| panic!("Prometheus answer without data.result: {body}"))
            .clone()
    }
}

impl RemoteWriteServer for Prometheus {
    fn kind(&self) -> &'static str {
        "Prometheus"
    }

    fn write_url(&self) -> String {
        format!("{}/api/v1/write", self.base_url())
    }

    /// A range-vector selector (`selector[1d]`) evaluated now returns the
    /// raw samples, not a computed value.
    fn raw_samples(&self, selector: &str) -> Vec<Series> {
        let result = self.query(&format!("{selector}[{PROMETHEUS_LOOKBACK}]"));
        let series = result
            .iter()
            .map(|r| {
                let pairs = r["values"]
                    .as_array()
                    .unwrap_or_else(|| panic!("Prometheus matrix entry without values: {r}"));
                let mut timestamps = Vec::with_capacity(pairs.len());
                let mut values = Vec::with_capacity(pairs.len());
                for pair in pairs {
                    let secs = pair[0].as_f64().expect("timestamp in seconds");
                    timestamps.push((secs * 1000.0).round() as i64);
                    values.push(json_f64(&pair[1]));
                }
                Series {
                    labels: json_labels(&r["metric"]),
                    values,
                    timestamps,
                }
            })
            .collect();
        merge_series(series)
    }

    fn log_tail(&self) -> String {
        self.process.log_tail()
    }
}

/// The part both servers share: a child process on a fixed port with a
/// data dir and a log file that outlive restarts.
struct ServerProcess {
    /// "VictoriaMetrics", for messages.
    name: &'static str,
    binary: PathBuf,
    /// Chosen once, kept across restarts so the agent's URL stays valid.
    port: u16,
    /// Data, config and `server.log`; removed on drop.
    dir: tempfile::TempDir,
    /// `None` while stopped.
    child: Option<Child>,
}

impl ServerProcess {
    fn new(name: &'static str, binary: &str) -> ServerProcess {
        let binary = find_binary(binary).unwrap_or_else(|| {
            panic!("{name}: `{binary}` is not installed (not in PATH nor /usr/bin); {INSTALL_HINT}")
        });
        ServerProcess {
            name,
            binary,
            port: free_port(),
            dir: tempfile::Builder::new()
                .prefix("sentinel-e2e-server-")
                .tempdir()
                .expect("create a temp dir"),
            child: None,
        }
    }

    fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }

    /// Spawns the binary and polls `ready_path` until `ready` says so;
    /// panics with the log tail if it exits or takes too long.
    fn spawn(&mut self, args: &[String], ready_path: &str, ready: impl Fn(u16, &str) -> bool) {
        assert!(self.child.is_none(), "{} is already running", self.name);
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("open the server log");
        writeln!(
            &log,
            "--- test: starting {} {}",
            self.binary.display(),
            args.join(" ")
        )
        .expect("write the server log");
        let child = Command::new(&self.binary)
            .args(args)
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone the log handle"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start {} ({}): {e}; {INSTALL_HINT}",
                    self.name,
                    self.binary.display()
                )
            });
        self.child = Some(child);
        let url = format!("{}{ready_path}", self.base_url());
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                self.child = None;
                panic!(
                    "{} exited ({status}) before it was ready on port {}; its log ends:\n{}",
                    self.name,
                    self.port,
                    self.log_tail()
                );
            }
            if ready_path.is_empty() {
                // No HTTP check (a TLS port): up once it accepts connections.
                if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                    return;
                }
            } else if let Some((status, body)) = try_http_get(&url, Duration::from_secs(2)) {
                if ready(status, &body) {
                    return;
                }
            }
            if Instant::now() > deadline {
                let tail = self.log_tail();
                self.kill();
                panic!(
                    "{} was not ready on {url} within {READY_TIMEOUT:?}; its log ends:\n{tail}",
                    self.name
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn signal(&mut self, signal: libc::c_int) {
        let child = self
            .child
            .as_ref()
            .unwrap_or_else(|| panic!("{} is not running", self.name));
        // SAFETY: kill(2) on our own child's pid; no memory is involved.
        let rc = unsafe { libc::kill(child.id() as libc::pid_t, signal) };
        assert_eq!(rc, 0, "kill({}, {signal}) failed", child.id());
    }

    /// SIGTERM (after SIGCONT, in case it is paused), then SIGKILL if it
    /// does not exit within `STOP_TIMEOUT`. A no-op when stopped.
    fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        // SAFETY: kill(2) on our own child's pid.
        unsafe {
            libc::kill(child.id() as libc::pid_t, libc::SIGCONT);
            libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
        }
        let deadline = Instant::now() + STOP_TIMEOUT;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        eprintln!(
            "{} did not stop within {STOP_TIMEOUT:?} of SIGTERM; killing it",
            self.name
        );
        let _ = child.kill();
        let _ = child.wait();
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn log_tail(&self) -> String {
        let path = self.log_path();
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let tail = &lines[lines.len().saturating_sub(LOG_TAIL_LINES)..];
        format!(
            "--- {} log ({}), last {} lines:\n{}",
            self.name,
            path.display(),
            tail.len(),
            tail.join("\n")
        )
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        // The data is not needed any more: no graceful stop.
        self.kill();
    }
}

/// Merges entries of the same label set (VictoriaMetrics may export one
/// series as several blocks) and sorts each by timestamp.
fn merge_series(series: Vec<Series>) -> Vec<Series> {
    let mut merged: BTreeMap<BTreeMap<String, String>, Vec<(i64, f64)>> = BTreeMap::new();
    for s in series {
        let samples = merged.entry(s.labels).or_default();
        samples.extend(s.timestamps.into_iter().zip(s.values));
    }
    merged
        .into_iter()
        .map(|(labels, mut samples)| {
            samples.sort_by_key(|(t, _)| *t);
            Series {
                labels,
                timestamps: samples.iter().map(|(t, _)| *t).collect(),
                values: samples.iter().map(|(_, v)| *v).collect(),
            }
        })
        .collect()
}

fn json_labels(metric: &serde_json::Value) -> BTreeMap<String, String> {
    metric
        .as_object()
        .unwrap_or_else(|| panic!("series without a label object: {metric}"))
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
        .collect()
}

/// A sample value: a JSON number, or a string such as "1", "NaN", "+Inf".
fn json_f64(v: &serde_json::Value) -> f64 {
    match v {
        serde_json::Value::Number(n) => n.as_f64().unwrap_or(f64::NAN),
        serde_json::Value::String(s) => s.parse().unwrap_or(f64::NAN),
        _ => f64::NAN,
    }
}

fn find_binary(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/bin")])
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// A loopback port that was free a moment ago (bind port 0, read, drop).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind 127.0.0.1:0")
}

fn http_agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::new_with_config(
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(timeout))
            .build(),
    )
}

/// GET `url`: `Some((status, body))`, `None` when it cannot connect.
pub fn try_http_get(url: &str, timeout: Duration) -> Option<(u16, String)> {
    let mut response = http_agent(timeout).get(url).call().ok()?;
    let status = response.status().as_u16();
    let body = response
        .body_mut()
        .with_config()
        .limit(256 << 20)
        .read_to_string()
        .ok()?;
    Some((status, body))
}

/// GET `url` from a server that must be up: `(status, body)`.
pub fn http_get(url: &str) -> (u16, String) {
    http_get_as(url, None)
}

/// `http_get` with an `Authorization` header when `auth` is given.
fn http_get_as(url: &str, auth: Option<&str>) -> (u16, String) {
    let mut request = http_agent(HTTP_TIMEOUT).get(url);
    if let Some(auth) = auth {
        request = request.header("Authorization", auth);
    }
    let mut response = request.call().unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = response.status().as_u16();
    let body = response
        .body_mut()
        .with_config()
        .limit(256 << 20)
        .read_to_string()
        .unwrap_or_else(|e| panic!("GET {url}: reading the body: {e}"));
    (status, body)
}

/// POST `body` with `headers` to a server that must be up: `(status, body)`.
pub fn http_post(url: &str, headers: &[(&str, &str)], body: &[u8]) -> (u16, String) {
    let mut request = http_agent(HTTP_TIMEOUT).post(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let mut response = request
        .send(body)
        .unwrap_or_else(|e| panic!("POST {url}: {e}"));
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap_or_default();
    (status, text)
}

/// Percent-encodes a query parameter value (everything but RFC 3986
/// unreserved characters), so PromQL braces, quotes and `+` survive.
pub fn url_encode(s: &str) -> String {
    use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
    const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    utf8_percent_encode(s, UNRESERVED).to_string()
}

/// The current time in milliseconds since the epoch, as the agent stamps
/// samples.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as i64
}
